-- depends: 0025_create_bronze
-- The mart kind's table form (issue 10): sales.agg_daily_sales is rebuilt for the queued dates by
-- dwh_etl.step_mart from the view silver.sales_agg_daily_sales_rows (procedures/), so its custom step
-- procedure goes. Nobody else calls it (no seed, test or doc names it).
DROP PROCEDURE IF EXISTS sales.refresh_agg_daily_sales(bigint, date);
