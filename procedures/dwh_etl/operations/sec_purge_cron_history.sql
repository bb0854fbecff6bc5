-- Deletes this database's rows of cron.job_run_details that ended more than setting cron_history.keep
-- (default '30 days') ago, on behalf of etl_service: the scheduled jobs run as the user who synced the
-- schedules (the owner), pg_cron's row security shows each user only its own jobs' rows, and reaching
-- pg_cron's database through dblink is the owner's. SECURITY DEFINER, so it takes no argument: the
-- horizon comes from the owner's settings, the database is this one. Raises DW010 (from
-- dwh_etl._cron_check) when pg_cron is not available. Returns the number of rows deleted.
CREATE OR REPLACE FUNCTION dwh_etl.sec_purge_cron_history()
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_value text := (SELECT s.value FROM dwh_etl.settings AS s WHERE s.key = 'cron_history.keep');
    v_keep  interval;
    v_rows  bigint;
BEGIN
    BEGIN
        v_keep := COALESCE(v_value, '30 days')::interval;
    EXCEPTION WHEN invalid_datetime_format OR datetime_field_overflow OR syntax_error THEN
        RAISE EXCEPTION 'setting cron_history.keep is not an interval: %', quote_literal(v_value)
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'UPDATE dwh_etl.settings SET value = ''30 days'' WHERE key = ''cron_history.keep''';
    END;
    PERFORM dwh_etl._cron_check();
    SELECT count(*)
    INTO v_rows
    FROM dwh_etl._cron_query(format(
        'DELETE FROM cron.job_run_details WHERE end_time < now() - %L::interval AND database = %L RETURNING runid',
        v_keep, current_database()));
    RETURN v_rows;
END;
$$;
REVOKE ALL ON FUNCTION dwh_etl.sec_purge_cron_history() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl.sec_purge_cron_history() TO etl_service;
COMMENT ON FUNCTION dwh_etl.sec_purge_cron_history() IS 'SECURITY DEFINER: delete this database''s cron.job_run_details older than setting cron_history.keep, for etl_service (dwh_etl.op_purge_history).';
