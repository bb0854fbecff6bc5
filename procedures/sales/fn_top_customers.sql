-- Seed 004: SELECT * FROM fn_top_customers(10); the customers with the highest total spend.
CREATE OR REPLACE FUNCTION sales.fn_top_customers(p_limit integer DEFAULT 10)
RETURNS TABLE (
    customer_id      bigint,
    customer_name    text,
    customer_segment text,
    total_orders     bigint,
    total_spent      numeric
)
LANGUAGE sql
STABLE
SET search_path = sales, pg_temp
AS $$
    WITH spend AS (
        SELECT c.customer_id,
               count(DISTINCT f.order_id) AS total_orders,
               sum(f.line_total)          AS total_spent
        FROM sales.fact_sales AS f
        JOIN sales.dim_customer AS c
          ON c.customer_key = f.customer_key
        GROUP BY c.customer_id
    ),
    latest AS (
        SELECT DISTINCT ON (c.customer_id) c.customer_id, c.full_name, c.customer_segment
        FROM sales.dim_customer AS c
        ORDER BY c.customer_id, c.version DESC
    )
    SELECT s.customer_id, l.full_name, l.customer_segment, s.total_orders, s.total_spent
    FROM spend AS s
    JOIN latest AS l
      ON l.customer_id = s.customer_id
    ORDER BY s.total_spent DESC, s.customer_id
    LIMIT p_limit;
$$;
COMMENT ON FUNCTION sales.fn_top_customers(integer) IS 'Seed 004: top p_limit customers by total spend, with their current name and segment.';
