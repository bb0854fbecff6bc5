-- Leaf density (percent) of a btree index of a registered table, by pgstattuple's pgstatindex, for the
-- monthly reindex step; NULL when pgstattuple is not installed or the index is empty. SECURITY DEFINER:
-- pgstatindex is for superusers and pg_stat_scan_tables only; narrowed to indexes of registered tables
-- (and of their partitions), anything else raises 42501.
--   SELECT dwh_etl.sec_index_density('sales.fact_sales_p202501_pkey');
CREATE OR REPLACE FUNCTION dwh_etl.sec_index_density(
    p_index regclass
)
RETURNS double precision
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_density double precision;
BEGIN
    IF NOT EXISTS (SELECT 1
                   FROM pg_catalog.pg_index AS i
                   WHERE i.indexrelid = p_index
                     AND EXISTS (SELECT 1
                                 FROM dwh_etl.table_registry AS tr
                                 WHERE to_regclass(tr.table_name) = i.indrelid
                                    OR to_regclass(tr.table_name) IN (
                                           SELECT a.relid FROM pg_catalog.pg_partition_ancestors(i.indrelid) AS a))) THEN
        RAISE EXCEPTION '% is not an index of a registered table', COALESCE(p_index::text, 'NULL')
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'dwh_etl.sec_index_density measures the indexes of dwh_etl.table_registry''s tables only';
    END IF;
    IF to_regprocedure('dwh_remote.pgstatindex(regclass)') IS NULL THEN
        RETURN NULL;
    END IF;
    EXECUTE 'SELECT NULLIF(s.avg_leaf_density, ''NaN'') FROM dwh_remote.pgstatindex($1) AS s'
    INTO v_density
    USING p_index;
    RETURN v_density;
END;
$$;
REVOKE ALL ON FUNCTION dwh_etl.sec_index_density(regclass) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl.sec_index_density(regclass) TO etl_service;
COMMENT ON FUNCTION dwh_etl.sec_index_density(regclass) IS 'SECURITY DEFINER: leaf density (percent, pgstattuple) of a btree index of a registered table; NULL without pgstattuple.';
