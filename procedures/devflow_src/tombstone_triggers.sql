-- Deletes of the devflow event tables leave tombstones in devflow_src.deleted_records (table_name, record_id
-- as text, deleted_at), so the warehouse drops a deleted execution, code generation, review or deployment
-- run from silver (is_deleted), gold's facts and the marts (attack 14b: a deleted row stayed everywhere).
-- The engine's dwh_etl.trg_source_tombstone does the work (row-level AFTER DELETE, AFTER UPDATE of the
-- key, and BEFORE TRUNCATE for a whole table), as for attached sources. Re-applying this file is harmless.
DO $tombstones$
DECLARE
    v_table text;
BEGIN
    FOREACH v_table IN ARRAY ARRAY['agent_execution_logs', 'code_gen_tasks', 'review_results', 'deployment_pipelines']
    LOOP
        EXECUTE format('CREATE OR REPLACE TRIGGER zz_dwh_tombstone AFTER DELETE ON devflow_src.%I FOR EACH ROW '
                       'EXECUTE FUNCTION dwh_etl.trg_source_tombstone(%L, %L)',
                       v_table, 'devflow_src.deleted_records', 'id');
        EXECUTE format('CREATE OR REPLACE TRIGGER zz_dwh_tombstone_rekey AFTER UPDATE ON devflow_src.%I FOR EACH ROW '
                       'WHEN (OLD.id IS DISTINCT FROM NEW.id) EXECUTE FUNCTION dwh_etl.trg_source_tombstone(%L, %L)',
                       v_table, 'devflow_src.deleted_records', 'id');
        EXECUTE format('CREATE OR REPLACE TRIGGER zz_dwh_tombstone_truncate BEFORE TRUNCATE ON devflow_src.%I FOR EACH STATEMENT '
                       'EXECUTE FUNCTION dwh_etl.trg_source_tombstone(%L, %L)',
                       v_table, 'devflow_src.deleted_records', 'id');
    END LOOP;
END
$tombstones$;
