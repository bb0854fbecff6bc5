-- The rows of devflow.fact_agent_execution, for the fact step (dwh_etl.step_fact, registry/devflow.sql):
-- one per finished agent execution (a running one is not a fact yet), with the seed's defaults.
-- time_key is the UTC date of the start (devflow._time_key). In silver: analysts never read silver.
CREATE OR REPLACE VIEW silver.devflow_fact_agent_execution_rows AS
SELECT e.id AS execution_id,
       e.issue_id,
       e.agent_id,
       e.worktree_path,
       devflow._time_key(e.started_at) AS time_key,
       COALESCE(e.execution_duration_ms, (EXTRACT(EPOCH FROM e.completed_at - e.started_at) * 1000)::bigint) AS execution_duration_ms,
       e.memory_usage_mb,
       e.cpu_usage_percent,
       e.disk_io_mb,
       COALESCE(e.api_calls_count, 0) AS api_calls_count,
       COALESCE(e.api_errors_count, 0) AS api_errors_count,
       COALESCE(e.cache_hit_count, 0) AS cache_hit_count,
       COALESCE(e.cache_miss_count, 0) AS cache_miss_count,
       e.llm_provider,
       e.llm_model,
       COALESCE(e.llm_tokens_input, 0) AS llm_tokens_input,
       COALESCE(e.llm_tokens_output, 0) AS llm_tokens_output,
       COALESCE(e.llm_requests_count, 0) AS llm_requests_count,
       COALESCE(e.llm_cost_usd, 0) AS llm_cost_usd,
       COALESCE(e.exit_code, -1) AS exit_code,
       COALESCE(e.error_count, 0) AS error_count,
       COALESCE(e.warning_count, 0) AS warning_count,
       COALESCE(e.retry_count, 0) AS retry_count,
       COALESCE(e.exit_code, -1) = 0 AS success,
       e.error_message,
       e.started_at,
       e.completed_at,
       e._loaded_at,
       e._source_bronze_id,
       e.is_deleted
FROM silver.devflow_agent_execution_logs AS e
WHERE e.completed_at IS NOT NULL;
COMMENT ON VIEW silver.devflow_fact_agent_execution_rows IS 'Fact rows of devflow.fact_agent_execution (fact step devflow_fact_agent_execution): finished executions, seed defaults applied.';
GRANT SELECT ON silver.devflow_fact_agent_execution_rows TO etl_service;
