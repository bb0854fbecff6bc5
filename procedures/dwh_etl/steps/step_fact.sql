-- Step kind `fact`: the engine's one fact loader. The area supplies a view (in a technical schema, e.g.
-- silver: analysts must not read silver through it) that yields the fact rows from silver, with the
-- business rules (filters, COALESCEs, the date key in the business's zone) and the natural keys of the
-- dimensions; the engine owns everything else: the incremental window (dwh_etl.window_bounds on the
-- target, on the view's window column), staging, the dimension keys valid at the event, late-arriving
-- dimensions, the calendar and the partitions, the write, row counts, reconciliation, lineage and the
-- watermark. Spec:
--   {"view":          "silver.sales_fact_sales_rows",   -- required: the fact rows (columns named as the target's)
--    "target":        "sales.fact_sales",               -- required: the fact table
--    "natural_key":   ["sale_id"],                      -- required: the source's own id (view and target columns):
--                                                       --   reloads and duplicate deliveries are idempotent
--    "mode":          "upsert",      -- upsert (default): INSERT ... ON CONFLICT (natural key) DO UPDATE;
--                                    -- insert: ON CONFLICT DO NOTHING (an event never changes);
--                                    -- replace: DELETE by natural key + INSERT (a row may change partition)
--    "window_column": "_loaded_at",  -- the view's load-time column the window reads (default _loaded_at)
--    "event_time":    "transaction_at",  -- default instant of the lookups
--    "lookups": [                    -- dimension keys, each resolved to the version valid at the event:
--       {"dimension": "sales.dim_customer",  -- a dimension of dwh_etl.dimension_specs (name or target table)
--        "key": "customer_key",              -- target column (default: the dimension's surrogate key)
--        "columns": ["customer_id"],         -- view columns matching its natural key (default: same names)
--        "at": "transaction_at",             -- the event instant (default event_time): the latest version
--                                            --   with valid_from <= at; an event before the first version
--                                            --   takes the first version
--        "current": true,                    -- instead of at: the current version (is_current)
--        "wait": "always",                   -- late-arriving dimension: the row waits (is not loaded, and
--                                            --   is retried by later runs within late_window) while the
--                                            --   dimension has no row for its key; "if_key": only when the
--                                            --   key is not NULL; "never" (default): loaded, key NULL
--        "inferred": true},                  -- early-arriving fact, instead of waiting: an unknown (not
--                                            --   NULL) key gets an inferred member before the rows are
--                                            --   staged: natural key, is_inferred = true (the dimension
--                                            --   must have that column); for an SCD dimension version 1,
--                                            --   current, not deleted, valid from -infinity (the version
--                                            --   valid at any event); the run's _batch_id when the table
--                                            --   has one; the other columns their defaults; the
--                                            --   dimension load completes it in place when the real row
--                                            --   arrives (dwh_etl.apply_dimension). An object instead of
--                                            --   true also fills columns: {"first_seen_at": "min(v.created_at)"}
--                                            --   (aggregates over the view rows v of the key)
--       {"table": "agents.dim_conversation", -- or a plain dimension, one row per natural key (no history):
--        "surrogate_key": "conv_key",        --   its surrogate key and natural key are given here, the
--        "natural_key": ["conversation_id"], --   lookup is a plain join; wait / inferred / columns as above
--        "inferred": {"first_seen_at": "min(v.created_at)", "last_seen_at": "max(v.created_at)"}}],
--    "late_window":   "7 days",      -- how far back rows not loaded yet (waiting) are retried
--    "date_key":      "date_key",    -- the view's gold.dim_date key (integer YYYYMMDD, or date): the calendar
--                                    -- is extended to cover it (dwh_etl.ensure_calendar) and, when the target is
--                                    -- partitioned, the months it falls in exist (plus partitions_ahead
--                                    -- months after the current UTC month, default 3)
--    "partitioned":   true,          -- the target must be a partitioned table (else 42809 before anything
--                                    -- is read); partitions are ensured for any partitioned target
--    "time_of_day":   true,          -- gold.dim_time_of_day is filled when empty
--    "deleted_column": "is_deleted", -- rows flagged deleted remove their fact row and load nothing
--    "affected_queue": {"table": "dwh_staging.sales_affected_dates", "column": "date_key"},
--                                    -- the old and new values of a target column of every row touched go to
--                                    -- a queue (column, run_id) for a downstream step (ON CONFLICT DO NOTHING);
--                                    -- an array of such objects feeds several queues
--    "lineage_source": "silver.sales_sales"}   -- the table named in lineage (default: the view)
-- A bad spec fails the step before anything is read (22023), naming the step and every problem.
-- Rows read = written + flagged deleted + (insert mode) already present: dwh_etl.reconcile records it.
CREATE OR REPLACE PROCEDURE dwh_etl.step_fact(
    p_run_id   bigint,
    p_run_date date,
    p_spec     jsonb
)
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_run        dwh_etl.run_context := dwh_etl.get_run_context(p_run_id);
    v_step       text;
    v_batch      uuid;
    v_problems   text[] := '{}'::text[];
    v_view       regclass;
    v_target     regclass;
    v_mode       text := COALESCE(p_spec->>'mode', 'upsert');
    v_wcol       text := COALESCE(p_spec->>'window_column', '_loaded_at');
    v_nk         text[];
    v_date_key   text := p_spec->>'date_key';
    v_date_expr  text;
    v_deleted    text := p_spec->>'deleted_column';
    v_live       text := 'true';
    v_late       interval;
    v_ahead      integer;
    v_source     text;
    v_queue      regclass;
    v_queue_col  text;
    v_queues     jsonb := dwh_etl._affected_queues(p_spec);
    v_qitem      jsonb;
    v_single     boolean;
    v_infer      text[] := '{}'::text[];
    v_infer_sql  text;
    v_inferred   bigint := 0::bigint;
    v_n          bigint;
    v_extra_cols text;
    v_extra_vals text;
    v_dim_cols   text[];
    v_view_cols  text[];
    v_view_types text[];
    v_tgt_cols   text[];
    v_lookup     jsonb;
    v_dim        record;
    v_i          integer := 0;
    v_cols       text[];
    v_at         text;
    v_wait       text;
    v_key        text;
    v_cond_d     text;
    v_cond_w     text;
    v_cond_l     text;
    v_keys       text[] := '{}'::text[];
    v_select     text := '';
    v_joins      text := '';
    v_select_h   text := '';          -- the same lookups as hash joins on validity ranges (large batches)
    v_joins_h    text := '';
    v_asof       boolean := false;    -- some lookup is as of the event
    v_staged     bigint;
    -- from this many rows on a batch is written the bulk way (hash-joined lookups, foreign keys validated
    -- once): setting fact.bulk_rows (default 10000; both ways give the same rows and the same errors)
    v_bulk_rows  bigint := dwh_etl.get_setting('fact.bulk_rows', '10000')::bigint;
    v_waits      text := '';
    v_wait_dims  text[] := '{}'::text[];
    v_expired    bigint := 0::bigint;
    v_retry      text := '';
    v_ins_cols   text[] := '{}'::text[];
    v_ins_exprs  text[] := '{}'::text[];
    v_set        text;
    v_win        record;
    v_month      date;
    v_restate    jsonb;           -- dwh_etl.restate: only the rows of these event dates (date_key)
    v_only_dates text := '';
    v_rkeys      regclass;            -- restatement: the natural keys of the rows it deleted (dwh_etl._restate_apply)
    v_moved      bigint := 0::bigint; -- ... whose view row is not among the rows of its dates (moved out of the range)
    v_moved_rows text;
    v_min        date;
    v_max        date;
    v_read       bigint;
    v_probe      boolean := false;    -- the touched rows found by their key's index (a small batch)
    v_tgt_rows   numeric;             -- the target's rows, as the planner knows them
    v_hash       text := current_setting('enable_hashjoin');
    v_merge      text := current_setting('enable_mergejoin');
    v_flagged    bigint;
    v_existing   bigint := 0::bigint;
    v_written    bigint := 0::bigint;
    v_removed    bigint := 0::bigint;
    v_inserted   bigint;
    v_updated    bigint;
    v_skipped    bigint := 0::bigint;
    v_fk_add     text[] := '{}'::text[];  -- bulk path: the foreign keys dropped for the write, re-added after it
    v_fk         record;
    v_fk_stmt    text;
    v_lock       text;
    v_rows       text := '_fact_rows';  -- the staged rows; on a distributed target, the push-down path's subquery
    v_push       boolean := false;
    v_empty      boolean := false;  -- the target has no row (bulk path: its secondary indexes built after the write)
    v_drop_fks   boolean := false;
    v_idx_add    text[] := '{}'::text[];  -- bulk path into an empty target: its secondary indexes, built after the write
    v_write      text;
    v_repoint    jsonb := '[]'::jsonb;  -- the as-of lookups whose loaded rows follow late dimension versions
    v_repointed  bigint := 0::bigint;
    v_event_mark text;
    v_max_event  timestamptz;
    v_dim_tables text[] := '{}'::text[];  -- the registered dimensions looked up (their loads cap the window)
    v_cap        timestamptz;
    v_unknown    text;         -- spec keys this step does not know
BEGIN
    v_step := COALESCE(v_run.step_name, format('(fact step of %s)', COALESCE(p_spec->>'target', 'no target')));
    v_batch := COALESCE(v_run.batch_id, gen_random_uuid());

    -- ---- the spec: every problem at once, before anything is read -------------------------------
    v_view := to_regclass(p_spec->>'view');
    v_target := to_regclass(p_spec->>'target');
    -- Citus (issue 17), a branch: a distributed target with a foreign key to a reference table (the
    -- sales fact and its dimensions) runs the step's commands sequentially, one connection per node:
    -- after a read of the reference table in this transaction (the lookups), Citus refuses the parallel
    -- DDL the step may need (the partitions of its months: "cannot execute parallel DDL on table
    -- fact_sales after SELECT command on reference table dim_product"), and switching to sequential
    -- later is refused too once a parallel query ran. Not taken without Citus (is_citus_table is false).
    IF dwh_etl.is_citus_table(v_target)
       AND EXISTS (SELECT 1 FROM pg_catalog.pg_constraint AS k
                   WHERE k.conrelid = v_target AND k.contype = 'f' AND dwh_etl.is_citus_table(k.confrelid)) THEN
        PERFORM set_config('citus.multi_shard_modify_mode', 'sequential', true);
    END IF;
    IF (p_spec->>'partitioned')::boolean IS TRUE
       AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_partitioned_table AS pt WHERE pt.partrelid = v_target) THEN
        -- the table the spec describes is not there (renamed, dropped, replaced by a plain table)
        RAISE EXCEPTION '% is not a partitioned table', quote_literal(p_spec->>'target')
            USING ERRCODE = 'wrong_object_type',
                  DETAIL = format('fact step %s declares its target partitioned', v_step),
                  HINT = 'run dwh migrate, or restore the table';
    END IF;
    IF v_view IS NULL THEN
        v_problems := v_problems || CASE WHEN p_spec ? 'view' THEN format('view %s does not exist', quote_literal(p_spec->>'view')) ELSE 'view is missing' END;
    END IF;
    IF v_target IS NULL OR (SELECT c.relkind FROM pg_catalog.pg_class AS c WHERE c.oid = v_target) NOT IN ('r', 'p') THEN
        v_problems := v_problems || CASE WHEN p_spec ? 'target' THEN format('target %s is not an existing table', quote_literal(p_spec->>'target')) ELSE 'target is missing' END;
    END IF;
    IF jsonb_typeof(p_spec->'natural_key') = 'array' THEN
        v_nk := ARRAY(SELECT jsonb_array_elements_text(p_spec->'natural_key'));
    END IF;
    IF COALESCE(cardinality(v_nk), 0) = 0 THEN
        v_problems := v_problems || 'natural_key must be a non-empty array of column names'::text;
    END IF;
    IF v_mode NOT IN ('upsert', 'insert', 'replace') THEN
        v_problems := v_problems || format('mode %s is not upsert, insert or replace', quote_literal(v_mode));
    END IF;
    IF p_spec ? 'lookups' AND jsonb_typeof(p_spec->'lookups') IS DISTINCT FROM 'array' THEN
        v_problems := v_problems || 'lookups must be an array'::text;
    END IF;
    -- a key this step does not know is a typo, never ignored (docs17: "lookup" for "lookups" loaded every
    -- row with its dimension key NULL; "deleted_colum" kept deleted rows), as the dimension kind refuses
    v_unknown := (SELECT string_agg(quote_literal(k), ', ' ORDER BY k) FROM jsonb_object_keys(p_spec) AS k
                  WHERE k NOT IN ('view', 'target', 'natural_key', 'mode', 'window_column', 'event_time', 'lookups',
                                  'late_window', 'date_key', 'partitioned', 'partitions_ahead', 'time_of_day',
                                  'deleted_column', 'affected_queue', 'lineage_source'));
    IF v_unknown IS NOT NULL THEN
        v_problems := v_problems || format('unknown key(s) %s (known: view, target, natural_key, mode, window_column, event_time, '
                                           'lookups, late_window, date_key, partitioned, partitions_ahead, time_of_day, '
                                           'deleted_column, affected_queue, lineage_source)', v_unknown);
    END IF;
    SELECT string_agg(format('lookup %s: unknown key(s) %s', l.n, l.bad), '; ' ORDER BY l.n)
    INTO v_unknown
    FROM (SELECT e.n, (SELECT string_agg(quote_literal(k), ', ' ORDER BY k) FROM jsonb_object_keys(e.e) AS k
                       WHERE k NOT IN ('dimension', 'table', 'surrogate_key', 'natural_key', 'key', 'columns', 'at',
                                       'current', 'wait', 'inferred')) AS bad
          FROM jsonb_array_elements(CASE jsonb_typeof(p_spec->'lookups') WHEN 'array' THEN p_spec->'lookups' ELSE '[]' END)
               WITH ORDINALITY AS e (e, n)
          WHERE jsonb_typeof(e.e) = 'object') AS l
    WHERE l.bad IS NOT NULL;
    IF v_unknown IS NOT NULL THEN
        v_problems := v_problems || format('%s (known: dimension or table, surrogate_key, natural_key, key, columns, at, current, wait, inferred)', v_unknown);
    END IF;
    BEGIN
        v_late := (p_spec->>'late_window')::interval;
        v_ahead := COALESCE((p_spec->>'partitions_ahead')::integer, 3);
    EXCEPTION WHEN invalid_datetime_format OR datetime_field_overflow OR invalid_text_representation
                   OR numeric_value_out_of_range THEN
        v_problems := v_problems || format('late_window (%s) must be an interval and partitions_ahead (%s) an integer',
                                           p_spec->>'late_window', p_spec->>'partitions_ahead');
    END;
    FOR v_qitem IN SELECT e FROM jsonb_array_elements(v_queues) AS e LOOP
        v_queue := to_regclass(v_qitem->>'table');
        v_queue_col := v_qitem->>'column';
        IF v_queue IS NULL OR v_queue_col IS NULL
           OR (SELECT count(*) FROM pg_catalog.pg_attribute AS a
               WHERE a.attrelid = v_queue AND a.attname IN (v_queue_col, 'run_id') AND NOT a.attisdropped) < 2 THEN
            v_problems := v_problems || format('affected_queue %s must name an existing table with the column and run_id', v_qitem);
        END IF;
    END LOOP;
    IF p_spec ? 'affected_queue' AND jsonb_array_length(v_queues) = 0 THEN
        v_problems := v_problems || 'affected_queue must be an object {table, column} or an array of them'::text;
    END IF;
    IF v_view IS NOT NULL THEN
        SELECT array_agg(a.attname::text ORDER BY a.attnum), array_agg(a.atttypid::regtype::text ORDER BY a.attnum)
        INTO v_view_cols, v_view_types
        FROM pg_catalog.pg_attribute AS a
        WHERE a.attrelid = v_view AND a.attnum > 0 AND NOT a.attisdropped;
        IF NOT v_wcol = ANY (v_view_cols) THEN
            v_problems := v_problems || format('the view has no window column %I', v_wcol);
        END IF;
        IF NOT v_nk <@ v_view_cols THEN
            v_problems := v_problems || format('the view lacks natural key column(s) %s', array_to_string(ARRAY(SELECT unnest(v_nk) EXCEPT SELECT unnest(v_view_cols)), ', '));
        END IF;
        IF v_deleted IS NOT NULL AND NOT v_deleted = ANY (v_view_cols) THEN
            v_problems := v_problems || format('the view has no deleted_column %I', v_deleted);
        END IF;
        IF v_date_key IS NOT NULL THEN
            v_date_expr := CASE v_view_types[array_position(v_view_cols, v_date_key)]
                               WHEN 'integer' THEN format('to_date(d.%I::text, ''YYYYMMDD'')', v_date_key)
                               WHEN 'bigint' THEN format('to_date(d.%I::text, ''YYYYMMDD'')', v_date_key)
                               WHEN 'date' THEN format('d.%I', v_date_key)
                           END;
            IF v_date_expr IS NULL THEN
                v_problems := v_problems || format('date_key %I must be a view column of type integer (YYYYMMDD) or date', v_date_key);
            END IF;
        END IF;
    END IF;
    IF v_target IS NOT NULL THEN
        -- the columns the load writes: generated and GENERATED ALWAYS identity columns are the table's
        SELECT array_agg(a.attname::text ORDER BY a.attnum)
        INTO v_tgt_cols
        FROM pg_catalog.pg_attribute AS a
        WHERE a.attrelid = v_target AND a.attnum > 0 AND NOT a.attisdropped
          AND a.attgenerated = '' AND a.attidentity <> 'a';
        IF NOT v_nk <@ v_tgt_cols THEN
            v_problems := v_problems || format('the target lacks natural key column(s) %s', array_to_string(ARRAY(SELECT unnest(v_nk) EXCEPT SELECT unnest(v_tgt_cols)), ', '));
        END IF;
        IF EXISTS (SELECT 1 FROM pg_catalog.pg_partitioned_table AS pt WHERE pt.partrelid = v_target) AND v_date_key IS NULL THEN
            v_problems := v_problems || 'the target is partitioned: date_key must name the view''s date key'::text;
        END IF;
        FOR v_qitem IN SELECT e FROM jsonb_array_elements(v_queues) AS e LOOP
            IF v_qitem->>'column' IS NOT NULL AND NOT v_qitem->>'column' = ANY (v_tgt_cols) THEN
                v_problems := v_problems || format('affected_queue column %I is not a target column', v_qitem->>'column');
            END IF;
        END LOOP;
    END IF;

    -- ---- the lookups: one LATERAL pair (as of the event) or one join (current version) each ----------
    FOR v_lookup IN SELECT e FROM jsonb_array_elements(CASE jsonb_typeof(p_spec->'lookups') WHEN 'array' THEN p_spec->'lookups' ELSE '[]' END) AS e LOOP
        v_i := v_i + 1;
        v_single := v_lookup ? 'table';
        IF v_single THEN
            -- a plain dimension (one row per natural key), described by the lookup itself
            SELECT to_regclass(v_lookup->>'table')::text AS target_table, v_lookup->>'surrogate_key' AS surrogate_key,
                   CASE WHEN jsonb_typeof(v_lookup->'natural_key') = 'array'
                        THEN ARRAY(SELECT jsonb_array_elements_text(v_lookup->'natural_key')) END AS natural_key
            INTO v_dim;
            IF v_dim.target_table IS NULL OR v_dim.surrogate_key IS NULL OR COALESCE(cardinality(v_dim.natural_key), 0) = 0
               OR (SELECT count(*) FROM pg_catalog.pg_attribute AS a
                   WHERE a.attrelid = v_dim.target_table::regclass AND NOT a.attisdropped
                     AND a.attname = ANY (v_dim.natural_key || v_dim.surrogate_key)) < cardinality(v_dim.natural_key) + 1 THEN
                v_problems := v_problems || format('lookup %s: table %s needs surrogate_key and natural_key, columns of an existing table', v_i, COALESCE(quote_literal(v_lookup->>'table'), 'NULL'));
                CONTINUE;
            END IF;
        ELSE
            SELECT ds.target_table, ds.surrogate_key, ds.natural_key
            INTO v_dim
            FROM dwh_etl.dimension_specs AS ds
            WHERE ds.dimension_name = v_lookup->>'dimension' OR ds.target_table = v_lookup->>'dimension'
            ORDER BY ds.dimension_name = v_lookup->>'dimension' DESC
            LIMIT 1;
            IF NOT FOUND OR to_regclass(v_dim.target_table) IS NULL THEN
                v_problems := v_problems || format('lookup %s: %s is not a registered dimension (dwh_etl.dimension_specs)', v_i, COALESCE(quote_literal(v_lookup->>'dimension'), 'no dimension'));
                CONTINUE;
            END IF;
            v_dim_tables := v_dim_tables || v_dim.target_table::text;
        END IF;
        v_key := COALESCE(v_lookup->>'key', v_dim.surrogate_key);
        v_cols := CASE WHEN jsonb_typeof(v_lookup->'columns') = 'array'
                       THEN ARRAY(SELECT jsonb_array_elements_text(v_lookup->'columns')) ELSE v_dim.natural_key END;
        v_at := CASE WHEN v_single OR (v_lookup->>'current')::boolean IS TRUE THEN NULL
                     ELSE COALESCE(v_lookup->>'at', p_spec->>'event_time') END;
        v_wait := COALESCE(v_lookup->>'wait', 'never');
        IF cardinality(v_cols) <> cardinality(v_dim.natural_key) OR NOT v_cols <@ COALESCE(v_view_cols, v_cols) THEN
            v_problems := v_problems || format('lookup %s (%s): columns %s must be view columns matching the natural key %s', v_i, v_dim.target_table, v_cols, v_dim.natural_key);
        END IF;
        IF NOT v_single AND (v_lookup->>'current')::boolean IS NOT TRUE AND (v_at IS NULL OR NOT v_at = ANY (COALESCE(v_view_cols, ARRAY[v_at]))) THEN
            v_problems := v_problems || format('lookup %s (%s): "at" (or the spec''s event_time) must name a view column, or "current": true', v_i, v_dim.target_table);
        END IF;
        IF v_wait NOT IN ('never', 'always', 'if_key') THEN
            v_problems := v_problems || format('lookup %s (%s): wait %s is not never, always or if_key', v_i, v_dim.target_table, quote_literal(v_wait));
        END IF;
        IF NOT v_key = ANY (COALESCE(v_tgt_cols, ARRAY[v_key])) OR v_key = ANY (COALESCE(v_view_cols, '{}')) OR v_key = ANY (v_keys) THEN
            v_problems := v_problems || format('lookup %s (%s): key %I must be a target column that the view does not yield, once', v_i, v_dim.target_table, v_key);
        END IF;
        v_keys := v_keys || v_key;
        -- <alias>.<natural key> = v.<column> ... for the lookup (d), the wait (w) and the current join (l<i>)
        SELECT string_agg(format('d.%I = v.%I', n.k, c.c), ' AND ' ORDER BY n.o),
               string_agg(format('w.%I = v.%I', n.k, c.c), ' AND ' ORDER BY n.o),
               string_agg(format('l%s.%I = v.%I', v_i, n.k, c.c), ' AND ' ORDER BY n.o)
        INTO v_cond_d, v_cond_w, v_cond_l
        FROM unnest(v_dim.natural_key) WITH ORDINALITY AS n (k, o)
        JOIN unnest(v_cols) WITH ORDINALITY AS c (c, o) USING (o);
        IF v_at IS NULL THEN
            v_joins := v_joins || format(E'\nLEFT JOIN %s AS l%s ON %s%s',
                                         v_dim.target_table, v_i, v_cond_l,
                                         CASE WHEN v_single THEN '' ELSE format(' AND l%s.is_current', v_i) END);
            v_select := v_select || format(', l%s.%I AS %I', v_i, v_dim.surrogate_key, v_key);
            v_joins_h := v_joins_h || format(E'\nLEFT JOIN %s AS l%s ON %s%s',
                                             v_dim.target_table, v_i, v_cond_l,
                                             CASE WHEN v_single THEN '' ELSE format(' AND l%s.is_current', v_i) END);
            v_select_h := v_select_h || format(', l%s.%I AS %I', v_i, v_dim.surrogate_key, v_key);
        ELSE
            -- the same, for a large batch: each version's range [its valid_from, the next version's), the
            -- first one open to the past, joined on the natural key (a hash join over the dimension instead
            -- of two index probes per row). The ranges are cut from one ordering of the versions, so they
            -- never overlap: one version per row, the one the probes find (an event before the first
            -- version, or with no time, takes the first)
            v_asof := true;
            v_repoint := v_repoint || jsonb_build_object('dimension', v_dim.target_table, 'surrogate_key', v_dim.surrogate_key,
                                                         'natural_key', to_jsonb(v_dim.natural_key), 'key', v_key, 'at', v_at);
            v_joins_h := v_joins_h || format(
                E'\nLEFT JOIN (SELECT %6$s, d.%1$I AS k, d.valid_from AS _from, lag(d.valid_from) OVER w IS NULL AS _first,'
                || E' lead(d.valid_from) OVER w AS _to\n           FROM %2$s AS d WINDOW w AS (PARTITION BY %6$s ORDER BY d.valid_from, d.%1$I)) AS l%5$s'
                || E'\n  ON %3$s AND (v.%4$I >= l%5$s._from OR l%5$s._first)'
                || E' AND (v.%4$I < l%5$s._to OR l%5$s._to IS NULL OR (v.%4$I IS NULL AND l%5$s._first))',
                v_dim.surrogate_key, v_dim.target_table, v_cond_l, v_at, v_i, dwh_etl._col_list(v_dim.natural_key, 'd'));
            v_select_h := v_select_h || format(', l%1$s.k AS %2$I', v_i, v_key);
            -- the version valid at the event: the latest that started at or before it; an event before
            -- the first version takes the first (both use the (natural key, valid_from) index)
            v_joins := v_joins || format(E'\nLEFT JOIN LATERAL (SELECT d.%1$I AS k FROM %2$s AS d WHERE %3$s AND d.valid_from <= v.%4$I ORDER BY d.valid_from DESC LIMIT 1) AS l%5$s ON true'
                                         || E'\nLEFT JOIN LATERAL (SELECT d.%1$I AS k FROM %2$s AS d WHERE %3$s AND l%5$s.k IS NULL ORDER BY d.valid_from LIMIT 1) AS l%5$sf ON true',
                                         v_dim.surrogate_key, v_dim.target_table, v_cond_d, v_at, v_i);
            v_select := v_select || format(', COALESCE(l%1$s.k, l%1$sf.k) AS %2$I', v_i, v_key);
        END IF;
        IF v_lookup ? 'inferred' AND (v_lookup->'inferred') <> 'false'::jsonb THEN
            -- the statement creating the inferred members of this dimension; its WHERE (the rows to load)
            -- is known once the window is
            SELECT array_agg(a.attname::text) INTO v_dim_cols
            FROM pg_catalog.pg_attribute AS a
            WHERE a.attrelid = v_dim.target_table::regclass AND a.attnum > 0 AND NOT a.attisdropped;
            IF NOT 'is_inferred' = ANY (v_dim_cols) OR v_wait <> 'never'
               OR jsonb_typeof(v_lookup->'inferred') NOT IN ('boolean', 'object')
               OR (jsonb_typeof(v_lookup->'inferred') = 'object' AND EXISTS (
                       SELECT 1 FROM jsonb_each(v_lookup->'inferred') AS e
                       WHERE jsonb_typeof(e.value) <> 'string' OR NOT e.key = ANY (v_dim_cols))) THEN
                v_problems := v_problems || format('lookup %s (%s): inferred needs an is_inferred column in the dimension, no wait, and true or {dimension column: "aggregate over v"}', v_i, v_dim.target_table);
            ELSE
                SELECT COALESCE(string_agg(format(', %I', e.key), '' ORDER BY e.key), ''),
                       COALESCE(string_agg(', ' || e.value, '' ORDER BY e.key), '')
                INTO v_extra_cols, v_extra_vals
                FROM jsonb_each_text(CASE WHEN jsonb_typeof(v_lookup->'inferred') = 'object' THEN v_lookup->'inferred' ELSE '{}' END) AS e;
                v_infer := v_infer || format(
                    E'INSERT INTO %1$s (%2$s, is_inferred%3$s%4$s%5$s)\nSELECT %6$s, true%7$s%8$s%9$s\nFROM %10$s AS v\nWHERE (@ROWS@) AND %11$s\n  AND NOT EXISTS (SELECT 1 FROM %1$s AS w WHERE %12$s)\nGROUP BY %6$s\nON CONFLICT DO NOTHING',
                    v_dim.target_table, dwh_etl._col_list(v_dim.natural_key),
                    CASE WHEN NOT v_single THEN ', valid_from, valid_to, is_current, version, is_deleted' ELSE '' END,
                    CASE WHEN '_batch_id' = ANY (v_dim_cols) THEN ', _batch_id' ELSE '' END,
                    v_extra_cols,
                    dwh_etl._col_list(v_cols, 'v'),
                    CASE WHEN NOT v_single THEN ', ''-infinity''::timestamptz, NULL::timestamptz, true, 1, false' ELSE '' END,
                    CASE WHEN '_batch_id' = ANY (v_dim_cols) THEN ', $4' ELSE '' END,
                    v_extra_vals,
                    v_view,
                    (SELECT string_agg(format('v.%I IS NOT NULL', c), ' AND ') FROM unnest(v_cols) AS c),
                    v_cond_w);
            END IF;
        END IF;
        IF v_wait <> 'never' THEN
            v_wait_dims := v_wait_dims || v_dim.target_table::text;
            v_waits := v_waits || format(E'\n  AND (%sEXISTS (SELECT 1 FROM %s AS w WHERE %s))',
                                         CASE WHEN v_wait = 'if_key' THEN (SELECT string_agg(format('v.%I IS NULL OR ', c), '') FROM unnest(v_cols) AS c) ELSE '' END,
                                         v_dim.target_table, v_cond_w);
        END IF;
    END LOOP;

    IF cardinality(v_problems) > 0 THEN
        RAISE EXCEPTION 'fact step %: bad spec: %', v_step, array_to_string(v_problems, '; ')
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('spec: %s', p_spec),
                  HINT = 'the spec is documented in procedures/dwh_etl/steps/step_fact.sql; fix it in the area''s registry file';
    END IF;
    v_source := COALESCE(p_spec->>'lineage_source', v_view::text);
    IF v_deleted IS NOT NULL THEN
        v_live := format('d.%I IS NOT TRUE', v_deleted);
    END IF;

    -- ---- stage the window's rows, with their dimension keys ------------------------------------------
    -- Dimensions first (race 16): the window stops where the loads of the dimensions looked up have read
    -- (their watermarks), while rows wait for them (dwh_etl._dimension_pending_since). Each load's window
    -- stops at the start of the oldest open transaction when it runs: one that was open while the
    -- dimensions loaded (a concurrent maintenance step) and ended before this step let the fact read the
    -- run's new sales, whose new customers the dimension had not loaded yet: NULL keys, the step failed.
    -- Rows left out are read by the next run (the window is marked held back, so it is not skipped).
    -- Read under the step's lock (window_bounds takes it again): a run that waited for the other
    -- pipeline's fact step sees the dimensions as that pipeline left them.
    PERFORM dwh_etl.lock_step(v_target::text);
    SELECT min(dwh_etl._dimension_pending_since(t.table_name)) INTO v_cap
    FROM (SELECT DISTINCT u.table_name FROM unnest(v_dim_tables) AS u (table_name)) AS t;
    v_win := dwh_etl.window_bounds(v_target::text, v_cap);
    IF v_cap < now() THEN
        PERFORM set_config('dwh.window_held_back', 'on', false);
    END IF;
    -- a restatement (dwh_etl.restate) recomputes the rows of its event dates only; the window it set
    -- covers what was loaded so far
    v_restate := dwh_etl._restate_override('dates', v_target::text);
    IF v_restate IS NOT NULL AND v_date_key IS NOT NULL THEN
        v_only_dates := format(E'\n  AND v.%1$I BETWEEN %2$L AND %3$L', v_date_key,
                               CASE WHEN v_view_types[array_position(v_view_cols, v_date_key)] = 'date'
                                    THEN v_restate->>'from' ELSE to_char((v_restate->>'from')::date, 'YYYYMMDD') END,
                               CASE WHEN v_view_types[array_position(v_view_cols, v_date_key)] = 'date'
                                    THEN v_restate->>'to' ELSE to_char((v_restate->>'to')::date, 'YYYYMMDD') END);
        v_rkeys := to_regclass(v_restate->>'keys');
    END IF;
    IF v_late IS NOT NULL THEN
        -- rows that waited for a late dimension row and still have no fact row are retried
        v_retry := format(E'\n   OR (v.%1$I >= $2 - $3 AND v.%1$I < $1 AND NOT EXISTS (SELECT 1 FROM %2$s AS x WHERE %3$s))',
                          v_wcol, v_target, dwh_etl._join_cond(v_nk, 'x', 'v'));
    END IF;
    -- rows whose wait has expired (older than the late window, still no fact row, the dimension row
    -- still missing) are not retried any more: quarantined with the reason, never dropped in silence.
    -- The band checked is one late window wide, just before the retry region, so each expiring row is
    -- seen by the runs of that band (an open entry is recorded once: fingerprint).
    IF v_late IS NOT NULL AND v_waits <> '' AND v_restate IS NULL THEN
        EXECUTE format($q$
            INSERT INTO dwh_etl.quarantine (target_table, source_table, record_key, payload, reasons, run_id, batch_id)
            SELECT $3, $4, dwh_etl.quarantine_key(concat_ws(', ', %1$s)), to_jsonb(v),
                   ARRAY[format('waited %%s for its row in %%s, which did not arrive: not loaded (once it arrives, a restatement of the event date loads it)',
                                $2, $5)],
                   $6, $7
            FROM %2$s AS v
            WHERE v.%3$I >= $1 - $2 - $2 AND v.%3$I < $1 - $2
              AND NOT EXISTS (SELECT 1 FROM %4$s AS x WHERE %5$s)
              AND NOT (true%6$s)
            ON CONFLICT (fingerprint) WHERE resolved_at IS NULL DO NOTHING
            $q$,
            (SELECT string_agg(format('v.%I::text', c), ', ') FROM unnest(v_nk) AS c), v_view, v_wcol, v_target,
            dwh_etl._join_cond(v_nk, 'x', 'v'), v_waits)
        USING v_win.from_ts, v_late, v_target::text, v_view::text,
              array_to_string(v_wait_dims, ' or '), p_run_id, v_batch;
        GET DIAGNOSTICS v_expired = ROW_COUNT;
        IF v_expired > 0 THEN
            RAISE WARNING 'fact step %: % row(s) waited longer than % for a dimension row and were quarantined', v_step, v_expired, v_late;
        END IF;
    END IF;
    -- inferred (early-arriving) members for the unknown keys of the rows about to be loaded
    FOREACH v_infer_sql IN ARRAY v_infer LOOP
        EXECUTE replace(v_infer_sql, '@ROWS@', format('((v.%1$I >= $1 AND v.%1$I < $2)%2$s)%3$s', v_wcol, v_retry, v_only_dates))
        USING v_win.from_ts, v_win.to_ts, v_late, v_batch;
        GET DIAGNOSTICS v_n = ROW_COUNT;
        v_inferred := v_inferred + v_n;
    END LOOP;
    EXECUTE 'DROP TABLE IF EXISTS pg_temp._fact_rows';
    -- Citus (issue 17), a branch: on a distributed target the rows are not staged in a temp table on the
    -- coordinator (every row would travel there and back: "INSERT/SELECT method: pull to coordinator").
    -- Every statement below reads them instead as a subquery over the view with the lookups' hash-join
    -- form (uncorrelated: Citus computes the dimensions once and sends them to the workers; the per-row
    -- LATERAL probes of small batches are correlated subqueries into local tables, which it refuses):
    -- the counts, dates and queue values are aggregates run on the workers, the DELETE and the INSERT
    -- run there too (docs/SCALE.md, push-down). Both lookup forms give the same keys (see v_joins_h).
    -- Not with waits (a correlated EXISTS into the dimension): those keep the staged path. The window's
    -- bounds are literals here (the subquery is read by statements with parameters of their own); the
    -- window does not change between the reads (the runner runs a pipeline once at a time, and the view
    -- reads silver that earlier steps committed). dwh_etl.is_citus_table is false without Citus.
    v_push := v_waits = '' AND dwh_etl.is_citus_table(v_target);
    IF v_push THEN
        v_rows := format(E'(SELECT v.*%1$s\nFROM %2$s AS v%3$s\nWHERE ((v.%4$I >= %5$L::timestamptz AND v.%4$I < %6$L::timestamptz)%7$s)%8$s)',
                         v_select_h, v_view, v_joins_h, v_wcol, v_win.from_ts, v_win.to_ts,
                         replace(replace(replace(v_retry, '$1', format('%L::timestamptz', v_win.from_ts)),
                                         '$2', format('%L::timestamptz', v_win.to_ts)),
                                 '$3', format('%L::interval', v_late)),
                         v_only_dates);
    ELSIF v_asof THEN
        -- the rows first, then their keys: as-of lookups probe the dimension's index per row (two
        -- LATERAL probes, ~40 us a row) for a small batch, and hash join on the validity ranges for a
        -- large one (fact.bulk_rows, 10,000 rows and more), as a hand-written load would; the same key
        -- either way
        EXECUTE 'DROP TABLE IF EXISTS pg_temp._fact_src';
        EXECUTE format(E'CREATE TEMP TABLE _fact_src ON COMMIT DROP AS\nSELECT v.*\nFROM %s AS v\nWHERE ((v.%I >= $1 AND v.%2$I < $2)%s)%s%s',
                       v_view, v_wcol, v_retry, v_waits, v_only_dates)
        USING v_win.from_ts, v_win.to_ts, v_late;
        GET DIAGNOSTICS v_staged = ROW_COUNT;
    ELSE
        EXECUTE format(E'CREATE TEMP TABLE _fact_rows ON COMMIT DROP AS\nSELECT v.*%s\nFROM %s AS v%s\nWHERE ((v.%I >= $1 AND v.%4$I < $2)%s)%s%s',
                       v_select, v_view, v_joins, v_wcol, v_retry, v_waits, v_only_dates)
        USING v_win.from_ts, v_win.to_ts, v_late;
    END IF;
    -- A restatement deleted the rows whose stored date is in its range and staged those whose current
    -- date is: a row the source moved out of the range since the fact loaded it (silver ahead of the
    -- fact: a partial or failed run, a silver replay of the restatement) was lost until a later run
    -- (review 16). The keys it deleted that are not staged (one anti-join of two temp tables, usually
    -- empty) are staged too, at their current date, with their inferred members; a key gone from
    -- silver stays deleted. Not on the push-down path (Citus), where such a row waits for the next run.
    IF v_rkeys IS NOT NULL AND NOT v_push THEN
        EXECUTE 'DROP TABLE IF EXISTS pg_temp._fact_moved';
        EXECUTE format('CREATE TEMP TABLE _fact_moved ON COMMIT DROP AS SELECT DISTINCT %s FROM %s AS k WHERE NOT EXISTS (SELECT 1 FROM %s AS s WHERE %s)',
                       dwh_etl._col_list(v_nk, 'k'), v_rkeys,
                       CASE WHEN v_asof THEN 'pg_temp._fact_src' ELSE 'pg_temp._fact_rows' END,
                       dwh_etl._join_cond(v_nk, 's', 'k'));
        GET DIAGNOSTICS v_moved = ROW_COUNT;
        IF v_moved > 0 THEN
            v_moved_rows := format(E'\n  AND (%s) IN (SELECT %s FROM pg_temp._fact_moved AS m)',
                                   dwh_etl._col_list(v_nk, 'v'), dwh_etl._col_list(v_nk, 'm'));
            FOREACH v_infer_sql IN ARRAY v_infer LOOP
                EXECUTE replace(v_infer_sql, '@ROWS@', format('((v.%1$I >= $1 AND v.%1$I < $2)%2$s)%3$s', v_wcol, v_retry, v_moved_rows))
                USING v_win.from_ts, v_win.to_ts, v_late, v_batch;
                GET DIAGNOSTICS v_n = ROW_COUNT;
                v_inferred := v_inferred + v_n;
            END LOOP;
            IF v_asof THEN
                EXECUTE format(E'INSERT INTO pg_temp._fact_src\nSELECT v.*\nFROM %s AS v\nWHERE ((v.%I >= $1 AND v.%2$I < $2)%s)%s%s',
                               v_view, v_wcol, v_retry, v_waits, v_moved_rows)
                USING v_win.from_ts, v_win.to_ts, v_late;
                GET DIAGNOSTICS v_n = ROW_COUNT;
                v_staged := v_staged + v_n;
            ELSE
                EXECUTE format(E'INSERT INTO pg_temp._fact_rows\nSELECT v.*%s\nFROM %s AS v%s\nWHERE ((v.%I >= $1 AND v.%4$I < $2)%s)%s%s',
                               v_select, v_view, v_joins, v_wcol, v_retry, v_waits, v_moved_rows)
                USING v_win.from_ts, v_win.to_ts, v_late;
            END IF;
            RAISE DEBUG 'fact step %: % row(s) of the restated range moved out of it, staged at their current date', v_step, v_moved;
        END IF;
        EXECUTE 'DROP TABLE pg_temp._fact_moved';
    END IF;
    IF v_asof AND NOT v_push THEN
        EXECUTE format(E'CREATE TEMP TABLE _fact_rows ON COMMIT DROP AS\nSELECT v.*%s\nFROM pg_temp._fact_src AS v%s',
                       CASE WHEN v_staged >= v_bulk_rows THEN v_select_h ELSE v_select END,
                       CASE WHEN v_staged >= v_bulk_rows THEN v_joins_h ELSE v_joins END);
        EXECUTE 'DROP TABLE pg_temp._fact_src';
    END IF;
    EXECUTE format('SELECT count(*), count(*) FILTER (WHERE NOT (%s)) FROM %s AS d', v_live, v_rows) INTO v_read, v_flagged;
    IF NOT v_push THEN
        EXECUTE 'ANALYZE pg_temp._fact_rows';
    END IF;

    IF v_read > 0 AND v_date_expr IS NOT NULL THEN
        -- an integer YYYYMMDD key sorts as its date: its bounds and months are read from the integers and
        -- converted once (to_date per row: 0.45 s of a first load of 300k sales lines)
        IF v_date_expr LIKE 'to_date(%' THEN
            EXECUTE format('SELECT to_date(min(d.%1$I)::text, ''YYYYMMDD''), to_date(max(d.%1$I)::text, ''YYYYMMDD'') FROM %2$s AS d',
                           v_date_key, v_rows) INTO v_min, v_max;
        ELSE
            EXECUTE format('SELECT min(%1$s), max(%1$s) FROM %2$s AS d', v_date_expr, v_rows) INTO v_min, v_max;
        END IF;
        PERFORM dwh_etl.ensure_calendar(v_min, v_max);
        IF EXISTS (SELECT 1 FROM pg_catalog.pg_partitioned_table AS pt WHERE pt.partrelid = v_target) THEN
            -- the months that have rows (one old row must not create years of empty partitions: silver keeps
            -- instants in a sane range, dwh_etl.event_time_bounds), and the current UTC month and more ahead
            FOR v_month IN EXECUTE CASE WHEN v_date_expr LIKE 'to_date(%'
                                        THEN format('SELECT to_date((m.ym * 100 + 1)::text, ''YYYYMMDD'') FROM (SELECT DISTINCT d.%I / 100 AS ym FROM %s AS d) AS m ORDER BY 1',
                                                    v_date_key, v_rows)
                                        ELSE format('SELECT DISTINCT date_trunc(''month'', (%s)::timestamp)::date FROM %s AS d ORDER BY 1', v_date_expr, v_rows) END LOOP
                PERFORM dwh_etl.ensure_partitions(v_target::text, v_month, v_month, 0);
            END LOOP;
            PERFORM dwh_etl.ensure_partitions(v_target::text, (now() AT TIME ZONE 'UTC')::date, (now() AT TIME ZONE 'UTC')::date, v_ahead);
        END IF;
    END IF;
    IF v_read > 0 AND (p_spec->>'time_of_day')::boolean IS TRUE AND NOT EXISTS (SELECT 1 FROM gold.dim_time_of_day) THEN
        CALL dwh_etl.generate_dim_time_of_day();
    END IF;

    -- A small batch against a large fact (the daily delta) finds the rows it touches through the natural
    -- key's index, one probe per staged row and partition, not by a hash join over a scan of every
    -- partition: the planner prices each probe as a random read and preferred the scan (sales at scale 1,
    -- 2,800 lines against 1M: the queue insert and the delete 180-215 ms each by hash, 43-128 ms by
    -- probes). Only when such an index exists (else each probe would be a scan), and not on Citus (its
    -- planner decides over the shards). Restored right after the delete.
    -- The target's size: its leaf partitions', or its own when it is not partitioned (pg_partition_tree
    -- lists no row for a plain table: the bulk path below took every batch of fact.bulk_rows rows into a
    -- plain fact as if it were a large share of it)
    v_tgt_rows := (SELECT COALESCE(sum(GREATEST(c.reltuples, 0)), 0)
                   FROM pg_catalog.pg_class AS c
                   WHERE c.oid IN (SELECT t.relid FROM pg_catalog.pg_partition_tree(v_target) AS t WHERE t.isleaf)
                      OR (c.oid = v_target AND c.relkind = 'r'));
    v_probe := v_read > 0
               AND NOT dwh_etl.is_citus_table(v_target)
               AND v_read * 50 < v_tgt_rows
               AND EXISTS (SELECT 1 FROM pg_catalog.pg_index AS i
                           JOIN pg_catalog.pg_class AS ic ON ic.oid = i.indexrelid
                           JOIN pg_catalog.pg_am AS am ON am.oid = ic.relam AND am.amname = 'btree'
                           WHERE i.indrelid = v_target AND i.indisvalid AND i.indpred IS NULL
                             AND i.indnkeyatts >= cardinality(v_nk)
                             AND (SELECT array_agg(a.attname::text ORDER BY a.attname)
                                  FROM unnest((i.indkey::int2[])[0:cardinality(v_nk) - 1]) AS k (attnum)
                                  JOIN pg_catalog.pg_attribute AS a ON a.attrelid = v_target AND a.attnum = k.attnum)
                                 = (SELECT array_agg(n ORDER BY n) FROM unnest(v_nk) AS n));
    IF v_probe THEN
        PERFORM set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true);
        RAISE DEBUG 'fact step %: % staged rows found in % by index probes', v_step, v_read, v_target;
    END IF;
    FOR v_qitem IN SELECT e FROM jsonb_array_elements(v_queues) AS e LOOP
        -- the values the touched rows had, and the values they get
        EXECUTE format(E'INSERT INTO %1$s (%2$I, run_id)\nSELECT f.%2$I, $1 FROM %3$s AS f JOIN %6$s AS d ON %4$s\nUNION\nSELECT d.%2$I, $1 FROM %6$s AS d WHERE %5$s\nON CONFLICT DO NOTHING',
                       to_regclass(v_qitem->>'table'), v_qitem->>'column', v_target, dwh_etl._join_cond(v_nk, 'f', 'd'), v_live, v_rows)
        USING p_run_id;
    END LOOP;

    -- ---- write ----------------------------------------------------------------------------------------
    -- Bulk path (issue 15): a foreign key is checked by a trigger per inserted row (four keys: ~4 million
    -- trigger calls, two thirds of the INSERT of a million sales lines). When the batch is large against
    -- the table (a first load, a rebuild, a big backfill: at least fact.bulk_rows rows, default 10,000,
    -- and a tenth of the table)
    -- and the runner owns the table, the target's foreign keys are dropped for the write and added back
    -- right after it, in this same transaction: ADD CONSTRAINT checks every row with one set-based
    -- anti-join per key and fails the step (23503, the key and the row named, everything rolled back)
    -- exactly when a trigger would have. Integrity is never off outside this transaction: dropping the
    -- constraints locks the fact and the referenced tables (ACCESS EXCLUSIVE, until the step commits), so
    -- no other write can slip in while they are away; after the commit they are there, validated, as
    -- before. Small batches (the daily delta) keep the per-row checks: validating the whole table would
    -- cost more than they do. Same rows, same errors, either way.
    -- Bulk path into an empty target (a first load, a rebuild): its secondary indexes (neither unique nor
    -- behind a constraint: the ON CONFLICT arbiters and the keys stay) are dropped for the write and
    -- built after it, in this transaction, from their own definitions (dwh_etl._drop_secondary_indexes):
    -- one sort per index instead of a descent per row and index (sales at scale 0.3, 300k lines into
    -- seven such indexes: the INSERT 2.6 s with them; 0.8 s without, plus 1.0 s to build them). A
    -- non-empty target keeps them (rebuilding them over its old rows would cost more). Same locks as the
    -- foreign keys' (ACCESS EXCLUSIVE on the fact until the step commits; 2 s at most to get it, else the
    -- indexes stay); not on Citus.
    -- Dropping a foreign key locks its referenced table too (the shared gold.dim_date among them): if the
    -- locks take more than 2 s (a long query on a table) or another step holds one (a deadlock), the batch
    -- goes the per-row way instead of queueing every reader of the dimension behind it.
    IF v_read >= v_bulk_rows
       AND pg_has_role(current_user, (SELECT c.relowner FROM pg_catalog.pg_class AS c WHERE c.oid = v_target), 'USAGE') THEN
        v_drop_fks := v_read * 10 >= v_tgt_rows
                      AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint AS k
                                      WHERE k.conrelid = v_target AND k.contype = 'f' AND k.conparentid = 0
                                        AND (NOT k.convalidated OR NOT has_table_privilege(k.confrelid, 'REFERENCES')));
        IF NOT dwh_etl.is_citus_table(v_target) THEN
            EXECUTE format('SELECT NOT EXISTS (SELECT 1 FROM %s)', v_target) INTO v_empty;
        END IF;
        v_lock := current_setting('lock_timeout');
        BEGIN
            PERFORM set_config('lock_timeout', '2s', true);
            FOR v_fk IN
                SELECT k.conname, pg_catalog.pg_get_constraintdef(k.oid) AS def
                FROM pg_catalog.pg_constraint AS k
                WHERE v_drop_fks AND k.conrelid = v_target AND k.contype = 'f' AND k.conparentid = 0
                ORDER BY k.conname
            LOOP
                v_fk_add := v_fk_add || format('ALTER TABLE %s ADD CONSTRAINT %I %s', v_target, v_fk.conname, v_fk.def);
                EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', v_target, v_fk.conname);
            END LOOP;
            IF v_empty THEN
                v_idx_add := dwh_etl._drop_secondary_indexes(v_target);
            END IF;
            PERFORM set_config('lock_timeout', v_lock, true);
        EXCEPTION WHEN lock_not_available OR deadlock_detected THEN
            -- the drops were rolled back with the subtransaction
            v_fk_add := '{}'::text[];
            v_idx_add := '{}'::text[];
            PERFORM set_config('lock_timeout', v_lock, true);
            RAISE NOTICE 'fact %: its tables are busy (%), rows checked and indexed one by one', v_target, SQLERRM;
        END;
        IF cardinality(v_idx_add) > 0 THEN
            RAISE DEBUG 'fact step %: the secondary indexes of the empty % built after the write', v_step, v_target;
        END IF;
    END IF;
    IF v_mode = 'replace' OR v_deleted IS NOT NULL THEN
        EXECUTE format('DELETE FROM %s AS f USING %s AS d WHERE %s%s',
                       v_target, v_rows, dwh_etl._join_cond(v_nk, 'f', 'd'),
                       CASE WHEN v_mode = 'replace' THEN '' ELSE format(' AND NOT (%s)', v_live) END);
        GET DIAGNOSTICS v_removed = ROW_COUNT;
    END IF;
    IF v_probe THEN
        PERFORM set_config('enable_hashjoin', v_hash, true), set_config('enable_mergejoin', v_merge, true);
    END IF;
    SELECT array_agg(c.col ORDER BY c.o),
           array_agg(CASE WHEN c.col = '_batch_id' THEN '$1' ELSE format('d.%I', c.col) END ORDER BY c.o)
    INTO v_ins_cols, v_ins_exprs
    FROM unnest(v_tgt_cols) WITH ORDINALITY AS c (col, o)
    WHERE c.col = '_batch_id' OR (c.col <> '_loaded_at' AND (c.col = ANY (v_view_cols) OR c.col = ANY (v_keys)));
    IF v_mode = 'upsert' THEN
        EXECUTE format('SELECT count(*) FROM %s AS d WHERE %s AND EXISTS (SELECT 1 FROM %s AS f WHERE %s)',
                       v_rows, v_live, v_target, dwh_etl._join_cond(v_nk, 'f', 'd'))
        INTO v_existing;
        SELECT string_agg(format('%1$I = EXCLUDED.%1$I', c), ', ')
               || CASE WHEN '_loaded_at' = ANY (v_tgt_cols) THEN ', _loaded_at = now()' ELSE '' END
        INTO v_set
        FROM unnest(v_ins_cols) AS c
        WHERE NOT c = ANY (v_nk);
        v_set := CASE WHEN v_set IS NULL THEN 'NOTHING' ELSE 'UPDATE SET ' || v_set END;
    END IF;
    -- a target that numbers its rows (an identity column the write leaves to its default) gets them in
    -- natural-key order: the same rows get the same surrogate keys whatever plan staged them
    v_write := format(E'INSERT INTO %s AS f (%s)\nSELECT %s\nFROM %s AS d\nWHERE %s%s%s',
                   v_target, dwh_etl._col_list(v_ins_cols), array_to_string(v_ins_exprs, ', '), v_rows, v_live,
                   CASE WHEN NOT v_push AND EXISTS (
                            SELECT 1 FROM pg_catalog.pg_attribute AS a
                            WHERE a.attrelid = v_target AND a.attidentity <> '' AND NOT a.attisdropped
                              AND NOT a.attname = ANY (v_ins_cols))
                        THEN E'\nORDER BY ' || (SELECT string_agg(format('d.%I', k), ', ') FROM unnest(v_nk) AS k)
                        ELSE '' END,
                   CASE v_mode WHEN 'upsert' THEN format(E'\nON CONFLICT (%s) DO %s', dwh_etl._col_list(v_nk), v_set)
                               WHEN 'insert' THEN format(E'\nON CONFLICT (%s) DO NOTHING', dwh_etl._col_list(v_nk))
                               ELSE '' END);
    IF v_push THEN
        -- the push-down write, for EXPLAIN (tests/test_citus.py; $1 is the batch id)
        RAISE DEBUG 'fact step % writes: %', v_step, v_write;
    END IF;
    EXECUTE v_write
    USING v_batch;
    GET DIAGNOSTICS v_written = ROW_COUNT;
    -- bulk path into an empty target: its secondary indexes, each built by one sort
    FOREACH v_fk_stmt IN ARRAY v_idx_add LOOP
        EXECUTE v_fk_stmt;
    END LOOP;
    -- bulk path: the foreign keys back, each validated over the table by one set-based query
    FOREACH v_fk_stmt IN ARRAY v_fk_add LOOP
        EXECUTE v_fk_stmt;
    END LOOP;
    v_updated := LEAST(v_existing, v_written);
    v_inserted := v_written - v_updated;
    -- late-arriving dimension versions: the rows loaded by earlier runs whose event a version loaded since
    -- (the window's start) now covers are re-pointed at it (dwh_etl._fact_repoint, attack 15b). Not on a
    -- first load (everything was just resolved), not on Citus (the push-down path), and only where the
    -- target keeps the event column and the dimension its load time (_loaded_at)
    -- The latest event time loaded (the mark '<target>#<at column>', kept by this step: the first time, of
    -- the whole table) bounds which new versions can reach a row loaded before: the usual daily change
    -- (a version valid from about now) reaches none, and is not probed (issue 15: the probes of every
    -- changed agent's rows cost 230 ms a run where nothing moved).
    IF v_win.from_ts > '-infinity'::timestamptz AND NOT v_push THEN
        FOR v_lookup IN
            SELECT l.e FROM jsonb_array_elements(v_repoint) AS l (e)
            WHERE (l.e->>'at') = ANY (v_tgt_cols)
              AND EXISTS (SELECT 1 FROM pg_catalog.pg_attribute AS a
                          WHERE a.attrelid = to_regclass(l.e->>'dimension') AND a.attname = '_loaded_at' AND NOT a.attisdropped)
        LOOP
            v_event_mark := format('%s#%s', v_target, v_lookup->>'at');
            SELECT w.watermark_value INTO v_max_event FROM dwh_etl.watermarks AS w WHERE w.table_name = v_event_mark;
            IF NOT FOUND THEN
                EXECUTE format('SELECT max(f.%I) FROM %s AS f', v_lookup->>'at', v_target) INTO v_max_event;
            ELSE
                EXECUTE format('SELECT GREATEST($1, max(d.%I)) FROM %s AS d', v_lookup->>'at', v_rows) INTO v_max_event USING v_max_event;
            END IF;
            v_repointed := v_repointed + dwh_etl._fact_repoint(v_target, v_nk, v_lookup || jsonb_build_object('max_event', v_max_event),
                                                               v_win.from_ts, v_queues, v_batch, p_run_id);
            IF v_max_event IS NOT NULL THEN
                CALL dwh_etl.set_watermark(v_event_mark, v_lookup->>'at', v_max_event);
            END IF;
        END LOOP;
    END IF;
    IF v_mode = 'insert' THEN
        v_skipped := v_read - v_flagged - v_written;   -- already loaded: a duplicate delivery
    END IF;

    -- ---- account for every row, log, advance ----------------------------------------------------------
    PERFORM dwh_etl.reconcile(
        p_target      => v_target::text,
        p_source      => v_source,
        p_read        => v_read,
        p_accepted    => v_written + v_flagged,
        p_quarantined => 0,
        p_duplicates  => v_skipped,
        p_run_id      => p_run_id);
    PERFORM dwh_lineage.log_transformation(
        in_source_table  => v_source,
        in_target_table  => v_target::text,
        in_batch_id      => v_batch,
        in_rows_inserted => v_inserted,
        in_rows_updated  => v_updated,
        in_rows_deleted  => v_removed,
        in_rows_unchanged => v_skipped,
        in_notes         => format('%s rows read from %s (%s flagged deleted): %s inserted, %s updated, %s removed, %s already loaded',
                                   v_read, v_view, v_flagged, v_inserted, v_updated, v_removed, v_skipped)
                            || CASE WHEN v_inferred > 0 THEN format('; %s inferred dimension members created', v_inferred) ELSE '' END
                            || CASE WHEN v_repointed > 0 THEN format('; %s rows loaded earlier re-pointed at a late-arriving dimension version', v_repointed) ELSE '' END,
        in_run_id        => p_run_id);
    CALL dwh_etl.set_watermark(v_target::text, v_wcol, v_win.to_ts);
    IF NOT v_push THEN
        EXECUTE 'DROP TABLE pg_temp._fact_rows';
    END IF;
END;
$$;
COMMENT ON PROCEDURE dwh_etl.step_fact(bigint, date, jsonb) IS 'Step kind fact: load a fact table from an area view (spec: view, target, natural_key, mode upsert|insert|replace, lookups of dimension versions valid at the event, late_window, date_key, deleted_column, affected_queue, lineage_source; see the header).';
REVOKE EXECUTE ON PROCEDURE dwh_etl.step_fact(bigint, date, jsonb) FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE dwh_etl.step_fact(bigint, date, jsonb) TO etl_service;
