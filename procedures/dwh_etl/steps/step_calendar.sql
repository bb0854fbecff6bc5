-- Pipeline step: keep the conformed calendar and time of day complete up to the horizon.
CREATE OR REPLACE PROCEDURE dwh_etl.step_calendar(
    p_run_id   bigint,
    p_run_date date
)
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_before bigint;
    v_after  bigint;
BEGIN
    SELECT count(*) INTO v_before FROM gold.dim_date;
    CALL dwh_etl.generate_dim_date(
        in_end_date => GREATEST(p_run_date, CURRENT_DATE) + dwh_etl.get_setting('calendar.days_ahead', '730')::integer);
    SELECT count(*) INTO v_after FROM gold.dim_date;
    IF NOT EXISTS (SELECT 1 FROM gold.dim_time_of_day) THEN
        CALL dwh_etl.generate_dim_time_of_day();
    END IF;
    PERFORM dwh_lineage.log_transformation(
        in_source_table  => 'dwh_etl.settings',
        in_target_table  => 'gold.dim_date',
        in_batch_id      => NULL,
        in_rows_inserted => v_after - v_before,
        in_rows_unchanged => v_before,
        in_run_id        => p_run_id);
END;
$$;
COMMENT ON PROCEDURE dwh_etl.step_calendar(bigint, date) IS 'Step: extend gold.dim_date to the horizon and fill gold.dim_time_of_day.';
