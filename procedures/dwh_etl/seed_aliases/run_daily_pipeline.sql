-- Seed 002's name for the daily load, as a thin alias (pg_partman keeps its old names the same way):
--   CALL dwh_etl.run_daily_pipeline();                      -- yesterday
--   CALL dwh_etl.run_daily_pipeline(DATE '2025-01-31');
-- The seed's procedure chained ingest -> silver -> dimensions -> fact -> aggregates -> LTV for one date;
-- the engine's `daily` pipeline does all of that (and every other area) for a run date, so this is
-- exactly CALL dwh_etl.run_pipeline(p_pipeline => 'daily', p_run_date => in_date): a recorded run, with
-- its lock, steps, quality gates and lineage. Commits per step: call it outside a transaction block.
CREATE OR REPLACE PROCEDURE dwh_etl.run_daily_pipeline(
    in_date date DEFAULT CURRENT_DATE - 1
)
LANGUAGE plpgsql
-- No SET clause: a procedure with one cannot COMMIT, and dwh_etl.run_steps commits per step.
AS $$
DECLARE
    v_run_id bigint;  -- INOUT of run_pipeline: the run made
BEGIN
    CALL dwh_etl.run_pipeline(p_pipeline => 'daily', p_run_date => in_date, p_run_id => v_run_id);
END;
$$;
COMMENT ON PROCEDURE dwh_etl.run_daily_pipeline(date) IS 'Seed 002 alias: CALL dwh_etl.run_pipeline(p_pipeline => ''daily'', p_run_date => in_date) (default yesterday).';
REVOKE EXECUTE ON PROCEDURE dwh_etl.run_daily_pipeline(date) FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE dwh_etl.run_daily_pipeline(date) TO etl_service;
