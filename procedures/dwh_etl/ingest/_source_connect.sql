-- Opens the dblink connection p_conn to a source: the conninfo normalized to keyword=value form, with
-- connect_timeout (setting sources.connect_timeout) and an application_name that shows who is asking.
-- A failure raises 08001 naming the source and libpq's reason, never the connection string (it may
-- hold a password). Owner-only: dblink is.
CREATE OR REPLACE FUNCTION dwh_etl._source_connect(
    p_conn     text,
    p_conninfo text,
    p_source   text
)
RETURNS void
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_pairs jsonb;
    v_msg   text;
    v_det   text;
BEGIN
    SELECT jsonb_object_agg(c.keyword, c.value) INTO v_pairs FROM dwh_etl._conninfo_parse(p_conninfo) AS c;
    v_pairs := jsonb_build_object('connect_timeout', dwh_etl.get_setting('sources.connect_timeout', '5'),
                                  'application_name', 'dwh source ' || p_source) || v_pairs;
    IF p_conn = ANY (COALESCE(dwh_remote.dblink_get_connections(), '{}')) THEN
        PERFORM dwh_remote.dblink_disconnect(p_conn);
    END IF;
    BEGIN
        PERFORM dwh_remote.dblink_connect(p_conn, dwh_etl._conninfo_build(v_pairs));
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS v_msg = MESSAGE_TEXT, v_det = PG_EXCEPTION_DETAIL;
        RAISE EXCEPTION 'source %: cannot connect to % (%)', p_source, dwh_etl._conninfo_display(p_conninfo),
                        regexp_replace(COALESCE(NULLIF(v_det, ''), v_msg), '\s+', ' ', 'g')
            USING ERRCODE = 'sqlclient_unable_to_establish_sqlconnection',
                  HINT = 'Check that the source is up and that host, port, database, user and password (or ~/.pgpass of the server''s OS user) are right.';
    END;
END;
$$;
REVOKE EXECUTE ON FUNCTION dwh_etl._source_connect(text, text, text) FROM PUBLIC, etl_service;
COMMENT ON FUNCTION dwh_etl._source_connect(text, text, text) IS 'Open dblink connection p_conn to a source (connect_timeout added); errors name the source, never the password.';

-- Where a connection string points, for people: user@host:port/dbname, without the password.
CREATE OR REPLACE FUNCTION dwh_etl._conninfo_display(
    p_conninfo text
)
RETURNS text
LANGUAGE sql
IMMUTABLE
SET search_path = dwh_etl, pg_temp
AS $$
    SELECT format('%s@%s:%s/%s',
                  COALESCE(max(c.value) FILTER (WHERE c.keyword = 'user'), '(default user)'),
                  COALESCE(max(c.value) FILTER (WHERE c.keyword IN ('host', 'hostaddr')), '(default host)'),
                  COALESCE(max(c.value) FILTER (WHERE c.keyword = 'port'), '5432'),
                  COALESCE(max(c.value) FILTER (WHERE c.keyword = 'dbname'), '(default database)'))
         || CASE WHEN bool_or(c.keyword = 'service') THEN ' service=' || max(c.value) FILTER (WHERE c.keyword = 'service') ELSE '' END
    FROM dwh_etl._conninfo_parse(p_conninfo) AS c;
$$;
REVOKE EXECUTE ON FUNCTION dwh_etl._conninfo_display(text) FROM PUBLIC, etl_service;
COMMENT ON FUNCTION dwh_etl._conninfo_display(text) IS 'user@host:port/dbname of a connection string, never its password.';
