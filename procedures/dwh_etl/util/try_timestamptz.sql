-- Text to timestamptz, NULL when it is not an ISO 8601 date-time that exists (2025-02-30, 24:00 and
-- +16:00 are NULL). Only ISO input is accepted: '03/04/2025' is ambiguous (March 4 or April 3).
-- A value without a zone is read in UTC, never in the session's TimeZone (under PGTZ=Asia/Tokyo a
-- zone-less timestamp was stored 9 hours off); use dwh_etl.try_timestamptz(value, zone) to read it in
-- an area's zone. See that function for the rules.
CREATE OR REPLACE FUNCTION dwh_etl.try_timestamptz(p_value text)
RETURNS timestamptz
LANGUAGE sql
STABLE
PARALLEL SAFE
-- No SET clause: it would stop the planner from inlining this into set-based loads (names are qualified).
AS $$
    SELECT dwh_etl.try_timestamptz(p_value, 'UTC');
$$;
COMMENT ON FUNCTION dwh_etl.try_timestamptz(text) IS 'p_value as timestamptz (zone-less values read in UTC), or NULL when it is not an existing ISO 8601 date-time.';
