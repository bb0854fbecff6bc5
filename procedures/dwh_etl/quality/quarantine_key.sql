-- The record key a quarantine row keeps: the natural key as text, cut to 200 characters plus the md5 of
-- the whole key when longer (a 10 MB key must not be copied, nor break an index on record_key). The
-- default record key of dwh_etl.step_silver (moved from devflow._record_key).
CREATE OR REPLACE FUNCTION dwh_etl.quarantine_key(p_key text)
RETURNS text
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
-- No SET clause: it would stop the planner from inlining this into set-based loads (names are qualified).
AS $$
    SELECT CASE WHEN pg_catalog.length(p_key) <= 200 THEN p_key
                ELSE pg_catalog.left(p_key, 200) || '... md5:' || pg_catalog.md5(p_key) END;
$$;
COMMENT ON FUNCTION dwh_etl.quarantine_key(text) IS 'p_key, or its first 200 characters and its md5 when longer (quarantine record keys).';
REVOKE EXECUTE ON FUNCTION dwh_etl.quarantine_key(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl.quarantine_key(text) TO etl_service;
