-- Step (mart): the pipeline's wrapper around seed 004's sp_refresh_customer_metrics().
CREATE OR REPLACE PROCEDURE sales.step_customer_metrics(
    p_run_id   bigint,
    p_run_date date
)
LANGUAGE plpgsql
SET search_path = sales, pg_temp
AS $$
BEGIN
    CALL sales.sp_refresh_customer_metrics(p_run_id);
END;
$$;
COMMENT ON PROCEDURE sales.step_customer_metrics(bigint, date) IS 'Step: CALL sales.sp_refresh_customer_metrics().';
