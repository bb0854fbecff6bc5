-- The column lineage custom steps declare (issue 16): the "columns" key of a step entry in its area's
-- spec (dwh_etl.areas.spec->'steps'), {"<target table>.<column>": ["<source table>.<column>", ...]} or
-- {"<target table>.<column>": {"from": [...], "how": "sum"}}, one row per (target, source). A target
-- "<target table>.*" stands for each of the table's own columns (names not starting with "_": the
-- engine's columns have their own meaning), e.g. every bronze column of a JSON feed from its payload.
-- The engine cannot see inside a custom procedure; typed steps need no declaration (derive_column_lineage).
-- Example: SELECT * FROM dwh_lineage._declared_columns('sales');
CREATE OR REPLACE FUNCTION dwh_lineage._declared_columns(
    p_area text DEFAULT NULL
)
RETURNS TABLE (
    step_name      text,
    area           text,
    source_table   text,
    source_column  text,
    target_table   text,
    target_column  text,
    transformation text
)
LANGUAGE sql
STABLE
SET search_path = dwh_lineage, pg_temp
AS $$
    SELECT e->>'step',
           a.area,
           regexp_replace(src, '\.[^.]*$', ''),
           substring(src FROM '[^.]*$'),
           regexp_replace(c.key, '\.[^.]*$', ''),
           tc.col,
           COALESCE(c.value->>'how', 'declared')
    FROM dwh_etl.areas AS a
    CROSS JOIN LATERAL jsonb_array_elements(
        CASE WHEN jsonb_typeof(a.spec->'steps') = 'array' THEN a.spec->'steps' ELSE '[]'::jsonb END) AS e
    CROSS JOIN LATERAL jsonb_each(CASE WHEN jsonb_typeof(e->'columns') = 'object' THEN e->'columns' ELSE '{}'::jsonb END) AS c
    CROSS JOIN LATERAL jsonb_array_elements_text(
        CASE jsonb_typeof(c.value) WHEN 'array' THEN c.value
                                   WHEN 'object' THEN COALESCE(c.value->'from', '[]'::jsonb)
                                   ELSE jsonb_build_array(c.value) END) AS src
    CROSS JOIN LATERAL (
        SELECT substring(c.key FROM '[^.]*$') AS col
        WHERE substring(c.key FROM '[^.]*$') <> '*'
        UNION ALL
        SELECT a.attname::text
        FROM pg_catalog.pg_attribute AS a
        WHERE substring(c.key FROM '[^.]*$') = '*'
          AND a.attrelid = to_regclass(regexp_replace(c.key, '\.[^.]*$', ''))
          AND a.attnum > 0 AND NOT a.attisdropped AND a.attname !~ '^_'
    ) AS tc
    WHERE p_area IS NULL OR a.area = p_area;
$$;
COMMENT ON FUNCTION dwh_lineage._declared_columns(text) IS 'Column lineage declared by custom steps (the "columns" key of their entry in dwh_etl.areas.spec), one row per target and source column.';
REVOKE EXECUTE ON FUNCTION dwh_lineage._declared_columns(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_lineage._declared_columns(text) TO etl_service;
