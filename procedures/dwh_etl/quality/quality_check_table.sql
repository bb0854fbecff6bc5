-- Evaluates every enabled rule of a table (on p_batch's rows for batch-scoped rules) and returns the
-- results as a jsonb array, ready for dwh_etl.quality_record. Records nothing itself, so a caller that
-- rolls back can still keep the results (the runner does: see _run_step). p_batch_empty: the batch is
-- known to have written no row to the table (dwh_etl.quality_evaluate then scans nothing for it).
-- A not_null, unique or relationships rule the database already guarantees (NOT NULL columns, a unique
-- index, a validated foreign key: dwh_etl._rule_enforced) cannot fail: it is passed without scanning for
-- failures ('enforced_by' names the constraint; rows_checked is still counted).
-- p_reuse (the runner's audit, setting quality.reuse_unchanged, default on): a whole-table rule whose
-- inputs did not change since its latest recorded result (dwh_etl._rule_state: the same token) takes that
-- result again instead of scanning (issue 15: a no-op run re-evaluated every whole-table rule); the
-- result says so ('reused_from': the id of the quality_metrics row it repeats). dwh test always evaluates.
-- p_reuse false: evaluate, with the token recorded (so turning the setting on reuses at once); NULL: no token.
-- The batch-scoped rules that need only counts share one scan of the batch's rows
-- (dwh_etl._batch_rule_counts): its row count is every such rule's rows_checked (and an enforced rule's),
-- and a rule it found no failing row for passes without a scan of its own; a rule with failing rows is
-- evaluated by dwh_etl.quality_evaluate as before (its sample), so its result is the same.
-- Earlier signatures, replaced by this one.
DROP FUNCTION IF EXISTS dwh_etl.quality_check_table(text, uuid);
DROP FUNCTION IF EXISTS dwh_etl.quality_check_table(text, uuid, boolean);
CREATE OR REPLACE FUNCTION dwh_etl.quality_check_table(
    p_table text,
    p_batch uuid DEFAULT NULL,
    p_batch_empty boolean DEFAULT false,
    p_reuse boolean DEFAULT NULL
)
RETURNS jsonb
LANGUAGE sql
SET search_path = dwh_etl, pg_temp
AS $$
    WITH shared AS MATERIALIZED (
        SELECT CASE WHEN p_batch IS NOT NULL AND NOT COALESCE(p_batch_empty, false)
                    THEN dwh_etl._batch_rule_counts(p_table, p_batch) END AS counts
    )
    SELECT COALESCE(jsonb_agg(jsonb_build_object(
               'rule_id', r.rule_id,
               'rule_name', r.rule_name,
               'table_name', r.table_name,
               'rule_type', r.rule_type,
               'severity', r.severity,
               'threshold', r.threshold,
               'threshold_type', r.threshold_type,
               'batch_id', p_batch,
               -- what quality_evaluate looked at: the batch's rows only when it could filter on _batch_id
               'scope', CASE WHEN r.scope = 'batch' AND p_batch IS NOT NULL
                              AND EXISTS (SELECT 1 FROM pg_catalog.pg_attribute AS a
                                          WHERE a.attrelid = to_regclass(r.table_name)
                                            AND a.attname = '_batch_id' AND NOT a.attisdropped)
                             THEN 'batch' ELSE 'table' END,
               'rows_checked', e.rows_checked,
               'failing', e.failing,
               'metric_value', e.metric_value,
               'passed', e.passed,
               'failing_sample', e.failing_sample,
               'state', st.state,
               'reused_from', prev.id,
               'enforced_by', enf.constraint_name) ORDER BY r.rule_name), '[]'::jsonb)
    FROM dwh_etl.quality_rules AS r
    CROSS JOIN shared
    -- the shared scan's numbers for this rule: the batch's rows, and its failing rows when it was counted
    CROSS JOIN LATERAL (
        SELECT (shared.counts->>'rows')::bigint AS rows_checked, (shared.counts->>(r.rule_id::text))::bigint AS failing
        WHERE r.scope = 'batch' AND NOT COALESCE(r.params, '{}') ? 'where'
        UNION ALL
        SELECT NULL, NULL
        WHERE NOT (r.scope = 'batch' AND NOT COALESCE(r.params, '{}') ? 'where')
    ) AS sh
    CROSS JOIN LATERAL (SELECT dwh_etl._rule_enforced(r) AS constraint_name) AS enf
    CROSS JOIN LATERAL (SELECT CASE WHEN p_reuse IS NOT NULL AND enf.constraint_name IS NULL THEN dwh_etl._rule_state(r) END AS state) AS st
    LEFT JOIN LATERAL (
        SELECT m.id, m.rows_checked, (m.details->>'failing')::bigint AS failing, m.metric_value, m.passed,
               m.failing_sample, m.details->>'state' AS state
        FROM dwh_lineage.quality_metrics AS m
        WHERE p_reuse
          AND st.state IS NOT NULL
          AND m.rule_id = r.rule_id
        ORDER BY m.measured_at DESC, m.id DESC
        LIMIT 1
    ) AS prev ON prev.state = st.state
    CROSS JOIN LATERAL (
        SELECT prev.rows_checked, prev.failing, prev.metric_value, prev.passed, prev.failing_sample
        WHERE prev.id IS NOT NULL
        UNION ALL
        SELECT COALESCE(sh.rows_checked, dwh_etl._rule_scope_count(r, p_batch, p_batch_empty)), 0::bigint, 0::numeric, true, NULL::jsonb
        WHERE prev.id IS NULL AND enf.constraint_name IS NOT NULL
        UNION ALL
        -- counted by the shared scan, nothing failing: quality_evaluate's result without its scan
        SELECT sh.rows_checked, 0::bigint, 0::numeric,
               CASE WHEN r.threshold_type = 'percent' THEN 0 <= r.threshold * GREATEST(sh.rows_checked, 1)
                    ELSE 0 <= r.threshold END,
               NULL::jsonb
        WHERE prev.id IS NULL AND enf.constraint_name IS NULL AND sh.failing = 0
        UNION ALL
        SELECT q.* FROM dwh_etl.quality_evaluate(r, p_batch, p_batch_empty, sh.rows_checked) AS q
        WHERE prev.id IS NULL AND enf.constraint_name IS NULL AND sh.failing IS DISTINCT FROM 0
    ) AS e (rows_checked, failing, metric_value, passed, failing_sample)
    WHERE r.table_name = p_table
      AND r.is_enabled;
$$;
COMMENT ON FUNCTION dwh_etl.quality_check_table(text, uuid, boolean, boolean) IS 'Results of every enabled quality rule of a table, as a jsonb array (nothing recorded); p_batch_empty: the batch is known to have no row in the table; p_reuse: an unchanged whole-table rule repeats its latest result (dwh_etl._rule_state).';
REVOKE EXECUTE ON FUNCTION dwh_etl.quality_check_table(text, uuid, boolean, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl.quality_check_table(text, uuid, boolean, boolean) TO etl_service;
