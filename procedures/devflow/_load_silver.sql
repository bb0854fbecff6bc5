-- The silver load of one devflow entity, generic over the silver table's columns: the bronze rows of
-- the window [watermark, safe upper bound) on _ingested_at (read from p_source, the bronze table or a
-- view over it that unpacks JSON), each silver column typed from the text column of the same name
-- (integer, numeric, timestamptz, date, boolean, text[], jsonb, text); a value that does not parse, a
-- missing NOT NULL value or a failed entity check (p_checks: SQL expressions over the typed row t that
-- yield a reason or NULL) sends the row to dwh_etl.quarantine with every reason. The latest valid row
-- per natural key (by p_ts_column, then arrival) is upserted when newer and different. Reconciled,
-- logged, watermark advanced; returns the rows upserted.
CREATE OR REPLACE FUNCTION devflow._load_silver(
    p_source    text,
    p_bronze    text,
    p_silver    text,
    p_key       text[],
    p_ts_column text,
    p_checks    text[] DEFAULT '{}'
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
BEGIN
    SELECT array_agg(a.attname::text ORDER BY a.attnum),
           string_agg(format('%s AS %I',
               CASE
                   WHEN a.atttypid IN ('integer'::regtype, 'bigint'::regtype, 'smallint'::regtype)
                       THEN format('dwh_etl.try_bigint(b.%I)', a.attname)
                   WHEN a.atttypid = 'numeric'::regtype
                       THEN format('dwh_etl.try_numeric(b.%I)', a.attname)
                   WHEN a.atttypid = 'timestamptz'::regtype
                       THEN format('dwh_etl.try_timestamptz(b.%I)', a.attname)
                   WHEN a.atttypid = 'date'::regtype
                       THEN format('dwh_etl.try_timestamptz(b.%I)::date', a.attname)
                   WHEN a.atttypid = 'boolean'::regtype
                       THEN format('CASE lower(btrim(b.%1$I)) WHEN ''true'' THEN true WHEN ''t'' THEN true WHEN ''false'' THEN false WHEN ''f'' THEN false END', a.attname)
                   WHEN a.atttypid = 'text[]'::regtype
                       THEN format('CASE WHEN b.%1$I ~ ''^\{.*\}$'' THEN b.%1$I::text[] END', a.attname)
                   WHEN a.atttypid = 'jsonb'::regtype
                       THEN format('devflow._try_jsonb(b.%I)', a.attname)
                   ELSE format('b.%I', a.attname)
               END, a.attname), ', ' ORDER BY a.attnum),
           string_agg(format('CASE WHEN b.%1$I IS NOT NULL AND t.%1$I IS NULL THEN %2$L %3$s',
                             a.attname, a.attname || ' is not a valid ' || format_type(a.atttypid, NULL),
                             CASE WHEN a.attnotnull THEN format('WHEN t.%I IS NULL THEN %L', a.attname, a.attname || ' is missing') ELSE '' END)
                      || ' END', ', ' ORDER BY a.attnum)
    INTO v_cols, v_typed, v_reasons
    FROM pg_catalog.pg_attribute AS a
    WHERE a.attrelid = v_rel AND a.attnum > 0 AND NOT a.attisdropped AND a.attname !~ '^_';

    PERFORM 'PRAGMA:TABLE: _dfs_typed (_bronze_id bigint, _record_key text, _reasons text[])';
    IF to_regclass('pg_temp._dfs_typed') IS NOT NULL THEN DROP TABLE pg_temp._dfs_typed; END IF;
    EXECUTE format($q$
        CREATE TEMP TABLE _dfs_typed ON COMMIT DROP AS
        WITH typed AS MATERIALIZED (
            SELECT b._bronze_id, %1$s
            FROM %2$s AS b
            WHERE b._ingested_at >= $1 AND b._ingested_at < $2
        )
        SELECT t.*,
               concat_ws('/', %3$s) AS _record_key,
               dwh_etl.reasons(VARIADIC ARRAY[%4$s]::text[]) AS _reasons
        FROM typed AS t
        JOIN %2$s AS b
          ON b._bronze_id = t._bronze_id
        $q$,
        v_typed, to_regclass(p_source),
        (SELECT string_agg(format('b.%I', k), ', ') FROM unnest(p_key) AS k),
        concat_ws(', ', v_reasons, NULLIF(array_to_string(p_checks, ', '), '')))
    USING v_win.from_ts, v_win.to_ts;
    GET DIAGNOSTICS v_read = ROW_COUNT;

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
COMMENT ON FUNCTION devflow._load_silver(text, text, text, text[], text, text[]) IS 'Generic devflow silver load: type, validate (quarantine), deduplicate and upsert the bronze rows of the window into one silver table.';
