-- Silver typing view of agents_src.agent_queries: the bronze text trimmed (Unicode spaces too) and typed
-- (ISO 8601 timestamps only, whatever DateStyle and TimeZone), one row per bronze row, with every reason
-- the row cannot go to silver in _reasons (empty when it can): a missing required value, a value that is
-- not of its type or out of its range, a value outside the seed's enums or scores. The generic silver step
-- reads it: rows with reasons go to dwh_etl.quarantine with their raw bronze row, the others are upserted
-- into silver.agents_agent_queries by query_id (latest updated_at wins). In schema silver: analysts never read it.
-- The free texts query and error_message have no length limit (nothing indexes them; gold keeps md5(query)):
-- the 200-character limit of key columns quarantined every long prompt and stack trace (attack 9a).
-- The references conversation_id, agent and user_id are trimmed, as the keys they name are loaded (a padded reference
-- to a clean key, 'c1' || U+00A0, finds 'c1'); one that is exactly a key the source holds with white space
-- around it ('helper ', a record of its own, quarantined by dwh_etl.reason_padded_key) is quarantined:
-- trimmed, it would be counted for the other record 'helper' (attack 9a). Only padded references look
-- up bronze (the CASE evaluates the EXISTS for them alone).
CREATE OR REPLACE VIEW silver.agents_agent_queries_typed AS
SELECT b._bronze_id,
       b._batch_id,
       b._ingested_at,
       t.query_id,
       t.conversation_id,
       t.agent,
       t.user_id,
       t.query,
       t.result_size_bytes,
       t.latency_ms,
       t.approved,
       t.human_edited,
       t.error_occurred,
       t.error_message,
       t.created_at,
       t.updated_at,
       dwh_etl.reasons(
           CASE WHEN dwh_etl.try_trim(b.query_id) IS NULL THEN 'query_id is missing' END,
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
           dwh_etl.reason_text('user_id', t.user_id),
           CASE WHEN t.user_id IS NULL OR t.user_id = b.user_id THEN NULL
                WHEN EXISTS (SELECT 1 FROM bronze.agents_users AS k WHERE k.user_id = b.user_id)
                THEN format('user_id %s is the user_id of a source user refused for the white space around it (quarantined), not the user %s it would be matched to trimmed: not loaded', dwh_etl.quote_value(b.user_id), dwh_etl.quote_value(t.user_id)) END,
           CASE WHEN dwh_etl.try_trim(b.query) IS NULL THEN 'query is missing' END,
           CASE WHEN dwh_etl.try_trim(b.result_size_bytes) IS NOT NULL AND t.result_size_bytes IS NULL THEN dwh_etl.reason_integer('result_size_bytes', b.result_size_bytes, dwh_etl.try_bigint(b.result_size_bytes), 'integer') END,
           CASE WHEN t.result_size_bytes < 0 THEN format('result_size_bytes %s is not allowed', dwh_etl.quote_value(t.result_size_bytes::text)) END,
           CASE WHEN dwh_etl.try_trim(b.latency_ms) IS NULL THEN 'latency_ms is missing' END,
           CASE WHEN dwh_etl.try_trim(b.latency_ms) IS NOT NULL AND t.latency_ms IS NULL THEN dwh_etl.reason_integer('latency_ms', b.latency_ms, dwh_etl.try_bigint(b.latency_ms), 'integer') END,
           CASE WHEN t.latency_ms < 0 THEN format('latency_ms %s is not allowed', dwh_etl.quote_value(t.latency_ms::text)) END,
           -- the quality rule agents_faq_latency_range (0 to 3600000) is a gate: one such row failed the whole
           -- fact step, every agent's queries with it; the row is quarantined here instead (attack 9a)
           CASE WHEN t.latency_ms > 3600000 THEN format('latency_ms %s is more than an hour (3600000, rule agents_faq_latency_range)', t.latency_ms) END,
           CASE WHEN dwh_etl.try_trim(b.approved) IS NOT NULL AND t.approved IS NULL THEN format('approved %s is not a boolean', dwh_etl.quote_value(b.approved)) END,
           CASE WHEN dwh_etl.try_trim(b.human_edited) IS NOT NULL AND t.human_edited IS NULL THEN format('human_edited %s is not a boolean', dwh_etl.quote_value(b.human_edited)) END,
           CASE WHEN dwh_etl.try_trim(b.error_occurred) IS NOT NULL AND t.error_occurred IS NULL THEN format('error_occurred %s is not a boolean', dwh_etl.quote_value(b.error_occurred)) END,
           CASE WHEN dwh_etl.try_trim(b.created_at) IS NULL THEN 'created_at is missing' END,
           CASE WHEN dwh_etl.try_trim(b.created_at) IS NOT NULL AND t.created_at IS NULL THEN format('created_at %s is not an ISO 8601 timestamp', dwh_etl.quote_value(b.created_at)) END,
           CASE WHEN dwh_etl.try_trim(b.updated_at) IS NULL THEN 'updated_at is missing' END,
           CASE WHEN dwh_etl.try_trim(b.updated_at) IS NOT NULL AND t.updated_at IS NULL THEN format('updated_at %s is not an ISO 8601 timestamp', dwh_etl.quote_value(b.updated_at)) END
       ) AS _reasons
FROM bronze.agents_agent_queries AS b
-- zone-less times in the area's zone (setting agents.timezone), read once per statement:
-- dwh_etl.try_timestamptz(text) read them in UTC whatever the setting said (attack 9a)
CROSS JOIN (SELECT dwh_etl.setting_timezone('agents.timezone') AS zone OFFSET 0) AS z  -- OFFSET 0: computed once, not pulled up into every row
CROSS JOIN LATERAL (SELECT dwh_etl.try_bigint(b.query_id) AS query_id,
                     dwh_etl.try_trim(b.conversation_id) AS conversation_id,
                     dwh_etl.try_trim(b.agent) AS agent,
                     dwh_etl.try_trim(b.user_id) AS user_id,
                     dwh_etl.try_trim(b.query) AS query,
                     CASE WHEN dwh_etl.try_bigint(b.result_size_bytes) BETWEEN -2147483648 AND 2147483647 THEN dwh_etl.try_bigint(b.result_size_bytes)::integer END AS result_size_bytes,
                     CASE WHEN dwh_etl.try_bigint(b.latency_ms) BETWEEN -2147483648 AND 2147483647 THEN dwh_etl.try_bigint(b.latency_ms)::integer END AS latency_ms,
                     agents._try_boolean(b.approved) AS approved,
                     agents._try_boolean(b.human_edited) AS human_edited,
                     agents._try_boolean(b.error_occurred) AS error_occurred,
                     dwh_etl.try_trim(b.error_message) AS error_message,
                     dwh_etl.try_timestamptz(dwh_etl.try_trim(b.created_at), z.zone) AS created_at,
                     dwh_etl.try_timestamptz(dwh_etl.try_trim(b.updated_at), z.zone) AS updated_at) AS t;
COMMENT ON VIEW silver.agents_agent_queries_typed IS 'bronze.agents_agent_queries typed and trimmed for silver.agents_agent_queries (key query_id); _reasons lists why a row must be quarantined (empty: it may load).';
REVOKE ALL ON silver.agents_agent_queries_typed FROM PUBLIC, analyst_role;
