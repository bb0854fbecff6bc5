-- The rows of sales.agg_daily_sales, for its mart step (kind mart, table form: dwh_etl.step_mart rebuilds
-- the dates queued in dwh_staging.sales_affected_dates from this view, filtering on date_key, which is
-- pushed into the grouping and prunes fact_sales' partitions). Daily sales by customer segment and product
-- group; segment and group are those of the dimension versions current at each sale (the fact's keys).
-- tax_total sums the lines' tax_amount. avg_order_value is net_revenue / order_count (seed 002 averaged lines). In silver: analysts never read
-- silver, and they read the result in sales.agg_daily_sales anyway.
CREATE OR REPLACE VIEW silver.sales_agg_daily_sales_rows AS
SELECT f.date_key,
       COALESCE(c.customer_segment, 'Unknown') AS customer_segment,
       COALESCE(p.product_group, 'Unknown') AS product_category,
       count(DISTINCT f.order_id)::integer AS order_count,
       sum(f.quantity)::integer AS item_count,
       sum(f.quantity * f.unit_price)::numeric(14,2) AS gross_revenue,
       sum(f.discount_amount)::numeric(14,2) AS discount_total,
       sum(f.tax_amount)::numeric(14,2) AS tax_total,
       sum(f.line_total)::numeric(14,2) AS net_revenue,
       round(sum(f.line_total) / count(DISTINCT f.order_id), 2)::numeric(12,2) AS avg_order_value
FROM sales.fact_sales AS f
JOIN sales.dim_customer AS c
  ON c.customer_key = f.customer_key
JOIN sales.dim_product AS p
  ON p.product_key = f.product_key
GROUP BY f.date_key, COALESCE(c.customer_segment, 'Unknown'), COALESCE(p.product_group, 'Unknown');
COMMENT ON VIEW silver.sales_agg_daily_sales_rows IS 'The rows of sales.agg_daily_sales (daily sales by customer segment and product group), for its mart step, which reads the queued dates only.';
REVOKE ALL ON silver.sales_agg_daily_sales_rows FROM PUBLIC;
GRANT SELECT ON silver.sales_agg_daily_sales_rows TO etl_service;
