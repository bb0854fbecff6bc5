-- depends: 0031_select
-- SCD2 validity without a GiST probe per row (issue 15, the SCD engine). Every SCD2 table had
--   EXCLUDE USING gist (<natural key> WITH =, tstzrange(valid_from, valid_to) WITH &&)
-- and that constraint was most of the engine's cost, measured on a 1M-key dimension: applying a 10%
-- change 16.1 s with it, 9.2 s without; the initial load 55 s with it, 16 s without. Its index also was
-- the only index on the key over all versions, so the engine's per-key lookups (max version of a new
-- key, the version valid at a late change) went through GiST.
--
-- The same invariant (no two versions of a key overlap in time), now checked once per statement:
--   * a UNIQUE btree on (<natural key>, valid_from): two versions cannot start at the same instant, and
--     it is the ordered index the lookups and the check use;
--   * two AFTER ... FOR EACH STATEMENT triggers (INSERT and UPDATE; PostgreSQL allows a transition table
--     only on a single-event trigger) running dwh_etl.trg_scd2_no_overlap: for the keys the statement
--     wrote (its transition table), no version may start inside another version of its key (a pair
--     of versions overlaps exactly when the later-starting one starts before the other ends). A violation raises
--     SQLSTATE 23P01 (exclusion_violation), as the constraint did, naming the key and both ranges: a
--     DBA's direct write that breaks history is still refused, and the statement rolls back.
-- What the statement check does not see that the exclusion constraint did: rows another transaction
-- has written and not yet committed. Concurrent writers of one key are still stopped by the other
-- constraints (closing the same current version waits on its row lock; two current versions violate
-- the partial unique index; two versions starting at the same time violate the new btree), and the
-- engine's writers take a SHARE ROW EXCLUSIVE lock on the dimension (dwh_etl.apply_dimension), so its
-- batches never interleave. Only two concurrent direct writes of overlapping *closed* versions of the
-- same key, each committed before the other's check, could both pass.
--
-- dwh_etl.scd2_guard(table, natural key) converts one table (idempotent) and is for migrations; this
-- migration converts every table that has such an exclusion constraint. Defined here, not in
-- procedures/, because migrations call them.

CREATE OR REPLACE FUNCTION dwh_etl.trg_scd2_no_overlap()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_keys  text;
    v_nkeys text;
    v_join  text;
    v_join2 text;
    v_hit   record;
BEGIN
    -- TG_ARGV: the natural key's columns. The statement's distinct keys (hashed from its transition
    -- table, which has no index) are joined to the table by "=" (hashable and served by the unique btree
    -- on (key, valid_from); a NULL key matches nothing, as in the exclusion constraint it replaces).
    SELECT string_agg(format('t.%I', k), ', ' ORDER BY o),
           string_agg(format('n.%I', k), ', ' ORDER BY o),
           string_agg(format('t.%I = n.%I', k, k), ' AND ' ORDER BY o),
           string_agg(format('t2.%I = t.%I', k, k), ' AND ' ORDER BY o)
    INTO v_keys, v_nkeys, v_join, v_join2
    FROM unnest(TG_ARGV) WITH ORDINALITY AS a(k, o);
    PERFORM 'PRAGMA:TYPE: v_hit (k text, from1 timestamptz, to1 timestamptz, from2 timestamptz)';
    EXECUTE format($q$
        SELECT ROW(%1$s)::text AS k, t.valid_from AS from1, t.valid_to AS to1, t2.valid_from AS from2
        FROM (SELECT DISTINCT %4$s FROM scd2_new_rows AS n) AS n
        JOIN %2$s AS t
          ON %3$s
        JOIN %2$s AS t2
          ON %5$s
         AND t2.valid_from > t.valid_from
         AND t2.valid_from < COALESCE(t.valid_to, 'infinity'::timestamptz)
        LIMIT 1
        $q$, v_keys, TG_RELID::regclass, v_join, v_nkeys, v_join2)
    INTO v_hit;
    IF v_hit.k IS NOT NULL THEN
        RAISE EXCEPTION 'conflicting key value violates exclusion constraint "%"', TG_TABLE_NAME || '_no_overlap'
            USING ERRCODE = 'exclusion_violation',
                  SCHEMA = TG_TABLE_SCHEMA, TABLE = TG_TABLE_NAME, CONSTRAINT = TG_TABLE_NAME || '_no_overlap',
                  DETAIL = format('Versions of key %s overlap: [%s, %s) and one from %s.',
                                  v_hit.k, v_hit.from1, COALESCE(v_hit.to1::text, 'infinity'), v_hit.from2),
                  HINT = 'the versions of a key must not overlap in time: close the current version (valid_to) before adding the next, or load through dwh_etl.apply_dimension';
    END IF;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION dwh_etl.trg_scd2_no_overlap() IS 'Statement-level trigger of SCD2 tables (dwh_etl.scd2_guard): the versions of the keys a statement wrote must not overlap in time; raises 23P01 exclusion_violation otherwise. TG_ARGV: the natural key.';

