-- Step (gold): changed silver sales lines -> sales.fact_sales. Each line's fact row is replaced
-- (delete + insert, so a line whose date moved changes partition), deleted lines are removed, and
-- each row points at the customer and product versions current at its transaction time. Partitions
-- are created ahead, and the touched dates are queued for the aggregates.
CREATE OR REPLACE PROCEDURE sales.load_fact_sales(
    p_run_id   bigint,
    p_run_date date
)
LANGUAGE plpgsql
SET search_path = sales, pg_temp
AS $$
DECLARE
    v_win      record := dwh_etl.window_bounds('sales.fact_sales');
    v_batch    uuid := COALESCE((dwh_lineage._current_run()).batch_id, gen_random_uuid());
    -- a sale's business day and time of day are those of the shop's zone, never the session's: under
    -- PGTZ=Asia/Tokyo a 23:30Z sale got the next day's date_key (issue 9)
    v_zone     text := dwh_etl.setting_timezone('sales.source_timezone');
    v_min      date;
    v_max      date;
    v_deleted  bigint;
    v_inserted bigint;
    v_read     bigint;
BEGIN
    -- tells plpgsql_check the shape of the temp table created below
    PERFORM 'PRAGMA:TABLE: _fact_delta (LIKE silver.sales_sales)';
    CREATE TEMP TABLE _fact_delta ON COMMIT DROP AS
    SELECT s.*
    FROM silver.sales_sales AS s
    WHERE s._loaded_at >= v_win.from_ts
      AND s._loaded_at < v_win.to_ts;
    GET DIAGNOSTICS v_read = ROW_COUNT;
    ANALYZE _fact_delta;

    -- silver accepts only event times within dwh_etl.event_time_bounds, so this range is the data's
    -- real one (a year-1 sale never reaches here to request partitions from year 1)
    SELECT min(d.transaction_at AT TIME ZONE v_zone)::date, max(d.transaction_at AT TIME ZONE v_zone)::date
    INTO v_min, v_max
    FROM _fact_delta AS d;
    IF v_min IS NOT NULL THEN
        IF (SELECT count(*) FROM gold.dim_date AS dd WHERE dd.full_date BETWEEN v_min AND v_max) < v_max - v_min + 1 THEN
            CALL dwh_etl.generate_dim_date(in_start_date => v_min, in_end_date => v_max);
        END IF;
        IF NOT EXISTS (SELECT 1 FROM gold.dim_time_of_day) THEN
            CALL dwh_etl.generate_dim_time_of_day();
        END IF;
        PERFORM dwh_etl.ensure_partitions('sales.fact_sales', v_min, GREATEST(v_max, CURRENT_DATE), 3);
    END IF;

    INSERT INTO dwh_staging.sales_affected_dates (date_key, run_id)
    SELECT f.date_key, p_run_id
    FROM sales.fact_sales AS f
    JOIN _fact_delta AS d
      ON d.sale_id = f.sale_id
    UNION
    SELECT to_char(d.transaction_at AT TIME ZONE v_zone, 'YYYYMMDD')::integer, p_run_id
    FROM _fact_delta AS d
    WHERE NOT d.is_deleted
    ON CONFLICT (date_key) DO NOTHING;

    DELETE FROM sales.fact_sales AS f
    USING _fact_delta AS d
    WHERE f.sale_id = d.sale_id;
    GET DIAGNOSTICS v_deleted = ROW_COUNT;

    INSERT INTO sales.fact_sales (
        sale_id, order_id, line_number, date_key, time_key, customer_key, product_key,
        quantity, unit_price, discount_amount, transaction_at, _batch_id
    )
    SELECT d.sale_id, d.order_id, d.line_number,
           to_char(d.transaction_at AT TIME ZONE v_zone, 'YYYYMMDD')::integer,
           to_char(d.transaction_at AT TIME ZONE v_zone, 'HH24MISS')::integer,
           COALESCE(ck.customer_key, ck0.customer_key),
           COALESCE(pk.product_key, pk0.product_key),
           d.quantity, d.unit_price, d.discount_amount, d.transaction_at, v_batch
    FROM _fact_delta AS d
    -- the version valid at the sale; a sale older than the first version takes the first version
    LEFT JOIN LATERAL (
        SELECT c.customer_key FROM sales.dim_customer AS c
        WHERE c.customer_id = d.customer_id AND c.valid_from <= d.transaction_at
        ORDER BY c.valid_from DESC LIMIT 1
    ) AS ck ON true
    LEFT JOIN LATERAL (
        SELECT c.customer_key FROM sales.dim_customer AS c
        WHERE c.customer_id = d.customer_id AND ck.customer_key IS NULL
        ORDER BY c.valid_from LIMIT 1
    ) AS ck0 ON true
    LEFT JOIN LATERAL (
        SELECT p.product_key FROM sales.dim_product AS p
        WHERE p.product_id = d.product_id AND p.valid_from <= d.transaction_at
        ORDER BY p.valid_from DESC LIMIT 1
    ) AS pk ON true
    LEFT JOIN LATERAL (
        SELECT p.product_key FROM sales.dim_product AS p
        WHERE p.product_id = d.product_id AND pk.product_key IS NULL
        ORDER BY p.valid_from LIMIT 1
    ) AS pk0 ON true
    WHERE NOT d.is_deleted;
    GET DIAGNOSTICS v_inserted = ROW_COUNT;

    PERFORM dwh_lineage.log_transformation(
        in_source_table  => 'silver.sales_sales',
        in_target_table  => 'sales.fact_sales',
        in_batch_id      => v_batch,
        in_rows_inserted => v_inserted,
        in_rows_deleted  => v_deleted,
        in_notes         => format('%s silver rows read; %s fact rows replaced or removed', v_read, v_deleted));
    CALL dwh_etl.set_watermark('sales.fact_sales', '_loaded_at', v_win.to_ts);
    DROP TABLE _fact_delta;
END;
$$;
COMMENT ON PROCEDURE sales.load_fact_sales(bigint, date) IS 'Step: silver sales lines -> sales.fact_sales (point-in-time dimension versions, partitions ahead, affected dates queued).';
