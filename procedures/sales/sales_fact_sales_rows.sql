-- The rows of sales.fact_sales, for the fact step (dwh_etl.step_fact, registry/sales.sql): one per silver
-- sales line, deleted lines flagged. A sale's business day and time of day are those of the shop's zone
-- (setting sales.source_timezone), never the session's: under PGTZ=Asia/Tokyo a 23:30Z sale got the next
-- day's date_key (issue 9). The zone is read once per query (an uncorrelated sub-select). In silver:
-- analysts never read silver, not even through a view.
CREATE OR REPLACE VIEW silver.sales_fact_sales_rows AS
SELECT s.sale_id,
       s.order_id,
       s.line_number,
       s.customer_id,
       s.product_id,
       to_char(s.transaction_at AT TIME ZONE (SELECT dwh_etl.setting_timezone('sales.source_timezone')), 'YYYYMMDD')::integer AS date_key,
       to_char(s.transaction_at AT TIME ZONE (SELECT dwh_etl.setting_timezone('sales.source_timezone')), 'HH24MISS')::integer AS time_key,
       s.quantity,
       s.unit_price,
       s.discount_amount,
       s.transaction_at,
       s.is_deleted,
       s._loaded_at,
       s.tax_amount,
       s._source_bronze_id
FROM silver.sales_sales AS s;
COMMENT ON VIEW silver.sales_fact_sales_rows IS 'Fact rows of sales.fact_sales (fact step sales_fact_sales): silver sales lines with their date and time keys in the shop''s zone.';
GRANT SELECT ON silver.sales_fact_sales_rows TO etl_service;
