-- depends: 0016_step_kinds
-- The run context as a value (issue 10): which run, batch, pipeline, run date and step a routine works
-- for. The runner hands every step its p_run_id; dwh_etl.get_run_context(p_run_id) reads the rest from
-- dwh_lineage.pipeline_runs / step_runs, and engine routines take the run id as an argument instead of
-- reading session settings (dwh.run_id, dwh.batch_id, dwh.step) that the runner used to set.
CREATE TYPE dwh_etl.run_context AS (
    run_id        bigint,
    batch_id      uuid,
    pipeline_name text,
    run_date      date,
    step_name     text
);
COMMENT ON TYPE dwh_etl.run_context IS 'What a routine is working for: run, its batch (stamped as _batch_id), pipeline, run date and the step running now. Outside a pipeline: no run, a fresh batch, today (UTC). Built by dwh_etl.get_run_context(p_run_id).';
