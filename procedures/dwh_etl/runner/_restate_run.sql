-- The run around a restatement or a rebuild (dwh_etl.restate, dwh_etl.rebuild): takes the run locks of
-- every pipeline that holds one of the steps (DW002 when a run holds one: nothing is done), records the
-- run in dwh_lineage.pipeline_runs (parameters: mode, dates, target, steps), does the work in ONE
-- transaction (dwh_etl._restate_apply: all or nothing), records the outcome and what was replaced
-- (metrics.replaced: per table the scope, rows deleted, inserted, rows after), releases the locks.
-- Errors after the outcome is committed: DW003 the work failed (rolled back), 57014 it was cancelled
-- (rolled back). Call on an autocommit connection (it commits).
CREATE OR REPLACE PROCEDURE dwh_etl._restate_run(
    p_pipeline  text,
    p_mode      text,
    p_steps     text[],
    p_params    jsonb,
    p_run_date  date,
    p_from      date DEFAULT NULL,
    p_to        date DEFAULT NULL,
    p_reextract boolean DEFAULT false,
    INOUT p_run_id bigint DEFAULT NULL
)
LANGUAGE plpgsql
-- no SET clause: a procedure with one cannot COMMIT; every name is qualified
AS $$
DECLARE
    v_pipelines text[];
    v_started   timestamptz := clock_timestamp();
    v_out       jsonb;
    v_status    text;
    v_failed    text;
BEGIN
    -- before the run locks are taken: a write refused later would leave the session holding them
    PERFORM dwh_etl._refuse_read_only(format('%s pipeline %s', p_mode, p_pipeline));
    IF current_setting('session_replication_role') <> 'origin' THEN
        RAISE EXCEPTION 'session_replication_role is %, pipelines run only with origin', current_setting('session_replication_role')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'SET session_replication_role = origin, then try again';
    END IF;
    -- every pipeline that runs one of these steps (daily and incremental share sales' steps)
    SELECT array_agg(DISTINCT s.pipeline_name ORDER BY s.pipeline_name)
    INTO v_pipelines
    FROM dwh_etl.steps AS s
    WHERE s.step_name = ANY (p_steps)
       OR s.pipeline_name = p_pipeline;
    PERFORM dwh_etl._restate_lock(v_pipelines, p_mode);
    -- runs of these pipelines whose session died (a terminated rebuild, a crash) are closed, as a run does
    PERFORM dwh_etl._close_abandoned_runs(n) FROM unnest(v_pipelines) AS n;

    INSERT INTO dwh_lineage.pipeline_runs (pipeline_name, run_date, parameters)
    VALUES (p_pipeline, p_run_date,
            jsonb_build_object('run_date', p_run_date, 'trigger', 'manual', 'mode', p_mode, 'steps', to_jsonb(p_steps),
                               'locked_pipelines', to_jsonb(v_pipelines)) || COALESCE(p_params, '{}'::jsonb))
    RETURNING run_id INTO p_run_id;
    COMMIT;
    RAISE NOTICE 'run % of pipeline % (%) started: %', p_run_id, p_pipeline, p_mode, array_to_string(p_steps, ', ');

    v_out := dwh_etl._restate_apply(p_run_id, p_mode, p_steps, p_from, p_to, p_reextract);
    v_status := v_out->>'status';
    v_failed := v_out->>'failed_step';
    UPDATE dwh_lineage.pipeline_runs AS pr
    SET status        = v_status,
        completed_at  = clock_timestamp(),
        error_message = CASE v_status
                            WHEN 'cancelled' THEN format('cancelled at step %s: everything the %s did was rolled back', v_failed, p_mode)
                            WHEN 'failed' THEN format('step %s failed: %s (everything the %s did was rolled back)',
                                                      v_failed, v_out#>>'{error,message}', p_mode)
                        END,
        metrics       = pr.metrics || jsonb_strip_nulls(jsonb_build_object(
                            'steps', cardinality(p_steps),
                            'replaced', v_out->'replaced',
                            'duration_seconds', round(EXTRACT(EPOCH FROM (clock_timestamp() - v_started))::numeric, 3),
                            'rows_written', (SELECT COALESCE(sum(sr.rows_written), 0)
                                             FROM dwh_lineage.step_runs AS sr
                                             WHERE sr.run_id = p_run_id AND sr.status = 'completed')))
    WHERE pr.run_id = p_run_id;
    PERFORM dwh_etl._restate_unlock(v_pipelines);
    COMMIT;

    IF v_status = 'cancelled' THEN
        RAISE EXCEPTION '% (run %) of pipeline % cancelled at step %: nothing was changed', p_mode, p_run_id, p_pipeline, v_failed
            USING ERRCODE = 'query_canceled',
                  DETAIL = format('run_id=%s', p_run_id),
                  HINT = 'the work is one transaction: it was rolled back whole; run it again';
    ELSIF v_status = 'failed' THEN
        RAISE EXCEPTION '% (run %) of pipeline % failed at step %: %', p_mode, p_run_id, p_pipeline, v_failed, v_out#>>'{error,message}'
            USING ERRCODE = 'DW003',
                  DETAIL = format('run_id=%s', p_run_id),
                  HINT = format('nothing was changed (one transaction, rolled back); SELECT * FROM dwh_lineage.step_runs WHERE run_id = %s shows the error; fix the cause and run it again', p_run_id);
    END IF;
    RAISE NOTICE 'run % of pipeline % (%) completed in % s', p_run_id, p_pipeline, p_mode,
        round(EXTRACT(EPOCH FROM (clock_timestamp() - v_started))::numeric, 1);
END;
$$;
COMMENT ON PROCEDURE dwh_etl._restate_run(text, text, text[], jsonb, date, date, date, boolean, bigint) IS 'The recorded, locked run around a restatement or rebuild: locks, run record, the work in one transaction (dwh_etl._restate_apply), outcome and what was replaced in pipeline_runs.';
REVOKE EXECUTE ON PROCEDURE dwh_etl._restate_run(text, text, text[], jsonb, date, date, date, boolean, bigint) FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE dwh_etl._restate_run(text, text, text[], jsonb, date, date, date, boolean, bigint) TO etl_service;
