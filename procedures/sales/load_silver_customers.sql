-- Step (silver): the customers of the new bronze rows, typed, trimmed and standardized; invalid rows
-- to quarantine with every reason; valid rows and tombstones applied as SCD2 history.
CREATE OR REPLACE PROCEDURE sales.load_silver_customers(
    p_run_id   bigint,
    p_run_date date
)
LANGUAGE plpgsql
SET search_path = sales, pg_temp
AS $$
DECLARE
    v_win    record := dwh_etl.window_bounds('silver.sales_customers');
    -- zone-less source timestamps are read in the shop's zone, never the session's (issue 9)
    v_zone   text := dwh_etl.setting_timezone('sales.source_timezone');
    v_bounds record := dwh_etl.event_time_bounds(p_run_date);
    v_bronze bigint;
    v_bad    bigint;
BEGIN
    -- tells plpgsql_check the shape of the temp table created below
    PERFORM 'PRAGMA:TABLE: _cust_typed (_bronze_id bigint, _record_key text, customer_id bigint, first_name text, '
            'last_name text, email text, phone text, city text, country text, customer_segment text, '
            'signup_date date, updated_at timestamptz, _raw_customer_id text, _raw_signup_date text, '
            '_raw_updated_at text, _reasons text[])';
    -- Text is trimmed of every Unicode space (dwh_etl.try_trim: a name of only U+3000 spaces is empty,
    -- like one of ASCII spaces); values are checked against their columns and the sane event range.
    CREATE TEMP TABLE _cust_typed ON COMMIT DROP AS
    WITH typed AS MATERIALIZED (
        SELECT b._bronze_id,
               -- the key as typed when it is one, else as received (cut to 200 characters plus its md5)
               COALESCE(dwh_etl.try_bigint(b.customer_id)::text,
                        CASE WHEN length(b.customer_id) > 200 THEN left(b.customer_id, 200) || '…md5:' || md5(b.customer_id)
                             ELSE b.customer_id END)     AS _record_key,
               dwh_etl.try_bigint(b.customer_id)               AS customer_id,
               initcap(dwh_etl.try_trim(b.first_name))         AS first_name,
               initcap(dwh_etl.try_trim(b.last_name))          AS last_name,
               lower(dwh_etl.try_trim(b.email))                AS email,
               dwh_etl.try_trim(b.phone)                       AS phone,
               initcap(dwh_etl.try_trim(b.city))               AS city,
               dwh_etl.try_trim(b.country)                     AS country,
               dwh_etl.try_trim(b.customer_segment)            AS customer_segment,
               -- the date as written (try_timestamptz(...)::date shifted it by the session's TimeZone)
               dwh_etl.try_date(b.signup_date)                 AS signup_date,
               dwh_etl.try_timestamptz(b.updated_at, v_zone)   AS updated_at,
               b.customer_id AS _raw_customer_id,
               b.signup_date AS _raw_signup_date,
               b.updated_at  AS _raw_updated_at
        FROM bronze.sales_customers AS b
        WHERE b._ingested_at >= v_win.from_ts
          AND b._ingested_at < v_win.to_ts
    )
    SELECT t.*,
           dwh_etl.reasons(
               CASE WHEN t.customer_id IS NULL THEN dwh_etl.reason_integer('customer_id', t._raw_customer_id, NULL) END,
               CASE WHEN t.first_name IS NULL THEN 'first_name is empty' END,
               CASE WHEN t.last_name IS NULL THEN 'last_name is empty' END,
               CASE WHEN t.email IS NOT NULL AND t.email !~ '^[^@[:space:]]+@[^@[:space:]]+\.[^@[:space:]]+$'
                    THEN format('email %s is not an address', dwh_etl.quote_value(t.email)) END,
               -- indexed in sales.dim_customer and part of sales.agg_daily_sales' key
               dwh_etl.reason_text('customer_segment', t.customer_segment, 200),
               CASE WHEN dwh_etl.try_trim(t._raw_signup_date) IS NULL THEN NULL
                    WHEN t.signup_date IS NULL THEN format('signup_date %s is not a valid date', dwh_etl.quote_value(t._raw_signup_date))
                    ELSE dwh_etl.reason_timestamp('signup_date', t._raw_signup_date, t.signup_date::timestamp AT TIME ZONE 'UTC',
                                                  v_bounds.min_ts, v_bounds.max_ts) END,
               dwh_etl.reason_timestamp('updated_at', t._raw_updated_at, t.updated_at, v_bounds.min_ts, v_bounds.max_ts)
           ) AS _reasons
    FROM typed AS t;
    GET DIAGNOSTICS v_bronze = ROW_COUNT;

    v_bad := dwh_etl.quarantine_rows('_cust_typed', 'bronze.sales_customers', 'silver.sales_customers');
    -- every bronze row is accepted (one per key and change time), quarantined, or a collapsed duplicate
    PERFORM dwh_etl.reconcile(
        p_target      => 'silver.sales_customers',
        p_source      => 'bronze.sales_customers',
        p_read        => (SELECT count(*) FROM bronze.sales_customers AS b
                          WHERE b._ingested_at >= v_win.from_ts AND b._ingested_at < v_win.to_ts),
        p_accepted    => (SELECT count(*) FROM (SELECT DISTINCT t.customer_id, t.updated_at FROM _cust_typed AS t
                                                WHERE cardinality(t._reasons) = 0) AS d),
        p_quarantined => v_bad,
        p_duplicates  => (SELECT count(*) - count(DISTINCT (t.customer_id, t.updated_at)) FROM _cust_typed AS t
                          WHERE cardinality(t._reasons) = 0));

    -- Valid rows plus tombstones; a tombstone carries the key's current values (a deletion marker
    -- keeps the last known attributes) and is dropped when the key was never loaded.
    PERFORM 'PRAGMA:TABLE: _cust_stage (customer_id bigint, first_name text, last_name text, email text, phone text, '
            'city text, country text, customer_segment text, signup_date date, change_ts timestamptz, '
            'is_deleted boolean)';
    CREATE TEMP TABLE _cust_stage ON COMMIT DROP AS
    SELECT t.customer_id, t.first_name, t.last_name, t.email, t.phone, t.city, t.country,
           t.customer_segment, t.signup_date, t.updated_at AS change_ts, false AS is_deleted
    FROM _cust_typed AS t
    WHERE cardinality(t._reasons) = 0
    UNION ALL
    SELECT c.customer_id, c.first_name, c.last_name, c.email, c.phone, c.city, c.country,
           c.customer_segment, c.signup_date, dwh_etl.try_timestamptz(d.deleted_at, v_zone), true
    FROM bronze.sales_deleted_records AS d
    JOIN silver.sales_customers AS c
      ON c.customer_id = dwh_etl.try_bigint(d.record_id)
     AND c.is_current
    WHERE d.table_name = 'customers'
      AND d._ingested_at >= v_win.from_ts
      AND d._ingested_at < v_win.to_ts;

    PERFORM dwh_etl.apply_dimension('sales.silver_customers', '_cust_stage', p_lineage_source => 'bronze.sales_customers');
    PERFORM dwh_lineage.log_transformation(
        in_source_table  => 'bronze.sales_customers',
        in_target_table  => 'silver.sales_customers',
        in_batch_id      => NULL,
        in_rows_rejected => v_bad,
        in_notes         => format('%s bronze rows: %s valid, %s quarantined', v_bronze, v_bronze - v_bad, v_bad));
    CALL dwh_etl.set_watermark('silver.sales_customers', '_ingested_at', v_win.to_ts);
    DROP TABLE _cust_typed, _cust_stage;
END;
$$;
COMMENT ON PROCEDURE sales.load_silver_customers(bigint, date) IS 'Step: bronze customers -> silver.sales_customers (typed, standardized, quarantined when invalid, SCD2 history).';
