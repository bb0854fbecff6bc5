-- The generic SCD Type 1 / Type 2 applier, driven by a row of dwh_etl.dimension_specs. Set-based,
-- UPDATE + INSERT only (no MERGE: Citus rejects MERGE into reference tables), touching only the keys
-- present in p_source (a relation: table, view or temp table holding the change batch or a snapshot).
-- p_lineage_source names the source in the lineage when p_source is a staging table.
--
-- Semantics:
--  * change detection is NULL-safe (ROW(...) IS DISTINCT FROM ROW(...)) over the Type 2 columns and the
--    deleted flag; a source row equal to the version valid at its time creates nothing (reruns are no-ops);
--  * several changes of one key in one batch become that many ordered versions (by the change time);
--  * validity starts at the source's change time (change_ts_column) or at p_load_ts;
--  * a change older than the key's current version (late arrival) is placed where it belongs: it splits
--    the version it falls into (that version now ends at the change), and versions are renumbered 1..n;
--    a late *deletion* is not applied (it would rewrite history after it) and is counted as rejected;
--  * rows of one key with the same change time are duplicates: one wins deterministically (by values),
--    the others, when they differ, are recorded in dwh_etl.quarantine and counted as rejected;
--  * deletes: the deleted flag, and in p_mode 'snapshot' every current key missing from the source.
--    delete_policy 'ignore' drops them, 'close' ends the current version, 'close_marker' ends it and
--    opens an is_deleted marker version; a key that comes back opens a new version;
--  * Type 1 columns take the latest in-order source value (a late row does not overwrite newer ones),
--    on every version of the key or only on the current one.
--  * inferred members: when the target has a boolean is_inferred column (not a Type 2 or Type 1 column of
--    the spec), a current version with is_inferred = true (created by a fact load for a key it named
--    before the key's row arrived: dwh_etl.step_fact, lookup option "inferred") is completed IN PLACE by
--    the key's earliest source row: its Type 2 and Type 1 values, is_inferred = false, same surrogate key
--    and validity (the facts pointing at it stay right); no second version. Later rows of the key in the
--    batch become versions as usual. Counted with the Type 1 updates.
--  * per-record lineage (issue 18): when p_source and the target both have _source_bronze_id, a version
--    inserted (or an inferred member completed) keeps its source row's value; never compared, so a
--    re-delivery of the same values changes nothing; Type 1 updates leave it (it names the row that
--    made the version); NULL for a deletion by snapshot absence.
-- The target table has: surrogate key (identity), the natural key, Type 2 and Type 1 columns,
-- valid_from, valid_to (NULL = open), is_current, version, is_deleted, _batch_id, _loaded_at.
-- Row triggers installed by dwh_etl.enable_scd_triggers see dwh.scd_bulk = on and stay out of the way.
-- p_run_id: the run the batch belongs to (rows stamped with its batch, lineage and quarantine with its
-- run and step; dwh_etl.get_run_context); NULL outside a pipeline (a fresh batch).
-- Earlier signatures, replaced by this one (a new argument list would otherwise add an overload).
DROP FUNCTION IF EXISTS dwh_etl.apply_dimension(text, text, timestamptz);
DROP FUNCTION IF EXISTS dwh_etl.apply_dimension(text, text, timestamptz, text);
DROP FUNCTION IF EXISTS dwh_etl.apply_dimension(text, text, timestamptz, text, text);
CREATE OR REPLACE FUNCTION dwh_etl.apply_dimension(
    p_dimension      text,
    p_source         text,
    p_load_ts        timestamptz DEFAULT now(),
    p_lineage_source text DEFAULT NULL,
    p_mode           text DEFAULT 'delta',
    p_run_id         bigint DEFAULT NULL
)
RETURNS TABLE (
    rows_read          bigint,
    rows_inserted      bigint,
    rows_expired       bigint,
    rows_type1_updated bigint,
    rows_unchanged     bigint,
    rows_deleted       bigint,
    rows_late          bigint,
    rows_rejected      bigint
)
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
-- JIT off: the per-key lookups below are estimated badly enough that a 100k-key change looked expensive
-- enough to compile, and compiling doubled it (issue 15: 1.9 s with JIT, 1.0 s without)
SET jit = off
-- sorts and hashes of a batch in memory (at 4MB the staging statements of a 100k-key batch spilled to disk)
SET work_mem = '128MB'
AS $$
DECLARE
    v_spec     dwh_etl.dimension_specs;
    v_src      regclass;
    v_tgt      regclass;
    v_missing  text[];
    v_k        text[];
    v_t2       text[];
    v_t1       text[];
    v_all      text[];
    v_ts       text;
    v_del      text;
    v_run      dwh_etl.run_context := dwh_etl.get_run_context(p_run_id);
    v_batch    uuid;
    v_source   text := COALESCE(p_lineage_source, p_source);
    v_pc       text := '';   -- per-record lineage carried along (', _source_bronze_id'), not compared
    v_in       bigint;
    v_pre      bigint;
    v_skip     bigint;
    v_read     bigint;
    v_ins      bigint;
    v_exp      bigint;
    v_t1n      bigint := 0;
    v_unch     bigint;
    v_deln     bigint;
    v_late     bigint := 0;
    v_rej      bigint := 0;
    v_n        bigint;
    v_conf     bigint;
    v_infn     bigint := 0;
    v_empty    boolean;
    v_multi    boolean;  -- some key has several rows in the source
    v_first    text;     -- the INSERT of a first load (1a)
    v_done     boolean;  -- the first load was done by 1a
    v_citus    boolean;  -- a Citus target: the modifications read the temp tables inline (see step 4)
    v_bound    timestamptz;  -- the latest change time accepted (attack 15a)
    v_badc     text;     -- a source row that cannot become a version (attack 15a)
    v_ok       text := 'true';  -- its negation, added to every read of the source
    v_bad      bigint := 0;
BEGIN
    v_batch := v_run.batch_id;
    SELECT * INTO v_spec FROM dwh_etl.dimension_specs AS d WHERE d.dimension_name = p_dimension;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown dimension %', quote_literal(p_dimension)
            USING ERRCODE = 'no_data_found',
                  HINT = 'dwh_etl.dimension_specs lists the declared dimensions';
    END IF;
    IF p_mode IS NULL OR p_mode NOT IN ('delta', 'snapshot') THEN
        RAISE EXCEPTION 'p_mode must be delta or snapshot, got %', quote_literal(COALESCE(p_mode, 'NULL'))
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    v_src := to_regclass(p_source);
    IF v_src IS NULL THEN
        RAISE EXCEPTION 'source relation % of dimension % does not exist', quote_literal(p_source), p_dimension
            USING ERRCODE = 'undefined_table';
    END IF;
    v_tgt := to_regclass(v_spec.target_table);
    IF v_tgt IS NULL THEN
        RAISE EXCEPTION 'target table % of dimension % does not exist', quote_literal(v_spec.target_table), p_dimension
            USING ERRCODE = 'undefined_table',
                  HINT = 'run dwh migrate, or fix target_table in dwh_etl.dimension_specs';
    END IF;

    v_citus := dwh_etl.is_citus_table(v_tgt);
    v_k   := v_spec.natural_key;
    v_t2  := v_spec.type2_columns;
    v_t1  := v_spec.type1_columns;
    v_all := v_k || v_t2 || v_t1;

    SELECT array_agg(c ORDER BY c)
    INTO v_missing
    FROM unnest(v_all || ARRAY[v_spec.change_ts_column, v_spec.deleted_flag_column]) AS c
    WHERE c IS NOT NULL
      AND NOT EXISTS (
          SELECT 1 FROM pg_catalog.pg_attribute AS a
          WHERE a.attrelid = v_src AND a.attname = c AND a.attnum > 0 AND NOT a.attisdropped);
    IF v_missing IS NOT NULL THEN
        RAISE EXCEPTION 'source % lacks column(s) % needed by dimension %', v_src, array_to_string(v_missing, ', '), p_dimension
            USING ERRCODE = 'undefined_column';
    END IF;

    -- per-record lineage (issue 18): when the source and the dimension both have _source_bronze_id, each
    -- version keeps the bronze row of the source row that made it; it is carried, never compared (a
    -- re-delivery of the same values is no change)
    IF (SELECT count(*) FROM pg_catalog.pg_attribute AS a
        WHERE a.attrelid IN (v_src, v_tgt) AND a.attname = '_source_bronze_id' AND a.attnum > 0 AND NOT a.attisdropped) = 2 THEN
        v_pc := ', _source_bronze_id';
    END IF;

    -- Attack 15a: a change time after the accepted range (setting quality.max_future past now() or the
    -- run's date, as silver's event times) would open a current version valid from 'infinity' or 2099:
    -- every real change after it would be "late" and the key's current row would never move again.
    v_bound := (dwh_etl.event_time_bounds(v_run.run_date)).max_ts;
    IF p_load_ts IS NULL OR NOT isfinite(p_load_ts) OR p_load_ts > v_bound THEN
        RAISE EXCEPTION 'p_load_ts % of dimension % is not a usable change time', COALESCE(p_load_ts::text, 'NULL'), p_dimension
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = format('a finite time up to %s (now, or the end of the run date, plus the setting quality.max_future)', v_bound);
    END IF;

    v_ts  := CASE WHEN v_spec.change_ts_column IS NULL THEN '$1'
                  ELSE format('COALESCE(s.%I, $1)', v_spec.change_ts_column) END;
    v_del := CASE WHEN v_spec.deleted_flag_column IS NULL THEN 'false'
                  ELSE format('COALESCE(s.%I, false)', v_spec.deleted_flag_column) END;

    -- one writer of the dimension at a time (readers are not blocked): the no-overlap check of SCD2
    -- tables is per statement (migration 0032), so the engine's batches must not interleave
    EXECUTE format('LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE', v_tgt);
    PERFORM set_config('dwh.scd_bulk', 'on', true);
    IF to_regclass('pg_temp._scd_multi') IS NOT NULL THEN DROP TABLE pg_temp._scd_multi; END IF;
    IF to_regclass('pg_temp._scd_raw') IS NOT NULL THEN DROP TABLE pg_temp._scd_raw; END IF;
    IF to_regclass('pg_temp._scd_src') IS NOT NULL THEN DROP TABLE pg_temp._scd_src; END IF;
    IF to_regclass('pg_temp._scd_ev') IS NOT NULL THEN DROP TABLE pg_temp._scd_ev; END IF;
    IF to_regclass('pg_temp._scd_ch') IS NOT NULL THEN DROP TABLE pg_temp._scd_ch; END IF;
    IF to_regclass('pg_temp._scd_late') IS NOT NULL THEN DROP TABLE pg_temp._scd_late; END IF;

    -- Rows that cannot become a version (attack 15a) are quarantined with their reasons and counted as
    -- rejected; the rest of the batch loads: a NULL in the natural key (it matches no version: each
    -- run would add another "new" key, or the whole batch failed on the dimension's NOT NULL), and a
    -- change time after v_bound (see above). Every later read of the source leaves them out (v_ok).
    SELECT string_agg(c, ' OR ' ORDER BY o) INTO v_badc
    FROM (SELECT format('s.%I IS NULL', k) AS c, n AS o
          FROM unnest(v_k) WITH ORDINALITY AS u (k, n)
          WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute AS a
                            WHERE a.attrelid = v_src AND a.attname = k AND a.attnotnull)
          UNION ALL
          SELECT format('COALESCE(s.%I > %L::timestamptz, false)', v_spec.change_ts_column, v_bound), 0
          WHERE v_spec.change_ts_column IS NOT NULL) AS x;
    IF v_badc IS NOT NULL AND v_spec.delete_policy = 'ignore' THEN
        v_badc := format('(%s) AND NOT %s', v_badc, v_del);  -- deletions the policy drops are not read at all
    END IF;
    IF v_badc IS NOT NULL THEN
        EXECUTE format($q$
            WITH bad AS (
                SELECT (%1$s)::text AS record_key,
                       to_jsonb(s) - '_source_bronze_id' AS payload,
                       array_remove(ARRAY[CASE WHEN (%2$s) IS NULL THEN format('natural key (%%s) has a NULL: no version can be matched to it', $5) END,
                                          CASE WHEN %3$s THEN format('change time %%s is after %%s (the setting quality.max_future): it would open a version no later change could follow', %4$s, $6) END],
                                    NULL) AS reasons
                FROM %5$s AS s
                WHERE %6$s
            ),
            ins AS (
                INSERT INTO dwh_etl.quarantine (target_table, source_table, record_key, payload, reasons, run_id, batch_id)
                SELECT $1, $2, b.record_key, b.payload, b.reasons, $3, $4
                FROM bad AS b
                ON CONFLICT (fingerprint) WHERE resolved_at IS NULL DO NOTHING  -- a rerun records nothing twice
                RETURNING 1
            )
            SELECT count(*) FROM bad
            $q$,
            dwh_etl._row_expr(v_k, 's'),
            -- any key column NULL (a composite ROW(...) IS NULL only when all are)
            array_to_string(ARRAY(SELECT format('CASE WHEN s.%I IS NULL THEN NULL ELSE 1 END', k) FROM unnest(v_k) AS k), ' + '),
            CASE WHEN v_spec.change_ts_column IS NULL THEN 'false'
                 ELSE format('COALESCE(s.%I > %L::timestamptz, false)', v_spec.change_ts_column, v_bound) END,
            CASE WHEN v_spec.change_ts_column IS NULL THEN 'NULL::timestamptz' ELSE format('s.%I', v_spec.change_ts_column) END,
            v_src,
            v_badc
        ) USING v_spec.target_table, v_source, v_run.run_id, v_batch, array_to_string(v_k, ', '), v_bound
        INTO v_bad;
        IF v_bad > 0 THEN
            v_ok := format('NOT (%s)', v_badc);
            RAISE WARNING 'dimension %: % source row(s) quarantined (a NULL natural key or a change time after %)', p_dimension, v_bad, v_bound
                USING HINT = 'SELECT * FROM dwh_etl.quarantine_list() lists them with their reasons';
        END IF;
    END IF;

    -- 0. Inferred members completed in place by the first real row of their key (see the header).
    IF NOT 'is_inferred' = ANY (v_all) AND EXISTS (
           SELECT 1 FROM pg_catalog.pg_attribute AS a
           WHERE a.attrelid = v_tgt AND a.attname = 'is_inferred' AND a.atttypid = 'boolean'::regtype AND NOT a.attisdropped) THEN
        EXECUTE format($q$
            UPDATE %1$s AS t
            SET (%2$s, is_inferred, _batch_id, _loaded_at%9$s) = (SELECT %3$s, false, $2::uuid, (SELECT dwh_etl.load_time())%10$s)
            FROM (
                SELECT DISTINCT ON (%4$s) s.*
                FROM %5$s AS s
                WHERE NOT %6$s AND %11$s
                ORDER BY %4$s, %7$s
            ) AS s
            WHERE %8$s
              AND t.is_current
              AND t.is_inferred
            $q$,
            v_tgt,
            dwh_etl._col_list(v_t2 || v_t1),
            dwh_etl._col_list(v_t2 || v_t1, 's'),
            dwh_etl._col_list(v_k, 's'),
            v_src,
            v_del,
            v_ts,
            dwh_etl._join_cond(v_k, 't', 's'),
            v_pc, replace(v_pc, ' _', ' s._'),
            v_ok
        ) USING p_load_ts, v_batch;
        GET DIAGNOSTICS v_infn = ROW_COUNT;
    END IF;

    -- 1a. The first load of an empty dimension, one row per key (the common initial load): every live
    --     row is version 1 of a new key and nothing else can happen (no current version to compare or
    --     close, no history for a late row, no duplicate, no Type 1 value to spread): one INSERT. The
    --     general path below gives the same rows; this one skips its five staging tables (issue 15:
    --     the initial load of 1M keys). A deletion of a key that never existed changes nothing.
    --     Whether every key has one row is first learned from the INSERT itself, when a unique index
    --     on the key (current versions, or with the version), checked immediately (not DEFERRABLE),
    --     refuses a second row of a key and the key cannot be NULL, and the source flags no deletion
    --     (a key's deletion is a second row of it): the INSERT runs in a subtransaction and a unique
    --     violation sends the load to the general path, rolled back. That saves counting the rows per
    --     key of the whole source (0.5 s of 4 at 1M keys); a fallback costs the INSERT it rolled back
    --     (and the identity values it drew: the surrogate keys of the general path's rows start after
    --     them).
    --     Only for a snapshot (p_mode 'snapshot': one row per key by nature, a repeated key an anomaly):
    --     a change batch or a history may hold several rows of many keys, and a fallback measured 4.8 s
    --     against 3.0 s for counting first at 300k keys (review 12).
    --     Otherwise the keys with several rows are counted first (below), as before.
    EXECUTE format('SELECT NOT EXISTS (SELECT 1 FROM %s)', v_tgt) INTO v_empty;
    v_first := format($q$
            INSERT INTO %1$s (%2$s, valid_from, valid_to, is_current, version, is_deleted, _batch_id, _loaded_at%7$s)
            SELECT %3$s, %4$s, NULL, true, 1, false, $2, (SELECT dwh_etl.load_time())%8$s
            FROM %5$s AS s
            WHERE NOT %6$s AND %9$s
            $q$,
            v_tgt, dwh_etl._col_list(v_all), dwh_etl._col_list(v_all, 's'), v_ts, v_src, v_del,
            v_pc, replace(v_pc, ' _', ' s._'), v_ok);
    v_done := false;
    IF v_empty
       AND p_mode = 'snapshot'
       AND NOT v_citus  -- (no subtransaction around a distributed write)
       AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute AS a
                       WHERE a.attrelid = v_tgt AND a.attname = ANY (v_k) AND NOT a.attnotnull)
       AND EXISTS (SELECT 1
                   FROM pg_catalog.pg_index AS i
                   -- (indimmediate: a DEFERRABLE constraint's index checks at commit, not in the
                   -- subtransaction: review 12)
                   WHERE i.indrelid = v_tgt AND i.indisunique AND i.indimmediate AND i.indisvalid AND i.indexprs IS NULL
                     AND (i.indpred IS NULL OR pg_catalog.pg_get_expr(i.indpred, i.indrelid) = 'is_current')
                     AND (SELECT array_agg(a.attname::text ORDER BY a.attname::text)
                          FROM pg_catalog.pg_attribute AS a
                          WHERE a.attrelid = v_tgt AND a.attnum = ANY (i.indkey::int2[]) AND a.attname <> 'version')
                         = (SELECT array_agg(k ORDER BY k) FROM unnest(v_k) AS k)) THEN
        IF v_spec.deleted_flag_column IS NULL OR v_spec.delete_policy = 'ignore' THEN
            v_done := true;
        ELSE
            EXECUTE format('SELECT NOT EXISTS (SELECT 1 FROM %s AS s WHERE %s AND %s)', v_src, v_del, v_ok) INTO v_done;
        END IF;
        IF v_done THEN
            BEGIN
                EXECUTE v_first USING p_load_ts, v_batch;
                GET DIAGNOSTICS v_ins = ROW_COUNT;
                RAISE DEBUG 'dimension %: first load in one INSERT, tried first', p_dimension;
            EXCEPTION WHEN unique_violation OR exclusion_violation THEN
                RAISE DEBUG 'dimension %: a key has several rows, the general path', p_dimension;
                -- a key with several rows (the dimension is empty: nothing else can collide), refused
                -- by the unique index or by a no-overlap guard: nothing of the INSERT stays
                v_done := false;
            END;
        END IF;
    END IF;

    -- 1. The source rows that can change something: the only row of its key that equals the key's
    --    current version (Type 2 and Type 1 values, not deleted, not older than that version) is
    --    unchanged and stops here, in hash joins, so a snapshot costs one compare plus the work on its
    --    changes. Keys with several rows go through whole (A, B, A must stay three versions).
    IF NOT v_done THEN
        EXECUTE format($q$
            CREATE TEMP TABLE _scd_multi ON COMMIT DROP AS
            SELECT %1$s
            FROM %2$s AS s
            WHERE %3$s AND %4$s
            GROUP BY %1$s
            HAVING count(*) > 1
            $q$,
            dwh_etl._col_list(v_k, 's'),
            v_src,
            CASE WHEN v_spec.delete_policy = 'ignore' THEN format('NOT %s', v_del) ELSE 'true' END,
            v_ok);
        -- 1a, counted: an empty dimension and no key with several rows
        IF v_empty THEN
            EXECUTE format('SELECT NOT EXISTS (SELECT 1 FROM %s)', 'pg_temp._scd_multi') INTO v_done;
            IF v_done THEN
                EXECUTE v_first USING p_load_ts, v_batch;
                GET DIAGNOSTICS v_ins = ROW_COUNT;
                EXECUTE format('DROP TABLE %s', 'pg_temp._scd_multi');
            END IF;
        END IF;
    END IF;
    IF v_done THEN
        EXECUTE format('SELECT count(*) FROM %s AS s WHERE %s', v_src,
                       CASE WHEN v_spec.delete_policy = 'ignore' THEN format('NOT %s', v_del) ELSE 'true' END)
        INTO v_in;
        PERFORM set_config('dwh.scd_bulk', 'off', true);
        PERFORM dwh_lineage.log_transformation(
            in_source_table   => v_source,
            in_target_table   => v_spec.target_table,
            in_batch_id       => v_batch,
            in_rows_inserted  => v_ins,
            in_rows_updated   => 0,
            in_rows_unchanged => v_in - v_ins - v_bad,
            in_rows_deleted   => 0,
            in_rows_rejected  => v_bad,
            in_notes          => format('dimension %s (%s, first load of an empty dimension): %s read, %s versions inserted, %s unchanged, %s rejected',
                                        p_dimension, p_mode, v_in, v_ins, v_in - v_ins - v_bad, v_bad),
            in_run_id         => v_run.run_id);
        RETURN QUERY SELECT v_in, v_ins, 0::bigint, 0::bigint, v_in - v_ins - v_bad, 0::bigint, 0::bigint, v_bad;
        RETURN;
    END IF;

    -- keys with several rows: usually none. Then the join to them is left out (the empty temp table,
    -- never analyzed, was estimated at 2,550 rows and the whole compare of a 1M-row snapshot was hashed to
    -- probe it: 160 MB); otherwise it is analyzed first.
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s)', 'pg_temp._scd_multi') INTO v_multi;
    IF v_multi THEN
        EXECUTE format('ANALYZE %s', 'pg_temp._scd_multi');
    END IF;
    EXECUTE format($q$
        CREATE TEMP TABLE _scd_raw ON COMMIT DROP AS
        SELECT %1$s%13$s, %2$s AS _ts, %3$s AS _del
        FROM %4$s AS s
        %10$s
        LEFT JOIN %6$s AS c
          ON %7$s
         AND c.is_current
         AND NOT c.is_deleted
        WHERE %5$s
          AND %14$s
          AND (%11$s
               OR c.%12$I IS NULL
               OR %3$s
               OR %2$s < c.valid_from
               OR %8$s IS DISTINCT FROM %9$s)
        $q$,
        dwh_etl._col_list(v_all, 's'),
        v_ts,
        v_del,
        v_src,
        CASE WHEN v_spec.delete_policy = 'ignore' THEN format('NOT %s', v_del) ELSE 'true' END,
        v_tgt,
        dwh_etl._join_cond(v_k, 'c', 's'),
        dwh_etl._row_expr(v_t2 || v_t1, 'c'),
        dwh_etl._row_expr(v_t2 || v_t1, 's'),
        CASE WHEN v_multi THEN format('LEFT JOIN _scd_multi AS m ON %s', dwh_etl._join_cond(v_k, 'm', 's')) ELSE '' END,
        CASE WHEN v_multi THEN format('m.%I IS NOT NULL', v_k[1]) ELSE 'false' END,
        v_spec.surrogate_key,
        replace(v_pc, ' _', ' s._'),
        v_ok
    ) USING p_load_ts;
    GET DIAGNOSTICS v_pre = ROW_COUNT;
    EXECUTE format('SELECT count(*) FROM %s AS s WHERE %s', v_src,
                   CASE WHEN v_spec.delete_policy = 'ignore' THEN format('NOT %s', v_del) ELSE 'true' END)
    INTO v_in;
    v_skip := v_in - v_bad - v_pre;

    -- One row per (key, change time); which one wins is decided by the values alone, and between rows of
    -- equal values by the first delivery (its _source_bronze_id, carried as the version's lineage): without
    -- it the lineage of such a version was whichever row the sort met first (a property test of review 12
    -- saw the optimistic and the general path record different rows once).
    EXECUTE format($q$
        CREATE TEMP TABLE _scd_src ON COMMIT DROP AS
        SELECT DISTINCT ON (%1$s, r._ts) r.*
        FROM _scd_raw AS r
        ORDER BY %1$s, r._ts, %2$s, r._del%3$s
        $q$,
        dwh_etl._col_list(v_k, 'r'),
        CASE WHEN cardinality(v_t2 || v_t1) = 0 THEN '1' ELSE dwh_etl._col_list(v_t2 || v_t1, 'r') END,
        CASE WHEN v_pc <> '' THEN ', r._source_bronze_id' ELSE '' END);
    GET DIAGNOSTICS v_read = ROW_COUNT;

    -- Duplicates that differ from the winner are recorded, not silently dropped.
    IF v_pre > v_read THEN
        EXECUTE format($q$
            INSERT INTO dwh_etl.quarantine (target_table, source_table, record_key, payload, reasons, run_id, batch_id)
            SELECT $1, $2, (%1$s)::text, to_jsonb(r) - '_ts' - '_del' - '_source_bronze_id' || jsonb_build_object('change_ts', r._ts, 'deleted', r._del),
                   ARRAY[format('duplicate of key %%s at %%s in one batch: another row with the same key and change time won', (%1$s)::text, w._ts)],
                   $3, $4
            FROM _scd_raw AS r
            JOIN _scd_src AS w
              ON %2$s
             AND w._ts = r._ts
            WHERE %3$s IS DISTINCT FROM %4$s
              AND NOT EXISTS (  -- a rerun of the same batch records nothing twice
                  SELECT 1 FROM dwh_etl.quarantine AS q
                  WHERE q.target_table = $1 AND q.resolved_at IS NULL
                    AND q.payload = to_jsonb(r) - '_ts' - '_del' - '_source_bronze_id' || jsonb_build_object('change_ts', r._ts, 'deleted', r._del))
            ON CONFLICT (fingerprint) WHERE resolved_at IS NULL DO NOTHING  -- one open entry per record
            $q$,
            dwh_etl._row_expr(v_k, 'r'),
            dwh_etl._join_cond(v_k, 'w', 'r'),
            format('ROW(%s, r._del)', dwh_etl._col_list(v_all, 'r')),
            format('ROW(%s, w._del)', dwh_etl._col_list(v_all, 'w'))
        ) USING v_spec.target_table, v_source, v_run.run_id, v_batch;
        GET DIAGNOSTICS v_rej = ROW_COUNT;
    END IF;

    -- In snapshot mode, a current key missing from the source is deleted at the load time.
    IF p_mode = 'snapshot' AND v_spec.delete_policy <> 'ignore' THEN
        EXECUTE format($q$
            INSERT INTO _scd_src
            SELECT %1$s%5$s, $1, true
            FROM %2$s AS c
            WHERE c.is_current
              AND NOT c.is_deleted
              AND NOT EXISTS (SELECT 1 FROM %3$s AS s WHERE %4$s)
            $q$,
            dwh_etl._col_list(v_all, 'c'),
            v_tgt,
            v_src,
            dwh_etl._join_cond(v_k, 's', 'c'),
            -- a key missing from the snapshot: no source row behind its deletion
            CASE WHEN v_pc <> '' THEN ', NULL::bigint' ELSE '' END
        ) USING p_load_ts;
        GET DIAGNOSTICS v_n = ROW_COUNT;
        v_in := v_in + v_n;
    END IF;

    -- 2. Events. One older than the key's current version (or, for a closed key, than the end of its
    --    history) is historical: unchanged when it equals the version valid at its time, late otherwise.
    --    The others are ordered per key and compared with their predecessor (the first with the current
    --    version): a difference in the Type 2 columns or the deleted flag is a change.
    EXECUTE format($q$
        CREATE TEMP TABLE _scd_ev ON COMMIT DROP AS
        WITH base AS (
            SELECT src.*,
                   c.%1$I        AS _cur_sk,
                   c.version     AS _cur_version,
                   c.valid_from  AS _cur_from,
                   c.is_deleted  AS _cur_del,
                   %2$s          AS _cur_vals,
                   h.max_version AS _max_version,
                   h.max_to      AS _max_to,
                   COALESCE(src._ts <= c.valid_from, src._ts < h.max_to, false) AS _hist
            FROM _scd_src AS src
            LEFT JOIN %3$s AS c
              ON %4$s
             AND c.is_current
            LEFT JOIN LATERAL (
                SELECT max(x.version) AS max_version, max(x.valid_to) AS max_to
                FROM %3$s AS x
                WHERE c.%1$I IS NULL
                  AND %5$s
            ) AS h ON true
        ),
        ordered AS (
            SELECT b.*,
                   row_number() OVER w AS _rn,
                   %6$s IS DISTINCT FROM lag(%6$s) OVER w AS _diff_prev,
                   lag(b._del) OVER w AS _prev_del
            FROM base AS b
            WHERE NOT b._hist
            WINDOW w AS (PARTITION BY %7$s ORDER BY b._ts)
        ),
        hist AS (
            -- each historical row with the version it falls into (or the gap before the next version)
            SELECT b.*, v.sk AS _v_sk, v.is_deleted AS _v_del, v.valid_from AS _v_from, v.vals AS _v_vals,
                   COALESCE(v.valid_to, nx.next_from) AS _g_end
            FROM base AS b
            LEFT JOIN LATERAL (
                SELECT x.%1$I AS sk, x.is_deleted, x.valid_from, x.valid_to, %12$s AS vals
                FROM %3$s AS x
                WHERE %13$s
                  AND x.valid_from <= b._ts
                  AND (x.valid_to IS NULL OR x.valid_to > b._ts)
                LIMIT 1
            ) AS v ON true
            LEFT JOIN LATERAL (
                SELECT min(x.valid_from) AS next_from
                FROM %3$s AS x
                WHERE v.sk IS NULL
                  AND %13$s
                  AND x.valid_from > b._ts
            ) AS nx ON true
            WHERE b._hist
        ),
        hist_seq AS (
            -- within one version (or gap), in time order, each live row against its predecessor; the
            -- first against the version itself. A historical deletion is "the same" when the key was not
            -- live there, a late deletion (rejected) otherwise; it never becomes a predecessor.
            SELECT h.*,
                   CASE WHEN row_number() OVER w = 1
                        THEN COALESCE(NOT h._v_del AND h._v_vals IS NOT DISTINCT FROM %15$s, false)
                        ELSE lag(%15$s) OVER w IS NOT DISTINCT FROM %15$s
                   END AS _same,
                   row_number() OVER w AS _hrn
            FROM hist AS h
            WHERE NOT h._del
            WINDOW w AS (PARTITION BY %14$s, h._v_sk, h._g_end ORDER BY h._ts)
            UNION ALL
            SELECT h.*, COALESCE(h._v_del, true), 0
            FROM hist AS h
            WHERE h._del
        )
        SELECT %8$s%17$s, o._ts, o._del, o._rn, o._cur_sk, o._cur_version, o._cur_from, o._max_version, o._max_to,
               CASE WHEN o._rn = 1 THEN
                        CASE WHEN o._del THEN o._cur_sk IS NOT NULL AND NOT o._cur_del
                             ELSE o._cur_sk IS NULL OR o._cur_del OR %9$s IS DISTINCT FROM o._cur_vals END
                    ELSE
                        CASE WHEN o._del THEN NOT o._prev_del
                             ELSE o._prev_del OR o._diff_prev END
               END AS _is_change,
               false AS _late,
               NULL::bigint AS _cover_sk,
               NULL::timestamptz AS _group_end,
               false AS _conflict
        FROM ordered AS o
        UNION ALL
        SELECT %16$s%18$s, h._ts, h._del, NULL, h._cur_sk, h._cur_version, h._cur_from, h._max_version, h._max_to,
               false,
               NOT h._same AND NOT (h._hrn = 1 AND COALESCE(h._v_from = h._ts, false)),
               h._v_sk,
               h._g_end,
               NOT h._same AND h._hrn = 1 AND COALESCE(h._v_from = h._ts, false)
        FROM hist_seq AS h
        $q$,
        v_spec.surrogate_key,                   -- 1
        dwh_etl._row_expr(v_t2, 'c'),           -- 2
        v_tgt,                                  -- 3
        dwh_etl._join_cond(v_k, 'c', 'src'),    -- 4
        dwh_etl._join_cond(v_k, 'x', 'src'),    -- 5
        dwh_etl._row_expr(v_t2, 'b'),           -- 6
        dwh_etl._col_list(v_k, 'b'),            -- 7
        dwh_etl._col_list(v_all, 'o'),          -- 8
        dwh_etl._row_expr(v_t2, 'o'),           -- 9
        dwh_etl._col_list(v_all, 'b'),          -- 10
        dwh_etl._row_expr(v_t2, 'b'),           -- 11
        dwh_etl._row_expr(v_t2, 'x'),           -- 12
        dwh_etl._join_cond(v_k, 'x', 'b'),      -- 13
        dwh_etl._col_list(v_k, 'h'),            -- 14
        dwh_etl._row_expr(v_t2, 'h'),           -- 15
        dwh_etl._col_list(v_all, 'h'),          -- 16
        replace(v_pc, ' _', ' o._'),            -- 17
        replace(v_pc, ' _', ' h._')             -- 18
    );
    -- (the temp tables' columns depend on the spec: statements on them go through EXECUTE)
    EXECUTE format('SELECT count(*) FILTER (WHERE NOT e._is_change AND NOT e._late AND NOT e._conflict),
                           count(*) FILTER (WHERE e._late AND e._del),
                           count(*) FILTER (WHERE e._conflict)
                    FROM %s AS e', 'pg_temp._scd_ev')
    INTO v_unch, v_n, v_conf;
    v_unch := v_unch + v_skip + (v_pre - v_read - v_rej);
    v_rej := v_rej + v_n;
    IF v_n > 0 THEN
        RAISE WARNING 'dimension %: % late deletion(s) not applied', p_dimension, v_n
            USING HINT = 'a deletion older than later versions of its key would rewrite history; it is counted as rejected in dwh_lineage.table_lineage';
    END IF;

    -- A row that contradicts the version already recorded for its key at the very same change time is
    -- a duplicate arriving in another batch: recorded, not applied.
    EXECUTE format($q$
        INSERT INTO dwh_etl.quarantine (target_table, source_table, record_key, payload, reasons, run_id, batch_id)
        SELECT $1, $2, (%1$s)::text, p.payload,
               ARRAY[format('conflicts with the version of key %%s already recorded at %%s', (%1$s)::text, e._ts)],
               $3, $4
        FROM pg_temp._scd_ev AS e
        CROSS JOIN LATERAL (SELECT to_jsonb(e) - '_ts' - '_del' || jsonb_build_object('change_ts', e._ts, 'deleted', e._del) AS payload) AS p0
        CROSS JOIN LATERAL (SELECT jsonb_object_agg(j.key, j.value) FILTER (WHERE j.key = ANY ($5) OR j.key IN ('change_ts', 'deleted')) AS payload
                            FROM jsonb_each(p0.payload) AS j) AS p
        WHERE e._conflict
          AND NOT EXISTS (
              SELECT 1 FROM dwh_etl.quarantine AS q
              WHERE q.target_table = $1 AND q.resolved_at IS NULL AND q.payload = p.payload)
        ON CONFLICT (fingerprint) WHERE resolved_at IS NULL DO NOTHING  -- one open entry per record
        $q$,
        dwh_etl._row_expr(v_k, 'e')
    ) USING v_spec.target_table, v_source, v_run.run_id, v_batch, v_all;
    v_rej := v_rej + v_conf + v_bad;

    -- 3. In-order changes, each with its start and the start of the key's next change (its end).
    EXECUTE format($q$
        CREATE TEMP TABLE _scd_ch ON COMMIT DROP AS
        SELECT e.*, lead(e._ts) OVER (PARTITION BY %1$s ORDER BY e._ts) AS _to
        FROM pg_temp._scd_ev AS e
        WHERE e._is_change
        $q$,
        dwh_etl._col_list(v_k, 'e'));
    EXECUTE format('SELECT count(*) FILTER (WHERE c._del) FROM %s AS c', 'pg_temp._scd_ch') INTO v_deln;

    -- 4. Close the current version of every changed key at its first change.
    --    On a Citus target (a reference dimension) the temp tables that a modification joins are read
    --    inline (dwh_etl._scd_rows_inline: their rows as a constant): Citus refuses a modification of a
    --    reference table joined with a temp table ("relation _scd_ch is not distributed"). One node
    --    runs the same statements with the temp tables, as before.
    EXECUTE format($q$
        UPDATE %1$s AS t
        SET valid_to = f._first, is_current = false
        FROM (SELECT %2$s, min(ch._ts) AS _first FROM %4$s GROUP BY %2$s) AS f
        WHERE %3$s
          AND t.is_current
        $q$,
        v_tgt,
        dwh_etl._col_list(v_k, 'ch'),
        dwh_etl._join_cond(v_k, 't', 'f'),
        CASE WHEN v_citus THEN dwh_etl._scd_rows_inline('pg_temp._scd_ch', v_k || '_ts'::text, 'ch')
             ELSE 'pg_temp._scd_ch AS ch' END);
    GET DIAGNOSTICS v_exp = ROW_COUNT;

    -- 5. Insert the new versions (deletes become rows only under 'close_marker').
    EXECUTE format($q$
        INSERT INTO %1$s (%2$s, valid_from, valid_to, is_current, version, is_deleted, _batch_id, _loaded_at%5$s)
        SELECT %3$s, ch._ts, ch._to, ch._to IS NULL,
               COALESCE(ch._cur_version, ch._max_version, 0)
                   + row_number() OVER (PARTITION BY %4$s ORDER BY ch._ts),
               ch._del, $1, (SELECT dwh_etl.load_time())%6$s
        FROM pg_temp._scd_ch AS ch
        WHERE NOT ch._del OR $2
        $q$,
        v_tgt,
        dwh_etl._col_list(v_all),
        dwh_etl._col_list(v_all, 'ch'),
        dwh_etl._col_list(v_k, 'ch'),
        v_pc, replace(v_pc, ' _', ' ch._')
    ) USING v_batch, v_spec.delete_policy = 'close_marker';
    GET DIAGNOSTICS v_ins = ROW_COUNT;

    -- 6. Late changes split the version they fall into (or fill the gap before the next version).
    --    Within one version, consecutive late changes with equal values collapse into one.
    EXECUTE format($q$
        CREATE TEMP TABLE _scd_late ON COMMIT DROP AS
        WITH late AS (
            SELECT e.*,
                   %1$s IS DISTINCT FROM lag(%1$s) OVER w AS _diff_prev,
                   row_number() OVER w AS _late_rn
            FROM pg_temp._scd_ev AS e
            WHERE e._late
              AND NOT e._del
            WINDOW w AS (PARTITION BY %2$s, e._cover_sk, e._group_end ORDER BY e._ts)
        )
        SELECT l.*,
               COALESCE(lead(l._ts) OVER (PARTITION BY %3$s, l._cover_sk, l._group_end ORDER BY l._ts), l._group_end) AS _to
        FROM late AS l
        WHERE l._late_rn = 1 OR l._diff_prev
        $q$,
        dwh_etl._row_expr(v_t2, 'e'),
        dwh_etl._col_list(v_k, 'e'),
        dwh_etl._col_list(v_k, 'l'));
    GET DIAGNOSTICS v_late = ROW_COUNT;
    IF v_late > 0 THEN
        EXECUTE format($q$
            UPDATE %1$s AS t
            SET valid_to = f._first
            FROM (SELECT l._cover_sk, min(l._ts) AS _first
                  FROM %3$s
                  WHERE l._cover_sk IS NOT NULL
                  GROUP BY l._cover_sk) AS f
            WHERE t.%2$I = f._cover_sk
            $q$,
            v_tgt, v_spec.surrogate_key,
            CASE WHEN v_citus THEN dwh_etl._scd_rows_inline('pg_temp._scd_late', ARRAY['_cover_sk', '_ts'], 'l')
                 ELSE 'pg_temp._scd_late AS l' END);
        -- placeholder versions above any real one; renumbered below
        EXECUTE format($q$
            INSERT INTO %1$s (%2$s, valid_from, valid_to, is_current, version, is_deleted, _batch_id, _loaded_at%5$s)
            SELECT %3$s, l._ts, l._to, l._to IS NULL,
                   2000000000 + row_number() OVER (PARTITION BY %4$s ORDER BY l._ts),
                   false, $1, (SELECT dwh_etl.load_time())%6$s
            FROM pg_temp._scd_late AS l
            $q$,
            v_tgt,
            dwh_etl._col_list(v_all),
            dwh_etl._col_list(v_all, 'l'),
            dwh_etl._col_list(v_k, 'l'),
            v_pc, replace(v_pc, ' _', ' l._')
        ) USING v_batch;
        -- Type 1 values are the key's (all_versions scope): late rows take the latest version's.
        IF cardinality(v_t1) > 0 AND v_spec.type1_scope = 'all_versions' THEN
            EXECUTE format($q$
                UPDATE %1$s AS t
                SET (%2$s) = (SELECT %3$s FROM %1$s AS x
                              WHERE %4$s AND x.version < 2000000000
                              ORDER BY x.valid_from DESC LIMIT 1)
                WHERE t.version > 2000000000
                $q$,
                v_tgt, dwh_etl._col_list(v_t1), dwh_etl._col_list(v_t1, 'x'), dwh_etl._join_cond(v_k, 'x', 't'));
        END IF;
        -- versions 1..n again, in two passes so the unique (key, version) never sees a transient clash
        EXECUTE format($q$
            UPDATE %1$s AS t
            SET version = t.version + 1000000000
            WHERE t.version < 1000000000
              AND (%2$s) IN (SELECT %3$s FROM %4$s)
            $q$,
            v_tgt, dwh_etl._col_list(v_k, 't'), dwh_etl._col_list(v_k, 'l'),
            CASE WHEN v_citus THEN dwh_etl._scd_rows_inline('pg_temp._scd_late', v_k, 'l')
                 ELSE 'pg_temp._scd_late AS l' END);
        EXECUTE format($q$
            UPDATE %1$s AS t
            SET version = r.rn
            FROM (SELECT x.%2$I AS sk, row_number() OVER (PARTITION BY %3$s ORDER BY x.valid_from) AS rn
                  FROM %1$s AS x
                  WHERE (%3$s) IN (SELECT %4$s FROM %5$s)) AS r
            WHERE t.%2$I = r.sk
            $q$,
            v_tgt, v_spec.surrogate_key, dwh_etl._col_list(v_k, 'x'), dwh_etl._col_list(v_k, 'l'),
            CASE WHEN v_citus THEN dwh_etl._scd_rows_inline('pg_temp._scd_late', v_k, 'l')
                 ELSE 'pg_temp._scd_late AS l' END);
        v_ins := v_ins + v_late;
        RAISE NOTICE 'dimension %: % late change(s) placed in history', p_dimension, v_late;
    END IF;

    -- 7. Type 1: the latest in-order source value overwrites every version (or only the current one).
    IF cardinality(v_t1) > 0 THEN
        EXECUTE format($q$
            UPDATE %1$s AS t
            SET (%2$s) = (SELECT %3$s)
            FROM (
                SELECT DISTINCT ON (%4$s) %5$s
                FROM %10$s
                WHERE NOT e._del
                  AND e._rn IS NOT NULL  -- in-order events only: a late row does not overwrite newer values
                ORDER BY %4$s, e._ts DESC
            ) AS l
            WHERE %6$s
              AND %7$s
              AND %8$s IS DISTINCT FROM %9$s
            $q$,
            v_tgt,
            dwh_etl._col_list(v_t1),
            dwh_etl._col_list(v_t1, 'l'),
            dwh_etl._col_list(v_k, 'e'),
            dwh_etl._col_list(v_k || v_t1, 'e'),
            dwh_etl._join_cond(v_k, 't', 'l'),
            CASE WHEN v_spec.type1_scope = 'current_only' THEN 't.is_current' ELSE 'true' END,
            dwh_etl._row_expr(v_t1, 't'),
            dwh_etl._row_expr(v_t1, 'l'),
            CASE WHEN v_citus THEN dwh_etl._scd_rows_inline('pg_temp._scd_ev', v_k || v_t1 || ARRAY['_ts', '_del', '_rn'], 'e')
                 ELSE 'pg_temp._scd_ev AS e' END);
        GET DIAGNOSTICS v_t1n = ROW_COUNT;
    END IF;

    DROP TABLE pg_temp._scd_multi, pg_temp._scd_raw, pg_temp._scd_src, pg_temp._scd_ev, pg_temp._scd_ch, pg_temp._scd_late;
    PERFORM set_config('dwh.scd_bulk', 'off', true);

    PERFORM dwh_lineage.log_transformation(
        in_source_table   => v_source,
        in_target_table   => v_spec.target_table,
        in_batch_id       => v_batch,
        in_rows_inserted  => v_ins,
        in_rows_updated   => v_exp + v_t1n + v_infn,
        in_rows_unchanged => v_unch,
        in_rows_deleted   => v_deln,
        in_rows_rejected  => v_rej,
        in_notes          => format('dimension %s (%s): %s read, %s versions inserted (%s late), %s expired, %s type-1 updates, %s unchanged, %s deletes, %s rejected',
                                    p_dimension, p_mode, v_in, v_ins, v_late, v_exp, v_t1n, v_unch, v_deln, v_rej)
                             || CASE WHEN v_infn > 0 THEN format(', %s inferred members completed in place', v_infn) ELSE '' END,
        in_run_id         => v_run.run_id);

    RETURN QUERY SELECT v_in, v_ins, v_exp, v_t1n + v_infn, v_unch, v_deln, v_late, v_rej;
END;
$$;
COMMENT ON FUNCTION dwh_etl.apply_dimension(text, text, timestamptz, text, text, bigint) IS 'Apply a change batch (p_mode delta) or a full snapshot (p_mode snapshot: missing keys are deletes) to a declared SCD1/SCD2 dimension, set-based; returns and logs the counts.';
