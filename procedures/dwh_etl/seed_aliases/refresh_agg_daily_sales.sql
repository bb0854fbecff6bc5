-- Seed 002's refresh of agg_daily_sales for one date key, or all of it (NULL), as a thin alias of the
-- daily pipeline's mart step sales_agg_daily_sales: the step recomputes the dates queued in
-- dwh_staging.sales_affected_dates from silver.sales_agg_daily_sales_rows, so this queues in_date_key
-- (NULL: every date of the facts and of the aggregate, so a date without sales any more is emptied) and
-- runs that step alone, as a recorded run.
--   CALL dwh_etl.refresh_agg_daily_sales(20250131);
--   CALL dwh_etl.refresh_agg_daily_sales();
-- Fixed from the seed: avg_order_value is net revenue per order (the seed averaged lines), and a date
-- refreshed while a load runs waits for it (the step's lock) instead of interleaving.
-- Commits: call it outside a transaction block.
CREATE OR REPLACE PROCEDURE dwh_etl.refresh_agg_daily_sales(
    in_date_key integer DEFAULT NULL
)
LANGUAGE plpgsql
-- No SET clause: a procedure with one cannot COMMIT, and dwh_etl.run_steps commits per step.
AS $$
DECLARE
    v_run_id bigint;  -- INOUT of run_pipeline: the run made
BEGIN
    IF in_date_key IS NOT NULL AND NOT dwh_etl._iso_date_exists(regexp_replace(in_date_key::text, '^(\d{4})(\d{2})(\d{2})$', '\1-\2-\3')) THEN
        RAISE EXCEPTION 'date key % is not a date (YYYYMMDD)', in_date_key
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'CALL dwh_etl.refresh_agg_daily_sales(20250131); or with no argument for every date';
    END IF;
    INSERT INTO dwh_staging.sales_affected_dates (date_key)
    SELECT k.date_key
    FROM (
        SELECT in_date_key AS date_key
        WHERE in_date_key IS NOT NULL
        UNION
        SELECT DISTINCT f.date_key FROM sales.fact_sales AS f WHERE in_date_key IS NULL
        UNION
        SELECT a.date_key FROM sales.agg_daily_sales AS a WHERE in_date_key IS NULL
    ) AS k
    ON CONFLICT (date_key) DO NOTHING;
    CALL dwh_etl.run_pipeline(p_pipeline => 'daily', p_steps => ARRAY['sales_agg_daily_sales'], p_run_id => v_run_id);
END;
$$;
COMMENT ON PROCEDURE dwh_etl.refresh_agg_daily_sales(integer) IS 'Seed 002 alias: recompute sales.agg_daily_sales for a date key (YYYYMMDD), or every date when NULL (the daily step sales_agg_daily_sales, run alone).';
REVOKE EXECUTE ON PROCEDURE dwh_etl.refresh_agg_daily_sales(integer) FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE dwh_etl.refresh_agg_daily_sales(integer) TO etl_service;
