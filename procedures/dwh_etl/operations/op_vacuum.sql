-- Step vacuum of the maintenance pipeline (seed 000's monthly "VACUUM FULL ANALYZE", where it pays:
-- nightly, as the check is cheap and a table worth vacuuming should not wait a month):
-- VACUUM (ANALYZE) every table, partition and materialized view of the registered tables whose dead
-- rows exceed both vacuum.min_dead_rows (default 10000) and vacuum.dead_fraction (default 0.1) of its
-- live rows (pg_stat_all_tables). Not VACUUM FULL: it rewrites the table under an ACCESS EXCLUSIVE lock,
-- blocking every reader for the length of the copy; plain VACUUM makes the dead rows' space reusable
-- without a lock readers notice (append-mostly warehouse tables rarely have space worth returning to
-- the operating system). Each VACUUM runs in a session of its own (dwh_etl.sec_vacuum). Logged per table.
CREATE OR REPLACE PROCEDURE dwh_etl.op_vacuum(
    p_run_id   bigint,
    p_run_date date
)
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_min_dead bigint := dwh_etl.get_setting('vacuum.min_dead_rows', '10000')::bigint;
    v_fraction numeric := dwh_etl.get_setting('vacuum.dead_fraction', '0.1')::numeric;
    v_table    record;
    v_id       bigint;
    v_count    integer := 0;
BEGIN
    FOR v_table IN
        WITH registered AS (
            SELECT tr.table_name, c.oid AS relid, c.relkind
            FROM dwh_etl.table_registry AS tr
            JOIN pg_catalog.pg_class AS c
              ON c.oid = to_regclass(tr.table_name)
            WHERE c.relkind IN ('r', 'p', 'm')
        )
        SELECT r.table_name, l.leaf::regclass AS leaf, s.n_dead_tup, s.n_live_tup
        FROM registered AS r
        CROSS JOIN LATERAL (
            SELECT t.relid AS leaf FROM pg_catalog.pg_partition_tree(r.relid) AS t WHERE t.isleaf
            UNION
            SELECT r.relid WHERE r.relkind <> 'p'
        ) AS l
        JOIN pg_catalog.pg_stat_all_tables AS s
          ON s.relid = l.leaf
        WHERE s.n_dead_tup >= v_min_dead
          AND s.n_dead_tup > v_fraction * s.n_live_tup
        ORDER BY s.n_dead_tup DESC, 1, 2
    LOOP
        PERFORM dwh_etl.sec_vacuum(v_table.leaf, 'vacuum');
        v_id := dwh_lineage.log_refresh(in_view_name => v_table.table_name, in_source_table => v_table.leaf::text, in_row_count => 0, in_run_id => p_run_id);
        UPDATE dwh_lineage.table_lineage
        SET notes = format('vacuumed %s: %s dead rows, %s live', v_table.leaf, v_table.n_dead_tup, v_table.n_live_tup)
        WHERE lineage_id = v_id;
        RAISE NOTICE 'vacuumed % (% dead rows, % live)', v_table.leaf, v_table.n_dead_tup, v_table.n_live_tup;
        v_count := v_count + 1;
    END LOOP;
    IF v_count = 0 THEN
        RAISE NOTICE 'vacuum: no registered table has more than % dead rows and % of its live rows', v_min_dead, v_fraction;
    END IF;
END;
$$;
COMMENT ON PROCEDURE dwh_etl.op_vacuum(bigint, date) IS 'Step vacuum (maintenance): VACUUM (ANALYZE) registered tables and partitions whose dead rows exceed vacuum.min_dead_rows (10000) and vacuum.dead_fraction (0.1) of live rows. Example: CALL dwh_etl.op_vacuum(NULL, CURRENT_DATE);';
REVOKE EXECUTE ON PROCEDURE dwh_etl.op_vacuum(bigint, date) FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE dwh_etl.op_vacuum(bigint, date) TO etl_service;
