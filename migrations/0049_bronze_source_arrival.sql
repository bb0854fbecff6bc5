-- depends: 0048_citizen_event_delivery_order
-- Bronze rows carry when they arrived at the source (attack 9a, a row lost): the extraction window reads
-- the source's arrival column (_dwh_arrived_at), but bronze kept only its own _ingested_at, the same for
-- every row of one extraction. A record deleted and re-inserted with its old updated_at (a restore from a
-- backup, a re-sync) before the next run reached bronze as a row and a tombstone of one window with
-- nothing to order them, and the tombstone won: the record was deleted in silver and gold while the source
-- held it. dwh_etl.extract_incremental now copies the window column into _source_arrived_at, and
-- dwh_etl._load_silver does not apply a tombstone when its window holds a valid row of the key that
-- arrived after it. NULL where the arrival is unknown (file loads, change events, JSON, rows extracted
-- before this migration): the tombstone then applies as before (updated_at against deleted_at).
-- Every bronze table of the shipped areas (its file-load and month children get the column with it).
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT c.oid::regclass AS rel
        FROM pg_catalog.pg_class AS c
        JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
        WHERE n.nspname = 'bronze'
          AND c.relkind IN ('r', 'p')
          AND NOT c.relispartition
          AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_inherits AS i WHERE i.inhrelid = c.oid)
          AND EXISTS (SELECT 1 FROM pg_catalog.pg_attribute AS a
                      WHERE a.attrelid = c.oid AND a.attname = '_bronze_id' AND NOT a.attisdropped)
          AND EXISTS (SELECT 1 FROM pg_catalog.pg_attribute AS a
                      WHERE a.attrelid = c.oid AND a.attname = '_ingested_at' AND NOT a.attisdropped)
          AND c.relname !~ '_landing$'
        ORDER BY c.relname
    LOOP
        EXECUTE format('ALTER TABLE %s ADD COLUMN IF NOT EXISTS _source_arrived_at timestamptz', r.rel);
        EXECUTE format('COMMENT ON COLUMN %s._source_arrived_at IS %L', r.rel,
                       'When the row arrived at the source (its extraction window column, _dwh_arrived_at): orders a re-insert after its tombstone within one extraction. NULL when unknown (file loads, change events, JSON).');
    END LOOP;
END;
$$;
