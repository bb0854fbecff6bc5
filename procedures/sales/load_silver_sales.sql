-- Step (silver): the sales lines of the new bronze rows, typed and validated (positive quantity,
-- non-negative amounts, a customer and a product silver knows); invalid lines to quarantine with every
-- reason. Valid lines upsert the latest state per sale_id; tombstones flag deleted lines.
CREATE OR REPLACE PROCEDURE sales.load_silver_sales(
    p_run_id   bigint,
    p_run_date date
)
LANGUAGE plpgsql
SET search_path = sales, pg_temp
AS $$
DECLARE
    v_win     record := dwh_etl.window_bounds('silver.sales_sales');
    v_bronze  bigint;
    v_bad     bigint;
    v_dups    bigint;
    v_upsert  bigint;
    v_deleted bigint;
BEGIN
    -- tells plpgsql_check the shape of the temp table created below
    PERFORM 'PRAGMA:TABLE: _sales_typed (_bronze_id bigint, _record_key text, sale_id bigint, order_id bigint, '
            'line_number bigint, customer_id bigint, product_id bigint, quantity bigint, '
            'unit_price numeric, discount_amount numeric, transaction_at timestamptz, '
            'updated_at timestamptz, _raw_quantity text, _raw_customer_id text, _raw_product_id text, '
            '_customer_known boolean, _product_known boolean, _reasons text[])';
    CREATE TEMP TABLE _sales_typed ON COMMIT DROP AS
    WITH typed AS MATERIALIZED (
        SELECT b._bronze_id,
               b.sale_id AS _record_key,
               dwh_etl.try_bigint(b.sale_id)               AS sale_id,
               dwh_etl.try_bigint(b.order_id)              AS order_id,
               dwh_etl.try_bigint(b.line_number)           AS line_number,
               dwh_etl.try_bigint(b.customer_id)           AS customer_id,
               dwh_etl.try_bigint(b.product_id)            AS product_id,
               dwh_etl.try_bigint(b.quantity)              AS quantity,
               dwh_etl.try_numeric(b.unit_price)           AS unit_price,
               COALESCE(dwh_etl.try_numeric(b.discount_amount), CASE WHEN b.discount_amount IS NULL THEN 0 END) AS discount_amount,
               dwh_etl.try_timestamptz(b.transaction_date) AS transaction_at,
               dwh_etl.try_timestamptz(b.updated_at)       AS updated_at,
               b.quantity AS _raw_quantity,
               b.customer_id AS _raw_customer_id,
               b.product_id AS _raw_product_id
        FROM bronze.sales_sales AS b
        WHERE b._ingested_at >= v_win.from_ts
          AND b._ingested_at < v_win.to_ts
    ),
    checked AS (
        -- every key silver ever loaded has a current row (deletions are marker versions)
        SELECT t.*, c.customer_id IS NOT NULL AS _customer_known, p.product_id IS NOT NULL AS _product_known
        FROM typed AS t
        LEFT JOIN silver.sales_customers AS c
          ON c.customer_id = t.customer_id
         AND c.is_current
        LEFT JOIN silver.sales_products AS p
          ON p.product_id = t.product_id
         AND p.is_current
    )
    SELECT t.*,
           dwh_etl.reasons(
               CASE WHEN t.sale_id IS NULL THEN format('sale_id %s is not an integer', COALESCE(quote_literal(t._record_key), 'NULL')) END,
               CASE WHEN t.order_id IS NULL THEN 'order_id is not an integer' END,
               CASE WHEN t.line_number IS NULL OR t.line_number NOT BETWEEN 1 AND 32767 THEN 'line_number is not a valid line number' END,
               CASE WHEN t.customer_id IS NULL THEN format('customer_id %s is not an integer', COALESCE(quote_literal(t._raw_customer_id), 'NULL'))
                    WHEN NOT t._customer_known THEN format('unknown customer_id %s', t.customer_id) END,
               CASE WHEN t.product_id IS NULL THEN format('product_id %s is not an integer', COALESCE(quote_literal(t._raw_product_id), 'NULL'))
                    WHEN NOT t._product_known THEN format('unknown product_id %s', t.product_id) END,
               CASE WHEN t.quantity IS NULL THEN format('quantity %s is not an integer', COALESCE(quote_literal(t._raw_quantity), 'NULL'))
                    WHEN t.quantity <= 0 THEN format('quantity %s is not positive', t.quantity)
                    WHEN t.quantity > 2147483647 THEN 'quantity is out of range' END,
               CASE WHEN t.unit_price IS NULL THEN 'unit_price is not a number'
                    WHEN t.unit_price < 0 THEN 'unit_price is negative'
                    WHEN t.unit_price >= 100000000 THEN 'unit_price is out of range' END,
               CASE WHEN t.discount_amount IS NULL THEN 'discount_amount is not a number'
                    WHEN t.discount_amount < 0 THEN 'discount_amount is negative' END,
               CASE WHEN t.transaction_at IS NULL THEN 'transaction_date is not a valid timestamp' END,
               CASE WHEN t.updated_at IS NULL THEN 'updated_at is not a valid timestamp' END
           ) AS _reasons
    FROM checked AS t;
    GET DIAGNOSTICS v_bronze = ROW_COUNT;

    v_bad := dwh_etl.quarantine_rows('_sales_typed', 'bronze.sales_sales', 'silver.sales_sales');

    -- Latest state per sale_id in the window (a line changed twice between runs arrives twice).
    PERFORM 'PRAGMA:TABLE: _sales_latest (LIKE _sales_typed)';
    CREATE TEMP TABLE _sales_latest ON COMMIT DROP AS
    SELECT DISTINCT ON (t.sale_id) t.*
    FROM _sales_typed AS t
    WHERE cardinality(t._reasons) = 0
    ORDER BY t.sale_id, t.updated_at DESC, t._bronze_id DESC;
    v_dups := (SELECT count(*) FROM _sales_typed AS t WHERE cardinality(t._reasons) = 0)
              - (SELECT count(*) FROM _sales_latest);
    PERFORM dwh_etl.reconcile(
        p_target      => 'silver.sales_sales',
        p_source      => 'bronze.sales_sales',
        p_read        => (SELECT count(*) FROM bronze.sales_sales AS b
                          WHERE b._ingested_at >= v_win.from_ts AND b._ingested_at < v_win.to_ts),
        p_accepted    => (SELECT count(*) FROM _sales_latest),
        p_quarantined => v_bad,
        p_duplicates  => v_dups);

    INSERT INTO silver.sales_sales AS s (
        sale_id, order_id, line_number, customer_id, product_id, quantity, unit_price, discount_amount,
        transaction_at, source_updated_at, is_deleted, _batch_id, _loaded_at
    )
    SELECT l.sale_id, l.order_id, l.line_number, l.customer_id, l.product_id, l.quantity, l.unit_price,
           l.discount_amount, l.transaction_at, l.updated_at, false,
           COALESCE((dwh_lineage._current_run()).batch_id, gen_random_uuid()), now()
    FROM _sales_latest AS l
    ON CONFLICT (sale_id) DO UPDATE
    SET order_id = EXCLUDED.order_id,
        line_number = EXCLUDED.line_number,
        customer_id = EXCLUDED.customer_id,
        product_id = EXCLUDED.product_id,
        quantity = EXCLUDED.quantity,
        unit_price = EXCLUDED.unit_price,
        discount_amount = EXCLUDED.discount_amount,
        transaction_at = EXCLUDED.transaction_at,
        source_updated_at = EXCLUDED.source_updated_at,
        is_deleted = false,
        _batch_id = EXCLUDED._batch_id,
        _loaded_at = EXCLUDED._loaded_at
    WHERE s.source_updated_at <= EXCLUDED.source_updated_at
      AND (s.order_id, s.line_number, s.customer_id, s.product_id, s.quantity, s.unit_price,
           s.discount_amount, s.transaction_at, s.is_deleted)
          IS DISTINCT FROM
          (EXCLUDED.order_id, EXCLUDED.line_number, EXCLUDED.customer_id, EXCLUDED.product_id, EXCLUDED.quantity,
           EXCLUDED.unit_price, EXCLUDED.discount_amount, EXCLUDED.transaction_at, false);
    GET DIAGNOSTICS v_upsert = ROW_COUNT;

    UPDATE silver.sales_sales AS s
    SET is_deleted = true,
        _batch_id = COALESCE((dwh_lineage._current_run()).batch_id, gen_random_uuid()),
        _loaded_at = now()
    FROM bronze.sales_deleted_records AS d
    WHERE d.table_name = 'sales'
      AND d._ingested_at >= v_win.from_ts
      AND d._ingested_at < v_win.to_ts
      AND s.sale_id = dwh_etl.try_bigint(d.record_id)
      AND NOT s.is_deleted
      AND s.source_updated_at <= dwh_etl.try_timestamptz(d.deleted_at);
    GET DIAGNOSTICS v_deleted = ROW_COUNT;

    PERFORM dwh_lineage.log_transformation(
        in_source_table   => 'bronze.sales_sales',
        in_target_table   => 'silver.sales_sales',
        in_batch_id       => NULL,
        in_rows_inserted  => v_upsert,
        in_rows_unchanged => (SELECT count(*) FROM _sales_latest) - v_upsert,
        in_rows_rejected  => v_bad,
        in_rows_deleted   => v_deleted,
        in_notes          => format('%s bronze rows = %s upserted + %s unchanged + %s quarantined + %s duplicates collapsed; %s deleted',
                                    v_bronze, v_upsert, (SELECT count(*) FROM _sales_latest) - v_upsert, v_bad, v_dups, v_deleted));
    CALL dwh_etl.set_watermark('silver.sales_sales', '_ingested_at', v_win.to_ts);
    DROP TABLE _sales_typed, _sales_latest;
END;
$$;
COMMENT ON PROCEDURE sales.load_silver_sales(bigint, date) IS 'Step: bronze sales -> silver.sales_sales (typed, validated against silver customers and products, quarantined when invalid, latest state per sale, deletes flagged).';
