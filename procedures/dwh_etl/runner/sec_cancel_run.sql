-- Cancels a running pipeline run from another session (`dwh cancel`; issue 14): what a DBA would do with
-- pg_cancel_backend, without looking up the backend or holding the right to signal it. The run's own
-- runner then records the step that was running as 'cancelled' and the run as failed (migration 0012),
-- and the step's writes are rolled back with its transaction; steps already committed stay, as after any
-- failed run (`dwh retry` reruns from the cancelled step).
--   p_run_id   the run (default: every running run, or those of p_pipeline)
--   p_pipeline only runs of this pipeline
-- Each running run is checked before its backend is signalled: the backend recorded for it must still
-- hold the pipeline's run lock (the advisory lock of dwh_etl.run_pipeline), so a recycled pid, a dead
-- session or an unrelated query is never cancelled. A session whose CALL was already interrupted holds
-- the lock while idle: nothing runs there to cancel (the note says so; ending that session releases it).
-- SECURITY DEFINER (pg_cancel_backend needs the signalled role, or pg_signal_backend): for etl_service,
-- which runs pipelines. Refuses a run that is not running.
CREATE OR REPLACE FUNCTION dwh_etl.sec_cancel_run(
    p_run_id   bigint DEFAULT NULL,
    p_pipeline text DEFAULT NULL
)
RETURNS TABLE (
    run_id        bigint,
    pipeline_name text,
    backend_pid   integer,
    cancelled     boolean,
    note          text
)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_run    record;
    v_status text;
    v_state  text;
    v_found  boolean := false;
BEGIN
    IF p_run_id IS NOT NULL THEN
        SELECT pr.status INTO v_status FROM dwh_lineage.pipeline_runs AS pr WHERE pr.run_id = p_run_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'no run %', p_run_id USING ERRCODE = 'no_data_found';
        ELSIF v_status <> 'running' THEN
            RAISE EXCEPTION 'run % is not running (it is %)', p_run_id, v_status
                USING ERRCODE = 'object_not_in_prerequisite_state';
        END IF;
    END IF;
    FOR v_run IN
        SELECT pr.run_id, pr.pipeline_name, pr.backend_pid
        FROM dwh_lineage.pipeline_runs AS pr
        WHERE pr.status = 'running'
          AND (p_run_id IS NULL OR pr.run_id = p_run_id)
          AND (p_pipeline IS NULL OR pr.pipeline_name = p_pipeline)
        ORDER BY pr.run_id
    LOOP
        v_found := true;
        SELECT a.state INTO v_state
        FROM pg_catalog.pg_stat_activity AS a
        WHERE a.pid = v_run.backend_pid
          AND dwh_etl._run_lock_held(v_run.pipeline_name, v_run.backend_pid);
        run_id := v_run.run_id;
        pipeline_name := v_run.pipeline_name;
        backend_pid := v_run.backend_pid;
        IF v_state IS NULL THEN
            cancelled := false;
            note := 'its session is gone or no longer holds the run lock: nothing to cancel (the next run of the pipeline closes it)';
        ELSIF v_state <> 'active' THEN
            cancelled := false;
            note := format('its session is %s: its CALL was already interrupted, nothing runs (ending the session releases the run lock: SELECT pg_terminate_backend(%s))',
                           v_state, v_run.backend_pid);
        ELSE
            BEGIN
                cancelled := pg_catalog.pg_cancel_backend(v_run.backend_pid);
            EXCEPTION WHEN insufficient_privilege THEN
                RAISE EXCEPTION 'cannot cancel run %: the owner of dwh_etl.sec_cancel_run may not signal backend %', v_run.run_id, v_run.backend_pid
                    USING ERRCODE = 'insufficient_privilege',
                          HINT = format('GRANT pg_signal_backend TO %I (as a superuser), or SELECT pg_cancel_backend(%s) as a role that may', current_user, v_run.backend_pid);
            END;
            note := CASE WHEN cancelled THEN 'cancel sent: the runner records the running step and the run cancelled'
                         ELSE 'the backend did not take the signal' END;
        END IF;
        RETURN NEXT;
    END LOOP;
    -- A run that holds its pipeline's lock but is not recorded yet (waiting for a lock on the run tables
    -- before it writes its row): `dwh cancel` without a run id said "no run is running" while `dwh run`
    -- hung (attack 9b). Its active backend is cancelled too; the runner then gives the lock back and
    -- records nothing (there is no run yet).
    IF p_run_id IS NULL THEN
        FOR v_run IN
            SELECT p.pipeline_name, a.pid AS backend_pid
            FROM dwh_etl.pipelines AS p
            JOIN pg_catalog.pg_stat_activity AS a
              ON a.datname = pg_catalog.current_database()
             AND a.state = 'active'
             AND a.pid <> pg_catalog.pg_backend_pid()
            WHERE (p_pipeline IS NULL OR p.pipeline_name = p_pipeline)
              AND dwh_etl._run_lock_held(p.pipeline_name, a.pid)
              AND NOT EXISTS (SELECT 1 FROM dwh_lineage.pipeline_runs AS pr
                              WHERE pr.status = 'running' AND pr.backend_pid = a.pid)
            ORDER BY a.pid, p.pipeline_name
        LOOP
            CONTINUE WHEN v_run.backend_pid = backend_pid;  -- one signal per backend (a rebuild holds several locks)
            v_found := true;
            run_id := NULL;
            pipeline_name := v_run.pipeline_name;
            backend_pid := v_run.backend_pid;
            BEGIN
                cancelled := pg_catalog.pg_cancel_backend(v_run.backend_pid);
            EXCEPTION WHEN insufficient_privilege THEN
                RAISE EXCEPTION 'cannot cancel the run of pipeline % starting in backend %: the owner of dwh_etl.sec_cancel_run may not signal it', v_run.pipeline_name, v_run.backend_pid
                    USING ERRCODE = 'insufficient_privilege';
            END;
            note := CASE WHEN cancelled THEN 'cancel sent to a run not recorded yet (it holds the run lock and waits): it gives the lock back, nothing is recorded'
                         ELSE 'the backend did not take the signal' END;
            RETURN NEXT;
        END LOOP;
    END IF;
    IF NOT v_found THEN
        RAISE EXCEPTION 'no run is running%', CASE WHEN p_pipeline IS NULL THEN '' ELSE format(' for pipeline %s', p_pipeline) END
            USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'dwh status shows the runs';
    END IF;
END;
$$;
REVOKE ALL ON FUNCTION dwh_etl.sec_cancel_run(bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl.sec_cancel_run(bigint, text) TO etl_service;
COMMENT ON FUNCTION dwh_etl.sec_cancel_run(bigint, text) IS 'SECURITY DEFINER: cancel running pipeline runs (one, those of a pipeline, or all) whose backend still holds the run lock; returns what was signalled. Example: SELECT * FROM dwh_etl.sec_cancel_run(42);';
