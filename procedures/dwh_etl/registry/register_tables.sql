CREATE OR REPLACE PROCEDURE dwh_etl.register_tables(
    p_area   text,
    p_tables jsonb
)
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
BEGIN
    INSERT INTO dwh_etl.table_registry (table_name, layer, area, description)
    SELECT e->>'table', e->>'layer', p_area, e->>'description'
    FROM jsonb_array_elements(p_tables) AS e
    ON CONFLICT (table_name) DO UPDATE
    SET layer       = EXCLUDED.layer,
        area        = EXCLUDED.area,
        description = EXCLUDED.description;
END;
$$;
COMMENT ON PROCEDURE dwh_etl.register_tables(text, jsonb) IS 'Record the layer of an area''s tables (JSON array of {table, layer, description}).';
-- The registry is code: only the owner changes it (issue 9: etl_service could write what the pipeline
-- executes). Routines of dwh_etl are granted to etl_service by default: not this one.
REVOKE EXECUTE ON PROCEDURE dwh_etl.register_tables(text, jsonb) FROM etl_service, PUBLIC;
