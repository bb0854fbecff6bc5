-- The runner (its options: dwh_etl.run_steps). Takes the pipeline's advisory lock (session-level: it must survive the per-step
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
-- Far-future run dates (beyond today + the setting calendar.days_ahead) are refused (22023) unless
-- p_allow_future.
--
-- Errors: DW001 unknown pipeline, DW002 already running (only for p_trigger = 'manual'; a scheduled
-- run records a 'skipped' run and returns quietly), DW003 the run failed (already recorded), 57014 the
-- run was cancelled (already recorded).
CREATE OR REPLACE PROCEDURE dwh_etl.run_steps(
    p_pipeline  text,
    p_run_date  date DEFAULT NULL,
    INOUT p_run_id bigint DEFAULT NULL,
    p_trigger   text DEFAULT 'manual',
    p_steps     text[] DEFAULT NULL,
    p_allow_future boolean DEFAULT false,
    p_retry_of  bigint DEFAULT NULL
)
LANGUAGE plpgsql
-- No SET clause here (search_path, TimeZone...): a procedure with a SET clause cannot COMMIT. Every name
-- is qualified, and the session settings are pinned with set_config below.
AS $$
DECLARE
    v_lock_key  bigint := dwh_etl._run_lock_key(p_pipeline);
    v_batch_id  uuid;
    v_steps     record;
    v_order     integer := 0;
    v_status    text;
    v_step      record;
    v_first_step text;            -- the first failed (or the cancelled) step and its message
    v_first_msg text;
    v_holder    record;
    v_started   timestamptz := clock_timestamp();
    v_held      integer;
    v_saved     jsonb;
    v_bad       text[] := '{}'::text[];   -- steps that failed or were skipped: their dependents are skipped
    v_blocked   text;
    v_failed_n  integer := 0;
    v_skipped_n integer := 0;
    v_cancel    boolean := false;
    v_blockers  jsonb;
    v_unknown   text;
    v_horizon   date;
    v_unselected integer := 0;
    v_skip      text;             -- why the step is not called (dwh_etl._step_unchanged), NULL: call it
    v_unchanged_n integer := 0;
    v_cancel_msg text;            -- a cancel that arrived between two steps (dwh_etl._begin_step)
