-- Store the derived column lineage (derive_column_lineage) as the registered rows of
-- dwh_lineage.column_lineage (lineage_id NULL), replacing the previous ones of the area (or of all
-- areas): what feeds a column changes when a spec or a view changes, not per run, so register_area
-- calls this after registering an area, and an operator after changing a view alone:
--   SELECT dwh_lineage.refresh_column_lineage();
-- Returns the number of rows stored. Per-run rows (lineage_id set) are left alone.
CREATE OR REPLACE FUNCTION dwh_lineage.refresh_column_lineage(
    p_area text DEFAULT NULL
)
RETURNS integer
LANGUAGE plpgsql
VOLATILE
SET search_path = dwh_lineage, pg_temp
AS $$
DECLARE
    v_rows integer;
    v_bad  text;
BEGIN
    -- a declaration naming a column that does not exist is a mistake (a typo, a renamed column): refuse
    -- it, rather than store lineage that leads nowhere
    SELECT format('step %s declares %s.%s <- %s.%s', d.step_name, d.target_table, d.target_column,
                  d.source_table, d.source_column)
    INTO v_bad
    FROM dwh_lineage._declared_columns(p_area) AS d
    WHERE NOT EXISTS (SELECT 1 FROM pg_attribute AS a
                      WHERE a.attrelid = to_regclass(d.target_table) AND a.attname = d.target_column
                        AND a.attnum > 0 AND NOT a.attisdropped)
       OR NOT EXISTS (SELECT 1 FROM pg_attribute AS a
                      WHERE a.attrelid = to_regclass(d.source_table) AND a.attname = d.source_column
                        AND a.attnum > 0 AND NOT a.attisdropped)
    ORDER BY d.step_name, d.target_table, d.target_column, d.source_table, d.source_column
    LIMIT 1;
    IF v_bad IS NOT NULL THEN
        RAISE EXCEPTION 'column lineage: % but that column does not exist', v_bad
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'the "columns" key of a custom step''s entry in the area spec',
                  HINT = 'keys and sources are "<schema>.<table>.<column>" of existing columns';
    END IF;

    DELETE FROM dwh_lineage.column_lineage AS l
    WHERE l.lineage_id IS NULL
      AND (p_area IS NULL OR l.area = p_area OR l.area IS NULL);

    INSERT INTO dwh_lineage.column_lineage (
        lineage_id, step_name, area, source_table, source_column, target_table, target_column, transformation, is_key
    )
    SELECT NULL, d.step_name, d.area, d.source_table, d.source_column, d.target_table, d.target_column,
           d.transformation, d.is_key
    FROM dwh_lineage.derive_column_lineage(p_area) AS d;
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    RETURN v_rows;
END;
$$;
COMMENT ON FUNCTION dwh_lineage.refresh_column_lineage(text) IS 'Re-derive and store the registered column lineage (lineage_id NULL) of p_area, or of every area; called by register_area. Returns the rows stored.';
REVOKE EXECUTE ON FUNCTION dwh_lineage.refresh_column_lineage(text) FROM PUBLIC, etl_service;
