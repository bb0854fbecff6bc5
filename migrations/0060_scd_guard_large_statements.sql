-- depends: 0055_source_rekey_tombstones
-- Issue 15, the SCD engine: the no-overlap guard of SCD2 tables (migration 0032) checks a large statement
-- in one ordered pass instead of two index probes per key.
--
-- The check of 0032 joins the statement's distinct keys (its transition table) to the table twice. The
-- planner cannot estimate a transition table's distinct keys (it assumes 200), so it always probes the
-- (key, valid_from) btree per key: right for the daily delta, wrong for a first load. Measured on a
-- 1M-key dimension (initial load through dwh_etl.apply_dimension, quiet machine): the check took 3.15 s
-- of the 6.1 s INSERT; over the whole table in key order it takes 0.33 s.
--
-- Now, by the statement's size:
--   * no row written: nothing to check (an UPDATE that matched nothing);
--   * fewer than 10,000 rows, or fewer than a tenth of the table's estimated rows: the keyed check of
--     0032, unchanged;
--   * otherwise one pass over the table in (key, valid_from) order (the unique btree provides it): versions
--     of a key overlap exactly when one starts before the previous one ends, so comparing each version
--     with the next of its key (lead) finds any overlap. Only when that pass finds one (it sees every key,
--     not only the statement's) is the keyed check run, to refuse the statement only for an overlap of a
--     key it wrote, with the same message.
-- NULL keys are left out of the pass, as they match nothing in the keyed check (and matched nothing in
-- the exclusion constraint before it), by "IS DISTINCT FROM NULL", not "IS NOT NULL": for a key column of
-- a composite type IS NOT NULL is false as soon as one field is NULL, while "=" (the keyed check, the
-- unique btree) treats NULL fields as equal (review 12: two overlapping versions of ROW(1, NULL) were
-- refused by a small statement and accepted by a large one). Same SQLSTATE 23P01, same DETAIL.
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
    v_rows    bigint;
    v_est     double precision;
    v_any     boolean := true;
BEGIN
    -- TG_ARGV: the natural key's columns.
    SELECT string_agg(format('t.%I', k), ', ' ORDER BY o),
           string_agg(format('n.%I', k), ', ' ORDER BY o),
           string_agg(format('t.%I = n.%I', k, k), ' AND ' ORDER BY o),
           string_agg(format('t2.%I = t.%I', k, k), ' AND ' ORDER BY o),
           string_agg(format('t.%I IS DISTINCT FROM NULL', k), ' AND ' ORDER BY o)
    INTO v_keys, v_nkeys, v_join, v_join2, v_notnull
    FROM unnest(TG_ARGV) WITH ORDINALITY AS a(k, o);

    -- (the transition table exists only when the trigger fires: a dynamic statement, not checked ahead)
    EXECUTE format('SELECT count(*) FROM %I', 'scd2_new_rows') INTO v_rows;
    IF v_rows = 0 THEN
        RETURN NULL;
    END IF;
    IF v_rows >= 10000 THEN
        -- the table's rows as the planner would estimate them: its density at the last ANALYZE times its
        -- pages now (50 rows a page before any ANALYZE)
        SELECT CASE WHEN c.relpages > 0 AND c.reltuples > 0 THEN c.reltuples / c.relpages ELSE 50 END
               * (pg_catalog.pg_relation_size(c.oid) / current_setting('block_size')::integer)
        INTO v_est
        FROM pg_catalog.pg_class AS c
        WHERE c.oid = TG_RELID;
        IF v_rows * 10 >= COALESCE(v_est, 0) THEN
            RAISE DEBUG 'scd2 guard of %: % rows written, one ordered pass', TG_RELID::regclass, v_rows;
            -- one ordered pass: does any version start before the previous version of its key ends?
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
    IF NOT v_any THEN
        RETURN NULL;
    END IF;

    -- The statement's distinct keys (hashed from its transition table, which has no index) joined to the
    -- table by "=" (served by the unique btree on (key, valid_from); a NULL key matches nothing).
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
COMMENT ON FUNCTION dwh_etl.trg_scd2_no_overlap() IS 'Statement-level trigger of SCD2 tables (dwh_etl.scd2_guard): the versions of the keys a statement wrote must not overlap in time; raises 23P01 exclusion_violation otherwise. TG_ARGV: the natural key. A statement of 10,000 rows or more that wrote at least a tenth of the table is checked in one ordered pass (migration 0060).';
