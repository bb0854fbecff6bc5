-- Maintenance step: every partitioned table registered in dwh_etl.table_registry gets its monthly
-- partitions up to setting partitions.months_ahead (default 3) months past the run date (and today),
-- from its earliest existing partition on (gaps are filled; partitions archived by retention are not
-- recreated, as they lie before the earliest remaining one). A table without partitions starts at the
-- run date's month. Range partitioning on an integer YYYYMMDD, date or timestamptz key (ensure_partitions).
CREATE OR REPLACE PROCEDURE dwh_etl.op_partitions_ahead(
    p_run_id   bigint,
    p_run_date date
)
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_table   record;
    v_from    date;
    v_created integer;
    v_ahead   integer := dwh_etl.get_setting('partitions.months_ahead', '3')::integer;
    v_id      bigint;
BEGIN
    FOR v_table IN
        SELECT tr.table_name, c.oid AS relid, a.atttypid::regtype AS keytype
        FROM dwh_etl.table_registry AS tr
        JOIN pg_catalog.pg_class AS c
          ON c.oid = to_regclass(tr.table_name)
        JOIN pg_catalog.pg_partitioned_table AS pt
          ON pt.partrelid = c.oid
        JOIN pg_catalog.pg_attribute AS a
          ON a.attrelid = c.oid
         AND a.attnum = pt.partattrs[0]
        WHERE pt.partstrat = 'r'
          AND pt.partnatts = 1
        ORDER BY tr.table_name
    LOOP
        SELECT min(CASE WHEN v_table.keytype IN ('integer'::regtype, 'bigint'::regtype)
                        THEN to_date(b.lo, 'YYYYMMDD')
                        ELSE b.lo::timestamptz::date END)
        INTO v_from
        FROM pg_catalog.pg_inherits AS i
        JOIN pg_catalog.pg_class AS p
          ON p.oid = i.inhrelid
        CROSS JOIN LATERAL (
            SELECT (regexp_match(pg_catalog.pg_get_expr(p.relpartbound, p.oid), 'FROM \(''?([^'')]+)''?\)'))[1] AS lo
        ) AS b
        WHERE i.inhparent = v_table.relid
          AND b.lo IS NOT NULL
          AND b.lo <> 'MINVALUE';
        v_created := dwh_etl.ensure_partitions(
            p_table        => v_table.table_name,
            -- an old partition from before partitions.min_date (the window of ensure_partitions) is
            -- not a reason to fail: fill gaps from the window's start on
            p_from         => GREATEST(COALESCE(v_from, p_run_date),
                                       dwh_etl.get_setting('partitions.min_date', '2000-01-01')::date),
            p_until        => GREATEST(p_run_date, CURRENT_DATE),
            p_months_ahead => v_ahead);
        v_id := dwh_lineage.log_refresh(in_view_name => v_table.table_name, in_source_table => 'multiple', in_row_count => 0, in_run_id => p_run_id);
        UPDATE dwh_lineage.table_lineage
        SET notes = format('partitions ahead: %s monthly partition(s) created, up to %s month(s) past %s',
                           v_created, v_ahead, GREATEST(p_run_date, CURRENT_DATE))
        WHERE lineage_id = v_id;
        RAISE NOTICE 'partitions of %: % created', v_table.table_name, v_created;
    END LOOP;
END;
$$;
COMMENT ON PROCEDURE dwh_etl.op_partitions_ahead(bigint, date) IS 'Maintenance step: monthly partitions of every registered partitioned table, partitions.months_ahead months ahead. Example: CALL dwh_etl.op_partitions_ahead(NULL, CURRENT_DATE);';
