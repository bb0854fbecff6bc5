-- What devflow.dim_infrastructure (Type 2) is loaded from by the devflow_dimensions step
-- (dwh_etl.step_dimension): silver inventory rows with the dimension's columns and the load time the
-- step's window reads. The change time: a resource's first version is valid from its creation, later
-- versions from the source's updated_at ("already in the dimension" is judged before the load: the step
-- stages this view first).
CREATE OR REPLACE VIEW devflow.dim_infrastructure_changes AS
SELECT r.resource_id, r.resource_type, r.resource_name, r.cloud_provider, r.region, r.availability_zone, r.instance_type,
       r.cpu_count, r.memory_gb, r.storage_gb, r.storage_type, r.vpc_id, r.subnet_id, r.security_group_ids,
       r.hourly_cost_usd, r.monthly_cost_usd, r.tags,
       CASE WHEN EXISTS (SELECT 1 FROM devflow.dim_infrastructure AS d WHERE d.resource_id = r.resource_id) THEN r.updated_at
            ELSE r.created_at END AS change_ts,
       r._loaded_at,
       r._source_bronze_id
FROM silver.devflow_infrastructure AS r;
COMMENT ON VIEW devflow.dim_infrastructure_changes IS 'Silver inventory shaped as devflow.dim_infrastructure rows (change_ts: creation for a new resource, else updated_at; _loaded_at): input of the devflow_dimensions step.';
REVOKE ALL ON devflow.dim_infrastructure_changes FROM analyst_role, PUBLIC;
GRANT SELECT ON devflow.dim_infrastructure_changes TO etl_service;
