-- What the generic fact step reads for agents.fact_training: one row per silver feedback entry with its
-- source id (feedback_id, the upsert key: a finished annotation updates the row), event time created_at,
-- natural keys agent_name / conversation_id / annotator_user_id, and the date key in the area's zone.
CREATE OR REPLACE VIEW silver.agents_fact_training_source AS
SELECT f.feedback_id,
       f.query_id,
       f.created_at,
       agents._time_key(f.created_at, z.zone) AS time_key,
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
FROM silver.agents_agent_feedback AS f
CROSS JOIN (SELECT dwh_etl.setting_timezone('agents.timezone') AS zone) AS z;
COMMENT ON VIEW silver.agents_fact_training_source IS 'Source of agents.fact_training: source id feedback_id, event time created_at, natural keys agent_name / conversation_id / annotator_user_id.';
REVOKE ALL ON silver.agents_fact_training_source FROM PUBLIC, analyst_role;
