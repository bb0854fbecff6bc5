-- The values dwh_lineage.trace_record shows at one hop: in the starting table the followed columns
-- themselves; upstream, the columns of that table they come from (dwh_lineage.column_upstream).
CREATE OR REPLACE FUNCTION dwh_lineage._trace_values(
    p_row         jsonb,
    p_columns     text[],
    p_start_table text,
    p_table       text
)
RETURNS jsonb
LANGUAGE sql
STABLE
SET search_path = dwh_lineage, pg_temp
AS $$
    SELECT jsonb_object_agg(x.col, p_row->x.col)
    FROM (
        SELECT c AS col
        FROM unnest(p_columns) AS c
        WHERE p_table = p_start_table
        UNION
        SELECT u.source_column
        FROM unnest(p_columns) AS c
        CROSS JOIN LATERAL dwh_lineage.column_upstream(p_start_table, c) AS u
        WHERE p_table <> p_start_table
          AND u.source_table = p_table
    ) AS x
    WHERE p_row IS NOT NULL AND p_row ? x.col;
$$;
REVOKE EXECUTE ON FUNCTION dwh_lineage._trace_values(jsonb, text[], text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_lineage._trace_values(jsonb, text[], text, text) TO etl_service;
