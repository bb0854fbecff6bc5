-- Step (mart): REFRESH MATERIALIZED VIEW CONCURRENTLY devflow.mart_development_performance (readers never blocked; its
-- unique index covers the mart's grain).
CREATE OR REPLACE PROCEDURE devflow.refresh_mart_development_performance(
    p_run_id   bigint,
    p_run_date date
)
LANGUAGE plpgsql
SET search_path = devflow, pg_temp
AS $$
BEGIN
    PERFORM dwh_etl.lock_step('devflow.mart_development_performance');
    PERFORM dwh_etl.sec_refresh_mart('devflow.mart_development_performance');  -- owner-only REFRESH, done for etl_service
    PERFORM dwh_lineage.log_refresh(
        in_view_name    => 'devflow.mart_development_performance',
        in_source_table => 'devflow.fact_issue_processing',
        in_row_count    => (SELECT count(*) FROM devflow.mart_development_performance));
END;
$$;
COMMENT ON PROCEDURE devflow.refresh_mart_development_performance(bigint, date) IS 'Step: refresh devflow.mart_development_performance concurrently.';
