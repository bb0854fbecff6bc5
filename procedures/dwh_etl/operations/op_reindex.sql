-- Step reindex of the maintenance pipeline (seed 000's monthly "rebuild indexes", where it pays):
-- REINDEX INDEX (dwh_etl.sec_vacuum says why not CONCURRENTLY) every btree index of the registered tables and
-- their partitions of at least reindex.min_pages pages (default 128, 1 MB) whose leaf density, measured
-- by pgstattuple's pgstatindex, is below reindex.max_leaf_density percent (default 50: more than half of
-- its leaf space empty, so a rebuild at least halves it). A fresh btree is about 90% dense. Without
-- pgstattuple (it is contrib: installed by migration 0040 when the server ships it) nothing is measured,
-- nothing is rebuilt, and a NOTICE says so: rebuilding every index monthly, as the seed did, costs a full
-- rewrite of each for nothing when it is not bloated. The measure reads the whole index: sized for a
-- monthly run.
-- In a maintenance run it works on day maintenance.monthly_day (default 1) of the month of
-- LEAST(run date, today) only, and says so on the other days; called by hand (p_run_id NULL) it always works.
CREATE OR REPLACE PROCEDURE dwh_etl.op_reindex(
    p_run_id   bigint,
    p_run_date date
)
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_min_pages   bigint := dwh_etl.get_setting('reindex.min_pages', '128')::bigint;
    v_max_density numeric := dwh_etl.get_setting('reindex.max_leaf_density', '50')::numeric;
    v_index       record;
    v_density     double precision;
    v_id          bigint;
    v_count       integer := 0;
BEGIN
    IF p_run_id IS NOT NULL
       AND extract(day FROM LEAST(COALESCE(p_run_date, CURRENT_DATE), (now() AT TIME ZONE 'UTC')::date))
           <> dwh_etl.get_setting('maintenance.monthly_day', '1')::integer THEN
        RAISE NOTICE 'reindex: monthly, on day % of the month (setting maintenance.monthly_day); not today',
                     dwh_etl.get_setting('maintenance.monthly_day', '1');
        RETURN;
    END IF;
    IF to_regprocedure('dwh_remote.pgstatindex(regclass)') IS NULL THEN
        RAISE NOTICE 'reindex: pgstattuple is not installed (CREATE EXTENSION pgstattuple WITH SCHEMA dwh_remote): no index measured, none rebuilt';
        RETURN;
    END IF;
    FOR v_index IN
        WITH registered AS (
            SELECT tr.table_name, c.oid AS relid, c.relkind
            FROM dwh_etl.table_registry AS tr
            JOIN pg_catalog.pg_class AS c
              ON c.oid = to_regclass(tr.table_name)
            WHERE c.relkind IN ('r', 'p', 'm')
        )
        SELECT r.table_name, i.indexrelid::regclass AS index_name, ic.relpages
        FROM registered AS r
        CROSS JOIN LATERAL (
            SELECT t.relid AS leaf FROM pg_catalog.pg_partition_tree(r.relid) AS t WHERE t.isleaf
            UNION
            SELECT r.relid WHERE r.relkind <> 'p'
        ) AS l
        JOIN pg_catalog.pg_index AS i
          ON i.indrelid = l.leaf
        JOIN pg_catalog.pg_class AS ic
          ON ic.oid = i.indexrelid
        JOIN pg_catalog.pg_am AS am
          ON am.oid = ic.relam
        WHERE am.amname = 'btree'
          AND i.indisvalid
          AND ic.relpages >= v_min_pages
        ORDER BY ic.relpages DESC, 2
    LOOP
        v_density := dwh_etl.sec_index_density(v_index.index_name);
        CONTINUE WHEN v_density IS NULL OR v_density >= v_max_density;
        PERFORM dwh_etl.sec_vacuum(v_index.index_name, 'reindex');
        v_id := dwh_lineage.log_refresh(in_view_name => v_index.table_name, in_source_table => v_index.index_name::text, in_row_count => 0, in_run_id => p_run_id);
        UPDATE dwh_lineage.table_lineage
        SET notes = format('reindexed %s: %s pages at %s%% leaf density', v_index.index_name, v_index.relpages, round(v_density::numeric, 1))
        WHERE lineage_id = v_id;
        RAISE NOTICE 'reindexed % (% pages, leaf density % %%)', v_index.index_name, v_index.relpages, round(v_density::numeric, 1);
        v_count := v_count + 1;
    END LOOP;
    IF v_count = 0 THEN
        RAISE NOTICE 'reindex: no btree index of % pages or more is below % %% leaf density', v_min_pages, v_max_density;
    END IF;
END;
$$;
COMMENT ON PROCEDURE dwh_etl.op_reindex(bigint, date) IS 'Step reindex (maintenance, monthly on maintenance.monthly_day): REINDEX btree indexes of registered tables of reindex.min_pages (128) pages or more whose leaf density (pgstattuple) is below reindex.max_leaf_density (50). Example: CALL dwh_etl.op_reindex(NULL, CURRENT_DATE);';
REVOKE EXECUTE ON PROCEDURE dwh_etl.op_reindex(bigint, date) FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE dwh_etl.op_reindex(bigint, date) TO etl_service;
