-- What the generic fact step reads for agents.fact_training: one row per silver feedback entry with its
-- source id (feedback_id, the upsert key: a finished annotation updates the row), event time created_at,
-- natural keys agent_name / conversation_id / annotator_user_id, and the date key in the area's zone.
-- The zone is a scalar subquery (an InitPlan: read once per statement). As a one-row subquery in FROM it
-- was pulled up and every row called dwh_etl.setting_timezone again (agents queries over 880k rows: 8.9 s
-- against 2.3 s); kept apart with OFFSET 0 it became a join of its own that the planner put first, and
-- citizen's content usage scanned its events once per content (46 s for a next day at scale 1).
CREATE OR REPLACE VIEW silver.agents_fact_training_source AS
SELECT f.feedback_id,
       f.query_id,
       f.created_at,
       agents._time_key(f.created_at, (SELECT dwh_etl.setting_timezone('agents.timezone'))) AS time_key,
       f.agent                                AS agent_name,
       f.conversation_id,
       f.annotator_id                         AS annotator_user_id,
       f.safe_to_send,
       f.clarity_score,
       f.accuracy_score,
       f.tone_score,
       COALESCE(f.labels, '{}')               AS labels,
       f.annotated_at,
       f.updated_at,
       f._loaded_at,
       f.is_deleted,
       f._source_bronze_id
FROM silver.agents_agent_feedback AS f;
COMMENT ON VIEW silver.agents_fact_training_source IS 'Source of agents.fact_training: source id feedback_id, event time created_at, natural keys agent_name / conversation_id / annotator_user_id.';
REVOKE ALL ON silver.agents_fact_training_source FROM PUBLIC, analyst_role;
