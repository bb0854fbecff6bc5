-- Evaluates every enabled rule of a table (on p_batch's rows for batch-scoped rules) and returns the
-- results as a jsonb array, ready for dwh_etl.quality_record. Records nothing itself, so a caller that
-- rolls back can still keep the results (the runner does: see _run_step). p_batch_empty: the batch is
-- known to have written no row to the table (dwh_etl.quality_evaluate then scans nothing for it).
-- The earlier signature (without p_batch_empty), replaced by this one.
DROP FUNCTION IF EXISTS dwh_etl.quality_check_table(text, uuid);
CREATE OR REPLACE FUNCTION dwh_etl.quality_check_table(
    p_table text,
    p_batch uuid DEFAULT NULL,
    p_batch_empty boolean DEFAULT false
)
RETURNS jsonb
LANGUAGE sql
SET search_path = dwh_etl, pg_temp
AS $$
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
               'failing_sample', e.failing_sample) ORDER BY r.rule_name), '[]'::jsonb)
    FROM dwh_etl.quality_rules AS r
    CROSS JOIN LATERAL dwh_etl.quality_evaluate(r, p_batch, p_batch_empty) AS e
    WHERE r.table_name = p_table
      AND r.is_enabled;
$$;
COMMENT ON FUNCTION dwh_etl.quality_check_table(text, uuid, boolean) IS 'Results of every enabled quality rule of a table, as a jsonb array (nothing recorded); p_batch_empty: the batch is known to have no row in the table.';
REVOKE EXECUTE ON FUNCTION dwh_etl.quality_check_table(text, uuid, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl.quality_check_table(text, uuid, boolean) TO etl_service;
