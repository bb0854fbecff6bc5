-- Text to date, NULL when it does not start an ISO 8601 date or date-time that exists. The date is the
-- one written (the calendar day of '2025-03-04T23:30:00-05:00' is 2025-03-04). Why: the loads used
-- try_timestamptz(v)::date, which shifts the day by the session's TimeZone (a signup on 2026-01-01
-- became 2025-12-31 under America/New_York). Independent of DateStyle and TimeZone.
-- PL/pgSQL so the trimmed value is computed once (see try_timestamptz(text, text)).
CREATE OR REPLACE FUNCTION dwh_etl.try_date(p_value text)
RETURNS date
LANGUAGE plpgsql
IMMUTABLE
PARALLEL SAFE
-- No SET clause: it would make every call pay a GUC save/restore (names are qualified).
AS $$
DECLARE
    v text := dwh_etl.try_trim(p_value);
BEGIN
    IF v ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}([ T]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?)? ?(Z|[+-](0[0-9]|1[0-5])(:?[0-5][0-9])?)?$'
       AND dwh_etl._iso_date_exists(left(v, 10)) THEN
        RETURN make_date(substr(v, 1, 4)::integer, substr(v, 6, 2)::integer, substr(v, 9, 2)::integer);
    END IF;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION dwh_etl.try_date(text) IS 'The calendar date an ISO 8601 date or date-time text starts with (independent of TimeZone and DateStyle), or NULL when it is none or does not exist.';
