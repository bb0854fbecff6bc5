-- The dwh:* pg_cron jobs of this database (dwh_etl.schedule_jobs), for etl_service: dwh status and
-- dwh schedule list read them through this function. pg_cron's schema is not granted to other roles and
-- its row security shows each user only the jobs it scheduled (the owner syncs them), so as etl_service
-- dwh status failed with "permission denied for schema cron" on the embedded cluster (attack 13b), and a
-- dblink to pg_cron's database as etl_service (a NOLOGIN group role) could not connect. SECURITY DEFINER
-- and read-only: it takes only p_quiet, the database is this one, the jobs are dwh's (name 'dwh:%').
CREATE OR REPLACE FUNCTION dwh_etl.sec_schedule_jobs(
    p_quiet boolean DEFAULT false
)
RETURNS TABLE (
    jobid        bigint,
    job_name     text,
    schedule     text,
    active       boolean,
    next_run_at  timestamptz,
    last_start   timestamptz,
    last_end     timestamptz,
    last_status  text,
    last_message text,
    command      text,
    username     text
)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN QUERY SELECT j.jobid, j.job_name, j.schedule, j.active, j.next_run_at, j.last_start, j.last_end,
                        j.last_status, j.last_message, j.command, j.username
                 FROM dwh_etl.schedule_jobs(p_quiet) AS j;
END;
$$;
REVOKE ALL ON FUNCTION dwh_etl.sec_schedule_jobs(boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl.sec_schedule_jobs(boolean) TO etl_service;
COMMENT ON FUNCTION dwh_etl.sec_schedule_jobs(boolean) IS 'SECURITY DEFINER: the dwh:* pg_cron jobs of this database (dwh_etl.schedule_jobs) for etl_service (dwh status, dwh schedule list).';
