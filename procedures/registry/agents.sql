-- Registry data of the agents area (seed 001, issue 11), in ONE call (applied by dwh migrate whenever this
-- file changes; idempotent: a key present is the whole truth for its entries).
--
-- The steps, typed where a kind fits (the engine's dwh_etl.step_<kind> runs them from their spec):
--   agents_extract                extract    agents_src.* -> bronze.agents_*, one snapshot
--   agents_silver_entities        silver     agents, users, conversations: the typing views
--                                            silver.agents_<table>_typed give the typed row and every reason
--                                            (reasons_column _reasons); bad rows are quarantined; the checks
--                                            hold the event and change times to the sane range (run.min_ts,
--                                            run.max_ts: quality.min_event_date, quality.max_future) as the
--                                            engine typing does: a query dated 1066 or 2999 reached gold (attack 9a);
--                                            a key with white space around it ('helper ') is quarantined, not
--                                            trimmed into another record ('helper'), and so is a reference
--                                            naming such a key exactly (dwh_etl.reason_padded_key; attack 9a)
--   agents_silver_events          silver     agent_queries, agent_approvals, agent_feedback, the same way
--                                            (both: tombstones of agents_src.deleted_records set is_deleted;
--                                            a deleted fact row is removed, a deleted agent or user closed)
--   agents_scd_dimensions         dimension  dim_agent and dim_user (SCD2, apply_dimension: an inferred
--                                            member is completed in place when its row arrives)
--   agents_dim_conversation       custom     dim_conversation is Type 1 with counters, not SCD: no kind fits
--                                            (agents.step_dim_conversation)
--   agents_fact_agent_query       fact       upsert by query_id; agent / user versions valid at created_at;
--   agents_fact_approval          fact       accumulating snapshot: upsert by approval_id (a resolution
--                                            updates the row); approver valid at resolved_at
--   agents_fact_training          fact       upsert by feedback_id; annotator valid at created_at
--                                            every fact: unknown agents, users and conversations become
--                                            inferred members (lookup option "inferred"), the days and
--                                            conversations touched are queued (affected_queue)
--   agents_conversation_counters  custom     recount the queued conversations' counters (a recount, so a
--                                            rerun cannot double them) and their first/last seen from
--                                            their start (silver) and facts (attack 13a: widened only,
--                                            a moved or deleted query's time stayed for good)
--   agents_approval_sla           custom     approvals take the SLA of the agent version they point at when
--                                            that version changed in place (an inferred member completed:
--                                            it had the default 300 s; attack 15d), their days queued
--   agents_agg_daily              custom     agg_agent_daily_performance for the queued days only
--                                            (agents.refresh_agg_agent_daily_performance per day, the
--                                            seed's function a DBA calls: not the mart kind's table form)
--   agents_agg_scheduled          custom     the same procedure in the agents_aggregate pipeline (step
--                                            names are unique in a spec and that pipeline has no facts)
-- Pipelines: daily and agents_nightly run the whole chain; agents_dimensions extract, entities' silver and
-- dimensions; agents_aggregate the aggregate (its queue is filled by the loads).
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
         "type2_columns": ["agent_type", "capabilities", "sla_target_seconds", "cost_per_query_usd"],
         "type1_columns": [], "change_ts": "change_ts", "deleted_flag": "is_deleted", "delete_policy": "close",
         "description": "Agent dimension (seed 001), Type 2: type, capabilities, SLA and cost are history; an inferred member (is_inferred) is completed in place when the agent arrives."},
        {"dimension": "agents.dim_user", "target": "agents.dim_user", "surrogate_key": "user_key",
         "natural_key": ["user_id"],
         "type2_columns": ["user_type", "team"],
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
    "steps": [
        {"step": "agents_extract", "kind": "extract", "layer": "bronze",
         "pipelines": ["daily", "agents_nightly", "agents_dimensions"],
         "spec": {"schema_setting": "agents.source_schema", "default_schema": "agents_src",
                  "tables": [["agents", "bronze.agents_agents"], ["users", "bronze.agents_users"],
                             ["conversations", "bronze.agents_conversations"], ["agent_queries", "bronze.agents_agent_queries"],
                             ["agent_approvals", "bronze.agents_agent_approvals"], ["agent_feedback", "bronze.agents_agent_feedback"],
                             ["deleted_records", "bronze.agents_deleted_records"]]},
         "description": "agents, users, conversations, queries, approvals, feedback and tombstones that arrived in the source, into bronze, in one snapshot",
         "sources": ["agents_src.agents", "agents_src.users", "agents_src.conversations", "agents_src.agent_queries",
                     "agents_src.agent_approvals", "agents_src.agent_feedback", "agents_src.deleted_records"],
         "targets": ["bronze.agents_agents", "bronze.agents_users", "bronze.agents_conversations", "bronze.agents_agent_queries",
                     "bronze.agents_agent_approvals", "bronze.agents_agent_feedback", "bronze.agents_deleted_records"],
         "feeds": [["agents_src.agents", "bronze.agents_agents"], ["agents_src.users", "bronze.agents_users"],
                   ["agents_src.conversations", "bronze.agents_conversations"], ["agents_src.agent_queries", "bronze.agents_agent_queries"],
                   ["agents_src.agent_approvals", "bronze.agents_agent_approvals"], ["agents_src.agent_feedback", "bronze.agents_agent_feedback"],
                   ["agents_src.deleted_records", "bronze.agents_deleted_records"]]},
        {"step": "agents_silver_entities", "kind": "silver", "layer": "silver",
         "pipelines": ["daily", "agents_nightly", "agents_dimensions"], "depends_on": ["agents_extract"],
         "spec": {"typing": "source", "reasons_column": "_reasons", "ts_column": "updated_at", "timezone_setting": "agents.timezone",
                  "loads": [
                      {"target": "silver.agents_agents", "bronze": "bronze.agents_agents", "source": "silver.agents_agents_typed", "key": ["agent_name"], "checks": ["CASE WHEN t.updated_at IS NOT NULL THEN dwh_etl.reason_timestamp(''updated_at'', to_char(t.updated_at AT TIME ZONE ''UTC'', ''YYYY-MM-DD HH24:MI:SS'') || ''Z'', t.updated_at, run.min_ts, run.max_ts) END"],
                       "tombstones": {"table": "bronze.agents_deleted_records", "key": "record_id", "deleted_at": "deleted_at", "match": {"table_name": "agents"}, "flag": "is_deleted"}},
                      {"target": "silver.agents_users", "bronze": "bronze.agents_users", "source": "silver.agents_users_typed", "key": ["user_id"], "checks": ["CASE WHEN t.updated_at IS NOT NULL THEN dwh_etl.reason_timestamp(''updated_at'', to_char(t.updated_at AT TIME ZONE ''UTC'', ''YYYY-MM-DD HH24:MI:SS'') || ''Z'', t.updated_at, run.min_ts, run.max_ts) END"],
                       "tombstones": {"table": "bronze.agents_deleted_records", "key": "record_id", "deleted_at": "deleted_at", "match": {"table_name": "users"}, "flag": "is_deleted"}},
                      {"target": "silver.agents_conversations", "bronze": "bronze.agents_conversations", "source": "silver.agents_conversations_typed", "key": ["conversation_id"], "checks": ["CASE WHEN t.started_at IS NOT NULL THEN dwh_etl.reason_timestamp(''started_at'', to_char(t.started_at AT TIME ZONE ''UTC'', ''YYYY-MM-DD HH24:MI:SS'') || ''Z'', t.started_at, run.min_ts, run.max_ts) END", "CASE WHEN t.updated_at IS NOT NULL THEN dwh_etl.reason_timestamp(''updated_at'', to_char(t.updated_at AT TIME ZONE ''UTC'', ''YYYY-MM-DD HH24:MI:SS'') || ''Z'', t.updated_at, run.min_ts, run.max_ts) END"],
                       "tombstones": {"table": "bronze.agents_deleted_records", "key": "record_id", "deleted_at": "deleted_at", "match": {"table_name": "conversations"}, "flag": "is_deleted"}}]},
         "description": "agents, users and conversations typed by their views, bad rows quarantined with every reason, latest state per key",
         "sources": ["bronze.agents_agents", "bronze.agents_users", "bronze.agents_conversations", "bronze.agents_deleted_records"],
         "targets": ["silver.agents_agents", "silver.agents_users", "silver.agents_conversations"],
         "feeds": [["bronze.agents_agents", "silver.agents_agents"], ["bronze.agents_users", "silver.agents_users"],
                   ["bronze.agents_conversations", "silver.agents_conversations"]]},
        {"step": "agents_silver_events", "kind": "silver", "layer": "silver",
         "pipelines": ["daily", "agents_nightly"], "depends_on": ["agents_extract"],
         "spec": {"typing": "source", "reasons_column": "_reasons", "ts_column": "updated_at", "timezone_setting": "agents.timezone",
                  "loads": [
                      {"target": "silver.agents_agent_queries", "bronze": "bronze.agents_agent_queries", "source": "silver.agents_agent_queries_typed", "key": ["query_id"], "checks": ["CASE WHEN t.created_at IS NOT NULL THEN dwh_etl.reason_timestamp(''created_at'', to_char(t.created_at AT TIME ZONE ''UTC'', ''YYYY-MM-DD HH24:MI:SS'') || ''Z'', t.created_at, run.min_ts, run.max_ts) END", "CASE WHEN t.updated_at IS NOT NULL THEN dwh_etl.reason_timestamp(''updated_at'', to_char(t.updated_at AT TIME ZONE ''UTC'', ''YYYY-MM-DD HH24:MI:SS'') || ''Z'', t.updated_at, run.min_ts, run.max_ts) END"],
                       "tombstones": {"table": "bronze.agents_deleted_records", "key": "record_id", "deleted_at": "deleted_at", "match": {"table_name": "agent_queries"}, "flag": "is_deleted"}},
                      {"target": "silver.agents_agent_approvals", "bronze": "bronze.agents_agent_approvals", "source": "silver.agents_agent_approvals_typed", "key": ["approval_id"], "checks": ["CASE WHEN t.created_at IS NOT NULL THEN dwh_etl.reason_timestamp(''created_at'', to_char(t.created_at AT TIME ZONE ''UTC'', ''YYYY-MM-DD HH24:MI:SS'') || ''Z'', t.created_at, run.min_ts, run.max_ts) END", "CASE WHEN t.resolved_at IS NOT NULL THEN dwh_etl.reason_timestamp(''resolved_at'', to_char(t.resolved_at AT TIME ZONE ''UTC'', ''YYYY-MM-DD HH24:MI:SS'') || ''Z'', t.resolved_at, run.min_ts, run.max_ts) END", "CASE WHEN t.updated_at IS NOT NULL THEN dwh_etl.reason_timestamp(''updated_at'', to_char(t.updated_at AT TIME ZONE ''UTC'', ''YYYY-MM-DD HH24:MI:SS'') || ''Z'', t.updated_at, run.min_ts, run.max_ts) END"],
                       "tombstones": {"table": "bronze.agents_deleted_records", "key": "record_id", "deleted_at": "deleted_at", "match": {"table_name": "agent_approvals"}, "flag": "is_deleted"}},
                      {"target": "silver.agents_agent_feedback", "bronze": "bronze.agents_agent_feedback", "source": "silver.agents_agent_feedback_typed", "key": ["feedback_id"], "checks": ["CASE WHEN t.created_at IS NOT NULL THEN dwh_etl.reason_timestamp(''created_at'', to_char(t.created_at AT TIME ZONE ''UTC'', ''YYYY-MM-DD HH24:MI:SS'') || ''Z'', t.created_at, run.min_ts, run.max_ts) END", "CASE WHEN t.annotated_at IS NOT NULL THEN dwh_etl.reason_timestamp(''annotated_at'', to_char(t.annotated_at AT TIME ZONE ''UTC'', ''YYYY-MM-DD HH24:MI:SS'') || ''Z'', t.annotated_at, run.min_ts, run.max_ts) END", "CASE WHEN t.updated_at IS NOT NULL THEN dwh_etl.reason_timestamp(''updated_at'', to_char(t.updated_at AT TIME ZONE ''UTC'', ''YYYY-MM-DD HH24:MI:SS'') || ''Z'', t.updated_at, run.min_ts, run.max_ts) END"],
                       "tombstones": {"table": "bronze.agents_deleted_records", "key": "record_id", "deleted_at": "deleted_at", "match": {"table_name": "agent_feedback"}, "flag": "is_deleted"}}]},
         "description": "queries, approval requests and feedback typed by their views, bad rows quarantined with every reason, latest state per source id",
         "sources": ["bronze.agents_agent_queries", "bronze.agents_agent_approvals", "bronze.agents_agent_feedback", "bronze.agents_deleted_records"],
         "targets": ["silver.agents_agent_queries", "silver.agents_agent_approvals", "silver.agents_agent_feedback"],
         "feeds": [["bronze.agents_agent_queries", "silver.agents_agent_queries"], ["bronze.agents_agent_approvals", "silver.agents_agent_approvals"],
                   ["bronze.agents_agent_feedback", "silver.agents_agent_feedback"]]},
        {"step": "agents_scd_dimensions", "kind": "dimension", "layer": "gold",
         "pipelines": ["daily", "agents_nightly", "agents_dimensions"], "depends_on": ["agents_silver_entities"],
         "spec": {"dimensions": [
                      {"dimension": "agents.dim_agent", "view": "silver.agents_dim_agent_source", "lineage_source": "silver.agents_agents"},
                      {"dimension": "agents.dim_user", "view": "silver.agents_dim_user_source", "lineage_source": "silver.agents_users"}]},
         "description": "dim_agent and dim_user as SCD2 history; inferred members completed in place",
         "sources": ["silver.agents_agents", "silver.agents_users"], "targets": ["agents.dim_agent", "agents.dim_user"],
         "feeds": [["silver.agents_agents", "agents.dim_agent"], ["silver.agents_users", "agents.dim_user"]]},
        {"step": "agents_dim_conversation", "procedure": "agents.step_dim_conversation", "layer": "gold",
         "pipelines": ["daily", "agents_nightly", "agents_dimensions"], "depends_on": ["agents_silver_entities"],
         "description": "dim_conversation (Type 1): new conversations, attribute changes, inferred members completed in place",
         "sources": ["silver.agents_conversations"], "targets": ["agents.dim_conversation"]},
        {"step": "agents_fact_agent_query", "kind": "fact", "layer": "gold",
         "pipelines": ["daily", "agents_nightly"], "depends_on": ["agents_silver_events", "agents_scd_dimensions", "agents_dim_conversation"],
         "spec": {"view": "silver.agents_fact_agent_query_source", "target": "agents.fact_agent_query", "deleted_column": "is_deleted", "natural_key": ["query_id"],
                  "mode": "upsert", "event_time": "created_at", "date_key": "time_key",
                  "lookups": [{"dimension": "agents.dim_agent", "columns": ["agent_name"], "inferred": true},
                              {"table": "agents.dim_conversation", "surrogate_key": "conv_key", "natural_key": ["conversation_id"],
                               "inferred": {"first_seen_at": "min(v.created_at)", "last_seen_at": "max(v.created_at)"}},
                              {"dimension": "agents.dim_user", "columns": ["user_id"], "inferred": true}],
                  "affected_queue": [{"table": "dwh_staging.agents_affected_days", "column": "time_key"},
                                     {"table": "dwh_staging.agents_affected_conversations", "column": "conv_key"}],
                  "lineage_source": "silver.agents_agent_queries"},
         "description": "one row per query (upsert by query_id), dimension versions valid at created_at",
         "sources": ["silver.agents_agent_queries", "agents.dim_agent", "agents.dim_user", "agents.dim_conversation", "gold.dim_date"],
         "targets": ["agents.fact_agent_query"]},
        {"step": "agents_fact_approval", "kind": "fact", "layer": "gold",
         "pipelines": ["daily", "agents_nightly"], "depends_on": ["agents_silver_events", "agents_scd_dimensions", "agents_dim_conversation"],
         "spec": {"view": "silver.agents_fact_approval_source", "target": "agents.fact_approval", "deleted_column": "is_deleted", "natural_key": ["approval_id"],
                  "mode": "upsert", "event_time": "created_at", "date_key": "time_key",
                  "lookups": [{"dimension": "agents.dim_agent", "columns": ["agent_name"], "inferred": true},
                              {"table": "agents.dim_conversation", "surrogate_key": "conv_key", "natural_key": ["conversation_id"],
                               "inferred": {"first_seen_at": "min(v.created_at)", "last_seen_at": "max(v.created_at)"}},
                              {"dimension": "agents.dim_user", "key": "approved_by_key", "columns": ["approved_by_user_id"],
                               "at": "resolved_at", "inferred": true}],
                  "affected_queue": [{"table": "dwh_staging.agents_affected_days", "column": "time_key"},
                                     {"table": "dwh_staging.agents_affected_conversations", "column": "conv_key"}],
                  "lineage_source": "silver.agents_agent_approvals"},
         "description": "accumulating snapshot, one row per approval request: inserted pending, updated in place when it resolves",
         "sources": ["silver.agents_agent_approvals", "agents.dim_agent", "agents.dim_user", "agents.dim_conversation", "gold.dim_date"],
         "targets": ["agents.fact_approval"]},
        {"step": "agents_fact_training", "kind": "fact", "layer": "gold",
         "pipelines": ["daily", "agents_nightly"], "depends_on": ["agents_silver_events", "agents_scd_dimensions", "agents_dim_conversation"],
         "spec": {"view": "silver.agents_fact_training_source", "target": "agents.fact_training", "deleted_column": "is_deleted", "natural_key": ["feedback_id"],
                  "mode": "upsert", "event_time": "created_at", "date_key": "time_key",
                  "lookups": [{"dimension": "agents.dim_agent", "columns": ["agent_name"], "inferred": true},
                              {"table": "agents.dim_conversation", "surrogate_key": "conv_key", "natural_key": ["conversation_id"],
                               "inferred": {"first_seen_at": "min(v.created_at)", "last_seen_at": "max(v.created_at)"}},
                              {"dimension": "agents.dim_user", "key": "annotator_key", "columns": ["annotator_user_id"], "inferred": true}],
                  "affected_queue": [{"table": "dwh_staging.agents_affected_days", "column": "time_key"},
                                     {"table": "dwh_staging.agents_affected_conversations", "column": "conv_key"}],
                  "lineage_source": "silver.agents_agent_feedback"},
         "description": "one row per feedback entry (upsert by feedback_id), dimension versions valid at created_at",
         "sources": ["silver.agents_agent_feedback", "agents.dim_agent", "agents.dim_user", "agents.dim_conversation", "gold.dim_date"],
         "targets": ["agents.fact_training"]},
        {"step": "agents_conversation_counters", "procedure": "agents.step_conversation_counters", "layer": "gold",
         "pipelines": ["daily", "agents_nightly"], "depends_on": ["agents_fact_agent_query", "agents_fact_approval", "agents_fact_training"],
         "description": "dim_conversation counters and first/last seen (from the conversation''s start and its facts) of the conversations whose facts or row changed",
         "sources": ["agents.fact_agent_query", "agents.fact_approval", "agents.fact_training", "silver.agents_conversations"], "targets": ["agents.dim_conversation"]},
        {"step": "agents_approval_sla", "procedure": "agents.step_approval_sla", "layer": "gold",
         "pipelines": ["daily", "agents_nightly"], "depends_on": ["agents_scd_dimensions", "agents_fact_approval"],
         "description": "approval requests of the agent versions written since the last run (a completed inferred member, a change) take their version''s SLA; their days are queued for the aggregate",
         "sources": ["agents.dim_agent"], "targets": ["agents.fact_approval"],
         "columns": {"agents.fact_approval.sla_target_seconds": {"from": ["agents.dim_agent.sla_target_seconds"], "how": "version pointed at"}}},
        {"step": "agents_agg_daily", "procedure": "agents.step_agg_daily_performance", "layer": "mart",
         "pipelines": ["daily", "agents_nightly"], "depends_on": ["agents_fact_agent_query", "agents_fact_approval", "agents_fact_training", "agents_approval_sla"],
         "description": "agg_agent_daily_performance for the days whose facts changed",
         "sources": ["agents.fact_agent_query", "agents.fact_approval", "agents.fact_training"], "targets": ["agents.agg_agent_daily_performance"]},
        {"step": "agents_agg_scheduled", "procedure": "agents.step_agg_daily_performance", "layer": "mart",
         "pipelines": ["agents_aggregate"],
         "description": "agg_agent_daily_performance for the days queued by the loads (the seed''s aggregation job)",
         "sources": ["agents.fact_agent_query", "agents.fact_approval", "agents.fact_training"], "targets": ["agents.agg_agent_daily_performance"]}
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
