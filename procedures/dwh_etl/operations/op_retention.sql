-- Maintenance step: for each setting retention.<schema.table> (an interval, e.g. '3 years'), the range
-- partitions of that table that lie entirely before (run date, at most today) - horizon are detached
-- and moved to schema archive with ALTER TABLE ... SET SCHEMA: the same storage, no row copied or
-- deleted. Each is recorded in dwh_etl.archived_partitions and in the lineage. Bounds are read from
-- the partition bound (integer YYYYMMDD, date or timestamptz key). A name already taken in archive gets
-- the parent's schema as prefix.
CREATE OR REPLACE PROCEDURE dwh_etl.op_retention(
    p_run_id   bigint,
    p_run_date date
)
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_setting record;
    v_part    record;
    v_rel     regclass;
    v_horizon interval;
    v_cutoff  date;
    v_keytype regtype;
    v_name    text;
    v_rows    bigint;
    v_count   integer;
    v_arch    record;
    v_q       jsonb;
BEGIN
    FOR v_setting IN
        SELECT substr(s.key, length('retention.') + 1) AS table_name, s.value
        FROM dwh_etl.settings AS s
        WHERE s.key LIKE 'retention.%'
        ORDER BY s.key
    LOOP
        BEGIN
            v_horizon := v_setting.value::interval;
        EXCEPTION WHEN invalid_datetime_format OR datetime_field_overflow OR syntax_error THEN
            RAISE EXCEPTION 'setting retention.% is not an interval: %', v_setting.table_name, quote_literal(v_setting.value)
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = format('UPDATE dwh_etl.settings SET value = ''3 years'' WHERE key = %L', 'retention.' || v_setting.table_name);
        END;
        v_rel := to_regclass(v_setting.table_name);
        -- a bronze table (append-only, not range-partitioned: migration 0033): its rows older than the
        -- horizon are deleted, never those its silver loads have not read (dwh_etl.sec_purge_bronze)
        IF v_rel IS NOT NULL AND EXISTS (SELECT 1 FROM pg_catalog.pg_class AS c
                                         WHERE c.oid = v_rel AND c.relkind = 'r'
                                           AND c.relnamespace = 'bronze'::regnamespace) THEN
            IF v_horizon <= interval '0' THEN
                RAISE EXCEPTION 'setting retention.% is not a positive interval: %', v_setting.table_name, quote_literal(v_setting.value)
                    USING ERRCODE = 'invalid_parameter_value';
            END IF;
            -- UTC whatever the session's TimeZone (the runner pins it; a call by hand may not)
            v_cutoff := (LEAST(p_run_date, (now() AT TIME ZONE 'UTC')::date) - v_horizon)::date;
            PERFORM dwh_etl.sec_purge_bronze(v_rel, v_cutoff::timestamp AT TIME ZONE 'UTC');  -- it reports what it deleted
            CONTINUE;
        END IF;
        IF v_rel IS NULL OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_partitioned_table AS pt
                                        WHERE pt.partrelid = v_rel AND pt.partstrat = 'r' AND pt.partnatts = 1) THEN
            RAISE EXCEPTION 'setting retention.% names no range-partitioned table', v_setting.table_name
                USING ERRCODE = 'wrong_object_type',
                      HINT = format('retention applies to range-partitioned tables and bronze tables; DELETE FROM dwh_etl.settings WHERE key = %L',
                                    'retention.' || v_setting.table_name);
        END IF;
        SELECT a.atttypid::regtype
        INTO v_keytype
        FROM pg_catalog.pg_partitioned_table AS pt
        JOIN pg_catalog.pg_attribute AS a
          ON a.attrelid = pt.partrelid
         AND a.attnum = pt.partattrs[0]
        WHERE pt.partrelid = v_rel;
        -- today in UTC, as for bronze above (attack 13c: CURRENT_DATE is the caller's TimeZone's date)
        v_cutoff := (LEAST(p_run_date, (now() AT TIME ZONE 'UTC')::date) - v_horizon)::date;
        v_count := 0;

        FOR v_part IN
            WITH parts AS (
                SELECT c.oid AS relid, n.nspname, c.relname,
                       regexp_match(pg_catalog.pg_get_expr(c.relpartbound, c.oid),
                                    '^FOR VALUES FROM \(''?([^'')]+)''?\) TO \(''?([^'')]+)''?\)$') AS b
                FROM pg_catalog.pg_inherits AS i
                JOIN pg_catalog.pg_class AS c
                  ON c.oid = i.inhrelid
                JOIN pg_catalog.pg_namespace AS n
                  ON n.oid = c.relnamespace
                WHERE i.inhparent = v_rel
            )
            SELECT p.relid, p.nspname, p.relname, p.b[1] AS range_from, p.b[2] AS range_to
            FROM parts AS p
            WHERE p.b IS NOT NULL
              AND p.b[2] NOT IN ('MINVALUE', 'MAXVALUE')
              AND CASE WHEN v_keytype IN ('integer'::regtype, 'bigint'::regtype)
                       THEN p.b[2]::bigint <= to_char(v_cutoff, 'YYYYMMDD')::bigint
                       ELSE p.b[2]::timestamptz <= v_cutoff::timestamp AT TIME ZONE 'UTC'
                  END
            ORDER BY p.b[2]
        LOOP
            -- Detach + move need ownership: done by the SECURITY DEFINER routine, which re-checks that the
            -- partition is entirely older than the retention horizon (etl_service runs this step).
            -- the fact steps loading this table queue the values of the rows they touch for the marts
            -- downstream (e.g. the customers whose metrics, and so lifetime value, are recomputed): the rows
            -- of this partition leave the table, their values other than the date (whose marts keep the
            -- archived dates) are queued the same way
            FOR v_q IN
                SELECT DISTINCT e
                FROM dwh_etl.steps AS s
                CROSS JOIN LATERAL jsonb_array_elements(dwh_etl._affected_queues(s.spec)) AS e
                WHERE s.kind = 'fact'
                  AND to_regclass(s.spec->>'target') = v_rel
                  AND e->>'column' IS DISTINCT FROM s.spec->>'date_key'
                  AND to_regclass(e->>'table') IS NOT NULL
            LOOP
                EXECUTE format('INSERT INTO %s (%I, run_id) SELECT DISTINCT p.%2$I, $1 FROM %s AS p '
                               'WHERE p.%2$I IS NOT NULL ON CONFLICT DO NOTHING',
                               to_regclass(v_q->>'table'), v_q->>'column', v_part.relid::regclass)
                USING p_run_id;
            END LOOP;
            SELECT a.* INTO v_arch FROM dwh_etl.sec_archive_partition(v_part.relid, p_run_date) AS a;
            v_rows := v_arch.rows_archived;
            v_name := substr(v_arch.archived_table, length('archive.') + 1);
            INSERT INTO dwh_etl.archived_partitions (
                parent_table, partition_name, archived_table, range_from, range_to, row_count, retention, run_id)
            VALUES (v_setting.table_name, format('%I.%I', v_part.nspname, v_part.relname), v_arch.archived_table,
                    v_part.range_from, v_part.range_to, v_rows, v_horizon, p_run_id);
            PERFORM dwh_lineage.log_transformation(
                in_source_table  => v_setting.table_name,
                in_target_table  => v_arch.archived_table,
                in_batch_id      => NULL,
                in_rows_inserted => v_rows,
                in_notes         => format('retention %s: partition %I.%I [%s, %s) detached and moved to schema archive (no row copied)',
                                           v_horizon, v_part.nspname, v_part.relname, v_part.range_from, v_part.range_to),
                in_run_id        => p_run_id);
            RAISE NOTICE 'archived %.% (% rows) as archive.%', v_part.nspname, v_part.relname, v_rows, v_name;
            v_count := v_count + 1;
        END LOOP;
        RAISE NOTICE 'retention of % (%): % partition(s) older than % archived', v_setting.table_name, v_horizon, v_count, v_cutoff;
    END LOOP;
END;
$$;
COMMENT ON PROCEDURE dwh_etl.op_retention(bigint, date) IS 'Maintenance step: detach the partitions older than retention.<table> and move them to schema archive (no row copied), recorded in dwh_etl.archived_partitions; for a bronze table, delete its rows ingested before the horizon that silver has read (dwh_etl.sec_purge_bronze). Example: CALL dwh_etl.op_retention(NULL, CURRENT_DATE);';
