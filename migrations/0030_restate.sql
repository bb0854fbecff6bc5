-- depends: 0029_citizen_marts
-- Restatement, rebuild and retry (issue 14). A restatement or rebuild replaces what is loaded in ONE
-- transaction (all or nothing: a failure or a cancel leaves the previous data intact), so a step that
-- completed inside it and was then undone by a later step's failure is recorded 'rolled_back'. What a
-- run was (a normal run, a retry, a restatement, a rebuild) and what it replaced live in
-- pipeline_runs.parameters (mode, from, to, target, steps, retry_of) and metrics (replaced).
ALTER TABLE dwh_lineage.step_runs DROP CONSTRAINT step_runs_status_ck;
ALTER TABLE dwh_lineage.step_runs ADD CONSTRAINT step_runs_status_ck
    CHECK (status IN ('running', 'completed', 'failed', 'cancelled', 'skipped', 'rolled_back'));
COMMENT ON COLUMN dwh_lineage.step_runs.status IS 'running, completed, failed, cancelled, skipped (not run: a dependency did not complete, or a restatement does not re-extract), rolled_back (completed inside a restatement or rebuild whose single transaction a later step undid).';
COMMENT ON COLUMN dwh_lineage.pipeline_runs.parameters IS 'How the run was started: run_date, trigger; mode (restate, rebuild) with from, to, target, steps; retry_of (the failed run a retry completes); steps (a subset of the pipeline''s steps).';
CREATE INDEX pipeline_runs_retry_of_idx ON dwh_lineage.pipeline_runs (((parameters->>'retry_of')::bigint))
    WHERE parameters ? 'retry_of';
