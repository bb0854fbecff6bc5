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
    v_bronze bigint;
    v_bad    bigint;
BEGIN
    -- tells plpgsql_check the shape of the temp table created below
    PERFORM 'PRAGMA:TABLE: _prod_typed (_bronze_id bigint, _record_key text, product_id bigint, product_name text, '
            'product_group text, category text, brand text, unit_price numeric, unit_cost numeric, '
            'is_active boolean, updated_at timestamptz, _raw_unit_cost text, _reasons text[])';
    CREATE TEMP TABLE _prod_typed ON COMMIT DROP AS
    WITH typed AS MATERIALIZED (
        SELECT b._bronze_id,
               b.product_id AS _record_key,
               dwh_etl.try_bigint(b.product_id)           AS product_id,
               btrim(b.product_name)                      AS product_name,
               initcap(btrim(b.product_group))            AS product_group,
               NULLIF(btrim(b.category), '')              AS category,
               NULLIF(btrim(b.brand), '')                 AS brand,
               dwh_etl.try_numeric(b.unit_price)          AS unit_price,
               dwh_etl.try_numeric(b.unit_cost)           AS unit_cost,
               CASE lower(btrim(b.is_active)) WHEN 'true' THEN true WHEN 'false' THEN false END AS is_active,
               dwh_etl.try_timestamptz(b.updated_at)      AS updated_at,
               b.unit_cost AS _raw_unit_cost
        FROM bronze.sales_products AS b
        WHERE b._ingested_at >= v_win.from_ts
          AND b._ingested_at < v_win.to_ts
    )
    SELECT t.*,
           dwh_etl.reasons(
               CASE WHEN t.product_id IS NULL THEN format('product_id %s is not an integer', COALESCE(quote_literal(t._record_key), 'NULL')) END,
               CASE WHEN COALESCE(t.product_name, '') = '' THEN 'product_name is empty' END,
               CASE WHEN COALESCE(t.product_group, '') = '' THEN 'product_group is empty' END,
               CASE WHEN t.unit_price IS NULL THEN 'unit_price is not a number' END,
               CASE WHEN t.unit_price < 0 THEN 'unit_price is negative' END,
               CASE WHEN t._raw_unit_cost IS NOT NULL AND t.unit_cost IS NULL THEN 'unit_cost is not a number' END,
               CASE WHEN t.is_active IS NULL THEN 'is_active is not a boolean' END,
               CASE WHEN t.updated_at IS NULL THEN 'updated_at is not a valid timestamp' END
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
           p.is_active, dwh_etl.try_timestamptz(d.deleted_at), true
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
