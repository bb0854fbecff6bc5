-- The gold.dim_date key (YYYYMMDD) of an instant: its UTC date, whatever the session TimeZone. (It used
-- to follow the session's zone: under Asia/Tokyo the same sample got another time_key and the metrics
-- fact failed with 9,072 duplicates.)
CREATE OR REPLACE FUNCTION devflow._time_key(p_at timestamptz)
RETURNS integer
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
-- No SET clause: it would stop the planner from inlining this into set-based loads (names are qualified).
AS $$
    SELECT (pg_catalog.date_part('year', p_at AT TIME ZONE 'UTC') * 10000
            + pg_catalog.date_part('month', p_at AT TIME ZONE 'UTC') * 100
            + pg_catalog.date_part('day', p_at AT TIME ZONE 'UTC'))::integer;
$$;
COMMENT ON FUNCTION devflow._time_key(timestamptz) IS 'YYYYMMDD of the UTC date of p_at (the devflow facts'' time_key), independent of the session TimeZone.';
