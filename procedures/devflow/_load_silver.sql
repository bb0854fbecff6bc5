-- The silver load of one devflow entity, generic over the silver table's columns: the bronze rows of
-- the window [watermark, safe upper bound) on _ingested_at (read from p_source, the bronze table or a
-- view over it that unpacks JSON), each silver column typed from the text column of the same name
-- (integer, numeric, timestamptz, date, boolean, text[], jsonb, text); a value that does not parse, a
-- missing NOT NULL value or a failed entity check (p_checks: SQL expressions over the typed row t and
-- the source row b that yield a reason or NULL) sends the row to dwh_etl.quarantine with every reason.
-- The latest valid row per natural key (by p_ts_column, then arrival) is upserted when newer and
-- different. Reconciled, logged, watermark advanced; returns the rows upserted.
--
-- One bad row must never fail the step (issue 9): every value is checked against the silver column it
-- goes to before the INSERT, so nothing the INSERT or a later step would refuse gets through:
--   integer / smallint   in range (a PR number of 3000000000 passed try_bigint and overflowed integer)
--   numeric(p,s)         fits p digits, at most s decimals (never rounded silently)
--   timestamptz / date   zone-less texts are read in setting devflow.source_timezone (default UTC), not in
--                        the session's zone; sane range: not before quality.min_event_date (1990-01-01),
--                        not later than quality.max_future (1 day) after the end of the run date (or now)
--                        (0001-01-01 made ensure_partitions build partitions from year 1)
--   text[]               a malformed literal is a reason, not an error
--   NOT NULL text, keys  not blank, whatever the space character
--   key text columns     at most devflow.max_key_length characters (setting, 500): they are indexed
-- Reasons quote at most 200 characters of a value (devflow._quote); the record key kept in the
-- quarantine is cut the same way (with the md5 of the whole key).
CREATE OR REPLACE FUNCTION devflow._load_silver(
    p_source    text,
    p_bronze    text,
    p_silver    text,
    p_key       text[],
    p_ts_column text,
    p_checks    text[] DEFAULT '{}',
    p_run_date  date DEFAULT NULL
)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = devflow, pg_temp
AS $$
DECLARE
    v_win     record := dwh_etl.window_bounds(p_silver);
    v_rel     regclass := to_regclass(p_silver);
    v_cols    text[];
    v_typed   text;
    v_reasons text;
    v_read    bigint;
    v_bad     bigint;
    v_valid   bigint;
    v_latest  bigint;
    v_upsert  bigint;
    v_batch   uuid := COALESCE((dwh_lineage._current_run()).batch_id, gen_random_uuid());
    v_zone    text := dwh_etl.get_setting('devflow.source_timezone', 'UTC');
    v_session text := current_setting('TimeZone');
    v_min_ts  timestamptz := (dwh_etl.get_setting('quality.min_event_date', '1990-01-01')::date)::timestamp AT TIME ZONE 'UTC';
    v_max_ts  timestamptz := GREATEST((COALESCE(p_run_date, (now() AT TIME ZONE 'UTC')::date) + 1)::timestamp AT TIME ZONE 'UTC', now())
                             + dwh_etl.get_setting('quality.max_future', '1 day')::interval;
    v_key_max integer := dwh_etl.get_setting('devflow.max_key_length', '500')::integer;
    v_min_txt text;
    v_max_txt text;
    v_parse   text;
