-- What devflow.dim_agent (Type 1) is loaded from by the devflow_dimensions step (dwh_etl.step_dimension):
-- silver agent rows with the dimension's columns, the change time (creation for a new agent: a Type 1
-- dimension keeps one version per key; for one already there its updated_at, after its version, so the
-- Type 1 values overwrite it) and the load time the step's window reads.
CREATE OR REPLACE VIEW devflow.dim_agent_changes AS
SELECT a.agent_id, a.agent_name, a.agent_type, a.agent_category, a.ai_model, a.ai_provider, a.model_version,
       a.framework_version, a.capabilities, a.max_concurrent_tasks, a.cost_per_hour_usd, a.cost_per_token_usd,
       a.is_active, a.created_at, a.updated_at,
       CASE WHEN a.is_deleted
            -- a deleted row's change time is its deletion (the latest tombstone of the key): its own change
            -- time is that of its current version, so the deletion would be no change (as in the agents area, attack 9a)
            THEN GREATEST(a.created_at,
                          (SELECT max(dwh_etl.try_timestamptz(d.deleted_at, z.zone))
                           FROM bronze.devflow_deleted_records AS d
                           WHERE d.table_name = 'agents' AND d.record_id = a.agent_id))
            -- a row back after deletions of its key (a restore with its old change time) starts just after
            -- the latest deletion that arrived at the source before it (as in the agents area, attack 10)
            -- A Type 1 change of a key already in the dimension is after its version (attack 15e): at the
            -- creation it was "older than the current version" for dwh_etl.apply_dimension, a historical row
            -- whose Type 1 values never overwrite newer ones, so no change of an existing agent ever arrived
            ELSE GREATEST(COALESCE((SELECT GREATEST(a.updated_at, x.valid_from + interval '1 microsecond')
                                    FROM devflow.dim_agent AS x WHERE x.agent_id = a.agent_id AND x.is_current),
                                   a.created_at),
                          (SELECT max(dwh_etl.try_timestamptz(d.deleted_at, z.zone)) + interval '1 microsecond'
                           FROM bronze.devflow_agents AS b
                           JOIN bronze.devflow_deleted_records AS d
                             ON d.table_name = 'agents'
                            AND d.record_id = a.agent_id
                            AND d._source_arrived_at < b._source_arrived_at
                            AND dwh_etl.try_timestamptz(d.deleted_at, z.zone) <= b._source_arrived_at
                           WHERE b._bronze_id = a._source_bronze_id))
       END AS change_ts,
       a._loaded_at,
       a._source_bronze_id,
       a.is_deleted
FROM silver.devflow_agents AS a
CROSS JOIN (SELECT dwh_etl.setting_timezone('devflow.source_timezone') AS zone OFFSET 0) AS z;  -- OFFSET 0: computed once
COMMENT ON VIEW devflow.dim_agent_changes IS 'Silver agents shaped as devflow.dim_agent rows (change_ts, _loaded_at): input of the devflow_dimensions step.';
REVOKE ALL ON devflow.dim_agent_changes FROM analyst_role, PUBLIC;
GRANT SELECT ON devflow.dim_agent_changes TO etl_service;
