-- What the generic dimension step reads for agents.dim_agent (SCD Type 2 over agent_name, spec
-- "agents.dim_agent" in procedures/registry/agents.sql): the latest silver state of each agent, its
-- change time (updated_at) as the start of the version it describes. Defaults of the seed's DDL fill a
-- missing SLA (300 s) or cost (0). A real row is never inferred: dwh_etl.apply_dimension completes an
-- inferred member (created by a fact step for an agent named before its row arrived) in place.
-- _loaded_at: the window column of the dimension step.
CREATE OR REPLACE VIEW silver.agents_dim_agent_source AS
SELECT s.agent_name,
       s.agent_type,
       s.capabilities,
       COALESCE(s.sla_target_seconds, 300)   AS sla_target_seconds,
       COALESCE(s.cost_per_query_usd, 0)     AS cost_per_query_usd,
       false                                 AS is_inferred,
       -- a deleted row's change time is its deletion (the latest tombstone of the key): its updated_at is
       -- the time of its current version, so the deletion was no change and the version stayed current
       -- for good (attack 9a)
       CASE WHEN s.is_deleted
            THEN GREATEST(s.updated_at,
                          (SELECT max(dwh_etl.try_timestamptz(d.deleted_at, z.zone))
                           FROM bronze.agents_deleted_records AS d
                           WHERE d.table_name = 'agents'
                             AND d.record_id = s.agent_name))
            -- a row that came back after deletions of its key (a restore from a backup: its old
            -- updated_at) starts after the latest of them: the deletions that arrived at the source before
            -- it (bronze's _source_arrived_at, 0049) and are not dated after its arrival. By its updated_at
            -- alone it was a late change inside the history the deletion had closed: the key stayed
            -- deleted in gold while silver and the source held it (attack 10)
            ELSE GREATEST(s.updated_at,
                          (SELECT max(dwh_etl.try_timestamptz(d.deleted_at, z.zone)) + interval '1 microsecond'
                           FROM bronze.agents_agents AS b
                           JOIN bronze.agents_deleted_records AS d
                             ON d.table_name = 'agents'
                            AND d.record_id = s.agent_name
                            AND d._source_arrived_at < b._source_arrived_at
                            AND dwh_etl.try_timestamptz(d.deleted_at, z.zone) <= b._source_arrived_at
                           WHERE b._bronze_id = s._source_bronze_id))
       END AS change_ts,
       s.is_deleted,
       s._loaded_at,
       s._source_bronze_id
FROM silver.agents_agents AS s
CROSS JOIN (SELECT dwh_etl.setting_timezone('agents.timezone') AS zone OFFSET 0) AS z;  -- OFFSET 0: computed once
COMMENT ON VIEW silver.agents_dim_agent_source IS 'Source of agents.dim_agent (natural key agent_name; change_ts = the source row''s updated_at, for a deleted row its latest tombstone''s deleted_at, for a row back after deletions just after the latest of them).';
REVOKE ALL ON silver.agents_dim_agent_source FROM PUBLIC, analyst_role;
