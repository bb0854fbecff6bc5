-- Retention of one partition on behalf of etl_service, which does not own the partitioned tables
-- (DETACH PARTITION and SET SCHEMA need ownership, and schema archive is the owner's): detaches it
-- and moves it to schema archive as it is (same storage, no row copied), renamed <schema>_<name> when
-- archive already has its name. SECURITY DEFINER, so it is narrow, and decides nothing from the caller
-- but which partition and the run date:
--   * the partition's parent must be registered in dwh_etl.table_registry and have a setting
--     retention.<table> (an interval), else 42501;
--   * the partition must lie entirely before LEAST(p_run_date, today) - that interval (its upper bound
--     read from the catalog), else 22023: the caller cannot archive a recent partition.
-- Returns where it went, its rows and bounds; the caller records it (dwh_etl.op_retention).
CREATE OR REPLACE FUNCTION dwh_etl.sec_archive_partition(
    p_partition     regclass,
    p_run_date      date,
    OUT archived_table text,
    OUT rows_archived  bigint,
    OUT range_from     text,
    OUT range_to       text,
    OUT horizon        interval
)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_part   record;
    v_key    text;
    v_value  text;
    v_cutoff date;
    v_name   name;
    v_old    boolean;
BEGIN
    SELECT n.nspname, c.relname, i.inhparent AS parent, pn.nspname AS parent_nspname, p.relname AS parent_relname,
           a.atttypid::regtype AS keytype,
           regexp_match(pg_catalog.pg_get_expr(c.relpartbound, c.oid),
                        '^FOR VALUES FROM \(''?([^'')]+)''?\) TO \(''?([^'')]+)''?\)$') AS b
    INTO v_part
    FROM pg_catalog.pg_class AS c
    JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
    JOIN pg_catalog.pg_inherits AS i ON i.inhrelid = c.oid
    JOIN pg_catalog.pg_class AS p ON p.oid = i.inhparent
    JOIN pg_catalog.pg_namespace AS pn ON pn.oid = p.relnamespace
    JOIN pg_catalog.pg_partitioned_table AS pt ON pt.partrelid = p.oid AND pt.partstrat = 'r' AND pt.partnatts = 1
    JOIN pg_catalog.pg_attribute AS a ON a.attrelid = p.oid AND a.attnum = pt.partattrs[0]
    WHERE c.oid = p_partition
      AND c.relispartition
      AND c.relpersistence <> 't'
      AND EXISTS (SELECT 1 FROM dwh_etl.table_registry AS tr WHERE to_regclass(tr.table_name) = p.oid);
    IF NOT FOUND THEN
        RAISE EXCEPTION '% is not a partition of a registered range-partitioned table', COALESCE(p_partition::text, 'NULL')
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    SELECT s.key, s.value
    INTO v_key, v_value
    FROM dwh_etl.settings AS s
    WHERE s.key LIKE 'retention.%'
      AND to_regclass(substr(s.key, length('retention.') + 1)) = v_part.parent
    ORDER BY s.key
    LIMIT 1;
    IF NOT FOUND THEN
        RAISE EXCEPTION '%.% has no retention setting', v_part.parent_nspname, v_part.parent_relname
            USING ERRCODE = 'insufficient_privilege',
                  HINT = format('the owner sets retention.%s.%s in dwh_etl.settings', v_part.parent_nspname, v_part.parent_relname);
    END IF;
    BEGIN
        horizon := v_value::interval;
    EXCEPTION WHEN invalid_datetime_format OR datetime_field_overflow OR syntax_error THEN
        RAISE EXCEPTION 'setting % is not an interval: %', v_key, quote_literal(v_value)
            USING ERRCODE = 'invalid_parameter_value';
    END;
    -- today in UTC whatever the caller's TimeZone (attack 13c: CURRENT_DATE at UTC+14 is tomorrow, so a
    -- caller could archive a partition a day early)
    v_cutoff := (LEAST(p_run_date, (now() AT TIME ZONE 'UTC')::date) - horizon)::date;
    v_old := v_part.b IS NOT NULL AND v_part.b[2] NOT IN ('MINVALUE', 'MAXVALUE')
             AND CASE WHEN v_part.keytype IN ('integer'::regtype, 'bigint'::regtype)
                      THEN v_part.b[2]::bigint <= to_char(v_cutoff, 'YYYYMMDD')::bigint
                      ELSE v_part.b[2]::timestamptz <= v_cutoff::timestamp AT TIME ZONE 'UTC' END;
    IF NOT COALESCE(v_old, false) THEN
        RAISE EXCEPTION 'partition %.% is not entirely older than % (% %)', v_part.nspname, v_part.relname, v_cutoff, v_key, v_value
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    EXECUTE format('SELECT count(*) FROM %I.%I', v_part.nspname, v_part.relname) INTO rows_archived;
    EXECUTE format('ALTER TABLE %I.%I DETACH PARTITION %I.%I', v_part.parent_nspname, v_part.parent_relname,
                   v_part.nspname, v_part.relname);
    v_name := v_part.relname;
    IF to_regclass(format('archive.%I', v_name)) IS NOT NULL THEN
        v_name := left(v_part.nspname || '_' || v_part.relname, 63);
        EXECUTE format('ALTER TABLE %I.%I RENAME TO %I', v_part.nspname, v_part.relname, v_name);
    END IF;
    EXECUTE format('ALTER TABLE %I.%I SET SCHEMA archive', v_part.nspname, v_name);
    archived_table := format('archive.%I', v_name);
    range_from := v_part.b[1];
    range_to := v_part.b[2];
END;
$$;
REVOKE ALL ON FUNCTION dwh_etl.sec_archive_partition(regclass, date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl.sec_archive_partition(regclass, date) TO etl_service;
COMMENT ON FUNCTION dwh_etl.sec_archive_partition(regclass, date) IS 'SECURITY DEFINER: detach one partition entirely older than its table''s retention.<table> setting and move it to schema archive, for etl_service (dwh_etl.op_retention). Refuses other partitions.';
