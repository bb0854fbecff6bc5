-- The range of event times a load accepts for a run date: from the setting quality.min_event_date
-- (default 1990-01-01, UTC midnight) to the later of now() and the end of the run date (UTC) plus the
-- setting quality.max_future (default 1 day). Rows outside are quarantined (dwh_etl.reason_timestamp):
-- no partition from year 1 or 9999 is ever requested, and a sale dated years ahead is not accepted
-- silently.
CREATE OR REPLACE FUNCTION dwh_etl.event_time_bounds(
    p_run_date date,
    OUT min_ts timestamptz,
    OUT max_ts timestamptz
)
LANGUAGE sql
STABLE
SET search_path = dwh_etl, pg_temp
AS $$
    SELECT (dwh_etl.get_setting('quality.min_event_date', '1990-01-01')::date)::timestamp AT TIME ZONE 'UTC',
           GREATEST(now(), (COALESCE(p_run_date, CURRENT_DATE) + 1)::timestamp AT TIME ZONE 'UTC')
           + dwh_etl.get_setting('quality.max_future', '1 day')::interval;
$$;
COMMENT ON FUNCTION dwh_etl.event_time_bounds(date) IS 'Accepted event times for a run: [quality.min_event_date, max(now(), end of the run date) + quality.max_future].';
