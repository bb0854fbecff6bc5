-- Maintenance step: folds the file-load children of the bronze tables (migration 0027: a file load lands
-- in a table of its own, an inheritance child of its bronze table, so the load pays no index
-- maintenance) into the month partitions of their tables once they are older than setting
-- bronze.compact_after (an interval, default '1 day': a day of hourly loads stays as children), then
-- moves each bronze table's own rows of ended months into their month partitions
-- (dwh_etl.sec_seal_bronze_months): bronze is partitioned by ingestion time (see dwh_etl._bronze_period).
-- Each child is folded in its own subtransaction by dwh_etl.sec_compact_file_load, oldest first; a
-- child that cannot be folded (its table locked past lock_timeout by a long load, say) is left for the
-- next run with a WARNING, the others are folded. Recorded in the lineage per table (source
-- dwh_etl.loaded_files: the rows are those of file loads).
CREATE OR REPLACE PROCEDURE dwh_etl.op_compact_bronze(
    p_run_id   bigint,
    p_run_date date
)
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_after  interval;
    v_cutoff timestamptz;
    v_load   record;
    v_rows   bigint;
    v_table  record;
    v_done_t text[] := '{}'::text[];
    v_done_r bigint[] := '{}'::bigint[];
BEGIN
    BEGIN
        v_after := dwh_etl.get_setting('bronze.compact_after', '1 day')::interval;
    EXCEPTION WHEN invalid_datetime_format OR datetime_field_overflow OR syntax_error THEN
        RAISE EXCEPTION 'setting bronze.compact_after is not an interval: %',
                        quote_literal(dwh_etl.get_setting('bronze.compact_after', '1 day'))
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'UPDATE dwh_etl.settings SET value = ''1 day'' WHERE key = ''bronze.compact_after''';
    END;
    -- a run date in the past folds less, never more than "now - compact_after"
    v_cutoff := LEAST(now(), (p_run_date + 1)::timestamptz) - v_after;

    FOR v_load IN
        SELECT f.file_id, f.target_table, f.landed_in
        FROM dwh_etl.loaded_files AS f
        WHERE f.status = 'loaded'
          AND f.landed_in IS NOT NULL
          AND f.loaded_at < v_cutoff
        ORDER BY f.loaded_at, f.file_id
    LOOP
        BEGIN
            v_rows := dwh_etl.sec_compact_file_load(v_load.file_id);
            IF v_rows IS NOT NULL THEN
                v_done_t := v_done_t || v_load.target_table;
                v_done_r := v_done_r || v_rows;
            END IF;
        EXCEPTION WHEN lock_not_available OR object_not_in_prerequisite_state OR query_canceled
                       OR dependent_objects_still_exist THEN
            -- query_canceled: a statement_timeout leaves that load for the next run; a cancel (dwh cancel,
            -- pg_cancel_backend, Ctrl-C) ends the step, as everywhere else (it was swallowed here and the
            -- compaction went on with the next load): only a cancel recognizably a timeout is a warning;
            -- dependent_objects_still_exist: something made a table inherit from the child (its DROP
            -- refused): that load stays a child, the others are folded (attack 13c)
            IF SQLSTATE = '57014' AND NOT dwh_etl._is_statement_timeout(SQLERRM) THEN
                RAISE;
            END IF;
            RAISE WARNING 'file load % (%) not folded into %: %', v_load.file_id, v_load.landed_in, v_load.target_table, SQLERRM;
        END;
    END LOOP;

    -- the rows of ended months, table by table, each in its own subtransaction
    FOR v_table IN
        SELECT c.oid::regclass AS rel
        FROM pg_catalog.pg_class AS c
        WHERE c.relnamespace = 'bronze'::regnamespace
          AND c.relkind = 'r'
          AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_inherits AS i WHERE i.inhrelid = c.oid)
          AND c.relname !~ '_landing$'
          -- the bronze shape (create_bronze): ids and ingestion times (bronze.cdc_events has its own)
          AND (SELECT count(*) FROM pg_catalog.pg_attribute AS a
               WHERE a.attrelid = c.oid AND NOT a.attisdropped
                 AND (a.attname, a.atttypid) IN (('_ingested_at', 'timestamptz'::regtype), ('_bronze_id', 'bigint'::regtype))) = 2
        ORDER BY c.relname
    LOOP
        BEGIN
            v_rows := dwh_etl.sec_seal_bronze_months(v_table.rel);
            IF v_rows > 0 THEN
                RAISE NOTICE 'partitioned %: % row(s) of ended months moved into their month partitions', v_table.rel, v_rows;
            END IF;
        EXCEPTION WHEN lock_not_available OR query_canceled OR duplicate_table OR deadlock_detected THEN
            IF SQLSTATE = '57014' AND NOT dwh_etl._is_statement_timeout(SQLERRM) THEN
                RAISE;  -- a cancel ends the step (above)
            END IF;
            RAISE WARNING 'rows of ended months of % not moved: %', v_table.rel, SQLERRM;
        END;
    END LOOP;

    FOR v_table IN
        SELECT u.target_table, count(*)::integer AS loads, sum(u.rows_moved)::bigint AS rows_moved
        FROM unnest(v_done_t, v_done_r) AS u(target_table, rows_moved)
        GROUP BY u.target_table
        ORDER BY u.target_table
    LOOP
        PERFORM dwh_lineage.log_transformation(
            in_source_table  => 'dwh_etl.loaded_files',
            in_target_table  => v_table.target_table,
            in_batch_id      => NULL,
            in_rows_inserted => v_table.rows_moved,
            in_notes         => format('compaction: %s file load(s) older than %s folded into the table''s month partitions', v_table.loads, v_after),
            in_run_id        => p_run_id);
        RAISE NOTICE 'compacted %: % file load(s), % rows', v_table.target_table, v_table.loads, v_table.rows_moved;
    END LOOP;
END;
$$;
REVOKE ALL ON PROCEDURE dwh_etl.op_compact_bronze(bigint, date) FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE dwh_etl.op_compact_bronze(bigint, date) TO etl_service;
COMMENT ON PROCEDURE dwh_etl.op_compact_bronze(bigint, date) IS 'Maintenance step: fold the file-load children of bronze tables older than bronze.compact_after (default 1 day) into their month partitions (dwh_etl.sec_compact_file_load), and move the rows of ended months of each bronze table into its month partitions (dwh_etl.sec_seal_bronze_months). Example: CALL dwh_etl.op_compact_bronze(NULL, CURRENT_DATE);';