CREATE OR REPLACE PROCEDURE dwh_etl.scd2_guard(
    p_table       regclass,
    p_natural_key text[]
)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_rel  name;
    v_con  record;
    v_args text;
BEGIN
    SELECT c.relname INTO v_rel FROM pg_catalog.pg_class AS c WHERE c.oid = p_table;
    IF cardinality(p_natural_key) IS NULL OR cardinality(p_natural_key) = 0 THEN
        RAISE EXCEPTION 'scd2_guard(%): the natural key is empty', p_table USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- the exclusion constraints over (key =, tstzrange(valid_from, valid_to) &&) it replaces
    FOR v_con IN
        SELECT co.conname FROM pg_catalog.pg_constraint AS co
        WHERE co.conrelid = p_table AND co.contype = 'x'
          AND pg_catalog.pg_get_constraintdef(co.oid) LIKE '%tstzrange(valid_from, valid_to) WITH &&%'
    LOOP
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', p_table, v_con.conname);
    END LOOP;
    EXECUTE format('CREATE UNIQUE INDEX IF NOT EXISTS %I ON %s (%s, valid_from)',
                   left(v_rel, 40) || '_key_from_uq', p_table,
                   (SELECT string_agg(format('%I', k), ', ' ORDER BY o) FROM unnest(p_natural_key) WITH ORDINALITY AS a(k, o)));
    -- a plain btree on exactly (key, valid_from), which some tables had for lookups, is now redundant
    FOR v_con IN
        SELECT i.indexrelid::regclass AS idx
        FROM pg_catalog.pg_index AS i
        JOIN pg_catalog.pg_class AS ic ON ic.oid = i.indexrelid
        JOIN pg_catalog.pg_am AS am ON am.oid = ic.relam
        WHERE i.indrelid = p_table AND NOT i.indisunique AND am.amname = 'btree'
          AND i.indpred IS NULL AND i.indexprs IS NULL
          AND (SELECT array_agg(a.attname::text ORDER BY k.n)
               FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, n)
               JOIN pg_catalog.pg_attribute AS a ON a.attrelid = p_table AND a.attnum = k.attnum)
              = p_natural_key || 'valid_from'::text
    LOOP
        EXECUTE format('DROP INDEX %s', v_con.idx);
    END LOOP;
    SELECT string_agg(quote_literal(k), ', ' ORDER BY o) INTO v_args
    FROM unnest(p_natural_key) WITH ORDINALITY AS a(k, o);
    EXECUTE format('CREATE OR REPLACE TRIGGER scd_no_overlap_after_insert AFTER INSERT ON %s
                    REFERENCING NEW TABLE AS scd2_new_rows
                    FOR EACH STATEMENT EXECUTE FUNCTION dwh_etl.trg_scd2_no_overlap(%s)', p_table, v_args);
    EXECUTE format('CREATE OR REPLACE TRIGGER scd_no_overlap_after_update AFTER UPDATE ON %s
                    REFERENCING NEW TABLE AS scd2_new_rows
                    FOR EACH STATEMENT EXECUTE FUNCTION dwh_etl.trg_scd2_no_overlap(%s)', p_table, v_args);
END;
$$;
REVOKE EXECUTE ON PROCEDURE dwh_etl.scd2_guard(regclass, text[]) FROM PUBLIC;
REVOKE EXECUTE ON PROCEDURE dwh_etl.scd2_guard(regclass, text[]) FROM etl_service;
COMMENT ON PROCEDURE dwh_etl.scd2_guard(regclass, text[]) IS 'For migrations (owner only): guard an SCD2 table''s validity with a unique btree on (natural key, valid_from) and the statement-level no-overlap triggers, replacing a GiST exclusion constraint over (key, tstzrange(valid_from, valid_to)).';

-- Every SCD2 table of the warehouse: the key columns are those of its exclusion constraint ("col WITH =")
DO $$
DECLARE
    v_t record;
BEGIN
    FOR v_t IN
        SELECT co.conrelid::regclass AS tbl,
               array_agg(a.attname::text ORDER BY k.n) AS natural_key
        FROM pg_catalog.pg_constraint AS co
        CROSS JOIN LATERAL unnest(co.conkey, co.conexclop) WITH ORDINALITY AS k(attnum, op, n)
        JOIN pg_catalog.pg_attribute AS a ON a.attrelid = co.conrelid AND a.attnum = k.attnum
        WHERE co.contype = 'x'
          AND pg_catalog.pg_get_constraintdef(co.oid) LIKE '%tstzrange(valid_from, valid_to) WITH &&%'
          AND k.attnum <> 0
        GROUP BY co.oid, co.conrelid
        ORDER BY 1::text
    LOOP
        CALL dwh_etl.scd2_guard(v_t.tbl, v_t.natural_key);
        RAISE NOTICE 'scd2_guard: % (%)', v_t.tbl, array_to_string(v_t.natural_key, ', ');
    END LOOP;
END;
$$;
