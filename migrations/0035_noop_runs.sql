-- depends: 0032_scd_guard
-- A no-op run costs nothing (issue 15, "per-run cost must follow the delta").
--
-- The runner skips a step whose declared inputs did not move since its last success (dwh_etl._step_unchanged):
-- the step's body is not called, its quality rules are still evaluated and recorded as a run would (a
-- batch-scoped rule on a table the run did not write looks at no rows), and the step_runs row says why in
-- skipped_reason (status 'completed': the step's outputs are what running it would have left).
ALTER TABLE dwh_lineage.step_runs ADD COLUMN skipped_reason text;
COMMENT ON COLUMN dwh_lineage.step_runs.skipped_reason IS
    'Set when the runner did not call the step because nothing it reads changed since its last success (dwh_etl._step_unchanged): why. NULL: the step ran.';

-- The runner's look-ups: a step's last success (over every pipeline: shared steps), and the writes to a
-- table since then. Both tables grow with every run; without these each look-up scans their history.
CREATE INDEX step_runs_step_completed_idx ON dwh_lineage.step_runs (step_name, started_at)
    WHERE status = 'completed';
CREATE INDEX table_lineage_target_completed_idx ON dwh_lineage.table_lineage (target_table, completed_at);
