-- Step `sources` (pipelines daily and incremental, before the areas' extraction): pulls every fdw
-- source into its local copies (dwh_etl.sec_source_pull) and reports replicated sources that need a
-- look (dwh_etl.source_status warnings) as WARNINGs in the run's output. Replicated sources need no
-- pull: their subscription keeps the copies current between runs. A source that cannot be read fails
-- the step (its error names the source); the steps that depend on it are skipped, the others run, and
-- the next run catches up from the same watermarks. No sources: nothing to do.
CREATE OR REPLACE PROCEDURE dwh_etl.step_sources(
    p_run_id   bigint,
    p_run_date date
)
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_src  record;
    v_rows bigint;
BEGIN
    FOR v_src IN SELECT s.source_name FROM dwh_etl.sources AS s WHERE s.mode = 'fdw' ORDER BY s.source_name LOOP
        v_rows := dwh_etl.sec_source_pull(v_src.source_name, p_run_id);
        RAISE NOTICE 'source %: % row(s) pulled', v_src.source_name, v_rows;
    END LOOP;
    FOR v_src IN SELECT st.source_name, st.warnings FROM dwh_etl.source_status(p_check_remote => false) AS st
                 WHERE st.mode = 'replicate' AND cardinality(st.warnings) > 0 LOOP
        RAISE WARNING 'source %: %', v_src.source_name, array_to_string(v_src.warnings, '; ');
    END LOOP;
END;
$$;
COMMENT ON PROCEDURE dwh_etl.step_sources(bigint, date) IS 'Step: pull every fdw source into its local copies; warn about replicated sources that lag or stopped.';
