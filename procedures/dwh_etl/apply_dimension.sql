-- The generic SCD Type 1 / Type 2 applier, driven by a row of dwh_etl.dimension_specs. Set-based,
-- UPDATE + INSERT only (no MERGE: Citus rejects MERGE into reference tables), touching only the keys
-- present in p_source (a relation: table, view or temp table holding the change batch or a snapshot).
-- p_lineage_source names the source in the lineage when p_source is a staging table.
--
-- Semantics:
--  * change detection is NULL-safe (ROW(...) IS DISTINCT FROM ROW(...)) over the Type 2 columns and the
--    deleted flag; a source row equal to its key's current version creates nothing;
--  * several changes of one key in one batch become that many ordered versions (by the change time);
--  * validity starts at the source's change time (change_ts_column) or at p_load_ts; a change that is
--    not after the key's current version is placed just after it (late-arrival splitting is future work);
--  * exact duplicates of (key, change time) are resolved deterministically (greatest row text wins);
--  * deletes (deleted_flag_column = true): 'ignore' drops them, 'close' ends the current version,
--    'close_marker' ends it and opens an is_deleted marker version; a key that comes back opens a new one;
--  * Type 1 columns are overwritten on every version of the key, or on the current one (type1_scope).
-- The target table has: surrogate key (identity), the natural key, Type 2 and Type 1 columns,
-- valid_from, valid_to (NULL = open), is_current, version, is_deleted, _batch_id, _loaded_at.
CREATE OR REPLACE FUNCTION dwh_etl.apply_dimension(
    p_dimension text,
    p_source    text,
    p_load_ts   timestamptz DEFAULT now(),
    p_lineage_source text DEFAULT NULL
)
RETURNS TABLE (
    rows_read          bigint,
    rows_inserted      bigint,
    rows_expired       bigint,
    rows_type1_updated bigint,
    rows_unchanged     bigint,
    rows_deleted       bigint
)
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_spec     dwh_etl.dimension_specs;
    v_src      regclass;
    v_tgt      regclass;
    v_missing  text[];
    v_k        text[];
    v_t2       text[];
    v_t1       text[];
    v_ts       text;
    v_del      text;
    v_batch    uuid := COALESCE((dwh_lineage._current_run()).batch_id, gen_random_uuid());
    v_read     bigint;
    v_ins      bigint;
    v_exp      bigint;
    v_t1n      bigint := 0;
    v_unch     bigint;
    v_deln     bigint;
    v_late     bigint;
