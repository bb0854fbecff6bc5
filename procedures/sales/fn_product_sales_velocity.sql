-- Seed 004: SELECT fn_product_sales_velocity(10, 30); units of a product sold per day over the last
-- p_days days up to today (the days without sales count as zero).
CREATE OR REPLACE FUNCTION sales.fn_product_sales_velocity(
    p_product_id bigint,
    p_days       integer DEFAULT 30
)
RETURNS numeric
LANGUAGE plpgsql
STABLE
SET search_path = sales, pg_temp
AS $$
BEGIN
    IF p_days IS NULL OR p_days < 1 THEN
        RAISE EXCEPTION 'p_days must be at least 1, got %', p_days
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN (
        SELECT round(COALESCE(sum(f.quantity), 0)::numeric / p_days, 4)
        FROM sales.fact_sales AS f
        JOIN sales.dim_product AS p
          ON p.product_key = f.product_key
        WHERE p.product_id = p_product_id
          AND f.date_key > to_char(CURRENT_DATE - p_days, 'YYYYMMDD')::integer
          AND f.date_key <= to_char(CURRENT_DATE, 'YYYYMMDD')::integer
    );
END;
$$;
COMMENT ON FUNCTION sales.fn_product_sales_velocity(bigint, integer) IS 'Seed 004: average units of a product sold per day over the last p_days days (today included).';
