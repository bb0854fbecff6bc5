-- Seed 002's refresh of gold.mv_customer_lifetime_value (ours: sales.mv_customer_lifetime_value), as a
-- thin alias of the daily pipeline's mart steps that refresh it (the customer metrics it is computed
-- from, then REFRESH (CONCURRENTLY when somebody holds the view) through the owner's dwh_etl.sec_refresh_mart, logged in the
-- lineage), run alone as a recorded run.
--   CALL dwh_etl.refresh_customer_ltv();
-- Commits: call it outside a transaction block.
CREATE OR REPLACE PROCEDURE dwh_etl.refresh_customer_ltv()
LANGUAGE plpgsql
-- No SET clause: a procedure with one cannot COMMIT, and dwh_etl.run_steps commits per step.
AS $$
DECLARE
    v_run_id bigint;  -- INOUT of run_pipeline: the run made
BEGIN
    -- the view is computed from sales.customer_metrics (migration 0045): that first, then the view
    CALL dwh_etl.run_pipeline(p_pipeline => 'daily', p_steps => ARRAY['sales_customer_metrics', 'sales_customer_ltv'], p_run_id => v_run_id);
END;
$$;
COMMENT ON PROCEDURE dwh_etl.refresh_customer_ltv() IS 'Seed 002 alias: refresh sales.mv_customer_lifetime_value (the daily steps sales_customer_metrics and sales_customer_ltv, run alone).';
REVOKE EXECUTE ON PROCEDURE dwh_etl.refresh_customer_ltv() FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE dwh_etl.refresh_customer_ltv() TO etl_service;
