-- Text to timestamptz, NULL when it is not an ISO 8601 date-time that exists (2025-02-30, 24:00 and
-- +16:00 are NULL). Only ISO input is accepted: '03/04/2025' is ambiguous (March 4 or April 3).
-- Independent of the session (why: under DateStyle 'SQL, DMY' or PGTZ=Asia/Tokyo values were misread):
-- - ISO year-first input parses the same under every DateStyle (only the ISO form passes the check);
-- - a value with an offset (Z, +09, -05:30) is that instant; a value without one is read in p_zone
--   (an IANA name such as 'UTC' or 'Europe/Berlin'), never in the session's TimeZone;
-- - surrounding Unicode white space is trimmed for the check and the cast alike (dwh_etl.try_trim).
-- 'infinity', '-infinity', years beyond 4 digits and non-ASCII digits are NULL. Whether a valid time is
-- plausible (year 1, year 9999) is the caller's range check (dwh_etl.reason_timestamp).
-- PL/pgSQL without exception handling: the trimmed value is computed once (inlined as SQL, the trim was
-- evaluated some twenty times per value: three times slower on 200k values).
CREATE OR REPLACE FUNCTION dwh_etl.try_timestamptz(
    p_value text,
    p_zone  text
)
RETURNS timestamptz
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
-- No SET clause: it would make every call pay a GUC save/restore (names are qualified).
AS $$
DECLARE
    v text := dwh_etl.try_trim(p_value);
BEGIN
    IF v ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}([ T]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?)? ?(Z|[+-](0[0-9]|1[0-5])(:?[0-5][0-9])?)?$'
       AND dwh_etl._iso_date_exists(left(v, 10)) THEN
        IF substr(v, 11) ~ '(Z|[+-][0-9]{2}(:?[0-9]{2})?)$' THEN
            RETURN v::timestamptz;
        END IF;
        RETURN v::timestamp AT TIME ZONE p_zone;
    END IF;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION dwh_etl.try_timestamptz(text, text) IS 'p_value as timestamptz, zone-less values read in p_zone (never the session TimeZone), or NULL when it is not an existing ISO 8601 date-time.';
