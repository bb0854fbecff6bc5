-- depends: 0016_step_kinds
-- Step kind `fact` (issue 10): the fact steps of sales and devflow are data (kind fact + spec, run by
-- dwh_etl.step_fact over an area view in silver); their area procedures and the two "dimension key at
-- event time" helpers (whose SET search_path stopped the planner from inlining them) are gone. The
-- steps are re-registered by procedures/registry/. devflow.load_fact_issue_processing stays custom (an
-- accumulating snapshot recomputed per affected issue, with its own quarantine).
DROP PROCEDURE IF EXISTS sales.load_fact_sales(bigint, date);
DROP PROCEDURE IF EXISTS devflow.load_fact_agent_execution(bigint, date);
DROP PROCEDURE IF EXISTS devflow.load_fact_code_generation(bigint, date);
DROP PROCEDURE IF EXISTS devflow.load_fact_deployment(bigint, date);
DROP PROCEDURE IF EXISTS devflow.load_fact_performance_metrics(bigint, date);
DROP FUNCTION IF EXISTS devflow.infrastructure_key_at(text, timestamptz);
