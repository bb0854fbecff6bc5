-- Silver typing view of agents_src.agent_approvals: the bronze text trimmed (Unicode spaces too) and typed
-- (ISO 8601 timestamps only, whatever DateStyle and TimeZone), one row per bronze row, with every reason
-- the row cannot go to silver in _reasons (empty when it can): a missing required value, a value that is
-- not of its type or out of its range, a value outside the seed's enums or scores. The generic silver step
-- reads it: rows with reasons go to dwh_etl.quarantine with their raw bronze row, the others are upserted
-- into silver.agents_agent_approvals by approval_id (latest updated_at wins). In schema silver: analysts never read it.
-- The references conversation_id, agent and resolved_by are trimmed, as the keys they name are loaded (a padded reference
-- to a clean key, 'c1' || U+00A0, finds 'c1'); one that is exactly a key the source holds with white space
-- around it ('helper ', a record of its own, quarantined by dwh_etl.reason_padded_key) is quarantined:
-- trimmed, it would be counted for the other record 'helper' (attack 9a). Only padded references look
-- up bronze (the CASE evaluates the EXISTS for them alone).
CREATE OR REPLACE VIEW silver.agents_agent_approvals_typed AS
SELECT b._bronze_id,
       b._batch_id,
       b._ingested_at,
       t.approval_id,
       t.query_id,
       t.conversation_id,
       t.agent,
       t.status,
       t.resolved_by,
       t.interruption_count,
       t.created_at,
       t.resolved_at,
       t.updated_at,
       dwh_etl.reasons(
           CASE WHEN dwh_etl.try_trim(b.approval_id) IS NULL THEN 'approval_id is missing' END,
           CASE WHEN dwh_etl.try_trim(b.approval_id) IS NOT NULL AND t.approval_id IS NULL THEN dwh_etl.reason_integer('approval_id', b.approval_id, dwh_etl.try_bigint(b.approval_id)) END,
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
           CASE WHEN dwh_etl.try_trim(b.status) IS NULL THEN 'status is missing' END,
           dwh_etl.reason_text('status', t.status),
           CASE WHEN t.status NOT IN ('pending', 'approved', 'rejected', 'expired') THEN format('status %s is not allowed', dwh_etl.quote_value(t.status::text)) END,
           dwh_etl.reason_text('resolved_by', t.resolved_by),
           CASE WHEN t.resolved_by IS NULL OR t.resolved_by = b.resolved_by THEN NULL
                WHEN EXISTS (SELECT 1 FROM bronze.agents_users AS k WHERE k.user_id = b.resolved_by)
                THEN format('resolved_by %s is the user_id of a source user refused for the white space around it (quarantined), not the user %s it would be matched to trimmed: not loaded', dwh_etl.quote_value(b.resolved_by), dwh_etl.quote_value(t.resolved_by)) END,
           CASE WHEN dwh_etl.try_trim(b.interruption_count) IS NOT NULL AND t.interruption_count IS NULL THEN dwh_etl.reason_integer('interruption_count', b.interruption_count, dwh_etl.try_bigint(b.interruption_count), 'integer') END,
           CASE WHEN t.interruption_count < 0 THEN format('interruption_count %s is not allowed', dwh_etl.quote_value(t.interruption_count::text)) END,
           CASE WHEN dwh_etl.try_trim(b.created_at) IS NULL THEN 'created_at is missing' END,
           CASE WHEN dwh_etl.try_trim(b.created_at) IS NOT NULL AND t.created_at IS NULL THEN format('created_at %s is not an ISO 8601 timestamp', dwh_etl.quote_value(b.created_at)) END,
           CASE WHEN dwh_etl.try_trim(b.resolved_at) IS NOT NULL AND t.resolved_at IS NULL THEN format('resolved_at %s is not an ISO 8601 timestamp', dwh_etl.quote_value(b.resolved_at)) END,
           CASE WHEN dwh_etl.try_trim(b.updated_at) IS NULL THEN 'updated_at is missing' END,
           CASE WHEN dwh_etl.try_trim(b.updated_at) IS NOT NULL AND t.updated_at IS NULL THEN format('updated_at %s is not an ISO 8601 timestamp', dwh_etl.quote_value(b.updated_at)) END,
           CASE WHEN (t.status = 'pending') <> (t.resolved_at IS NULL) THEN format('status %s with resolved_at %s: pending exactly when unresolved', dwh_etl.quote_value(t.status), COALESCE(t.resolved_at::text, 'NULL')) END,
           CASE WHEN t.resolved_at < t.created_at THEN format('resolved_at %s is before created_at %s', t.resolved_at, t.created_at) END
       ) AS _reasons
FROM bronze.agents_agent_approvals AS b
-- zone-less times in the area's zone (setting agents.timezone), read once per statement:
-- dwh_etl.try_timestamptz(text) read them in UTC whatever the setting said (attack 9a)
CROSS JOIN (SELECT dwh_etl.setting_timezone('agents.timezone') AS zone OFFSET 0) AS z  -- OFFSET 0: computed once, not pulled up into every row
CROSS JOIN LATERAL (SELECT dwh_etl.try_bigint(b.approval_id) AS approval_id,
                     dwh_etl.try_bigint(b.query_id) AS query_id,
                     dwh_etl.try_trim(b.conversation_id) AS conversation_id,
                     dwh_etl.try_trim(b.agent) AS agent,
                     dwh_etl.try_trim(b.status) AS status,
                     dwh_etl.try_trim(b.resolved_by) AS resolved_by,
                     CASE WHEN dwh_etl.try_bigint(b.interruption_count) BETWEEN -2147483648 AND 2147483647 THEN dwh_etl.try_bigint(b.interruption_count)::integer END AS interruption_count,
                     dwh_etl.try_timestamptz(dwh_etl.try_trim(b.created_at), z.zone) AS created_at,
                     dwh_etl.try_timestamptz(dwh_etl.try_trim(b.resolved_at), z.zone) AS resolved_at,
                     dwh_etl.try_timestamptz(dwh_etl.try_trim(b.updated_at), z.zone) AS updated_at) AS t;
COMMENT ON VIEW silver.agents_agent_approvals_typed IS 'bronze.agents_agent_approvals typed and trimmed for silver.agents_agent_approvals (key approval_id); _reasons lists why a row must be quarantined (empty: it may load).';
REVOKE ALL ON silver.agents_agent_approvals_typed FROM PUBLIC, analyst_role;
