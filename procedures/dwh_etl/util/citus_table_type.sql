-- The Citus type of a table of this database: 'distributed', 'reference' or 'local' (a Citus local
-- table); NULL for a table Citus does not know, and always NULL without the citus extension (issue 17,
-- docs/SCALE.md). Reached through EXECUTE of a format()ed name, like dwh_etl.is_citus_table, so it
-- compiles and passes plpgsql_check where Citus is not installed.
--   SELECT dwh_etl.citus_table_type('sales.dim_customer');   -- reference
CREATE OR REPLACE FUNCTION dwh_etl.citus_table_type(
    p_table regclass
)
RETURNS text
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_method text;
    v_model  text;
BEGIN
    IF to_regclass('pg_catalog.pg_dist_partition') IS NULL THEN
        RETURN NULL;
    END IF;
    -- partmethod n (no distribution column) is a reference table when replicated by 2PC (repmodel t),
    -- a Citus local table otherwise
    EXECUTE format('SELECT partmethod::text, repmodel::text FROM pg_catalog.%I WHERE logicalrelid = $1', 'pg_dist_partition')
        INTO v_method, v_model USING p_table;
    RETURN CASE WHEN v_method IS NULL THEN NULL
                WHEN v_method = 'n' AND v_model = 't' THEN 'reference'
                WHEN v_method = 'n' THEN 'local'
                ELSE 'distributed' END;
END;
$$;
COMMENT ON FUNCTION dwh_etl.citus_table_type(regclass) IS 'distributed, reference or local (Citus local table) for a Citus table; NULL otherwise and without the citus extension (issue 17).';
