-- The date key (YYYYMMDD) of an instant in a time zone: the citizen facts are dated in India's zone
-- (setting citizen.timezone, default Asia/Kolkata), never in the session's: a query at 20:00 UTC is the
-- next day in India. Views call it with the zone read once per statement.
CREATE OR REPLACE FUNCTION citizen._date_key(
    p_at   timestamptz,
    p_zone text
)
RETURNS integer
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
-- No SET clause: it would stop the planner from inlining this into set-based loads.
AS $$
    SELECT (EXTRACT(YEAR FROM d.local) * 10000 + EXTRACT(MONTH FROM d.local) * 100 + EXTRACT(DAY FROM d.local))::integer
    FROM (SELECT p_at AT TIME ZONE p_zone AS local) AS d;
$$;
COMMENT ON FUNCTION citizen._date_key(timestamptz, text) IS 'YYYYMMDD of the date of p_at in zone p_zone (gold.dim_date.date_key).';
REVOKE EXECUTE ON FUNCTION citizen._date_key(timestamptz, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION citizen._date_key(timestamptz, text) TO etl_service;