BEGIN
    -- ISO UTC texts, whatever the session's DateStyle (they are parsed back in the typing query)
    v_min_txt := to_char(v_min_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');
    v_max_txt := to_char(v_max_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');
    SELECT array_agg(c.attname::text ORDER BY c.attnum),
           string_agg(format('%s AS %I', c.typed, c.attname), ', ' ORDER BY c.attnum),
           string_agg(concat_ws(', ',
               -- the value does not parse, or does not fit the column
               format('CASE WHEN b.%1$I IS NOT NULL AND t.%1$I IS NULL THEN %2$s %3$s END',
                      c.attname, c.bad,
                      CASE WHEN c.attnotnull THEN format('WHEN t.%I IS NULL THEN %L', c.attname, c.attname || ' is missing') ELSE '' END),
               -- instants outside the sane range
               CASE WHEN c.atttypid IN ('timestamptz'::regtype, 'date'::regtype) THEN
                   format('CASE WHEN t.%1$I < %2$L::timestamptz OR t.%1$I > %3$L::timestamptz THEN %4$L || devflow._quote(b.%1$I) || %5$L END',
                          c.attname, v_min_txt, v_max_txt, c.attname || ' ',
                          format(' is outside the sane range [%s, %s] (settings quality.min_event_date, quality.max_future)',
                                 to_char(v_min_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI"Z"'), to_char(v_max_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI"Z"')))
               END,
               -- blank keys and blank required texts
               CASE WHEN c.atttypid = 'text'::regtype AND (c.attnotnull OR c.attname = ANY (p_key)) THEN
                   format('CASE WHEN devflow._is_blank(t.%1$I) THEN %2$L END', c.attname, c.attname || ' is blank')
               END,
               -- keys are indexed: bounded
               CASE WHEN c.atttypid = 'text'::regtype AND c.attname = ANY (p_key) THEN
                   format('devflow._check_length(%L, t.%I, %s)', c.attname, c.attname, v_key_max)
               END), ', ' ORDER BY c.attnum),
           COALESCE(string_agg(c.parse, ', ' ORDER BY c.attnum), 'NULL AS _none')
    INTO v_cols, v_typed, v_reasons, v_parse
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
                       THEN format('devflow._try_text_array(b.%I)', a.attname)
                   WHEN a.atttypid = 'jsonb'::regtype
                       THEN format('devflow._try_jsonb(b.%I)', a.attname)
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
                                   'THEN %2$L || devflow._quote(b.%1$I) || %3$L ELSE %2$L || devflow._quote(b.%1$I) || %4$L END',
                                   a.attname, a.attname || ' ', ' is out of range for ' || format_type(a.atttypid, NULL),
                                   ' is not a valid ' || format_type(a.atttypid, NULL))
                   WHEN a.atttypid = 'numeric'::regtype AND a.atttypmod >= 4
                       THEN format('CASE WHEN dwh_etl.try_numeric(b.%1$I) IS NULL THEN %2$L || devflow._quote(b.%1$I) || %3$L '
                                   'WHEN dwh_etl.try_numeric(b.%1$I) <> round(dwh_etl.try_numeric(b.%1$I), %4$s) THEN %2$L || devflow._quote(b.%1$I) || %5$L '
                                   'ELSE %2$L || devflow._quote(b.%1$I) || %6$L END',
                                   a.attname, a.attname || ' ', ' is not a valid number', n.scale,
                                   format(' has more than %s decimal places (%s; not rounded)', n.scale, format_type(a.atttypid, a.atttypmod)),
                                   ' is out of range for ' || format_type(a.atttypid, a.atttypmod))
                   ELSE format('%L || devflow._quote(b.%I) || %L', a.attname || ' ', a.attname, ' is not a valid ' || format_type(a.atttypid, NULL))
               END AS bad
        FROM pg_catalog.pg_attribute AS a
        CROSS JOIN LATERAL (SELECT CASE a.atttypid WHEN 'smallint'::regtype THEN -32768 ELSE -2147483648 END AS lo,
                                   CASE a.atttypid WHEN 'smallint'::regtype THEN 32767 ELSE 2147483647 END AS hi) AS r
        CROSS JOIN LATERAL (SELECT ((a.atttypmod - 4) >> 16) & 65535 AS prec, (a.atttypmod - 4) & 65535 AS scale) AS n
        WHERE a.attrelid = v_rel AND a.attnum > 0 AND NOT a.attisdropped AND a.attname !~ '^_'
    ) AS c;

    PERFORM 'PRAGMA:TABLE: _dfs_typed (_bronze_id bigint, _record_key text, _reasons text[])';
    IF to_regclass('pg_temp._dfs_typed') IS NOT NULL THEN DROP TABLE pg_temp._dfs_typed; END IF;
    -- Zone-less timestamp texts are read in the source's zone, not the session's (under PGTZ=America/
    -- New_York they were stored five hours off): the typing runs with TimeZone = devflow.source_timezone,
    -- restored right after (and by the rollback if the step fails).
    PERFORM set_config('TimeZone', v_zone, true);
    -- no JIT for the typing query: its generated expressions take tens of seconds to compile (65 s for
    -- 24k metric samples) and a fraction of a second to run
    PERFORM set_config('jit', 'off', true);
    EXECUTE format($q$
        CREATE TEMP TABLE _dfs_typed ON COMMIT DROP AS
        WITH typed AS MATERIALIZED (
            SELECT b._bronze_id, %1$s
            FROM %2$s AS b
            -- OFFSET 0 keeps p a subquery of its own, evaluated once per row (pulled up, each p.x
            -- would become its parse expression again)
            CROSS JOIN LATERAL (SELECT %5$s OFFSET 0) AS p
            WHERE b._ingested_at >= $1 AND b._ingested_at < $2
        )
        SELECT t.*,
               devflow._record_key(concat_ws('/', %3$s)) AS _record_key,
               dwh_etl.reasons(VARIADIC ARRAY[%4$s]::text[]) AS _reasons
        FROM typed AS t
        JOIN %2$s AS b
          ON b._bronze_id = t._bronze_id
        $q$,
        v_typed, to_regclass(p_source),
        (SELECT string_agg(format('b.%I', k), ', ') FROM unnest(p_key) AS k),
        concat_ws(', ', v_reasons, NULLIF(array_to_string(p_checks, ', '), '')),
        v_parse)
    USING v_win.from_ts, v_win.to_ts;
    GET DIAGNOSTICS v_read = ROW_COUNT;
    PERFORM set_config('TimeZone', v_session, true);

    v_bad := dwh_etl.quarantine_rows('_dfs_typed', p_bronze, p_silver);
    SELECT count(*) INTO v_valid FROM _dfs_typed AS t WHERE cardinality(t._reasons) = 0;

    IF to_regclass('pg_temp._dfs_latest') IS NOT NULL THEN DROP TABLE pg_temp._dfs_latest; END IF;
    EXECUTE format($q$
        CREATE TEMP TABLE _dfs_latest ON COMMIT DROP AS
        SELECT DISTINCT ON (%1$s) t.*
        FROM _dfs_typed AS t
        WHERE cardinality(t._reasons) = 0
        ORDER BY %1$s, t.%2$I DESC NULLS LAST, t._bronze_id DESC
        $q$,
        dwh_etl._col_list(p_key, 't'), p_ts_column);
    GET DIAGNOSTICS v_latest = ROW_COUNT;

    PERFORM dwh_etl.reconcile(
        p_target      => p_silver,
        p_source      => p_bronze,
        p_read        => v_read,
        p_accepted    => v_latest,
        p_quarantined => v_bad,
        p_duplicates  => v_valid - v_latest);

    EXECUTE format($q$
        INSERT INTO %1$s AS s (%2$s, _batch_id, _loaded_at)
        SELECT %3$s, $1, now()
        FROM _dfs_latest AS l
        ON CONFLICT (%4$s) DO UPDATE
        SET %5$s, _batch_id = EXCLUDED._batch_id, _loaded_at = EXCLUDED._loaded_at
        WHERE s.%6$I <= EXCLUDED.%6$I
          AND (%7$s) IS DISTINCT FROM (%8$s)
        $q$,
        v_rel, dwh_etl._col_list(v_cols), dwh_etl._col_list(v_cols, 'l'), dwh_etl._col_list(p_key),
        (SELECT string_agg(format('%1$I = EXCLUDED.%1$I', c), ', ') FROM unnest(v_cols) AS c),
        p_ts_column,
        dwh_etl._col_list(v_cols, 's'),
        (SELECT string_agg(format('EXCLUDED.%I', c), ', ') FROM unnest(v_cols) AS c))
    USING v_batch;
    GET DIAGNOSTICS v_upsert = ROW_COUNT;

    PERFORM dwh_lineage.log_transformation(
        in_source_table   => p_bronze,
        in_target_table   => p_silver,
        in_batch_id       => NULL,
        in_rows_inserted  => v_upsert,
        in_rows_unchanged => v_latest - v_upsert,
        in_rows_rejected  => v_bad,
        in_notes          => format('%s bronze rows = %s latest (%s upserted) + %s quarantined + %s duplicates collapsed',
                                    v_read, v_latest, v_upsert, v_bad, v_valid - v_latest));
    CALL dwh_etl.set_watermark(p_silver, '_ingested_at', v_win.to_ts);
    DROP TABLE _dfs_typed, _dfs_latest;
    RETURN v_upsert;
END;
$$;
COMMENT ON FUNCTION devflow._load_silver(text, text, text, text[], text, text[], date) IS 'Generic devflow silver load: type, validate (quarantine), deduplicate and upsert the bronze rows of the window into one silver table.';
