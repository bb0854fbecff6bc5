-- One pull of an fdw source (dwh_etl.source_add(..., p_mode => 'fdw')) into its local copies, on behalf
-- of the pipeline step `sources` (etl_service has no user mapping, and should not have one: the
-- credentials are the owner's). SECURITY DEFINER, so it is narrow: the source is looked up by name in
-- the owner-only registry dwh_etl.sources and every name comes from there, quoted.
-- Per table, in the caller's transaction (postgres_fdw reads the source in one REPEATABLE READ
-- transaction, so all tables and both passes below see one snapshot of it):
-- 1. every key of the source with its change column (what seeing deletes without replication costs):
--    the local rows whose key is gone from the source are deleted (the tombstone trigger records them),
--    and the rows whose change time differs from the copy's although it lies before the window (a row
--    deleted and re-inserted, or committed late, with an old stamp: attack 11) are counted;
-- 2. the rows whose change column is at or after the table's watermark minus sources.fdw_overlap, or
--    NULL (the predicate is sent to the source: only those rows travel), or every row when step 1 found
--    such a row or there is no watermark yet, merged by primary key: inserted, or updated when they
--    differ (rows read again are no-ops, which leave their arrival stamp alone, so nothing is extracted
--    twice);
-- 3. the watermark moves to the highest change time read, never past this pull's start (a row stamped
--    in the future is read again until its time has come).
-- So a row is missed only while a change on the source keeps its change time as it was.
-- The source's row in dwh_etl.sources is locked first (FOR NO KEY UPDATE): dwh_etl.source_remove (FOR
-- UPDATE) waits for a running pull instead of deadlocking with it, and two pulls of one source queue.
-- TimeZone is UTC during the pull (the caller's comes back after): a change column without time zone is compared with the
-- watermark the same way whoever calls (attack 11: a pull from a session in Asia/Tokyo read the source's
-- wall-clock times nine hours earlier than the watermark a UTC pull stored, and skipped rows).
-- A source that cannot be reached raises 08001 naming it; any other error of a table (dropped on the
-- source, a value that no longer fits the foreign table's type) keeps its SQLSTATE and names the source
-- and the table. The step fails, its dependents are skipped, nothing moves, and the next run reads from
-- the same watermark.
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
    v_state   text;
    v_stale   bigint;
    v_keyeq   text;
    v_tz      text := pg_catalog.current_setting('TimeZone');
BEGIN
    -- not a SET clause (a definer routine pins only search_path): the caller's zone comes back at the end,
    -- and an error rolls the transaction (or the caller's savepoint) back with the setting
    PERFORM pg_catalog.set_config('TimeZone', 'UTC', true);
    SELECT * INTO v_src FROM dwh_etl.sources AS s WHERE s.source_name = p_name AND s.mode = 'fdw' FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        -- a replicated source is not pulled: say so, not "no fdw source" (readme17)
        IF EXISTS (SELECT 1 FROM dwh_etl.sources AS s WHERE s.source_name = p_name AND s.mode = 'replicate') THEN
            RAISE EXCEPTION 'source % is replicated, not pulled: its subscription keeps its copies current', quote_literal(p_name)
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'dwh source status shows its state and lag; only fdw sources are pulled';
        END IF;
        RAISE EXCEPTION 'no fdw source %', quote_literal(COALESCE(p_name, 'NULL'))
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'dwh source list shows the sources and their modes';
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

        v_keyeq := (SELECT string_agg(format('r.%1$I = l.%1$I', k), ' AND ') FROM unnest(v_keys) AS k);
        BEGIN
            -- 1. the source's keys and change times: deletes, and rows changed behind the window
            EXECUTE format(
                'WITH r AS MATERIALIZED (SELECT %1$s FROM %3$I.%4$I),
                      gone AS (DELETE FROM %5$I.%4$I AS l WHERE NOT EXISTS (SELECT 1 FROM r WHERE %6$s) RETURNING 1)
                 SELECT (SELECT count(*) FROM gone),
                        (SELECT count(*) FROM r LEFT JOIN %5$I.%4$I AS l ON %6$s
                         WHERE r.%2$I < $1 AND l.%2$I IS DISTINCT FROM r.%2$I)',
                dwh_etl._col_list(v_keys || CASE WHEN v_src.change_column = ANY (v_keys) THEN '{}'::text[] ELSE ARRAY[v_src.change_column] END),
                v_src.change_column, v_src.foreign_schema, v_t, v_src.landing_schema, v_keyeq)
            INTO v_n, v_stale
            USING v_from;
            v_total := v_total + v_n;
            -- 2. the window (or everything), merged by key
            EXECUTE format(
                'WITH src AS MATERIALIZED (SELECT %2$s FROM %3$I.%4$I AS r %1$s),
                      merged AS (
                          INSERT INTO %6$I.%4$I AS l (%2$s) SELECT %2$s FROM src
                          ON CONFLICT (%7$s) DO UPDATE SET (%2$s) = ROW (%8$s)
                          WHERE (%9$s) IS DISTINCT FROM (%8$s)
                          RETURNING 1)
                 SELECT (SELECT count(*) FROM merged), (SELECT max(src.%5$I)::timestamptz FROM src)',
                CASE WHEN v_from IS NOT NULL AND v_stale = 0 THEN format('WHERE r.%1$I >= $1 OR r.%1$I IS NULL', v_src.change_column) END,
                dwh_etl._col_list(v_cols), v_src.foreign_schema, v_t, v_src.change_column, v_src.landing_schema,
                dwh_etl._col_list(v_keys),
                (SELECT string_agg(format('EXCLUDED.%I', c), ', ' ORDER BY o) FROM unnest(v_cols) WITH ORDINALITY AS u (c, o)),
                (SELECT string_agg(format('l.%I', c), ', ' ORDER BY o) FROM unnest(v_cols) WITH ORDINALITY AS u (c, o)))
            INTO v_n, v_max
            USING v_from;
            v_total := v_total + v_n;
            PERFORM dwh_lineage.log_ingestion(format('%I.%I', v_src.landing_schema, v_t),
                                              NULL, format('%s:%s.%s', p_name, v_src.remote_schema, v_t), v_n, p_run_id);
        EXCEPTION
            WHEN sqlclient_unable_to_establish_sqlconnection OR connection_exception OR connection_failure
                 OR fdw_unable_to_establish_connection OR fdw_error THEN
                GET STACKED DIAGNOSTICS v_msg = MESSAGE_TEXT, v_det = PG_EXCEPTION_DETAIL;
                RAISE EXCEPTION 'source % (%) cannot be read: %', p_name, v_src.remote,
                                regexp_replace(concat_ws(': ', v_msg, NULLIF(v_det, '')), '\s+', ' ', 'g')
                    USING ERRCODE = 'sqlclient_unable_to_establish_sqlconnection',
                          HINT = 'Nothing was pulled; the next run reads from the same watermark once the source is back.';
            WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS v_msg = MESSAGE_TEXT, v_det = PG_EXCEPTION_DETAIL, v_state = RETURNED_SQLSTATE;
                RAISE EXCEPTION 'source % (%): table %.% cannot be pulled: %', p_name, v_src.remote, v_src.remote_schema, v_t,
                                regexp_replace(concat_ws(': ', v_msg, NULLIF(v_det, '')), '\s+', ' ', 'g')
                    USING ERRCODE = v_state,
                          HINT = 'Nothing was pulled. A table dropped or a column changed on the source: change the foreign table '
                                 || v_src.foreign_schema || '.' || v_t || ' and the copy to match, or remove the source and add it again.';
        END;

        IF v_max IS NOT NULL THEN
            INSERT INTO dwh_etl.source_watermarks AS w (source_name, table_name, watermark_value)
            VALUES (p_name, v_t, LEAST(v_max, v_start))
            ON CONFLICT (source_name, table_name) DO UPDATE
            SET watermark_value = GREATEST(w.watermark_value, EXCLUDED.watermark_value), updated_at = pg_catalog.now();
        END IF;
    END LOOP;
    UPDATE dwh_etl.sources AS s SET last_sync_at = pg_catalog.now(), last_sync_rows = v_total WHERE s.source_name = p_name;
    PERFORM pg_catalog.set_config('TimeZone', v_tz, true);
    RETURN v_total;
END;
$$;
REVOKE ALL ON FUNCTION dwh_etl.sec_source_pull(text, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl.sec_source_pull(text, bigint) TO etl_service;
COMMENT ON FUNCTION dwh_etl.sec_source_pull(text, bigint) IS 'SECURITY DEFINER: pull an fdw source''s changed rows (watermark minus sources.fdw_overlap, merged by key) and its deletes into its local copies. Returns rows written.';
