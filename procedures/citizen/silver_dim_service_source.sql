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
       -- a deleted row's change time is its deletion (the latest tombstone of the key): its own change time
       -- is that of its current version, so the deletion would be no change (attack 16, as agents.dim_user);
       -- a row back after deletions of its key (a restore with its old updated_at) starts just after the
       -- latest deletion that reached the source before it
       CASE WHEN s.is_deleted
            THEN GREATEST(GREATEST(s.updated_at, d.updated_at),
                          (SELECT max(dwh_etl.try_timestamptz(x.deleted_at, (SELECT dwh_etl.setting_timezone('citizen.timezone', 'Asia/Kolkata'))))
                           FROM bronze.citizen_deleted_records AS x
                           WHERE x.table_name = 'services' AND x.record_id = s.service_id::text))
            ELSE GREATEST(GREATEST(s.updated_at, d.updated_at),
                          (SELECT max(dwh_etl.try_timestamptz(x.deleted_at, (SELECT dwh_etl.setting_timezone('citizen.timezone', 'Asia/Kolkata')))) + interval '1 microsecond'
                           FROM bronze.citizen_services AS b
                           JOIN bronze.citizen_deleted_records AS x
                             ON x.table_name = 'services'
                            AND x.record_id = s.service_id::text
                            AND x._source_arrived_at < b._source_arrived_at
                            AND dwh_etl.try_timestamptz(x.deleted_at, (SELECT dwh_etl.setting_timezone('citizen.timezone', 'Asia/Kolkata'))) <= b._source_arrived_at
                           WHERE b._bronze_id = s._source_bronze_id))
       END AS change_ts,
       s.is_deleted,
       GREATEST(s._loaded_at, d._loaded_at)                AS _loaded_at,
       s._source_bronze_id
FROM silver.citizen_services AS s
LEFT JOIN silver.citizen_departments AS d
  ON d.department_id = s.department_id;
COMMENT ON VIEW silver.citizen_dim_service_source IS 'Source of citizen.dim_service (natural key service_id; change_ts = the later of the service''s and its department''s updated_at; for a deleted service its latest tombstone''s deleted_at, for one back after deletions just after the latest of them).';
REVOKE ALL ON silver.citizen_dim_service_source FROM PUBLIC, analyst_role;
