-- The runner's work between two steps, made cancel-safe (attack 9b): asks dwh_etl._step_unchanged
-- whether the step may be left out (p_ask_unchanged: full runs only) and records the step's 'running'
-- row in dwh_lineage.step_runs. A cancel that lands here (dwh cancel, pg_cancel_backend, Ctrl-C,
-- statement_timeout; the lineage reads of _step_unchanged are most of a no-op run, and a lock held on
-- the run tables makes this wait) used to escape dwh_etl.run_steps, which cannot catch errors around its
-- COMMITs: the run stayed 'running', its session kept the run lock, and dwh status called it stale.
-- Here the cancel is caught: the step is recorded 'cancelled' (it did not start) and cancel_message
-- tells the runner to end the run as cancelled, release the lock and raise the cancel again, as for a
-- cancel inside a step. A function (it owns the EXCEPTION handler); the runner owns the COMMITs.
CREATE OR REPLACE FUNCTION dwh_etl._begin_step(
    p_run_id        bigint,
    p_step_name     text,
    p_procedure     text,
    p_order         integer,
    p_ask_unchanged boolean,
    OUT skip_reason    text,
    OUT cancel_message text
)
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
BEGIN
    BEGIN
        IF p_ask_unchanged THEN
            skip_reason := dwh_etl._step_unchanged(p_run_id, p_step_name);
        END IF;
        INSERT INTO dwh_lineage.step_runs (run_id, step_name, procedure_name, step_order)
        VALUES (p_run_id, p_step_name, p_procedure, p_order);
    EXCEPTION WHEN query_canceled THEN
        skip_reason := NULL;
        cancel_message := SQLERRM;
        INSERT INTO dwh_lineage.step_runs (run_id, step_name, procedure_name, step_order, status, completed_at,
                                           duration_ms, sqlstate, error_message)
        VALUES (p_run_id, p_step_name, p_procedure, p_order, 'cancelled', clock_timestamp(), 0, '57014',
                'cancelled before the step started: ' || SQLERRM);
    END;
END;
$$;
COMMENT ON FUNCTION dwh_etl._begin_step(bigint, text, text, integer, boolean) IS 'The runner between two steps: why the step may be left out (dwh_etl._step_unchanged) and its running row in step_runs; a cancel arriving there is recorded (the step cancelled) and returned in cancel_message instead of escaping the runner.';
REVOKE EXECUTE ON FUNCTION dwh_etl._begin_step(bigint, text, text, integer, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl._begin_step(bigint, text, text, integer, boolean) TO etl_service;
