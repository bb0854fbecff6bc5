-- gold.dim_date must cover every date a fact row references (its foreign key to date_key): when the
-- calendar step's range does not reach [p_from, p_to] (a sale older than calendar.start_date, a run far
-- ahead), the calendar is extended so that it stays contiguous (from the earlier of p_from and its first
-- day to the later of p_to and its last day). Does nothing when the dates are covered or p_from is NULL.
-- Used by the fact step kind (dwh_etl.step_fact); replaces the areas' own top-ups.
--   SELECT dwh_etl.ensure_calendar(DATE '2019-12-30', DATE '2020-01-02');
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
    IF p_from IS NULL OR p_to IS NULL
       OR (SELECT count(*) FROM gold.dim_date AS d WHERE d.full_date BETWEEN p_from AND p_to) >= p_to - p_from + 1 THEN
        RETURN;
    END IF;
    SELECT LEAST(p_from, min(d.full_date)), GREATEST(p_to, max(d.full_date))
    INTO v_min, v_max
    FROM gold.dim_date AS d;
    CALL dwh_etl.generate_dim_date(in_start_date => v_min, in_end_date => v_max);
END;
$$;
COMMENT ON FUNCTION dwh_etl.ensure_calendar(date, date) IS 'Extend gold.dim_date (contiguously) so that it covers [p_from, p_to]; no-op when covered.';
REVOKE EXECUTE ON FUNCTION dwh_etl.ensure_calendar(date, date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl.ensure_calendar(date, date) TO etl_service;
