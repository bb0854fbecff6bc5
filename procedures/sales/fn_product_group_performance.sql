-- Seed 004: SELECT fn_product_group_performance('Electronics', '2025-01-01', '2025-01-31');
-- A product group's sales over a date range (group as of each sale).
CREATE OR REPLACE FUNCTION sales.fn_product_group_performance(
    p_product_group text,
    p_start_date    date,
    p_end_date      date
)
RETURNS TABLE (
    product_group    text,
    order_count      bigint,
    customer_count   bigint,
    total_quantity   bigint,
    total_revenue    numeric,
    avg_order_value  numeric
)
LANGUAGE sql
STABLE
SET search_path = sales, pg_temp
AS $$
    SELECT p_product_group,
           count(DISTINCT f.order_id),
           count(DISTINCT c.customer_id),
           COALESCE(sum(f.quantity), 0)::bigint,
           COALESCE(sum(f.line_total), 0),
           COALESCE(round(sum(f.line_total) / NULLIF(count(DISTINCT f.order_id), 0), 2), 0)
    FROM sales.fact_sales AS f
    JOIN sales.dim_product AS p
      ON p.product_key = f.product_key
    JOIN sales.dim_customer AS c
      ON c.customer_key = f.customer_key
    WHERE p.product_group = p_product_group
      AND f.date_key BETWEEN to_char(p_start_date, 'YYYYMMDD')::integer AND to_char(p_end_date, 'YYYYMMDD')::integer;
$$;
COMMENT ON FUNCTION sales.fn_product_group_performance(text, date, date) IS 'Seed 004: orders, customers, quantity, revenue and average order value of a product group in a date range.';