BEGIN
    IF NOT EXISTS (SELECT 1 FROM dwh_etl.pipelines WHERE pipeline_name = p_pipeline) THEN
        RAISE EXCEPTION 'unknown pipeline %', quote_literal(COALESCE(p_pipeline, 'NULL'))
            USING ERRCODE = 'DW001',
                  HINT = format('registered pipelines: %s',
                                (SELECT string_agg(pipeline_name, ', ' ORDER BY pipeline_name) FROM dwh_etl.pipelines));
    END IF;
    IF p_trigger IS NULL OR p_trigger NOT IN ('manual', 'cron') THEN
        RAISE EXCEPTION 'p_trigger must be manual or cron, got %', quote_nullable(p_trigger)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- before the run lock is taken: a write refused later would leave the session holding it
    PERFORM dwh_etl._refuse_read_only(format('run pipeline %s', p_pipeline));
    IF current_setting('session_replication_role') <> 'origin' THEN
        -- triggers (arrival stamps, SCD trigger API) would not fire: the load would be wrong
        RAISE EXCEPTION 'session_replication_role is %, pipelines run only with origin', current_setting('session_replication_role')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'SET session_replication_role = origin, then run the pipeline again';
    END IF;
    -- The default run date is the server's date in UTC (as pg_cron sees it), not the client's. A DBA who
    -- passes CURRENT_DATE from a session whose TimeZone is on another date than UTC runs for another day
    -- than meant (behind UTC, between UTC midnight and the local one: yesterday, so the rows that arrived
    -- since UTC midnight wait for the next run): said, not refused (a past date is a legitimate rerun).
    IF p_run_date IS NOT NULL AND p_run_date = CURRENT_DATE AND p_run_date <> (now() AT TIME ZONE 'UTC')::date THEN
        RAISE WARNING 'run date % is today in this session''s TimeZone (%), but today in UTC is %: run dates are UTC dates',
                      p_run_date, current_setting('TimeZone'), (now() AT TIME ZONE 'UTC')::date
            USING DETAIL = format('a run for %s extracts what arrived before %s 00:00 UTC', p_run_date, p_run_date + 1),
                  HINT = 'leave the run date out (it defaults to today in UTC), or pass (now() AT TIME ZONE ''UTC'')::date';
    END IF;
    p_run_date := COALESCE(p_run_date, (now() AT TIME ZONE 'UTC')::date);
    -- A date beyond today (UTC) + the calendar horizon is almost always a typo (2999 for 2029): it would
    -- grow gold.dim_date by centuries. Refused unless the caller says so.
    v_horizon := (now() AT TIME ZONE 'UTC')::date + dwh_etl.get_setting('calendar.days_ahead', '730')::integer;
    IF p_run_date > v_horizon AND NOT COALESCE(p_allow_future, false) THEN
        RAISE EXCEPTION 'run date % is beyond today (UTC) + the calendar horizon (%)', p_run_date, v_horizon
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('the horizon is the setting calendar.days_ahead (%s days)', dwh_etl.get_setting('calendar.days_ahead', '730')),
                  HINT = 'check the date; to run it anyway: dwh run --allow-future, or CALL dwh_etl.run_steps(..., p_allow_future => true)';
    END IF;
    -- a subset of the steps (a retry, a selection): every name must be a step of the pipeline
    SELECT string_agg(quote_literal(COALESCE(n, 'NULL')), ', ' ORDER BY n)
    INTO v_unknown
    FROM unnest(p_steps) AS n
    WHERE NOT EXISTS (SELECT 1 FROM dwh_etl.steps AS s WHERE s.pipeline_name = p_pipeline AND s.step_name = n);
    IF v_unknown IS NOT NULL OR cardinality(p_steps) = 0 THEN
        RAISE EXCEPTION 'p_steps: %', CASE WHEN v_unknown IS NOT NULL
                                           THEN format('pipeline %s has no step %s', p_pipeline, v_unknown)
                                           ELSE 'no step selected' END
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = format('SELECT step_name FROM dwh_etl.select_steps(%L, ARRAY[''selector'']) chooses steps by name, table, area and graph; its steps: %s',
                                p_pipeline, (SELECT string_agg(s.step_name, ', ' ORDER BY s.step_name)
                                             FROM dwh_etl.steps AS s WHERE s.pipeline_name = p_pipeline));
    END IF;

    -- Pin what the SQL of the steps depends on, whoever calls (psql, CLI, pg_cron), for the whole run;
    -- the caller's values come back at the end. Session-level (is_local = false): they must survive the
    -- per-step COMMITs. Areas state their own zone (settings) where their sources are zone-less.
    SELECT jsonb_object_agg(s.name, current_setting(s.name))
    INTO v_saved
    FROM unnest(ARRAY['TimeZone', 'DateStyle', 'IntervalStyle', 'search_path', 'extra_float_digits',
                      'bytea_output', 'lc_numeric', 'lc_monetary', 'default_transaction_isolation',
                      'default_transaction_read_only', 'xmloption', 'standard_conforming_strings',
                      'backslash_quote', 'escape_string_warning', 'jit']) AS s (name);
    PERFORM set_config('TimeZone', 'UTC', false),
            set_config('DateStyle', 'ISO, MDY', false),
            set_config('IntervalStyle', 'postgres', false),
            set_config('search_path', 'pg_catalog, public', false),
            set_config('extra_float_digits', '1', false),
            set_config('bytea_output', 'hex', false),
            set_config('lc_numeric', 'C', false),
            set_config('lc_monetary', 'C', false),
            set_config('default_transaction_isolation', 'read committed', false),
            set_config('default_transaction_read_only', 'off', false),
            set_config('xmloption', 'content', false),
            set_config('standard_conforming_strings', 'on', false),
            set_config('backslash_quote', 'safe_encoding', false),
            set_config('escape_string_warning', 'on', false),
            -- JIT: the loads' generated typing expressions are large and their row estimates high, so
            -- compiling them cost far more than running them (devflow's metric typing: 65 s of JIT
            -- for a 0.7 s query, 24k rows)
            set_config('jit', 'off', false);
    -- a window override of dwh_etl.restate / rebuild is transaction-local; never let a stale one apply
    PERFORM set_config('dwh.restate', '', false);

    -- This session may still hold the lock from an earlier CALL that was interrupted outside a step
    -- (a session-level advisory lock is not released by an error): give those holds back first, so the
    -- lock is taken once and released once.
    -- pg_locks shows one row however many times the lock was taken: unlock until it is gone (bounded,
    -- in case a transaction-level lock on the same key, which pg_advisory_unlock cannot release, is there).
    v_held := 0;
    WHILE v_held < 100 AND dwh_etl._run_lock_held(p_pipeline, pg_backend_pid())
    LOOP
        PERFORM pg_advisory_unlock(v_lock_key);
        v_held := v_held + 1;
    END LOOP;

    IF NOT pg_try_advisory_lock(v_lock_key) THEN
        SELECT pr.run_id, pr.started_at, pr.backend_pid, a.state, a.state_change,
               a.state IS NOT NULL AND a.state <> 'active' AS interrupted
        INTO v_holder
        FROM dwh_lineage.pipeline_runs AS pr
        LEFT JOIN pg_catalog.pg_stat_activity AS a
          ON a.pid = pr.backend_pid
        WHERE pr.pipeline_name = p_pipeline
          AND pr.status = 'running'
        ORDER BY pr.run_id DESC
        LIMIT 1;
        PERFORM dwh_etl._restore_settings(v_saved);
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
                  DETAIL = format('run %s started at %s by backend %s%s',
                                  COALESCE(v_holder.run_id::text, '?'), COALESCE(v_holder.started_at::text, '?'),
                                  COALESCE(v_holder.backend_pid::text, '?'),
                                  CASE WHEN v_holder.interrupted
                                       THEN format(', which is now %s since %s: its CALL was interrupted and the session still holds the lock',
                                                   v_holder.state, v_holder.state_change)
                                       ELSE '' END),
                  HINT = CASE WHEN v_holder.interrupted
                              THEN format('the lock is released when that session runs the pipeline again or ends (SELECT pg_terminate_backend(%s) ends it)', v_holder.backend_pid)
                              ELSE 'wait for it to finish (dwh status shows it); a run whose session died is detected and closed by the next run' END;
    END IF;

    -- Until the run is recorded, an error (a lock_timeout or a cancel while a DBA holds the run tables,
    -- a refused write) gives the lock and the caller's settings back before it is raised: the session
    -- would otherwise keep the pipeline's lock, and every other run be refused (DW002) naming no run.
    BEGIN
        -- We hold the lock, so any run still marked 'running' lost its session (killed backend, restart,
        -- or an interrupted CALL of this very session).
        PERFORM dwh_etl._close_abandoned_runs(p_pipeline);

        -- Sessions whose open transaction holds every load window back (dwh_etl.safe_upper_bound): said
        -- here and kept with the run, since a held-back window loads nothing and fails nothing.
        SELECT jsonb_agg(to_jsonb(b) ORDER BY b.xact_start)
        INTO v_blockers
        FROM dwh_etl.window_blockers() AS b;
        IF v_blockers IS NOT NULL THEN
            RAISE WARNING 'load windows are held back by % open transaction(s), oldest: pid % (%) % since %',
                jsonb_array_length(v_blockers), v_blockers->0->>'pid', v_blockers->0->>'usename',
                v_blockers->0->>'state', v_blockers->0->>'xact_start'
                USING DETAIL = 'rows written after that transaction started are loaded once it ends (nothing is lost, it arrives late)',
                      HINT = 'end or terminate that session; idle_in_transaction_session_timeout bounds idle ones (see README)';
        END IF;

        INSERT INTO dwh_lineage.pipeline_runs (pipeline_name, run_date, parameters, metrics)
        VALUES (p_pipeline, p_run_date,
                jsonb_build_object('run_date', p_run_date, 'trigger', p_trigger)
                || jsonb_strip_nulls(jsonb_build_object('steps', to_jsonb(p_steps), 'retry_of', p_retry_of,
                                                        'allow_future', CASE WHEN p_allow_future THEN true END)),
                jsonb_strip_nulls(jsonb_build_object('window_held_back_by', v_blockers)))
        RETURNING run_id, batch_id INTO p_run_id, v_batch_id;
    EXCEPTION WHEN OTHERS OR query_canceled THEN
        PERFORM pg_advisory_unlock(v_lock_key);
        PERFORM dwh_etl._restore_settings(v_saved);
        RAISE;
    END;
    COMMIT;
    RAISE NOTICE 'run % of pipeline % for % started', p_run_id, p_pipeline, p_run_date;

    -- The run context is passed explicitly: every step gets p_run_id, from which it and the engine
    -- routines it calls read their context (dwh_etl.get_run_context); typed steps (the engine's kinds)
    -- see nothing else. A custom step is an area's or a DBA's procedure that may be written against seed
    -- 002's API, whose log functions take the run from the session (dwh_lineage._current_run()): for the
    -- duration of a custom step only, the run, batch and step are also set as session settings, and
    -- cleared right after (also when the step fails), so nothing outside the step sees them.

    FOR v_steps IN
        SELECT o.step_name, o.procedure_name, s.depends_on, s.kind
        FROM dwh_etl._ordered_steps(p_pipeline) AS o
        JOIN dwh_etl.steps AS s
          ON s.pipeline_name = p_pipeline
         AND s.step_name = o.step_name
        WHERE p_steps IS NULL
           OR o.step_name = ANY (p_steps)
           OR p_retry_of IS NULL  -- a selection records the steps it leaves out; a retry only reruns
        ORDER BY o.depth, o.step_name
    LOOP
        v_order := v_order + 1;
        IF p_steps IS NOT NULL AND v_steps.step_name <> ALL (p_steps) THEN
            -- not selected (dwh run --select): not run, its watermark untouched; its dependents still
            -- run (on what it committed before), so it does not join v_bad
            INSERT INTO dwh_lineage.step_runs (run_id, step_name, procedure_name, step_order, status, completed_at, duration_ms, error_message)
            VALUES (p_run_id, v_steps.step_name, v_steps.procedure_name, v_order, 'skipped', clock_timestamp(), 0,
                    'not selected');
            COMMIT;
            v_unselected := v_unselected + 1;
            CONTINUE;
        END IF;
        v_blocked := (SELECT string_agg(d, ', ' ORDER BY d) FROM unnest(v_steps.depends_on) AS d WHERE d = ANY (v_bad));
        IF v_blocked IS NOT NULL THEN
            -- an upstream step failed (or was skipped): this one would read incomplete input
            INSERT INTO dwh_lineage.step_runs (run_id, step_name, procedure_name, step_order, status, completed_at, duration_ms, error_message)
            VALUES (p_run_id, v_steps.step_name, v_steps.procedure_name, v_order, 'skipped', clock_timestamp(), 0,
                    format('skipped: depends on %s, which did not complete', v_blocked));
            COMMIT;
            v_bad := v_bad || v_steps.step_name;
            v_skipped_n := v_skipped_n + 1;
            RAISE NOTICE 'step % skipped: depends on %, which did not complete', v_steps.step_name, v_blocked;
            CONTINUE;
        END IF;

        -- nothing the step reads changed since its last success: its body is not called (its quality
        -- rules still are). Only in a full run: a selection or a retry means "run these".
        -- (and its 'running' row; a cancel arriving here is recorded, not lost: dwh_etl._begin_step)
        SELECT b.skip_reason, b.cancel_message
        INTO v_skip, v_cancel_msg
        FROM dwh_etl._begin_step(p_run_id, v_steps.step_name, v_steps.procedure_name, v_order,
                                 p_steps IS NULL AND p_retry_of IS NULL) AS b;
        IF v_cancel_msg IS NOT NULL THEN
            COMMIT;
            v_first_step := v_steps.step_name;
            v_first_msg := v_cancel_msg;
            v_cancel := true;
            RAISE NOTICE 'step % cancelled before it started: %', v_steps.step_name, v_cancel_msg;
            EXIT;
        END IF;
        -- Commits that write only the runner's records do not wait for the disk (a no-op run is mostly
        -- commits): the 'running' row is made durable by the step's own commit, which waits; a step not
        -- called commits its records in one transaction, and a crash that loses it leaves the run
        -- 'running', closed as abandoned by the next run.
        PERFORM set_config('synchronous_commit', 'off', true);
        IF v_skip IS NULL THEN
            COMMIT;
            RAISE NOTICE 'step % started', v_steps.step_name;
        END IF;

        IF v_steps.kind = 'custom' THEN
            PERFORM set_config('dwh.run_id', p_run_id::text, false),
                    set_config('dwh.batch_id', v_batch_id::text, false),
                    set_config('dwh.step', v_steps.step_name, false);
        END IF;
        PERFORM set_config('dwh.window_held_back', '', false);
        v_status := dwh_etl._run_step(p_run_id, v_steps.step_name, v_steps.procedure_name, p_run_date, v_skip);
        PERFORM set_config('dwh.run_id', '', false),
                set_config('dwh.batch_id', '', false),
                set_config('dwh.step', '', false);
        IF current_setting('dwh.window_held_back', true) = 'on' THEN
            -- the step's load window stopped at an open transaction (dwh_etl.window_bounds): kept with
            -- the run, in the step's commit, so no later run takes this one as complete for skipping
            UPDATE dwh_lineage.pipeline_runs AS pr
            SET metrics = pr.metrics || jsonb_build_object('windows_held_back',
                              COALESCE(pr.metrics->'windows_held_back', '[]'::jsonb) || to_jsonb(v_steps.step_name))
            WHERE pr.run_id = p_run_id;
            PERFORM set_config('dwh.window_held_back', '', false);
        END IF;
        COMMIT;

        SELECT sr.step_name, sr.status, sr.rows_read, sr.rows_written, sr.duration_ms, sr.error_message
        INTO v_step
        FROM dwh_lineage.step_runs AS sr
        WHERE sr.run_id = p_run_id
          AND sr.step_name = v_steps.step_name;
        IF v_status = 'cancelled' THEN
            v_first_step := v_step.step_name;
            v_first_msg := v_step.error_message;
            v_cancel := true;
            RAISE NOTICE 'step % cancelled after % ms: %', v_step.step_name, v_step.duration_ms, v_step.error_message;
            EXIT;
        ELSIF v_status = 'failed' THEN
            IF v_failed_n = 0 THEN
                v_first_step := v_step.step_name;
                v_first_msg := v_step.error_message;
            END IF;
            v_failed_n := v_failed_n + 1;
            v_bad := v_bad || v_steps.step_name;
            RAISE NOTICE 'step % failed after % ms: %', v_step.step_name, v_step.duration_ms, v_step.error_message;
            CONTINUE;
        END IF;
        IF v_skip IS NOT NULL THEN
            v_unchanged_n := v_unchanged_n + 1;
            RAISE NOTICE 'step % skipped: % (% ms)', v_step.step_name, v_skip, v_step.duration_ms;
            CONTINUE;
        END IF;
        RAISE NOTICE 'step % done: % rows read, % written in % ms',
            v_step.step_name, v_step.rows_read, v_step.rows_written, v_step.duration_ms;
    END LOOP;


    UPDATE dwh_lineage.pipeline_runs AS pr
    SET status        = CASE WHEN v_cancel THEN 'cancelled' WHEN v_failed_n > 0 THEN 'failed' ELSE 'completed' END,
        completed_at  = clock_timestamp(),
        error_message = CASE WHEN v_cancel
                             THEN format('cancelled at step %s: %s', v_first_step, v_first_msg)
                             WHEN v_failed_n > 0
                             THEN format('step %s failed: %s', v_first_step, v_first_msg)
                                  || CASE WHEN v_failed_n > 1 OR v_skipped_n > 0
                                          THEN format(' (%s step(s) failed, %s skipped)', v_failed_n, v_skipped_n)
                                          ELSE '' END
                        END,
        metrics       = pr.metrics || jsonb_build_object(
                            'steps', v_order,
                            'failed_steps', v_failed_n,
                            'skipped_steps', v_skipped_n,
                            'duration_seconds', round(EXTRACT(EPOCH FROM (clock_timestamp() - v_started))::numeric, 3),
                            'rows_written', (SELECT COALESCE(sum(sr.rows_written), 0)
                                             FROM dwh_lineage.step_runs AS sr WHERE sr.run_id = p_run_id))
                         -- steps not called because nothing they read changed (dwh_etl._step_unchanged)
                         || CASE WHEN v_unchanged_n > 0
                                 THEN jsonb_build_object('unchanged_steps', v_unchanged_n) ELSE '{}'::jsonb END
                         -- a run of chosen steps says how many it left out
                         || CASE WHEN p_steps IS NOT NULL AND p_retry_of IS NULL
                                 THEN jsonb_build_object('unselected_steps', v_unselected) ELSE '{}'::jsonb END
    WHERE pr.run_id = p_run_id;
    PERFORM pg_advisory_unlock(v_lock_key);
    PERFORM dwh_etl._restore_settings(v_saved);
    COMMIT;

    IF v_cancel THEN
        RAISE EXCEPTION 'run % of pipeline % cancelled at step %: %', p_run_id, p_pipeline, v_first_step, v_first_msg
            USING ERRCODE = 'query_canceled',
                  DETAIL = format('run_id=%s', p_run_id),
                  HINT = 'the cancelled step rolled back its writes; run the pipeline again to complete it (steps are idempotent)';
    END IF;
    IF v_failed_n > 0 THEN
        RAISE EXCEPTION '%', format('run %s of pipeline %s failed at step %s: %s', p_run_id, p_pipeline, v_first_step, v_first_msg)
                             || CASE WHEN v_failed_n > 1 OR v_skipped_n > 0
                                     THEN format(' (%s step(s) failed, %s skipped, the others completed)', v_failed_n, v_skipped_n)
                                     ELSE '' END
            USING ERRCODE = 'DW003',
                  DETAIL = format('run_id=%s', p_run_id),  -- kept machine-readable: clients parse it
                  HINT = format('SELECT * FROM dwh_lineage.step_runs WHERE run_id = %s shows the error with its context; fix the cause and run the pipeline again (steps are idempotent)', p_run_id);
    END IF;
    RAISE NOTICE 'run % of pipeline % completed in % s', p_run_id, p_pipeline,
        round(EXTRACT(EPOCH FROM (clock_timestamp() - v_started))::numeric, 1);
END;
$$;
COMMENT ON PROCEDURE dwh_etl.run_steps(text, date, bigint, text, text[], boolean, bigint) IS 'The runner behind dwh_etl.run_pipeline, with its options: p_steps (a subset of the pipeline''s steps, in dependency order; a dependency outside the subset counts as done), p_allow_future (a run date beyond today + calendar.days_ahead), p_retry_of (the run a retry completes, recorded in parameters). Example: CALL dwh_etl.run_steps(p_pipeline => ''daily'', p_run_date => DATE ''2025-01-31'', p_steps => ARRAY[''sales_fact_sales'']);';
REVOKE EXECUTE ON PROCEDURE dwh_etl.run_steps(text, date, bigint, text, text[], boolean, bigint) FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE dwh_etl.run_steps(text, date, bigint, text, text[], boolean, bigint) TO etl_service;
