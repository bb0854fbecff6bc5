-- Step (silver): the sales lines of the new bronze rows, typed and validated (positive quantity,
-- non-negative amounts, a customer and a product silver knows, values that fit their columns, event
-- times within dwh_etl.event_time_bounds); invalid lines to quarantine with every reason. Valid lines upsert the latest state per sale_id; tombstones flag deleted lines.
CREATE OR REPLACE PROCEDURE sales.load_silver_sales(
    p_run_id   bigint,
    p_run_date date
)
LANGUAGE plpgsql
SET search_path = sales, pg_temp
AS $$
DECLARE
    v_win     record := dwh_etl.window_bounds('silver.sales_sales');
    -- zone-less source timestamps are read in the shop's zone, never the session's (issue 9)
    v_zone    text := dwh_etl.setting_timezone('sales.source_timezone');
    v_bounds  record := dwh_etl.event_time_bounds(p_run_date);
    v_max_qty   numeric;
    v_max_price numeric;
    v_bronze  bigint;
    v_bad     bigint;
    v_dups    bigint;
    v_upsert  bigint;
    v_deleted bigint;
BEGIN
    -- Row-level limits of silver's error range rules: a row past them is quarantined here instead of
    -- failing the whole step when the rule is evaluated after it (quantity 20000 or a price of 5,000,000
    -- rolled back every good row of the batch). The rules stay as a safety net, and the fact table's
    -- own rules (same limits by default) still stop the fact step when only they are tightened.
    SELECT min((r.params->>'max')::numeric) FILTER (WHERE 'quantity' = ANY (r.column_names)),
           min((r.params->>'max')::numeric) FILTER (WHERE 'unit_price' = ANY (r.column_names))
    INTO v_max_qty, v_max_price
    FROM dwh_etl.quality_rules AS r
    WHERE r.table_name = 'silver.sales_sales'
      AND r.rule_type = 'range'
      AND r.severity = 'error'
      AND r.is_enabled
      AND r.params ? 'max'
      AND NOT r.params ? 'where';

    -- tells plpgsql_check the shape of the temp table created below
    PERFORM 'PRAGMA:TABLE: _sales_typed (_bronze_id bigint, _record_key text, sale_id bigint, order_id bigint, '
            'line_number bigint, customer_id bigint, product_id bigint, quantity bigint, '
            'unit_price numeric, discount_amount numeric, transaction_at timestamptz, '
            'updated_at timestamptz, _raw_sale_id text, _raw_order_id text, _raw_line_number text, '
            '_raw_quantity text, _raw_customer_id text, _raw_product_id text, _raw_unit_price text, '
            '_raw_discount_amount text, _raw_transaction_date text, _raw_updated_at text, '
            '_customer_known boolean, _product_known boolean, _reasons text[])';
    -- Every value is typed by a try_* function (NULL when it does not parse) and then checked against
    -- its target column's type (integer vs bigint, numeric precision and scale: nothing is rounded or
    -- overflows at the INSERT), the limits and the sane range of event times; any failure is a reason
    -- and the row goes to quarantine, the rest of the batch loads.
    CREATE TEMP TABLE _sales_typed ON COMMIT DROP AS
    WITH typed AS MATERIALIZED (
        SELECT b._bronze_id,
               -- the key as typed when it is one (so a later valid version supersedes the entry),
               -- else as received, cut to 200 characters (plus its md5) when longer
               COALESCE(dwh_etl.try_bigint(b.sale_id)::text,
                        CASE WHEN length(b.sale_id) > 200 THEN left(b.sale_id, 200) || '…md5:' || md5(b.sale_id)
                             ELSE b.sale_id END)       AS _record_key,
               dwh_etl.try_bigint(b.sale_id)               AS sale_id,
               dwh_etl.try_bigint(b.order_id)              AS order_id,
               dwh_etl.try_bigint(b.line_number)           AS line_number,
               dwh_etl.try_bigint(b.customer_id)           AS customer_id,
               dwh_etl.try_bigint(b.product_id)            AS product_id,
               dwh_etl.try_bigint(b.quantity)              AS quantity,
               dwh_etl.try_numeric(b.unit_price)           AS unit_price,
               -- a missing (NULL or blank) discount is no discount
               COALESCE(dwh_etl.try_numeric(b.discount_amount),
                        CASE WHEN dwh_etl.try_trim(b.discount_amount) IS NULL THEN 0 END) AS discount_amount,
               dwh_etl.try_timestamptz(b.transaction_date, v_zone) AS transaction_at,
               dwh_etl.try_timestamptz(b.updated_at, v_zone)       AS updated_at,
               b.sale_id          AS _raw_sale_id,
               b.order_id         AS _raw_order_id,
               b.line_number      AS _raw_line_number,
               b.quantity         AS _raw_quantity,
               b.customer_id      AS _raw_customer_id,
               b.product_id       AS _raw_product_id,
               b.unit_price       AS _raw_unit_price,
               b.discount_amount  AS _raw_discount_amount,
               b.transaction_date AS _raw_transaction_date,
               b.updated_at       AS _raw_updated_at
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
               CASE WHEN t.sale_id IS NULL THEN dwh_etl.reason_integer('sale_id', t._raw_sale_id, NULL) END,
               CASE WHEN t.order_id IS NULL THEN dwh_etl.reason_integer('order_id', t._raw_order_id, NULL) END,
               CASE WHEN t.line_number IS NULL THEN dwh_etl.reason_integer('line_number', t._raw_line_number, NULL)
                    WHEN t.line_number NOT BETWEEN 1 AND 32767 THEN format('line_number %s is not between 1 and 32767', t.line_number) END,
               CASE WHEN t.customer_id IS NULL THEN dwh_etl.reason_integer('customer_id', t._raw_customer_id, NULL)
                    WHEN NOT t._customer_known THEN format('unknown customer_id %s', t.customer_id) END,
               CASE WHEN t.product_id IS NULL THEN dwh_etl.reason_integer('product_id', t._raw_product_id, NULL)
                    WHEN NOT t._product_known THEN format('unknown product_id %s', t.product_id) END,
               -- the type first (what is wrong with the value itself), then the business checks
               COALESCE(dwh_etl.reason_integer('quantity', t._raw_quantity, t.quantity, 'integer'),
                        CASE WHEN t.quantity <= 0 THEN format('quantity %s is not positive', t.quantity)
                             WHEN t.quantity > v_max_qty THEN format('quantity %s is above the limit %s (quality rule)', t.quantity, v_max_qty) END),
               CASE WHEN t.unit_price IS NULL AND dwh_etl.try_trim(t._raw_unit_price) IS NULL THEN 'unit_price is missing'
                    ELSE COALESCE(dwh_etl.reason_numeric('unit_price', t._raw_unit_price, t.unit_price, 10, 2),
                                  CASE WHEN t.unit_price < 0 THEN format('unit_price %s is negative', t.unit_price)
                                       WHEN t.unit_price > v_max_price THEN format('unit_price %s is above the limit %s (quality rule)', t.unit_price, v_max_price) END) END,
               COALESCE(dwh_etl.reason_numeric('discount_amount', t._raw_discount_amount, t.discount_amount, 10, 2),
                        CASE WHEN t.discount_amount < 0 THEN format('discount_amount %s is negative', t.discount_amount) END),
               -- the fact's generated line_total is numeric(12,2): 10000 x 1,000,000 overflows it
               CASE WHEN abs(t.quantity * t.unit_price - t.discount_amount) >= 10000000000
                    THEN format('line_total %s (quantity x unit_price - discount_amount) is out of range for numeric(12,2)',
                                t.quantity * t.unit_price - t.discount_amount) END,
               dwh_etl.reason_timestamp('transaction_date', t._raw_transaction_date, t.transaction_at, v_bounds.min_ts, v_bounds.max_ts),
               dwh_etl.reason_timestamp('updated_at', t._raw_updated_at, t.updated_at, v_bounds.min_ts, v_bounds.max_ts)
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
      AND s.source_updated_at <= dwh_etl.try_timestamptz(d.deleted_at, v_zone);
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
