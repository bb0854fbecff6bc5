-- The work of a restatement or a rebuild (dwh_etl.restate, dwh_etl.rebuild), in the caller's ONE
-- transaction, all or nothing: when a step fails or the work is cancelled, everything it did is rolled
-- back (the previous data stays as it was), and the step records are written again after the rollback
-- (the steps that had completed as 'rolled_back', the failing one with its error). Why one transaction:
-- a rebuilt dimension gets new surrogate keys, so its facts must be replaced with it (foreign keys), and
-- a restated fact and its marts must not be seen half done. The cost: the tables stay locked by the
-- writes until the end, and a large rebuild is one long transaction.
--
-- p_steps: the steps, in dependency order. p_mode:
--   'restate' (dates p_from..p_to):
--     * bronze steps (extraction, sources, feeds) are skipped ('skipped', not re-extracted) unless
--       p_reextract: then they run as in a normal run (what arrived since the last run);
--     * a fact step with a date_key: its rows of those event dates are deleted and recomputed from its
--       view (every row silver holds, window [-infinity, now]), its watermark untouched: the view's rows
--       of those dates, and the rows of every natural key deleted, at their current date (a row the
--       source moved out of the range comes back at its new date, not lost until a later run); the
--       range's dates that held rows are queued for the steps reading its affected-dates queue (the
--       step queues those of the rows it writes);
--     * a table-form mart: the range's dates are queued (when its queue column is a date, or an integer
--       date_key / time_key YYYYMMDD; with "rebuild_keys", only those among its keys or in its table),
--       then rebuilt for the queued keys; a materialized view is refreshed;
--     * every other step (silver, dimension, custom): the input rows that arrived in those days (UTC) are
--       applied again (window [from 00:00 UTC, min(to + 1 day, watermark))), watermarks untouched; the
--       loads are idempotent (latest wins, SCD2 reruns change nothing, late rows are placed in history),
--       so this restores what is missing or wrong without duplicating anything. What such a replay
--       changes in silver is stamped with this transaction's start, after the dimension's watermark:
--       the next run carries it to gold (the facts of the range read all of silver already).
--   'rebuild': the targets of the steps (tables, not materialized views) are emptied in reverse order
--     (facts before the dimensions they point at), their watermarks removed, and the steps run in order:
--     each reloads everything from the layer below, as a first load would (steps above silver with the
--     window [-infinity, now], so that they see what the steps before them rewrote in this transaction);
--     a table-form mart is queued every key of its view (or of its "rebuild_keys" view).
-- Returns {"status": completed|failed|cancelled, "failed_step", "error": {...}, "replaced": [{table,
-- rows_deleted, rows_after, ...}]}; the caller records it in pipeline_runs.
CREATE OR REPLACE FUNCTION dwh_etl._restate_apply(
    p_run_id    bigint,
    p_mode      text,
    p_steps     text[],
    p_from      date DEFAULT NULL,
    p_to        date DEFAULT NULL,
    p_reextract boolean DEFAULT false
)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_run       record;
    v_step      record;
    v_t         text;
    v_rel       regclass;
    v_order     integer := 0;
    v_status    text;
    v_doc       jsonb;
    v_windows   jsonb := '{}'::jsonb;
    v_keep      jsonb := '{}'::jsonb;
    v_dates     jsonb := '{}'::jsonb;
    v_replaced  jsonb := '{}'::jsonb;     -- table -> {step, rows_deleted, ...}
    v_results   jsonb := '{}'::jsonb;     -- step -> its record, rewritten after a rollback
    v_res       jsonb;
    v_n         bigint;
    v_col       text;
    v_type      text;
    v_lo        text;
    v_hi        text;
    v_from_ts   timestamptz := (p_from::timestamp AT TIME ZONE 'UTC');
    v_to_ts     timestamptz := ((p_to + 1)::timestamp AT TIME ZONE 'UTC');
    v_wm        timestamptz;
    v_q         jsonb;
    v_failed    text;
    v_state     text;
    v_message   text;
    v_detail    text;
    v_hint      text;
    v_ins       bigint;
    v_bounds    timestamptz[] := '{}'::timestamptz[];   -- rebuild: the arrival instants of bronze, replayed one by one
    v_npass     integer := 1;
    v_silver    text[] := '{}'::text[];                -- rebuild: the targets of the silver steps
    v_bounds_part timestamptz[];
    v_dims      text[] := '{}'::text[];                -- rebuild: the targets of the dimension steps
    v_last      jsonb;
    v_clock     jsonb := '{}'::jsonb;
    v_stamp     timestamptz;
    v_empty     jsonb := '{}'::jsonb;                  -- rebuild: table to empty -> its step
    v_order_t   text[] := '{}'::text[];                -- rebuild: the tables to empty, dependents first
    v_upd       bigint;
    v_del       bigint;
    v_keys      text;                                  -- restate: the temp table of a fact's deleted natural keys
    v_nk        text[];
