-- The runner. Takes the pipeline's advisory lock (session-level: it must survive the per-step
-- COMMITs), records the run, runs the steps in dependency order, each in its own transaction. A failed
-- step rolls back its own writes and is recorded; the steps that depend on it (directly or not) are
-- recorded 'skipped' with the reason, and every other step still runs (one bad area does not stop the
-- others). What steps committed stays; every step is idempotent, so a rerun completes the work. Call on
-- an autocommit connection (psql is fine; so is pg_cron with the command exactly
-- `CALL dwh_etl.run_pipeline(...)`).
--
-- The run does not depend on the caller's session: it pins TimeZone (UTC), DateStyle, IntervalStyle,
-- search_path and the other settings its SQL reads for its whole duration (restored at the end), and the
-- default run date is today in UTC (as pg_cron sees it), whatever the client's zone.
--
-- A cancel (Ctrl-C in psql, pg_cancel_backend, statement_timeout) during a step is recorded: the step
-- 'cancelled', the run 'cancelled', the lock released, then the cancel is raised again (SQLSTATE 57014).
-- A session whose earlier CALL was interrupted elsewhere still holds the lock: its next CALL releases it.
--
-- Errors: DW001 unknown pipeline, DW002 already running (only for p_trigger = 'manual'; a scheduled
-- run records a 'skipped' run and returns quietly), DW003 the run failed (already recorded), 57014 the
-- run was cancelled (already recorded).
CREATE OR REPLACE PROCEDURE dwh_etl.run_pipeline(
    p_pipeline  text,
    p_run_date  date DEFAULT NULL,
    INOUT p_run_id bigint DEFAULT NULL,
    p_trigger   text DEFAULT 'manual'
)
LANGUAGE plpgsql
-- No SET clause: a procedure with one cannot COMMIT, and dwh_etl.run_steps commits per step.
AS $$
BEGIN
    -- Kept with its four parameters (pg_cron jobs and callers name them): the body, with the options
    -- (a subset of steps, far-future dates, retries), is dwh_etl.run_steps. A far-future date is refused.
    CALL dwh_etl.run_steps(p_pipeline => p_pipeline, p_run_date => p_run_date, p_run_id => p_run_id,
                           p_trigger => p_trigger);
END;
$$;
COMMENT ON PROCEDURE dwh_etl.run_pipeline(text, date, bigint, text) IS 'Run a registered pipeline: advisory lock, pinned session settings, run record, steps in dependency order with one transaction each (dependents of a failed step skipped, the others run), failure or cancel recorded with its full error. Example: CALL dwh_etl.run_pipeline(p_pipeline => ''daily'', p_run_date => DATE ''2025-01-31'');';

-- The same, for the chosen steps only (issue 14, `dwh run --select`): p_steps names steps of the pipeline
-- (dwh_etl.select_steps chooses them from selectors). The others are recorded 'skipped' ("not selected")
-- without running, so their watermarks stay where they are; a chosen step whose upstream step was not
-- chosen runs on what that step committed before. 22023 when p_steps is empty or names a step the
-- pipeline lacks. No default for p_steps: the four-parameter form above is what schedules and most
-- callers use.
CREATE OR REPLACE PROCEDURE dwh_etl.run_pipeline(
    p_pipeline  text,
    p_steps     text[],
    p_run_date  date DEFAULT NULL,
    INOUT p_run_id bigint DEFAULT NULL,
    p_trigger   text DEFAULT 'manual'
)
LANGUAGE plpgsql
-- No SET clause: a procedure with one cannot COMMIT, and dwh_etl.run_steps commits per step.
AS $$
BEGIN
    IF p_steps IS NULL THEN
        RAISE EXCEPTION 'p_steps: no step selected' USING ERRCODE = 'invalid_parameter_value',
              HINT = 'CALL dwh_etl.run_pipeline(p_pipeline => ...) runs every step';
    END IF;
    CALL dwh_etl.run_steps(p_pipeline => p_pipeline, p_run_date => p_run_date, p_run_id => p_run_id,
                           p_trigger => p_trigger, p_steps => p_steps);
END;
$$;
COMMENT ON PROCEDURE dwh_etl.run_pipeline(text, text[], date, bigint, text) IS 'Run the chosen steps of a registered pipeline (p_steps; the others recorded skipped, not selected): advisory lock, pinned session settings, run record, steps in dependency order with one transaction each (dependents of a failed step skipped, the others run), failure or cancel recorded with its full error. Example: CALL dwh_etl.run_pipeline(p_pipeline => ''daily'', p_steps => ARRAY[''sales_fact_sales'']);';
