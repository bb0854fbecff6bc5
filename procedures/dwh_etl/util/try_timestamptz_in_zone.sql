-- Text to timestamptz, NULL when it is not an ISO 8601 date-time that exists (2025-02-30, 24:00 and
-- +16:00 are NULL). Only ISO input is accepted: '03/04/2025' is ambiguous (March 4 or April 3).
-- Independent of the session (why: under DateStyle 'SQL, DMY' or PGTZ=Asia/Tokyo values were misread):
-- - ISO year-first input parses the same under every DateStyle (only the ISO form passes the check);
-- - a value with an offset (Z, +09, -05:30) is that instant; a value without one is read in p_zone
--   (an IANA name such as 'UTC' or 'Europe/Berlin'), never in the session's TimeZone;
-- - surrounding Unicode white space is trimmed for the check and the cast alike (dwh_etl.try_trim).
-- 'infinity', '-infinity', years beyond 4 digits and non-ASCII digits are NULL. Whether a valid time is
-- plausible (year 1, year 9999) is the caller's range check (dwh_etl.reason_timestamp).
-- Two paths, one result (issue 15: the general regex, the date check and the trim cost ~28 us a value,
-- two columns of a million sales lines; a cast costs ~2 us):
-- - the usual form, checked without a regex: exactly 'YYYY-MM-DD HH:MI:SS' (or T), an optional
--   fraction of 1-6 digits, an optional zone Z, +HH, +HHMM or +HH:MM, nothing around it. LIKE checks
--   the punctuation, the 14 digits become one bigint (replace, ltrim), whose fields are compared as
--   integers (hour <= 23, minutes and seconds <= 59, the day exists in its month and year; offset
--   <= 15:59), then the value is cast. That language is a subset of the general pattern with the same
--   field rules, so the result is the one the general check gives. (substr is slow on UTF-8 text and
--   regexp_match with groups ~500 us: neither is used.)
-- - everything else (white space, a date alone, no seconds, ' +02', garbage) goes to the general check,
--   dwh_etl._try_timestamptz_general, unchanged.
-- PL/pgSQL, not SQL: inlined, each use of an intermediate value would be computed again.
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
    v_digits text;
    v_n      bigint;
    v_zone   text;
BEGIN
    IF p_value LIKE '____-__-__ __:__:__%' OR p_value LIKE '____-__-__T__:__:__%' THEN
        -- the 14 digit positions (the punctuation removed); a non-digit there fails the length or ltrim test
        v_digits := replace(replace(replace(replace(left(p_value, 19), '-', ''), ':', ''), ' ', ''), 'T', '');
        IF length(v_digits) = 14 AND ltrim(v_digits, '0123456789') = '' THEN
            v_n := v_digits::bigint;
            -- the zone: what follows the seconds and their fraction of 1-6 digits (NULL: another fraction)
            v_zone := substr(p_value, 20);
            IF left(v_zone, 1) = '.' THEN
                v_zone := CASE WHEN length(v_zone) - 1 - length(ltrim(substr(v_zone, 2), '0123456789')) BETWEEN 1 AND 6
                               THEN ltrim(substr(v_zone, 2), '0123456789') END;
            END IF;
            IF (v_n / 10000 % 100 <= 23                  -- hour
                AND v_n / 100 % 100 <= 59                -- minute
                AND v_n % 100 <= 59                      -- second
                AND v_n / 10000000000 >= 1               -- year
                AND v_n / 100000000 % 100 BETWEEN 1 AND 12
                AND v_n / 1000000 % 100 BETWEEN 1 AND
                    (CASE WHEN v_n / 100000000 % 100 IN (4, 6, 9, 11) THEN 30
                          WHEN v_n / 100000000 % 100 = 2 THEN
                               CASE WHEN (v_n / 10000000000 % 4 = 0 AND v_n / 10000000000 % 100 <> 0)
                                         OR v_n / 10000000000 % 400 = 0 THEN 29 ELSE 28 END
                          ELSE 31 END)
                -- CASE, not AND: the integer casts only ever see digits
                AND (CASE WHEN v_zone IN ('', 'Z') THEN true
                          WHEN left(v_zone, 1) IN ('+', '-')
                           AND ((length(v_zone) IN (3, 5) AND ltrim(substr(v_zone, 2), '0123456789') = '')
                                OR (length(v_zone) = 6 AND substr(v_zone, 4, 1) = ':'
                                    AND ltrim(replace(substr(v_zone, 2), ':', ''), '0123456789') = ''
                                    AND length(replace(v_zone, ':', '')) = 5))
                          THEN substr(v_zone, 2, 2)::integer <= 15 AND (length(v_zone) = 3 OR right(v_zone, 2)::integer <= 59)
                          ELSE false END)) IS TRUE THEN
                IF v_zone = '' THEN
                    RETURN p_value::timestamp AT TIME ZONE p_zone;
                END IF;
                RETURN p_value::timestamptz;
            END IF;
        END IF;
    END IF;
    RETURN dwh_etl._try_timestamptz_general(p_value, p_zone);
END;
$$;
COMMENT ON FUNCTION dwh_etl.try_timestamptz(text, text) IS 'p_value as timestamptz, zone-less values read in p_zone (never the session TimeZone), or NULL when it is not an existing ISO 8601 date-time.';
