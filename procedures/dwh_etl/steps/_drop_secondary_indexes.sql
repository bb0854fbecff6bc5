-- Bulk path into an empty table (issue 15: a first load, a rebuild): drops the table's secondary indexes
-- (neither unique nor behind a constraint: ON CONFLICT arbiters and keys stay) and returns the statements
-- that build them again from their own definitions (pg_get_indexdef, comments kept), for the caller to
-- run after its write, in the same transaction: one sort per index instead of a descent per row and index.
-- Used by dwh_etl.step_fact (sales at scale 0.3, 300k lines into seven such indexes: the INSERT 2.6 s with
-- them; 0.8 s without, plus 1.0 s to build them) and dwh_etl._load_silver (300k sales lines: the
-- _loaded_at btree and the _batch_id bloom index cost ~0.25 s per load, built after in ~0.08 s).
-- What a definition does not carry keeps its index: the index a DBA clustered the table on, statistics
-- targets set on an index's columns, an index in a tablespace of its own, an invalid index, a definition
-- not of the expected form. A session with default_tablespace set keeps them all (built again then, they
-- would move there: review 17).
-- A partitioned table's index is defined ON ONLY the parent (its partitions' attached after): built
-- again ON the parent, it builds theirs too, from the parent's definition; so it is kept where one of
-- its partitions' indexes carries what that definition does not (review 17: a partition's index moved to
-- a tablespace of its own, or with a comment, storage options, a statistics target, or clustered on,
-- came back without them).
-- The caller owns the table, checked it is empty and not distributed (Citus), and handles the lock:
-- DROP INDEX takes ACCESS EXCLUSIVE on the table until the transaction ends (run it under a short
-- lock_timeout and catch lock_not_available: the write then keeps the indexes).
CREATE OR REPLACE FUNCTION dwh_etl._drop_secondary_indexes(
    p_table regclass
)
RETURNS text[]
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_idx record;
    v_add text[] := '{}'::text[];
BEGIN
    FOR v_idx IN
        SELECT x.name, x.note,
               CASE WHEN x.kind = 'I' THEN overlay(x.def PLACING ' ON ' FROM x.at FOR 9) ELSE x.def END AS def
        FROM (SELECT format('%I.%I', n.nspname, ic.relname) AS name, ic.relkind AS kind,
                     pg_catalog.pg_get_indexdef(i.indexrelid) AS def,
                     length('CREATE INDEX ' || quote_ident(ic.relname)) + 1 AS at,
                     pg_catalog.obj_description(i.indexrelid, 'pg_class') AS note
              FROM pg_catalog.pg_index AS i
              JOIN pg_catalog.pg_class AS ic ON ic.oid = i.indexrelid
              JOIN pg_catalog.pg_namespace AS n ON n.oid = ic.relnamespace
              WHERE i.indrelid = p_table
                AND NOT i.indisunique
                AND i.indisvalid
                AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint AS k WHERE k.conindid = i.indexrelid)
                AND NOT i.indisclustered
                AND ic.reltablespace = 0
                AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute AS a
                                WHERE a.attrelid = i.indexrelid AND a.attstattarget >= 0)
                AND NOT EXISTS (SELECT 1
                                FROM pg_catalog.pg_partition_tree(i.indexrelid) AS t
                                JOIN pg_catalog.pg_class AS pc ON pc.oid = t.relid
                                JOIN pg_catalog.pg_index AS pi ON pi.indexrelid = t.relid
                                WHERE t.level > 0
                                  AND (pc.reltablespace <> 0 OR pi.indisclustered
                                       OR pc.reloptions IS DISTINCT FROM ic.reloptions
                                       OR pg_catalog.obj_description(t.relid, 'pg_class') IS NOT NULL
                                       OR EXISTS (SELECT 1 FROM pg_catalog.pg_attribute AS a
                                                  WHERE a.attrelid = t.relid AND a.attstattarget >= 0)))
                AND pg_catalog.current_setting('default_tablespace') = '') AS x
        WHERE x.kind <> 'I' OR substr(x.def, x.at, 9) = ' ON ONLY '
        ORDER BY x.name
    LOOP
        v_add := v_add || v_idx.def;
        IF v_idx.note IS NOT NULL THEN
            v_add := v_add || format('COMMENT ON INDEX %s IS %L', v_idx.name, v_idx.note);
        END IF;
        EXECUTE format('DROP INDEX %s', v_idx.name);
    END LOOP;
    RETURN v_add;
END;
$$;
COMMENT ON FUNCTION dwh_etl._drop_secondary_indexes(regclass) IS 'Bulk path into an empty table: drop its secondary (non-unique, constraint-free) indexes; returns the statements that build them again after the write.';
REVOKE EXECUTE ON FUNCTION dwh_etl._drop_secondary_indexes(regclass) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl._drop_secondary_indexes(regclass) TO etl_service;

-- The same for a caller that has no other lock to take (a silver load, bronze's first extraction): the
-- drops wait 2 s at most for the table's lock (an analyst's open transaction reading it); busy, they are
-- rolled back, a NOTICE says so (p_label names the load), and the write keeps the indexes ('{}').
CREATE OR REPLACE FUNCTION dwh_etl._drop_secondary_indexes_if_free(
    p_table regclass,
    p_label text
)
RETURNS text[]
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_lock text := pg_catalog.current_setting('lock_timeout');
    v_add  text[];
BEGIN
    BEGIN
        PERFORM pg_catalog.set_config('lock_timeout', '2s', true);
        v_add := dwh_etl._drop_secondary_indexes(p_table);
        PERFORM pg_catalog.set_config('lock_timeout', v_lock, true);
    EXCEPTION WHEN lock_not_available OR deadlock_detected THEN
        -- the drops were rolled back with the subtransaction
        v_add := '{}'::text[];
        PERFORM pg_catalog.set_config('lock_timeout', v_lock, true);
        RAISE NOTICE '%: the table is busy (%), rows indexed one by one', p_label, SQLERRM;
    END;
    RETURN v_add;
END;
$$;
REVOKE EXECUTE ON FUNCTION dwh_etl._drop_secondary_indexes_if_free(regclass, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl._drop_secondary_indexes_if_free(regclass, text) TO etl_service;
COMMENT ON FUNCTION dwh_etl._drop_secondary_indexes_if_free(regclass, text) IS 'dwh_etl._drop_secondary_indexes waiting 2 s at most for the table''s lock; busy, nothing is dropped (a NOTICE says so).';
