-- The run context of a run id (issue 10): the runner passes each step its p_run_id, and the step and the
-- engine routines it calls resolve the rest here from the run's own records, instead of session
-- settings: the run's batch (stamped as _batch_id on the rows it writes), pipeline and run date from
-- dwh_lineage.pipeline_runs, the step from the run's step_runs row that is 'running' (steps of a run run
-- one at a time). Another session, or a dblink/nested session, passes its own run id or none: it never
-- picks up a run it is not part of.
--
-- p_run_id NULL means "no run given": the default context of a call from psql outside any pipeline (no
-- run, no step, a fresh batch id, today's date in UTC), unless seed 002's session settings dwh.run_id /
-- dwh.batch_id / dwh.step are set (dwh_lineage._current_run()): the runner sets them while a CUSTOM step
-- runs (a procedure written against seed 002's API), and a DBA may set them by hand; then those.
-- An unknown run id is an error (22023), not a silent default.
CREATE OR REPLACE FUNCTION dwh_etl.get_run_context(
    p_run_id bigint DEFAULT NULL
)
RETURNS dwh_etl.run_context
LANGUAGE plpgsql
VOLATILE
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_ctx    dwh_etl.run_context;
    v_legacy record;
BEGIN
    IF p_run_id IS NULL THEN
        v_legacy := dwh_lineage._current_run();
        IF v_legacy.run_id IS NULL AND v_legacy.batch_id IS NULL THEN
            v_ctx.batch_id := gen_random_uuid();
            v_ctx.run_date := (now() AT TIME ZONE 'UTC')::date;
            RETURN v_ctx;
        END IF;
        v_ctx.run_id := v_legacy.run_id;
        v_ctx.batch_id := v_legacy.batch_id;
        v_ctx.step_name := v_legacy.step_name;
        SELECT pr.pipeline_name, pr.run_date, COALESCE(v_ctx.batch_id, pr.batch_id)
        INTO v_ctx.pipeline_name, v_ctx.run_date, v_ctx.batch_id
        FROM dwh_lineage.pipeline_runs AS pr
        WHERE pr.run_id = v_ctx.run_id;
        v_ctx.batch_id := COALESCE(v_ctx.batch_id, gen_random_uuid());
        v_ctx.run_date := COALESCE(v_ctx.run_date, (now() AT TIME ZONE 'UTC')::date);
        RETURN v_ctx;
    END IF;

    SELECT pr.run_id, pr.batch_id, pr.pipeline_name, pr.run_date
    INTO v_ctx.run_id, v_ctx.batch_id, v_ctx.pipeline_name, v_ctx.run_date
    FROM dwh_lineage.pipeline_runs AS pr
    WHERE pr.run_id = p_run_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown run %', p_run_id
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'dwh_lineage.pipeline_runs lists the runs; pass NULL outside a pipeline';
    END IF;
    SELECT sr.step_name
    INTO v_ctx.step_name
    FROM dwh_lineage.step_runs AS sr
    WHERE sr.run_id = p_run_id
      AND sr.status = 'running'
    ORDER BY sr.step_order DESC
    LIMIT 1;
    RETURN v_ctx;
END;
$$;
COMMENT ON FUNCTION dwh_etl.get_run_context(bigint) IS 'Run context (run, batch, pipeline, run date, running step) of a run id, read from dwh_lineage.pipeline_runs and step_runs; NULL: the step this session runs for a routine not passing its run id yet, else no run (fresh batch, today in UTC). Example: SELECT * FROM dwh_etl.get_run_context(42);';
