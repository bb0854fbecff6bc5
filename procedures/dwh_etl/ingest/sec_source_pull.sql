-- One pull of an fdw source (dwh_etl.source_add(..., p_mode => 'fdw')) into its local copies, on behalf
-- of the pipeline step `sources` (etl_service has no user mapping, and should not have one: the
-- credentials are the owner's). SECURITY DEFINER, so it is narrow: the source is looked up by name in
-- the owner-only registry dwh_etl.sources and every name comes from there, quoted.
-- Per table, in the caller's transaction (postgres_fdw reads the source in one REPEATABLE READ
-- transaction, so all tables and both passes below see one snapshot of it):
-- 1. the rows whose change column is at or after the table's watermark minus sources.fdw_overlap, or
--    NULL (the predicate is sent to the source: only those rows travel), merged by primary key:
--    inserted, or updated when they differ (rows read again in the overlap are no-ops, which leave
--    their arrival stamp alone, so nothing is extracted twice);
-- 2. the local rows whose key is gone from the source are deleted (the tombstone trigger records them):
--    this reads every key of the source, which is what seeing deletes without replication costs;
-- 3. the watermark moves to the highest change time read, never past this pull's start (a row stamped
--    in the future is read again until its time has come).
-- The overlap is what covers a source transaction that commits later than its rows' change time:
-- committed within sources.fdw_overlap of that time, its rows are read by a later pull; later than
-- that, they are missed until they change again (use replicate mode where that matters).
-- A source that cannot be reached raises 08001 naming it: the step fails, its dependents are skipped,
-- nothing moves, and the next run reads from the same watermark.
-- p_run_id: the run pulling (the ingestions are logged for it and its step); NULL outside a pipeline.
-- The earlier signature, replaced by this one (a new argument list would otherwise add an overload).
DROP FUNCTION IF EXISTS dwh_etl.sec_source_pull(text);
CREATE OR REPLACE FUNCTION dwh_etl.sec_source_pull(
    p_name   text,
    p_run_id bigint DEFAULT NULL
)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_src     dwh_etl.sources;
    v_overlap interval := dwh_etl.get_setting('sources.fdw_overlap', '1 hour')::interval;
    v_start   timestamptz := pg_catalog.now();
    v_t       text;
    v_cols    text[];
    v_keys    text[];
    v_from    timestamptz;
    v_max     timestamptz;
    v_n       bigint;
    v_total   bigint := 0;
    v_msg     text;
    v_det     text;
BEGIN
    SELECT * INTO v_src FROM dwh_etl.sources AS s WHERE s.source_name = p_name AND s.mode = 'fdw';
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no fdw source %', quote_literal(COALESCE(p_name, 'NULL'))
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    FOREACH v_t IN ARRAY v_src.tables LOOP
        SELECT array_agg(a.attname::text ORDER BY a.attnum) INTO v_cols
        FROM pg_catalog.pg_attribute AS a
        WHERE a.attrelid = format('%I.%I', v_src.landing_schema, v_t)::regclass
          AND a.attnum > 0 AND NOT a.attisdropped AND a.attname <> '_dwh_arrived_at';
        SELECT array_agg(a.attname::text ORDER BY array_position(i.indkey::int2[], a.attnum)) INTO v_keys
        FROM pg_catalog.pg_index AS i
        JOIN pg_catalog.pg_attribute AS a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
        WHERE i.indrelid = format('%I.%I', v_src.landing_schema, v_t)::regclass AND i.indisprimary;
        SELECT w.watermark_value - v_overlap INTO v_from
        FROM dwh_etl.source_watermarks AS w WHERE w.source_name = p_name AND w.table_name = v_t;

        BEGIN
            EXECUTE format(
                'WITH src AS MATERIALIZED (SELECT %2$s FROM %3$I.%4$I AS r %1$s),
                      merged AS (
                          INSERT INTO %6$I.%4$I AS l (%2$s) SELECT %2$s FROM src
                          ON CONFLICT (%7$s) DO UPDATE SET (%2$s) = ROW (%8$s)
                          WHERE (%9$s) IS DISTINCT FROM (%8$s)
                          RETURNING 1)
                 SELECT (SELECT count(*) FROM merged), (SELECT max(src.%5$I)::timestamptz FROM src)',
                CASE WHEN v_from IS NOT NULL THEN format('WHERE r.%1$I >= $1 OR r.%1$I IS NULL', v_src.change_column) END,
                dwh_etl._col_list(v_cols), v_src.foreign_schema, v_t, v_src.change_column, v_src.landing_schema,
                dwh_etl._col_list(v_keys),
                (SELECT string_agg(format('EXCLUDED.%I', c), ', ' ORDER BY o) FROM unnest(v_cols) WITH ORDINALITY AS u (c, o)),
                (SELECT string_agg(format('l.%I', c), ', ' ORDER BY o) FROM unnest(v_cols) WITH ORDINALITY AS u (c, o)))
            INTO v_n, v_max
            USING v_from;
            v_total := v_total + v_n;
            PERFORM dwh_lineage.log_ingestion(format('%I.%I', v_src.landing_schema, v_t),
                                              NULL, format('%s:%s.%s', p_name, v_src.remote_schema, v_t), v_n, p_run_id);
            EXECUTE format('DELETE FROM %1$I.%2$I AS l WHERE NOT EXISTS (SELECT 1 FROM %3$I.%2$I AS r WHERE %4$s)',
                           v_src.landing_schema, v_t, v_src.foreign_schema,
                           (SELECT string_agg(format('r.%1$I = l.%1$I', k), ' AND ') FROM unnest(v_keys) AS k));
            GET DIAGNOSTICS v_n = ROW_COUNT;
            v_total := v_total + v_n;
        EXCEPTION WHEN sqlclient_unable_to_establish_sqlconnection OR connection_exception OR connection_failure
                       OR fdw_unable_to_establish_connection OR fdw_error THEN
            GET STACKED DIAGNOSTICS v_msg = MESSAGE_TEXT, v_det = PG_EXCEPTION_DETAIL;
            RAISE EXCEPTION 'source % (%) cannot be read: %', p_name, v_src.remote,
                            regexp_replace(concat_ws(': ', v_msg, NULLIF(v_det, '')), '\s+', ' ', 'g')
                USING ERRCODE = 'sqlclient_unable_to_establish_sqlconnection',
                      HINT = 'Nothing was pulled; the next run reads from the same watermark once the source is back.';
        END;

        IF v_max IS NOT NULL THEN
            INSERT INTO dwh_etl.source_watermarks AS w (source_name, table_name, watermark_value)
            VALUES (p_name, v_t, LEAST(v_max, v_start))
            ON CONFLICT (source_name, table_name) DO UPDATE
            SET watermark_value = GREATEST(w.watermark_value, EXCLUDED.watermark_value), updated_at = pg_catalog.now();
        END IF;
    END LOOP;
    UPDATE dwh_etl.sources AS s SET last_sync_at = pg_catalog.now(), last_sync_rows = v_total WHERE s.source_name = p_name;
    RETURN v_total;
END;
$$;
REVOKE ALL ON FUNCTION dwh_etl.sec_source_pull(text, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl.sec_source_pull(text, bigint) TO etl_service;
COMMENT ON FUNCTION dwh_etl.sec_source_pull(text, bigint) IS 'SECURITY DEFINER: pull an fdw source''s changed rows (watermark minus sources.fdw_overlap, merged by key) and its deletes into its local copies. Returns rows written.';
