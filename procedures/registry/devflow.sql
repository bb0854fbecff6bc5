-- Registry data of the devflow area (applied by dwh migrate whenever this file changes; idempotent).
-- The area itself and its demo source (read by `dwh demo`); the rest of its registry follows.
CALL dwh_etl.register_area('devflow', '{
    "description": "Seed 000: AI-assisted software delivery (issues, agent executions, code generation, deployments, infrastructure metrics).",
    "demo": {"generate": "devflow_src.generate", "args": {"p_days": 7}, "generated_when": "devflow_src.issues",
             "next_day": "devflow_src.generate_next_day", "order": 20}
}');
INSERT INTO dwh_etl.settings (key, value, description) VALUES
    ('devflow.source_schema', 'devflow_src', 'Schema of the operational devflow source (issues, agent_execution_logs, ..., api_payloads).'),
    ('retention.devflow.fact_performance_metrics', '2 years', 'Seed 000 archives facts older than two years: partitions of devflow.fact_performance_metrics entirely older are moved to schema archive by the maintenance pipeline.')
ON CONFLICT (key) DO NOTHING;

CALL dwh_etl.register_tables(
    p_area   => 'devflow',
    p_tables => '[
        {"table": "devflow_src.issues", "layer": "source", "description": "operational issues"},
        {"table": "devflow_src.agents", "layer": "source", "description": "agent registry"},
        {"table": "devflow_src.labels", "layer": "source", "description": "the 57-label system"},
        {"table": "devflow_src.worktree_states", "layer": "source", "description": "git worktrees"},
        {"table": "devflow_src.infrastructure", "layer": "source", "description": "cloud resource inventory"},
        {"table": "devflow_src.label_history", "layer": "source", "description": "label changes"},
        {"table": "devflow_src.agent_execution_logs", "layer": "source", "description": "agent runs"},
        {"table": "devflow_src.code_gen_tasks", "layer": "source", "description": "code generation attempts"},
        {"table": "devflow_src.review_results", "layer": "source", "description": "reviews"},
        {"table": "devflow_src.deployment_pipelines", "layer": "source", "description": "deployment runs"},
        {"table": "devflow_src.api_payloads", "layer": "source", "description": "inbox of raw GitHub / Prometheus / CloudWatch responses"},
        {"table": "bronze.devflow_issues", "layer": "bronze"},
        {"table": "bronze.devflow_agents", "layer": "bronze"},
        {"table": "bronze.devflow_labels", "layer": "bronze"},
        {"table": "bronze.devflow_worktree_states", "layer": "bronze"},
        {"table": "bronze.devflow_infrastructure", "layer": "bronze"},
        {"table": "bronze.devflow_label_history", "layer": "bronze"},
        {"table": "bronze.devflow_agent_execution_logs", "layer": "bronze"},
        {"table": "bronze.devflow_code_gen_tasks", "layer": "bronze"},
        {"table": "bronze.devflow_review_results", "layer": "bronze"},
        {"table": "bronze.devflow_deployment_pipelines", "layer": "bronze"},
        {"table": "bronze.devflow_pull_requests", "layer": "bronze"},
        {"table": "bronze.devflow_metric_samples", "layer": "bronze"},
        {"table": "silver.devflow_issues", "layer": "silver"},
        {"table": "silver.devflow_agents", "layer": "silver"},
        {"table": "silver.devflow_labels", "layer": "silver"},
        {"table": "silver.devflow_worktree_states", "layer": "silver"},
        {"table": "silver.devflow_infrastructure", "layer": "silver"},
        {"table": "silver.devflow_label_history", "layer": "silver"},
        {"table": "silver.devflow_agent_execution_logs", "layer": "silver"},
        {"table": "silver.devflow_code_gen_tasks", "layer": "silver"},
        {"table": "silver.devflow_review_results", "layer": "silver"},
        {"table": "silver.devflow_deployment_pipelines", "layer": "silver"},
        {"table": "silver.devflow_pull_requests", "layer": "silver"},
        {"table": "silver.devflow_metric_samples", "layer": "silver"},
        {"table": "devflow.dim_issue", "layer": "gold"},
        {"table": "devflow.dim_agent", "layer": "gold"},
        {"table": "devflow.dim_infrastructure", "layer": "gold"},
        {"table": "devflow.dim_label", "layer": "gold"},
        {"table": "devflow.dim_worktree", "layer": "gold"},
        {"table": "devflow.fact_issue_processing", "layer": "gold"},
        {"table": "devflow.fact_code_generation", "layer": "gold"},
        {"table": "devflow.fact_deployment", "layer": "gold"},
        {"table": "devflow.fact_agent_execution", "layer": "gold"},
        {"table": "devflow.fact_performance_metrics", "layer": "gold"},
        {"table": "devflow.mart_development_performance", "layer": "mart"},
        {"table": "devflow.mart_agent_performance", "layer": "mart"},
        {"table": "devflow.mart_infrastructure_cost", "layer": "mart"}
    ]');

