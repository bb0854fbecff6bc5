-- depends: 0069_kpi_agent_utilization_bigint
-- Attack 15a: the SCD2 tables enforce "versions 1..n in time order" too, not only "no two versions of a
-- key overlap" (migrations 0032, 0060). README ("History (SCD) as data") says the tables enforce the
-- invariants (one current row per key, no overlapping validity, versions 1..n), but a DBA's direct
--   UPDATE dim SET version = 7 WHERE ... AND is_current              (versions 1, 7)
--   DELETE FROM dim WHERE ... AND version = 1                          (versions 2..n)
--   UPDATE dim SET customer_id = 8 WHERE customer_id = 7 AND is_current (key 8 starts at version n)
--   INSERT INTO dim (..., valid_from, valid_to, version) VALUES (..., <before version 1>, ..., 2)
-- was accepted, and the last one made every later batch of the key fail (apply_dimension numbers the
-- next version after the current one: a unique violation on (key, version)).
--
-- Now the statement-level guard (dwh_etl.trg_scd2_no_overlap) also checks, for every key a statement
-- wrote or deleted (its NEW and OLD transition tables: an UPDATE that moves a version to another key
-- checks both keys), that the key's versions ordered by valid_from are exactly 1, 2, ..., n; a violation
-- raises SQLSTATE 23514 (check_violation, constraint "<table>_versions") and the statement rolls back.
-- A DELETE is checked too (a new statement trigger): removing a whole key, or its latest versions, is
-- fine; a hole in the middle is not (the statement triggers see the statement's end state).
-- dwh_etl.apply_dimension numbers its late versions through transient placeholders (several statements
-- of one call, under dwh.scd_bulk = on): the version check steps aside there (the overlap check does
-- not), as the SCD trigger API does. The setting is the engine's, not a lock: the owner, who can drop
-- the triggers anyway, is not kept out by it.

CREATE OR REPLACE FUNCTION dwh_etl.trg_scd2_no_overlap()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_keys    text;
    v_nkeys   text;
    v_join    text;
    v_join2   text;
    v_notnull text;
    v_hit     record;
    v_bad     record;
    v_rows    bigint;
    v_est     double precision;
    v_any     boolean := true;
    v_written text;
BEGIN
    -- TG_ARGV: the natural key's columns.
    SELECT string_agg(format('t.%I', k), ', ' ORDER BY o),
           string_agg(format('n.%I', k), ', ' ORDER BY o),
           string_agg(format('t.%I = n.%I', k, k), ' AND ' ORDER BY o),
           string_agg(format('t2.%I = t.%I', k, k), ' AND ' ORDER BY o),
           string_agg(format('t.%I IS DISTINCT FROM NULL', k), ' AND ' ORDER BY o)
    INTO v_keys, v_nkeys, v_join, v_join2, v_notnull
    FROM unnest(TG_ARGV) WITH ORDINALITY AS a(k, o);

    -- the keys the statement wrote or removed (the transition tables exist only when the trigger fires)
    v_written := CASE TG_OP
                     WHEN 'INSERT' THEN format('SELECT %s FROM %I AS n', v_nkeys, 'scd2_new_rows')
                     WHEN 'DELETE' THEN format('SELECT %s FROM %I AS n', v_nkeys, 'scd2_old_rows')
                     ELSE format('SELECT %1$s FROM %2$I AS n UNION SELECT %1$s FROM %3$I AS n', v_nkeys, 'scd2_new_rows', 'scd2_old_rows')
                 END;

    IF TG_OP <> 'DELETE' THEN
        EXECUTE format('SELECT count(*) FROM %I', 'scd2_new_rows') INTO v_rows;
        IF v_rows = 0 THEN
            v_any := false;
        ELSIF v_rows >= 10000 THEN
            -- the table's rows as the planner would estimate them (migration 0060)
            SELECT CASE WHEN c.relpages > 0 AND c.reltuples > 0 THEN c.reltuples / c.relpages ELSE 50 END
                   * (pg_catalog.pg_relation_size(c.oid) / current_setting('block_size')::integer)
            INTO v_est
            FROM pg_catalog.pg_class AS c
            WHERE c.oid = TG_RELID;
            IF v_rows * 10 >= COALESCE(v_est, 0) THEN
                RAISE DEBUG 'scd2 guard of %: % rows written, one ordered pass', TG_RELID::regclass, v_rows;
                EXECUTE format($q$
                    SELECT EXISTS (
                        SELECT 1
                        FROM (SELECT t.valid_to,
                                     lead(t.valid_from) OVER (PARTITION BY %1$s ORDER BY t.valid_from) AS next_from
                              FROM %2$s AS t
                              WHERE %3$s) AS x
                        WHERE x.next_from < COALESCE(x.valid_to, 'infinity'::timestamptz))
                    $q$, v_keys, TG_RELID::regclass, v_notnull)
                INTO v_any;
            END IF;
        END IF;
        IF v_any THEN
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
        END IF;
    END IF;

    -- versions 1..n in valid_from order, for every key the statement wrote or removed (attack 15a), on a
    -- table with a version column; apply_dimension's transient renumbering (dwh.scd_bulk) is left alone
    IF current_setting('dwh.scd_bulk', true) IS DISTINCT FROM 'on'
       AND EXISTS (SELECT 1 FROM pg_catalog.pg_attribute AS a
                   WHERE a.attrelid = TG_RELID AND a.attname = 'version' AND a.attnum > 0 AND NOT a.attisdropped) THEN
        PERFORM 'PRAGMA:TYPE: v_bad (k text, version integer, rn bigint, valid_from timestamptz)';
        EXECUTE format($q$
            SELECT x.k, x.version, x.rn, x.valid_from
            FROM (SELECT ROW(%1$s)::text AS k, t.version, t.valid_from,
                         row_number() OVER (PARTITION BY %1$s ORDER BY t.valid_from) AS rn
                  FROM (SELECT DISTINCT * FROM (%4$s) AS w) AS n
                  JOIN %2$s AS t
                    ON %3$s) AS x
            WHERE x.version <> x.rn
            LIMIT 1
            $q$, v_keys, TG_RELID::regclass, v_join, v_written)
        INTO v_bad;
        IF v_bad.k IS NOT NULL THEN
            RAISE EXCEPTION 'new row for relation "%" violates check constraint "%"', TG_TABLE_NAME, TG_TABLE_NAME || '_versions'
                USING ERRCODE = 'check_violation',
                      SCHEMA = TG_TABLE_SCHEMA, TABLE = TG_TABLE_NAME, CONSTRAINT = TG_TABLE_NAME || '_versions',
                      DETAIL = format('The versions of key %s are not 1..n in time order: the one valid from %s is version %s, not %s.',
                                      v_bad.k, v_bad.valid_from, v_bad.version, v_bad.rn),
                      HINT = 'versions of a key are numbered 1..n by valid_from: load changes through dwh_etl.apply_dimension (it places late changes and renumbers), remove a key''s latest versions or the whole key, not one in the middle';
        END IF;
    END IF;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION dwh_etl.trg_scd2_no_overlap() IS 'Statement-level trigger of SCD2 tables (dwh_etl.scd2_guard): the versions of the keys a statement wrote must not overlap in time (23P01 exclusion_violation otherwise; a statement of 10,000 rows or more that wrote at least a tenth of the table is checked in one ordered pass, migration 0060), and the versions of every key it wrote or deleted must be 1..n in valid_from order (23514 check_violation, migration 0072; not under dwh.scd_bulk). TG_ARGV: the natural key.';

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
    -- (the old rows too: a version moved to another key leaves a hole in the first)
    EXECUTE format('CREATE OR REPLACE TRIGGER scd_no_overlap_after_update AFTER UPDATE ON %s
                    REFERENCING OLD TABLE AS scd2_old_rows NEW TABLE AS scd2_new_rows
                    FOR EACH STATEMENT EXECUTE FUNCTION dwh_etl.trg_scd2_no_overlap(%s)', p_table, v_args);
    EXECUTE format('CREATE OR REPLACE TRIGGER scd_no_overlap_after_delete AFTER DELETE ON %s
                    REFERENCING OLD TABLE AS scd2_old_rows
                    FOR EACH STATEMENT EXECUTE FUNCTION dwh_etl.trg_scd2_no_overlap(%s)', p_table, v_args);
END;
$$;
REVOKE EXECUTE ON PROCEDURE dwh_etl.scd2_guard(regclass, text[]) FROM PUBLIC;
REVOKE EXECUTE ON PROCEDURE dwh_etl.scd2_guard(regclass, text[]) FROM etl_service;
COMMENT ON PROCEDURE dwh_etl.scd2_guard(regclass, text[]) IS 'For migrations (owner only): guard an SCD2 table''s validity with a unique btree on (natural key, valid_from) and the statement-level triggers (no overlap; versions 1..n in time order, migration 0072), replacing a GiST exclusion constraint over (key, tstzrange(valid_from, valid_to)).';

-- every table guarded so far gets the new triggers (its natural key: the arguments of its insert trigger)
DO $$
DECLARE
    v_t record;
BEGIN
    FOR v_t IN
        SELECT t.tgrelid::regclass AS tbl,
               array_remove(string_to_array(encode(t.tgargs, 'escape'), '\000'), '') AS natural_key
        FROM pg_catalog.pg_trigger AS t
        WHERE t.tgname = 'scd_no_overlap_after_insert'
          AND t.tgfoid = 'dwh_etl.trg_scd2_no_overlap'::regproc
        ORDER BY 1::text
    LOOP
        CALL dwh_etl.scd2_guard(v_t.tbl, v_t.natural_key);
    END LOOP;
END;
$$;
