-- The UTC date of an instant, whatever the session TimeZone (a plain ::date follows the session's zone).
CREATE OR REPLACE FUNCTION devflow._utc_date(p_at timestamptz)
RETURNS date
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
-- No SET clause: it would stop the planner from inlining this into set-based loads (names are qualified).
AS $$
    SELECT (p_at AT TIME ZONE 'UTC')::date;
$$;
COMMENT ON FUNCTION devflow._utc_date(timestamptz) IS 'UTC date of p_at, independent of the session TimeZone.';