-- Type 1 dimensions are specs without Type 2 columns: one version per key, attributes overwritten.
CALL dwh_etl.register_dimension(
    p_dimension => 'devflow.dim_issue', p_target => 'devflow.dim_issue', p_surrogate_key => 'issue_key', p_natural_key => '{issue_id}',
    p_type2_columns => '{priority,complexity,issue_type,category,assigned_to,labels}',
    p_type1_columns => '{issue_number,title,description,repository,created_by}',
    p_change_ts => 'change_ts', p_deleted_flag => NULL, p_delete_policy => 'close', p_type1_scope => 'all_versions',
    p_description => 'Issue dimension (seed 000 D2, Type 2): priority, complexity, type, category, assignee and labels are history.');
CALL dwh_etl.register_dimension(
    p_dimension => 'devflow.dim_infrastructure', p_target => 'devflow.dim_infrastructure', p_surrogate_key => 'infrastructure_key', p_natural_key => '{resource_id}',
    p_type2_columns => '{resource_type,region,availability_zone,instance_type,cpu_count,memory_gb,storage_gb,storage_type,vpc_id,subnet_id,security_group_ids,hourly_cost_usd,monthly_cost_usd,tags}',
    p_type1_columns => '{resource_name,cloud_provider}',
    p_change_ts => 'change_ts', p_deleted_flag => NULL, p_delete_policy => 'close', p_type1_scope => 'all_versions',
    p_description => 'Infrastructure dimension (seed 000 D4, Type 2): configuration, location, cost and tags are history.');
CALL dwh_etl.register_dimension(
    p_dimension => 'devflow.dim_agent', p_target => 'devflow.dim_agent', p_surrogate_key => 'agent_key', p_natural_key => '{agent_id}',
    p_type2_columns => '{}',
    p_type1_columns => '{agent_name,agent_type,agent_category,ai_model,ai_provider,model_version,framework_version,capabilities,max_concurrent_tasks,cost_per_hour_usd,cost_per_token_usd,is_active,created_at,updated_at}',
    p_change_ts => 'change_ts', p_deleted_flag => NULL, p_delete_policy => 'close', p_type1_scope => 'all_versions',
    p_description => 'Agent dimension (seed 000 D3, Type 1).');
CALL dwh_etl.register_dimension(
    p_dimension => 'devflow.dim_label', p_target => 'devflow.dim_label', p_surrogate_key => 'label_key', p_natural_key => '{label_name}',
    p_type2_columns => '{}',
    p_type1_columns => '{label_category,label_priority,color,icon,description,usage_guidelines,is_active,created_at,updated_at}',
    p_change_ts => 'change_ts', p_deleted_flag => NULL, p_delete_policy => 'close', p_type1_scope => 'all_versions',
    p_description => 'Label dimension (seed 000 D5, Type 1).');
CALL dwh_etl.register_dimension(
    p_dimension => 'devflow.dim_worktree', p_target => 'devflow.dim_worktree', p_surrogate_key => 'worktree_key', p_natural_key => '{worktree_path}',
    p_type2_columns => '{}',
    p_type1_columns => '{branch_name,base_branch,status,associated_issue_id,associated_pr_number,created_by,purpose,created_at,last_used_at,cleaned_up_at}',
    p_change_ts => 'change_ts', p_deleted_flag => NULL, p_delete_policy => 'close', p_type1_scope => 'all_versions',
    p_description => 'Worktree dimension (seed 000 D6, Type 1).');

