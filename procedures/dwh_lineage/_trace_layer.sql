-- The layer of a table for dwh_lineage.trace_record: the engine registry says (dwh_etl.table_registry),
-- else its schema (bronze, silver) or gold.
CREATE OR REPLACE FUNCTION dwh_lineage._trace_layer(p_table regclass)
RETURNS text
LANGUAGE sql
STABLE
SET search_path = dwh_lineage, pg_temp
AS $$
    SELECT COALESCE(
        (SELECT r.layer FROM dwh_etl.table_registry AS r WHERE to_regclass(r.table_name) = p_table LIMIT 1),
        (SELECT CASE n.nspname WHEN 'bronze' THEN 'bronze' WHEN 'silver' THEN 'silver' ELSE 'gold' END
         FROM pg_catalog.pg_class AS c JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
         WHERE c.oid = p_table));
$$;
REVOKE EXECUTE ON FUNCTION dwh_lineage._trace_layer(regclass) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_lineage._trace_layer(regclass) TO etl_service;
