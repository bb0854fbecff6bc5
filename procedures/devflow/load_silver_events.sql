-- Step (silver): agent executions, code generation tasks, reviews and deployments, typed and validated.
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
              $c$CASE WHEN t.issue_id IS NULL THEN 'issue_id is missing' END$c$]);
    PERFORM devflow._load_silver('bronze.devflow_code_gen_tasks', 'bronze.devflow_code_gen_tasks', 'silver.devflow_code_gen_tasks', '{id}', 'updated_at',
        ARRAY[$c$CASE WHEN t.total_lines_generated < 0 THEN 'total_lines_generated is negative' END$c$]);
    PERFORM devflow._load_silver('bronze.devflow_review_results', 'bronze.devflow_review_results', 'silver.devflow_review_results', '{id}', 'updated_at',
        ARRAY[$c$CASE WHEN t.review_score NOT BETWEEN 0 AND 1 THEN 'review_score is not between 0 and 1' END$c$,
              $c$CASE WHEN t.test_coverage_percent NOT BETWEEN 0 AND 100 THEN 'test_coverage_percent is not between 0 and 100' END$c$]);
    PERFORM devflow._load_silver('bronze.devflow_deployment_pipelines', 'bronze.devflow_deployment_pipelines', 'silver.devflow_deployment_pipelines', '{id}', 'updated_at',
        ARRAY[$c$CASE WHEN t.deployment_status NOT IN ('SUCCESS', 'FAILED', 'ROLLED_BACK', 'PARTIAL', 'RUNNING') THEN 'deployment_status ' || t.deployment_status || ' is unknown' END$c$,
              $c$CASE WHEN t.environment NOT IN ('dev', 'staging', 'production') THEN 'environment ' || t.environment || ' is unknown' END$c$,
              $c$CASE WHEN t.completed_at < t.started_at THEN 'completed_at is before started_at' END$c$]);
END;
$$;
COMMENT ON PROCEDURE devflow.load_silver_events(bigint, date) IS 'Step: bronze -> silver for agent executions, code generations, reviews and deployments.';
