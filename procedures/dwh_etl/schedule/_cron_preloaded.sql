-- Is pg_cron in shared_preload_libraries (the only way it runs jobs)?
CREATE OR REPLACE FUNCTION dwh_etl._cron_preloaded()
RETURNS boolean
LANGUAGE sql
STABLE
SET search_path = dwh_etl, pg_temp
AS $$
    SELECT 'pg_cron' = ANY (string_to_array(replace(replace(dwh_etl.sec_server_setting('shared_preload_libraries'), ' ', ''), '"', ''), ','));
$$;
COMMENT ON FUNCTION dwh_etl._cron_preloaded() IS 'True when pg_cron is in shared_preload_libraries.';
