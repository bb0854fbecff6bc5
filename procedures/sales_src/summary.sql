-- Row counts of the operational tables, for quick checks: SELECT * FROM sales_src.summary();
CREATE OR REPLACE FUNCTION sales_src.summary()
RETURNS TABLE (
    table_name  text,
    row_count   bigint
)
LANGUAGE sql
STABLE
SET search_path = sales_src, pg_temp
AS $$
    SELECT 'customers'::text, count(*) FROM sales_src.customers
    UNION ALL
    SELECT 'products'::text, count(*) FROM sales_src.products
    UNION ALL
    SELECT 'sales'::text, count(*) FROM sales_src.sales
    UNION ALL
    SELECT 'deleted_records'::text, count(*) FROM sales_src.deleted_records;
$$;
COMMENT ON FUNCTION sales_src.summary() IS 'Row counts of sales_src.customers, products, sales and deleted_records.';
