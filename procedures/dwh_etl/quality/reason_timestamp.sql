-- The reason an event time fails, or NULL when it is a valid time within [p_min, p_max]
-- (dwh_etl.event_time_bounds). p_value is the typed value (try_timestamptz / try_date), computed once
-- by the caller. Why: 0001-01-01T00:00:00Z made ensure_partitions create partitions from year 1, a
-- sale three years ahead was accepted silently, and 'infinity' broke later arithmetic.
-- Bounds are shown in UTC, independent of the session's TimeZone and DateStyle.
CREATE OR REPLACE FUNCTION dwh_etl.reason_timestamp(
    p_column text,
    p_raw    text,
    p_value  timestamptz,
    p_min    timestamptz,
    p_max    timestamptz
)
RETURNS text
LANGUAGE sql
STABLE
PARALLEL SAFE
-- No SET clause: it would stop the planner from inlining this into set-based loads (names are qualified).
AS $$
    SELECT CASE
        WHEN p_value IS NULL
            THEN format('%s %s is not a valid timestamp', p_column, dwh_etl.quote_value(p_raw))
        WHEN p_value < p_min
            THEN format('%s %s is before %s (setting quality.min_event_date)', p_column,
                        dwh_etl.quote_value(p_raw), to_char(p_min AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))
        WHEN p_value > p_max
            THEN format('%s %s is after %s, too far ahead of the run (setting quality.max_future)', p_column,
                        dwh_etl.quote_value(p_raw), to_char(p_max AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))
    END;
$$;
COMMENT ON FUNCTION dwh_etl.reason_timestamp(text, text, timestamptz, timestamptz, timestamptz) IS 'Why an event time is rejected (not a valid timestamp, before quality.min_event_date, beyond quality.max_future ahead of the run), or NULL.';
