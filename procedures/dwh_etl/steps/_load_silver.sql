-- One silver load of a `silver` step (dwh_etl.step_silver documents the spec; p_load is one entry of
-- its "loads", with the step's top-level settings merged in, checked by the step): the bronze rows of the
-- window [watermark, safe upper bound) on _ingested_at, read from the load's source (the bronze table or
-- an area view over it), typed, validated, quarantined with every reason, deduplicated, then upserted
-- (latest state per key) or applied as SCD2 history (dwh_etl.apply_dimension), tombstones applied,
-- reconciled, logged, watermark advanced. Returns the rows written to silver (upserted, or the rows
-- staged for the dimension). Moved from devflow._load_silver and generalised to sales' three loaders.
-- Per-record lineage (issue 18): where silver has _source_bronze_id, each row or version written keeps
-- the _bronze_id of the bronze row it was typed from (dwh_lineage.trace_record walks back through it).
--
-- One bad row must never fail the step (issue 9). With "typing": "engine" every value is checked
-- against the silver column it goes to before the INSERT, so nothing the INSERT or a later step would
-- refuse gets through:
--   integer / smallint   in range (a PR number of 3000000000 passed try_bigint and overflowed integer)
--   numeric(p,s)         fits p digits, at most s decimals (never rounded silently)
--   timestamptz / date   ISO text; zone-less texts read in UTC (the typing query runs with TimeZone = the
--                        source zone, so a date is the date there); sane range: not before
--                        quality.min_event_date (1990-01-01), not later than quality.max_future (1 day)
--                        after the end of the run date (or now): dwh_etl.event_time_bounds
--   boolean, jsonb       true/t/false/f; valid JSON
--   text[]               a malformed literal is a reason, not an error
--   NOT NULL columns     present ("x is missing"); NOT NULL text and key texts not blank, whatever the space
--   key text columns     at most key_length_setting characters (default 500): they are indexed
-- Reasons quote at most 200 characters of a value (dwh_etl.quote_reason); the record key kept in the
-- quarantine is cut the same way (dwh_etl.quarantine_key), unless the source supplies _record_key.
-- With "typing": "source" the source view has typed the values itself and the checks give every reason
-- (sales' wording); the engine only adds "x is missing" for a NOT NULL column left NULL by a row no
-- check rejected, so the INSERT cannot fail on it.
-- With "reasons_column" (typing source), the view gives its own reasons as a text[] column (NULLs
-- ignored); the checks' reasons are added to them.
-- The checks (SQL expressions yielding a reason or NULL) see t (the typed row), b (the source row, with
-- any helper columns the view adds) and run (min_ts, max_ts: the sane event range; run_date;
-- max_key_length).
DROP FUNCTION IF EXISTS dwh_etl._load_silver(date, jsonb);
CREATE OR REPLACE FUNCTION dwh_etl._load_silver(
    p_run_date date,
    p_load     jsonb,
    p_run_id   bigint DEFAULT NULL
)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_target   text := p_load->>'target';
    v_bronze   text := p_load->>'bronze';
    v_rel      regclass := to_regclass(p_load->>'target');
    v_source   regclass := to_regclass(COALESCE(p_load->>'source', p_load->>'bronze'));
    v_scd2     boolean := COALESCE(p_load->>'mode', 'upsert') = 'scd2';
    v_engine   boolean := COALESCE(p_load->>'typing', 'engine') = 'engine';
    v_ts       text := p_load->>'ts_column';
    v_tomb     jsonb := p_load->'tombstones';
    v_checks   text[] := ARRAY(SELECT jsonb_array_elements_text(COALESCE(p_load->'checks', '[]'::jsonb)));
    v_unchanged text[] := ARRAY(SELECT jsonb_array_elements_text(COALESCE(p_load->'unchanged_columns', '[]'::jsonb)));
    -- upsert: rows of a key with the same change time are a tie, quarantined unless the same (attack 13e);
    -- "ties": "latest_delivery" where the change time is the delivery itself (the later delivery wins)
    v_ties     boolean := COALESCE(p_load->>'ties', 'quarantine') = 'quarantine';
    v_dim      dwh_etl.dimension_specs;
    v_key      text[];
    v_cols     text[];
    v_win      record;
    v_bounds   record := dwh_etl.event_time_bounds(p_run_date);
    v_zone     text := dwh_etl.setting_timezone(p_load->>'timezone_setting');
    v_key_max  integer := dwh_etl.get_setting(p_load->>'key_length_setting', '500')::integer;
    v_session  text := current_setting('TimeZone');
    v_nestloop text := current_setting('enable_nestloop');
    v_jit      text := current_setting('jit');
    v_batch    uuid := (dwh_etl.get_run_context(p_run_id)).batch_id;
    v_has_rk   boolean;
    v_typed    text;
    v_reasons  text;
    v_missing  text;
    v_parse    text;
    v_min_txt  text;
    v_max_txt  text;
    v_tkey     text;
    v_tmatch   text;
    v_read     bigint;
    v_bad      bigint;
    v_valid    bigint;
    v_accepted bigint;
    v_written  bigint;
    v_deleted  bigint := 0;
    v_ref_cap  timestamptz;   -- the watermarks of the silver tables this load validates against
    v_empty    boolean;
    v_prov     boolean;   -- silver keeps the bronze row of each row (_source_bronze_id, issue 18)
    v_revive   boolean := false;  -- tombstones weighed against the arrival of the window's rows (0049)
    v_skip     bigint[] := '{}'::bigint[];  -- the _bronze_id of the tombstones a later arrival of their key overrides
    v_arrival  boolean;           -- the bronze table keeps its rows' arrival at the source (0049)
    v_by_arrival boolean := false; -- upsert: versions ordered by arrival where both sides know it (attack 10)
    v_copy_r   text;              -- the bronze columns (not technical) of a row r / b: a copy of silver's state
    v_copy_b   text;
    v_back     text;              -- SQL: a copy of silver's state reached the source after the tombstone (attack 16)
    v_back_cte text;              -- SQL: the CTE "back" of those tombstones (one hash join, review 16)
    v_keytype  text;              -- the SQL type of the (one) key column
    v_keys     text[];
    v_force    bigint[] := '{}'::bigint[];  -- the _bronze_id of window rows that replace an older-arrived silver row
    v_tforce   bigint[] := '{}'::bigint[];  -- the _bronze_id of tombstones that arrived after the silver row they delete
    v_tskip    bigint[];          -- the _bronze_id of tombstones that arrived before silver's row
    v_block    bigint[] := '{}'::bigint[];  -- the _bronze_id of window rows older than the deletion of their key (attack 13e)
    v_deleted_on text;            -- SQL: the date a tombstone d deletes its key at, where arrivals are known
    v_keyeq    text;              -- SQL: t's key equals d's (the keys with several rows)
    v_keynull  text;              -- SQL: a part of t's key is NULL (silver's nullable key columns), or NULL
    v_nullkeys text[];            -- silver's nullable key columns
    v_cmp      text[];            -- upsert: the columns whose values make a different state (a tie's test)
    v_state    text[];            -- upsert: the columns of silver's states read back for the ties
    v_keyset   jsonb;             -- upsert: the window's keys, where the key has several columns
    v_lost     bigint := 0;       -- upsert: the window's latest rows that tie with silver's state (not written)
    v_tied     bigint := 0;       -- upsert: the rows of the window quarantined as ties (v_lost among them)
    v_sql      text;              -- upsert: the write
    v_keysql   text;              -- upsert: SQL, the keys of a set of rows (l), as an array or JSON (silver's states)
    v_readsql  text;              -- upsert: SQL, silver's states of those keys into a temporary table
    v_keyjoin  text;              -- upsert: SQL, a state c and a row l of the same key
    v_tie_read boolean := false;  -- upsert: the ties were found before the write (with the arrivals)
    v_tie_text text := 'another row of the same key and change time was loaded first';  -- a tie's reason
    v_tiekeys  text[] := '{}'::text[];   -- upsert: the records with a tie (this window's or an open entry)
    v_tieids   bigint[] := '{}'::bigint[];  -- upsert: the _bronze_id of those rows and entries
    v_held     bigint;            -- upsert: the entries whose record's last row is valid and later
    v_keep     bigint[] := '{}'::bigint[];  -- upsert: the _bronze_id of the tie entries a copy leaves open
    v_idx_add  text[] := '{}'::text[];  -- upsert, bulk path into an empty table: its secondary indexes, built after the write
    v_stmt     text;
BEGIN
    IF v_scd2 THEN
        SELECT * INTO v_dim FROM dwh_etl.dimension_specs AS d WHERE d.dimension_name = p_load->>'dimension';
        v_key  := v_dim.natural_key;
        v_cols := v_dim.natural_key || v_dim.type2_columns || v_dim.type1_columns;
    ELSE
        v_key  := ARRAY(SELECT jsonb_array_elements_text(p_load->'key'));
        -- every silver column but the technical ones and the deletion flag (the engine's to set)
        SELECT array_agg(a.attname::text ORDER BY a.attnum) INTO v_cols
        FROM pg_catalog.pg_attribute AS a
        WHERE a.attrelid = v_rel AND a.attnum > 0 AND NOT a.attisdropped AND a.attname !~ '^_'
          AND a.attname IS DISTINCT FROM v_tomb->>'flag';
    END IF;
    -- the change time is typed like a column (a timestamptz when silver has no such column)
    IF NOT v_ts = ANY (v_cols) THEN
        v_cols := v_cols || v_ts;
    END IF;
    -- Reference data first (attack 9b): rows validated against other silver tables (sales' lines
    -- against silver.sales_customers and sales_products: "unknown customer_id") are read only up to
    -- where those tables' own loads have read (their watermarks, while rows wait for them). Each load's
    -- window stops at the start of the oldest open transaction when it runs: when one ended between the
    -- customers' load and the sales' load of a run (any session's query, a concurrent maintenance run),
    -- the customers' window had stopped before the extraction and the sales' had not, and every new sale
    -- was quarantined as an unknown customer, for good. The silver tables the step declares as sources, other than its own
    -- target, whose loads have rows waiting (dwh_etl._silver_pending_since); NULL: no cap. Read under
    -- the step's lock (window_bounds takes it again): a run that waited for the other pipeline's load of
    -- this table (daily and incremental share it) sees the references as that load left them, not a cap
    -- computed before the wait (race 16, as dwh_etl.step_fact does for its dimensions).
    PERFORM dwh_etl.lock_step(v_target);
    SELECT min(dwh_etl._silver_pending_since(src.table_name))
    INTO v_ref_cap
    FROM dwh_etl.get_run_context(p_run_id) AS ctx
    JOIN dwh_etl.steps AS st
      ON st.pipeline_name = ctx.pipeline_name
     AND st.step_name = ctx.step_name
    CROSS JOIN LATERAL unnest(st.source_tables) AS src (table_name)
    JOIN dwh_etl.table_registry AS tr
      ON tr.table_name = src.table_name
     AND tr.layer = 'silver'
    WHERE src.table_name <> v_target;
    v_win := dwh_etl.window_bounds(v_target, v_ref_cap);
    -- Attack 13c: wait here, in a statement of its own, for whatever holds a child of the tables this
    -- load reads (LOCK TABLE recurses to the inheritance children): compaction
    -- (dwh_etl.sec_compact_file_load) moves a file load's child into a month partition and drops it in
    -- one transaction. A PL/pgSQL statement takes its snapshot before it locks the relations it reads, so
    -- the reading statement below, had it waited for that DROP itself, read with a snapshot older than
    -- the move: the child gone, its rows in the month partition not yet visible; the window's rows of
    -- that load were read by no run (silver's watermark passed them). After this wait every statement
    -- below sees the move committed; a compaction that starts later waits for this step (its DROP
    -- needs the child this lock holds).
    EXECUTE format('LOCK TABLE %s IN ACCESS SHARE MODE', v_source);
    IF to_regclass(v_bronze) IS NOT NULL AND to_regclass(v_bronze) IS DISTINCT FROM v_source THEN
        EXECUTE format('LOCK TABLE %s IN ACCESS SHARE MODE', to_regclass(v_bronze));
    END IF;
    IF to_regclass(v_tomb->>'table') IS NOT NULL THEN
        EXECUTE format('LOCK TABLE %s IN ACCESS SHARE MODE', to_regclass(v_tomb->>'table'));
    END IF;
    -- per-record lineage: written where the silver table has the column (migration 0041)
    SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute AS a
                   WHERE a.attrelid = v_rel AND a.attname = '_source_bronze_id' AND NOT a.attisdropped)
    INTO v_prov;
    SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute AS a
                   WHERE a.attrelid = v_source AND a.attname = '_record_key' AND NOT a.attisdropped)
    INTO v_has_rk;

    -- ISO UTC texts, whatever the session's DateStyle (they are parsed back in the typing query)
    v_min_txt := to_char(v_bounds.min_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');
    v_max_txt := to_char(v_bounds.max_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');
    WITH cols AS (
        -- the loaded columns, typed after silver's column of the same name
        SELECT u.name::name AS attname, u.ord AS attnum,
               COALESCE(a.atttypid, 'timestamptz'::regtype::oid) AS atttypid,
               COALESCE(a.atttypmod, -1) AS atttypmod,
               COALESCE(a.attnotnull, true) AS attnotnull
        FROM unnest(v_cols) WITH ORDINALITY AS u (name, ord)
        LEFT JOIN pg_catalog.pg_attribute AS a
          ON a.attrelid = v_rel
         AND a.attname = u.name
         AND a.attnum > 0
         AND NOT a.attisdropped
    )
    SELECT string_agg(format('%s AS %I', CASE WHEN v_engine THEN c.typed ELSE format('b.%I', c.attname) END, c.attname),
                      ', ' ORDER BY c.attnum),
           string_agg(concat_ws(', ',
               -- the value does not parse, or does not fit the column
               format('CASE WHEN b.%1$I IS NOT NULL AND t.%1$I IS NULL THEN %2$s %3$s END',
                      c.attname, c.bad,
                      CASE WHEN c.attnotnull THEN format('WHEN t.%I IS NULL THEN %L', c.attname, c.attname || ' is missing') ELSE '' END),
               -- instants outside the sane range
               CASE WHEN c.atttypid IN ('timestamptz'::regtype, 'date'::regtype) THEN
                   format('CASE WHEN t.%1$I < %2$L::timestamptz OR t.%1$I > %3$L::timestamptz THEN %4$L || dwh_etl.quote_reason(b.%1$I) || %5$L END',
                          c.attname, v_min_txt, v_max_txt, c.attname || ' ',
                          format(' is outside the sane range [%s, %s] (settings quality.min_event_date, quality.max_future)',
                                 to_char(v_bounds.min_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI"Z"'),
                                 to_char(v_bounds.max_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI"Z"')))
               END,
               -- blank keys and blank required texts
               CASE WHEN c.atttypid = 'text'::regtype AND (c.attnotnull OR c.attname = ANY (v_key)) THEN
                   format('CASE WHEN dwh_etl.is_blank(t.%1$I) THEN %2$L END', c.attname, c.attname || ' is blank')
               END,
               -- keys are indexed: bounded
               CASE WHEN c.atttypid = 'text'::regtype AND c.attname = ANY (v_key) THEN
                   format('dwh_etl.reason_length(%L, t.%I, %s)', c.attname, c.attname, v_key_max)
               END), ', ' ORDER BY c.attnum),
           string_agg(CASE WHEN c.attnotnull THEN format('CASE WHEN t.%I IS NULL THEN %L END', c.attname, c.attname || ' is missing') END,
                      ', ' ORDER BY c.attnum),
           COALESCE(string_agg(c.parse, ', ' ORDER BY c.attnum), 'NULL AS _none')
    INTO v_typed, v_reasons, v_missing, v_parse
    FROM (
        SELECT a.attname, a.attnum, a.atttypid, a.attnotnull,
               CASE
                   WHEN a.atttypid IN ('integer'::regtype, 'smallint'::regtype)
                       THEN format('CASE WHEN p.%1$I BETWEEN %2$s AND %3$s THEN p.%1$I END',
                                   a.attname, r.lo, r.hi)
                   WHEN a.atttypid = 'bigint'::regtype
                       THEN format('p.%I', a.attname)
                   WHEN a.atttypid = 'numeric'::regtype AND a.atttypmod >= 4
                       THEN format('CASE WHEN p.%1$I = round(p.%1$I, %2$s) '
                                   'AND abs(p.%1$I) < 1e%3$s THEN p.%1$I END',
                                   a.attname, n.scale, n.prec - n.scale)
                   WHEN a.atttypid = 'numeric'::regtype
                       THEN format('p.%I', a.attname)
                   WHEN a.atttypid = 'timestamptz'::regtype
                       THEN format('dwh_etl.try_timestamptz(b.%I)', a.attname)
                   WHEN a.atttypid = 'date'::regtype
                       THEN format('dwh_etl.try_timestamptz(b.%I)::date', a.attname)
                   WHEN a.atttypid = 'boolean'::regtype
                       THEN format('CASE lower(btrim(b.%1$I)) WHEN ''true'' THEN true WHEN ''t'' THEN true WHEN ''false'' THEN false WHEN ''f'' THEN false END', a.attname)
                   WHEN a.atttypid = 'text[]'::regtype
                       THEN format('dwh_etl.try_text_array(b.%I)', a.attname)
                   WHEN a.atttypid = 'jsonb'::regtype
                       THEN format('dwh_etl.try_jsonb(b.%I)', a.attname)
                   ELSE format('b.%I', a.attname)
               END AS typed,
               -- each number parsed once (p, below): the checks above read it three times, and
               -- try_numeric costs ~3 us (63 calls per metric sample made the typing 5x slower)
               CASE
                   WHEN a.atttypid IN ('integer'::regtype, 'smallint'::regtype, 'bigint'::regtype)
                       THEN format('dwh_etl.try_bigint(b.%1$I) AS %1$I', a.attname)
                   WHEN a.atttypid = 'numeric'::regtype
                       THEN format('dwh_etl.try_numeric(b.%1$I) AS %1$I', a.attname)
               END AS parse,
               CASE
                   WHEN a.atttypid IN ('integer'::regtype, 'smallint'::regtype, 'bigint'::regtype)
                       THEN format('CASE WHEN b.%1$I ~ ''^\s*[+-]?\d+\s*$'' OR dwh_etl.try_bigint(b.%1$I) IS NOT NULL '
                                   'THEN %2$L || dwh_etl.quote_reason(b.%1$I) || %3$L ELSE %2$L || dwh_etl.quote_reason(b.%1$I) || %4$L END',
                                   a.attname, a.attname || ' ', ' is out of range for ' || format_type(a.atttypid, NULL),
                                   ' is not a valid ' || format_type(a.atttypid, NULL))
                   WHEN a.atttypid = 'numeric'::regtype AND a.atttypmod >= 4
                       THEN format('CASE WHEN dwh_etl.try_numeric(b.%1$I) IS NULL THEN %2$L || dwh_etl.quote_reason(b.%1$I) || %3$L '
                                   'WHEN dwh_etl.try_numeric(b.%1$I) <> round(dwh_etl.try_numeric(b.%1$I), %4$s) THEN %2$L || dwh_etl.quote_reason(b.%1$I) || %5$L '
                                   'ELSE %2$L || dwh_etl.quote_reason(b.%1$I) || %6$L END',
                                   a.attname, a.attname || ' ', ' is not a valid number', n.scale,
                                   format(' has more than %s decimal places (%s; not rounded)', n.scale, format_type(a.atttypid, a.atttypmod)),
                                   ' is out of range for ' || format_type(a.atttypid, a.atttypmod))
                   ELSE format('%L || dwh_etl.quote_reason(b.%I) || %L', a.attname || ' ', a.attname, ' is not a valid ' || format_type(a.atttypid, NULL))
               END AS bad
        FROM cols AS a
        CROSS JOIN LATERAL (SELECT CASE a.atttypid WHEN 'smallint'::regtype THEN -32768 ELSE -2147483648 END AS lo,
                                   CASE a.atttypid WHEN 'smallint'::regtype THEN 32767 ELSE 2147483647 END AS hi) AS r
        CROSS JOIN LATERAL (SELECT ((a.atttypmod - 4) >> 16) & 65535 AS prec, (a.atttypmod - 4) & 65535 AS scale) AS n
    ) AS c;

    PERFORM 'PRAGMA:TABLE: _silver_typed (_bronze_id bigint, _record_key text, _reasons text[])';
    IF to_regclass('pg_temp._silver_typed') IS NOT NULL THEN DROP TABLE pg_temp._silver_typed; END IF;
    -- The typing runs with TimeZone = the source's zone (a timestamptz::date is the date there; a view
    -- reads zone-less texts in current_setting('TimeZone')), restored right after (and by the rollback
    -- if the step fails): never the session's zone (under PGTZ=America/New_York values were five hours off).
    PERFORM set_config('TimeZone', v_zone, true);
    -- no JIT: the generated expressions take tens of seconds to compile (65 s for 24k metric samples)
    -- and a fraction of a second to run
    PERFORM set_config('jit', 'off', true);
    IF v_engine THEN
        -- No nested loop for the join of the typed rows back to their bronze rows: the window is the
        -- newest rows of bronze, past its statistics (a next day's few thousand rows are no reason to
        -- ANALYZE), so both sides are estimated at one row and the planner joined them by a nested loop
        -- over the window's index, each typed row scanning the whole window (devflow metric samples, a
        -- next day at scale 1: 3,456 rows, 5.97M rows filtered, 961 ms; a hash join: tens of ms).
        -- The lateral p and the one-row run still nest (nothing else can join them). Restored below.
        PERFORM set_config('enable_nestloop', 'off', true);
        EXECUTE format($q$
            CREATE TEMP TABLE _silver_typed ON COMMIT DROP AS
            WITH typed AS MATERIALIZED (
                SELECT b._bronze_id, %1$s
                FROM %2$s AS b
                -- OFFSET 0 keeps p a subquery of its own, evaluated once per row (pulled up, each p.x
                -- would become its parse expression again)
                CROSS JOIN LATERAL (SELECT %5$s OFFSET 0) AS p
                WHERE b._ingested_at >= $1 AND b._ingested_at < $2
            )
            SELECT t.*,
                   %3$s AS _record_key,
                   dwh_etl.reasons(VARIADIC ARRAY[%4$s]::text[]) AS _reasons
            FROM typed AS t
            JOIN %2$s AS b
              ON b._bronze_id = t._bronze_id
             -- the window again: a file load's child outside it is excluded by its CHECK, and the
             -- one inside is joined by hash (file children have no index on _bronze_id)
             AND b._ingested_at >= $1 AND b._ingested_at < $2
            CROSS JOIN (SELECT $3::timestamptz AS min_ts, $4::timestamptz AS max_ts, $5::date AS run_date,
                               $6::integer AS max_key_length) AS run
            $q$,
            v_typed, v_source,
            CASE WHEN v_has_rk THEN 'b._record_key'
                 ELSE format('dwh_etl.quarantine_key(concat_ws(''/'', %s))', dwh_etl._col_list(v_key, 'b')) END,
            concat_ws(', ', v_reasons, NULLIF(array_to_string(v_checks, ', '), '')),
            v_parse)
        USING v_win.from_ts, v_win.to_ts, v_bounds.min_ts, v_bounds.max_ts, p_run_date, v_key_max;
    ELSE
        -- the source view typed the values: t and b are the same row (the view's helper columns in b)
        EXECUTE format($q$
            CREATE TEMP TABLE _silver_typed ON COMMIT DROP AS
            WITH src AS MATERIALIZED (
                SELECT s.* FROM %2$s AS s WHERE s._ingested_at >= $1 AND s._ingested_at < $2
            )
            SELECT b._bronze_id, %1$s,
                   %3$s AS _record_key,
                   COALESCE(NULLIF(%6$sdwh_etl.reasons(VARIADIC ARRAY[%4$s]::text[]), '{}'),
                            dwh_etl.reasons(VARIADIC ARRAY[%5$s]::text[])) AS _reasons
            FROM src AS b
            CROSS JOIN LATERAL (SELECT b.*) AS t
            CROSS JOIN (SELECT $3::timestamptz AS min_ts, $4::timestamptz AS max_ts, $5::date AS run_date,
                               $6::integer AS max_key_length) AS run
            $q$,
            v_typed, v_source,
            CASE WHEN v_has_rk THEN 'b._record_key'
                 ELSE format('dwh_etl.quarantine_key(concat_ws(''/'', %s))', dwh_etl._col_list(v_key, 'b')) END,
            COALESCE(NULLIF(array_to_string(v_checks, ', '), ''), 'NULL'),
            COALESCE(v_missing, 'NULL'),
            -- the view's own reasons (a text[] column) come first, then the checks'
            CASE WHEN p_load ? 'reasons_column' THEN format('dwh_etl.reasons(VARIADIC b.%I) || ', p_load->>'reasons_column') ELSE '' END)
        USING v_win.from_ts, v_win.to_ts, v_bounds.min_ts, v_bounds.max_ts, p_run_date, v_key_max;
    END IF;
    GET DIAGNOSTICS v_read = ROW_COUNT;
    PERFORM set_config('TimeZone', v_session, true);
    PERFORM set_config('enable_nestloop', v_nestloop, true);

    -- The upsert quarantines its bad rows below, with the ties found once silver has been written (a
    -- tie is quarantined like a bad row: one entry per fingerprint, the file and line in its reasons;
    -- quarantined here, the tie's own delivery, still valid, would supersede its open entry).
    IF v_scd2 THEN
        PERFORM dwh_etl.quarantine_rows('_silver_typed', v_bronze, v_target, p_run_id => p_run_id);
    END IF;
    -- every rejected row counts (quarantine_rows returns entries: two identical bad rows are one entry)
    SELECT count(*) FILTER (WHERE cardinality(t._reasons) > 0), count(*) FILTER (WHERE cardinality(t._reasons) = 0)
    INTO v_bad, v_valid
    FROM _silver_typed AS t;

    IF v_tomb IS NOT NULL THEN
        -- the tombstone's key typed like silver's key column; the rows of the tombstone table that are this target's
        SELECT CASE WHEN a.atttypid IN ('integer'::regtype, 'smallint'::regtype, 'bigint'::regtype) THEN format('dwh_etl.try_bigint(d.%I)', v_tomb->>'key')
                    WHEN a.atttypid = 'numeric'::regtype THEN format('dwh_etl.try_numeric(d.%I)', v_tomb->>'key')
                    ELSE format('d.%I', v_tomb->>'key') END
        INTO v_tkey
        FROM pg_catalog.pg_attribute AS a
        WHERE a.attrelid = v_rel AND a.attname = v_key[1];
        SELECT COALESCE(string_agg(format(' AND d.%I = %L', m.key, m.value), '' ORDER BY m.key), '')
        INTO v_tmatch
        FROM jsonb_each_text(COALESCE(v_tomb->'match', '{}'::jsonb)) AS m;
        -- tombstones this load cannot apply are quarantined with the reason, never applied (the statements
        -- below skip them): a deletion time that is no date-time (it was skipped silently), or one after
        -- the run's plausible range (event_time_bounds, as silver's own times): a deletion dated in the
        -- future, forged or mistyped, closed the key's current version for good while the source still
        -- held it. Every delivery of the window counts one more delivery of the open entry (as quarantine_rows).
        EXECUTE format($q$
            INSERT INTO dwh_etl.quarantine AS q (target_table, source_table, record_key, payload, reasons, run_id, batch_id, deliveries)
            SELECT DISTINCT ON (x.fp) $4, $5, x.k, x.payload, ARRAY[x.reason], $6, $7, count(*) OVER (PARTITION BY x.fp)
            FROM (SELECT d.%2$I::text AS k, to_jsonb(d) AS payload,
                         CASE WHEN dwh_etl.try_timestamptz(d.%3$I, $3) IS NULL
                              THEN format('%3$s %%s is not a date-time: the deletion is not applied', quote_nullable(d.%3$I))
                              ELSE format('%3$s %%s is after %%s, the latest plausible time of this run: the deletion is not applied',
                                          d.%3$I, $8) END AS reason,
                         dwh_etl.quarantine_fingerprint($4, d.%2$I::text, to_jsonb(d)) AS fp,
                         d._bronze_id
                  FROM %1$s AS d
                  WHERE d._ingested_at >= $1
                    AND d._ingested_at < $2%4$s
                    AND (dwh_etl.try_timestamptz(d.%3$I, $3) IS NULL
                         OR dwh_etl.try_timestamptz(d.%3$I, $3) > $9)) AS x
            ORDER BY x.fp, x._bronze_id DESC
            ON CONFLICT (fingerprint) WHERE resolved_at IS NULL DO UPDATE
            SET deliveries        = q.deliveries + EXCLUDED.deliveries,
                last_delivered_at = now(),
                run_id            = EXCLUDED.run_id,
                batch_id          = EXCLUDED.batch_id
            $q$, to_regclass(v_tomb->>'table'), v_tomb->>'key', v_tomb->>'deleted_at', v_tmatch)
        USING v_win.from_ts, v_win.to_ts, v_zone, v_target, v_tomb->>'table', p_run_id, v_batch, v_max_txt, v_bounds.max_ts;
        -- a key whose tombstone this load can apply (a rebuild re-reading it once the range allows it, a
        -- corrected redelivery) closes the open entries of its refused tombstones
        EXECUTE format($q$
            UPDATE dwh_etl.quarantine AS q
            SET resolved_at = now(),
                resolution  = format('superseded: a tombstone of the record within the plausible range was read in run %%s', $6)
            WHERE q.target_table = $4
              AND q.source_table = $5
              AND q.resolved_at IS NULL
              AND q.record_key IN (SELECT d.%2$I::text
                                   FROM %1$s AS d
                                   WHERE d._ingested_at >= $1
                                     AND d._ingested_at < $2%4$s
                                     AND dwh_etl.try_timestamptz(d.%3$I, $3) <= $7)
            $q$, to_regclass(v_tomb->>'table'), v_tomb->>'key', v_tomb->>'deleted_at', v_tmatch)
        USING v_win.from_ts, v_win.to_ts, v_zone, v_target, v_tomb->>'table', COALESCE(p_run_id::text, 'outside a run'), v_bounds.max_ts;

        -- A record deleted and re-inserted (a restore, a re-sync: its old updated_at) before this run
        -- reaches this window as a tombstone and a row whose change time is not after the deletion: by
        -- the times alone the tombstone wins and the record was deleted while the source held it (attack
        -- 9a). Where both bronze tables know when their rows arrived at the source (_source_arrived_at,
        -- migration 0049), such a tombstone is not applied when the window holds a valid row of its key
        -- that arrived after it (v_skip: their _bronze_id). A re-insert with a later change time needs
        -- nothing: it is newer, and a dimension's history keeps the deletion between the two versions.
        -- Only keys with a tombstone of this window are looked up in bronze (one pass over the typed
        -- rows); the ids, not a temporary table, reach the statements below (Citus: a distributed UPDATE
        -- cannot read a temporary table).
        v_revive := EXISTS (SELECT 1 FROM pg_catalog.pg_attribute AS a
                            WHERE a.attrelid = to_regclass(v_tomb->>'table') AND a.attname = '_source_arrived_at' AND NOT a.attisdropped)
                    AND EXISTS (SELECT 1 FROM pg_catalog.pg_attribute AS a
                                WHERE a.attrelid = to_regclass(v_bronze) AND a.attname = '_source_arrived_at' AND NOT a.attisdropped);
        IF v_revive THEN
            -- the valid rows of the keys with a tombstone (usually none or a few): by hash, whatever
            -- the estimates (the window is past the statistics: both sides were estimated at one row and
            -- a nested loop re-scanned the typed rows for every row of the window, 826 ms for 2,744
            -- sales lines); then each of them finds its bronze row by its id
            PERFORM set_config('enable_nestloop', 'off', true);
            IF to_regclass('pg_temp._silver_back') IS NOT NULL THEN DROP TABLE pg_temp._silver_back; END IF;
            EXECUTE format($q$
                CREATE TEMP TABLE _silver_back ON COMMIT DROP AS
                SELECT t._bronze_id, t.%1$I AS _key, t.%2$I AS _ts
                FROM _silver_typed AS t
                WHERE cardinality(t._reasons) = 0
                  AND t.%1$I IN (SELECT %4$s
                                 FROM %3$s AS d
                                 WHERE d._ingested_at >= $1
                                   AND d._ingested_at < $2%5$s
                                   AND d._source_arrived_at IS NOT NULL)
                $q$, v_key[1], v_ts, to_regclass(v_tomb->>'table'), v_tkey, v_tmatch)
            USING v_win.from_ts, v_win.to_ts;
            PERFORM set_config('enable_nestloop', v_nestloop, true);
            EXECUTE format($q$
                SELECT COALESCE(array_agg(d._bronze_id ORDER BY d._bronze_id), '{}')
                FROM (SELECT d._bronze_id, %4$s AS _key, d._source_arrived_at AS _arrived,
                             dwh_etl.try_timestamptz(d.%6$I, $3) AS _deleted_at
                      FROM %3$s AS d
                      WHERE d._ingested_at >= $1
                        AND d._ingested_at < $2%5$s
                        AND d._source_arrived_at IS NOT NULL) AS d
                WHERE EXISTS (SELECT 1
                              FROM _silver_back AS c
                              JOIN %2$s AS b ON b._bronze_id = c._bronze_id
                              WHERE c._key = d._key
                                AND c._ts <= d._deleted_at
                                AND b._source_arrived_at > d._arrived)
                $q$, NULL, to_regclass(v_bronze), to_regclass(v_tomb->>'table'), v_tkey, v_tmatch, v_tomb->>'deleted_at')
            INTO v_skip
            USING v_win.from_ts, v_win.to_ts, v_zone;
            DROP TABLE _silver_back;
        END IF;
    END IF;

    IF v_scd2 THEN
        -- one version per key and change time: the others are duplicates apply_dimension collapses
        EXECUTE format('SELECT count(*) FROM (SELECT DISTINCT %s, t.%I FROM _silver_typed AS t WHERE cardinality(t._reasons) = 0) AS d',
                       dwh_etl._col_list(v_key, 't'), v_ts)
        INTO v_accepted;
        PERFORM dwh_etl.reconcile(
            p_target      => v_target,
            p_source      => v_bronze,
            p_read        => v_read,
            p_accepted    => v_accepted,
            p_quarantined => v_bad,
            p_duplicates  => v_valid - v_accepted,
            p_run_id      => p_run_id);

        -- Valid rows plus tombstones; a tombstone carries the key's current values (a deletion marker
        -- keeps the last known attributes) or, when the key has no current row yet, the values of its
        -- latest valid row of this batch before the deletion (a first load or a rebuild reads the rows
        -- and the tombstone together); it is dropped when the key is known neither way.
        -- The date a tombstone d of the window deletes its key at (where bronze knows arrivals): its
        -- deleted_at, or just after the start of the key's version that arrived before it when that starts
        -- later (the current version in silver, a valid row of the window): read by the stage below and by
        -- the dating of rows that came back after it.
        IF v_tomb IS NOT NULL AND v_revive AND v_prov THEN
            v_deleted_on := format(
                'GREATEST(dwh_etl.try_timestamptz(d.%1$I, $3),
                          (SELECT max(x._from) + interval ''1 microsecond''
                           FROM (SELECT cv.valid_from AS _from
                                 FROM %2$s AS cv
                                 JOIN %3$s AS bv ON bv._bronze_id = cv._source_bronze_id
                                 WHERE cv.%4$I = %5$s
                                   AND cv.is_current
                                   AND bv._source_arrived_at < d._source_arrived_at
                                 UNION ALL
                                 SELECT t3.%6$I
                                 FROM _silver_typed AS t3
                                 JOIN %3$s AS b3
                                   ON b3._bronze_id = t3._bronze_id
                                  AND b3._ingested_at >= $1 AND b3._ingested_at < $2
                                 WHERE cardinality(t3._reasons) = 0
                                   AND t3.%4$I = %5$s
                                   AND b3._source_arrived_at < d._source_arrived_at) AS x))',
                v_tomb->>'deleted_at', v_rel, to_regclass(v_bronze), v_key[1], v_tkey, v_ts);
        END IF;
        IF to_regclass('pg_temp._silver_stage') IS NOT NULL THEN DROP TABLE pg_temp._silver_stage; END IF;
        EXECUTE format($q$
            CREATE TEMP TABLE _silver_stage ON COMMIT DROP AS
            SELECT %1$s%2$s%3$s%5$s
            FROM _silver_typed AS t
            WHERE cardinality(t._reasons) = 0
            %4$s
            $q$,
            dwh_etl._col_list(v_dim.natural_key || v_dim.type2_columns || v_dim.type1_columns, 't'),
            CASE WHEN v_dim.change_ts_column IS NOT NULL THEN format(', t.%I AS %I', v_ts, v_dim.change_ts_column) ELSE '' END,
            CASE WHEN v_dim.deleted_flag_column IS NOT NULL THEN format(', false AS %I', v_dim.deleted_flag_column) ELSE '' END,
            CASE WHEN v_tomb IS NOT NULL THEN format(
                'UNION ALL
                 SELECT %1$s%2$s, true%12$s
                 FROM %3$s AS d
                 JOIN LATERAL (
                     SELECT x.*
                     FROM (SELECT %8$s, 0 AS _pref, NULL::timestamptz AS _ts
                           FROM %4$s AS c
                           WHERE c.%5$I = %6$s
                             AND c.is_current
                           UNION ALL
                           SELECT %9$s, 1, t2.%10$I
                           FROM _silver_typed AS t2
                           WHERE cardinality(t2._reasons) = 0
                             AND t2.%5$I = %6$s
                             AND t2.%10$I <= dwh_etl.try_timestamptz(d.%11$I, $3)) AS x
                     ORDER BY x._pref, x._ts DESC
                     LIMIT 1) AS c
                   ON true
                 WHERE d._ingested_at >= $1
                   AND d._ingested_at < $2%7$s
                   AND dwh_etl.try_timestamptz(d.%11$I, $3) <= $4%13$s',
                dwh_etl._col_list(v_dim.natural_key || v_dim.type2_columns || v_dim.type1_columns, 'c'),
                CASE WHEN v_dim.change_ts_column IS NULL THEN ''
                     -- A deletion that arrived at the source after the row of the key's current version
                     -- (or after a valid row of the window) is dated just after that version's start at
                     -- the earliest (attack 10): a customer whose updated_at a writer's clock put an hour
                     -- ahead, deleted a minute later, was a late deletion (dated before its current
                     -- version), not applied, and the customer stayed current for good.
                     WHEN v_revive AND v_prov THEN ', ' || v_deleted_on
                     ELSE format(', dwh_etl.try_timestamptz(d.%I, $3)', v_tomb->>'deleted_at') END,
                to_regclass(v_tomb->>'table'), v_rel, v_key[1], v_tkey, v_tmatch,
                dwh_etl._col_list(v_dim.natural_key || v_dim.type2_columns || v_dim.type1_columns, 'c'),
                dwh_etl._col_list(v_dim.natural_key || v_dim.type2_columns || v_dim.type1_columns, 't2'),
                v_ts, v_tomb->>'deleted_at',
                -- a deletion marker comes from the tombstone table: no bronze row of this load
                CASE WHEN v_prov THEN ', NULL::bigint' ELSE '' END,
                -- not when the key came back after it (v_skip)
                CASE WHEN cardinality(v_skip) > 0 THEN format(' AND d._bronze_id <> ALL (%L::bigint[])', v_skip) ELSE '' END)
            ELSE '' END,
            CASE WHEN v_prov THEN ', t._bronze_id AS _source_bronze_id' ELSE '' END)
        USING v_win.from_ts, v_win.to_ts, v_zone, v_bounds.max_ts;
        GET DIAGNOSTICS v_written = ROW_COUNT;

        -- A row that came back after deletions of its key (a restore from a backup, with its old
        -- updated_at) starts its version just after the latest of them: the tombstones of the key that
        -- arrived at the source before the row (bronze's _source_arrived_at, 0049; any window) and are
        -- not dated after its arrival. By its updated_at alone it was a late change placed inside the
        -- history before the deletion: a customer renamed, deleted and restored from a backup kept the
        -- new name as its current version (attack 10).
        IF v_tomb IS NOT NULL AND v_revive AND v_prov AND v_dim.change_ts_column IS NOT NULL THEN
            EXECUTE format($q$
                UPDATE _silver_stage AS st
                SET %1$I = x._after
                FROM (SELECT st2._source_bronze_id,
                             -- the deletion's date as staged above: its deleted_at, or just after the
                             -- version that arrived before it when that starts later (a change time
                             -- stamped ahead, deleted, then re-inserted with the real time: the re-insert
                             -- fell before the deletion marker, which stayed current; attack 10)
                             max(%8$s) + interval '1 microsecond' AS _after
                      FROM _silver_stage AS st2
                      JOIN %3$s AS b
                        ON b._bronze_id = st2._source_bronze_id
                       AND b._ingested_at >= $1 AND b._ingested_at < $2
                      JOIN %4$s AS d
                        ON %5$s = st2.%6$I
                       AND d._source_arrived_at < b._source_arrived_at%7$s
                      WHERE st2._source_bronze_id IS NOT NULL
                        AND dwh_etl.try_timestamptz(d.%2$I, $3) <= b._source_arrived_at
                      GROUP BY st2._source_bronze_id) AS x
                WHERE st._source_bronze_id = x._source_bronze_id
                  AND x._after > st.%1$I
                $q$, v_dim.change_ts_column, v_tomb->>'deleted_at', to_regclass(v_bronze), to_regclass(v_tomb->>'table'),
                v_tkey, v_key[1], v_tmatch, v_deleted_on)
            USING v_win.from_ts, v_win.to_ts, v_zone;
        END IF;

        PERFORM dwh_etl.apply_dimension(v_dim.dimension_name, '_silver_stage', p_lineage_source => v_bronze, p_run_id => p_run_id);
        PERFORM dwh_lineage.log_transformation(
            in_source_table  => v_bronze,
            in_target_table  => v_target,
            in_batch_id      => NULL,
            in_rows_rejected => v_bad,
            in_notes         => format('%s bronze rows: %s valid, %s quarantined', v_read, v_read - v_bad, v_bad),
            in_run_id        => p_run_id);
        DROP TABLE _silver_stage;
    ELSE
        -- Latest state per key in the window (a record changed twice between runs arrives twice). Where
        -- bronze knows when each row arrived at the source (_source_arrived_at, 0049) and every valid row
        -- of the key does, the last to arrive is the source's state, whatever its change time says
        -- (attack 10): a record deleted and restored from a backup taken before its last change (its old
        -- updated_at) is the restored row, not the deleted version with the later updated_at; a change
        -- time a writer's clock put in the future does not outrank the rows written after it. Otherwise
        -- (a file load, change events: no arrival) the change time decides. Rows of one key with the
        -- same change time (and arrival) are a tie: the first delivered (the lowest _bronze_id) is kept,
        -- and the others of the tie whose values differ are quarantined once silver is written (below;
        -- those with the same values are duplicates): two deliveries that disagree about one state are
        -- not decided silently by their order of arrival (attack 13e; apply_dimension likewise keeps the
        -- version recorded first). Where the change time is the delivery itself ("ties":
        -- "latest_delivery": citizen events, devflow metric samples), the later delivery is the later
        -- version and wins, as before.
        v_arrival := EXISTS (SELECT 1 FROM pg_catalog.pg_attribute AS a
                             WHERE a.attrelid = to_regclass(v_bronze) AND a.attname = '_source_arrived_at' AND NOT a.attisdropped);
        EXECUTE format('SELECT NOT EXISTS (SELECT 1 FROM %s)', v_rel) INTO v_empty;
        IF to_regclass('pg_temp._silver_latest') IS NOT NULL THEN DROP TABLE pg_temp._silver_latest; END IF;
        -- a hash join of the typed rows to the window's bronze rows (file children have no index on _bronze_id)
        PERFORM set_config('enable_nestloop', 'off', true);
        -- Only the keys with more than one valid row are sorted (issue 15: sorting the whole window by
        -- key, arrival and change time, joined to bronze for the arrival, was 0.9 s of a first load of
        -- 300k sales lines, spilled to disk). A key's only row is its latest whatever its arrival; the
        -- arrival is read only where rows are compared with each other (the duplicates) or with
        -- silver's (a non-empty target, below).
        -- A key with a NULL part (a nullable key column: UNIQUE NULLS NOT DISTINCT) is matched by no
        -- equality: its rows are sorted whatever their number, as DISTINCT ON groups them (two rows of
        -- (1, NULL) passed through as two keys' only rows and the INSERT failed on the unique key).
        v_keyeq := (SELECT string_agg(format('d.%1$I = t.%1$I', k), ' AND ') FROM unnest(v_key) AS k);
        SELECT string_agg(format('t.%I IS NULL', a.attname), ' OR ' ORDER BY a.attnum),
               COALESCE(array_agg(a.attname::text), '{}')
        INTO v_keynull, v_nullkeys
        FROM pg_catalog.pg_attribute AS a
        WHERE a.attrelid = v_rel AND a.attnum > 0 AND NOT a.attisdropped AND NOT a.attnotnull
          AND a.attname = ANY (v_key);
        -- One statement (a temporary table of the duplicated keys cost ~1.5 ms a load, ~25 loads a run).
        EXECUTE format($q$
            CREATE TEMP TABLE _silver_latest ON COMMIT DROP AS
            WITH _dup AS MATERIALIZED (
                SELECT %1$s FROM _silver_typed AS t WHERE cardinality(t._reasons) = 0
                GROUP BY %1$s HAVING count(*) > 1
            )
            SELECT t.*, %3$s AS _arrived, %3$s IS NOT NULL AS _arrival_known, false AS _dup
            FROM _silver_typed AS t
            %4$s
            WHERE cardinality(t._reasons) = 0
              AND NOT EXISTS (SELECT 1 FROM _dup AS d WHERE %7$s)%8$s
            UNION ALL
            (SELECT DISTINCT ON (%1$s) t.*
             FROM (SELECT t.*, %5$s AS _arrived,
                          bool_and(%5$s IS NOT NULL) OVER (PARTITION BY %1$s) AS _arrival_known, true AS _dup
                   FROM _silver_typed AS t
                   %6$s
                   WHERE cardinality(t._reasons) = 0
                     AND (EXISTS (SELECT 1 FROM _dup AS d WHERE %7$s)%9$s)) AS t
             ORDER BY %1$s, CASE WHEN t._arrival_known THEN t._arrived END DESC NULLS LAST,
                      t.%2$I DESC NULLS LAST, t._bronze_id%10$s)
            $q$,
            dwh_etl._col_list(v_key, 't'), v_ts,
            -- the keys' only rows: the arrival where it is compared with silver's (a non-empty target)
            CASE WHEN v_arrival AND NOT v_empty THEN 'b._source_arrived_at' ELSE 'NULL::timestamptz' END,
            CASE WHEN v_arrival AND NOT v_empty
                 THEN format('LEFT JOIN %s AS b ON b._bronze_id = t._bronze_id AND b._ingested_at >= $1 AND b._ingested_at < $2',
                             to_regclass(v_bronze)) ELSE '' END,
            -- the duplicated keys' rows: the arrival orders them
            CASE WHEN v_arrival THEN 'b._source_arrived_at' ELSE 'NULL::timestamptz' END,
            CASE WHEN v_arrival THEN format('LEFT JOIN %s AS b ON b._bronze_id = t._bronze_id AND b._ingested_at >= $1 AND b._ingested_at < $2',
                                            to_regclass(v_bronze)) ELSE '' END,
            v_keyeq,
            CASE WHEN v_keynull IS NOT NULL THEN format(' AND NOT (%s)', v_keynull) ELSE '' END,
            CASE WHEN v_keynull IS NOT NULL THEN format(' OR %s', v_keynull) ELSE '' END,
            -- a tie: the first delivered (below), or the last ("ties": "latest_delivery")
            CASE WHEN v_ties THEN '' ELSE ' DESC' END)
        USING v_win.from_ts, v_win.to_ts;
        GET DIAGNOSTICS v_accepted = ROW_COUNT;
        PERFORM set_config('enable_nestloop', v_nestloop, true);

        -- newer and different only: a re-delivered or older state changes nothing; a loaded row is
        -- not deleted (a tombstone flag is cleared by a newer state). A row with silver's change time
        -- and other values is a tie: silver's state, delivered first, stays (the row is quarantined
        -- below); with the same values it may only bring a deleted key back (unless v_block below).
        -- v_cmp: the columns that make a different state (not the flag, not the unchanged columns).
        v_cmp := ARRAY(SELECT c FROM unnest(v_cols) WITH ORDINALITY AS u (c, o)
                       WHERE c <> ALL (v_unchanged) ORDER BY o);
        IF v_tomb IS NOT NULL THEN
            v_cols := v_cols || (v_tomb->>'flag');
        END IF;
        -- The same order against silver (attack 10): a row of the window that arrived at the source after
        -- the bronze row silver's state came from (_source_bronze_id) replaces it even when its change
        -- time is earlier or the same (a restore of an older state, after its deletion was loaded; a
        -- correction of a change time stamped in the future; an application that changes values without
        -- bumping updated_at). Where either arrival is unknown the change time decides (the ON CONFLICT
        -- condition below). Only such rows are looked up (v_force: their _bronze_id, an
        -- array and not a temporary table: Citus cannot join a distributed table to one in an UPDATE).
        v_by_arrival := v_arrival AND v_prov AND cardinality(v_key) = 1;
        IF cardinality(v_key) = 1 THEN
            SELECT format_type(a.atttypid, a.atttypmod) INTO v_keytype
            FROM pg_catalog.pg_attribute AS a WHERE a.attrelid = v_rel AND a.attname = v_key[1];
        END IF;
        -- Silver's states of a set of keys, read into a temporary table (Citus: a distributed table is not
        -- joined to a temporary table): v_keysql || the rows naming the keys (aliased l) gives the keys, an
        -- array of texts (v_keys) or, where the key has several columns, a JSON array of objects (v_keyset:
        -- the columns that are never NULL select the states; a join matches the others);
        -- 'CREATE TEMP TABLE name' || v_readsql reads the states with those keys ($1 or $2): the columns
        -- v_state (the key, the change time and, for the ties, v_cmp) and _source_bronze_id.
        v_state := ARRAY(SELECT u.c FROM unnest(v_key || v_ts || CASE WHEN v_ties THEN v_cmp ELSE '{}'::text[] END)
                                        WITH ORDINALITY AS u (c, o)
                         GROUP BY u.c ORDER BY min(u.o));
        IF cardinality(v_key) = 1 THEN
            v_keysql := format('SELECT array_agg(l.%I::text) FROM ', v_key[1]);
            v_readsql := format(' ON COMMIT DROP AS SELECT %1$s%2$s FROM %3$s AS s WHERE s.%4$I = ANY ($1::%5$s[])%6$s',
                                dwh_etl._col_list(v_state, 's'),
                                CASE WHEN v_prov THEN ', s._source_bronze_id' ELSE '' END,
                                v_rel, v_key[1], v_keytype,
                                CASE WHEN cardinality(v_nullkeys) > 0
                                     THEN format(' OR s.%I IS NULL AND array_position($1, NULL) IS NOT NULL', v_key[1]) ELSE '' END);
        ELSE
            v_keysql := format('SELECT jsonb_agg(jsonb_build_object(%s)) FROM ',
                               (SELECT string_agg(format('%L, l.%I', k, k), ', ') FROM unnest(v_key) AS k));
            v_readsql := format(' ON COMMIT DROP AS SELECT %1$s%2$s FROM %3$s AS s WHERE %4$s',
                                dwh_etl._col_list(v_state, 's'),
                                CASE WHEN v_prov THEN ', s._source_bronze_id' ELSE '' END,
                                v_rel,
                                (SELECT COALESCE(format('(%s) IN (SELECT %s FROM jsonb_to_recordset($2) AS x (%s))',
                                                        string_agg(format('s.%I', a.attname), ', ' ORDER BY a.attnum),
                                                        string_agg(format('x.%I', a.attname), ', ' ORDER BY a.attnum),
                                                        string_agg(format('%I %s', a.attname, format_type(a.atttypid, a.atttypmod)), ', ' ORDER BY a.attnum)),
                                                 'true')
                                 FROM pg_catalog.pg_attribute AS a
                                 WHERE a.attrelid = v_rel AND a.attname = ANY (v_key) AND a.attname <> ALL (v_nullkeys)
                                   AND a.attnum > 0 AND NOT a.attisdropped));
        END IF;
        -- a state of silver and a row of the window of the same key (SQL over c and l)
        v_keyjoin := (SELECT string_agg(CASE WHEN k = ANY (v_nullkeys) THEN format('c.%1$I IS NOT DISTINCT FROM l.%1$I', k)
                                             ELSE format('c.%1$I = l.%1$I', k) END, ' AND ')
                      FROM unnest(v_key) AS k);
        -- Silver is read once before the write, for the arrivals and for the ties (below) together: the
        -- window's keys (with "ties": "latest_delivery", those whose rows know their arrival). One pass over
        -- the states and the latest rows (_silver_tie) finds both: the rows that arrived after silver's
        -- state (v_force), and the ties, which the write leaves as they are (a tie is never written: by the
        -- times it is not newer, and the arrivals that would force it exclude it from the ties), so the
        -- states read before the write are the ones after it. The same bronze row read again (a
        -- restatement: every row of the window) is neither.
        IF v_by_arrival AND NOT v_empty THEN
            EXECUTE v_keysql || CASE WHEN v_ties THEN '_silver_latest AS l' ELSE '_silver_latest AS l WHERE l._arrived IS NOT NULL' END
            INTO v_keys;
            IF v_keys IS NOT NULL THEN
                IF to_regclass('pg_temp._silver_state') IS NOT NULL THEN DROP TABLE pg_temp._silver_state; END IF;
                EXECUTE 'CREATE TEMP TABLE _silver_state' || v_readsql USING v_keys, v_keyset;
                IF to_regclass('pg_temp._silver_tie') IS NOT NULL THEN DROP TABLE pg_temp._silver_tie; END IF;
                EXECUTE format($q$
                    CREATE TEMP TABLE _silver_tie ON COMMIT DROP AS
                    WITH cand AS MATERIALIZED (
                        SELECT l._bronze_id AS _lost, l._arrived, c._source_bronze_id AS _first,
                               l._arrived IS NOT NULL AND c.%2$I >= l.%2$I%6$s AS _later,
                               %3$s AS _tie, %4$s
                        FROM _silver_latest AS l
                        JOIN _silver_state AS c ON %1$s
                        WHERE c._source_bronze_id IS DISTINCT FROM l._bronze_id
                          AND (l._arrived IS NOT NULL AND c.%2$I >= l.%2$I%6$s OR %3$s)
                    )
                    SELECT cand.*, b._source_arrived_at AS _first_arrived
                    FROM cand
                    LEFT JOIN %5$s AS b ON b._bronze_id = cand._first
                    $q$,
                    v_keyjoin, v_ts,
                    CASE WHEN v_ties THEN format('c.%1$I = l.%1$I AND %2$s IS DISTINCT FROM %3$s',
                                                 v_ts, dwh_etl._row_expr(v_cmp, 'c'), dwh_etl._row_expr(v_cmp, 'l'))
                         ELSE 'false' END,
                    CASE WHEN v_ties THEN dwh_etl._col_list(v_cmp, 'c') ELSE 'NULL::int AS _none' END,
                    to_regclass(v_bronze),
                    -- a NULL key arrives after nothing (as the key's text was compared)
                    CASE WHEN cardinality(v_nullkeys) > 0 THEN format(' AND l.%I IS NOT NULL', v_key[1]) ELSE '' END);
                DROP TABLE _silver_state;
                -- the rows that arrived after silver's state; the ties (where both arrivals are known and
                -- differ, the arrival decided: no tie)
                EXECUTE format('SELECT COALESCE(array_agg(x._lost ORDER BY x._lost) FILTER (WHERE x._later AND x._first_arrived < x._arrived), %L)
                                FROM %s AS x', '{}', 'pg_temp._silver_tie')
                INTO v_force;
                EXECUTE format('DELETE FROM %s AS x WHERE NOT x._tie OR x._first_arrived <> x._arrived', 'pg_temp._silver_tie');
                EXECUTE format('SELECT count(*) FROM %s', 'pg_temp._silver_tie') INTO v_lost;
                v_tie_read := true;
            END IF;
        END IF;
        -- A row of the window whose key silver holds deleted does not bring it back when a tombstone of
        -- the key (any window) is dated at or after the row's change time: the deletion is the newer
        -- change (attack 13e). silver keeps the flag, not the deletion's time, and the ON CONFLICT below
        -- compares the row with the state that was deleted: a file delivered again (--force) after the
        -- source deleted its line, or a file row older than a change event's delete, undeleted the line
        -- (the flag differed) and it was back in gold. Where both the row and the tombstone know when
        -- they arrived at the source (0049), the arrival decides as above (a restore with its old
        -- updated_at comes back). Only rows whose key silver holds deleted are looked up (usually none);
        -- v_block: their _bronze_id.
        -- (Two statements, the silver table read with the window's keys as an array: on Citus it is
        -- distributed and cannot be joined to the temporary table or to bronze's local tombstones.)
        IF v_tomb IS NOT NULL AND NOT v_empty AND cardinality(v_key) = 1 THEN
            IF v_keytype IS NULL THEN
                SELECT format_type(a.atttypid, a.atttypmod) INTO v_keytype
                FROM pg_catalog.pg_attribute AS a WHERE a.attrelid = v_rel AND a.attname = v_key[1];
            END IF;
            EXECUTE format('SELECT array_agg(DISTINCT l.%I::text) FROM _silver_latest AS l', v_key[1])
            INTO v_keys;
            IF v_keys IS NOT NULL THEN
                EXECUTE format('SELECT array_agg(s.%1$I::text) FROM %2$s AS s WHERE s.%3$I AND s.%1$I = ANY ($1::%4$s[])',
                               v_key[1], v_rel, v_tomb->>'flag', v_keytype)
                INTO v_keys
                USING v_keys;
            END IF;
            IF v_keys IS NOT NULL THEN
                EXECUTE format($q$
                    SELECT COALESCE(array_agg(l._bronze_id ORDER BY l._bronze_id), '{}')
                    FROM _silver_latest AS l
                    WHERE l.%2$I::text = ANY ($3)
                      AND EXISTS (SELECT 1
                                  FROM %4$s AS d
                                  WHERE (%5$s) = l.%2$I%6$s
                                    AND dwh_etl.try_timestamptz(d.%7$I, $1) >= l.%8$I
                                    AND dwh_etl.try_timestamptz(d.%7$I, $1) <= $2
                                    AND NOT COALESCE(%9$s < l._arrived, false))
                    $q$, v_rel, v_key[1], v_tomb->>'flag', to_regclass(v_tomb->>'table'), v_tkey, v_tmatch,
                    v_tomb->>'deleted_at', v_ts,
                    CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_attribute AS a
                                      WHERE a.attrelid = to_regclass(v_tomb->>'table') AND a.attname = '_source_arrived_at'
                                        AND NOT a.attisdropped)
                         THEN 'd._source_arrived_at' ELSE 'NULL::timestamptz' END)
                INTO v_block
                USING v_zone, v_bounds.max_ts, v_keys;
            END IF;
        END IF;
        -- Bulk path into an empty table (issue 15: a first load, a rebuild; from setting silver.bulk_rows
        -- rows, default 10,000): its secondary indexes are dropped for the write and built after it, in
        -- this transaction (dwh_etl._drop_secondary_indexes, as dwh_etl.step_fact does; 300k sales lines:
        -- the _loaded_at btree and the _batch_id bloom index cost ~0.25 s in the INSERT, ~0.08 s built
        -- after). The primary key and unique keys stay. DROP INDEX locks the table (ACCESS EXCLUSIVE,
        -- until the step commits; readers of an empty table wait for its first rows): 2 s at most to get
        -- it, else the indexes stay. Not on Citus. The same rows and errors either way. Not when the table
        -- is empty only to this transaction, which deleted its rows (a rebuild, one transaction): readers
        -- still see the old rows until it commits, and the lock would have held them off for the whole
        -- rebuild, fact and marts included (review 17).
        IF v_empty AND v_accepted >= dwh_etl.get_setting('silver.bulk_rows', '10000')::bigint
           AND pg_catalog.pg_stat_get_xact_tuples_deleted(v_rel) = 0
           AND dwh_etl.citus_table_type(v_rel) IS NULL
           AND pg_has_role(current_user, (SELECT c.relowner FROM pg_catalog.pg_class AS c WHERE c.oid = v_rel), 'USAGE') THEN
            v_idx_add := dwh_etl._drop_secondary_indexes_if_free(v_rel, format('silver load into %s', v_target));
        END IF;
        v_sql := format($q$
            INSERT INTO %1$s AS s (%2$s, _batch_id, _loaded_at%5$s)
            SELECT %3$s, $1, (SELECT dwh_etl.load_time())%6$s
            FROM _silver_latest AS l
            %7$s
            %4$s
            $q$,
            v_rel, dwh_etl._col_list(v_cols),
            (SELECT string_agg(CASE WHEN c = v_tomb->>'flag' THEN 'false' ELSE format('l.%I', c) END, ', ' ORDER BY o)
             FROM unnest(v_cols) WITH ORDINALITY AS u (c, o)),
            -- an empty table (a first load, a rebuild) has nothing to conflict with (the keys of
            -- _silver_latest are distinct, and the step holds its lock): a plain INSERT, without the
            -- speculative insertion of ON CONFLICT per row (issue 15). The same rows either way.
            CASE WHEN v_empty THEN '' ELSE format(
                'ON CONFLICT (%s) DO UPDATE SET %s, _batch_id = EXCLUDED._batch_id, _loaded_at = EXCLUDED._loaded_at%s '
                'WHERE (%s%s) AND (%s) IS DISTINCT FROM (%s)',
                dwh_etl._col_list(v_key),
                (SELECT string_agg(format('%1$I = EXCLUDED.%1$I', c), ', ') FROM unnest(v_cols) AS c),
                CASE WHEN v_prov THEN ', _source_bronze_id = EXCLUDED._source_bronze_id' ELSE '' END,
                CASE WHEN v_ties THEN
                    -- a newer change time; the same one only with the same values (a deleted key brought
                    -- back as it was), or from the same bronze row read again (a restatement: its typing
                    -- applies, as before)
                    format('s.%1$I < EXCLUDED.%1$I OR s.%1$I = EXCLUDED.%1$I AND %2$s IS NOT DISTINCT FROM %3$s%4$s',
                           v_ts, dwh_etl._row_expr(v_cmp, 's'),
                           (SELECT format('ROW(%s)', COALESCE(string_agg(format('EXCLUDED.%I', c), ', ' ORDER BY o), 'NULL::int'))
                            FROM unnest(v_cmp) WITH ORDINALITY AS u (c, o)),
                           CASE WHEN v_prov THEN ' OR s._source_bronze_id = EXCLUDED._source_bronze_id' ELSE '' END)
                    -- "ties": "latest_delivery": the later delivery of the same change time wins
                    ELSE format('s.%1$I <= EXCLUDED.%1$I', v_ts) END,
                -- arrived after silver's state (v_force)
                CASE WHEN cardinality(v_force) > 0 THEN format(' OR EXCLUDED._source_bronze_id = ANY (%L::bigint[])', v_force) ELSE '' END,
                (SELECT string_agg(format('s.%I', c), ', ' ORDER BY o) FROM unnest(v_cols) WITH ORDINALITY AS u (c, o) WHERE c <> ALL (v_unchanged)),
                (SELECT string_agg(format('EXCLUDED.%I', c), ', ' ORDER BY o) FROM unnest(v_cols) WITH ORDINALITY AS u (c, o) WHERE c <> ALL (v_unchanged))) END,
            -- the bronze row of the state written (a re-delivery of the same values changes nothing,
            -- so the row keeps the delivery that first brought them)
            CASE WHEN v_prov THEN ', _source_bronze_id' ELSE '' END,
            CASE WHEN v_prov THEN ', l._bronze_id' ELSE '' END,
            -- not the rows older than their key's deletion (v_block)
            CASE WHEN cardinality(v_block) > 0 THEN format('WHERE l._bronze_id <> ALL (%L::bigint[])', v_block) ELSE '' END);
        -- the rows written: on Citus from RETURNING (the row count of its INSERT .. SELECT is the rows sent
        -- to the workers, written or not: a tie counted as upserted and was not looked for below)
        IF NOT v_empty AND dwh_etl.citus_table_type(v_rel) IS NOT NULL THEN
            EXECUTE format('WITH w AS (%s RETURNING 1) SELECT count(*) FROM w', v_sql) INTO v_written USING v_batch;
        ELSE
            EXECUTE v_sql USING v_batch;
            GET DIAGNOSTICS v_written = ROW_COUNT;
        END IF;
        -- bulk path into an empty table: its secondary indexes, each built by one sort
        FOREACH v_stmt IN ARRAY v_idx_add LOOP
            EXECUTE v_stmt;
        END LOOP;

        -- Ties (attack 13e): a latest row of the window whose key silver holds with the same change time
        -- and other values (v_cmp: not the flag), where the arrivals do not order them (v_force above
        -- wrote those that arrived later; those that arrived earlier stay out silently, an older state),
        -- was not written: silver's state, delivered first, stays, and the row is quarantined with the
        -- reason; a window row tied with the key's kept row (the window's first delivery, or silver's
        -- state that its latest row tied with) and of other values is quarantined too. Two files
        -- delivering one sale with the same updated_at and other quantities kept the later one and the
        -- other vanished as a duplicate, or overwrote it in a later run: nothing said two deliveries
        -- disagreed, and the arrival order decided. Where silver was read before the write (v_tie_read:
        -- the arrivals, above) the ties were found there; otherwise silver is read back only when a latest
        -- row of the window was not written (the normal next day writes them all), for the window's keys;
        -- v_lost: such rows.
        IF v_ties AND NOT v_empty AND NOT v_tie_read AND v_written < v_accepted THEN
            IF to_regclass('pg_temp._silver_state') IS NOT NULL THEN DROP TABLE pg_temp._silver_state; END IF;
            IF cardinality(v_key) = 1 THEN
                EXECUTE v_keysql || '_silver_latest AS l' INTO v_keys;
            ELSE
                EXECUTE v_keysql || '_silver_latest AS l' INTO v_keyset;
            END IF;
            EXECUTE 'CREATE TEMP TABLE _silver_state' || v_readsql USING v_keys, v_keyset;
            IF to_regclass('pg_temp._silver_tie') IS NOT NULL THEN DROP TABLE pg_temp._silver_tie; END IF;
            EXECUTE format($q$
                CREATE TEMP TABLE _silver_tie ON COMMIT DROP AS
                SELECT l._bronze_id AS _lost, l._arrived, %1$s AS _first, %2$s
                FROM _silver_latest AS l
                JOIN _silver_state AS c ON %3$s
                WHERE c.%4$I = l.%4$I
                  AND %5$s IS DISTINCT FROM %6$s%7$s
                $q$,
                CASE WHEN v_prov THEN 'c._source_bronze_id' ELSE 'NULL::bigint' END,
                dwh_etl._col_list(v_cmp, 'c'),
                v_keyjoin,
                v_ts,
                dwh_etl._row_expr(v_cmp, 'c'), dwh_etl._row_expr(v_cmp, 'l'),
                -- not the same bronze row read again (written above)
                CASE WHEN v_prov THEN ' AND c._source_bronze_id IS DISTINCT FROM l._bronze_id' ELSE '' END);
            GET DIAGNOSTICS v_lost = ROW_COUNT;
            DROP TABLE _silver_state;
        END IF;
        -- the rows of the window that lost a tie, with the bronze row they tied with: read where the
        -- window has keys with several rows, or latest rows that tied with silver
        IF v_ties AND (v_lost > 0 OR v_valid > v_accepted) THEN
            IF to_regclass('pg_temp._silver_lost') IS NOT NULL THEN DROP TABLE pg_temp._silver_lost; END IF;
            PERFORM set_config('enable_nestloop', 'off', true);
            EXECUTE format($q$
                CREATE TEMP TABLE _silver_lost ON COMMIT DROP AS
                SELECT t._bronze_id, t._record_key,
                       %9$L
                       || COALESCE(' (bronze row ' || CASE WHEN x._lost IS NULL THEN l._bronze_id ELSE x._first END || ')', '')
                       || ': a tie with different values is not decided silently' AS _reason
                FROM _silver_latest AS l
                LEFT JOIN %1$s AS x ON x._lost = l._bronze_id
                JOIN _silver_typed AS t ON %2$s AND t.%3$I = l.%3$I
                %4$s
                WHERE cardinality(t._reasons) = 0
                  AND (l._dup OR x._lost IS NOT NULL)
                  AND CASE WHEN t._bronze_id = l._bronze_id THEN x._lost IS NOT NULL
                           -- the arrival orders the key's rows: a tie only with the same arrival
                           WHEN l._arrival_known AND %5$s IS DISTINCT FROM l._arrived THEN false
                           WHEN x._lost IS NULL THEN %6$s IS DISTINCT FROM %7$s
                           ELSE %6$s IS DISTINCT FROM %8$s END
                $q$,
                CASE WHEN v_lost > 0 THEN '_silver_tie'
                     ELSE '(SELECT NULL::bigint AS _lost, NULL::bigint AS _first, z.* FROM _silver_latest AS z WHERE false)' END,
                (SELECT string_agg(CASE WHEN k = ANY (v_nullkeys) THEN format('t.%1$I IS NOT DISTINCT FROM l.%1$I', k)
                                        ELSE format('t.%1$I = l.%1$I', k) END, ' AND ')
                 FROM unnest(v_key) AS k),
                v_ts,
                CASE WHEN v_arrival THEN format('LEFT JOIN %s AS b ON b._bronze_id = t._bronze_id AND b._ingested_at >= $1 AND b._ingested_at < $2',
                                                to_regclass(v_bronze)) ELSE '' END,
                CASE WHEN v_arrival THEN 'b._source_arrived_at' ELSE 'NULL::timestamptz' END,
                dwh_etl._row_expr(v_cmp, 't'), dwh_etl._row_expr(v_cmp, 'l'), dwh_etl._row_expr(v_cmp, 'x'),
                v_tie_text)
            USING v_win.from_ts, v_win.to_ts;
            PERFORM set_config('enable_nestloop', v_nestloop, true);
            EXECUTE format('UPDATE _silver_typed AS t SET _reasons = ARRAY[x._reason] FROM %s AS x WHERE x._bronze_id = t._bronze_id',
                           'pg_temp._silver_lost');
            GET DIAGNOSTICS v_tied = ROW_COUNT;
            -- the records with a tie (a copy of the kept state, below)
            EXECUTE format('SELECT COALESCE(array_agg(x._record_key), %L), COALESCE(array_agg(x._bronze_id), %L) FROM %s AS x',
                           '{}', '{}', 'pg_temp._silver_lost')
            INTO v_tiekeys, v_tieids;
            DROP TABLE _silver_lost;
            v_bad      := v_bad + v_tied;
            v_valid    := v_valid - v_tied;
            v_accepted := v_accepted - v_lost;
        END IF;
        IF to_regclass('pg_temp._silver_tie') IS NOT NULL THEN DROP TABLE pg_temp._silver_tie; END IF;
        -- A copy of a tie's kept state (review 14): a valid row of the record delivered after the tie, with
        -- the key, change time and values of silver's state, which still comes from a bronze row delivered
        -- before the tie, is no newer version of the record and does not decide the tie: its entry stays
        -- open. quarantine_rows resolves an open entry by any later valid row of its record, and A-B-A (the
        -- first delivery's state delivered again after the tie) closed the tie that A-A-B kept open, in one
        -- window or three, and again in a restatement or a rebuild. A newer change time, or a state written
        -- over the kept one (silver's row then comes from a bronze row delivered after the tie), resolves it
        -- as before; so does a later valid copy of any other entry (a bad row). Only the records with a tie
        -- in this window or an open entry of a tie are looked at (usually none; silver is read for their
        -- keys after the write, before the tombstones); v_keep: the _bronze_id of the entries kept open.
        IF v_ties AND v_prov THEN
            SELECT v_tiekeys || COALESCE(array_agg(q.record_key), '{}'),
                   v_tieids || COALESCE(array_agg((q.payload->>'_bronze_id')::bigint), '{}')
            INTO v_tiekeys, v_tieids
            FROM dwh_etl.quarantine AS q
            WHERE q.target_table = v_target
              AND q.source_table = v_bronze
              AND q.resolved_at IS NULL
              AND EXISTS (SELECT 1 FROM unnest(q.reasons) AS r (reason) WHERE strpos(r.reason, v_tie_text) > 0);
            IF cardinality(v_tiekeys) > 0 THEN
                IF to_regclass('pg_temp._silver_hold') IS NOT NULL THEN DROP TABLE pg_temp._silver_hold; END IF;
                -- each entry with the last row of its record in the window (as quarantine_rows reads it),
                -- where that row is valid and was delivered after the entry's
                EXECUTE format($q$
                    CREATE TEMP TABLE _silver_hold ON COMMIT DROP AS
                    SELECT e._entry, %1$s
                    FROM unnest($1::text[], $2::bigint[]) AS e (_record_key, _entry)
                    JOIN (SELECT DISTINCT ON (t._record_key) t.*
                          FROM _silver_typed AS t
                          WHERE t._record_key = ANY ($1)
                          ORDER BY t._record_key, t._bronze_id DESC) AS l
                      ON l._record_key = e._record_key
                    WHERE cardinality(l._reasons) = 0
                      AND l._bronze_id > e._entry
                    $q$, dwh_etl._col_list(v_state, 'l'))
                USING v_tiekeys, v_tieids;
                GET DIAGNOSTICS v_held = ROW_COUNT;
                IF v_held > 0 THEN
                    IF cardinality(v_key) = 1 THEN
                        EXECUTE v_keysql || '_silver_hold AS l' INTO v_keys;
                    ELSE
                        EXECUTE v_keysql || '_silver_hold AS l' INTO v_keyset;
                    END IF;
                    IF to_regclass('pg_temp._silver_state') IS NOT NULL THEN DROP TABLE pg_temp._silver_state; END IF;
                    EXECUTE 'CREATE TEMP TABLE _silver_state' || v_readsql USING v_keys, v_keyset;
                    EXECUTE format($q$
                        SELECT COALESCE(array_agg(l._entry ORDER BY l._entry), '{}')
                        FROM _silver_hold AS l
                        JOIN _silver_state AS c ON %1$s
                        WHERE c.%2$I = l.%2$I
                          AND %3$s IS NOT DISTINCT FROM %4$s
                          AND c._source_bronze_id < l._entry
                        $q$, v_keyjoin, v_ts, dwh_etl._row_expr(v_cmp, 'c'), dwh_etl._row_expr(v_cmp, 'l'))
                    INTO v_keep;
                    DROP TABLE _silver_state;
                END IF;
                DROP TABLE _silver_hold;
            END IF;
        END IF;
        PERFORM dwh_etl.quarantine_rows('_silver_typed', v_bronze, v_target, p_run_id => p_run_id, p_keep => v_keep);
        PERFORM dwh_etl.reconcile(
            p_target      => v_target,
            p_source      => v_bronze,
            p_read        => v_read,
            p_accepted    => v_accepted,
            p_quarantined => v_bad,
            p_duplicates  => v_valid - v_accepted,
            p_run_id      => p_run_id);

        IF v_tomb IS NOT NULL THEN
            -- a deletion flags the key's row, unless a later change of it is already loaded. The
            -- tombstones' key and time are typed in a subquery, not in the join condition: the same rows,
            -- and a form Citus accepts when silver is distributed (it refuses a STABLE function such as
            -- try_timestamptz with column references in a distributed UPDATE; the subquery over the local
            -- tombstone table is computed on the coordinator)
            -- Where the tombstone and the bronze row of silver's state (_source_bronze_id) both know when
            -- they arrived at the source, that order decides, not the times (attack 10): a tombstone that
            -- arrived before the row is not applied (an old tombstone extracted again, restated: it
            -- deleted the restored record again), one that arrived after it is (a row whose change time a
            -- writer's clock put ahead of the deletion stayed in gold for good). v_skip and v_tforce:
            -- their _bronze_id. Only the keys of this window's tombstones are looked up.
            IF v_revive AND v_by_arrival THEN
                EXECUTE format($q$
                    SELECT array_agg(DISTINCT (%1$s)::text)
                    FROM %2$s AS d
                    WHERE d._ingested_at >= $1
                      AND d._ingested_at < $2%3$s
                      AND d._source_arrived_at IS NOT NULL
                    $q$, v_tkey, to_regclass(v_tomb->>'table'), v_tmatch)
                INTO v_keys
                USING v_win.from_ts, v_win.to_ts;
                IF v_keys IS NOT NULL THEN
                    IF to_regclass('pg_temp._silver_current') IS NOT NULL THEN DROP TABLE pg_temp._silver_current; END IF;
                    EXECUTE format('CREATE TEMP TABLE _silver_current ON COMMIT DROP AS
                                    SELECT s.%1$I::text AS _key, s.%2$I AS _ts, s._source_bronze_id AS _source_bronze_id
                                    FROM %3$s AS s WHERE s.%1$I = ANY ($1::%4$s[]) AND NOT s.%5$I',
                                   v_key[1], v_ts, v_rel, v_keytype, v_tomb->>'flag')
                    USING v_keys;
                    -- The key came back after the tombstone (_back) also when its bronze row of silver's state
                    -- arrived before it: a delete and a re-insert of the same values in one window leave silver's
                    -- row as it was (a copy changes nothing, _source_bronze_id names the first delivery), so
                    -- only a copy of that row that reached the source after the tombstone tells that the source
                    -- held the key again, valid, after the deletion (attack 16: the tombstone extracted again
                    -- deleted a restored user). A re-insert with other values is silver's state when it was
                    -- valid (then b is it), and leaves the key deleted when it was not. Looked up among the
                    -- bronze rows ingested since the tombstone reached the source.
                    SELECT string_agg(format('r.%I', a.attname), ', ' ORDER BY a.attnum),
                           string_agg(format('b.%I', a.attname), ', ' ORDER BY a.attnum)
                    INTO v_copy_r, v_copy_b
                    FROM pg_catalog.pg_attribute AS a
                    WHERE a.attrelid = to_regclass(v_bronze) AND a.attnum > 0 AND NOT a.attisdropped AND a.attname !~ '^_';
                    -- One join of the window's tombstones with the bronze rows ingested since the earliest
                    -- of them, on the key (a hash join), not a lookup per tombstone: a purge of N keys in a
                    -- window that also ingested M rows of the table cost N x M row comparisons (review 16:
                    -- 5000 deletes beside 5000 updates took citizen's silver step 2.3 s, now 0.3 s).
                    IF v_copy_r IS NOT NULL AND EXISTS (
                            SELECT 1 FROM pg_catalog.pg_attribute AS a
                            WHERE a.attrelid = to_regclass(v_bronze) AND a.attname = v_key[1] AND NOT a.attisdropped) THEN
                        v_back_cte := format(E',\n back AS MATERIALIZED (SELECT DISTINCT cand._bronze_id FROM cand '
                                             'JOIN %1$s AS b ON b._bronze_id = cand._source_bronze_id '
                                             'JOIN %1$s AS r ON btrim(r.%2$I::text) = cand._key AND r._ingested_at > cand._arrived '
                                             'AND r._source_arrived_at > cand._arrived AND ROW(%3$s) IS NOT DISTINCT FROM ROW(%4$s) '
                                             'WHERE r._ingested_at > (SELECT min(c2._arrived) FROM cand AS c2))',
                                             to_regclass(v_bronze), v_key[1], v_copy_r, v_copy_b);
                        v_back := '(cand._bronze_id IN (SELECT back._bronze_id FROM back))';
                    ELSE
                        v_back_cte := '';
                        v_back := 'false';
                    END IF;
                    EXECUTE format($q$
                        WITH cand AS MATERIALIZED (
                            SELECT d._bronze_id, d._source_arrived_at AS _arrived, c._source_bronze_id, c._key,
                                   c._ts <= dwh_etl.try_timestamptz(d.%4$I, $3) AS _by_time
                            FROM %1$s AS d
                            JOIN _silver_current AS c ON c._key = (%2$s)::text
                            WHERE d._ingested_at >= $1
                              AND d._ingested_at < $2%3$s
                              AND d._source_arrived_at IS NOT NULL
                              AND dwh_etl.try_timestamptz(d.%4$I, $3) <= $4
                        )%7$s
                        SELECT COALESCE(array_agg(cand._bronze_id ORDER BY cand._bronze_id)
                                            FILTER (WHERE cand._by_time AND (b._source_arrived_at > cand._arrived OR %6$s)), '{}'),
                               COALESCE(array_agg(cand._bronze_id ORDER BY cand._bronze_id)
                                            FILTER (WHERE NOT cand._by_time AND b._source_arrived_at < cand._arrived AND NOT %6$s), '{}')
                        FROM cand
                        JOIN %5$s AS b ON b._bronze_id = cand._source_bronze_id
                        $q$, to_regclass(v_tomb->>'table'), v_tkey, v_tmatch, v_tomb->>'deleted_at', to_regclass(v_bronze), v_back, v_back_cte)
                    INTO v_tskip, v_tforce
                    USING v_win.from_ts, v_win.to_ts, v_zone, v_bounds.max_ts;
                    v_skip := v_skip || v_tskip;
                    DROP TABLE _silver_current;
                END IF;
            END IF;
            EXECUTE format($q$
                UPDATE %1$s AS s
                SET %2$I = true,
                    _batch_id = $4,
                    _loaded_at = (SELECT dwh_etl.load_time())
                FROM (SELECT %6$s AS _key, dwh_etl.try_timestamptz(d.%8$I, $3) AS _deleted_at, d._bronze_id
                      FROM %3$s AS d
                      WHERE d._ingested_at >= $1
                        AND d._ingested_at < $2%4$s%9$s) AS d
                WHERE s.%5$I = d._key
                  AND NOT s.%2$I
                  AND (s.%7$I <= d._deleted_at%10$s)
                  AND d._deleted_at <= $5
                $q$,
                v_rel, v_tomb->>'flag', to_regclass(v_tomb->>'table'), v_tmatch, v_key[1], v_tkey, v_ts, v_tomb->>'deleted_at',
                -- not when the key came back after it (v_skip)
                CASE WHEN cardinality(v_skip) > 0 THEN format(' AND d._bronze_id <> ALL (%L::bigint[])', v_skip) ELSE '' END,
                -- arrived after silver's state (v_tforce)
                CASE WHEN cardinality(v_tforce) > 0 THEN format(' OR d._bronze_id = ANY (%L::bigint[])', v_tforce) ELSE '' END)
            USING v_win.from_ts, v_win.to_ts, v_zone, v_batch, v_bounds.max_ts;
            GET DIAGNOSTICS v_deleted = ROW_COUNT;
        END IF;

        PERFORM dwh_lineage.log_transformation(
            in_source_table   => v_bronze,
            in_target_table   => v_target,
            in_batch_id       => NULL,
            in_rows_inserted  => v_written,
            in_rows_unchanged => v_accepted - v_written,
            in_rows_rejected  => v_bad,
            in_rows_deleted   => v_deleted,
            in_notes          => format('%s bronze rows = %s upserted + %s unchanged + %s quarantined + %s duplicates collapsed',
                                        v_read, v_written, v_accepted - v_written, v_bad, v_valid - v_accepted)
                                 || CASE WHEN v_tomb IS NOT NULL THEN format('; %s deleted', v_deleted) ELSE '' END,
            in_run_id         => p_run_id);
        DROP TABLE _silver_latest;
    END IF;

    CALL dwh_etl.set_watermark(v_target, '_ingested_at', v_win.to_ts);
    DROP TABLE _silver_typed;
    PERFORM set_config('jit', v_jit, true);
    RETURN v_written;
END;
$$;
COMMENT ON FUNCTION dwh_etl._load_silver(date, jsonb, bigint) IS 'One load of a silver step: type, validate (quarantine), deduplicate and upsert (or apply as SCD2) the bronze rows of the window into one silver table; tombstones, reconciliation, lineage, watermark.';
REVOKE EXECUTE ON FUNCTION dwh_etl._load_silver(date, jsonb, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl._load_silver(date, jsonb, bigint) TO etl_service;
