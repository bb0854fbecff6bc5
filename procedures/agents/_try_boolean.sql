-- Bronze holds the source's booleans as text (t/f as PostgreSQL prints them, or true/false/1/0/yes/no
-- from a file): the typing views read them here, NULL when the value is not a boolean (the view then
-- gives a reason, and the row goes to quarantine instead of failing the load).
CREATE OR REPLACE FUNCTION agents._try_boolean(p_value text)
RETURNS boolean
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
-- No SET clause: it would stop the planner from inlining this into set-based loads (names are qualified).
AS $$
    SELECT CASE lower(dwh_etl.try_trim(p_value))
               WHEN 't' THEN true WHEN 'true' THEN true WHEN '1' THEN true WHEN 'yes' THEN true WHEN 'y' THEN true
               WHEN 'f' THEN false WHEN 'false' THEN false WHEN '0' THEN false WHEN 'no' THEN false WHEN 'n' THEN false
           END;
$$;
COMMENT ON FUNCTION agents._try_boolean(text) IS 'p_value as boolean (t/f, true/false, 1/0, yes/no, y/n, any case, trimmed), or NULL when it is none of them.';
REVOKE EXECUTE ON FUNCTION agents._try_boolean(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION agents._try_boolean(text) TO etl_service;
