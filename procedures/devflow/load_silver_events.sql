-- Step (silver): agent executions, code generation tasks, reviews and deployments, typed and validated.
-- Besides the typing of devflow._load_silver, each entity checks what its fact would refuse (CHECK
-- constraints, varchar(n) columns, generated totals that overflow): such a row used to fail the fact step.
CREATE OR REPLACE PROCEDURE devflow.load_silver_events(
    p_run_id   bigint,
    p_run_date date
)
LANGUAGE plpgsql
SET search_path = devflow, pg_temp
AS $$
BEGIN
    PERFORM devflow._load_silver('bronze.devflow_agent_execution_logs', 'bronze.devflow_agent_execution_logs', 'silver.devflow_agent_execution_logs', '{id}', 'updated_at',
        ARRAY[$c$CASE WHEN t.completed_at < t.started_at THEN 'completed_at is before started_at' END$c$,
              $c$CASE WHEN t.cpu_usage_percent NOT BETWEEN 0 AND 100 THEN 'cpu_usage_percent is out of range' END$c$,
              $c$CASE WHEN t.issue_id IS NULL THEN 'issue_id is missing' WHEN devflow._is_blank(t.issue_id) THEN 'issue_id is blank' END$c$,
              $c$devflow._check_length('llm_provider', t.llm_provider, 50)$c$,
              $c$devflow._check_length('llm_model', t.llm_model, 100)$c$],
        p_run_date);
    PERFORM devflow._load_silver('bronze.devflow_code_gen_tasks', 'bronze.devflow_code_gen_tasks', 'silver.devflow_code_gen_tasks', '{id}', 'updated_at',
        ARRAY[$c$CASE WHEN t.total_lines_generated < 0 THEN 'total_lines_generated is negative' END$c$,
              $c$devflow._check_length('commit_sha', t.commit_sha, 40)$c$,
              $c$devflow._check_length('ai_model_name', t.ai_model_name, 100)$c$],
        p_run_date);
    PERFORM devflow._load_silver('bronze.devflow_review_results', 'bronze.devflow_review_results', 'silver.devflow_review_results', '{id}', 'updated_at',
        ARRAY[$c$CASE WHEN t.review_score NOT BETWEEN 0 AND 1 THEN 'review_score is not between 0 and 1' END$c$,
              $c$CASE WHEN t.test_coverage_percent NOT BETWEEN 0 AND 100 THEN 'test_coverage_percent is not between 0 and 100' END$c$],
        p_run_date);
    PERFORM devflow._load_silver('bronze.devflow_deployment_pipelines', 'bronze.devflow_deployment_pipelines', 'silver.devflow_deployment_pipelines', '{id}', 'updated_at',
        ARRAY[$c$CASE WHEN t.deployment_status NOT IN ('SUCCESS', 'FAILED', 'ROLLED_BACK', 'PARTIAL', 'RUNNING') THEN 'deployment_status ' || devflow._quote(t.deployment_status) || ' is unknown' END$c$,
              $c$CASE WHEN t.environment NOT IN ('dev', 'staging', 'production') THEN 'environment ' || devflow._quote(t.environment) || ' is unknown' END$c$,
              $c$CASE WHEN t.deployment_type NOT IN ('BLUE_GREEN', 'CANARY', 'ROLLING', 'RECREATE') THEN 'deployment_type ' || devflow._quote(t.deployment_type) || ' is unknown' END$c$,
              $c$CASE WHEN t.completed_at < t.started_at THEN 'completed_at is before started_at' END$c$,
              $c$CASE WHEN t.health_check_pass_rate NOT BETWEEN 0 AND 100 THEN 'health_check_pass_rate is not between 0 and 100' END$c$,
              -- fact_deployment.total_cost_usd numeric(10,2) is their sum
              $c$CASE WHEN abs(COALESCE(t.infrastructure_cost_usd, 0) + COALESCE(t.data_transfer_cost_usd, 0)) >= 1e8 THEN 'infrastructure_cost_usd + data_transfer_cost_usd is out of range for numeric(10,2)' END$c$,
              $c$devflow._check_length('commit_sha', t.commit_sha, 40)$c$,
              $c$devflow._check_length('pipeline_id', t.pipeline_id, 100)$c$],
        p_run_date);
END;
$$;
COMMENT ON PROCEDURE devflow.load_silver_events(bigint, date) IS 'Step: bronze -> silver for agent executions, code generations, reviews and deployments.';
