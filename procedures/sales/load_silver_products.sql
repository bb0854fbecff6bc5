-- Step (silver): the products of the new bronze rows, typed and standardized; invalid rows to
-- quarantine; valid rows and tombstones applied as SCD2 history.
CREATE OR REPLACE PROCEDURE sales.load_silver_products(
    p_run_id   bigint,
    p_run_date date
)
LANGUAGE plpgsql
SET search_path = sales, pg_temp
AS $$
DECLARE
    v_win    record := dwh_etl.window_bounds('silver.sales_products');
    -- zone-less source timestamps are read in the shop's zone, never the session's (issue 9)
    v_zone   text := dwh_etl.setting_timezone('sales.source_timezone');
    v_bounds record := dwh_etl.event_time_bounds(p_run_date);
    v_bronze bigint;
    v_bad    bigint;
BEGIN
    -- tells plpgsql_check the shape of the temp table created below
    PERFORM 'PRAGMA:TABLE: _prod_typed (_bronze_id bigint, _record_key text, product_id bigint, product_name text, '
            'product_group text, category text, brand text, unit_price numeric, unit_cost numeric, '
            'is_active boolean, updated_at timestamptz, _raw_product_id text, _raw_unit_price text, '
            '_raw_unit_cost text, _raw_updated_at text, _reasons text[])';
    -- Text is trimmed of every Unicode space (dwh_etl.try_trim); prices must fit numeric(10,2) exactly
    -- (never rounded); change times must lie in the sane event range.
    CREATE TEMP TABLE _prod_typed ON COMMIT DROP AS
    WITH typed AS MATERIALIZED (
        SELECT b._bronze_id,
               -- the key as typed when it is one, else as received (cut to 200 characters plus its md5)
               COALESCE(dwh_etl.try_bigint(b.product_id)::text,
                        CASE WHEN length(b.product_id) > 200 THEN left(b.product_id, 200) || '…md5:' || md5(b.product_id)
                             ELSE b.product_id END)  AS _record_key,
               dwh_etl.try_bigint(b.product_id)           AS product_id,
               dwh_etl.try_trim(b.product_name)           AS product_name,
               initcap(dwh_etl.try_trim(b.product_group)) AS product_group,
               dwh_etl.try_trim(b.category)               AS category,
               dwh_etl.try_trim(b.brand)                  AS brand,
               dwh_etl.try_numeric(b.unit_price)          AS unit_price,
               dwh_etl.try_numeric(b.unit_cost)           AS unit_cost,
               CASE lower(dwh_etl.try_trim(b.is_active)) WHEN 'true' THEN true WHEN 'false' THEN false END AS is_active,
               dwh_etl.try_timestamptz(b.updated_at, v_zone) AS updated_at,
               b.product_id AS _raw_product_id,
               b.unit_price AS _raw_unit_price,
               b.unit_cost  AS _raw_unit_cost,
               b.updated_at AS _raw_updated_at
        FROM bronze.sales_products AS b
        WHERE b._ingested_at >= v_win.from_ts
          AND b._ingested_at < v_win.to_ts
    )
    SELECT t.*,
           dwh_etl.reasons(
               CASE WHEN t.product_id IS NULL THEN dwh_etl.reason_integer('product_id', t._raw_product_id, NULL) END,
               CASE WHEN t.product_name IS NULL THEN 'product_name is empty' END,
               CASE WHEN t.product_group IS NULL THEN 'product_group is empty' END,
               -- indexed in sales.dim_product and part of sales.agg_daily_sales' key
               dwh_etl.reason_text('product_group', t.product_group, 200),
               CASE WHEN t.unit_price IS NULL AND dwh_etl.try_trim(t._raw_unit_price) IS NULL THEN 'unit_price is missing'
                    ELSE COALESCE(dwh_etl.reason_numeric('unit_price', t._raw_unit_price, t.unit_price, 10, 2),
                                  CASE WHEN t.unit_price < 0 THEN format('unit_price %s is negative', t.unit_price) END) END,
               CASE WHEN dwh_etl.try_trim(t._raw_unit_cost) IS NULL THEN NULL
                    ELSE COALESCE(dwh_etl.reason_numeric('unit_cost', t._raw_unit_cost, t.unit_cost, 10, 2),
                                  CASE WHEN t.unit_cost < 0 THEN format('unit_cost %s is negative', t.unit_cost) END) END,
               CASE WHEN t.is_active IS NULL THEN 'is_active is not a boolean' END,
               dwh_etl.reason_timestamp('updated_at', t._raw_updated_at, t.updated_at, v_bounds.min_ts, v_bounds.max_ts)
           ) AS _reasons
    FROM typed AS t;
    GET DIAGNOSTICS v_bronze = ROW_COUNT;

    v_bad := dwh_etl.quarantine_rows('_prod_typed', 'bronze.sales_products', 'silver.sales_products');
    -- every bronze row is accepted (one per key and change time), quarantined, or a collapsed duplicate
    PERFORM dwh_etl.reconcile(
        p_target      => 'silver.sales_products',
        p_source      => 'bronze.sales_products',
        p_read        => (SELECT count(*) FROM bronze.sales_products AS b
                          WHERE b._ingested_at >= v_win.from_ts AND b._ingested_at < v_win.to_ts),
        p_accepted    => (SELECT count(*) FROM (SELECT DISTINCT t.product_id, t.updated_at FROM _prod_typed AS t
                                                WHERE cardinality(t._reasons) = 0) AS d),
        p_quarantined => v_bad,
        p_duplicates  => (SELECT count(*) - count(DISTINCT (t.product_id, t.updated_at)) FROM _prod_typed AS t
                          WHERE cardinality(t._reasons) = 0));

    PERFORM 'PRAGMA:TABLE: _prod_stage (product_id bigint, product_name text, product_group text, category text, '
            'brand text, unit_price numeric, unit_cost numeric, is_active boolean, '
            'change_ts timestamptz, is_deleted boolean)';
    CREATE TEMP TABLE _prod_stage ON COMMIT DROP AS
    SELECT t.product_id, t.product_name, t.product_group, t.category, t.brand, t.unit_price, t.unit_cost,
           t.is_active, t.updated_at AS change_ts, false AS is_deleted
    FROM _prod_typed AS t
    WHERE cardinality(t._reasons) = 0
    UNION ALL
    SELECT p.product_id, p.product_name, p.product_group, p.category, p.brand, p.unit_price, p.unit_cost,
           p.is_active, dwh_etl.try_timestamptz(d.deleted_at, v_zone), true
    FROM bronze.sales_deleted_records AS d
    JOIN silver.sales_products AS p
      ON p.product_id = dwh_etl.try_bigint(d.record_id)
     AND p.is_current
    WHERE d.table_name = 'products'
      AND d._ingested_at >= v_win.from_ts
      AND d._ingested_at < v_win.to_ts;

    PERFORM dwh_etl.apply_dimension('sales.silver_products', '_prod_stage', p_lineage_source => 'bronze.sales_products');
    PERFORM dwh_lineage.log_transformation(
        in_source_table  => 'bronze.sales_products',
        in_target_table  => 'silver.sales_products',
        in_batch_id      => NULL,
        in_rows_rejected => v_bad,
        in_notes         => format('%s bronze rows: %s valid, %s quarantined', v_bronze, v_bronze - v_bad, v_bad));
    CALL dwh_etl.set_watermark('silver.sales_products', '_ingested_at', v_win.to_ts);
    DROP TABLE _prod_typed, _prod_stage;
END;
$$;
COMMENT ON PROCEDURE sales.load_silver_products(bigint, date) IS 'Step: bronze products -> silver.sales_products (typed, standardized, quarantined when invalid, SCD2 history).';
