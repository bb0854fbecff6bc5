-- Removes the pg_cron jobs of one pipeline (dwh:<pipeline> and dwh:<pipeline>:n), or with NULL every
-- dwh:* job of this database. The registry is unchanged: the next sync creates them again (set the
-- pipeline's schedules to '{}' or is_active to false to stop scheduling it for good).
CREATE OR REPLACE FUNCTION dwh_etl.schedule_remove(
    p_pipeline text DEFAULT NULL
)
RETURNS TABLE (
    action   text,
    job_name text,
    schedule text
)
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_job record;
BEGIN
    IF p_pipeline IS NOT NULL AND NOT EXISTS (SELECT 1 FROM dwh_etl.pipelines WHERE pipeline_name = p_pipeline) THEN
        RAISE EXCEPTION 'unknown pipeline %', quote_literal(p_pipeline)
            USING ERRCODE = 'DW001',
                  HINT = format('registered pipelines: %s',
                                (SELECT string_agg(pipeline_name, ', ' ORDER BY pipeline_name) FROM dwh_etl.pipelines));
    END IF;
    PERFORM pg_advisory_xact_lock(hashtextextended('dwh_etl.sync_schedules', 0));
    FOR v_job IN
        SELECT j.jobid, j.job_name, j.schedule
        FROM dwh_etl.schedule_jobs() AS j
        WHERE p_pipeline IS NULL
           OR j.job_name = 'dwh:' || p_pipeline
           OR j.job_name ~ ('^dwh:' || p_pipeline || ':[0-9]+$')
        ORDER BY j.job_name, j.jobid
    LOOP
        PERFORM dwh_etl._cron_query(format('SELECT cron.unschedule(%s::bigint) AS done', v_job.jobid));
        action := 'removed'; job_name := v_job.job_name; schedule := v_job.schedule;
        RETURN NEXT;
    END LOOP;
END;
$$;
COMMENT ON FUNCTION dwh_etl.schedule_remove(text) IS 'Remove the pg_cron jobs of one pipeline (or, with NULL, every dwh:* job of this database); the registry is unchanged.';
-- The registry is code: only the owner changes it (issue 9: etl_service could write what the pipeline
-- executes). Routines of dwh_etl are granted to etl_service by default: not this one.
REVOKE EXECUTE ON FUNCTION dwh_etl.schedule_remove(text) FROM etl_service, PUBLIC;
