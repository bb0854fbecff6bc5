-- Step (bronze): high-water-mark delta extraction of the operational source (seed 004) into bronze.
-- All four tables in one transaction, so they come from one snapshot: a sale never arrives before the
-- customer it references was extracted. The window ends at the end of p_run_date at the latest.
-- Windows run on _dwh_arrived_at (when the row reached the source, stamped by trigger zz_dwh_arrival),
-- not on updated_at / deleted_at: a row written with a change time behind the watermark, or 'infinity',
-- was never extracted (issue 9). Those stay data (the SCD change time); silver judges their values.
CREATE OR REPLACE PROCEDURE sales.extract_source(
    p_run_id   bigint,
    p_run_date date
)
LANGUAGE plpgsql
SET search_path = sales, pg_temp
AS $$
DECLARE
    v_schema text := dwh_etl.get_setting('sales.source_schema', 'sales_src');
    v_cap    timestamptz := (p_run_date + 1)::timestamptz;
    v_rows   bigint;
BEGIN
    v_rows := dwh_etl.extract_incremental(format('%I.customers', v_schema), 'bronze.sales_customers', '_dwh_arrived_at', v_cap)
            + dwh_etl.extract_incremental(format('%I.products', v_schema), 'bronze.sales_products', '_dwh_arrived_at', v_cap)
            + dwh_etl.extract_incremental(format('%I.sales', v_schema), 'bronze.sales_sales', '_dwh_arrived_at', v_cap)
            + dwh_etl.extract_incremental(format('%I.deleted_records', v_schema), 'bronze.sales_deleted_records', '_dwh_arrived_at', v_cap);
    RAISE DEBUG 'sales.extract_source: % rows', v_rows;
END;
$$;
COMMENT ON PROCEDURE sales.extract_source(bigint, date) IS 'Step: extract changed customers, products, sales and tombstones from the source schema (setting sales.source_schema) into bronze.';