-- 'daily' is registered by _engine.sql, which applies before this file.
CALL dwh_etl.register_pipeline(
    p_pipeline    => 'devflow_hourly',
    p_description => 'devflow agent metrics (seed 000 hourly_agent_metrics_etl): executions since the last run -> fact_agent_execution, mart_agent_performance.',
    p_schedules   => ARRAY['0 * * * *']);
CALL dwh_etl.register_pipeline(
    p_pipeline    => 'devflow_5min',
    p_description => 'devflow performance metrics (seed 000 realtime_performance_metrics): new metric samples -> fact_performance_metrics.',
    p_schedules   => ARRAY['*/5 * * * *']);
CALL dwh_etl.register_pipeline(
    p_pipeline    => 'devflow_weekly',
    p_description => 'devflow dimension refresh (seed 000 weekly_dimension_refresh), Sundays 04:00.',
    p_schedules   => ARRAY['0 4 * * 0']);

-- Every step is incremental by its own watermarks and serialized by dwh_etl.lock_step, so a step
-- shared by two pipelines never loads a row twice. daily (02:00) is the seed's daily issue processing:
-- a missed day is caught up by the next run, which loads everything past the watermarks.
DO $register$
DECLARE
    v_all jsonb := '{
    "extract_entities": {"step": "devflow_extract_entities", "kind": "extract", "layer": "bronze",
     "spec": {"schema_setting": "devflow.source_schema", "default_schema": "devflow_src",
              "tables": [["issues", "bronze.devflow_issues"], ["agents", "bronze.devflow_agents"], ["labels", "bronze.devflow_labels"],
                         ["worktree_states", "bronze.devflow_worktree_states"], ["infrastructure", "bronze.devflow_infrastructure"],
                         ["label_history", "bronze.devflow_label_history"]]},
     "sources": ["devflow_src.issues", "devflow_src.agents", "devflow_src.labels", "devflow_src.worktree_states", "devflow_src.infrastructure", "devflow_src.label_history"],
     "targets": ["bronze.devflow_issues", "bronze.devflow_agents", "bronze.devflow_labels", "bronze.devflow_worktree_states", "bronze.devflow_infrastructure", "bronze.devflow_label_history"],
     "feeds": [["devflow_src.issues", "bronze.devflow_issues"], ["devflow_src.agents", "bronze.devflow_agents"], ["devflow_src.labels", "bronze.devflow_labels"],
               ["devflow_src.worktree_states", "bronze.devflow_worktree_states"], ["devflow_src.infrastructure", "bronze.devflow_infrastructure"],
               ["devflow_src.label_history", "bronze.devflow_label_history"]]},
    "extract_events": {"step": "devflow_extract_events", "kind": "extract", "layer": "bronze",
     "spec": {"schema_setting": "devflow.source_schema", "default_schema": "devflow_src",
              "tables": [["agent_execution_logs", "bronze.devflow_agent_execution_logs"], ["code_gen_tasks", "bronze.devflow_code_gen_tasks"],
                         ["review_results", "bronze.devflow_review_results"], ["deployment_pipelines", "bronze.devflow_deployment_pipelines"]]},
     "sources": ["devflow_src.agent_execution_logs", "devflow_src.code_gen_tasks", "devflow_src.review_results", "devflow_src.deployment_pipelines"],
     "targets": ["bronze.devflow_agent_execution_logs", "bronze.devflow_code_gen_tasks", "bronze.devflow_review_results", "bronze.devflow_deployment_pipelines"],
     "feeds": [["devflow_src.agent_execution_logs", "bronze.devflow_agent_execution_logs"], ["devflow_src.code_gen_tasks", "bronze.devflow_code_gen_tasks"],
               ["devflow_src.review_results", "bronze.devflow_review_results"], ["devflow_src.deployment_pipelines", "bronze.devflow_deployment_pipelines"]]},
    "ingest_pull_requests": {"step": "devflow_ingest_pull_requests", "procedure": "devflow.ingest_pull_requests", "layer": "bronze",
     "sources": ["devflow_src.api_payloads"], "targets": ["bronze.devflow_pull_requests"]},
    "ingest_metrics": {"step": "devflow_ingest_metrics", "procedure": "devflow.ingest_metrics", "layer": "bronze",
     "sources": ["devflow_src.api_payloads"], "targets": ["bronze.devflow_metric_samples"]},
    "dimensions": {"step": "devflow_dimensions", "kind": "dimension", "layer": "gold",
     "spec": {"dimensions": [
         {"dimension": "devflow.dim_agent", "view": "devflow.dim_agent_changes", "lineage_source": "silver.devflow_agents"},
         {"dimension": "devflow.dim_label", "view": "devflow.dim_label_changes", "lineage_source": "silver.devflow_labels"},
         {"dimension": "devflow.dim_worktree", "view": "devflow.dim_worktree_changes", "lineage_source": "silver.devflow_worktree_states"},
         {"dimension": "devflow.dim_issue", "view": "devflow.dim_issue_changes", "lineage_source": "silver.devflow_issues"},
         {"dimension": "devflow.dim_infrastructure", "view": "devflow.dim_infrastructure_changes", "lineage_source": "silver.devflow_infrastructure"}]},
     "depends_on": ["devflow_silver_entities"],
     "sources": ["silver.devflow_issues", "silver.devflow_agents", "silver.devflow_labels", "silver.devflow_worktree_states", "silver.devflow_infrastructure"],
     "targets": ["devflow.dim_issue", "devflow.dim_agent", "devflow.dim_label", "devflow.dim_worktree", "devflow.dim_infrastructure"],
     "feeds": [["silver.devflow_issues", "devflow.dim_issue"], ["silver.devflow_agents", "devflow.dim_agent"], ["silver.devflow_labels", "devflow.dim_label"],
               ["silver.devflow_worktree_states", "devflow.dim_worktree"], ["silver.devflow_infrastructure", "devflow.dim_infrastructure"]]},
    "fact_agent_execution": {"step": "devflow_fact_agent_execution", "kind": "fact", "layer": "gold",
     "spec": {"view": "silver.devflow_fact_agent_execution_rows", "target": "devflow.fact_agent_execution",
              "natural_key": ["execution_id"], "mode": "upsert", "event_time": "started_at",
              "lookups": [{"dimension": "devflow.dim_issue", "wait": "always"},
                          {"dimension": "devflow.dim_agent", "current": true},
                          {"dimension": "devflow.dim_worktree", "current": true}],
              "late_window": "7 days", "date_key": "time_key", "lineage_source": "silver.devflow_agent_execution_logs"},
     "depends_on": ["devflow_silver_events", "devflow_dimensions"],
     "sources": ["silver.devflow_agent_execution_logs", "devflow.dim_agent", "devflow.dim_issue", "devflow.dim_worktree", "gold.dim_date"],
     "targets": ["devflow.fact_agent_execution"]},
    "fact_code_generation": {"step": "devflow_fact_code_generation", "kind": "fact", "layer": "gold",
     "spec": {"view": "silver.devflow_fact_code_generation_rows", "target": "devflow.fact_code_generation",
              "natural_key": ["code_gen_id"], "mode": "upsert", "event_time": "created_at",
              "lookups": [{"dimension": "devflow.dim_issue", "wait": "always"},
                          {"dimension": "devflow.dim_agent", "current": true}],
              "late_window": "7 days", "date_key": "time_key", "lineage_source": "silver.devflow_code_gen_tasks"},
     "depends_on": ["devflow_silver_events", "devflow_dimensions"],
     "sources": ["silver.devflow_code_gen_tasks", "devflow.dim_agent", "devflow.dim_issue", "gold.dim_date"],
     "targets": ["devflow.fact_code_generation"]},
    "fact_deployment": {"step": "devflow_fact_deployment", "kind": "fact", "layer": "gold",
     "spec": {"view": "silver.devflow_fact_deployment_rows", "target": "devflow.fact_deployment",
              "natural_key": ["deployment_id"], "mode": "upsert", "event_time": "started_at",
              "lookups": [{"dimension": "devflow.dim_infrastructure", "wait": "if_key"},
                          {"dimension": "devflow.dim_issue", "wait": "always"},
                          {"dimension": "devflow.dim_agent", "current": true}],
              "late_window": "7 days", "date_key": "time_key", "lineage_source": "silver.devflow_deployment_pipelines"},
     "depends_on": ["devflow_silver_events", "devflow_dimensions"],
     "sources": ["silver.devflow_deployment_pipelines", "devflow.dim_agent", "devflow.dim_issue", "devflow.dim_infrastructure", "gold.dim_date"],
     "targets": ["devflow.fact_deployment"]},
    "fact_issue_processing": {"step": "devflow_fact_issue_processing", "procedure": "devflow.load_fact_issue_processing", "layer": "gold",
     "depends_on": ["devflow_silver_events", "devflow_silver_pull_requests", "devflow_dimensions"],
     "sources": ["silver.devflow_issues", "silver.devflow_agent_execution_logs", "silver.devflow_code_gen_tasks", "silver.devflow_review_results",
                 "silver.devflow_deployment_pipelines", "silver.devflow_label_history", "silver.devflow_worktree_states", "silver.devflow_pull_requests",
                 "devflow.dim_issue", "devflow.dim_agent", "devflow.dim_label", "devflow.dim_worktree", "gold.dim_date"],
     "targets": ["devflow.fact_issue_processing"]},
    "fact_performance_metrics": {"step": "devflow_fact_performance_metrics", "kind": "fact", "layer": "gold",
     "spec": {"view": "silver.devflow_fact_performance_metrics_rows", "target": "devflow.fact_performance_metrics",
              "natural_key": ["resource_id", "measured_at", "time_key"], "mode": "upsert", "event_time": "measured_at",
              "lookups": [{"dimension": "devflow.dim_infrastructure", "wait": "always"}],
              "late_window": "7 days", "date_key": "time_key", "partitioned": true,
              "lineage_source": "silver.devflow_metric_samples"},
     "depends_on": ["devflow_silver_metrics", "devflow_dimensions"],
     "sources": ["silver.devflow_metric_samples", "devflow.dim_infrastructure", "gold.dim_date"],
     "targets": ["devflow.fact_performance_metrics"]},
    "mart_development_performance": {"step": "devflow_mart_development_performance", "kind": "mart", "layer": "mart",
     "spec": {"view": "devflow.mart_development_performance", "lineage_source": "devflow.fact_issue_processing"},
     "depends_on": ["devflow_fact_issue_processing", "devflow_fact_deployment"],
     "sources": ["devflow.fact_issue_processing", "devflow.fact_deployment", "devflow.dim_issue", "devflow.dim_agent", "gold.dim_date"],
     "targets": ["devflow.mart_development_performance"]},
    "mart_agent_performance": {"step": "devflow_mart_agent_performance", "kind": "mart", "layer": "mart",
     "spec": {"view": "devflow.mart_agent_performance", "lineage_source": "devflow.fact_agent_execution"},
     "depends_on": ["devflow_fact_agent_execution"],
     "sources": ["devflow.fact_agent_execution", "devflow.dim_agent", "gold.dim_date"],
     "targets": ["devflow.mart_agent_performance"]},
    "mart_infrastructure_cost": {"step": "devflow_mart_infrastructure_cost", "kind": "mart", "layer": "mart",
     "spec": {"view": "devflow.mart_infrastructure_cost", "lineage_source": "devflow.fact_deployment"},
     "depends_on": ["devflow_fact_deployment", "devflow_fact_performance_metrics"],
     "sources": ["devflow.fact_deployment", "devflow.fact_performance_metrics", "devflow.dim_infrastructure", "gold.dim_date"],
     "targets": ["devflow.mart_infrastructure_cost"]}
    }';
    -- The silver steps (kind silver, dwh_etl.step_silver, "typing": "engine"): every value typed after
    -- its silver column, what a dimension or fact would refuse (their CHECK constraints, varchar(n) and
    -- indexed columns, generated totals that overflow) checked here, so such a row is quarantined instead
    -- of failing a later step. The views devflow._bronze_* unpack the JSON feeds to silver's column names.
    v_silver jsonb := $json${
    "silver_entities": {"step": "devflow_silver_entities", "kind": "silver", "layer": "silver",
     "depends_on": ["devflow_extract_entities"],
     "sources": ["bronze.devflow_issues", "bronze.devflow_agents", "bronze.devflow_labels", "bronze.devflow_worktree_states", "bronze.devflow_infrastructure", "bronze.devflow_label_history"],
     "targets": ["silver.devflow_issues", "silver.devflow_agents", "silver.devflow_labels", "silver.devflow_worktree_states", "silver.devflow_infrastructure", "silver.devflow_label_history"],
     "feeds": [["bronze.devflow_issues", "silver.devflow_issues"], ["bronze.devflow_agents", "silver.devflow_agents"], ["bronze.devflow_labels", "silver.devflow_labels"],
               ["bronze.devflow_worktree_states", "silver.devflow_worktree_states"], ["bronze.devflow_infrastructure", "silver.devflow_infrastructure"],
               ["bronze.devflow_label_history", "silver.devflow_label_history"]],
     "spec": {"timezone_setting": "devflow.source_timezone", "key_length_setting": "devflow.max_key_length", "loads": [
        {"target": "silver.devflow_issues", "bronze": "bronze.devflow_issues", "key": ["id"], "ts_column": "updated_at",
         "checks": ["CASE WHEN t.priority NOT IN ('P0', 'P1', 'P2', 'P3', 'P4') THEN 'priority ' || dwh_etl.quote_reason(t.priority) || ' is not P0..P4' END",
                    "CASE WHEN t.complexity NOT IN ('trivial', 'low', 'medium', 'high', 'critical') THEN 'complexity ' || dwh_etl.quote_reason(t.complexity) || ' is unknown' END"]},
        {"target": "silver.devflow_agents", "bronze": "bronze.devflow_agents", "key": ["agent_id"], "ts_column": "updated_at",
         "checks": ["CASE WHEN t.agent_type NOT IN ('CodeGen', 'Review', 'Deployment', 'Issue', 'Coordinator', 'Business', 'Marketing', 'Sales') THEN 'agent_type ' || dwh_etl.quote_reason(t.agent_type) || ' is unknown' END",
                    "CASE WHEN t.agent_category NOT IN ('Technical', 'Business') THEN 'agent_category ' || dwh_etl.quote_reason(t.agent_category) || ' is not Technical or Business' END"]},
        {"target": "silver.devflow_labels", "bronze": "bronze.devflow_labels", "key": ["label_name"], "ts_column": "updated_at",
         "checks": ["CASE WHEN t.label_category NOT IN ('Status', 'Priority', 'Type', 'Component', 'Effort', 'Impact', 'Technology', 'Phase', 'Quality', 'Meta', 'Custom') THEN 'label_category ' || dwh_etl.quote_reason(t.label_category) || ' is unknown' END"]},
        {"target": "silver.devflow_worktree_states", "bronze": "bronze.devflow_worktree_states", "key": ["worktree_path"], "ts_column": "updated_at",
         "checks": ["CASE WHEN t.status NOT IN ('active', 'completed', 'abandoned', 'merged') THEN 'status ' || dwh_etl.quote_reason(t.status) || ' is unknown' END",
                    "dwh_etl.reason_length('branch_name', t.branch_name, run.max_key_length)",
                    "dwh_etl.reason_length('associated_issue_id', t.associated_issue_id, run.max_key_length)"]},
        {"target": "silver.devflow_infrastructure", "bronze": "bronze.devflow_infrastructure", "key": ["resource_id"], "ts_column": "updated_at",
         "checks": ["CASE WHEN t.resource_type NOT IN ('VPC', 'Subnet', 'EC2', 'ECS', 'RDS', 'S3', 'Lambda', 'ALB', 'CloudFront', 'Route53') THEN 'resource_type ' || dwh_etl.quote_reason(t.resource_type) || ' is unknown' END"]},
        {"target": "silver.devflow_label_history", "bronze": "bronze.devflow_label_history", "key": ["id"], "ts_column": "updated_at",
         "checks": ["CASE WHEN t.action NOT IN ('added', 'removed') THEN 'action ' || dwh_etl.quote_reason(t.action) || ' is not added or removed' END"]}]}},
    "silver_events": {"step": "devflow_silver_events", "kind": "silver", "layer": "silver",
     "depends_on": ["devflow_extract_events"],
     "sources": ["bronze.devflow_agent_execution_logs", "bronze.devflow_code_gen_tasks", "bronze.devflow_review_results", "bronze.devflow_deployment_pipelines"],
     "targets": ["silver.devflow_agent_execution_logs", "silver.devflow_code_gen_tasks", "silver.devflow_review_results", "silver.devflow_deployment_pipelines"],
     "feeds": [["bronze.devflow_agent_execution_logs", "silver.devflow_agent_execution_logs"], ["bronze.devflow_code_gen_tasks", "silver.devflow_code_gen_tasks"],
               ["bronze.devflow_review_results", "silver.devflow_review_results"], ["bronze.devflow_deployment_pipelines", "silver.devflow_deployment_pipelines"]],
     "spec": {"timezone_setting": "devflow.source_timezone", "key_length_setting": "devflow.max_key_length", "loads": [
        {"target": "silver.devflow_agent_execution_logs", "bronze": "bronze.devflow_agent_execution_logs", "key": ["id"], "ts_column": "updated_at",
         "checks": ["CASE WHEN t.completed_at < t.started_at THEN 'completed_at is before started_at' END",
                    "CASE WHEN t.cpu_usage_percent NOT BETWEEN 0 AND 100 THEN 'cpu_usage_percent is out of range' END",
                    "CASE WHEN t.issue_id IS NULL THEN 'issue_id is missing' WHEN dwh_etl.is_blank(t.issue_id) THEN 'issue_id is blank' END",
                    "dwh_etl.reason_length('llm_provider', t.llm_provider, 50)",
                    "dwh_etl.reason_length('llm_model', t.llm_model, 100)"]},
        {"target": "silver.devflow_code_gen_tasks", "bronze": "bronze.devflow_code_gen_tasks", "key": ["id"], "ts_column": "updated_at",
         "checks": ["CASE WHEN t.total_lines_generated < 0 THEN 'total_lines_generated is negative' END",
                    "dwh_etl.reason_length('commit_sha', t.commit_sha, 40)",
                    "dwh_etl.reason_length('ai_model_name', t.ai_model_name, 100)"]},
        {"target": "silver.devflow_review_results", "bronze": "bronze.devflow_review_results", "key": ["id"], "ts_column": "updated_at",
         "checks": ["CASE WHEN t.review_score NOT BETWEEN 0 AND 1 THEN 'review_score is not between 0 and 1' END",
                    "CASE WHEN t.test_coverage_percent NOT BETWEEN 0 AND 100 THEN 'test_coverage_percent is not between 0 and 100' END"]},
        {"target": "silver.devflow_deployment_pipelines", "bronze": "bronze.devflow_deployment_pipelines", "key": ["id"], "ts_column": "updated_at",
         "checks": ["CASE WHEN t.deployment_status NOT IN ('SUCCESS', 'FAILED', 'ROLLED_BACK', 'PARTIAL', 'RUNNING') THEN 'deployment_status ' || dwh_etl.quote_reason(t.deployment_status) || ' is unknown' END",
                    "CASE WHEN t.environment NOT IN ('dev', 'staging', 'production') THEN 'environment ' || dwh_etl.quote_reason(t.environment) || ' is unknown' END",
                    "CASE WHEN t.deployment_type NOT IN ('BLUE_GREEN', 'CANARY', 'ROLLING', 'RECREATE') THEN 'deployment_type ' || dwh_etl.quote_reason(t.deployment_type) || ' is unknown' END",
                    "CASE WHEN t.completed_at < t.started_at THEN 'completed_at is before started_at' END",
                    "CASE WHEN t.health_check_pass_rate NOT BETWEEN 0 AND 100 THEN 'health_check_pass_rate is not between 0 and 100' END",
                    "CASE WHEN abs(COALESCE(t.infrastructure_cost_usd, 0) + COALESCE(t.data_transfer_cost_usd, 0)) >= 1e8 THEN 'infrastructure_cost_usd + data_transfer_cost_usd is out of range for numeric(10,2)' END",
                    "dwh_etl.reason_length('commit_sha', t.commit_sha, 40)",
                    "dwh_etl.reason_length('pipeline_id', t.pipeline_id, 100)"]}]}},
    "silver_pull_requests": {"step": "devflow_silver_pull_requests", "kind": "silver", "layer": "silver",
     "depends_on": ["devflow_ingest_pull_requests"],
     "sources": ["bronze.devflow_pull_requests"], "targets": ["silver.devflow_pull_requests"],
     "spec": {"target": "silver.devflow_pull_requests", "bronze": "bronze.devflow_pull_requests", "source": "devflow._bronze_pull_requests",
              "key": ["pr_number"], "ts_column": "updated_at",
              "timezone_setting": "devflow.source_timezone", "key_length_setting": "devflow.max_key_length",
              "checks": ["CASE WHEN t.state NOT IN ('open', 'closed') THEN 'state ' || dwh_etl.quote_reason(t.state) || ' is not open or closed' END"]}},
    "silver_metrics": {"step": "devflow_silver_metrics", "kind": "silver", "layer": "silver",
     "depends_on": ["devflow_ingest_metrics"],
     "sources": ["bronze.devflow_metric_samples"], "targets": ["silver.devflow_metric_samples"],
     "spec": {"target": "silver.devflow_metric_samples", "bronze": "bronze.devflow_metric_samples", "source": "devflow._bronze_metric_samples",
              "key": ["resource_id", "measured_at"], "ts_column": "updated_at",
              "timezone_setting": "devflow.source_timezone", "key_length_setting": "devflow.max_key_length",
              "checks": ["CASE WHEN b._metrics_type IS NULL THEN 'metrics is missing' WHEN b._metrics_type <> 'object' THEN 'metrics is a JSON ' || b._metrics_type || ', not an object: ' || dwh_etl.quote_reason(b._metrics_text) END",
                         "CASE WHEN t.cpu_utilization_percent NOT BETWEEN 0 AND 100 THEN 'cpu_utilization_percent is not between 0 and 100' END",
                         "CASE WHEN t.memory_utilization_percent NOT BETWEEN 0 AND 100 THEN 'memory_utilization_percent is not between 0 and 100' END",
                         "CASE WHEN t.disk_usage_percent NOT BETWEEN 0 AND 100 THEN 'disk_usage_percent is not between 0 and 100' END"]}}
    }$json$;
    v_steps jsonb;
