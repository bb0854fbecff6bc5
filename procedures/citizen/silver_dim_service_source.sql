-- What the generic dimension step reads for citizen.dim_service (SCD Type 2 over service_id: department,
-- category, priority, type and data source are history; name and is_active Type 1): the latest silver
-- state of each service with its department's name. A department's rename is a change of every service
-- of that department, at the department's change time: change_ts and _loaded_at are the later of the
-- service's and the department's. An unknown department keeps its id as name (the service still loads).
CREATE OR REPLACE VIEW silver.citizen_dim_service_source AS
SELECT s.service_id,
       s.service_name,
       s.service_category,
       s.department_id,
       COALESCE(d.department_name, s.department_id)        AS department,
       s.is_active,
       s.priority_level,
       s.service_type,
       s.data_source,
       s.created_at,
       false                                               AS is_inferred,
       GREATEST(s.updated_at, d.updated_at)                AS change_ts,
       false                                               AS is_deleted,
       GREATEST(s._loaded_at, d._loaded_at)                AS _loaded_at,
       s._source_bronze_id
FROM silver.citizen_services AS s
LEFT JOIN silver.citizen_departments AS d
  ON d.department_id = s.department_id;
COMMENT ON VIEW silver.citizen_dim_service_source IS 'Source of citizen.dim_service (natural key service_id; change_ts = the later of the service''s and its department''s updated_at).';
REVOKE ALL ON silver.citizen_dim_service_source FROM PUBLIC, analyst_role;
