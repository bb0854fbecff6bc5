-- Quality rules of the devflow area (applied by dwh migrate whenever this file changes; idempotent).

-- Row validation settings of the devflow silver loads (issue 9). The sane range of instants reads the
-- shared quality.min_event_date / quality.max_future (defaults 1990-01-01 / 1 day, also when unset).
INSERT INTO dwh_etl.settings (key, value, description) VALUES
    ('devflow.source_timezone', 'UTC', 'Time zone of the devflow source''s zone-less timestamp texts (a text with Z or an offset keeps its own). Not the session''s TimeZone: a load gives the same result whoever runs it.'),
    ('devflow.max_key_length', '500', 'Longest natural key or indexed text (characters) a devflow silver load accepts; longer rows are quarantined (a 10 MB key failed the index: "index row requires 10000016 bytes").')
ON CONFLICT (key) DO NOTHING;
-- The seed's three checks: duplicate facts (unique on the seed's key issue_number + started_at),
-- referential integrity against ANY version of dim_issue (the seed accepted only the current version,
-- which flags every fact made before an issue changed), and freshness within 2 hours (warn).
CALL dwh_etl.register_rules(p_area => 'devflow', p_rules => '[
    {"name": "devflow_fip_no_duplicates", "table": "devflow.fact_issue_processing", "type": "unique", "columns": ["issue_number", "started_at"],
     "description": "seed 000 check_duplicates"},
    {"name": "devflow_fip_issue_fk", "table": "devflow.fact_issue_processing", "type": "relationships", "columns": ["issue_key"],
     "params": {"to_table": "devflow.dim_issue", "to_column": "issue_key"},
     "description": "seed 000 check_referential_integrity, against any version of the issue"},
    {"name": "devflow_fip_fresh", "table": "devflow.fact_issue_processing", "type": "freshness", "columns": ["completed_at"],
     "params": {"max_age": "2 hours"}, "severity": "warn", "scope": "table", "description": "seed 000 check_data_freshness"},
    {"name": "devflow_fip_keys_not_null", "table": "devflow.fact_issue_processing", "type": "not_null", "columns": ["issue_key", "time_key", "issue_number", "started_at"]},
    {"name": "devflow_fip_agent_fk", "table": "devflow.fact_issue_processing", "type": "relationships", "columns": ["agent_key"],
     "params": {"to_table": "devflow.dim_agent", "to_column": "agent_key"}},
    {"name": "devflow_fip_coverage_range", "table": "devflow.fact_issue_processing", "type": "range", "columns": ["test_coverage_percent"], "params": {"min": 0, "max": 100}},
    {"name": "devflow_fae_unique", "table": "devflow.fact_agent_execution", "type": "unique", "columns": ["execution_id"]},
    {"name": "devflow_fae_keys_not_null", "table": "devflow.fact_agent_execution", "type": "not_null", "columns": ["execution_id", "time_key", "agent_key", "issue_key"]},
    {"name": "devflow_fae_issue_fk", "table": "devflow.fact_agent_execution", "type": "relationships", "columns": ["issue_key"],
     "params": {"to_table": "devflow.dim_issue", "to_column": "issue_key"}},
    {"name": "devflow_fcg_unique", "table": "devflow.fact_code_generation", "type": "unique", "columns": ["code_gen_id"]},
    {"name": "devflow_fcg_keys_not_null", "table": "devflow.fact_code_generation", "type": "not_null", "columns": ["code_gen_id", "time_key", "issue_key"]},
    {"name": "devflow_fd_unique", "table": "devflow.fact_deployment", "type": "unique", "columns": ["deployment_id"]},
    {"name": "devflow_fd_keys_not_null", "table": "devflow.fact_deployment", "type": "not_null", "columns": ["deployment_id", "time_key", "issue_key", "infrastructure_key"]},
    {"name": "devflow_fd_status", "table": "devflow.fact_deployment", "type": "accepted_values", "columns": ["deployment_status"],
     "params": {"values": ["SUCCESS", "FAILED", "ROLLED_BACK", "PARTIAL"]}},
    {"name": "devflow_fpm_unique", "table": "devflow.fact_performance_metrics", "type": "unique", "columns": ["resource_id", "measured_at"]},
    {"name": "devflow_fpm_infra_not_null", "table": "devflow.fact_performance_metrics", "type": "not_null", "columns": ["infrastructure_key", "time_key"]},
    {"name": "devflow_fpm_cpu_range", "table": "devflow.fact_performance_metrics", "type": "range", "columns": ["cpu_utilization_percent"], "params": {"min": 0, "max": 100}},
    {"name": "devflow_fpm_fresh", "table": "devflow.fact_performance_metrics", "type": "freshness", "columns": ["measured_at"],
     "params": {"max_age": "15 minutes"}, "severity": "warn", "scope": "table", "description": "SLA: samples arrive every 5 minutes"},
    {"name": "devflow_dim_issue_current_unique", "table": "devflow.dim_issue", "type": "unique", "columns": ["issue_id"], "params": {"where": "is_current"}},
    {"name": "devflow_dim_issue_version_unique", "table": "devflow.dim_issue", "type": "unique", "columns": ["issue_id", "version"]},
    {"name": "devflow_dim_issue_priority", "table": "devflow.dim_issue", "type": "accepted_values", "columns": ["priority"],
     "params": {"values": ["P0", "P1", "P2", "P3", "P4"]}},
    {"name": "devflow_dim_infra_current_unique", "table": "devflow.dim_infrastructure", "type": "unique", "columns": ["resource_id"], "params": {"where": "is_current"}},
    {"name": "devflow_dim_agent_unique", "table": "devflow.dim_agent", "type": "unique", "columns": ["agent_id"], "params": {"where": "is_current"}},
    {"name": "devflow_dim_label_unique", "table": "devflow.dim_label", "type": "unique", "columns": ["label_name"], "params": {"where": "is_current"}},
    {"name": "devflow_dim_worktree_unique", "table": "devflow.dim_worktree", "type": "unique", "columns": ["worktree_path"], "params": {"where": "is_current"}},
    {"name": "devflow_silver_executions_unique", "table": "silver.devflow_agent_execution_logs", "type": "unique", "columns": ["id"]},
    {"name": "devflow_mart_dev_perf_unique", "table": "devflow.mart_development_performance", "type": "unique", "scope": "table",
     "columns": ["year", "quarter", "month", "week_of_year", "priority", "complexity", "agent_type"]},
    {"name": "devflow_mart_agent_perf_unique", "table": "devflow.mart_agent_performance", "type": "unique", "scope": "table",
     "columns": ["year", "month", "agent_name", "agent_type", "ai_model"]},
    {"name": "devflow_mart_infra_cost_unique", "table": "devflow.mart_infrastructure_cost", "type": "unique", "scope": "table",
     "columns": ["year", "month", "day_of_month", "resource_type", "region", "instance_type"]}
]');
