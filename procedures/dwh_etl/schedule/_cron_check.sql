-- Where pg_cron can be reached from this database: 'local' (its cron schema is here) or 'dblink' (it
-- lives in the database named by cron.database_name). Raises DW010 with what to install or set when
-- pg_cron is not preloaded, its database cannot be reached, or the extension is missing there.
-- p_cron_database overrides cron.database_name (to check another database).
CREATE OR REPLACE FUNCTION dwh_etl._cron_check(
    p_cron_database text DEFAULT NULL
)
RETURNS text
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_db      text := COALESCE(p_cron_database, dwh_etl._cron_database());
    v_dblink  name;
    v_found   boolean;
    v_message text;
    v_detail  text;
    v_hint    text := 'install pg_cron (Debian/Ubuntu: apt-get install postgresql-15-cron), set shared_preload_libraries = ''pg_cron'' '
                      'and cron.database_name = ''<database>'' in postgresql.conf, restart PostgreSQL, then run CREATE EXTENSION pg_cron '
                      'in that database; dwh schedules jobs of other databases with cron.schedule_in_database';
BEGIN
    IF NOT dwh_etl._cron_preloaded() THEN
        RAISE EXCEPTION 'pg_cron is not loaded: shared_preload_libraries is %', quote_literal(dwh_etl.sec_server_setting('shared_preload_libraries'))
            USING ERRCODE = 'DW010',
                  DETAIL = 'pg_cron runs jobs only when the server starts with it in shared_preload_libraries',
                  HINT = v_hint;
    END IF;
    IF v_db = current_database() THEN
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'pg_cron') THEN
            RAISE EXCEPTION 'the pg_cron extension is not installed in database %', quote_ident(v_db)
                USING ERRCODE = 'DW010',
                      DETAIL = format('cron.database_name is %s', quote_literal(v_db)),
                      HINT = format('run CREATE EXTENSION pg_cron in database %s as a superuser (%s)', quote_ident(v_db), v_hint);
        END IF;
        RETURN 'local';
    END IF;

    SELECT e.extnamespace::regnamespace::name INTO v_dblink FROM pg_catalog.pg_extension AS e WHERE e.extname = 'dblink';
    IF v_dblink IS NULL THEN
        RAISE EXCEPTION 'pg_cron lives in database % and the dblink extension needed to reach it is not installed here', quote_ident(v_db)
            USING ERRCODE = 'DW010',
                  HINT = 'run CREATE EXTENSION dblink in this database (dwh migrate does), or set cron.database_name to this database';
    END IF;
    BEGIN
        EXECUTE format('SELECT t.found FROM %I.dblink($1, $2) AS t(found boolean)', v_dblink)
        INTO v_found
        USING dwh_etl._cron_conninfo(v_db),
              'SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = ''pg_cron'')';
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS v_message = MESSAGE_TEXT, v_detail = PG_EXCEPTION_DETAIL;
        RAISE EXCEPTION 'cannot reach pg_cron''s database %: %', quote_ident(v_db),
                        concat_ws(': ', v_message, NULLIF(btrim(v_detail), ''))
            USING ERRCODE = 'DW010',
                  DETAIL = format('cron.database_name is %s; dwh connects to it with dblink over the local socket as %s',
                                  quote_literal(v_db), current_user),
                  HINT = format('check that database %s exists and accepts local connections of %s (pg_hba.conf); %s',
                                quote_ident(v_db), current_user, v_hint);
    END;
    IF NOT v_found THEN
        RAISE EXCEPTION 'the pg_cron extension is not installed in database %', quote_ident(v_db)
            USING ERRCODE = 'DW010',
                  DETAIL = format('cron.database_name is %s', quote_literal(v_db)),
                  HINT = format('run CREATE EXTENSION pg_cron in database %s as a superuser (%s)', quote_ident(v_db), v_hint);
    END IF;
    RETURN 'dblink';
END;
$$;
COMMENT ON FUNCTION dwh_etl._cron_check(text) IS 'How to reach pg_cron from here: local or dblink; raises DW010 with what to install/set when pg_cron is unavailable.';
