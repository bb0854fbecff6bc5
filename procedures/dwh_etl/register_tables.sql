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
