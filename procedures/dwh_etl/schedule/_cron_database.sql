-- The database that holds pg_cron's schema (SHOW cron.database_name), or NULL when pg_cron is not loaded.
CREATE OR REPLACE FUNCTION dwh_etl._cron_database()
RETURNS text
LANGUAGE sql
STABLE
SET search_path = dwh_etl, pg_temp
AS $$
    SELECT CASE
               WHEN dwh_etl._cron_preloaded()
               THEN COALESCE(NULLIF(dwh_etl.sec_server_setting('cron.database_name'), ''), 'postgres')
           END;
$$;
COMMENT ON FUNCTION dwh_etl._cron_database() IS 'Name of the database holding pg_cron (cron.database_name), NULL when pg_cron is not in shared_preload_libraries.';
