-- The date key (YYYYMMDD) of an instant in a time zone: facts are dated in the area's zone (setting
-- agents.timezone, default UTC), never in the session's (the seed's DATE(created_at) missed a 02:00 UTC
-- query on both days under America/Los_Angeles). Views call it with the zone read once per statement.
CREATE OR REPLACE FUNCTION agents._time_key(
    p_at   timestamptz,
    p_zone text
)
RETURNS integer
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
-- No SET clause: it would stop the planner from inlining this into set-based loads.
AS $$
    SELECT (EXTRACT(YEAR FROM d.day) * 10000 + EXTRACT(MONTH FROM d.day) * 100 + EXTRACT(DAY FROM d.day))::integer
    FROM (SELECT (p_at AT TIME ZONE p_zone)::date AS day) AS d;
$$;
COMMENT ON FUNCTION agents._time_key(timestamptz, text) IS 'YYYYMMDD of the date of p_at in zone p_zone (dim_time.time_key / gold.dim_date.date_key).';
REVOKE EXECUTE ON FUNCTION agents._time_key(timestamptz, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION agents._time_key(timestamptz, text) TO etl_service;
