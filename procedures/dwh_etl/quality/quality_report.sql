-- What `dwh quality` prints: the latest evaluation of every rule (or only the failing ones), with its
-- sample of failing rows, and the live state of every freshness SLA. json keeps the column order.
CREATE OR REPLACE FUNCTION dwh_etl.quality_report(
    p_table       text DEFAULT NULL,
    p_failed_only boolean DEFAULT false
)
RETURNS json
LANGUAGE sql
STABLE
SET search_path = dwh_etl, pg_temp
AS $$
    WITH latest AS (
        SELECT DISTINCT ON (qm.table_name, qm.metric_name)
               qm.table_name AS "table", qm.metric_name AS rule, qm.severity, qm.passed,
               qm.metric_value AS value, qm.threshold, qm.rows_checked, qm.scope, qm.measured_at, qm.run_id,
               qm.failing_sample AS sample
        FROM dwh_lineage.quality_metrics AS qm
        WHERE p_table IS NULL OR qm.table_name = p_table
        ORDER BY qm.table_name, qm.metric_name, qm.measured_at DESC, qm.id DESC
    ),
    sla AS (
        SELECT f.* FROM dwh_etl.freshness_sla(p_table) AS f
    )
    SELECT json_build_object(
        'rules', COALESCE((SELECT json_agg(to_json(l) ORDER BY l.passed, l."table", l.rule)
                           FROM latest AS l
                           WHERE NOT p_failed_only OR NOT l.passed), '[]'::json),
        'freshness_sla', COALESCE((SELECT json_agg(to_json(s) ORDER BY s.passed, s."table")
                                   FROM sla AS s
                                   WHERE NOT p_failed_only OR NOT s.passed), '[]'::json)
    );
$$;
COMMENT ON FUNCTION dwh_etl.quality_report(text, boolean) IS 'Latest result of every quality rule (optionally one table, only failures) and the live freshness SLAs, as json (what dwh quality prints).';
