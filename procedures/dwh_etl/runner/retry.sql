-- Reruns a run that did not complete (failed or cancelled) from where it stopped: the steps of that run
-- that did not complete (the failed or cancelled one, the ones skipped because of it, the ones never
-- reached), for the same run date, as a new run with parameters.retry_of = the old run; the steps that
-- completed are not run again (their work is committed). A dependency outside that set counts as done.
-- p_run_id NULL = the latest failed or cancelled run of any pipeline. A restatement or rebuild is retried
-- whole (it was rolled back whole). Refused (22023) for a run that did not fail (completed, running,
-- skipped) and for one a later retry already completed. Errors as dwh_etl.run_steps (DW002, DW003, 57014).
-- A run whose session died (terminated backend, killed client, crash) is still marked 'running' until
-- something closes it: retry first closes those of every pipeline that no session runs now (attack 16),
-- so a retry right after a kill retries that run, as failed (abandoned).
-- Example: CALL dwh_etl.retry();  CALL dwh_etl.retry(p_run_id => 42);
CREATE OR REPLACE PROCEDURE dwh_etl.retry(
    p_run_id       bigint DEFAULT NULL,
    INOUT p_new_run_id bigint DEFAULT NULL
)
LANGUAGE plpgsql
-- no SET clause: a procedure with one cannot COMMIT; every name is qualified
AS $$
DECLARE
    v_run    record;
    v_done   bigint;
    v_steps  text[];
    v_p      text;
    v_closed integer := 0;
BEGIN
    FOR v_p IN
        SELECT DISTINCT pr.pipeline_name
        FROM dwh_lineage.pipeline_runs AS pr
        WHERE pr.status = 'running'
          AND (p_run_id IS NULL OR pr.run_id = p_run_id)
    LOOP
        -- free: nobody runs that pipeline, so its 'running' runs lost their session
        CONTINUE WHEN NOT pg_try_advisory_lock(dwh_etl._run_lock_key(v_p));
        BEGIN
            v_closed := v_closed + dwh_etl._close_abandoned_runs(v_p);
        EXCEPTION WHEN OTHERS OR query_canceled THEN
            PERFORM pg_advisory_unlock(dwh_etl._run_lock_key(v_p));
            RAISE;
        END;
        PERFORM pg_advisory_unlock(dwh_etl._run_lock_key(v_p));
    END LOOP;
    IF v_closed > 0 THEN
        COMMIT;  -- kept whatever the retry does next (it may be refused)
    END IF;
    IF p_run_id IS NULL THEN
        SELECT pr.* INTO v_run
        FROM dwh_lineage.pipeline_runs AS pr
        WHERE pr.status IN ('failed', 'cancelled')
        ORDER BY pr.run_id DESC
        LIMIT 1;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'no failed run to retry'
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'dwh status lists the last runs';
        END IF;
    ELSE
        SELECT pr.* INTO v_run FROM dwh_lineage.pipeline_runs AS pr WHERE pr.run_id = p_run_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'no run %', p_run_id
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'dwh status lists the last runs';
        END IF;
    END IF;
    IF v_run.status NOT IN ('failed', 'cancelled') THEN
        RAISE EXCEPTION 'run % of pipeline % did not fail (status %): nothing to retry', v_run.run_id, v_run.pipeline_name, v_run.status
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = CASE v_run.status WHEN 'running' THEN 'it is still running' ELSE 'only a failed or cancelled run can be retried' END;
    END IF;
    SELECT pr.run_id INTO v_done
    FROM dwh_lineage.pipeline_runs AS pr
    WHERE (pr.parameters->>'retry_of')::bigint = v_run.run_id
      AND pr.parameters ? 'retry_of'
      AND pr.status = 'completed'
    ORDER BY pr.run_id DESC
    LIMIT 1;
    IF v_done IS NOT NULL THEN
        RAISE EXCEPTION 'run % of pipeline % was already retried by run %, which completed', v_run.run_id, v_run.pipeline_name, v_done
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RAISE NOTICE 'retrying run % of pipeline % (%, %)', v_run.run_id, v_run.pipeline_name, v_run.run_date, v_run.status;

    -- (a CALL argument cannot be a subquery)
    v_steps := ARRAY(SELECT jsonb_array_elements_text(v_run.parameters->'steps'));
    IF v_run.parameters->>'mode' = 'restate' THEN
        CALL dwh_etl.restate(
            p_pipeline     => v_run.pipeline_name,
            p_from         => (v_run.parameters->>'from')::date,
            p_to           => (v_run.parameters->>'to')::date,
            p_steps        => v_steps,
            p_reextract    => COALESCE((v_run.parameters->>'reextract')::boolean, false),
            p_allow_future => true,
            p_run_id       => p_new_run_id);
        UPDATE dwh_lineage.pipeline_runs AS pr
        SET parameters = pr.parameters || jsonb_build_object('retry_of', v_run.run_id)
        WHERE pr.run_id = p_new_run_id;
        RETURN;
    ELSIF v_run.parameters->>'mode' = 'rebuild' THEN
        CALL dwh_etl.rebuild(
            p_target   => v_run.parameters->>'target',
            p_pipeline => v_run.pipeline_name,
            p_steps    => v_steps,
            p_run_id   => p_new_run_id);
        UPDATE dwh_lineage.pipeline_runs AS pr
        SET parameters = pr.parameters || jsonb_build_object('retry_of', v_run.run_id)
        WHERE pr.run_id = p_new_run_id;
        RETURN;
    END IF;

    -- the steps that did not complete: failed, cancelled, skipped, or never reached (the run was limited
    -- to parameters.steps when it was itself a retry or a selection)
    SELECT array_agg(o.step_name ORDER BY o.depth, o.step_name)
    INTO v_steps
    FROM dwh_etl._ordered_steps(v_run.pipeline_name) AS o
    WHERE (NOT v_run.parameters ? 'steps'
           OR o.step_name IN (SELECT jsonb_array_elements_text(v_run.parameters->'steps')))
      AND NOT EXISTS (SELECT 1 FROM dwh_lineage.step_runs AS sr
                      WHERE sr.run_id = v_run.run_id
                        AND sr.step_name = o.step_name
                        AND sr.status = 'completed');
    IF v_steps IS NULL THEN
        RAISE EXCEPTION 'run % of pipeline % has no step left to run', v_run.run_id, v_run.pipeline_name
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'its steps completed or were removed from the pipeline; run the pipeline instead';
    END IF;
    CALL dwh_etl.run_steps(
        p_pipeline     => v_run.pipeline_name,
        p_run_date     => v_run.run_date,
        p_run_id       => p_new_run_id,
        p_steps        => v_steps,
        p_allow_future => true,
        p_retry_of     => v_run.run_id);
END;
$$;
COMMENT ON PROCEDURE dwh_etl.retry(bigint, bigint) IS 'Rerun a failed (or cancelled) run from its failed step: the steps that did not complete, same run date, recorded with parameters.retry_of; default the latest failed run; a run that did not fail is refused. Example: CALL dwh_etl.retry();';
REVOKE EXECUTE ON PROCEDURE dwh_etl.retry(bigint, bigint) FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE dwh_etl.retry(bigint, bigint) TO etl_service;
