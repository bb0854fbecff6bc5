-- Step (mart): recompute sales.agg_daily_sales for the dates the fact load queued, and only those.
-- Segment and group are those of the dimension versions current at each sale.
CREATE OR REPLACE PROCEDURE sales.refresh_agg_daily_sales(
    p_run_id   bigint,
    p_run_date date
)
LANGUAGE plpgsql
SET search_path = sales, pg_temp
AS $$
DECLARE
    v_batch    uuid := (dwh_etl.get_run_context(p_run_id)).batch_id;
    v_deleted  bigint;
    v_inserted bigint;
BEGIN
    PERFORM dwh_etl.lock_step('sales.agg_daily_sales');
    -- tells plpgsql_check the shape of the temp table created below
    PERFORM 'PRAGMA:TABLE: _agg_dates (date_key integer)';
    CREATE TEMP TABLE _agg_dates ON COMMIT DROP AS
    SELECT a.date_key FROM dwh_staging.sales_affected_dates AS a;

    DELETE FROM sales.agg_daily_sales AS g
    USING _agg_dates AS a
    WHERE g.date_key = a.date_key;
    GET DIAGNOSTICS v_deleted = ROW_COUNT;

    INSERT INTO sales.agg_daily_sales (
        date_key, customer_segment, product_category, order_count, item_count,
        gross_revenue, discount_total, tax_total, net_revenue, avg_order_value, _batch_id
    )
    SELECT f.date_key,
           COALESCE(c.customer_segment, 'Unknown'),
           COALESCE(p.product_group, 'Unknown'),
           count(DISTINCT f.order_id),
           sum(f.quantity),
           sum(f.quantity * f.unit_price),
           sum(f.discount_amount),
           0,
           sum(f.line_total),
           round(sum(f.line_total) / count(DISTINCT f.order_id), 2),
           v_batch
    FROM sales.fact_sales AS f
    JOIN _agg_dates AS a
      ON a.date_key = f.date_key
    JOIN sales.dim_customer AS c
      ON c.customer_key = f.customer_key
    JOIN sales.dim_product AS p
      ON p.product_key = f.product_key
    GROUP BY f.date_key, COALESCE(c.customer_segment, 'Unknown'), COALESCE(p.product_group, 'Unknown');
    GET DIAGNOSTICS v_inserted = ROW_COUNT;

    DELETE FROM dwh_staging.sales_affected_dates AS s
    USING _agg_dates AS a
    WHERE s.date_key = a.date_key;

    PERFORM dwh_lineage.log_aggregation(
        in_source_table  => 'sales.fact_sales',
        in_target_table  => 'sales.agg_daily_sales',
        in_batch_id      => v_batch,
        in_rows_inserted => v_inserted,
        in_rows_deleted  => v_deleted,
        in_run_id        => p_run_id);
    DROP TABLE _agg_dates;
END;
$$;
COMMENT ON PROCEDURE sales.refresh_agg_daily_sales(bigint, date) IS 'Step: recompute sales.agg_daily_sales for the dates whose facts changed (dwh_staging.sales_affected_dates).';
