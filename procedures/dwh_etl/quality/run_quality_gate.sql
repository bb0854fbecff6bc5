-- Seed 002: CALL dwh_etl.run_quality_gate('silver.sales_customers', batch_id); evaluates the table's
-- registered rules (the seed hard-coded checks per table; here they are rows of dwh_etl.quality_rules),
-- records them, and raises DW004 when an error-severity rule failed (a WARNING when in_fail_on_error
-- is false). The raise rolls back the caller's transaction, records included, so the results are also
-- shown in the error's DETAIL (a jsonb array) for the person who called it. The runner does not use this
-- procedure nor read that DETAIL: its own gate (dwh_etl._run_step, dwh_etl.quality_audit) records the
-- results of a refused step itself. A step should leave its gate to the runner: a DW004 raised inside a
-- step by this procedure fails the step with the DETAIL kept as text in step_runs.error_detail.
CREATE OR REPLACE PROCEDURE dwh_etl.run_quality_gate(
    in_table         text,
    in_batch_id      uuid,
    in_fail_on_error boolean DEFAULT true
)
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_results jsonb := dwh_etl.quality_check_table(in_table, in_batch_id);
    v_message text  := dwh_etl.quality_gate_message(v_results);
BEGIN
    PERFORM dwh_etl.quality_record(v_results);
    IF jsonb_array_length(v_results) = 0 THEN
        RAISE NOTICE 'No quality checks defined for %', in_table;
    ELSIF v_message IS NOT NULL AND in_fail_on_error THEN
        RAISE EXCEPTION 'Quality gate failed for %: %', in_table, v_message
            USING ERRCODE = 'DW004',
                  DETAIL = v_results::text,
                  HINT = 'dwh quality --failed --table ' || in_table || ' shows the failing rows';
    ELSIF v_message IS NOT NULL THEN
        RAISE WARNING 'Quality gate warning for %: %', in_table, v_message;
    ELSE
        RAISE NOTICE 'Quality gate passed for %', in_table;
    END IF;
END;
$$;
COMMENT ON PROCEDURE dwh_etl.run_quality_gate(text, uuid, boolean) IS 'Seed 002: evaluate and record a table''s registered quality rules; DW004 on an error-severity failure.';
