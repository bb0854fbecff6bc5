-- Compatibility (issue 10): the run and step the runner is executing in this session, from the session
-- settings dwh.run_id, dwh.batch_id, dwh.step (NULL outside a run). Routines get their run context
-- explicitly now, from the p_run_id the runner passes each step (dwh_etl.get_run_context(p_run_id));
-- this stays for the area procedures that do not pass it yet, and for a run driven by hand with those
-- settings (seed 002). dwh_etl.get_run_context(NULL) falls back to it.
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
COMMENT ON FUNCTION dwh_lineage._current_run() IS 'Compatibility: run id, batch id and step name of the current step from the session settings dwh.* (set by dwh_etl.run_pipeline until every step passes its p_run_id); use dwh_etl.get_run_context(p_run_id).';