BEGIN
    SELECT pr.run_id, pr.batch_id, pr.pipeline_name, pr.run_date INTO v_run
    FROM dwh_lineage.pipeline_runs AS pr
    WHERE pr.run_id = p_run_id;
    IF p_mode NOT IN ('restate', 'rebuild') THEN
        RAISE EXCEPTION 'mode must be restate or rebuild, got %', quote_nullable(p_mode) USING ERRCODE = 'invalid_parameter_value';
    END IF;

    BEGIN
        -- what the SQL of the steps depends on, pinned for this transaction only (restored at its end)
        PERFORM set_config('TimeZone', 'UTC', true),
                set_config('DateStyle', 'ISO, MDY', true),
                set_config('IntervalStyle', 'postgres', true),
                set_config('search_path', 'pg_catalog, public', true),
                set_config('extra_float_digits', '1', true),
                set_config('bytea_output', 'hex', true),
                set_config('lc_numeric', 'C', true),
                set_config('lc_monetary', 'C', true),
                set_config('standard_conforming_strings', 'on', true),
                set_config('jit', 'off', true);

        -- ---- what goes, and the overrides the steps see ------------------------------------------------
        IF p_mode = 'rebuild' THEN
            -- empty the targets, dependents first (a fact row points at its dimension's version)
            FOR v_step IN
                SELECT s.step_name, s.kind, s.spec, s.target_tables, s.layer, u.o
                FROM unnest(p_steps) WITH ORDINALITY AS u (step_name, o)
                JOIN dwh_etl.steps AS s
                  ON s.pipeline_name = v_run.pipeline_name
                 AND s.step_name = u.step_name
                ORDER BY u.o DESC
            LOOP
                FOREACH v_t IN ARRAY v_step.target_tables LOOP
                    v_rel := to_regclass(v_t);
                    IF v_rel IS NOT NULL AND (SELECT c.relkind FROM pg_catalog.pg_class AS c WHERE c.oid = v_rel) IN ('r', 'p') THEN
                        IF NOT v_empty ? v_t THEN
                            v_empty := v_empty || jsonb_build_object(v_t, v_step.step_name);
                            v_order_t := v_order_t || v_t;
                        END IF;
                    ELSIF v_rel IS NOT NULL THEN
                        v_replaced := v_replaced || jsonb_build_object(v_t, jsonb_build_object(
                            'table', v_t, 'step', v_step.step_name, 'scope', 'refreshed'));
                    END IF;
                    DELETE FROM dwh_etl.watermarks AS w WHERE w.table_name = v_t OR left(w.table_name, length(v_t) + 1) = v_t || '#';
                    IF v_step.layer <> 'silver' THEN
                        -- a step above silver reads tables rebuilt earlier in this same transaction,
                        -- whose rows are stamped with its start (now()): the window must include now(),
                        -- which [watermark, now()) does not. Only pipeline steps write those tables, and
                        -- their pipelines are locked, so no other open transaction can still add rows
                        -- below this bound. Silver steps read bronze with the usual safe bound.
                        v_windows := v_windows || jsonb_build_object(v_t, jsonb_build_object(
                            'from', '-infinity'::timestamptz, 'to', clock_timestamp()));
                    END IF;
                END LOOP;
            END LOOP;
            -- Emptied in foreign-key order: a table only once no other remaining target references it
            -- (a fact before its dimensions, also when a fact step creates members of a dimension
            -- whose own step comes later). A cycle, or a table outside the set that references one,
            -- fails with the foreign key's error: nothing is changed.
            WHILE cardinality(v_order_t) > 0 LOOP
                SELECT x.t INTO v_t
                FROM unnest(v_order_t) WITH ORDINALITY AS x (t, o)
                WHERE NOT EXISTS (
                    SELECT 1
                    FROM pg_catalog.pg_constraint AS fk
                    JOIN unnest(v_order_t) AS other (t)
                      ON to_regclass(other.t) = fk.conrelid
                    WHERE fk.contype = 'f'
                      AND fk.confrelid = to_regclass(x.t)
                      AND fk.conrelid <> fk.confrelid)
                ORDER BY x.o
                LIMIT 1;
                v_t := COALESCE(v_t, v_order_t[1]);
                EXECUTE format('DELETE FROM %s', to_regclass(v_t));
                GET DIAGNOSTICS v_n = ROW_COUNT;
                v_replaced := v_replaced || jsonb_build_object(v_t, jsonb_build_object(
                    'table', v_t, 'step', v_empty->>v_t, 'rows_deleted', v_n, 'scope', 'all rows'));
                v_order_t := array_remove(v_order_t, v_t);
                v_t := NULL;
            END LOOP;
        ELSE
            FOR v_step IN
                SELECT s.step_name, s.kind, s.spec, s.target_tables, s.layer, u.o
                FROM unnest(p_steps) WITH ORDINALITY AS u (step_name, o)
                JOIN dwh_etl.steps AS s
                  ON s.pipeline_name = v_run.pipeline_name
                 AND s.step_name = u.step_name
                ORDER BY u.o DESC
            LOOP
                CONTINUE WHEN v_step.layer = 'bronze';
                IF v_step.kind = 'fact' AND v_step.spec->>'date_key' IS NOT NULL THEN
                    v_t := v_step.spec->>'target';
                    v_rel := to_regclass(v_t);
                    v_col := v_step.spec->>'date_key';
                    SELECT format_type(a.atttypid, NULL) INTO v_type
                    FROM pg_catalog.pg_attribute AS a
                    WHERE a.attrelid = v_rel AND a.attname = v_col AND a.attnum > 0 AND NOT a.attisdropped;
                    IF v_type = 'date' THEN
                        v_lo := p_from::text;
                        v_hi := p_to::text;
                    ELSE
                        v_lo := to_char(p_from, 'YYYYMMDD');
                        v_hi := to_char(p_to, 'YYYYMMDD');
                    END IF;
                    -- the values the rows about to be deleted have, for the fact's queues on another column
                    -- (the customers whose metrics are recomputed): the fact step queues the old values of
                    -- the rows it touches by joining them, but these are gone by then, and a row that does
                    -- not come back (deleted, or moved to another customer, in silver) is queued only here
                    FOR v_q IN
                        SELECT e FROM jsonb_array_elements(dwh_etl._affected_queues(v_step.spec)) AS e
                        WHERE e->>'column' IS DISTINCT FROM v_col
                    LOOP
                        EXECUTE format('INSERT INTO %s (%I, run_id) SELECT DISTINCT f.%I, $1 FROM %s AS f '
                                       'WHERE f.%I BETWEEN %L AND %L AND f.%3$I IS NOT NULL ON CONFLICT DO NOTHING',
                                       to_regclass(v_q->>'table'), v_q->>'column', v_q->>'column', v_rel, v_col, v_lo, v_hi)
                        USING p_run_id;
                    END LOOP;
                    -- the dates of the range that held rows, for the steps downstream that read its queue on
                    -- the date column (the fact step queues the dates of the rows it writes again): a date
                    -- left with no rows is recomputed, and an empty one is not (a table-form mart queues
                    -- the dates of the range itself, below; every date of a range from 2020 went to the
                    -- queue before, and citizen's per-day marts computed each: attack 15c)
                    FOR v_q IN
                        SELECT e FROM jsonb_array_elements(dwh_etl._affected_queues(v_step.spec)) AS e
                        WHERE e->>'column' = v_col
                    LOOP
                        EXECUTE format('INSERT INTO %s (%I, run_id) SELECT DISTINCT f.%I, $1 FROM %s AS f '
                                       'WHERE f.%I BETWEEN %L AND %L ON CONFLICT DO NOTHING',
                                       to_regclass(v_q->>'table'), v_q->>'column', v_col, v_rel, v_col, v_lo, v_hi)
                        USING p_run_id;
                    END LOOP;
                    -- the rows of those dates go; their natural keys are kept (a temp table of this
                    -- transaction) for the fact step, which reloads each of them from its view at its
                    -- current date, also outside the range: a line whose date the source moved out of
                    -- the range since the fact last loaded it (silver ahead of the fact: a partial or
                    -- failed run, a silver replay of this restatement) was deleted here and not reloaded
                    -- by its date, missing until a later run (review 16)
                    -- (not on Citus: its push-down fact path does not read them, see step_fact)
                    v_keys := NULL;
                    IF dwh_etl.is_citus_table(v_rel) THEN
                        EXECUTE format('DELETE FROM %s WHERE %I BETWEEN %L AND %L', v_rel, v_col, v_lo, v_hi);
                        GET DIAGNOSTICS v_n = ROW_COUNT;
                    ELSE
                        v_keys := format('_restate_keys_%s', v_rel::oid);
                        v_nk := ARRAY(SELECT jsonb_array_elements_text(v_step.spec->'natural_key'));
                        EXECUTE format('DROP TABLE IF EXISTS pg_temp.%I', v_keys);
                        EXECUTE format('CREATE TEMP TABLE %I ON COMMIT DROP AS SELECT %s FROM %s WITH NO DATA',
                                       v_keys, dwh_etl._col_list(v_nk), v_rel);
                        EXECUTE format('WITH d AS (DELETE FROM %1$s WHERE %2$I BETWEEN %3$L AND %4$L RETURNING %5$s) '
                                       'INSERT INTO pg_temp.%6$I SELECT * FROM d',
                                       v_rel, v_col, v_lo, v_hi, dwh_etl._col_list(v_nk), v_keys);
                        GET DIAGNOSTICS v_n = ROW_COUNT;
                    END IF;
                    v_replaced := v_replaced || jsonb_build_object(v_t, jsonb_build_object(
                        'table', v_t, 'step', v_step.step_name, 'rows_deleted', v_n,
                        'scope', format('%s between %s and %s', v_col, v_lo, v_hi),
                        'date_column', v_col, 'from_key', v_lo, 'to_key', v_hi));
                    -- everything silver holds now (what an earlier step of this restatement restored too)
                    v_windows := v_windows || jsonb_build_object(v_t, jsonb_build_object(
                        'from', '-infinity'::timestamptz, 'to', clock_timestamp()));
                    v_keep := v_keep || jsonb_build_object(v_t, true);
                    v_dates := v_dates || jsonb_build_object(v_t, jsonb_build_object('from', p_from, 'to', p_to,
                                                                                     'keys', 'pg_temp.' || quote_ident(v_keys)));   -- NULL: none
                ELSIF v_step.kind = 'mart' THEN
                    CONTINUE;   -- queued just before it runs, below
                ELSE
                    -- the input that arrived in those days, again; the marks stay
                    FOREACH v_t IN ARRAY v_step.target_tables LOOP
                        v_wm := dwh_etl.get_watermark(v_t);
                        v_windows := v_windows || jsonb_build_object(v_t, jsonb_build_object(
                            'from', LEAST(v_from_ts, v_wm), 'to', LEAST(v_to_ts, v_wm)));
                        v_keep := v_keep || jsonb_build_object(v_t, true);
                        v_replaced := v_replaced || jsonb_build_object(v_t, jsonb_build_object(
                            'table', v_t, 'step', v_step.step_name, 'rows_deleted', 0,
                            'scope', format('input that arrived from %s to %s (UTC), applied again', p_from, p_to)));
                    END LOOP;
                END IF;
            END LOOP;
        END IF;
        -- A rebuild replays bronze in the batches it arrived in: silver and the dimensions are loaded once
        -- per arrival instant of bronze (each extraction stamps its rows with one _ingested_at), as the
        -- day-by-day runs loaded them, so a dimension fed by a latest-state silver table (devflow's
        -- issues) gets back every version the runs saw, not only the last state. Each pass stamps what
        -- it writes with its own instant (dwh_etl.load_time: now() + pass microseconds), and the
        -- dimensions of the pass read exactly those rows (window [stamp, stamp + 1 microsecond)), as
        -- the runs' dimension steps read what their silver steps had just changed. Steps of the other
        -- kinds run once, in the last pass, over everything.
        IF p_mode = 'rebuild' THEN
            SELECT COALESCE(array_agg(DISTINCT t ORDER BY t), '{}'::text[])
            INTO v_silver
            FROM dwh_etl.steps AS s
            CROSS JOIN LATERAL unnest(s.target_tables) AS t
            WHERE s.pipeline_name = v_run.pipeline_name
              AND s.step_name = ANY (p_steps)
              AND s.layer = 'silver';
            FOR v_t IN
                SELECT DISTINCT src
                FROM dwh_etl.steps AS s
                CROSS JOIN LATERAL unnest(s.source_tables) AS src
                JOIN pg_catalog.pg_attribute AS a
                  ON a.attrelid = to_regclass(src)
                 AND a.attname = '_ingested_at'
                 AND NOT a.attisdropped
                WHERE s.pipeline_name = v_run.pipeline_name
                  AND s.step_name = ANY (p_steps)
                  AND s.layer = 'silver'
                  AND src LIKE 'bronze.%'
            LOOP
                EXECUTE format('SELECT array_agg(DISTINCT b._ingested_at) FROM %s AS b', to_regclass(v_t))
                INTO v_bounds_part;
                v_bounds := v_bounds || COALESCE(v_bounds_part, '{}'::timestamptz[]);
            END LOOP;
            SELECT COALESCE(array_agg(DISTINCT b ORDER BY b), '{}'::timestamptz[]) INTO v_bounds FROM unnest(v_bounds) AS b;
            v_npass := GREATEST(cardinality(v_bounds), 1);
        END IF;

        IF v_npass > 1 THEN
            -- the targets of the dimension steps: per pass, what that pass changed in silver
            SELECT COALESCE(array_agg(DISTINCT t ORDER BY t), '{}'::text[])
            INTO v_dims
            FROM dwh_etl.steps AS s
            CROSS JOIN LATERAL unnest(s.target_tables) AS t
            WHERE s.pipeline_name = v_run.pipeline_name
              AND s.step_name = ANY (p_steps)
              AND s.kind = 'dimension';
            -- the steps of the last pass read everything the passes stamped
            SELECT COALESCE(jsonb_object_agg(w.key, jsonb_build_object(
                       'from', '-infinity'::timestamptz,
                       'to', GREATEST(clock_timestamp(), now() + make_interval(secs => (v_npass + 1) / 1e6)))), '{}'::jsonb)
            INTO v_last
            FROM jsonb_each(v_windows) AS w;
            v_windows := v_windows || v_last;
        END IF;

        -- ---- the steps, in order (a rebuild: once per replayed arrival for silver and dimensions) ------
        FOR v_pass IN 1..v_npass LOOP
        v_clock := '{}'::jsonb;
        IF v_npass > 1 THEN
            -- this pass's bronze arrivals into silver, stamped with the pass's own instant, which the
            -- dimensions then read
            v_stamp := now() + make_interval(secs => v_pass / 1e6);
            v_clock := jsonb_build_object('load_time', v_stamp);
            FOREACH v_t IN ARRAY v_silver LOOP
                v_windows := v_windows || jsonb_build_object(v_t, jsonb_build_object(
                    'from', CASE WHEN v_pass = 1 THEN '-infinity'::timestamptz ELSE v_bounds[v_pass] END,
                    'to', CASE WHEN v_pass = v_npass THEN GREATEST(dwh_etl.safe_upper_bound(), v_bounds[v_pass])
                               ELSE v_bounds[v_pass + 1] END));
            END LOOP;
            FOREACH v_t IN ARRAY v_dims LOOP
                v_windows := v_windows || jsonb_build_object(v_t, jsonb_build_object(
                    'from', CASE WHEN v_pass = 1 THEN '-infinity'::timestamptz ELSE v_stamp END,
                    'to', v_stamp + interval '1 microsecond'));
            END LOOP;
        END IF;
        v_doc := jsonb_build_object('xid', pg_catalog.pg_current_xact_id()::text,
                                    'windows', v_windows, 'keep', v_keep, 'dates', v_dates, 'clock', v_clock);
        PERFORM set_config('dwh.restate', v_doc::text, true);
        v_order := 0;
        FOR v_step IN
            SELECT s.step_name, s.procedure_name, s.kind, s.spec, s.target_tables, s.layer, u.o
            FROM unnest(p_steps) WITH ORDINALITY AS u (step_name, o)
            JOIN dwh_etl.steps AS s
              ON s.pipeline_name = v_run.pipeline_name
             AND s.step_name = u.step_name
            ORDER BY u.o
        LOOP
            v_order := v_order + 1;
            CONTINUE WHEN v_pass < v_npass AND v_step.layer <> 'silver' AND v_step.kind <> 'dimension';
            IF p_mode = 'restate' AND v_step.layer = 'bronze' AND NOT COALESCE(p_reextract, false) THEN
                v_results := v_results || jsonb_build_object(v_step.step_name, jsonb_build_object(
                    'step_name', v_step.step_name, 'procedure_name', v_step.procedure_name, 'step_order', v_order,
                    'status', 'skipped', 'duration_ms', 0,
                    'error_message', 'not re-extracted: a restatement recomputes from bronze (p_reextract => true, dwh run --reextract, also runs the extraction)'));
                INSERT INTO dwh_lineage.step_runs (run_id, step_name, procedure_name, step_order, status, completed_at, duration_ms, error_message)
                SELECT p_run_id, r.step_name, r.procedure_name, r.step_order, r.status, clock_timestamp(), 0, r.error_message
                FROM jsonb_to_record(v_results->v_step.step_name) AS r (step_name text, procedure_name text, step_order integer, status text, error_message text);
                RAISE NOTICE 'step % skipped: not re-extracted', v_step.step_name;
                CONTINUE;
            END IF;

            IF v_step.kind = 'mart' AND v_step.spec ? 'table' THEN
                v_col := v_step.spec#>>'{queue,column}';
                v_rel := to_regclass(v_step.spec#>>'{queue,table}');
                SELECT format_type(a.atttypid, NULL) INTO v_type
                FROM pg_catalog.pg_attribute AS a
                WHERE a.attrelid = v_rel AND a.attname = v_col AND a.attnum > 0 AND NOT a.attisdropped;
                IF p_mode = 'rebuild' THEN
                    -- every key of its view; or, when the spec names them ("rebuild_keys": a view of the
                    -- keys that can have rows, for a view computed per key over the whole calendar, which
                    -- enumerated decades of days one function call each: citizen, attack 15c), those
                    EXECUTE format('INSERT INTO %s (%I, run_id) SELECT DISTINCT v.%I, $1 FROM %s AS v WHERE v.%3$I IS NOT NULL ON CONFLICT DO NOTHING',
                                   v_rel, v_col, v_step.spec->>'key_column',
                                   COALESCE(to_regclass(v_step.spec->>'rebuild_keys'), to_regclass(v_step.spec->>'view')))
                    USING p_run_id;
                ELSIF v_type = 'date' OR (v_type IN ('integer', 'bigint') AND v_col IN ('date_key', 'time_key')) THEN
                    -- the days of the range; with "rebuild_keys", only those that can have rows or have
                    -- rows in the table now (a day whose rows must go)
                    EXECUTE format('INSERT INTO %s (%I, run_id) SELECT k.d, $1 FROM (SELECT %s AS d FROM generate_series($2::date, $3::date, interval ''1 day'') AS g (d)) AS k%s ON CONFLICT DO NOTHING',
                                   v_rel, v_col,
                                   CASE WHEN v_type = 'date' THEN 'g.d::date' ELSE format('to_char(g.d, ''YYYYMMDD'')::%s', v_type) END,
                                   CASE WHEN to_regclass(v_step.spec->>'rebuild_keys') IS NULL THEN ''
                                        ELSE format(' WHERE k.d IN (SELECT r.%1$I FROM %2$s AS r) OR k.d IN (SELECT t.%1$I FROM %3$s AS t)',
                                                    v_step.spec->>'key_column', to_regclass(v_step.spec->>'rebuild_keys'),
                                                    to_regclass(v_step.spec->>'table')) END)
                    USING p_run_id, p_from, p_to;
                    v_t := v_step.spec->>'table';
                    v_replaced := v_replaced || jsonb_build_object(v_t, jsonb_build_object(
                        'table', v_t, 'step', v_step.step_name, 'scope', format('%s from %s to %s', v_step.spec->>'key_column', p_from, p_to)));
                END IF;
            END IF;

            INSERT INTO dwh_lineage.step_runs (run_id, step_name, procedure_name, step_order)
            VALUES (p_run_id, v_step.step_name, v_step.procedure_name, v_order)
            ON CONFLICT (run_id, step_name) DO UPDATE SET status = 'running';
            IF v_npass > 1 THEN
                RAISE NOTICE 'step % started (pass % of %: bronze that arrived at %)', v_step.step_name, v_pass, v_npass, v_bounds[v_pass];
            ELSE
                RAISE NOTICE 'step % started', v_step.step_name;
            END IF;
            IF v_step.kind = 'custom' THEN
                PERFORM set_config('dwh.run_id', p_run_id::text, true),
                        set_config('dwh.batch_id', v_run.batch_id::text, true),
                        set_config('dwh.step', v_step.step_name, true);
            END IF;
            v_status := dwh_etl._run_step(p_run_id, v_step.step_name, v_step.procedure_name, v_run.run_date);
            PERFORM set_config('dwh.run_id', '', true),
                    set_config('dwh.batch_id', '', true),
                    set_config('dwh.step', '', true);
            SELECT to_jsonb(sr) INTO v_res
            FROM dwh_lineage.step_runs AS sr
            WHERE sr.run_id = p_run_id
              AND sr.step_name = v_step.step_name;
            v_results := v_results || jsonb_build_object(v_step.step_name, v_res);
            IF v_status = 'cancelled' THEN
                v_failed := v_step.step_name;
                RAISE EXCEPTION 'canceling statement due to user request' USING ERRCODE = 'query_canceled';
            ELSIF v_status <> 'completed' THEN
                v_failed := v_step.step_name;
                RAISE EXCEPTION 'step % failed: %', v_step.step_name, v_res->>'error_message' USING ERRCODE = 'DW003';
            END IF;
            RAISE NOTICE 'step % done: % rows read, % written in % ms',
                v_step.step_name, v_res->>'rows_read', v_res->>'rows_written', v_res->>'duration_ms';
        END LOOP;
        END LOOP;

        -- ---- what the tables hold now -----------------------------------------------------------------
        FOR v_t IN SELECT k FROM jsonb_object_keys(v_replaced) AS k LOOP
            v_rel := to_regclass(v_t);
            v_res := v_replaced->v_t;
            SELECT COALESCE(sum(tl.rows_inserted), 0), COALESCE(sum(tl.rows_updated), 0), COALESCE(sum(tl.rows_deleted), 0)
            INTO v_ins, v_upd, v_del
            FROM dwh_lineage.table_lineage AS tl
            WHERE tl.run_id = p_run_id
              AND tl.target_table = v_t;
            v_res := v_res || jsonb_build_object('rows_inserted', v_ins, 'rows_updated', v_upd, 'rows_removed_by_steps', v_del);
            IF v_rel IS NOT NULL AND p_mode = 'rebuild' THEN
                EXECUTE format('SELECT count(*) FROM %s', v_rel) INTO v_n;
                v_res := v_res || jsonb_build_object('rows_after', v_n);
            ELSIF v_rel IS NOT NULL AND v_res ? 'date_column' THEN
                EXECUTE format('SELECT count(*) FROM %s WHERE %I BETWEEN %L AND %L', v_rel,
                               v_res->>'date_column', v_res->>'from_key', v_res->>'to_key')
                INTO v_n;
                v_res := (v_res - 'date_column' - 'from_key' - 'to_key') || jsonb_build_object('rows_after', v_n);
            END IF;
            v_replaced := v_replaced || jsonb_build_object(v_t, v_res);
        END LOOP;
        PERFORM set_config('dwh.restate', '', true);
        RETURN jsonb_build_object('status', 'completed',
                                  'replaced', COALESCE((SELECT jsonb_agg(e.value ORDER BY e.value->>'table') FROM jsonb_each(v_replaced) AS e), '[]'::jsonb));
    EXCEPTION
        WHEN query_canceled THEN
            v_status := 'cancelled';
            GET STACKED DIAGNOSTICS v_message = MESSAGE_TEXT;
        WHEN OTHERS THEN
            v_status := 'failed';
            GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_message = MESSAGE_TEXT,
                                    v_detail = PG_EXCEPTION_DETAIL, v_hint = PG_EXCEPTION_HINT;
    END;

    -- Rolled back: nothing of the work stays. The step records say what happened.
    FOR v_res IN SELECT e.value FROM jsonb_each(v_results) AS e ORDER BY (e.value->>'step_order')::integer LOOP
        INSERT INTO dwh_lineage.step_runs (run_id, step_name, procedure_name, step_order, status, started_at, completed_at,
                                           duration_ms, rows_read, rows_written, sqlstate, error_message, error_detail,
                                           error_hint, error_context)
        SELECT p_run_id, r.step_name, r.procedure_name, r.step_order,
               CASE WHEN r.status = 'completed' THEN 'rolled_back' ELSE r.status END,
               COALESCE(r.started_at, clock_timestamp()), COALESCE(r.completed_at, clock_timestamp()),
               r.duration_ms, r.rows_read, r.rows_written, r.sqlstate,
               CASE WHEN r.status = 'completed'
                    THEN format('rolled back: the %s is one transaction and %s did not complete', p_mode, COALESCE(v_failed, 'it'))
                    ELSE r.error_message END,
               r.error_detail, r.error_hint, r.error_context
        FROM jsonb_to_record(v_res) AS r (step_name text, procedure_name text, step_order integer, status text,
                                          started_at timestamptz, completed_at timestamptz, duration_ms bigint,
                                          rows_read bigint, rows_written bigint, sqlstate text, error_message text,
                                          error_detail text, error_hint text, error_context text);
    END LOOP;
    IF v_failed IS NULL AND v_status = 'failed' THEN
        -- the work failed outside a step (e.g. a foreign key while emptying the targets)
        v_failed := '(before the steps)';
    END IF;
    RETURN jsonb_build_object('status', v_status, 'failed_step', v_failed,
                              'error', jsonb_strip_nulls(jsonb_build_object('sqlstate', v_state, 'message', v_message,
                                                                            'detail', v_detail, 'hint', v_hint)));
END;
$$;
COMMENT ON FUNCTION dwh_etl._restate_apply(bigint, text, text[], date, date, boolean) IS 'The work of dwh_etl.restate / dwh_etl.rebuild in one transaction (all or nothing): empties or narrows the targets, runs the steps with the restatement''s windows; on failure rolls everything back and records the steps. Returns {status, failed_step, error, replaced}.';
REVOKE EXECUTE ON FUNCTION dwh_etl._restate_apply(bigint, text, text[], date, date, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl._restate_apply(bigint, text, text[], date, date, boolean) TO etl_service;
