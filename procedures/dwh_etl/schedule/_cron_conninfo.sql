-- libpq conninfo of a database of this server, over the local unix socket (first entry of
-- unix_socket_directories; localhost when there is none), as the current user.
CREATE OR REPLACE FUNCTION dwh_etl._cron_conninfo(
    p_database text
)
RETURNS text
LANGUAGE sql
STABLE
SET search_path = dwh_etl, pg_temp
AS $$
    WITH parts (k, v) AS (
        VALUES ('dbname', p_database),
               ('host', COALESCE(NULLIF(btrim(split_part(dwh_etl.sec_server_setting('unix_socket_directories'), ',', 1)), ''), 'localhost')),
               ('port', dwh_etl.sec_server_setting('port')),
               ('user', current_user::text),
               ('application_name', 'dwh_cron')
    )
    -- conninfo values in single quotes, with \ and ' escaped
    SELECT string_agg(format('%s=''%s''', k, replace(replace(v, '\', '\\'), '''', '\''')), ' ')
    FROM parts;
$$;
COMMENT ON FUNCTION dwh_etl._cron_conninfo(text) IS 'Conninfo (quoted values) of p_database on this server over the local socket as the current user, for dblink.';
