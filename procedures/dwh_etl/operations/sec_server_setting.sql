-- A few server settings the status and scheduling checks read (is pg_cron loaded, in which database,
-- where is the socket), on behalf of etl_service: reading them needs superuser or pg_read_all_settings,
-- and granting the latter would let etl read every setting (primary_conninfo included). SECURITY
-- DEFINER, narrow: only the names listed here; NULL when the setting does not exist (pg_cron not loaded).
CREATE OR REPLACE FUNCTION dwh_etl.sec_server_setting(p_name text)
RETURNS text
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF p_name IS NULL OR p_name NOT IN ('shared_preload_libraries', 'cron.database_name', 'cron.host',
                                         'cron.use_background_workers', 'unix_socket_directories', 'port') THEN
        RAISE EXCEPTION 'dwh_etl.sec_server_setting does not read %', quote_nullable(p_name)
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN pg_catalog.current_setting(p_name, true);
END;
$$;
REVOKE ALL ON FUNCTION dwh_etl.sec_server_setting(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl.sec_server_setting(text) TO etl_service;
COMMENT ON FUNCTION dwh_etl.sec_server_setting(text) IS 'The server settings the pg_cron checks need (shared_preload_libraries, cron.*, socket), readable by etl_service without pg_read_all_settings.';
