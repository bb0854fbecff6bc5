-- Deletes in the agents source leave tombstones in agents_src.deleted_records (table_name, record_id as
-- text, deleted_at), so the warehouse can close a deleted agent or user and drop a withdrawn query. The
-- engine's dwh_etl.trg_source_tombstone does the work (row-level AFTER DELETE, and BEFORE TRUNCATE for a
-- whole table), as for attached sources. Re-applying this file is harmless.
DO $tombstones$
DECLARE
    v record;
BEGIN
    FOR v IN
        SELECT * FROM (VALUES
            ('agents', 'agent_name'), ('users', 'user_id'), ('conversations', 'conversation_id'),
            ('agent_queries', 'query_id'), ('agent_approvals', 'approval_id'), ('agent_feedback', 'feedback_id')
        ) AS t (table_name, key_column)
    LOOP
        EXECUTE format('CREATE OR REPLACE TRIGGER zz_dwh_tombstone AFTER DELETE ON agents_src.%I FOR EACH ROW '
                       'EXECUTE FUNCTION dwh_etl.trg_source_tombstone(%L, %L)',
                       v.table_name, 'agents_src.deleted_records', v.key_column);
        EXECUTE format('CREATE OR REPLACE TRIGGER zz_dwh_tombstone_truncate BEFORE TRUNCATE ON agents_src.%I FOR EACH STATEMENT '
                       'EXECUTE FUNCTION dwh_etl.trg_source_tombstone(%L, %L)',
                       v.table_name, 'agents_src.deleted_records', v.key_column);
    END LOOP;
END
$tombstones$;
