-- ANALYZE of one registered table on behalf of etl_service, which does not own it (as a non-owner
-- ANALYZE only warns "skipping ... only table or database owner can analyze it" and the next steps plan
-- against stale statistics). SECURITY DEFINER, so it is narrow: only a table, partitioned table or
-- materialized view registered in dwh_etl.table_registry (or a partition of a registered partitioned
-- table) is analyzed, by OID, with the name quoted from the catalog; anything else raises 42501.
--   SELECT dwh_etl.sec_analyze('sales.fact_sales');
CREATE OR REPLACE FUNCTION dwh_etl.sec_analyze(
    p_table regclass
)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_rel record;
BEGIN
    SELECT n.nspname, c.relname
    INTO v_rel
    FROM pg_catalog.pg_class AS c
    JOIN pg_catalog.pg_namespace AS n
      ON n.oid = c.relnamespace
    WHERE c.oid = p_table
      AND c.relkind IN ('r', 'p', 'm')
      AND c.relpersistence <> 't'
      AND EXISTS (SELECT 1
                  FROM dwh_etl.table_registry AS tr
                  WHERE to_regclass(tr.table_name) = c.oid
                     OR to_regclass(tr.table_name) IN (
                            SELECT a.relid FROM pg_catalog.pg_partition_ancestors(c.oid) AS a));
    IF NOT FOUND THEN
        RAISE EXCEPTION '% is not a registered table', COALESCE(p_table::text, 'NULL')
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'dwh_etl.sec_analyze analyzes the tables of dwh_etl.table_registry (and their partitions) only';
    END IF;
    EXECUTE format('ANALYZE %I.%I', v_rel.nspname, v_rel.relname);
END;
$$;
REVOKE ALL ON FUNCTION dwh_etl.sec_analyze(regclass) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl.sec_analyze(regclass) TO etl_service;
COMMENT ON FUNCTION dwh_etl.sec_analyze(regclass) IS 'SECURITY DEFINER: ANALYZE a registered table (or a partition of one) for etl_service, which does not own it. Refuses anything else.';
