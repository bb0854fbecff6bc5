-- The bronze table a file load writes into, and the columns a file may fill. Why a routine: `dwh load`
-- and the psql recipe must refuse the same names with the same message, and a misspelt table must name
-- the valid ones instead of "relation does not exist". A name without a schema is read in bronze
-- (sales_sales = bronze.sales_sales). Valid: the bronze tables of dwh_etl.table_registry that carry
-- the landing columns (_batch_id, _ingested_at, _source). Returns the canonical name (target) and the
-- loadable columns in table order: every column not starting with '_', then _raw_payload when the
-- table keeps whole JSON elements (devflow's feeds).
-- Example: SELECT * FROM dwh_etl.file_target_columns('bronze.sales_sales');
CREATE OR REPLACE FUNCTION dwh_etl.file_target_columns(
    p_target   text,
    OUT target  text,
    OUT columns text[]
)
LANGUAGE plpgsql
STABLE
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_name text := CASE WHEN strpos(p_target, '.') > 0 THEN p_target ELSE 'bronze.' || p_target END;
    v_rel  regclass;
BEGIN
    SELECT r.table_name, to_regclass(r.table_name)
    INTO target, v_rel
    FROM dwh_etl.table_registry AS r
    WHERE r.layer = 'bronze'
      AND r.table_name = v_name;
    IF v_rel IS NULL OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute AS a
                                    WHERE a.attrelid = v_rel AND a.attname = '_batch_id' AND NOT a.attisdropped) THEN
        RAISE EXCEPTION 'unknown bronze table %', quote_literal(COALESCE(p_target, 'NULL'))
            USING ERRCODE = 'DW031',
                  DETAIL = 'valid tables: ' || COALESCE((SELECT string_agg(r.table_name, ', ' ORDER BY r.table_name)
                                                        FROM dwh_etl.table_registry AS r
                                                        WHERE r.layer = 'bronze'
                                                          AND to_regclass(r.table_name) IS NOT NULL), '(none)'),
                  HINT = 'files load into a bronze table of dwh_etl.table_registry (layer bronze)';
    END IF;
    SELECT array_agg(a.attname::text ORDER BY a.attname = '_raw_payload', a.attnum)
    INTO columns
    FROM pg_catalog.pg_attribute AS a
    WHERE a.attrelid = v_rel
      AND a.attnum > 0
      AND NOT a.attisdropped
      AND (a.attname !~ '^_' OR a.attname = '_raw_payload');
END;
$$;
REVOKE EXECUTE ON FUNCTION dwh_etl.file_target_columns(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl.file_target_columns(text) TO etl_service;
COMMENT ON FUNCTION dwh_etl.file_target_columns(text) IS 'The registered bronze table a file loads into (a name without schema is read in bronze) and the columns a file may fill; DW031 names the valid tables.';