BEGIN
    SELECT * INTO v_spec FROM dwh_etl.dimension_specs AS d WHERE d.dimension_name = p_dimension;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown dimension %', quote_literal(p_dimension)
            USING ERRCODE = 'no_data_found',
                  HINT = 'dwh_etl.dimension_specs lists the declared dimensions';
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

    v_k  := v_spec.natural_key;
    v_t2 := v_spec.type2_columns;
    v_t1 := v_spec.type1_columns;

    SELECT array_agg(c ORDER BY c)
    INTO v_missing
    FROM unnest(v_k || v_t2 || v_t1 || ARRAY[v_spec.change_ts_column, v_spec.deleted_flag_column]) AS c
    WHERE c IS NOT NULL
      AND NOT EXISTS (
          SELECT 1 FROM pg_catalog.pg_attribute AS a
          WHERE a.attrelid = v_src AND a.attname = c AND a.attnum > 0 AND NOT a.attisdropped);
    IF v_missing IS NOT NULL THEN
        RAISE EXCEPTION 'source % lacks column(s) % needed by dimension %', v_src, array_to_string(v_missing, ', '), p_dimension
            USING ERRCODE = 'undefined_column';
    END IF;

    v_ts  := CASE WHEN v_spec.change_ts_column IS NULL THEN '$1'
                  ELSE format('COALESCE(s.%I, $1)', v_spec.change_ts_column) END;
    v_del := CASE WHEN v_spec.deleted_flag_column IS NULL THEN 'false'
                  ELSE format('COALESCE(s.%I, false)', v_spec.deleted_flag_column) END;

    IF to_regclass('pg_temp._scd_ev') IS NOT NULL THEN DROP TABLE pg_temp._scd_ev; END IF;
    IF to_regclass('pg_temp._scd_ch') IS NOT NULL THEN DROP TABLE pg_temp._scd_ch; END IF;

    -- 1. Source events, one per (key, change time). An event older than the key's current version (or,
    --    for a closed key, than the end of its history) is historical: unchanged when it equals the
    --    version valid at its time (a rerun), late otherwise (not applied, counted as rejected).
    --    The other events are ordered per key and each compared with its predecessor (the first with
    --    the current version): a difference in the Type 2 columns or the deleted flag is a change.
    EXECUTE format($q$
        CREATE TEMP TABLE _scd_ev ON COMMIT DROP AS
        WITH src AS (
            SELECT DISTINCT ON (%1$s, _ts) %2$s, %3$s AS _ts, %4$s AS _del
            FROM %5$s AS s
            WHERE %6$s
            ORDER BY %1$s, _ts, s::text DESC
        ),
        base AS (
            SELECT src.*,
                   c.%9$I        AS _cur_sk,
                   c.version     AS _cur_version,
                   c.valid_from  AS _cur_from,
                   c.is_deleted  AS _cur_del,
                   %11$s         AS _cur_vals,
                   h.max_version AS _max_version,
                   h.max_to      AS _max_to,
                   COALESCE(src._ts < COALESCE(c.valid_from, h.max_to), false) AS _hist
            FROM src
            LEFT JOIN %12$s AS c
              ON %13$s
             AND c.is_current
            LEFT JOIN LATERAL (
                SELECT max(x.version) AS max_version, max(x.valid_to) AS max_to
                FROM %12$s AS x
                WHERE c.%9$I IS NULL
                  AND %14$s
            ) AS h ON true
        ),
        ordered AS (
            SELECT b.*,
                   row_number() OVER w AS _rn,
                   %7$s IS DISTINCT FROM lag(%7$s) OVER w AS _diff_prev,
                   lag(b._del) OVER w AS _prev_del
            FROM base AS b
            WHERE NOT b._hist
            WINDOW w AS (PARTITION BY %8$s ORDER BY b._ts)
        )
        SELECT %15$s, o._ts, o._del, o._rn, o._cur_sk, o._cur_version, o._cur_from, o._max_version, o._max_to,
               CASE WHEN o._rn = 1 THEN
                        CASE WHEN o._del THEN o._cur_sk IS NOT NULL AND NOT o._cur_del
                             ELSE o._cur_sk IS NULL OR o._cur_del OR %10$s IS DISTINCT FROM o._cur_vals END
                    ELSE
                        CASE WHEN o._del THEN NOT o._prev_del
                             ELSE o._prev_del OR o._diff_prev END
               END AS _is_change,
               false AS _late
        FROM ordered AS o
        UNION ALL
        SELECT %16$s, b._ts, b._del, NULL, b._cur_sk, b._cur_version, b._cur_from, b._max_version, b._max_to,
               false,
               NOT COALESCE(v.is_deleted = b._del AND v.vals IS NOT DISTINCT FROM %17$s, b._del)
        FROM base AS b
        LEFT JOIN LATERAL (
            SELECT x.is_deleted, %18$s AS vals
            FROM %12$s AS x
            WHERE %19$s
              AND x.valid_from <= b._ts
              AND (x.valid_to IS NULL OR x.valid_to > b._ts)
            LIMIT 1
        ) AS v ON true
        WHERE b._hist
        $q$,
        dwh_etl._col_list(v_k, 's'),                  -- 1
        dwh_etl._col_list(v_k || v_t2 || v_t1, 's'),  -- 2
        v_ts,                                         -- 3
        v_del,                                        -- 4
        v_src,                                        -- 5
        CASE WHEN v_spec.delete_policy = 'ignore' THEN format('NOT %s', v_del) ELSE 'true' END, -- 6
        dwh_etl._row_expr(v_t2, 'b'),                 -- 7
        dwh_etl._col_list(v_k, 'b'),                  -- 8
        v_spec.surrogate_key,                         -- 9
        dwh_etl._row_expr(v_t2, 'o'),                 -- 10
        dwh_etl._row_expr(v_t2, 'c'),                 -- 11
        v_tgt,                                        -- 12
        dwh_etl._join_cond(v_k, 'c', 'src'),          -- 13
        dwh_etl._join_cond(v_k, 'x', 'src'),          -- 14
        dwh_etl._col_list(v_k || v_t2 || v_t1, 'o'),  -- 15
        dwh_etl._col_list(v_k || v_t2 || v_t1, 'b'),  -- 16
        dwh_etl._row_expr(v_t2, 'b'),                 -- 17
        dwh_etl._row_expr(v_t2, 'x'),                 -- 18
        dwh_etl._join_cond(v_k, 'x', 'b')             -- 19
    ) USING p_load_ts;
    SELECT count(*), count(*) FILTER (WHERE NOT e._is_change AND NOT e._late), count(*) FILTER (WHERE e._late)
    INTO v_read, v_unch, v_late
    FROM pg_temp._scd_ev AS e;
    IF v_late > 0 THEN
        RAISE WARNING 'dimension %: % change(s) older than the history they belong to were not applied', p_dimension, v_late
            USING HINT = 'late-arriving changes are counted as rejected in dwh_lineage.table_lineage';
    END IF;

    -- 2. The changes, each with its effective start (kept after the key's existing history so ranges
    --    never overlap) and the start of the key's next change (its end).
    EXECUTE format($q$
        CREATE TEMP TABLE _scd_ch ON COMMIT DROP AS
        SELECT z.*, lead(z._from) OVER (PARTITION BY %1$s ORDER BY z._from) AS _to
        FROM (
            SELECT e.*,
                   GREATEST(e._ts,
                            e._cur_from + e._rn * interval '1 microsecond',
                            e._max_to + (e._rn - 1) * interval '1 microsecond') AS _from
            FROM pg_temp._scd_ev AS e
            WHERE e._is_change
        ) AS z
        $q$,
        dwh_etl._col_list(v_k, 'z'));
    SELECT count(*) FILTER (WHERE c._del) INTO v_deln FROM pg_temp._scd_ch AS c;

    -- 3. Close the current version of every changed key at its first change.
    EXECUTE format($q$
        UPDATE %1$s AS t
        SET valid_to = f._first, is_current = false
        FROM (SELECT %2$s, min(ch._from) AS _first FROM pg_temp._scd_ch AS ch GROUP BY %2$s) AS f
        WHERE %3$s
          AND t.is_current
        $q$,
        v_tgt,
        dwh_etl._col_list(v_k, 'ch'),
        dwh_etl._join_cond(v_k, 't', 'f'));
    GET DIAGNOSTICS v_exp = ROW_COUNT;

    -- 4. Insert the new versions (deletes become rows only under 'close_marker').
    EXECUTE format($q$
        INSERT INTO %1$s (%2$s, valid_from, valid_to, is_current, version, is_deleted, _batch_id, _loaded_at)
        SELECT %3$s, ch._from, ch._to, ch._to IS NULL,
               COALESCE(ch._cur_version, ch._max_version, 0)
                   + row_number() OVER (PARTITION BY %4$s ORDER BY ch._from),
               ch._del, $1, now()
        FROM pg_temp._scd_ch AS ch
        WHERE NOT ch._del OR $2
        $q$,
        v_tgt,
        dwh_etl._col_list(v_k || v_t2 || v_t1),
        dwh_etl._col_list(v_k || v_t2 || v_t1, 'ch'),
        dwh_etl._col_list(v_k, 'ch')
    ) USING v_batch, v_spec.delete_policy = 'close_marker';
    GET DIAGNOSTICS v_ins = ROW_COUNT;

    -- 5. Type 1: the latest source value overwrites every version (or only the current one).
    IF cardinality(v_t1) > 0 THEN
        EXECUTE format($q$
            UPDATE %1$s AS t
            SET (%2$s) = (SELECT %3$s)
            FROM (
                SELECT DISTINCT ON (%4$s) %5$s
                FROM pg_temp._scd_ev AS e
                WHERE NOT e._del
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
            dwh_etl._row_expr(v_t1, 'l'));
        GET DIAGNOSTICS v_t1n = ROW_COUNT;
    END IF;

    DROP TABLE pg_temp._scd_ev;
    DROP TABLE pg_temp._scd_ch;

    PERFORM dwh_lineage.log_transformation(
        in_source_table   => COALESCE(p_lineage_source, p_source),
        in_target_table   => v_spec.target_table,
        in_batch_id       => v_batch,
        in_rows_inserted  => v_ins,
        in_rows_updated   => v_exp + v_t1n,
        in_rows_unchanged => v_unch,
        in_rows_deleted   => v_deln,
        in_rows_rejected  => v_late,
        in_notes          => format('dimension %s: %s read, %s versions inserted, %s expired, %s type-1 updates, %s unchanged, %s deletes, %s late (not applied)',
                                    p_dimension, v_read, v_ins, v_exp, v_t1n, v_unch, v_deln, v_late));

    RETURN QUERY SELECT v_read, v_ins, v_exp, v_t1n, v_unch, v_deln;
END;
$$;
COMMENT ON FUNCTION dwh_etl.apply_dimension(text, text, timestamptz, text) IS 'Apply a change batch or snapshot (relation p_source) to a declared SCD1/SCD2 dimension, set-based; returns and logs the counts.';
