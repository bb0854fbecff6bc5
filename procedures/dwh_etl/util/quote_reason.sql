-- A value as a silver typing reason quotes it: double quotes, at most 200 characters, with the full
-- length when longer ("abc", or "abc..." (10000000 characters)). A 10 MB value used to be copied whole
-- into every reason that named it. The wording of dwh_etl.step_silver's typing reasons (moved from
-- devflow._quote); dwh_etl.quote_value is the SQL-literal style of the hand-written checks.
CREATE OR REPLACE FUNCTION dwh_etl.quote_reason(p_value text)
RETURNS text
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
-- No SET clause: it would stop the planner from inlining this into set-based loads (names are qualified).
AS $$
    SELECT CASE
        WHEN p_value IS NULL THEN 'NULL'
        WHEN pg_catalog.length(p_value) <= 200 THEN '"' || p_value || '"'
        ELSE '"' || pg_catalog.left(p_value, 200) || '..." (' || pg_catalog.length(p_value) || ' characters)'
    END;
$$;
COMMENT ON FUNCTION dwh_etl.quote_reason(text) IS 'p_value double-quoted for a quarantine reason, cut at 200 characters (the length given when longer).';
REVOKE EXECUTE ON FUNCTION dwh_etl.quote_reason(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl.quote_reason(text) TO etl_service;
