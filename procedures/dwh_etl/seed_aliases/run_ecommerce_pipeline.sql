-- Seed 002's end-to-end example pipeline (customers and orders into dim_customer and fact_sales, then
-- the quality gate), as a thin alias: the steps of `daily` that build the sales area and what they need
-- upstream (selector '+sales': the sources step, the calendar, ...), for in_date, as one recorded run.
--   CALL dwh_etl.run_ecommerce_pipeline();                  -- yesterday
-- The engine's quality gates run inside those steps. Commits per step: call it outside a transaction block.
CREATE OR REPLACE PROCEDURE dwh_etl.run_ecommerce_pipeline(
    in_date date DEFAULT CURRENT_DATE - 1
)
LANGUAGE plpgsql
-- No SET clause: a procedure with one cannot COMMIT, and dwh_etl.run_steps commits per step.
AS $$
DECLARE
    v_run_id bigint;  -- INOUT of run_pipeline: the run made
    v_steps text[] := ARRAY(SELECT s.step_name
                            FROM dwh_etl.select_steps('daily', ARRAY['+sales']) AS s
                            ORDER BY s.step_order);
BEGIN
    CALL dwh_etl.run_pipeline(p_pipeline => 'daily', p_steps => v_steps, p_run_date => in_date, p_run_id => v_run_id);
END;
$$;
COMMENT ON PROCEDURE dwh_etl.run_ecommerce_pipeline(date) IS 'Seed 002 alias: the daily pipeline''s sales steps and what they depend on (selector +sales), for in_date (default yesterday).';
REVOKE EXECUTE ON PROCEDURE dwh_etl.run_ecommerce_pipeline(date) FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE dwh_etl.run_ecommerce_pipeline(date) TO etl_service;
