-- gold.dim_date covers [p_from, p_to] (facts reference it): kept for the fact loads that call it, the
-- work is the engine's dwh_etl.ensure_calendar (issue 10: one calendar top-up for every area).
CREATE OR REPLACE FUNCTION devflow._ensure_calendar(
    p_from date,
    p_to   date
)
RETURNS void
LANGUAGE sql
SET search_path = devflow, pg_temp
AS $$
    SELECT dwh_etl.ensure_calendar(p_from, p_to);
$$;
COMMENT ON FUNCTION devflow._ensure_calendar(date, date) IS 'Extend gold.dim_date so it covers the given dates (dwh_etl.ensure_calendar).';
