-- Step (gold): new silver product versions -> sales.dim_product through the generic SCD engine.
CREATE OR REPLACE PROCEDURE sales.load_dim_product(
    p_run_id   bigint,
    p_run_date date
)
LANGUAGE plpgsql
SET search_path = sales, pg_temp
AS $$
DECLARE
    v_win record := dwh_etl.window_bounds('sales.dim_product');
BEGIN
    CREATE TEMP TABLE _dimp_stage ON COMMIT DROP AS
    SELECT p.product_id,
           p.product_name,
           p.product_group,
           p.category,
           p.brand,
           p.unit_price AS list_price,
           p.unit_cost,
           p.is_active,
           p.valid_from AS change_ts,
           p.is_deleted
    FROM silver.sales_products AS p
    WHERE p._loaded_at >= v_win.from_ts
      AND p._loaded_at < v_win.to_ts;

    PERFORM dwh_etl.apply_dimension('sales.dim_product', '_dimp_stage', p_lineage_source => 'silver.sales_products');
    CALL dwh_etl.set_watermark('sales.dim_product', '_loaded_at', v_win.to_ts);
    DROP TABLE _dimp_stage;
END;
$$;
COMMENT ON PROCEDURE sales.load_dim_product(bigint, date) IS 'Step: silver product versions -> sales.dim_product (SCD2 via dwh_etl.apply_dimension).';
