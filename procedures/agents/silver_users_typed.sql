-- Silver typing view of agents_src.users: the bronze text trimmed (Unicode spaces too) and typed
-- (ISO 8601 timestamps only, whatever DateStyle and TimeZone), one row per bronze row, with every reason
-- the row cannot go to silver in _reasons (empty when it can): a missing required value, a value that is
-- not of its type or out of its range, a value outside the seed's enums or scores. The generic silver step
-- reads it: rows with reasons go to dwh_etl.quarantine with their raw bronze row, the others are upserted
-- into silver.agents_users by user_id (latest updated_at wins). In schema silver: analysts never read it.
-- A user_id with white space around it is quarantined (dwh_etl.reason_padded_key; the references user_id,
-- resolved_by, annotator_id are matched trimmed and quarantined by their views when they name such a key
-- exactly): two source users 'u1' and 'u1 ' never become one (attack 9a, as agents_agents_typed).
-- _record_key: the user_id as written.
CREATE OR REPLACE VIEW silver.agents_users_typed AS
SELECT b._bronze_id,
       b._batch_id,
       b._ingested_at,
       t.user_id,
       t.user_type,
       t.team,
       t.display_name,
       t.is_active,
       t.created_at,
       t.updated_at,
       dwh_etl.reasons(
           CASE WHEN dwh_etl.try_trim(b.user_id) IS NULL THEN 'user_id is missing' END,
           dwh_etl.reason_text('user_id', t.user_id),
           dwh_etl.reason_padded_key('user_id', b.user_id),
           CASE WHEN dwh_etl.try_trim(b.user_type) IS NULL THEN 'user_type is missing' END,
           dwh_etl.reason_text('user_type', t.user_type),
           CASE WHEN t.user_type NOT IN ('annotator', 'approver', 'qa_team', 'operator') THEN format('user_type %s is not allowed', dwh_etl.quote_value(t.user_type::text)) END,
           dwh_etl.reason_text('team', t.team),
           dwh_etl.reason_text('display_name', t.display_name),
           CASE WHEN dwh_etl.try_trim(b.is_active) IS NULL THEN 'is_active is missing' END,
           CASE WHEN dwh_etl.try_trim(b.is_active) IS NOT NULL AND t.is_active IS NULL THEN format('is_active %s is not a boolean', dwh_etl.quote_value(b.is_active)) END,
           CASE WHEN dwh_etl.try_trim(b.created_at) IS NULL THEN 'created_at is missing' END,
           CASE WHEN dwh_etl.try_trim(b.created_at) IS NOT NULL AND t.created_at IS NULL THEN format('created_at %s is not an ISO 8601 timestamp', dwh_etl.quote_value(b.created_at)) END,
           CASE WHEN dwh_etl.try_trim(b.updated_at) IS NULL THEN 'updated_at is missing' END,
           CASE WHEN dwh_etl.try_trim(b.updated_at) IS NOT NULL AND t.updated_at IS NULL THEN format('updated_at %s is not an ISO 8601 timestamp', dwh_etl.quote_value(b.updated_at)) END
       ) AS _reasons,
       dwh_etl.quarantine_key(CASE WHEN t.user_id IS NULL THEN '' ELSE b.user_id END) AS _record_key
FROM bronze.agents_users AS b
-- zone-less times in the area's zone (setting agents.timezone), read once per statement:
-- dwh_etl.try_timestamptz(text) read them in UTC whatever the setting said (attack 9a)
CROSS JOIN (SELECT dwh_etl.setting_timezone('agents.timezone') AS zone OFFSET 0) AS z  -- OFFSET 0: computed once, not pulled up into every row
CROSS JOIN LATERAL (SELECT dwh_etl.try_trim(b.user_id) AS user_id,
                     dwh_etl.try_trim(b.user_type) AS user_type,
                     dwh_etl.try_trim(b.team) AS team,
                     dwh_etl.try_trim(b.display_name) AS display_name,
                     agents._try_boolean(b.is_active) AS is_active,
                     dwh_etl.try_timestamptz(dwh_etl.try_trim(b.created_at), z.zone) AS created_at,
                     dwh_etl.try_timestamptz(dwh_etl.try_trim(b.updated_at), z.zone) AS updated_at) AS t;
COMMENT ON VIEW silver.agents_users_typed IS 'bronze.agents_users typed and trimmed for silver.agents_users (key user_id); _reasons lists why a row must be quarantined (empty: it may load).';
REVOKE ALL ON silver.agents_users_typed FROM PUBLIC, analyst_role;
