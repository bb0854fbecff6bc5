-- Seed 004: CALL sp_aggregate_sales_report('2025-01-01', '2025-01-31'); SELECT * FROM temp_sales_report;
-- Builds the session's temp_sales_report: one row per product group and day of the range.
CREATE OR REPLACE PROCEDURE sales.sp_aggregate_sales_report(
    p_start_date date,
    p_end_date   date
)
LANGUAGE plpgsql
SET search_path = sales, pg_temp
AS $$
BEGIN
    IF p_start_date IS NULL OR p_end_date IS NULL OR p_end_date < p_start_date THEN
        RAISE EXCEPTION 'invalid report range % .. %', p_start_date, p_end_date
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'pass a start date on or before the end date';
    END IF;
    -- not DROP TABLE IF EXISTS pg_temp...: before the session's first temp table its temp schema does
    -- not exist, and that printed NOTICE: schema "pg_temp" does not exist, skipping (issue 18)
    IF to_regclass('pg_temp.temp_sales_report') IS NOT NULL THEN
        DROP TABLE pg_temp.temp_sales_report;
    END IF;
    CREATE TEMP TABLE temp_sales_report AS
    SELECT d.full_date        AS sales_date,
           p.product_group,
           count(DISTINCT f.order_id)    AS order_count,
           count(DISTINCT c.customer_id) AS customer_count,
           sum(f.quantity)               AS total_quantity,
           sum(f.line_total)             AS total_revenue,
           round(sum(f.line_total) / count(DISTINCT f.order_id), 2) AS avg_order_value
    FROM sales.fact_sales AS f
    JOIN gold.dim_date AS d
      ON d.date_key = f.date_key
    JOIN sales.dim_product AS p
      ON p.product_key = f.product_key
    JOIN sales.dim_customer AS c
      ON c.customer_key = f.customer_key
    WHERE f.date_key BETWEEN to_char(p_start_date, 'YYYYMMDD')::integer AND to_char(p_end_date, 'YYYYMMDD')::integer
    GROUP BY d.full_date, p.product_group
    ORDER BY d.full_date, p.product_group;
END;
$$;
COMMENT ON PROCEDURE sales.sp_aggregate_sales_report(date, date) IS 'Seed 004: build temp table temp_sales_report (per day and product group: orders, customers, quantity, revenue, average order value) for a date range.';
