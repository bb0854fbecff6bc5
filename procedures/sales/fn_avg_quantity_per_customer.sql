-- Seed 004: SELECT fn_avg_quantity_per_customer(5); the average quantity per sales line of a customer
-- (natural customer_id, across all versions). NULL when the customer bought nothing.
CREATE OR REPLACE FUNCTION sales.fn_avg_quantity_per_customer(p_customer_id bigint)
RETURNS numeric
LANGUAGE sql
STABLE
SET search_path = sales, pg_temp
AS $$
    SELECT round(avg(f.quantity), 2)
    FROM sales.fact_sales AS f
    JOIN sales.dim_customer AS c
      ON c.customer_key = f.customer_key
    WHERE c.customer_id = p_customer_id;
$$;
COMMENT ON FUNCTION sales.fn_avg_quantity_per_customer(bigint) IS 'Seed 004: average quantity per sales line of a customer (by customer_id).';
