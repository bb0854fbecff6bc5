-- depends: 0044_citus_plan_local_calendar
-- sales.mv_customer_lifetime_value computed from sales.customer_metrics instead of every fact row (issue
-- 15: its REFRESH CONCURRENTLY read all of sales.fact_sales on every run, 2.6 s of a next day at scale 1).
-- sales.customer_metrics holds the same per-customer aggregates over all versions of a customer (distinct
-- orders, sum of line_total, first and last purchase date), kept current for the customers whose facts
-- changed (migration 0043); the view is still a materialized view, refreshed CONCURRENTLY by the same step
-- (now after the metrics step) and by the seed 002 alias dwh_etl.refresh_customer_ltv(), which refreshes
-- the metrics first. Same columns, types and rows as before (tests/test_customer_metrics_incremental.py
-- compares it with the fact-based definition).
DROP MATERIALIZED VIEW sales.mv_customer_lifetime_value;
CREATE MATERIALIZED VIEW sales.mv_customer_lifetime_value AS
SELECT c.customer_key,
       c.customer_id,
       c.email,
       c.full_name AS name,
       c.customer_segment,
       COALESCE(m.total_orders, 0)::bigint   AS total_orders,
       COALESCE(m.total_spent, 0)::numeric   AS lifetime_value,
       CASE WHEN m.total_orders > 0 THEN round(m.total_spent::numeric / m.total_orders, 2) ELSE 0 END AS avg_order_value,
       m.first_purchase_date AS first_order_date,
       m.last_purchase_date  AS last_order_date,
       m.last_purchase_date - m.first_purchase_date AS customer_tenure_days
FROM sales.dim_customer AS c
LEFT JOIN sales.customer_metrics AS m
  ON m.customer_id = c.customer_id
WHERE c.is_current;
CREATE UNIQUE INDEX mv_customer_ltv_pk ON sales.mv_customer_lifetime_value (customer_id);
CREATE INDEX mv_customer_ltv_value ON sales.mv_customer_lifetime_value (lifetime_value DESC);
COMMENT ON MATERIALIZED VIEW sales.mv_customer_lifetime_value IS 'Lifetime value of every current customer across all their versions (seed 002), from sales.customer_metrics, refreshed CONCURRENTLY after each load.';
GRANT SELECT, INSERT, UPDATE, DELETE ON sales.mv_customer_lifetime_value TO etl_service;
GRANT SELECT ON sales.mv_customer_lifetime_value TO analyst_role;
COMMENT ON COLUMN sales.mv_customer_lifetime_value.customer_key IS 'Current version of the customer (sales.dim_customer).';
COMMENT ON COLUMN sales.mv_customer_lifetime_value.customer_id IS 'The customer (natural key); one row per current customer.';
COMMENT ON COLUMN sales.mv_customer_lifetime_value.email IS 'Current e-mail address.';
COMMENT ON COLUMN sales.mv_customer_lifetime_value.name IS 'Current full name.';
COMMENT ON COLUMN sales.mv_customer_lifetime_value.customer_segment IS 'Current segment.';
COMMENT ON COLUMN sales.mv_customer_lifetime_value.total_orders IS 'Distinct orders over all versions of the customer.';
COMMENT ON COLUMN sales.mv_customer_lifetime_value.lifetime_value IS 'Sum of line_total over all versions of the customer.';
COMMENT ON COLUMN sales.mv_customer_lifetime_value.avg_order_value IS 'lifetime_value / total_orders.';
COMMENT ON COLUMN sales.mv_customer_lifetime_value.first_order_date IS 'Date of the first order.';
COMMENT ON COLUMN sales.mv_customer_lifetime_value.last_order_date IS 'Date of the latest order.';
COMMENT ON COLUMN sales.mv_customer_lifetime_value.customer_tenure_days IS 'Days from first_order_date to last_order_date.';
