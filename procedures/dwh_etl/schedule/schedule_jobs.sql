-- The dwh:* pg_cron jobs of this database, with their next fire time and their last run from
-- cron.job_run_details. With p_quiet, returns nothing instead of raising when pg_cron is unavailable
-- (for dwh status). Through dblink when pg_cron lives in another database.
CREATE OR REPLACE FUNCTION dwh_etl.schedule_jobs(
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
SET search_path = dwh_etl, pg_temp
AS $$
BEGIN
    IF p_quiet THEN
        BEGIN
            PERFORM dwh_etl._cron_check();
        EXCEPTION WHEN SQLSTATE 'DW010' THEN
            RETURN;
        END;
    END IF;
    RETURN QUERY
    SELECT (j->>'jobid')::bigint,
           j->>'jobname',
           j->>'schedule',
           (j->>'active')::boolean,
           CASE WHEN (j->>'active')::boolean AND dwh_etl._cron_valid(j->>'schedule')
                THEN dwh_etl._cron_next(j->>'schedule', now()) END,
           (j->>'start_time')::timestamptz,
           (j->>'end_time')::timestamptz,
           j->>'status',
           j->>'return_message',
           j->>'command',
           j->>'username'
    FROM dwh_etl._cron_query(format($q$
        SELECT j.jobid, j.jobname, j.schedule, j.active, j.command, j.username,
               d.start_time, d.end_time, d.status, d.return_message
        FROM cron.job AS j
        LEFT JOIN LATERAL (
            SELECT r.start_time, r.end_time, r.status, r.return_message
            FROM cron.job_run_details AS r
            WHERE r.jobid = j.jobid
            ORDER BY r.runid DESC
            LIMIT 1
        ) AS d ON true
        WHERE j.database = %L
          AND j.jobname LIKE 'dwh:%%'
        ORDER BY j.jobname, j.jobid
    $q$, current_database())) AS j;
END;
$$;
COMMENT ON FUNCTION dwh_etl.schedule_jobs(boolean) IS 'The dwh:* pg_cron jobs of this database: schedule, active, next fire time, last run (start, end, status, message) from cron.job_run_details.';
