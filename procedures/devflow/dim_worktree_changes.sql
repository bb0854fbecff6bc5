-- What devflow.dim_worktree (Type 1) is loaded from by the devflow_dimensions step
-- (dwh_etl.step_dimension): silver worktree rows with the dimension's columns, the change time
-- (creation for a new worktree, else its updated_at, after its version) and the load time the step's
-- window reads.
CREATE OR REPLACE VIEW devflow.dim_worktree_changes AS
SELECT w.worktree_path, w.branch_name, w.base_branch, w.status, w.associated_issue_id, w.associated_pr_number,
       w.created_by, w.purpose, w.created_at, w.last_used_at, w.cleaned_up_at,
       -- a Type 1 change of a worktree already in the dimension is after its version (attack 15e: at the
       -- creation it was a historical row for dwh_etl.apply_dimension, whose Type 1 values never overwrite
       -- newer ones, so a worktree's status never moved from its first load)
       CASE WHEN w.is_deleted
            -- a deleted row's change time is its deletion (the latest tombstone of its path), as dim_agent's
            -- (attack 16: worktree_states had no tombstones, a deleted worktree stayed current)
            THEN GREATEST(w.created_at,
                          (SELECT max(dwh_etl.try_timestamptz(d.deleted_at, z.zone))
                           FROM bronze.devflow_deleted_records AS d
                           WHERE d.table_name = 'worktree_states' AND d.record_id = w.worktree_path))
            -- a row back after deletions of its path (a restore with its old updated_at) starts just after
            -- the latest deletion that arrived at the source before it
            ELSE GREATEST(COALESCE((SELECT GREATEST(w.updated_at, x.valid_from + interval '1 microsecond')
                                    FROM devflow.dim_worktree AS x WHERE x.worktree_path = w.worktree_path AND x.is_current),
                                   w.created_at),
                          (SELECT max(dwh_etl.try_timestamptz(d.deleted_at, z.zone)) + interval '1 microsecond'
                           FROM bronze.devflow_worktree_states AS b
                           JOIN bronze.devflow_deleted_records AS d
                             ON d.table_name = 'worktree_states'
                            AND d.record_id = w.worktree_path
                            AND d._source_arrived_at < b._source_arrived_at
                            AND dwh_etl.try_timestamptz(d.deleted_at, z.zone) <= b._source_arrived_at
                           WHERE b._bronze_id = w._source_bronze_id))
       END AS change_ts,
       w._loaded_at,
       w._source_bronze_id,
       w.is_deleted
FROM silver.devflow_worktree_states AS w
CROSS JOIN (SELECT dwh_etl.setting_timezone('devflow.source_timezone') AS zone OFFSET 0) AS z;  -- OFFSET 0: computed once
COMMENT ON VIEW devflow.dim_worktree_changes IS 'Silver worktrees shaped as devflow.dim_worktree rows (change_ts, _loaded_at): input of the devflow_dimensions step.';
REVOKE ALL ON devflow.dim_worktree_changes FROM analyst_role, PUBLIC;
GRANT SELECT ON devflow.dim_worktree_changes TO etl_service;
