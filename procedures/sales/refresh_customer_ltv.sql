-- Step (mart): REFRESH MATERIALIZED VIEW CONCURRENTLY sales.mv_customer_lifetime_value (readers are
-- never blocked; the unique index on customer_id allows it).
CREATE OR REPLACE PROCEDURE sales.refresh_customer_ltv(
    p_run_id   bigint,
    p_run_date date
)
LANGUAGE plpgsql
SET search_path = sales, pg_temp
AS $$
BEGIN
    PERFORM dwh_etl.lock_step('sales.mv_customer_lifetime_value');
    PERFORM dwh_etl.sec_refresh_mart('sales.mv_customer_lifetime_value');  -- owner-only REFRESH, done for etl_service
    PERFORM dwh_lineage.log_refresh(
        in_view_name    => 'sales.mv_customer_lifetime_value',
        in_source_table => 'sales.fact_sales',
        in_row_count    => (SELECT count(*) FROM sales.mv_customer_lifetime_value));
    INSERT INTO dwh_lineage.table_dependencies (upstream_table, downstream_table)
    VALUES ('sales.dim_customer', 'sales.mv_customer_lifetime_value')
    ON CONFLICT (upstream_table, downstream_table) DO NOTHING;
END;
$$;
COMMENT ON PROCEDURE sales.refresh_customer_ltv(bigint, date) IS 'Step: refresh sales.mv_customer_lifetime_value concurrently.';
