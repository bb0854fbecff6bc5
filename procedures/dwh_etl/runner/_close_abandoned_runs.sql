-- Closes the runs of a pipeline still marked 'running' whose session ended before they finished (a
-- terminated backend, a killed client, a server crash, or an interrupted CALL of this very session): their
-- running steps and the runs become 'failed', "abandoned: ...", so that `dwh status` stops listing them
-- as stale and `dwh retry` can retry them. Only while this session holds the pipeline's run lock (then no
-- other session runs it, so every 'running' run of it lost its session): dwh_etl.run_steps,
-- dwh_etl._restate_run and dwh_etl.retry take it first. Returns how many runs it closed.
CREATE OR REPLACE FUNCTION dwh_etl._close_abandoned_runs(p_pipeline text)
RETURNS integer
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_closed integer;
BEGIN
    IF NOT dwh_etl._run_lock_held(p_pipeline, pg_backend_pid()) THEN
        RAISE EXCEPTION 'closing abandoned runs of pipeline % needs its run lock', quote_literal(p_pipeline)
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
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
    GET DIAGNOSTICS v_closed = ROW_COUNT;
    IF v_closed > 0 THEN
        RAISE NOTICE 'closed % abandoned run(s) of pipeline %', v_closed, p_pipeline;
    END IF;
    RETURN v_closed;
END;
$$;
COMMENT ON FUNCTION dwh_etl._close_abandoned_runs(text) IS 'Mark the runs of a pipeline still ''running'' (and their running steps) failed as abandoned; the caller holds the pipeline''s run lock, so none of them has a session any more. Returns how many runs it closed.';
REVOKE EXECUTE ON FUNCTION dwh_etl._close_abandoned_runs(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl._close_abandoned_runs(text) TO etl_service;
