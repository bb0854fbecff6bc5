-- The write half of dwh_etl.ingest_cdc_events: applies one table's winning changes (one per key, already
-- deduplicated, ordered and typed by the caller) to a mirror table etl_service may not write itself.
-- SECURITY DEFINER, so it is narrow: p_table must be an ordinary (or partitioned) table registered in
-- dwh_etl.table_registry with layer source and have a primary key, and not be a tombstone table the
-- warehouse's delete triggers write (dwh_etl._tombstone_table); anything else raises 42501. The
-- changes come by value (a JSON array, never a relation of the caller), identifiers from the catalog,
-- values through jsonb_populate_record of the table's own row type.
--   p_changes: [{"n": 3, "op": "u", "img": {...typed after image...}, "key": {"customer_id": 7}}, ...]
-- c, r, u upsert the image (INSERT ... ON CONFLICT (pk) DO UPDATE ... WHERE the row differs; a column the
-- image lacks keeps the row's value, or gets its DEFAULT in a new row); d deletes the key. Columns
-- starting with _ and those of setting cdc.local_columns.<schema> are left to the table (DEFAULT and
-- triggers). All changes are applied set-based in one subtransaction; only if that fails, halves of them,
-- in order, down to single changes, so the ones the table rejects (CHECK, NOT NULL, unique) are returned
-- in rejected ({"<n>": "reason"}) and the others applied.
--   SELECT * FROM dwh_etl.sec_cdc_apply('sales_src.customers', '[{"n": 1, "op": "d", "key": {"customer_id": 7}}]');
CREATE OR REPLACE FUNCTION dwh_etl.sec_cdc_apply(
    p_table   regclass,
    p_changes jsonb
)
RETURNS TABLE (
    n_inserted bigint,
    n_updated  bigint,
    n_deleted  bigint,
    rejected   jsonb
)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_rel      record;
    v_pk       text[];
    v_local    text[];
    v_ins_cols text[];
    v_upd_cols text[];
    v_exprs    text;
    v_del_sql  text;
    v_ups_sql  text;
    v_ok       boolean := true;
    v_ins      bigint := 0;
    v_upd      bigint := 0;
    v_del      bigint := 0;
    v_i        bigint;
    v_u        bigint;
    v_d        bigint;
    v_rejected jsonb := '{}'::jsonb;
    v_lo       bigint[];
    v_hi       bigint[];
    v_a        bigint;
    v_b        bigint;
BEGIN
    SELECT n.nspname::text AS nspname, c.relname::text AS relname
    INTO v_rel
    FROM pg_catalog.pg_class AS c
    JOIN pg_catalog.pg_namespace AS n
      ON n.oid = c.relnamespace
    WHERE c.oid = p_table
      AND c.relkind IN ('r', 'p')
      AND c.relpersistence <> 't'
      AND EXISTS (SELECT 1 FROM dwh_etl.table_registry AS tr
                  WHERE tr.layer = 'source'
                    AND to_regclass(tr.table_name) = c.oid);
    IF NOT FOUND THEN
        RAISE EXCEPTION '% is not a table registered as a source', COALESCE(p_table::text, 'NULL')
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'dwh_etl.sec_cdc_apply writes the source tables of dwh_etl.table_registry (layer source) only';
    END IF;
    -- the tombstone table the mirror's delete triggers write: a change applied to it forged or erased a
    -- deletion (attack 13a)
    IF dwh_etl._tombstone_table(p_table) THEN
        RAISE EXCEPTION '% is written by the warehouse''s delete triggers, not by change events', p_table
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'deliver the delete of the row itself';
    END IF;
    SELECT array_agg(a.attname::text ORDER BY k.o)
    INTO v_pk
    FROM pg_catalog.pg_index AS i
    CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k (attnum, o)
    JOIN pg_catalog.pg_attribute AS a
      ON a.attrelid = i.indrelid
     AND a.attnum = k.attnum
    WHERE i.indrelid = p_table
      AND i.indisprimary;
    IF v_pk IS NULL THEN
        RAISE EXCEPTION '% has no primary key: changes cannot be applied by key', p_table
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    v_local := ARRAY(SELECT btrim(c)
                     FROM unnest(string_to_array(dwh_etl.get_setting('cdc.local_columns.' || v_rel.nspname, ''), ',')) AS c
                     WHERE btrim(c) <> '');

    PERFORM 'PRAGMA:TABLE: _cdc_apply (ord bigint, n integer, op text, img jsonb, rec_key jsonb)';
    CREATE TEMP TABLE _cdc_apply ON COMMIT DROP AS
    SELECT c.ord,
           CASE WHEN c.e ->> 'n' ~ '^[0-9]{1,9}$' THEN (c.e ->> 'n')::integer END AS n,
           c.e ->> 'op' AS op,
           CASE WHEN jsonb_typeof(c.e -> 'img') = 'object' THEN c.e -> 'img' ELSE '{}'::jsonb END AS img,
           CASE WHEN jsonb_typeof(c.e -> 'key') = 'object' THEN c.e -> 'key' END AS rec_key
    FROM jsonb_array_elements(CASE WHEN jsonb_typeof(p_changes) = 'array' THEN p_changes ELSE '[]'::jsonb END)
         WITH ORDINALITY AS c (e, ord)
    WHERE jsonb_typeof(c.e) = 'object';
    -- what cannot be a change is rejected, not guessed
    SELECT COALESCE(jsonb_object_agg(COALESCE(a.n::text, 'element ' || a.ord), 'not a change: needs n, op c/u/d/r and a key'), '{}'::jsonb)
    INTO v_rejected
    FROM _cdc_apply AS a
    WHERE a.n IS NULL OR a.op IS NULL OR a.op NOT IN ('c', 'u', 'd', 'r') OR a.rec_key IS NULL;
    DELETE FROM _cdc_apply AS a
    WHERE a.n IS NULL OR a.op IS NULL OR a.op NOT IN ('c', 'u', 'd', 'r') OR a.rec_key IS NULL;

    SELECT array_agg(a.attname::text ORDER BY a.attnum)
    INTO v_ins_cols
    FROM pg_catalog.pg_attribute AS a
    WHERE a.attrelid = p_table AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
      AND left(a.attname, 1) <> '_'
      AND (a.attname::text = ANY (v_pk) OR NOT a.attname::text = ANY (v_local));
    v_upd_cols := ARRAY(SELECT c FROM unnest(v_ins_cols) AS c WHERE NOT c = ANY (v_pk));
    SELECT string_agg(CASE WHEN a.attname::text = ANY (v_pk) THEN format('r.%I', a.attname)
                           ELSE format('CASE WHEN e.img ? %1$L THEN r.%2$I WHEN o.%3$I IS NOT NULL THEN o.%2$I ELSE CAST(%4$s AS %5$s) END',
                                       a.attname, a.attname, v_pk[1],
                                       COALESCE(pg_catalog.pg_get_expr(d.adbin, d.adrelid), 'NULL'),
                                       format_type(a.atttypid, a.atttypmod)) END,
                      ', ' ORDER BY a.attnum)
    INTO v_exprs
    FROM pg_catalog.pg_attribute AS a
    LEFT JOIN pg_catalog.pg_attrdef AS d
      ON d.adrelid = a.attrelid
     AND d.adnum = a.attnum
    WHERE a.attrelid = p_table AND a.attname::text = ANY (v_ins_cols);

    v_del_sql := format(
        'WITH d AS (
             DELETE FROM %1$s AS t
             USING _cdc_apply AS e
             CROSS JOIN LATERAL jsonb_populate_record(NULL::%1$s, e.rec_key) AS k
             WHERE e.op = ''d'' AND %3$s
               AND %2$s
             RETURNING 1)
         SELECT count(*) FROM d',
        p_table,
        (SELECT string_agg(format('t.%1$I = k.%1$I', k), ' AND ') FROM unnest(v_pk) AS k),
        '/*event filter*/ true');
    v_ups_sql := format(
        'WITH w AS (
             INSERT INTO %1$s AS t (%2$s) OVERRIDING SYSTEM VALUE
             SELECT %3$s
             FROM _cdc_apply AS e
             CROSS JOIN LATERAL jsonb_populate_record(NULL::%1$s, e.img || e.rec_key) AS r
             LEFT JOIN %1$s AS o
               ON %4$s
             WHERE e.op <> ''d'' AND %7$s
             ORDER BY e.ord
             ON CONFLICT (%5$s) DO %6$s
             RETURNING (t.xmax = 0) AS inserted)
         SELECT count(*) FILTER (WHERE w.inserted), count(*) FILTER (WHERE NOT w.inserted) FROM w',
        p_table,
        (SELECT string_agg(format('%I', c), ', ' ORDER BY o) FROM unnest(v_ins_cols) WITH ORDINALITY AS u (c, o)),
        v_exprs,
        (SELECT string_agg(format('o.%1$I = r.%1$I', k), ' AND ') FROM unnest(v_pk) AS k),
        (SELECT string_agg(format('%I', k), ', ') FROM unnest(v_pk) AS k),
        CASE WHEN cardinality(v_upd_cols) = 0 THEN 'NOTHING'
             ELSE format('UPDATE SET (%s) = ROW(%s) WHERE (%s) IS DISTINCT FROM (%s)',
                         (SELECT string_agg(format('%I', c), ', ' ORDER BY o) FROM unnest(v_upd_cols) WITH ORDINALITY AS u (c, o)),
                         (SELECT string_agg(format('excluded.%I', c), ', ' ORDER BY o) FROM unnest(v_upd_cols) WITH ORDINALITY AS u (c, o)),
                         (SELECT string_agg(format('t.%I', c), ', ' ORDER BY o) FROM unnest(v_upd_cols) WITH ORDINALITY AS u (c, o)),
                         (SELECT string_agg(format('excluded.%I', c), ', ' ORDER BY o) FROM unnest(v_upd_cols) WITH ORDINALITY AS u (c, o))) END,
        '/*event filter*/ true');

    -- The statements filter on /*event filter*/ true: all changes at once. If that fails, the changes are
    -- split in halves (by position) until the ones the table rejects are found alone: a few rejected
    -- changes among thousands cost a few dozen statements, not one per change. Ranges are applied in
    -- order. (replace, not format: the statements hold other % signs)
    BEGIN
        EXECUTE v_del_sql INTO v_del;
        EXECUTE v_ups_sql INTO v_ins, v_upd;
    EXCEPTION WHEN OTHERS THEN
        v_ok := false;
        RAISE NOTICE 'changes of % could not be applied at once (%): looking for the rejected ones', p_table, left(SQLERRM, 200);
    END;
    IF NOT v_ok THEN
        v_ins := 0; v_upd := 0; v_del := 0;
        CREATE INDEX ON _cdc_apply (ord);
        ANALYZE _cdc_apply;
        v_del_sql := replace(v_del_sql, '/*event filter*/ true', 'e.ord BETWEEN $1 AND $2');
        v_ups_sql := replace(v_ups_sql, '/*event filter*/ true', 'e.ord BETWEEN $1 AND $2');
        -- a stack of position ranges still to apply, the next on top
        SELECT ARRAY[min(a.ord)], ARRAY[max(a.ord)] INTO v_lo, v_hi FROM _cdc_apply AS a;
        WHILE cardinality(v_lo) > 0 AND v_lo[1] IS NOT NULL LOOP
            v_a := v_lo[cardinality(v_lo)];
            v_b := v_hi[cardinality(v_hi)];
            v_lo := v_lo[1:cardinality(v_lo) - 1];
            v_hi := v_hi[1:cardinality(v_hi) - 1];
            BEGIN
                EXECUTE v_del_sql INTO v_d USING v_a, v_b;
                EXECUTE v_ups_sql INTO v_i, v_u USING v_a, v_b;
                v_ins := v_ins + v_i; v_upd := v_upd + v_u; v_del := v_del + v_d;
            EXCEPTION WHEN OTHERS THEN
                IF v_a >= v_b THEN
                    v_rejected := v_rejected || (SELECT jsonb_object_agg(a.n::text, format('%s rejected the change: %s', p_table, left(SQLERRM, 300)))
                                                 FROM _cdc_apply AS a WHERE a.ord = v_a);
                ELSE
                    -- the upper half below the lower one: the lower is applied first
                    v_lo := v_lo || ARRAY[(v_a + v_b) / 2 + 1, v_a];
                    v_hi := v_hi || ARRAY[v_b, (v_a + v_b) / 2];
                END IF;
            END;
        END LOOP;
    END IF;
    DROP TABLE _cdc_apply;
    RETURN QUERY SELECT v_ins, v_upd, v_del, v_rejected;
END;
$$;
REVOKE ALL ON FUNCTION dwh_etl.sec_cdc_apply(regclass, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl.sec_cdc_apply(regclass, jsonb) TO etl_service;
COMMENT ON FUNCTION dwh_etl.sec_cdc_apply(regclass, jsonb) IS 'SECURITY DEFINER: apply one table''s winning change events (upsert / delete by key) to a registered source table for dwh_etl.ingest_cdc_events; returns inserted, updated, deleted counts and the rejected changes with their reasons. Refuses any other table.';
