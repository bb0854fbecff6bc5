-- Registry data of the agents area (seed 001, issue 11), in ONE call (applied by dwh migrate whenever this
-- file changes; idempotent: a key present is the whole truth for its entries).
--
-- Steps are not declared yet: the typed kinds silver / dimension / fact are being built (issue 10). The
-- steps this area needs, with their kind and what each reads (add them as "steps" when the kinds land):
--   agents_extract          extract    agents_src.{agents,users,conversations,agent_queries,agent_approvals,
--                                      agent_feedback,deleted_records} -> bronze.agents_* (schema_setting
--                                      agents.source_schema, arrival column _dwh_arrived_at)
--   agents_silver           silver     silver.agents_<table>_typed -> silver.agents_<table>, key as in the
--                                      migration, rows with _reasons quarantined, tombstones from
--                                      bronze.agents_deleted_records; depends on agents_extract
--   agents_dim_agent        dimension  silver.agents_dim_agent_source -> agents.dim_agent (spec below)
--   agents_dim_user         dimension  silver.agents_dim_user_source -> agents.dim_user (spec below)
--   agents_dim_conversation dimension  silver.agents_dim_conversation_source -> agents.dim_conversation
--                                      (Type 1 upsert by conversation_id, completes inferred members;
--                                      first/last seen and counters from the three facts)
--   agents_fact_agent_query fact       silver.agents_fact_agent_query_source -> agents.fact_agent_query
--                                      (upsert by query_id; event time created_at; agent_name -> dim_agent,
--                                      conversation_id -> dim_conversation, user_id -> dim_user; inferred
--                                      members for unknown agents / conversations; today
--                                      agents.etl_load_agent_queries(p_date) does this for one day)
--   agents_fact_approval    fact       silver.agents_fact_approval_source -> agents.fact_approval (upsert by
--                                      approval_id: accumulating snapshot; approved_by_user_id -> dim_user)
--   agents_fact_training    fact       silver.agents_fact_training_source -> agents.fact_training (upsert by
--                                      feedback_id; annotator_user_id -> dim_user)
--   agents_agg_daily        mart       agents.agg_agent_daily_performance for the affected days only:
--                                      agents.refresh_agg_agent_daily_performance(day) per time_key touched
--                                      by the run (a custom step until the mart kind takes a per-date routine)
-- Pipelines: the whole chain in daily and agents_nightly; dimensions in agents_dimensions; the aggregate
-- in agents_aggregate (and at the end of the other two).
CALL dwh_etl.register_area('agents', '{
    "description": "Seed 001: agent SDK analytics: every agent query, human approval request and training feedback entry, with daily agent performance (star schema agents).",
    "demo": {"generate": "agents_src.generate", "generated_when": "agents_src.agents",
             "next_day": "agents_src.generate_next_day", "clock": "agents_src.agent_queries.created_at", "order": 30},
    "settings": [
        {"key": "agents.source_schema", "value": "agents_src",
         "description": "Schema of the operational agents source (agents, users, conversations, agent_queries, agent_approvals, agent_feedback, deleted_records)."},
        {"key": "agents.timezone", "value": "UTC",
         "description": "Time zone of the agents area''s dates: a fact''s time_key is the date of its event in this zone (the seed''s DATE(created_at) used the session''s zone). Zone-less source timestamp texts are read in it too."}
    ],
    "tables": [
        {"table": "agents_src.agents", "layer": "source", "description": "operational agent registry"},
        {"table": "agents_src.users", "layer": "source", "description": "operational users, approvers, annotators"},
        {"table": "agents_src.conversations", "layer": "source", "description": "operational conversations"},
        {"table": "agents_src.agent_queries", "layer": "source", "description": "operational agent queries"},
        {"table": "agents_src.agent_approvals", "layer": "source", "description": "operational approval requests"},
        {"table": "agents_src.agent_feedback", "layer": "source", "description": "operational training feedback"},
        {"table": "agents_src.deleted_records", "layer": "source", "description": "operational tombstones"},
        {"table": "bronze.agents_agents", "layer": "bronze"},
        {"table": "bronze.agents_users", "layer": "bronze"},
        {"table": "bronze.agents_conversations", "layer": "bronze"},
        {"table": "bronze.agents_agent_queries", "layer": "bronze"},
        {"table": "bronze.agents_agent_approvals", "layer": "bronze"},
        {"table": "bronze.agents_agent_feedback", "layer": "bronze"},
        {"table": "bronze.agents_deleted_records", "layer": "bronze"},
        {"table": "silver.agents_agents", "layer": "silver"},
        {"table": "silver.agents_users", "layer": "silver"},
        {"table": "silver.agents_conversations", "layer": "silver"},
        {"table": "silver.agents_agent_queries", "layer": "silver"},
        {"table": "silver.agents_agent_approvals", "layer": "silver"},
        {"table": "silver.agents_agent_feedback", "layer": "silver"},
        {"table": "agents.dim_agent", "layer": "gold", "description": "agent dimension, SCD2"},
        {"table": "agents.dim_user", "layer": "gold", "description": "user / annotator dimension, SCD2"},
        {"table": "agents.dim_conversation", "layer": "gold", "description": "conversation dimension with counters"},
        {"table": "agents.fact_agent_query", "layer": "gold", "description": "one row per agent query"},
        {"table": "agents.fact_approval", "layer": "gold", "description": "one row per approval request (accumulating snapshot)"},
        {"table": "agents.fact_training", "layer": "gold", "description": "one row per training feedback entry"},
        {"table": "agents.agg_agent_daily_performance", "layer": "mart", "description": "daily agent performance"}
    ],
    "dimensions": [
        {"dimension": "agents.dim_agent", "target": "agents.dim_agent", "surrogate_key": "agent_key",
         "natural_key": ["agent_name"],
         "type2_columns": ["agent_type", "capabilities", "sla_target_seconds", "cost_per_query_usd", "is_inferred"],
         "type1_columns": [], "change_ts": "change_ts", "deleted_flag": "is_deleted", "delete_policy": "close",
         "description": "Agent dimension (seed 001), Type 2: type, capabilities, SLA and cost are history; an inferred member is replaced by a real version when the agent arrives."},
        {"dimension": "agents.dim_user", "target": "agents.dim_user", "surrogate_key": "user_key",
         "natural_key": ["user_id"],
         "type2_columns": ["user_type", "team", "is_inferred"],
         "type1_columns": [], "change_ts": "change_ts", "deleted_flag": "is_deleted", "delete_policy": "close",
         "description": "User / annotator dimension (seed 001), Type 2: type and team are history."}
    ],
    "pipelines": [
        {"pipeline": "agents_nightly", "schedules": ["0 3 * * *"],
         "description": "Seed 001 ETL 1: operational -> warehouse, nightly at 03:00 UTC (incremental by arrival; a missed night is caught up by the next run)."},
        {"pipeline": "agents_dimensions", "schedules": ["30 2 * * *"],
         "description": "Seed 001 ETL 2: daily dimension maintenance (dim_agent and dim_user SCD2, conversations), before the nightly load."},
        {"pipeline": "agents_aggregate", "schedules": ["30 3 * * *"],
         "description": "Seed 001 aggregation: agg_agent_daily_performance for the days the load touched, after the nightly load."}
    ],
    "rules": [
        {"name": "agents_dim_agent_type", "table": "agents.dim_agent", "type": "accepted_values", "columns": ["agent_type"],
         "params": {"values": ["data", "engineer", "support", "marketing", "ai", "qa", "ops"]}, "description": "seed 001 CHECK on agent_type"},
        {"name": "agents_dim_agent_current_unique", "table": "agents.dim_agent", "type": "unique", "columns": ["agent_name"],
         "params": {"where": "is_current"}, "scope": "table", "description": "one current version per agent"},
        {"name": "agents_dim_user_type", "table": "agents.dim_user", "type": "accepted_values", "columns": ["user_type"],
         "params": {"values": ["annotator", "approver", "qa_team", "operator"]}, "description": "seed 001 CHECK on user_type"},
        {"name": "agents_dim_user_current_unique", "table": "agents.dim_user", "type": "unique", "columns": ["user_id"],
         "params": {"where": "is_current"}, "scope": "table", "description": "one current version per user"},
        {"name": "agents_dim_conversation_unique", "table": "agents.dim_conversation", "type": "unique", "columns": ["conversation_id"]},
        {"name": "agents_faq_unique", "table": "agents.fact_agent_query", "type": "unique", "columns": ["query_id"]},
        {"name": "agents_faq_keys_not_null", "table": "agents.fact_agent_query", "type": "not_null",
         "columns": ["query_id", "agent_key", "time_key", "conv_key", "latency_ms", "created_at"]},
        {"name": "agents_faq_agent_fk", "table": "agents.fact_agent_query", "type": "relationships", "columns": ["agent_key"],
         "params": {"to_table": "agents.dim_agent", "to_column": "agent_key"}},
        {"name": "agents_faq_latency_range", "table": "agents.fact_agent_query", "type": "range", "columns": ["latency_ms"],
         "params": {"min": 0, "max": 3600000}},
        {"name": "agents_fa_unique", "table": "agents.fact_approval", "type": "unique", "columns": ["approval_id"]},
        {"name": "agents_fa_status", "table": "agents.fact_approval", "type": "accepted_values", "columns": ["status"],
         "params": {"values": ["pending", "approved", "rejected", "expired"]}, "description": "seed 001 CHECK on status"},
        {"name": "agents_fa_resolved_after_created", "table": "agents.fact_approval", "type": "custom_sql", "columns": [],
         "params": {"sql": "SELECT approval_id, created_at, resolved_at FROM agents.fact_approval WHERE resolved_at < created_at OR (status = ''pending'') <> (resolved_at IS NULL)"},
         "description": "resolution after creation; pending exactly when unresolved"},
        {"name": "agents_ft_unique", "table": "agents.fact_training", "type": "unique", "columns": ["feedback_id"]},
        {"name": "agents_ft_clarity_range", "table": "agents.fact_training", "type": "range", "columns": ["clarity_score"], "params": {"min": 1, "max": 5}},
        {"name": "agents_ft_accuracy_range", "table": "agents.fact_training", "type": "range", "columns": ["accuracy_score"], "params": {"min": 1, "max": 5}},
        {"name": "agents_ft_tone_range", "table": "agents.fact_training", "type": "range", "columns": ["tone_score"], "params": {"min": 1, "max": 5}},
        {"name": "agents_ft_annotated_after_created", "table": "agents.fact_training", "type": "custom_sql", "columns": [],
         "params": {"sql": "SELECT feedback_id, created_at, annotated_at FROM agents.fact_training WHERE annotated_at < created_at"},
         "description": "annotation after creation"},
        {"name": "agents_agg_unique", "table": "agents.agg_agent_daily_performance", "type": "unique", "columns": ["agent_key", "time_key"], "scope": "table"},
        {"name": "agents_faq_reconciles_with_silver", "table": "agents.fact_agent_query", "type": "custom_sql", "columns": [],
         "params": {"sql": "SELECT s.query_id FROM silver.agents_agent_queries AS s WHERE NOT EXISTS (SELECT 1 FROM agents.fact_agent_query AS f WHERE f.query_id = s.query_id)"},
         "scope": "table", "severity": "warn", "description": "reconciliation per load: every silver query is in the fact"}
    ]
}');
