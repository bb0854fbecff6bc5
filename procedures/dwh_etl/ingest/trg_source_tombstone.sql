-- Tombstones of a source table's local copy (replicated or pulled): one row per deleted row in the
-- tombstone table given as the trigger's first argument (table_name, record_id, deleted_at now()), the
-- key as text from the columns named by the other arguments (several: a row literal).
-- - AFTER DELETE FOR EACH ROW: the logical replication apply worker fires row triggers only, never
--   statement triggers (PostgreSQL docs, "Logical Replication > Architecture"), so a replicated DELETE
--   is seen one row at a time;
-- - BEFORE TRUNCATE (statement): every row still in the table (a TRUNCATE on the source replicates as
--   a TRUNCATE here, and would otherwise vanish without a trace);
-- - AFTER UPDATE FOR EACH ROW WHEN the key changed: an UPDATE of a primary key on the source replicates
--   as an UPDATE of the copy's key, and the old key would otherwise live on in the warehouse next to the
--   new one (attack 11: a sale counted twice). The old key is tombstoned; the new one is a new row.
-- Attached ENABLE ALWAYS by dwh_etl.source_add, so they fire for changes applied by replication too.
-- - AFTER DELETE / AFTER UPDATE FOR EACH STATEMENT with transition tables (REFERENCING OLD TABLE AS
--   old_rows [NEW TABLE AS new_rows]): the same, set-based, one INSERT per statement (a DELETE of 100k
--   rows is one statement, not 100k); an UPDATE tombstones the keys of old_rows that no row of new_rows
--   holds any more (a swap of two keys deletes neither). For a table written by sessions (the demo
--   sources, attack 16); a replica's apply worker fires row triggers only, so such a table keeps the row
--   triggers ENABLE REPLICA next to the statement ones (procedures/citizen_src/tombstone_triggers.sql).
-- The area's extraction carries the tombstones on.
CREATE OR REPLACE FUNCTION dwh_etl.trg_source_tombstone()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_key text;
BEGIN
    IF NOT (TG_OP IN ('DELETE', 'UPDATE', 'TRUNCATE') AND (TG_LEVEL = 'STATEMENT' OR TG_OP <> 'TRUNCATE')) OR TG_NARGS < 2 THEN
        RAISE EXCEPTION 'trigger % on %.% is not a DELETE or UPDATE (row or statement) or TRUNCATE statement trigger with a tombstone table and key columns',
                        TG_NAME, TG_TABLE_SCHEMA, TG_TABLE_NAME
            USING HINT = 'Attached by dwh_etl.source_add.';
    END IF;
    v_key := CASE WHEN TG_NARGS = 2 THEN format('r.%I::text', TG_ARGV[1])
                  ELSE format('ROW(%s)::text', (SELECT string_agg(format('r.%I', a), ', ' ORDER BY o)
                                               FROM unnest(TG_ARGV[1:TG_NARGS - 1]) WITH ORDINALITY AS u (a, o))) END;
    IF TG_LEVEL = 'STATEMENT' AND TG_OP = 'DELETE' THEN
        -- the transition table old_rows (the trigger's REFERENCING OLD TABLE AS old_rows)
        EXECUTE format('INSERT INTO %s (table_name, record_id) SELECT DISTINCT $1, %s FROM old_rows AS r ON CONFLICT DO NOTHING',
                       TG_ARGV[0], v_key)
        USING TG_TABLE_NAME;
    ELSIF TG_LEVEL = 'STATEMENT' AND TG_OP = 'UPDATE' THEN
        -- the keys the statement took away: in old_rows, in no row of new_rows
        EXECUTE format('INSERT INTO %s (table_name, record_id) SELECT $1, g.k FROM (SELECT %s AS k FROM old_rows AS r '
                       'EXCEPT SELECT %s FROM new_rows AS r) AS g ON CONFLICT DO NOTHING',
                       TG_ARGV[0], v_key, v_key)
        USING TG_TABLE_NAME;
    ELSIF TG_OP IN ('DELETE', 'UPDATE') THEN
        -- UPDATE: the old key, only when it differs from the new one (the trigger's WHEN says so too)
        EXECUTE format('INSERT INTO %s (table_name, record_id) SELECT $1, o.k FROM (SELECT %s AS k FROM (SELECT ($2).*) AS r) AS o '
                       'WHERE $4 <> ''UPDATE'' OR o.k IS DISTINCT FROM (SELECT %s FROM (SELECT ($3).*) AS r) ON CONFLICT DO NOTHING',
                       TG_ARGV[0], v_key, v_key)
        USING TG_TABLE_NAME, OLD, NEW, TG_OP;
    ELSE
        EXECUTE format('INSERT INTO %s (table_name, record_id) SELECT DISTINCT $1, %s FROM %I.%I AS r ON CONFLICT DO NOTHING',
                       TG_ARGV[0], v_key, TG_TABLE_SCHEMA, TG_TABLE_NAME)
        USING TG_TABLE_NAME;
    END IF;
    RETURN NULL;
END;
$$;
REVOKE EXECUTE ON FUNCTION dwh_etl.trg_source_tombstone() FROM PUBLIC;
COMMENT ON FUNCTION dwh_etl.trg_source_tombstone() IS 'Trigger (AFTER DELETE row, AFTER UPDATE row of a changed key, AFTER DELETE / UPDATE statement with transition tables old_rows / new_rows, or BEFORE TRUNCATE statement) on a source table or its local copy: tombstones (table_name, record_id) into the table named by its first argument, key from the other arguments.';
