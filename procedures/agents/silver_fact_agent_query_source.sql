-- What the generic fact step reads for agents.fact_agent_query: one row per silver query with its source
-- id (query_id, the upsert key), its event time (created_at: the dimension versions valid then are looked
-- up by the natural keys agent_name, conversation_id, user_id; unknown ones become inferred members) and
-- its date key in the area's zone (setting agents.timezone, default UTC; the seed's DATE(created_at)
-- depended on the session's zone). query_hash = md5 of the query text, as the seed.
-- The zone is a scalar subquery (an InitPlan: read once per statement). As a one-row subquery in FROM it
-- was pulled up and every row called dwh_etl.setting_timezone again (agents queries over 880k rows: 8.9 s
-- against 2.3 s); kept apart with OFFSET 0 it became a join of its own that the planner put first, and
-- citizen's content usage scanned its events once per content (46 s for a next day at scale 1).
CREATE OR REPLACE VIEW silver.agents_fact_agent_query_source AS
SELECT q.query_id,
       q.created_at,
       agents._time_key(q.created_at, (SELECT dwh_etl.setting_timezone('agents.timezone'))) AS time_key,
       q.agent                                AS agent_name,
       q.conversation_id,
       q.user_id,
       md5(q.query)                           AS query_hash,
       q.result_size_bytes,
       q.latency_ms,
       q.approved,
       COALESCE(q.human_edited, false)        AS human_edited,
       COALESCE(q.error_occurred, false)      AS error_occurred,
       q.updated_at,
       q._loaded_at,
       q.is_deleted,
       q._source_bronze_id
FROM silver.agents_agent_queries AS q;
COMMENT ON VIEW silver.agents_fact_agent_query_source IS 'Source of agents.fact_agent_query: source id query_id, event time created_at, natural keys agent_name / conversation_id / user_id, time_key in the area''s zone.';
REVOKE ALL ON silver.agents_fact_agent_query_source FROM PUBLIC, analyst_role;
