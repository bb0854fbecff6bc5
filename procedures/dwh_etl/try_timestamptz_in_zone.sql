-- Text to timestamptz, NULL when it is not an ISO 8601 date-time that exists (2025-02-30, 24:00 and
-- +16:00 are NULL). Only ISO input is accepted: '03/04/2025' is ambiguous (March 4 or April 3).
-- Independent of the session (why: under DateStyle 'SQL, DMY' or PGTZ=Asia/Tokyo values were misread):
-- - ISO year-first input parses the same under every DateStyle (only the ISO form passes the check);
-- - a value with an offset (Z, +09, -05:30) is that instant; a value without one is read in p_zone
--   (an IANA name such as 'UTC' or 'Europe/Berlin'), never in the session's TimeZone;
-- - surrounding Unicode white space is trimmed for the check and the cast alike (dwh_etl.try_trim).
-- 'infinity', '-infinity', years beyond 4 digits and non-ASCII digits are NULL. Whether a valid time is
-- plausible (year 1, year 9999) is the caller's range check (dwh_etl.reason_timestamp).
-- Plain SQL without exception handling, so the planner inlines it into set-based loads.
CREATE OR REPLACE FUNCTION dwh_etl.try_timestamptz(
    p_value text,
    p_zone  text
)
RETURNS timestamptz
LANGUAGE sql
STABLE
PARALLEL SAFE
-- No SET clause: it would stop the planner from inlining this into set-based loads (names are qualified).
AS $$
    SELECT CASE
        WHEN dwh_etl.try_trim(p_value) ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}([ T]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?)? ?(Z|[+-](0[0-9]|1[0-5])(:?[0-5][0-9])?)?$'
             AND dwh_etl._iso_date_exists(left(dwh_etl.try_trim(p_value), 10))
        THEN CASE WHEN dwh_etl.try_trim(p_value) ~ '^.{10}.*(Z|[+-][0-9]{2}(:?[0-9]{2})?)$'
                  THEN dwh_etl.try_trim(p_value)::timestamptz
                  ELSE dwh_etl.try_trim(p_value)::timestamp AT TIME ZONE p_zone
             END
    END;
$$;
COMMENT ON FUNCTION dwh_etl.try_timestamptz(text, text) IS 'p_value as timestamptz, zone-less values read in p_zone (never the session TimeZone), or NULL when it is not an existing ISO 8601 date-time.';
