-- The runner. Takes the pipeline's advisory lock (session-level: it must survive the per-step
-- COMMITs), records the run, runs the steps in dependency order, each in its own transaction, and
-- stops at the first failed step. What earlier steps committed stays; every step is idempotent, so a
-- rerun completes the work. Call on an autocommit connection (psql is fine; so is pg_cron with
-- the command exactly `CALL dwh_etl.run_pipeline(...)`).
--
-- Errors: DW001 unknown pipeline, DW002 already running (only for p_trigger = 'manual'; a scheduled
-- run records a 'skipped' run and returns quietly), DW003 the run failed (already recorded).
CREATE OR REPLACE PROCEDURE dwh_etl.run_pipeline(
    p_pipeline  text,
    p_run_date  date DEFAULT CURRENT_DATE,
    INOUT p_run_id bigint DEFAULT NULL,
    p_trigger   text DEFAULT 'manual'
)
LANGUAGE plpgsql
-- No SET search_path here: a procedure with a SET clause cannot COMMIT. Every name is qualified.
AS $$
DECLARE
    v_lock_key  bigint := hashtextextended('dwh_etl.run_pipeline:' || p_pipeline, 0);
    v_batch_id  uuid;
    v_steps     record;
    v_order     integer := 0;
    v_status    text;
    v_failed    record;
    v_holder    record;
    v_started   timestamptz := clock_timestamp();
    v_stale     integer;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM dwh_etl.pipelines WHERE pipeline_name = p_pipeline) THEN
        RAISE EXCEPTION 'unknown pipeline %', quote_literal(COALESCE(p_pipeline, 'NULL'))
            USING ERRCODE = 'DW001',
                  HINT = format('registered pipelines: %s',
                                (SELECT string_agg(pipeline_name, ', ' ORDER BY pipeline_name) FROM dwh_etl.pipelines));
    END IF;
    IF p_run_date IS NULL THEN
        RAISE EXCEPTION 'p_run_date must not be NULL'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'omit it for today, or pass a date';
    END IF;
    IF p_trigger NOT IN ('manual', 'cron') THEN
        RAISE EXCEPTION 'p_trigger must be manual or cron, got %', quote_literal(p_trigger)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    IF NOT pg_try_advisory_lock(v_lock_key) THEN
        SELECT pr.run_id, pr.started_at, pr.backend_pid
        INTO v_holder
        FROM dwh_lineage.pipeline_runs AS pr
        WHERE pr.pipeline_name = p_pipeline
          AND pr.status = 'running'
        ORDER BY pr.run_id DESC
        LIMIT 1;
        IF p_trigger = 'cron' THEN
            INSERT INTO dwh_lineage.pipeline_runs (pipeline_name, run_date, status, completed_at, parameters, error_message)
            VALUES (p_pipeline, p_run_date, 'skipped', clock_timestamp(),
                    jsonb_build_object('trigger', p_trigger),
                    format('pipeline already running (run %s)', COALESCE(v_holder.run_id::text, '?')))
            RETURNING run_id INTO p_run_id;
            COMMIT;
            RAISE NOTICE 'pipeline % is already running (run %): recorded skipped run %', p_pipeline, v_holder.run_id, p_run_id;
            RETURN;
        END IF;
        RAISE EXCEPTION 'pipeline % is already running', p_pipeline
            USING ERRCODE = 'DW002',
                  DETAIL = format('run %s started at %s by backend %s',
                                  COALESCE(v_holder.run_id::text, '?'), COALESCE(v_holder.started_at::text, '?'),
                                  COALESCE(v_holder.backend_pid::text, '?')),
                  HINT = 'wait for it to finish (dwh status shows it); a run whose session died is detected and closed by the next run';
    END IF;

    -- We hold the lock, so any run still marked 'running' lost its session (killed backend, restart).
    UPDATE dwh_lineage.step_runs AS sr
    SET status = 'failed',
        completed_at = clock_timestamp(),
        error_message = 'abandoned: the session running this step ended before it finished'
    FROM dwh_lineage.pipeline_runs AS pr
    WHERE pr.run_id = sr.run_id
      AND pr.pipeline_name = p_pipeline
      AND pr.status = 'running'
      AND sr.status = 'running';
    UPDATE dwh_lineage.pipeline_runs AS pr
    SET status = 'failed',
        completed_at = clock_timestamp(),
        error_message = 'abandoned: the session running it ended before it finished'
    WHERE pr.pipeline_name = p_pipeline
      AND pr.status = 'running';
    GET DIAGNOSTICS v_stale = ROW_COUNT;
    IF v_stale > 0 THEN
        RAISE NOTICE 'closed % abandoned run(s) of pipeline %', v_stale, p_pipeline;
    END IF;

    INSERT INTO dwh_lineage.pipeline_runs (pipeline_name, run_date, parameters)
    VALUES (p_pipeline, p_run_date, jsonb_build_object('run_date', p_run_date, 'trigger', p_trigger))
    RETURNING run_id, batch_id INTO p_run_id, v_batch_id;
    COMMIT;
    RAISE NOTICE 'run % of pipeline % for % started', p_run_id, p_pipeline, p_run_date;

    PERFORM set_config('dwh.run_id', p_run_id::text, false),
            set_config('dwh.batch_id', v_batch_id::text, false);

    FOR v_steps IN
        SELECT o.step_name, o.procedure_name FROM dwh_etl._ordered_steps(p_pipeline) AS o
    LOOP
        v_order := v_order + 1;
        INSERT INTO dwh_lineage.step_runs (run_id, step_name, procedure_name, step_order)
        VALUES (p_run_id, v_steps.step_name, v_steps.procedure_name, v_order);
        COMMIT;
        RAISE NOTICE 'step % started', v_steps.step_name;

        PERFORM set_config('dwh.step', v_steps.step_name, false);
        v_status := dwh_etl._run_step(p_run_id, v_steps.step_name, v_steps.procedure_name, p_run_date);
        PERFORM set_config('dwh.step', '', false);
        COMMIT;

        SELECT sr.step_name, sr.status, sr.rows_read, sr.rows_written, sr.duration_ms, sr.error_message
        INTO v_failed
        FROM dwh_lineage.step_runs AS sr
        WHERE sr.run_id = p_run_id
          AND sr.step_name = v_steps.step_name;
        IF v_status = 'failed' THEN
            RAISE NOTICE 'step % failed after % ms: %', v_failed.step_name, v_failed.duration_ms, v_failed.error_message;
            EXIT;
        END IF;
        RAISE NOTICE 'step % done: % rows read, % written in % ms',
            v_failed.step_name, v_failed.rows_read, v_failed.rows_written, v_failed.duration_ms;
    END LOOP;

    PERFORM set_config('dwh.run_id', '', false),
            set_config('dwh.batch_id', '', false);

    UPDATE dwh_lineage.pipeline_runs AS pr
    SET status        = CASE WHEN v_status = 'failed' THEN 'failed' ELSE 'completed' END,
        completed_at  = clock_timestamp(),
        error_message = CASE WHEN v_status = 'failed'
                             THEN format('step %s failed: %s', v_failed.step_name, v_failed.error_message) END,
        metrics       = jsonb_build_object(
                            'steps', v_order,
                            'duration_seconds', round(EXTRACT(EPOCH FROM (clock_timestamp() - v_started))::numeric, 3),
                            'rows_written', (SELECT COALESCE(sum(sr.rows_written), 0)
                                             FROM dwh_lineage.step_runs AS sr WHERE sr.run_id = p_run_id))
    WHERE pr.run_id = p_run_id;
    PERFORM pg_advisory_unlock(v_lock_key);
    COMMIT;

    IF v_status = 'failed' THEN
        RAISE EXCEPTION 'run % of pipeline % failed at step %: %', p_run_id, p_pipeline, v_failed.step_name, v_failed.error_message
            USING ERRCODE = 'DW003',
                  DETAIL = format('run_id=%s', p_run_id),
                  HINT = format('SELECT * FROM dwh_lineage.step_runs WHERE run_id = %s shows the error with its context; fix the cause and run the pipeline again (steps are idempotent)', p_run_id);
    END IF;
    RAISE NOTICE 'run % of pipeline % completed in % s', p_run_id, p_pipeline,
        round(EXTRACT(EPOCH FROM (clock_timestamp() - v_started))::numeric, 1);
END;
$$;
COMMENT ON PROCEDURE dwh_etl.run_pipeline(text, date, bigint, text) IS 'Run a registered pipeline: advisory lock, run record, steps in dependency order with one transaction each, failure recorded with its full error. Example: CALL dwh_etl.run_pipeline(p_pipeline => ''daily'', p_run_date => DATE ''2025-01-31'');';
