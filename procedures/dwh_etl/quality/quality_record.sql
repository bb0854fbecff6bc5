-- Writes quality results (the jsonb array of quality_check_table) to dwh_lineage.quality_metrics,
-- the history of every evaluation, for the run p_run_id (its batch unless a result names its own).
-- Without a run id: outside a pipeline no run and a fresh batch (dwh_etl.get_run_context). Returns the
-- number of failed error-severity rules.
-- The earlier signature (run taken from session settings), replaced by this one.
DROP FUNCTION IF EXISTS dwh_etl.quality_record(jsonb);
CREATE OR REPLACE FUNCTION dwh_etl.quality_record(
    p_results jsonb,
    p_run_id  bigint DEFAULT NULL
)
RETURNS integer
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_run    dwh_etl.run_context := dwh_etl.get_run_context(p_run_id);
    v_errors integer;
BEGIN
    INSERT INTO dwh_lineage.quality_metrics (
        run_id, batch_id, table_name, metric_name, metric_value, threshold, passed, details,
        rule_id, severity, rows_checked, failing_sample, scope
    )
    SELECT v_run.run_id,
           COALESCE((r->>'batch_id')::uuid, v_run.batch_id),
           r->>'table_name',
           r->>'rule_name',
           (r->>'metric_value')::numeric,
           (r->>'threshold')::numeric,
           (r->>'passed')::boolean,
           jsonb_build_object('rule_type', r->>'rule_type', 'failing', (r->>'failing')::bigint,
                              'threshold_type', r->>'threshold_type')
           -- a whole-table rule's input token, and the result it repeats (dwh_etl.quality_check_table)
           || jsonb_strip_nulls(jsonb_build_object('state', r->>'state', 'reused_from', (r->>'reused_from')::bigint,
                                                 'enforced_by', r->>'enforced_by')),
           (r->>'rule_id')::bigint,
           r->>'severity',
           (r->>'rows_checked')::bigint,
           r->'failing_sample',
           -- what the rule looked at (quality_check_table says; a result without it: the whole table)
           COALESCE(r->>'scope', 'table')
    FROM jsonb_array_elements(p_results) AS r;

    SELECT count(*) INTO v_errors
    FROM jsonb_array_elements(p_results) AS r
    WHERE NOT (r->>'passed')::boolean
      AND r->>'severity' = 'error';
    RETURN v_errors;
END;
$$;
COMMENT ON FUNCTION dwh_etl.quality_record(jsonb, bigint) IS 'Record quality results in dwh_lineage.quality_metrics for a run (NULL: none); returns how many error-severity rules failed.';
