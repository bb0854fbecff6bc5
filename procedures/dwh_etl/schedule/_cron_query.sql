-- Runs one statement in pg_cron's database (directly when it is this database, else through dblink)
-- and returns its rows as json objects. p_query may be a SELECT or a data-modifying statement with
-- RETURNING (it becomes a top-level CTE). Values must be embedded with format('%L'): dblink takes no
-- parameters. Through dblink the statement commits on its own, independently of the caller's transaction.
CREATE OR REPLACE FUNCTION dwh_etl._cron_query(
    p_query text
)
RETURNS SETOF json
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_mode   text := dwh_etl._cron_check();
    v_dblink name;
BEGIN
    IF v_mode = 'local' THEN
        RETURN QUERY EXECUTE format('WITH q AS (%s) SELECT to_json(q) FROM q', p_query);
        RETURN;
    END IF;
    SELECT e.extnamespace::regnamespace::name INTO v_dblink FROM pg_catalog.pg_extension AS e WHERE e.extname = 'dblink';
    RETURN QUERY EXECUTE format('SELECT t.j::json FROM %I.dblink($1, $2) AS t(j text)', v_dblink)
        USING dwh_etl._cron_conninfo(dwh_etl._cron_database()),
              format('WITH q AS (%s) SELECT to_json(q)::text FROM q', p_query);
END;
$$;
COMMENT ON FUNCTION dwh_etl._cron_query(text) IS 'Run a statement in pg_cron''s database (locally or through dblink) and return its rows as json.';