BEGIN
    v_all := v_all || v_silver;
    -- daily: the whole area
    SELECT jsonb_agg(s.value) INTO v_steps FROM jsonb_each(v_all) AS s;
    CALL dwh_etl.register_steps(p_pipeline => 'daily', p_area => 'devflow', p_steps => v_steps);
    -- weekly dimension refresh: the entities, their dimensions, and the marts that read them
    SELECT jsonb_agg(s.value) INTO v_steps FROM jsonb_each(v_all) AS s
    WHERE s.key IN ('extract_entities', 'silver_entities', 'dimensions');
    CALL dwh_etl.register_steps(p_pipeline => 'devflow_weekly', p_area => 'devflow', p_steps => v_steps);
    -- hourly agent metrics (the entities come along, so a new agent, issue or worktree has its dimension row)
    SELECT jsonb_agg(s.value) INTO v_steps FROM jsonb_each(v_all) AS s
    WHERE s.key IN ('extract_entities', 'extract_events', 'silver_entities', 'silver_events', 'dimensions',
                    'fact_agent_execution', 'mart_agent_performance');
    CALL dwh_etl.register_steps(p_pipeline => 'devflow_hourly', p_area => 'devflow', p_steps => v_steps);
    -- every 5 minutes: metric samples (and the inventory, for a new resource's dimension row)
    SELECT jsonb_agg(s.value) INTO v_steps FROM jsonb_each(v_all) AS s
    WHERE s.key IN ('extract_entities', 'ingest_metrics', 'silver_entities', 'silver_metrics', 'dimensions',
                    'fact_performance_metrics');
    CALL dwh_etl.register_steps(p_pipeline => 'devflow_5min', p_area => 'devflow', p_steps => v_steps);
END
$register$;
