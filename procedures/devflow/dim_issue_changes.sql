-- What devflow.dim_issue (Type 2) is loaded from by the devflow_dimensions step (dwh_etl.step_dimension):
-- silver issue rows with the dimension's columns and the load time the step's window reads. The change
-- time: an issue's first version is valid from its creation (the facts before its first change then
-- find it), later versions from the source's updated_at. The step stages this view before it applies
-- the batch, so "already in the dimension" means before this load.
CREATE OR REPLACE VIEW devflow.dim_issue_changes AS
SELECT i.id AS issue_id, i.number AS issue_number, i.title, i.description, i.priority, i.complexity, i.issue_type,
       i.category, i.repository, i.created_by, i.assigned_to, i.labels,
       CASE WHEN i.is_deleted
            -- a deleted row's change time is its deletion (the latest tombstone of the key): its own change
            -- time is that of its current version, so the deletion would be no change (as in the agents area, attack 9a)
            THEN GREATEST(CASE WHEN EXISTS (SELECT 1 FROM devflow.dim_issue AS x WHERE x.issue_id = i.id) THEN i.updated_at ELSE i.created_at END,
                          (SELECT max(dwh_etl.try_timestamptz(d.deleted_at, z.zone))
                           FROM bronze.devflow_deleted_records AS d
                           WHERE d.table_name = 'issues' AND d.record_id = i.id))
            -- a row back after deletions of its key (a restore with its old change time) starts just after
            -- the latest deletion that arrived at the source before it (as in the agents area, attack 10)
            ELSE GREATEST(CASE WHEN EXISTS (SELECT 1 FROM devflow.dim_issue AS x WHERE x.issue_id = i.id) THEN i.updated_at ELSE i.created_at END,
                          (SELECT max(dwh_etl.try_timestamptz(d.deleted_at, z.zone)) + interval '1 microsecond'
                           FROM bronze.devflow_issues AS b
                           JOIN bronze.devflow_deleted_records AS d
                             ON d.table_name = 'issues'
                            AND d.record_id = i.id
                            AND d._source_arrived_at < b._source_arrived_at
                            AND dwh_etl.try_timestamptz(d.deleted_at, z.zone) <= b._source_arrived_at
                           WHERE b._bronze_id = i._source_bronze_id))
       END AS change_ts,
       i._loaded_at,
       i.created_at,
       i._source_bronze_id,
       i.is_deleted
FROM silver.devflow_issues AS i
CROSS JOIN (SELECT dwh_etl.setting_timezone('devflow.source_timezone') AS zone OFFSET 0) AS z;  -- OFFSET 0: computed once
COMMENT ON VIEW devflow.dim_issue_changes IS 'Silver issues shaped as devflow.dim_issue rows (change_ts: creation for a new issue, else updated_at; _loaded_at; created_at, Type 1, last: a view only appends columns): input of the devflow_dimensions step.';
REVOKE ALL ON devflow.dim_issue_changes FROM analyst_role, PUBLIC;
GRANT SELECT ON devflow.dim_issue_changes TO etl_service;
