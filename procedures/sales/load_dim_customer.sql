-- Step (gold): new silver customer versions -> sales.dim_customer through the generic SCD engine
-- (spec 'sales.dim_customer'). Validity comes from silver's valid_from, the source's change time.
CREATE OR REPLACE PROCEDURE sales.load_dim_customer(
    p_run_id   bigint,
    p_run_date date
)
LANGUAGE plpgsql
SET search_path = sales, pg_temp
AS $$
DECLARE
    v_win record := dwh_etl.window_bounds('sales.dim_customer');
BEGIN
    CREATE TEMP TABLE _dimc_stage ON COMMIT DROP AS
    SELECT c.customer_id,
           concat_ws(' ', c.first_name, c.last_name) AS full_name,
           c.email,
           NULLIF(split_part(c.email, '@', 2), '')   AS email_domain,
           c.phone,
           c.city,
           c.country,
           c.customer_segment,
           c.signup_date,
           c.valid_from AS change_ts,
           c.is_deleted
    FROM silver.sales_customers AS c
    WHERE c._loaded_at >= v_win.from_ts
      AND c._loaded_at < v_win.to_ts;

    PERFORM dwh_etl.apply_dimension('sales.dim_customer', '_dimc_stage', p_lineage_source => 'silver.sales_customers');
    CALL dwh_etl.set_watermark('sales.dim_customer', '_loaded_at', v_win.to_ts);
    DROP TABLE _dimc_stage;
END;
$$;
COMMENT ON PROCEDURE sales.load_dim_customer(bigint, date) IS 'Step: silver customer versions -> sales.dim_customer (SCD2 via dwh_etl.apply_dimension).';
