-- The run and step the runner is executing in this session (NULL outside a run).
CREATE OR REPLACE FUNCTION dwh_lineage._current_run(
    OUT run_id    bigint,
    OUT batch_id  uuid,
    OUT step_name text
)
LANGUAGE sql
STABLE
SET search_path = dwh_lineage, pg_temp
AS $$
    SELECT NULLIF(current_setting('dwh.run_id', true), '')::bigint,
           NULLIF(current_setting('dwh.batch_id', true), '')::uuid,
           NULLIF(current_setting('dwh.step', true), '');
$$;
COMMENT ON FUNCTION dwh_lineage._current_run() IS 'Run id, batch id and step name set by dwh_etl.run_pipeline for the current step (session settings dwh.*).';
