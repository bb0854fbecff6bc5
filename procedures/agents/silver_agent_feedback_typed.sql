-- Silver typing view of agents_src.agent_feedback: the bronze text trimmed (Unicode spaces too) and typed
-- (ISO 8601 timestamps only, whatever DateStyle and TimeZone), one row per bronze row, with every reason
-- the row cannot go to silver in _reasons (empty when it can): a missing required value, a value that is
-- not of its type or out of its range, a value outside the seed's enums or scores. The generic silver step
-- reads it: rows with reasons go to dwh_etl.quarantine with their raw bronze row, the others are upserted
-- into silver.agents_agent_feedback by feedback_id (latest updated_at wins). In schema silver: analysts never read it.
-- The references conversation_id, agent and annotator_id are trimmed, as the keys they name are loaded (a padded reference
-- to a clean key, 'c1' || U+00A0, finds 'c1'); one that is exactly a key the source holds with white space
-- around it ('helper ', a record of its own, quarantined by dwh_etl.reason_padded_key) is quarantined:
-- trimmed, it would be counted for the other record 'helper' (attack 9a). Only padded references look
-- up bronze (the CASE evaluates the EXISTS for them alone).
-- A label is at most 200 characters (a key of the fact's GIN index on labels; attack 13a).
CREATE OR REPLACE VIEW silver.agents_agent_feedback_typed AS
SELECT b._bronze_id,
       b._batch_id,
       b._ingested_at,
       t.feedback_id,
       t.query_id,
       t.conversation_id,
       t.agent,
       t.annotator_id,
       t.safe_to_send,
       t.clarity_score,
       t.accuracy_score,
       t.tone_score,
       t.labels,
       t.comment,
       t.created_at,
       t.annotated_at,
       t.updated_at,
       dwh_etl.reasons(
           CASE WHEN dwh_etl.try_trim(b.feedback_id) IS NULL THEN 'feedback_id is missing' END,
           CASE WHEN dwh_etl.try_trim(b.feedback_id) IS NOT NULL AND t.feedback_id IS NULL THEN dwh_etl.reason_integer('feedback_id', b.feedback_id, dwh_etl.try_bigint(b.feedback_id)) END,
           CASE WHEN dwh_etl.try_trim(b.query_id) IS NOT NULL AND t.query_id IS NULL THEN dwh_etl.reason_integer('query_id', b.query_id, dwh_etl.try_bigint(b.query_id)) END,
           CASE WHEN dwh_etl.try_trim(b.conversation_id) IS NULL THEN 'conversation_id is missing' END,
           dwh_etl.reason_text('conversation_id', t.conversation_id),
           CASE WHEN t.conversation_id IS NULL OR t.conversation_id = b.conversation_id THEN NULL
                WHEN EXISTS (SELECT 1 FROM bronze.agents_conversations AS k WHERE k.conversation_id = b.conversation_id)
                THEN format('conversation_id %s is the conversation_id of a source conversation refused for the white space around it (quarantined), not the conversation %s it would be matched to trimmed: not loaded', dwh_etl.quote_value(b.conversation_id), dwh_etl.quote_value(t.conversation_id)) END,
           CASE WHEN dwh_etl.try_trim(b.agent) IS NULL THEN 'agent is missing' END,
           dwh_etl.reason_text('agent', t.agent),
           CASE WHEN t.agent IS NULL OR t.agent = b.agent THEN NULL
                WHEN EXISTS (SELECT 1 FROM bronze.agents_agents AS k WHERE k.agent_name = b.agent)
                THEN format('agent %s is the agent_name of a source agent refused for the white space around it (quarantined), not the agent %s it would be matched to trimmed: not loaded', dwh_etl.quote_value(b.agent), dwh_etl.quote_value(t.agent)) END,
           dwh_etl.reason_text('annotator_id', t.annotator_id),
           CASE WHEN t.annotator_id IS NULL OR t.annotator_id = b.annotator_id THEN NULL
                WHEN EXISTS (SELECT 1 FROM bronze.agents_users AS k WHERE k.user_id = b.annotator_id)
                THEN format('annotator_id %s is the user_id of a source user refused for the white space around it (quarantined), not the user %s it would be matched to trimmed: not loaded', dwh_etl.quote_value(b.annotator_id), dwh_etl.quote_value(t.annotator_id)) END,
           CASE WHEN dwh_etl.try_trim(b.safe_to_send) IS NOT NULL AND t.safe_to_send IS NULL THEN format('safe_to_send %s is not a boolean', dwh_etl.quote_value(b.safe_to_send)) END,
           CASE WHEN dwh_etl.try_trim(b.clarity_score) IS NOT NULL AND t.clarity_score IS NULL THEN dwh_etl.reason_integer('clarity_score', b.clarity_score, dwh_etl.try_bigint(b.clarity_score), 'integer') END,
           CASE WHEN t.clarity_score NOT BETWEEN 1 AND 5 THEN format('clarity_score %s is not allowed', dwh_etl.quote_value(t.clarity_score::text)) END,
           CASE WHEN dwh_etl.try_trim(b.accuracy_score) IS NOT NULL AND t.accuracy_score IS NULL THEN dwh_etl.reason_integer('accuracy_score', b.accuracy_score, dwh_etl.try_bigint(b.accuracy_score), 'integer') END,
           CASE WHEN t.accuracy_score NOT BETWEEN 1 AND 5 THEN format('accuracy_score %s is not allowed', dwh_etl.quote_value(t.accuracy_score::text)) END,
           CASE WHEN dwh_etl.try_trim(b.tone_score) IS NOT NULL AND t.tone_score IS NULL THEN dwh_etl.reason_integer('tone_score', b.tone_score, dwh_etl.try_bigint(b.tone_score), 'integer') END,
           CASE WHEN t.tone_score NOT BETWEEN 1 AND 5 THEN format('tone_score %s is not allowed', dwh_etl.quote_value(t.tone_score::text)) END,
           CASE WHEN dwh_etl.try_trim(b.labels) IS NOT NULL AND t.labels IS NULL THEN format('labels %s is not a text array', dwh_etl.quote_value(b.labels)) END,
           -- each label is a key of the GIN index agents.fact_training_labels_gin: one label of more than
           -- ~2,700 bytes failed the fact step ("index row size exceeds maximum"), every night (attack 13a)
           (SELECT format('labels has a label %s longer than 200 characters', dwh_etl.quote_value(l.label, 50))
            FROM unnest(t.labels) AS l (label) WHERE length(l.label) > 200 LIMIT 1),
           CASE WHEN dwh_etl.try_trim(b.created_at) IS NULL THEN 'created_at is missing' END,
           CASE WHEN dwh_etl.try_trim(b.created_at) IS NOT NULL AND t.created_at IS NULL THEN format('created_at %s is not an ISO 8601 timestamp', dwh_etl.quote_value(b.created_at)) END,
           CASE WHEN dwh_etl.try_trim(b.annotated_at) IS NOT NULL AND t.annotated_at IS NULL THEN format('annotated_at %s is not an ISO 8601 timestamp', dwh_etl.quote_value(b.annotated_at)) END,
           CASE WHEN dwh_etl.try_trim(b.updated_at) IS NULL THEN 'updated_at is missing' END,
           CASE WHEN dwh_etl.try_trim(b.updated_at) IS NOT NULL AND t.updated_at IS NULL THEN format('updated_at %s is not an ISO 8601 timestamp', dwh_etl.quote_value(b.updated_at)) END,
           CASE WHEN t.annotated_at < t.created_at THEN format('annotated_at %s is before created_at %s', t.annotated_at, t.created_at) END
       ) AS _reasons
FROM bronze.agents_agent_feedback AS b
-- zone-less times in the area's zone (setting agents.timezone), read once per statement:
-- dwh_etl.try_timestamptz(text) read them in UTC whatever the setting said (attack 9a)
CROSS JOIN (SELECT dwh_etl.setting_timezone('agents.timezone') AS zone OFFSET 0) AS z  -- OFFSET 0: computed once, not pulled up into every row
CROSS JOIN LATERAL (SELECT dwh_etl.try_bigint(b.feedback_id) AS feedback_id,
                     dwh_etl.try_bigint(b.query_id) AS query_id,
                     dwh_etl.try_trim(b.conversation_id) AS conversation_id,
                     dwh_etl.try_trim(b.agent) AS agent,
                     dwh_etl.try_trim(b.annotator_id) AS annotator_id,
                     agents._try_boolean(b.safe_to_send) AS safe_to_send,
                     CASE WHEN dwh_etl.try_bigint(b.clarity_score) BETWEEN -2147483648 AND 2147483647 THEN dwh_etl.try_bigint(b.clarity_score)::integer END AS clarity_score,
                     CASE WHEN dwh_etl.try_bigint(b.accuracy_score) BETWEEN -2147483648 AND 2147483647 THEN dwh_etl.try_bigint(b.accuracy_score)::integer END AS accuracy_score,
                     CASE WHEN dwh_etl.try_bigint(b.tone_score) BETWEEN -2147483648 AND 2147483647 THEN dwh_etl.try_bigint(b.tone_score)::integer END AS tone_score,
                     agents._try_text_array(dwh_etl.try_trim(b.labels)) AS labels,
                     dwh_etl.try_trim(b.comment) AS comment,
                     dwh_etl.try_timestamptz(dwh_etl.try_trim(b.created_at), z.zone) AS created_at,
                     dwh_etl.try_timestamptz(dwh_etl.try_trim(b.annotated_at), z.zone) AS annotated_at,
                     dwh_etl.try_timestamptz(dwh_etl.try_trim(b.updated_at), z.zone) AS updated_at) AS t;
COMMENT ON VIEW silver.agents_agent_feedback_typed IS 'bronze.agents_agent_feedback typed and trimmed for silver.agents_agent_feedback (key feedback_id); _reasons lists why a row must be quarantined (empty: it may load).';
REVOKE ALL ON silver.agents_agent_feedback_typed FROM PUBLIC, analyst_role;
