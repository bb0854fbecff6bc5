-- The calendar top-up a fact load needs before it writes date keys (issue 10: devflow._ensure_calendar
-- and sales.load_fact_sales each had their own): gold.dim_date covers [p_from, p_to] and stays one
-- contiguous range (when a day of it is missing, every day from the earliest to the latest of the
-- data and the calendar is generated: dwh_etl.generate_dim_date is idempotent), and gold.dim_time_of_day
-- is filled once. The calendar step keeps the horizon ahead; this covers data outside it (an old
-- backfill, a far-future event accepted by silver). A NULL p_from (no data) does nothing.
-- Example: SELECT dwh_etl.ensure_calendar(DATE '2019-06-01', DATE '2019-06-30');
CREATE OR REPLACE FUNCTION dwh_etl.ensure_calendar(
    p_from date,
    p_to   date
)
RETURNS void
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_min date;
    v_max date;
BEGIN
    IF p_from IS NULL THEN
        RETURN;
    END IF;
    IF p_to IS NULL OR p_to < p_from THEN
        RAISE EXCEPTION 'calendar range [%, %] is empty', p_from, p_to
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF (SELECT count(*) FROM gold.dim_date AS d WHERE d.full_date BETWEEN p_from AND p_to) < p_to - p_from + 1 THEN
        SELECT LEAST(p_from, min(d.full_date)), GREATEST(p_to, max(d.full_date)) INTO v_min, v_max FROM gold.dim_date AS d;
        CALL dwh_etl.generate_dim_date(in_start_date => v_min, in_end_date => v_max);
    END IF;
    IF NOT EXISTS (SELECT 1 FROM gold.dim_time_of_day) THEN
        CALL dwh_etl.generate_dim_time_of_day();
    END IF;
END;
$$;
COMMENT ON FUNCTION dwh_etl.ensure_calendar(date, date) IS 'Make gold.dim_date cover [p_from, p_to] (one contiguous range) and gold.dim_time_of_day filled, before a fact load writes their keys; NULL p_from does nothing.';
REVOKE EXECUTE ON FUNCTION dwh_etl.ensure_calendar(date, date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl.ensure_calendar(date, date) TO etl_service;
