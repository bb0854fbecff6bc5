-- The time-of-day key (HHMMSS, gold.dim_time_of_day) of an instant in a time zone: the local second of
-- the day in India (setting citizen.timezone), so "peak hours" and "business hours" are India's.
CREATE OR REPLACE FUNCTION citizen._time_key(
    p_at   timestamptz,
    p_zone text
)
RETURNS integer
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
-- No SET clause: it would stop the planner from inlining this into set-based loads.
AS $$
    SELECT (EXTRACT(HOUR FROM d.local) * 10000 + EXTRACT(MINUTE FROM d.local) * 100 + floor(EXTRACT(SECOND FROM d.local)))::integer
    FROM (SELECT p_at AT TIME ZONE p_zone AS local) AS d;
$$;
COMMENT ON FUNCTION citizen._time_key(timestamptz, text) IS 'HHMMSS of the local time of day of p_at in zone p_zone (gold.dim_time_of_day.time_key).';
REVOKE EXECUTE ON FUNCTION citizen._time_key(timestamptz, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION citizen._time_key(timestamptz, text) TO etl_service;
