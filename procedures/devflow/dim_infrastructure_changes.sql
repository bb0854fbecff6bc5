-- What devflow.dim_infrastructure (Type 2) is loaded from by the devflow_dimensions step
-- (dwh_etl.step_dimension): silver inventory rows with the dimension's columns and the load time the
-- step's window reads. The change time: a resource's first version is valid from its creation, later
-- versions from the source's updated_at ("already in the dimension" is judged before the load: the step
-- stages this view first).
CREATE OR REPLACE VIEW devflow.dim_infrastructure_changes AS
SELECT r.resource_id, r.resource_type, r.resource_name, r.cloud_provider, r.region, r.availability_zone, r.instance_type,
       r.cpu_count, r.memory_gb, r.storage_gb, r.storage_type, r.vpc_id, r.subnet_id, r.security_group_ids,
       r.hourly_cost_usd, r.monthly_cost_usd, r.tags,
       CASE WHEN r.is_deleted
            -- a deleted row's change time is its deletion (the latest tombstone of the key): its own change
            -- time is that of its current version, so the deletion would be no change (as in the agents area, attack 9a)
            THEN GREATEST(CASE WHEN EXISTS (SELECT 1 FROM devflow.dim_infrastructure AS x WHERE x.resource_id = r.resource_id) THEN r.updated_at ELSE r.created_at END,
                          (SELECT max(dwh_etl.try_timestamptz(d.deleted_at, z.zone))
                           FROM bronze.devflow_deleted_records AS d
                           WHERE d.table_name = 'infrastructure' AND d.record_id = r.resource_id))
            -- a row back after deletions of its key (a restore with its old change time) starts just after
            -- the latest deletion that arrived at the source before it (as in the agents area, attack 10)
            ELSE GREATEST(CASE WHEN EXISTS (SELECT 1 FROM devflow.dim_infrastructure AS x WHERE x.resource_id = r.resource_id) THEN r.updated_at ELSE r.created_at END,
                          (SELECT max(dwh_etl.try_timestamptz(d.deleted_at, z.zone)) + interval '1 microsecond'
                           FROM bronze.devflow_infrastructure AS b
                           JOIN bronze.devflow_deleted_records AS d
                             ON d.table_name = 'infrastructure'
                            AND d.record_id = r.resource_id
                            AND d._source_arrived_at < b._source_arrived_at
                            AND dwh_etl.try_timestamptz(d.deleted_at, z.zone) <= b._source_arrived_at
                           WHERE b._bronze_id = r._source_bronze_id))
       END AS change_ts,
       r._loaded_at,
       r._source_bronze_id,
       r.is_deleted
FROM silver.devflow_infrastructure AS r
CROSS JOIN (SELECT dwh_etl.setting_timezone('devflow.source_timezone') AS zone OFFSET 0) AS z;  -- OFFSET 0: computed once
COMMENT ON VIEW devflow.dim_infrastructure_changes IS 'Silver inventory shaped as devflow.dim_infrastructure rows (change_ts: creation for a new resource, else updated_at; _loaded_at): input of the devflow_dimensions step.';
REVOKE ALL ON devflow.dim_infrastructure_changes FROM analyst_role, PUBLIC;
GRANT SELECT ON devflow.dim_infrastructure_changes TO etl_service;
