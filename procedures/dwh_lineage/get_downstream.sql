-- Seed 002: what does this table feed? Fixed from the seed: a cycle in the graph no longer loops to the
-- depth limit, and each table is listed once, at its shortest distance (the seed listed a table once
-- per path length).
CREATE OR REPLACE FUNCTION dwh_lineage.get_downstream(in_table_name text)
RETURNS TABLE (
    level           int,
    table_name      text,
    dependency_type text
)
LANGUAGE sql
STABLE
SET search_path = dwh_lineage, pg_temp
AS $$
    WITH RECURSIVE walk (level, table_name, dependency_type) AS (
        SELECT 1, d.downstream_table, d.dependency_type
        FROM dwh_lineage.table_dependencies AS d
        WHERE d.upstream_table = in_table_name

        UNION ALL

        SELECT u.level + 1, d.downstream_table, d.dependency_type
        FROM walk AS u
        JOIN dwh_lineage.table_dependencies AS d
          ON d.upstream_table = u.table_name
        WHERE u.level < 50
    ) CYCLE table_name SET is_cycle USING path,
    shortest AS (
        SELECT DISTINCT ON (u.table_name) u.level, u.table_name, u.dependency_type
        FROM walk AS u
        WHERE NOT u.is_cycle
          AND u.table_name <> in_table_name
        ORDER BY u.table_name, u.level
    )
    SELECT s.level, s.table_name, s.dependency_type
    FROM shortest AS s
    ORDER BY s.level, s.table_name;
$$;
COMMENT ON FUNCTION dwh_lineage.get_downstream(text) IS 'Tables fed by in_table_name, directly (level 1) or transitively (seed 002).';
