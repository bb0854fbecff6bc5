-- ANALYZE of one registered table on behalf of etl_service, which does not own it (as a non-owner
-- ANALYZE only warns "skipping ... only table or database owner can analyze it" and the next steps plan
-- against stale statistics). SECURITY DEFINER, so it is narrow: only a table, partitioned table or
-- materialized view registered in dwh_etl.table_registry (or a partition of a registered partitioned
-- table) is analyzed, by OID, with the name quoted from the catalog; anything else raises 42501.
-- p_keys_only (the runner, after a step's large write): a partitioned table's statistics only for the
-- columns its plans join and filter on (those of an index, a constraint, an extended statistics object
-- or the partition key; every column when such an object has an expression). In
-- PostgreSQL 15 the ANALYZE of a partitioned table analyzes every partition too, each of them wholly
-- when it holds fewer than 30k rows, and the cost grows with the columns: 0.85 s of a first load of 300k
-- sales lines for sales.fact_sales' 17 partitions and 16 columns, 0.3 s for its 7 key columns (issue 15).
-- The other columns keep their earlier statistics; autovacuum analyzes the partitions whole, and
-- `dwh maintenance` (dwh_etl.op_analyze) the parent.
--   SELECT dwh_etl.sec_analyze('sales.fact_sales');
DROP FUNCTION IF EXISTS dwh_etl.sec_analyze(regclass);
CREATE OR REPLACE FUNCTION dwh_etl.sec_analyze(
    p_table     regclass,
    p_keys_only boolean DEFAULT false
)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_rel  record;
    v_cols text;
BEGIN
    SELECT n.nspname, c.relname, c.relkind
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
    -- an extended statistics object is computed only when all its columns are analyzed (else a WARNING
    -- and none): their columns are keys too; one with an expression names no columns, the table is whole
    IF p_keys_only AND v_rel.relkind = 'p'
       AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_statistic_ext AS x WHERE x.stxrelid = p_table AND x.stxexprs IS NOT NULL) THEN
        SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum)
        INTO v_cols
        FROM pg_catalog.pg_attribute AS a
        WHERE a.attrelid = p_table
          AND a.attnum > 0
          AND NOT a.attisdropped
          AND (EXISTS (SELECT 1 FROM pg_catalog.pg_index AS i
                       WHERE i.indrelid = p_table
                         AND a.attnum = ANY ((i.indkey::smallint[])[0:i.indnkeyatts - 1]))
               OR EXISTS (SELECT 1 FROM pg_catalog.pg_constraint AS k
                          WHERE k.conrelid = p_table AND k.contype IN ('p', 'u', 'f', 'x') AND a.attnum = ANY (k.conkey))
               OR EXISTS (SELECT 1 FROM pg_catalog.pg_statistic_ext AS x
                          WHERE x.stxrelid = p_table AND a.attnum = ANY (x.stxkeys::smallint[]))
               OR EXISTS (SELECT 1 FROM pg_catalog.pg_partitioned_table AS pt
                          WHERE pt.partrelid = p_table AND a.attnum = ANY (pt.partattrs::smallint[])));
    END IF;
    EXECUTE format('ANALYZE %I.%I%s', v_rel.nspname, v_rel.relname, ' (' || v_cols || ')');
END;
$$;
REVOKE ALL ON FUNCTION dwh_etl.sec_analyze(regclass, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl.sec_analyze(regclass, boolean) TO etl_service;
COMMENT ON FUNCTION dwh_etl.sec_analyze(regclass, boolean) IS 'SECURITY DEFINER: ANALYZE a registered table (or a partition of one) for etl_service, which does not own it (p_keys_only: a partitioned table''s key columns only). Refuses anything else.';
