-- Seed 004's "row counts by layer" query as a view.
CREATE OR REPLACE VIEW sales.vw_row_counts_by_layer AS
SELECT 'operational' AS layer, 'sales_src.sales' AS table_name, count(*) AS row_count FROM sales_src.sales
UNION ALL
SELECT 'mrr', 'bronze.sales_sales', count(*) FROM bronze.sales_sales
UNION ALL
SELECT 'stg', 'silver.sales_sales', count(*) FROM silver.sales_sales
UNION ALL
SELECT 'dwh', 'sales.fact_sales', count(*) FROM sales.fact_sales;
COMMENT ON VIEW sales.vw_row_counts_by_layer IS 'Seed 004: rows of the sales table in each layer (bronze is append-only, so it counts every extracted version).';
