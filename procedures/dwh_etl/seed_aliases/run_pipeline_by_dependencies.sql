-- Seed 002's "execute tables in dependency order", as a thin alias: the steps of `daily` that build
-- in_target_table and everything upstream of it (selector '+<table>', dbt's syntax, resolved from the
-- registry's step graph), in dependency order, as one recorded run for today.
--   CALL dwh_etl.run_pipeline_by_dependencies('sales.agg_daily_sales');
-- Fixed from the seed: it derived a procedure name per table (dwh_etl.load_<schema>_<table>) and skipped,
-- with a NOTICE, every table whose procedure did not exist; a table no step writes is an error here
-- (DW020, from dwh_etl.select_steps). in_batch_id is accepted for the seed's callers and not used: every
-- run has its own batch (dwh_lineage.pipeline_runs.batch_id), said in a NOTICE.
-- Commits per step: call it outside a transaction block.
CREATE OR REPLACE PROCEDURE dwh_etl.run_pipeline_by_dependencies(
    in_target_table text,
    in_batch_id     uuid DEFAULT NULL
)
LANGUAGE plpgsql
-- No SET clause: a procedure with one cannot COMMIT, and dwh_etl.run_steps commits per step.
AS $$
DECLARE
    v_run_id bigint;  -- INOUT of run_pipeline: the run made
    v_steps text[];
BEGIN
    IF in_target_table IS NULL OR in_target_table !~ '^[^.[:space:]]+\.[^.[:space:]]+$' THEN
        RAISE EXCEPTION 'run_pipeline_by_dependencies needs a table as schema.name, got %', COALESCE(quote_literal(in_target_table), 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'CALL dwh_etl.run_pipeline_by_dependencies(''sales.agg_daily_sales'');';
    END IF;
    v_steps := ARRAY(SELECT s.step_name
                     FROM dwh_etl.select_steps('daily', ARRAY['+' || in_target_table]) AS s
                     ORDER BY s.step_order);
    IF cardinality(v_steps) = 0 THEN
        RAISE EXCEPTION 'no step of pipeline daily writes %', in_target_table
            USING ERRCODE = 'DW020',
                  HINT = 'dwh ls daily (or dwh_etl.select_steps) lists the steps and the tables they write';
    END IF;
    IF in_batch_id IS NOT NULL THEN
        RAISE NOTICE 'in_batch_id % is not used: the run gets its own batch (dwh_lineage.pipeline_runs.batch_id)', in_batch_id;
    END IF;
    CALL dwh_etl.run_pipeline(p_pipeline => 'daily', p_steps => v_steps, p_run_id => v_run_id);
END;
$$;
COMMENT ON PROCEDURE dwh_etl.run_pipeline_by_dependencies(text, uuid) IS 'Seed 002 alias: run the daily steps that build the table and everything upstream of it (selector +table), in dependency order.';
REVOKE EXECUTE ON PROCEDURE dwh_etl.run_pipeline_by_dependencies(text, uuid) FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE dwh_etl.run_pipeline_by_dependencies(text, uuid) TO etl_service;
