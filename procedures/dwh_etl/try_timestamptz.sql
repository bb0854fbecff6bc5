-- Text to timestamptz, NULL when it is not an ISO 8601 date-time that exists (2025-02-30, 24:00 and
-- +16:00 are NULL). Only ISO input is accepted: '03/04/2025' is ambiguous (March 4 or April 3).
-- Plain SQL without exception handling, so the planner inlines it into set-based loads.
CREATE OR REPLACE FUNCTION dwh_etl.try_timestamptz(p_value text)
RETURNS timestamptz
LANGUAGE sql
STABLE
PARALLEL SAFE
-- No SET clause: it would stop the planner from inlining this into set-based loads (names are qualified).
AS $$
    SELECT CASE
        WHEN p_value ~ '^\s*\d{4}-\d{2}-\d{2}([ T]([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,6})?)?)?\s*(Z|[+-](0\d|1[0-5])(:?[0-5]\d)?)?\s*$'
             AND dwh_etl._iso_date_exists(substring(p_value from '\d{4}-\d{2}-\d{2}'))
        THEN p_value::timestamptz
    END;
$$;
COMMENT ON FUNCTION dwh_etl.try_timestamptz(text) IS 'p_value as timestamptz, or NULL when it is not an existing ISO 8601 date-time.';
