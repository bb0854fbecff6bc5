-- Maintenance step: ANALYZE every registered table (tables, partitioned tables, materialized views)
-- whose rows modified since its last analyze exceed setting analyze.threshold (default 0.1 = 10%) of its
-- rows (pg_class.reltuples; a table never analyzed counts as 0 rows). A partitioned table sums its
-- partitions, and ANALYZE of it covers its partitions too.
CREATE OR REPLACE PROCEDURE dwh_etl.op_analyze(
    p_run_id   bigint,
    p_run_date date
)
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_table     record;
    v_threshold numeric := dwh_etl.get_setting('analyze.threshold', '0.1')::numeric;
    v_id        bigint;
BEGIN
    FOR v_table IN
        WITH registered AS (
            SELECT tr.table_name, c.oid AS relid, c.relkind
            FROM dwh_etl.table_registry AS tr
            JOIN pg_catalog.pg_class AS c
              ON c.oid = to_regclass(tr.table_name)
            WHERE c.relkind IN ('r', 'p', 'm')
        ),
        measured AS (
            SELECT r.table_name, r.relid,
                   sum(COALESCE(s.n_mod_since_analyze, 0)) AS modified,
                   sum(GREATEST(c.reltuples, 0)) AS tuples
            FROM registered AS r
            CROSS JOIN LATERAL (
                SELECT t.relid AS leaf FROM pg_catalog.pg_partition_tree(r.relid) AS t WHERE t.isleaf
                UNION
                SELECT r.relid WHERE r.relkind <> 'p'
            ) AS l
            JOIN pg_catalog.pg_class AS c
              ON c.oid = l.leaf
            LEFT JOIN pg_catalog.pg_stat_all_tables AS s
              ON s.relid = l.leaf
            GROUP BY r.table_name, r.relid
        )
        SELECT m.table_name, m.relid, m.modified, m.tuples
        FROM measured AS m
        WHERE m.modified > 0
          AND m.modified > v_threshold * m.tuples
        ORDER BY m.table_name
    LOOP
        -- ANALYZE by a non-owner only warns and skips: the SECURITY DEFINER routine does it.
        PERFORM dwh_etl.sec_analyze(v_table.relid::regclass);
        v_id := dwh_lineage.log_refresh(in_view_name => v_table.table_name, in_source_table => 'multiple', in_row_count => 0, in_run_id => p_run_id);
        UPDATE dwh_lineage.table_lineage
        SET notes = format('analyzed: %s rows modified since the last analyze, of about %s', v_table.modified, v_table.tuples::bigint)
        WHERE lineage_id = v_id;
        RAISE NOTICE 'analyzed % (% rows modified of about %)', v_table.table_name, v_table.modified, v_table.tuples::bigint;
    END LOOP;
END;
$$;
COMMENT ON PROCEDURE dwh_etl.op_analyze(bigint, date) IS 'Maintenance step: ANALYZE registered tables changed by more than analyze.threshold (10%) since their last analyze. Example: CALL dwh_etl.op_analyze(NULL, CURRENT_DATE);';
