-- Maintenance step: keep gold.dim_date (and gold.dim_time_of_day) complete up to the horizon
-- (setting calendar.days_ahead). The daily pipeline's calendar step does the same: reuse it.
CREATE OR REPLACE PROCEDURE dwh_etl.op_extend_calendar(
    p_run_id   bigint,
    p_run_date date
)
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
BEGIN
    CALL dwh_etl.step_calendar(p_run_id => p_run_id, p_run_date => p_run_date);
END;
$$;
COMMENT ON PROCEDURE dwh_etl.op_extend_calendar(bigint, date) IS 'Maintenance step: extend gold.dim_date to calendar.days_ahead days ahead (dwh_etl.step_calendar). Example: CALL dwh_etl.op_extend_calendar(NULL, CURRENT_DATE);';
