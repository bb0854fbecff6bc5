-- gold.dim_date covers [p_from, p_to] (facts reference it); fills the gap when it does not.
CREATE OR REPLACE FUNCTION devflow._ensure_calendar(
    p_from date,
    p_to   date
)
RETURNS void
LANGUAGE plpgsql
SET search_path = devflow, pg_temp
AS $$
DECLARE
    v_min date;
    v_max date;
BEGIN
    IF p_from IS NOT NULL
       AND (SELECT count(*) FROM gold.dim_date AS d WHERE d.full_date BETWEEN p_from AND p_to) < p_to - p_from + 1 THEN
        SELECT LEAST(p_from, min(d.full_date)), GREATEST(p_to, max(d.full_date)) INTO v_min, v_max FROM gold.dim_date AS d;
        CALL dwh_etl.generate_dim_date(in_start_date => v_min, in_end_date => v_max);
    END IF;
END;
$$;
COMMENT ON FUNCTION devflow._ensure_calendar(date, date) IS 'Extend gold.dim_date so it covers the given dates.';
