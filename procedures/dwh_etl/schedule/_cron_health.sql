-- pg_cron's health as rows for dwh status: preloaded, extension reachable in cron.database_name,
-- launcher running, this database's dwh:* jobs matching the registry, last job runs without failure.
-- Never raises.
CREATE OR REPLACE FUNCTION dwh_etl._cron_health()
RETURNS TABLE (
    item   text,
    ok     boolean,
    detail text
)
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_mode     text;
    v_message  text;
    v_hint     text;
    v_launcher record;
    v_want     integer;
    v_have     integer;
    v_inactive integer;
    v_failed   text;
BEGIN
    item := 'preloaded';
    ok := dwh_etl._cron_preloaded();
    detail := format('shared_preload_libraries = %s', quote_literal(dwh_etl.sec_server_setting('shared_preload_libraries')));
    RETURN NEXT;

    item := 'extension';
    BEGIN
        v_mode := dwh_etl._cron_check();
        ok := true;
        detail := format('pg_cron in database %s (%s)', dwh_etl._cron_database(),
                         CASE v_mode WHEN 'local' THEN 'this database' ELSE 'reached through dblink' END);
    EXCEPTION WHEN SQLSTATE 'DW010' THEN
        GET STACKED DIAGNOSTICS v_message = MESSAGE_TEXT, v_hint = PG_EXCEPTION_HINT;
        ok := false;
        detail := v_message || CASE WHEN v_hint <> '' THEN '; hint: ' || v_hint ELSE '' END;
    END;
    RETURN NEXT;

    SELECT a.pid, a.backend_start
    INTO v_launcher
    FROM pg_catalog.pg_stat_activity AS a
    WHERE a.backend_type = 'pg_cron launcher'
    LIMIT 1;
    item := 'launcher';
    ok := v_launcher.pid IS NOT NULL;
    detail := CASE WHEN ok THEN format('pg_cron launcher pid %s since %s', v_launcher.pid, date_trunc('second', v_launcher.backend_start))
                   ELSE 'no pg_cron launcher in pg_stat_activity: jobs do not run (restart the server; check its log)' END;
    RETURN NEXT;

    IF v_mode IS NULL THEN
        RETURN;
    END IF;
    item := 'jobs';
    BEGIN
        SELECT count(*) INTO v_want FROM dwh_etl.schedule_desired();
        SELECT count(*), count(*) FILTER (WHERE NOT j.active),
               string_agg(j.job_name, ', ' ORDER BY j.job_name) FILTER (WHERE j.last_status = 'failed')
        INTO v_have, v_inactive, v_failed
        FROM dwh_etl.sec_schedule_jobs() AS j;
        ok := v_want = v_have AND v_inactive = 0
              AND NOT EXISTS (SELECT 1 FROM dwh_etl.schedule_desired() AS d
                              LEFT JOIN dwh_etl.sec_schedule_jobs() AS j ON j.job_name = d.job_name AND j.schedule = d.schedule
                              WHERE j.jobid IS NULL);
        detail := format('%s job(s) of %s in pg_cron for %s scheduled in the registry, %s inactive', v_have, current_database(), v_want, v_inactive)
                  || CASE WHEN ok THEN '' ELSE ': run dwh schedule sync (CALL dwh_etl.sync_schedules())' END;
        RETURN NEXT;
        item := 'last job runs';
        ok := v_failed IS NULL;
        detail := CASE WHEN ok THEN 'no job''s last run failed' ELSE format('last run failed: %s (dwh schedule list)', v_failed) END;
        RETURN NEXT;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS v_message = MESSAGE_TEXT;
        ok := false;
        detail := v_message;
        RETURN NEXT;
    END;
END;
$$;
COMMENT ON FUNCTION dwh_etl._cron_health() IS 'Health of scheduling for dwh status: pg_cron preloaded, extension present, launcher running, jobs in sync, last job runs.';
