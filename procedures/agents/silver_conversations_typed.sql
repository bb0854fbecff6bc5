-- Silver typing view of agents_src.conversations: the bronze text trimmed (Unicode spaces too) and typed
-- (ISO 8601 timestamps only, whatever DateStyle and TimeZone), one row per bronze row, with every reason
-- the row cannot go to silver in _reasons (empty when it can): a missing required value, a value that is
-- not of its type or out of its range, a value outside the seed's enums or scores. The generic silver step
-- reads it: rows with reasons go to dwh_etl.quarantine with their raw bronze row, the others are upserted
-- into silver.agents_conversations by conversation_id (latest updated_at wins). In schema silver: analysts never read it.
-- The reference user_id is trimmed, as the keys it names are loaded (a padded reference
-- to a clean key, 'c1' || U+00A0, finds 'c1'); one that is exactly a key the source holds with white space
-- around it ('helper ', a record of its own, quarantined by dwh_etl.reason_padded_key) is quarantined:
-- trimmed, it would be counted for the other record 'helper' (attack 9a). Only padded references look
-- up bronze (the CASE evaluates the EXISTS for them alone).
-- The key conversation_id with white space around it is quarantined (dwh_etl.reason_padded_key, as
-- agents_agents_typed); _record_key: the conversation_id as written.
CREATE OR REPLACE VIEW silver.agents_conversations_typed AS
SELECT b._bronze_id,
       b._batch_id,
       b._ingested_at,
       t.conversation_id,
       t.user_id,
       t.channel,
       t.metadata,
       t.started_at,
       t.created_at,
       t.updated_at,
       dwh_etl.reasons(
           CASE WHEN dwh_etl.try_trim(b.conversation_id) IS NULL THEN 'conversation_id is missing' END,
           dwh_etl.reason_text('conversation_id', t.conversation_id),
           dwh_etl.reason_padded_key('conversation_id', b.conversation_id),
           dwh_etl.reason_text('user_id', t.user_id),
           CASE WHEN t.user_id IS NULL OR t.user_id = b.user_id THEN NULL
                WHEN EXISTS (SELECT 1 FROM bronze.agents_users AS k WHERE k.user_id = b.user_id)
                THEN format('user_id %s is the user_id of a source user refused for the white space around it (quarantined), not the user %s it would be matched to trimmed: not loaded', dwh_etl.quote_value(b.user_id), dwh_etl.quote_value(t.user_id)) END,
           dwh_etl.reason_text('channel', t.channel),
           CASE WHEN dwh_etl.try_trim(b.metadata) IS NULL THEN 'metadata is missing' END,
           CASE WHEN dwh_etl.try_trim(b.metadata) IS NOT NULL AND t.metadata IS NULL THEN format('metadata %s is not JSON', dwh_etl.quote_value(b.metadata)) END,
           CASE WHEN jsonb_typeof(t.metadata) <> 'object' THEN format('metadata %s is not allowed', dwh_etl.quote_value(t.metadata::text)) END,
           CASE WHEN dwh_etl.try_trim(b.started_at) IS NULL THEN 'started_at is missing' END,
           CASE WHEN dwh_etl.try_trim(b.started_at) IS NOT NULL AND t.started_at IS NULL THEN format('started_at %s is not an ISO 8601 timestamp', dwh_etl.quote_value(b.started_at)) END,
           CASE WHEN dwh_etl.try_trim(b.created_at) IS NULL THEN 'created_at is missing' END,
           CASE WHEN dwh_etl.try_trim(b.created_at) IS NOT NULL AND t.created_at IS NULL THEN format('created_at %s is not an ISO 8601 timestamp', dwh_etl.quote_value(b.created_at)) END,
           CASE WHEN dwh_etl.try_trim(b.updated_at) IS NULL THEN 'updated_at is missing' END,
           CASE WHEN dwh_etl.try_trim(b.updated_at) IS NOT NULL AND t.updated_at IS NULL THEN format('updated_at %s is not an ISO 8601 timestamp', dwh_etl.quote_value(b.updated_at)) END
       ) AS _reasons,
       dwh_etl.quarantine_key(CASE WHEN t.conversation_id IS NULL THEN '' ELSE b.conversation_id END) AS _record_key
FROM bronze.agents_conversations AS b
-- zone-less times in the area's zone (setting agents.timezone), read once per statement:
-- dwh_etl.try_timestamptz(text) read them in UTC whatever the setting said (attack 9a)
CROSS JOIN (SELECT dwh_etl.setting_timezone('agents.timezone') AS zone OFFSET 0) AS z  -- OFFSET 0: computed once, not pulled up into every row
CROSS JOIN LATERAL (SELECT dwh_etl.try_trim(b.conversation_id) AS conversation_id,
                     dwh_etl.try_trim(b.user_id) AS user_id,
                     dwh_etl.try_trim(b.channel) AS channel,
                     agents._try_jsonb(dwh_etl.try_trim(b.metadata)) AS metadata,
                     dwh_etl.try_timestamptz(dwh_etl.try_trim(b.started_at), z.zone) AS started_at,
                     dwh_etl.try_timestamptz(dwh_etl.try_trim(b.created_at), z.zone) AS created_at,
                     dwh_etl.try_timestamptz(dwh_etl.try_trim(b.updated_at), z.zone) AS updated_at) AS t;
COMMENT ON VIEW silver.agents_conversations_typed IS 'bronze.agents_conversations typed and trimmed for silver.agents_conversations (key conversation_id); _reasons lists why a row must be quarantined (empty: it may load).';
REVOKE ALL ON silver.agents_conversations_typed FROM PUBLIC, analyst_role;
