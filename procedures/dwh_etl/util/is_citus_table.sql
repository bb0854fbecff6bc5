-- Whether a table is a Citus table (distributed, reference or Citus local) of this database: the test
-- behind the few places where the engine must act differently on a Citus coordinator (issue 17,
-- docs/SCALE.md). False without the citus extension (dwh_etl.citus_table_type says which kind).
--   SELECT dwh_etl.is_citus_table('sales.fact_sales');
CREATE OR REPLACE FUNCTION dwh_etl.is_citus_table(
    p_table regclass
)
RETURNS boolean
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN dwh_etl.citus_table_type(p_table) IS NOT NULL;   -- distributed, reference or Citus local
END;
$$;
COMMENT ON FUNCTION dwh_etl.is_citus_table(regclass) IS 'True when the table is a Citus table (distributed, reference or Citus local); false without the citus extension (issue 17).';
