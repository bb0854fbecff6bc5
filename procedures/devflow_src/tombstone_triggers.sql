-- Deletes of the devflow event and entity tables leave tombstones in devflow_src.deleted_records (table_name,
-- record_id as text, deleted_at), so the warehouse drops a deleted execution, code generation, review or
-- deployment run from silver (is_deleted), gold's facts and the marts, and closes a deleted issue, agent,
-- label or resource in its dimension (attack 14b: a deleted row stayed everywhere); a deleted label change
-- (label_history, migration 0068) no longer labels its issue; a deleted worktree (worktree_states, migration
-- 0074) is closed in dim_worktree and leaves its issue's processing row. worktree_states is tombstoned by
-- worktree_path, silver's key (unique and not null in the source too), not by its id: a path renamed by
-- UPDATE tombstones the old path.
-- The engine's dwh_etl.trg_source_tombstone does the work (row-level AFTER DELETE, AFTER UPDATE of the
-- key, and BEFORE TRUNCATE for a whole table, all ENABLE ALWAYS), as for attached sources. Re-applying this file is harmless.
DO $tombstones$
DECLARE
    v_table text;
    v_key   text;
BEGIN
    FOR v_table, v_key IN
        SELECT * FROM (VALUES ('agent_execution_logs', 'id'), ('code_gen_tasks', 'id'), ('review_results', 'id'),
                              ('deployment_pipelines', 'id'), ('issues', 'id'), ('agents', 'agent_id'),
                              ('labels', 'label_name'), ('infrastructure', 'resource_id'),
                              ('label_history', 'id'), ('worktree_states', 'worktree_path')) AS t
    LOOP
        EXECUTE format('CREATE OR REPLACE TRIGGER zz_dwh_tombstone AFTER DELETE ON devflow_src.%I FOR EACH ROW '
                       'EXECUTE FUNCTION dwh_etl.trg_source_tombstone(%L, %L)',
                       v_table, 'devflow_src.deleted_records', v_key);
        EXECUTE format('CREATE OR REPLACE TRIGGER zz_dwh_tombstone_rekey AFTER UPDATE ON devflow_src.%I FOR EACH ROW '
                       'WHEN (OLD.%2$I IS DISTINCT FROM NEW.%2$I) EXECUTE FUNCTION dwh_etl.trg_source_tombstone(%3$L, %2$L)',
                       v_table, v_key, 'devflow_src.deleted_records');
        EXECUTE format('CREATE OR REPLACE TRIGGER zz_dwh_tombstone_truncate BEFORE TRUNCATE ON devflow_src.%I FOR EACH STATEMENT '
                       'EXECUTE FUNCTION dwh_etl.trg_source_tombstone(%L, %L)',
                       v_table, 'devflow_src.deleted_records', v_key);
        -- ENABLE ALWAYS, as zz_dwh_arrival: a delete applied by logical replication (session_replication_role
        -- replica) leaves its tombstone too
        EXECUTE format('ALTER TABLE devflow_src.%I ENABLE ALWAYS TRIGGER zz_dwh_tombstone, ENABLE ALWAYS TRIGGER zz_dwh_tombstone_rekey, '
                       'ENABLE ALWAYS TRIGGER zz_dwh_tombstone_truncate', v_table);
    END LOOP;
END
$tombstones$;
