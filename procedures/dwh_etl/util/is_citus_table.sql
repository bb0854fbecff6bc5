-- Whether a table is a Citus table (distributed, reference or Citus local) of this database: the test
-- behind the few places where the engine must act differently on a Citus coordinator (issue 17,
-- docs/SCALE.md). False without the citus extension. Citus's catalog is reached through EXECUTE of a
-- format()ed name, so the function compiles, and passes plpgsql_check, where Citus is not installed.
--   SELECT dwh_etl.is_citus_table('sales.fact_sales');
CREATE OR REPLACE FUNCTION dwh_etl.is_citus_table(
    p_table regclass
)
RETURNS boolean
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_citus boolean;
BEGIN
    IF to_regclass('pg_catalog.pg_dist_partition') IS NULL THEN
        RETURN false;
    END IF;
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM pg_catalog.%I WHERE logicalrelid = $1)', 'pg_dist_partition')
        INTO v_citus USING p_table;
    RETURN v_citus;
END;
$$;
COMMENT ON FUNCTION dwh_etl.is_citus_table(regclass) IS 'True when the table is a Citus table (distributed, reference or Citus local); false without the citus extension (issue 17).';
