-- The rows of citizen.fct_data_quality (metric x service x content source x day) for one day, and the view
-- its mart step reads (kind mart, table form, queue dwh_staging.citizen_dq_days, filled by
-- citizen.marts_queue_engine_days). The warehouse measures its own citizen data, per (service, source)
-- group of the day's fact rows (a query belongs to its service version's data_source, a content event to
-- its content version's content_source; rows of an inferred service or content have no source yet and
-- are in no group):
--   completeness  100 * rows with every expected field / rows. Expected: a query's response_time_ms,
--                 result_count and ip_network; a content event's ip_network, and for a view its
--                 duration_seconds and scroll_depth_percent.
--   accuracy      100 * rows / (rows + open quarantine entries of the same group): what the warehouse
--                 accepted of what the portal delivered. A quarantined event is placed by its raw payload
--                 (occurred_at in citizen.timezone, service_id, content_id -> the versions valid then);
--                 one whose day, service or content cannot be read is in no group (dwh quarantine lists it).
--   freshness     avg hours from the event (queried_at / used_at) to its row's _loaded_at.
--   consistency   100 * (1 - failing / checks) over the engine's row-level rules on the facts
--                 (citizen.marts_rule_checks: dwh_etl.quality_evaluate per group); no row when no rule.
-- Each value is judged by citizen.kpi_status against the metric's thresholds; threshold_value is the
-- metric's threshold_good at measurement time.
CREATE OR REPLACE FUNCTION citizen.marts_data_quality(
    p_date_key integer
)
RETURNS TABLE (
    date_key           integer,
    service_key        bigint,
    content_source_key bigint,
    quality_metric_key integer,
    metric_value       numeric(14,4),
    unit               text,
    threshold_value    numeric(14,4),
    status             text,
    rows_measured      bigint,
    details            jsonb
)
LANGUAGE sql
VOLATILE
SET search_path = citizen, pg_temp
AS $$
    WITH zone AS (
        SELECT dwh_etl.setting_timezone('citizen.timezone', 'Asia/Kolkata') AS name
    ),
    fact_rows AS (
        SELECT q.service_key, cs.content_source_key,
               (q.response_time_ms IS NOT NULL AND q.result_count IS NOT NULL AND q.ip_network IS NOT NULL) AS is_complete,
               EXTRACT(EPOCH FROM q._loaded_at - q.queried_at) / 3600.0 AS lag_hours
        FROM citizen.fct_service_queries AS q
        JOIN citizen.dim_service AS s
          ON s.service_key = q.service_key
        JOIN citizen.dim_content_source AS cs
          ON cs.source_name = s.data_source
        WHERE q.date_key = p_date_key
        UNION ALL
        SELECT u.service_key, cs.content_source_key,
               (u.ip_network IS NOT NULL
                AND (u.action_type <> 'view' OR (u.duration_seconds IS NOT NULL AND u.scroll_depth_percent IS NOT NULL))),
               EXTRACT(EPOCH FROM u._loaded_at - u.used_at) / 3600.0
        FROM citizen.fct_content_usage AS u
        JOIN citizen.dim_content AS c
          ON c.content_key = u.content_key
        JOIN citizen.dim_content_source AS cs
          ON cs.source_name = c.content_source
        WHERE u.date_key = p_date_key
    ),
    quarantined AS (
        -- open entries of the two event feeds, placed by their raw payload; a record (table, key) counts
        -- once however many differently bad deliveries of it are open
        SELECT x.service_key, cs.content_source_key, count(DISTINCT (x.target_table, x.record_key)) AS entries
        FROM (SELECT s.service_key, qe.target_table, qe.record_key,
                     CASE WHEN qe.target_table = 'silver.citizen_query_logs' THEN s.data_source ELSE c.content_source END AS source_name
              FROM dwh_etl.quarantine AS qe
              CROSS JOIN zone AS z
              CROSS JOIN LATERAL (SELECT dwh_etl.try_timestamptz(qe.payload->>'occurred_at', z.name) AS at) AS t
              JOIN citizen.dim_service AS s
                ON s.service_id = dwh_etl.try_bigint(qe.payload->>'service_id')
               AND t.at >= s.valid_from AND (s.valid_to IS NULL OR t.at < s.valid_to)
              LEFT JOIN citizen.dim_content AS c
                ON qe.target_table = 'silver.citizen_content_events'
               AND c.content_id = dwh_etl.try_bigint(qe.payload->>'content_id')
               AND t.at >= c.valid_from AND (c.valid_to IS NULL OR t.at < c.valid_to)
              WHERE qe.resolved_at IS NULL
                AND qe.target_table IN ('silver.citizen_query_logs', 'silver.citizen_content_events')
                AND to_char(t.at AT TIME ZONE z.name, 'YYYYMMDD')::integer = p_date_key) AS x
        JOIN citizen.dim_content_source AS cs
          ON cs.source_name = x.source_name
        GROUP BY x.service_key, cs.content_source_key
    ),
    groups AS (
        SELECT f.service_key, f.content_source_key,
               count(*) AS fact_rows,
               count(*) FILTER (WHERE f.is_complete) AS complete_rows,
               avg(f.lag_hours) AS lag_hours
        FROM fact_rows AS f
        GROUP BY f.service_key, f.content_source_key
    ),
    checks AS (
        SELECT r.service_key, r.content_source_key, sum(r.checks) AS checks, sum(r.failing) AS failing,
               jsonb_object_agg(r.rule_name, r.failing) AS per_rule
        FROM citizen.marts_rule_checks(p_date_key) AS r
        GROUP BY r.service_key, r.content_source_key
    ),
    measured (service_key, content_source_key, metric_code, value, rows_measured, details) AS (
        SELECT g.service_key, g.content_source_key, 'completeness',
               round(100.0 * g.complete_rows / g.fact_rows, 4), g.fact_rows,
               jsonb_build_object('rows', g.fact_rows, 'complete', g.complete_rows)
        FROM groups AS g
        UNION ALL
        -- a group with quarantined entries but no accepted row that day measures 0 %
        SELECT COALESCE(g.service_key, qu.service_key), COALESCE(g.content_source_key, qu.content_source_key), 'accuracy',
               round(100.0 * COALESCE(g.fact_rows, 0) / (COALESCE(g.fact_rows, 0) + COALESCE(qu.entries, 0)), 4),
               COALESCE(g.fact_rows, 0) + COALESCE(qu.entries, 0),
               jsonb_build_object('accepted', COALESCE(g.fact_rows, 0), 'quarantined', COALESCE(qu.entries, 0))
        FROM groups AS g
        FULL JOIN quarantined AS qu
          ON qu.service_key = g.service_key AND qu.content_source_key = g.content_source_key
        UNION ALL
        SELECT g.service_key, g.content_source_key, 'freshness', round(g.lag_hours, 4), g.fact_rows,
               jsonb_build_object('rows', g.fact_rows)
        FROM groups AS g
        UNION ALL
        SELECT c.service_key, c.content_source_key, 'consistency',
               round(100.0 * (1 - c.failing::numeric / c.checks), 4), c.checks,
               jsonb_build_object('checks', c.checks, 'failing', c.failing, 'failing_per_rule', c.per_rule)
        FROM checks AS c
        WHERE c.checks > 0
    )
    SELECT p_date_key,
           x.service_key,
           x.content_source_key,
           dm.quality_metric_key,
           x.value::numeric(14,4),
           dm.measurement_unit,
           dm.threshold_good,
           citizen.kpi_status(x.value, dm.higher_is_better, dm.threshold_good, dm.threshold_warning),
           x.rows_measured,
           x.details
    FROM measured AS x
    JOIN citizen.dim_quality_metric AS dm
      ON dm.metric_code = x.metric_code
    WHERE dm.is_active;
$$;
COMMENT ON FUNCTION citizen.marts_data_quality(integer) IS 'The rows of citizen.fct_data_quality for one day: completeness, accuracy, freshness and consistency per service and content source (formulas in the header and docs/CITIZEN.md).';
REVOKE EXECUTE ON FUNCTION citizen.marts_data_quality(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION citizen.marts_data_quality(integer) TO etl_service;

CREATE OR REPLACE VIEW silver.citizen_fct_data_quality_rows AS
SELECT d.date_key, r.service_key, r.content_source_key, r.quality_metric_key, r.metric_value, r.unit,
       r.threshold_value, r.status, r.rows_measured, r.details
FROM gold.dim_date AS d
CROSS JOIN LATERAL citizen.marts_data_quality(d.date_key) AS r;
COMMENT ON VIEW silver.citizen_fct_data_quality_rows IS 'The rows of citizen.fct_data_quality (metric x service x content source x day), for its mart step, which reads the queued days only.';
REVOKE ALL ON silver.citizen_fct_data_quality_rows FROM PUBLIC;
GRANT SELECT ON silver.citizen_fct_data_quality_rows TO etl_service;
