-- The rows of devflow.fact_code_generation, for the fact step (dwh_etl.step_fact, registry/devflow.sql):
-- one per code generation task, with the seed's defaults; time_key is the UTC date of its creation.
-- In silver: analysts never read silver.
CREATE OR REPLACE VIEW silver.devflow_fact_code_generation_rows AS
SELECT c.id AS code_gen_id,
       c.issue_id,
       c.agent_id,
       devflow._time_key(c.created_at) AS time_key,
       COALESCE(c.total_files_generated, 0) AS total_files_generated,
       COALESCE(c.total_lines_generated, 0) AS total_lines_generated,
       COALESCE(c.total_functions_generated, 0) AS total_functions_generated,
       COALESCE(c.total_tests_generated, 0) AS total_tests_generated,
       c.compilation_time_ms,
       COALESCE(c.clippy_warnings, 0) AS clippy_warnings,
       COALESCE(c.clippy_errors, 0) AS clippy_errors,
       COALESCE(c.fmt_issues, 0) AS fmt_issues,
       c.ai_model_name,
       COALESCE(c.ai_model_tokens_input, 0) AS ai_model_tokens_input,
       COALESCE(c.ai_model_tokens_output, 0) AS ai_model_tokens_output,
       COALESCE(c.ai_generation_cost_usd, 0) AS ai_generation_cost_usd,
       COALESCE(c.ai_prompt_count, 0) AS ai_prompt_count,
       c.cyclomatic_complexity_avg,
       c.code_duplication_percent,
       c.maintainability_index,
       COALESCE(c.test_count, 0) AS test_count,
       COALESCE(c.generation_duration_ms, 0) AS generation_duration_ms,
       c.created_at,
       c.commit_sha,
       c._loaded_at,
       c._source_bronze_id,
       c.is_deleted
FROM silver.devflow_code_gen_tasks AS c;
COMMENT ON VIEW silver.devflow_fact_code_generation_rows IS 'Fact rows of devflow.fact_code_generation (fact step devflow_fact_code_generation): code generation tasks, seed defaults applied.';
GRANT SELECT ON silver.devflow_fact_code_generation_rows TO etl_service;
