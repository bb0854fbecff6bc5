-- Step (bronze): high-water-mark delta extraction of the devflow source's event tables (agent
-- executions, code generation tasks, reviews, deployment pipelines) into bronze, in one snapshot.
-- Windows run on _dwh_arrived_at (when the row reached the source, stamped by trigger zz_dwh_arrival),
-- not on updated_at, which is data and may lie (issue 9).
CREATE OR REPLACE PROCEDURE devflow.extract_events(
    p_run_id   bigint,
    p_run_date date
)
LANGUAGE plpgsql
SET search_path = devflow, pg_temp
AS $$
DECLARE
    v_schema text := dwh_etl.get_setting('devflow.source_schema', 'devflow_src');
    v_cap    timestamptz := (p_run_date + 1)::timestamptz;
    v_table  text;
BEGIN
    FOREACH v_table IN ARRAY ARRAY['agent_execution_logs', 'code_gen_tasks', 'review_results', 'deployment_pipelines'] LOOP
        PERFORM dwh_etl.extract_incremental(format('%I.%I', v_schema, v_table), format('bronze.%I', 'devflow_' || v_table),
                                            '_dwh_arrived_at', v_cap);
    END LOOP;
END;
$$;
COMMENT ON PROCEDURE devflow.extract_events(bigint, date) IS 'Step: extract changed agent executions, code generations, reviews and deployments into bronze.';
