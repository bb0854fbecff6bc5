-- Step date_flags of the maintenance pipeline (nightly, 03:00 UTC, after extend_calendar): gold.dim_date's relative
-- flags (is_current_day/week/month/quarter/year, seed 002) for today, by dwh_etl.update_dim_date_flags.
-- Today, not the run date: the flags say what is current now, whatever date a run was started for.
CREATE OR REPLACE PROCEDURE dwh_etl.op_date_flags(
    p_run_id   bigint,
    p_run_date date
)
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_id bigint;
BEGIN
    CALL dwh_etl.update_dim_date_flags();
    v_id := dwh_lineage.log_refresh(in_view_name => 'gold.dim_date', in_source_table => 'gold.dim_date', in_row_count => 0, in_run_id => p_run_id);
    UPDATE dwh_lineage.table_lineage
    SET notes = format('relative flags set for %s (run date %s)',
                       (now() AT TIME ZONE dwh_etl.setting_timezone('calendar.timezone'))::date, p_run_date)
    WHERE lineage_id = v_id;
END;
$$;
COMMENT ON PROCEDURE dwh_etl.op_date_flags(bigint, date) IS 'Step date_flags (maintenance): gold.dim_date.is_current_* for today (dwh_etl.update_dim_date_flags). Example: CALL dwh_etl.op_date_flags(NULL, CURRENT_DATE);';
REVOKE EXECUTE ON PROCEDURE dwh_etl.op_date_flags(bigint, date) FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE dwh_etl.op_date_flags(bigint, date) TO etl_service;
