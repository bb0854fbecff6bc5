-- What devflow.dim_label (Type 1) is loaded from by the devflow_dimensions step (dwh_etl.step_dimension):
-- silver label rows with the dimension's columns, the change time (creation for a new label, else its
-- updated_at, after its version) and the load time the step's window reads.
CREATE OR REPLACE VIEW devflow.dim_label_changes AS
SELECT l.label_name, l.label_category, l.label_priority, l.color, l.icon, l.description, l.usage_guidelines,
       l.is_active, l.created_at, l.updated_at,
       CASE WHEN l.is_deleted
            -- a deleted row's change time is its deletion (the latest tombstone of the key): its own change
            -- time is that of its current version, so the deletion would be no change (as in the agents area, attack 9a)
            THEN GREATEST(l.created_at,
                          (SELECT max(dwh_etl.try_timestamptz(d.deleted_at, z.zone))
                           FROM bronze.devflow_deleted_records AS d
                           WHERE d.table_name = 'labels' AND d.record_id = l.label_name))
            -- a row back after deletions of its key (a restore with its old change time) starts just after
            -- the latest deletion that arrived at the source before it (as in the agents area, attack 10)
            -- A Type 1 change of a key already in the dimension is after its version (attack 15e): at the
            -- creation it was "older than the current version" for dwh_etl.apply_dimension, a historical row
            -- whose Type 1 values never overwrite newer ones, so no change of an existing label ever arrived
            ELSE GREATEST(COALESCE((SELECT GREATEST(l.updated_at, x.valid_from + interval '1 microsecond')
                                    FROM devflow.dim_label AS x WHERE x.label_name = l.label_name AND x.is_current),
                                   l.created_at),
                          (SELECT max(dwh_etl.try_timestamptz(d.deleted_at, z.zone)) + interval '1 microsecond'
                           FROM bronze.devflow_labels AS b
                           JOIN bronze.devflow_deleted_records AS d
                             ON d.table_name = 'labels'
                            AND d.record_id = l.label_name
                            AND d._source_arrived_at < b._source_arrived_at
                            AND dwh_etl.try_timestamptz(d.deleted_at, z.zone) <= b._source_arrived_at
                           WHERE b._bronze_id = l._source_bronze_id))
       END AS change_ts,
       l._loaded_at,
       l._source_bronze_id,
       l.is_deleted
FROM silver.devflow_labels AS l
CROSS JOIN (SELECT dwh_etl.setting_timezone('devflow.source_timezone') AS zone OFFSET 0) AS z;  -- OFFSET 0: computed once
COMMENT ON VIEW devflow.dim_label_changes IS 'Silver labels shaped as devflow.dim_label rows (change_ts, _loaded_at): input of the devflow_dimensions step.';
REVOKE ALL ON devflow.dim_label_changes FROM analyst_role, PUBLIC;
GRANT SELECT ON devflow.dim_label_changes TO etl_service;
