-- The rows of devflow.fact_deployment, for the fact step (dwh_etl.step_fact, registry/devflow.sql): one
-- per finished deployment run (a final status and an end), with the seed's defaults; time_key is the UTC
-- date of the start. In silver: analysts never read silver.
CREATE OR REPLACE VIEW silver.devflow_fact_deployment_rows AS
SELECT d.id AS deployment_id,
       d.resource_id,
       d.issue_id,
       d.agent_id,
       devflow._time_key(d.started_at) AS time_key,
       COALESCE(d.deployment_duration_seconds, EXTRACT(EPOCH FROM d.completed_at - d.started_at)::integer) AS deployment_duration_seconds,
       COALESCE(d.rollback_count, 0) AS rollback_count,
       COALESCE(d.resource_count, 0) AS resource_count,
       COALESCE(d.container_count, 0) AS container_count,
       d.health_check_pass_rate,
       COALESCE(d.error_count, 0) AS error_count,
       COALESCE(d.warning_count, 0) AS warning_count,
       COALESCE(d.infrastructure_cost_usd, 0) AS infrastructure_cost_usd,
       COALESCE(d.data_transfer_cost_usd, 0) AS data_transfer_cost_usd,
       d.deployment_status,
       d.deployment_type,
       d.environment,
       d.started_at,
       d.completed_at,
       COALESCE(d.commit_sha, 'unknown') AS commit_sha,
       d.pipeline_id,
       d._loaded_at,
       d._source_bronze_id,
       d.is_deleted
FROM silver.devflow_deployment_pipelines AS d
WHERE d.completed_at IS NOT NULL
  AND d.deployment_status IN ('SUCCESS', 'FAILED', 'ROLLED_BACK', 'PARTIAL');
COMMENT ON VIEW silver.devflow_fact_deployment_rows IS 'Fact rows of devflow.fact_deployment (fact step devflow_fact_deployment): finished deployment runs, seed defaults applied.';
GRANT SELECT ON silver.devflow_fact_deployment_rows TO etl_service;
