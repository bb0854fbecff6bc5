-- Deletes of the citizen tables that feed the dimensions leave tombstones in citizen_src.deleted_records
-- (table_name, record_id as text, deleted_at), so the warehouse closes a deleted user, service or content
-- item and marks a deleted reference code (attack 16: a deleted row stayed current for good; migration 0074).
-- The engine's dwh_etl.trg_source_tombstone does the work, set-based:
-- - zz_dwh_tombstone: AFTER DELETE FOR EACH STATEMENT, the transition table old_rows (one INSERT per
--   statement);
-- - zz_dwh_tombstone_rekey: AFTER UPDATE FOR EACH STATEMENT, old_rows / new_rows: a key an UPDATE took away
--   (renamed) is tombstoned, the new key is a new row;
-- - zz_dwh_tombstone_truncate: BEFORE TRUNCATE, every row still in the table (ENABLE ALWAYS);
-- - zz_dwh_tombstone_replica / zz_dwh_tombstone_replica_rekey: the same as row triggers, ENABLE REPLICA:
--   a logical replication apply worker (session_replication_role replica) fires row triggers only, and in
--   that role the statement triggers (ENABLE, origin) do not fire, so a change is tombstoned once either way.
-- A DELETE rolled back takes its tombstones with it (same transaction); a key deleted twice in one
-- transaction is one tombstone (deleted_at now(), ON CONFLICT DO NOTHING). Re-applying this file is harmless.
-- content_syncs (sync runs, no dimension) and analytics_payloads (the collector's inbox, emptied once read)
-- have none.
DO $tombstones$
DECLARE
    v_table text;
    v_key   text;
BEGIN
    FOR v_table, v_key IN
        SELECT * FROM (VALUES ('departments', 'department_id'), ('services', 'service_id'), ('users', 'user_id'),
                              ('languages', 'language_code'), ('query_types', 'query_type'),
                              ('content_types', 'content_type'), ('content_sources', 'source_name'),
                              ('contents', 'content_id')) AS t
    LOOP
        EXECUTE format('CREATE OR REPLACE TRIGGER zz_dwh_tombstone AFTER DELETE ON citizen_src.%I REFERENCING OLD TABLE AS old_rows '
                       'FOR EACH STATEMENT EXECUTE FUNCTION dwh_etl.trg_source_tombstone(%L, %L)',
                       v_table, 'citizen_src.deleted_records', v_key);
        EXECUTE format('CREATE OR REPLACE TRIGGER zz_dwh_tombstone_rekey AFTER UPDATE ON citizen_src.%I '
                       'REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows '
                       'FOR EACH STATEMENT EXECUTE FUNCTION dwh_etl.trg_source_tombstone(%L, %L)',
                       v_table, 'citizen_src.deleted_records', v_key);
        EXECUTE format('CREATE OR REPLACE TRIGGER zz_dwh_tombstone_truncate BEFORE TRUNCATE ON citizen_src.%I FOR EACH STATEMENT '
                       'EXECUTE FUNCTION dwh_etl.trg_source_tombstone(%L, %L)',
                       v_table, 'citizen_src.deleted_records', v_key);
        EXECUTE format('CREATE OR REPLACE TRIGGER zz_dwh_tombstone_replica AFTER DELETE ON citizen_src.%I FOR EACH ROW '
                       'EXECUTE FUNCTION dwh_etl.trg_source_tombstone(%L, %L)',
                       v_table, 'citizen_src.deleted_records', v_key);
        EXECUTE format('CREATE OR REPLACE TRIGGER zz_dwh_tombstone_replica_rekey AFTER UPDATE ON citizen_src.%I FOR EACH ROW '
                       'WHEN (OLD.%2$I IS DISTINCT FROM NEW.%2$I) EXECUTE FUNCTION dwh_etl.trg_source_tombstone(%3$L, %2$L)',
                       v_table, v_key, 'citizen_src.deleted_records');
        EXECUTE format('ALTER TABLE citizen_src.%I ENABLE ALWAYS TRIGGER zz_dwh_tombstone_truncate, '
                       'ENABLE REPLICA TRIGGER zz_dwh_tombstone_replica, ENABLE REPLICA TRIGGER zz_dwh_tombstone_replica_rekey', v_table);
    END LOOP;
END
$tombstones$;
