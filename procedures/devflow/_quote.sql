-- A value as a quarantine reason quotes it: at most 200 characters, with the full length when longer.
-- (A 10 MB value used to be copied whole into every reason that named it.) The engine's
-- dwh_etl.quote_reason, which the silver step's reasons use too: the feeds' reasons read the same.
CREATE OR REPLACE FUNCTION devflow._quote(p_value text)
RETURNS text
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
-- No SET clause: it would stop the planner from inlining this into set-based loads (names are qualified).
AS $$
    SELECT dwh_etl.quote_reason(p_value);
$$;
COMMENT ON FUNCTION devflow._quote(text) IS 'p_value quoted for a quarantine reason, cut at 200 characters (the length given when longer): dwh_etl.quote_reason.';
