-- depends: 0049_bronze_source_arrival
-- Attack 11: an UPDATE of a primary key on a replicated source (sale 100 renumbered 900) reached the copy
-- as an UPDATE of its key, which wrote no tombstone for the old key: the warehouse kept sale 100 and
-- loaded sale 900 next to it (counted twice). dwh_etl.source_add now attaches a third trigger to every
-- copy, zz_dwh_tombstone_rekey (AFTER UPDATE FOR EACH ROW WHEN the key changed, ENABLE ALWAYS), that
-- tombstones the old key through dwh_etl.trg_source_tombstone. Here: the same trigger on the copies of
-- the sources attached before, next to their zz_dwh_tombstone (same tombstone table and key columns).
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT t.tgrelid::regclass AS rel,
               substring(pg_catalog.pg_get_triggerdef(t.oid) FROM 'trg_source_tombstone\((.*)\)$') AS args,
               (SELECT string_agg(format('OLD.%1$I IS DISTINCT FROM NEW.%1$I', a.attname), ' OR ' ORDER BY k.o)
                FROM pg_catalog.pg_index AS i
                CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k (attnum, o)
                JOIN pg_catalog.pg_attribute AS a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                WHERE i.indrelid = t.tgrelid AND i.indisprimary) AS key_changed
        FROM pg_catalog.pg_trigger AS t
        WHERE t.tgname = 'zz_dwh_tombstone'
          AND t.tgfoid = to_regprocedure('dwh_etl.trg_source_tombstone()')
          -- the copies of attached sources only (not the demo sources' own tables, e.g. agents_src)
          AND EXISTS (SELECT 1 FROM dwh_etl.sources AS s
                      JOIN pg_catalog.pg_class AS c ON c.oid = t.tgrelid
                      WHERE c.relnamespace = to_regnamespace(quote_ident(s.landing_schema))
                        AND c.relname = ANY (s.tables))
          AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger AS o
                          WHERE o.tgrelid = t.tgrelid AND o.tgname = 'zz_dwh_tombstone_rekey')
    LOOP
        CONTINUE WHEN r.key_changed IS NULL OR r.args IS NULL;
        EXECUTE format('CREATE TRIGGER zz_dwh_tombstone_rekey AFTER UPDATE ON %s FOR EACH ROW WHEN (%s) '
                       'EXECUTE FUNCTION dwh_etl.trg_source_tombstone(%s)',
                       r.rel, r.key_changed,
                       r.args);
        EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER zz_dwh_tombstone_rekey', r.rel);
    END LOOP;
END
$$;
