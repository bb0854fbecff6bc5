-- "Where does this column come from?" (issue 16): every column that feeds p_table.p_column, directly
-- (level 1) or through any number of steps and views, from the registered column lineage. Each row is
-- one edge of that tree: source -> target, how, and by which step; a column reached by two paths is
-- listed at its shortest distance. Columns of a view with no row here are computed in the view.
-- Example: SELECT * FROM dwh_lineage.column_upstream('sales.fact_sales', 'customer_key');
CREATE OR REPLACE FUNCTION dwh_lineage.column_upstream(
    p_table  text,
    p_column text
)
RETURNS TABLE (
    level          int,
    source_table   text,
    source_column  text,
    target_table   text,
    target_column  text,
    transformation text,
    step_name      text
)
LANGUAGE sql
STABLE
SET search_path = dwh_lineage, pg_temp
AS $$
    WITH RECURSIVE walk (level, source_table, source_column, target_table, target_column, transformation, step_name) AS (
        SELECT 1, l.source_table, l.source_column, l.target_table, l.target_column, l.transformation, l.step_name
        FROM dwh_lineage.column_lineage AS l
        WHERE l.lineage_id IS NULL
          AND l.target_table = p_table
          AND l.target_column = p_column

        UNION ALL

        SELECT w.level + 1, l.source_table, l.source_column, l.target_table, l.target_column, l.transformation, l.step_name
        FROM walk AS w
        JOIN dwh_lineage.column_lineage AS l
          ON l.lineage_id IS NULL
         AND l.target_table = w.source_table
         AND l.target_column = w.source_column
        WHERE w.level < 50
    ) CYCLE source_table, source_column SET is_cycle USING path
    SELECT s.level, s.source_table, s.source_column, s.target_table, s.target_column, s.transformation, s.step_name
    FROM (
        SELECT DISTINCT ON (w.source_table, w.source_column, w.target_table, w.target_column)
               w.level, w.source_table, w.source_column, w.target_table, w.target_column, w.transformation, w.step_name
        FROM walk AS w
        WHERE NOT w.is_cycle
        ORDER BY w.source_table, w.source_column, w.target_table, w.target_column, w.level
    ) AS s
    ORDER BY s.level, s.target_table, s.target_column, s.source_table, s.source_column;
$$;
COMMENT ON FUNCTION dwh_lineage.column_upstream(text, text) IS 'Every column that feeds p_table.p_column, directly (level 1) or transitively, as edges source -> target with the transformation and step (registered column lineage).';
REVOKE EXECUTE ON FUNCTION dwh_lineage.column_upstream(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_lineage.column_upstream(text, text) TO etl_service;
