-- Makes pg_cron's dwh:* jobs of this database match the registry exactly (see schedule_desired):
-- creates missing jobs (cron.schedule_in_database), updates changed ones (cron.alter_job: schedule,
-- command, user, active), removes the ones the registry no longer has (cron.unschedule). Idempotent:
-- a second call only reports 'unchanged'. Returns one row per job: action created / updated / removed
-- / unchanged. Every expression is validated before anything changes. Through dblink each change
-- commits on its own in pg_cron's database.
CREATE OR REPLACE FUNCTION dwh_etl.schedule_sync()
RETURNS TABLE (
    action   text,
    job_name text,
    schedule text
)
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_want record;
    v_have record;
    v_db   text := current_database();
    v_user text := current_user;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('dwh_etl.sync_schedules', 0));
    PERFORM dwh_etl._cron_check();
    -- tells plpgsql_check the shape of the temp tables created below
    PERFORM 'PRAGMA:TABLE: _want_jobs (pipeline text, job_name text, schedule text, command text)';
    PERFORM 'PRAGMA:TABLE: _have_jobs (jobid bigint, job_name text, schedule text, command text, username text, active boolean)';
    IF to_regclass('pg_temp._want_jobs') IS NOT NULL THEN  -- called twice in one transaction
        DROP TABLE pg_temp._want_jobs, pg_temp._have_jobs;
    END IF;
    CREATE TEMP TABLE _want_jobs ON COMMIT DROP AS
    SELECT d.pipeline, d.job_name, d.schedule, d.command FROM dwh_etl.schedule_desired() AS d;
    CREATE TEMP TABLE _have_jobs ON COMMIT DROP AS
    SELECT h.jobid, h.job_name, h.schedule, h.command, h.username, h.active FROM dwh_etl.schedule_jobs() AS h;

    -- jobs the registry no longer has, and duplicates of a name (keep the lowest id)
    FOR v_have IN
        SELECT h.jobid, h.job_name, h.schedule
        FROM _have_jobs AS h
        WHERE NOT EXISTS (SELECT 1 FROM _want_jobs AS w WHERE w.job_name = h.job_name)
           OR h.jobid > (SELECT min(x.jobid) FROM _have_jobs AS x WHERE x.job_name = h.job_name)
        ORDER BY h.job_name, h.jobid
    LOOP
        PERFORM dwh_etl._cron_query(format('SELECT cron.unschedule(%s::bigint) AS done', v_have.jobid));
        action := 'removed'; job_name := v_have.job_name; schedule := v_have.schedule;
        RETURN NEXT;
    END LOOP;

    FOR v_want IN
        SELECT w.job_name, w.schedule, w.command, h.jobid, h.schedule AS have_schedule, h.command AS have_command,
               h.username AS have_username, h.active AS have_active
        FROM _want_jobs AS w
        LEFT JOIN _have_jobs AS h
          ON h.job_name = w.job_name
         AND h.jobid = (SELECT min(x.jobid) FROM _have_jobs AS x WHERE x.job_name = w.job_name)
        ORDER BY w.job_name
    LOOP
        action := CASE
                      WHEN v_want.jobid IS NULL THEN 'created'
                      WHEN v_want.have_schedule IS DISTINCT FROM v_want.schedule
                        OR v_want.have_command IS DISTINCT FROM v_want.command
                        OR v_want.have_username IS DISTINCT FROM v_user
                        OR v_want.have_active IS DISTINCT FROM true THEN 'updated'
                      ELSE 'unchanged'
                  END;
        IF action = 'created' THEN
            PERFORM dwh_etl._cron_query(format(
                'SELECT cron.schedule_in_database(%L, %L, %L, %L, %L, true) AS jobid',
                v_want.job_name, v_want.schedule, v_want.command, v_db, v_user));
        ELSIF action = 'updated' THEN
            PERFORM dwh_etl._cron_query(format(
                'SELECT true AS done FROM cron.alter_job(job_id => %s::bigint, schedule => %L, command => %L, database => %L, username => %L, active => true)',
                v_want.jobid, v_want.schedule, v_want.command, v_db, v_user));
        END IF;
        job_name := v_want.job_name; schedule := v_want.schedule;
        RETURN NEXT;
    END LOOP;
END;
$$;
COMMENT ON FUNCTION dwh_etl.schedule_sync() IS 'Create, update and remove the dwh:* pg_cron jobs of this database so they match the registry; one row per job with its action (created, updated, removed, unchanged).';
-- The registry is code: only the owner changes it (issue 9: etl_service could write what the pipeline
-- executes). Routines of dwh_etl are granted to etl_service by default: not this one.
REVOKE EXECUTE ON FUNCTION dwh_etl.schedule_sync() FROM etl_service, PUBLIC;
