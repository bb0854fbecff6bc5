-- Silver typing view of agents_src.agents: the bronze text trimmed (Unicode spaces too) and typed
-- (ISO 8601 timestamps only, whatever DateStyle and TimeZone), one row per bronze row, with every reason
-- the row cannot go to silver in _reasons (empty when it can): a missing required value, a value that is
-- not of its type or out of its range, a value outside the seed's enums or scores. The generic silver step
-- reads it: rows with reasons go to dwh_etl.quarantine with their raw bronze row, the others are upserted
-- into silver.agents_agents by agent_name (latest updated_at wins). In schema silver: analysts never read it.
-- Keys with white space around them (attack 9a): 'helper' and 'helper ' are two records of the source (two
-- primary keys of agents_src.agents); trimmed, they were one agent_name in silver: 'helper ' silently
-- replaced 'helper', and its tombstone (record_id 'helper ', as written) was never applied. Keeping the
-- two apart would need the key as written, but the references (agent of queries, approvals, feedback) are
-- matched trimmed, and must stay so: a padded reference to a clean key is the source's usual noise and
-- finds its agent. So such a key is quarantined with its reason (dwh_etl.reason_padded_key), and a
-- reference that is exactly such a key is quarantined by its view: a loaded key is always the key as
-- the source wrote it, its references and tombstones match it exactly, and no record takes another's
-- place (users and conversations alike). _record_key: the agent_name as written (keyed by the trimmed
-- one, the entry would be resolved as superseded by the next valid version of the other record).
CREATE OR REPLACE VIEW silver.agents_agents_typed AS
SELECT b._bronze_id,
       b._batch_id,
       b._ingested_at,
       t.agent_name,
       t.agent_type,
       t.capabilities,
       t.sla_target_seconds,
       t.cost_per_query_usd,
       t.is_active,
       t.created_at,
       t.updated_at,
       dwh_etl.reasons(
           CASE WHEN dwh_etl.try_trim(b.agent_name) IS NULL THEN 'agent_name is missing' END,
           dwh_etl.reason_text('agent_name', t.agent_name),
           dwh_etl.reason_padded_key('agent_name', b.agent_name),
           CASE WHEN dwh_etl.try_trim(b.agent_type) IS NULL THEN 'agent_type is missing' END,
           dwh_etl.reason_text('agent_type', t.agent_type),
           CASE WHEN t.agent_type NOT IN ('data', 'engineer', 'support', 'marketing', 'ai', 'qa', 'ops') THEN format('agent_type %s is not allowed', dwh_etl.quote_value(t.agent_type::text)) END,
           CASE WHEN dwh_etl.try_trim(b.capabilities) IS NULL THEN 'capabilities is missing' END,
           CASE WHEN dwh_etl.try_trim(b.capabilities) IS NOT NULL AND t.capabilities IS NULL THEN format('capabilities %s is not JSON', dwh_etl.quote_value(b.capabilities)) END,
           CASE WHEN jsonb_typeof(t.capabilities) <> 'array' THEN format('capabilities %s is not allowed', dwh_etl.quote_value(t.capabilities::text)) END,
           CASE WHEN dwh_etl.try_trim(b.sla_target_seconds) IS NOT NULL AND t.sla_target_seconds IS NULL THEN dwh_etl.reason_integer('sla_target_seconds', b.sla_target_seconds, dwh_etl.try_bigint(b.sla_target_seconds), 'integer') END,
           CASE WHEN t.sla_target_seconds <= 0 THEN format('sla_target_seconds %s is not allowed', dwh_etl.quote_value(t.sla_target_seconds::text)) END,
           CASE WHEN dwh_etl.try_trim(b.cost_per_query_usd) IS NOT NULL AND t.cost_per_query_usd IS NULL THEN dwh_etl.reason_numeric('cost_per_query_usd', b.cost_per_query_usd, dwh_etl.try_numeric(b.cost_per_query_usd), 10, 6) END,
           CASE WHEN t.cost_per_query_usd < 0 THEN format('cost_per_query_usd %s is not allowed', dwh_etl.quote_value(t.cost_per_query_usd::text)) END,
           CASE WHEN dwh_etl.try_trim(b.is_active) IS NULL THEN 'is_active is missing' END,
           CASE WHEN dwh_etl.try_trim(b.is_active) IS NOT NULL AND t.is_active IS NULL THEN format('is_active %s is not a boolean', dwh_etl.quote_value(b.is_active)) END,
           CASE WHEN dwh_etl.try_trim(b.created_at) IS NULL THEN 'created_at is missing' END,
           CASE WHEN dwh_etl.try_trim(b.created_at) IS NOT NULL AND t.created_at IS NULL THEN format('created_at %s is not an ISO 8601 timestamp', dwh_etl.quote_value(b.created_at)) END,
           CASE WHEN dwh_etl.try_trim(b.updated_at) IS NULL THEN 'updated_at is missing' END,
           CASE WHEN dwh_etl.try_trim(b.updated_at) IS NOT NULL AND t.updated_at IS NULL THEN format('updated_at %s is not an ISO 8601 timestamp', dwh_etl.quote_value(b.updated_at)) END
       ) AS _reasons,
       dwh_etl.quarantine_key(CASE WHEN t.agent_name IS NULL THEN '' ELSE b.agent_name END) AS _record_key
FROM bronze.agents_agents AS b
-- zone-less times in the area's zone (setting agents.timezone), read once per statement:
-- dwh_etl.try_timestamptz(text) read them in UTC whatever the setting said (attack 9a)
CROSS JOIN (SELECT dwh_etl.setting_timezone('agents.timezone') AS zone OFFSET 0) AS z  -- OFFSET 0: computed once, not pulled up into every row
CROSS JOIN LATERAL (SELECT dwh_etl.try_trim(b.agent_name) AS agent_name,
                     dwh_etl.try_trim(b.agent_type) AS agent_type,
                     agents._try_jsonb(dwh_etl.try_trim(b.capabilities)) AS capabilities,
                     CASE WHEN dwh_etl.try_bigint(b.sla_target_seconds) BETWEEN -2147483648 AND 2147483647 THEN dwh_etl.try_bigint(b.sla_target_seconds)::integer END AS sla_target_seconds,
                     CASE WHEN dwh_etl.reason_numeric('cost_per_query_usd', b.cost_per_query_usd, dwh_etl.try_numeric(b.cost_per_query_usd), 10, 6) IS NULL THEN dwh_etl.try_numeric(b.cost_per_query_usd)::numeric(10,6) END AS cost_per_query_usd,
                     agents._try_boolean(b.is_active) AS is_active,
                     dwh_etl.try_timestamptz(dwh_etl.try_trim(b.created_at), z.zone) AS created_at,
                     dwh_etl.try_timestamptz(dwh_etl.try_trim(b.updated_at), z.zone) AS updated_at) AS t;
COMMENT ON VIEW silver.agents_agents_typed IS 'bronze.agents_agents typed and trimmed for silver.agents_agents (key agent_name); _reasons lists why a row must be quarantined (empty: it may load).';
REVOKE ALL ON silver.agents_agents_typed FROM PUBLIC, analyst_role;
