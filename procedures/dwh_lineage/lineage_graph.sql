-- The lineage of one table as a graph (issue 16): every edge (upstream table -> downstream table) of
-- table_dependencies on a path into p_table ('upstream'), out of it ('downstream') or both ('both'),
-- with each end's layer and its distance from p_table. get_upstream / get_downstream list the tables
-- by level; this keeps the edges, so a table fed by two parents shows both (dwh lineage --format,
-- the docs site's pictures).
-- Example: SELECT * FROM dwh_lineage.lineage_graph('sales.fact_sales', 'both');
CREATE OR REPLACE FUNCTION dwh_lineage.lineage_graph(
    p_table     text,
    p_direction text DEFAULT 'upstream'
)
RETURNS TABLE (
    source          text,
    target          text,
    dependency_type text,
    source_layer    text,
    target_layer    text,
    direction       text,
    level           int
)
LANGUAGE plpgsql
STABLE
SET search_path = dwh_lineage, pg_temp
AS $$
BEGIN
    IF p_direction IS NULL OR p_direction NOT IN ('upstream', 'downstream', 'both') THEN
        RAISE EXCEPTION 'unknown lineage direction %', quote_nullable(p_direction)
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'use upstream, downstream or both';
    END IF;
    RETURN QUERY
    WITH RECURSIVE
    up (node, level) AS (
        SELECT p_table, 0
        WHERE p_direction IN ('upstream', 'both')
        UNION
        SELECT d.upstream_table, u.level + 1
        FROM up AS u
        JOIN dwh_lineage.table_dependencies AS d ON d.downstream_table = u.node
        WHERE u.level < 50
    ),
    down (node, level) AS (
        SELECT p_table, 0
        WHERE p_direction IN ('downstream', 'both')
        UNION
        SELECT d.downstream_table, w.level + 1
        FROM down AS w
        JOIN dwh_lineage.table_dependencies AS d ON d.upstream_table = w.node
        WHERE w.level < 50
    ),
    up_nodes AS (SELECT u.node, min(u.level) AS level FROM up AS u GROUP BY u.node),
    down_nodes AS (SELECT w.node, min(w.level) AS level FROM down AS w GROUP BY w.node),
    edges AS (
        -- upstream: edges between two tables that both lead into p_table
        SELECT d.upstream_table AS source, d.downstream_table AS target, d.dependency_type,
               'upstream'::text AS direction, s.level
        FROM dwh_lineage.table_dependencies AS d
        JOIN up_nodes AS s ON s.node = d.upstream_table
        JOIN up_nodes AS t ON t.node = d.downstream_table
        WHERE d.upstream_table <> p_table
        UNION ALL
        SELECT d.upstream_table, d.downstream_table, d.dependency_type, 'downstream', t.level
        FROM dwh_lineage.table_dependencies AS d
        JOIN down_nodes AS s ON s.node = d.upstream_table
        JOIN down_nodes AS t ON t.node = d.downstream_table
        WHERE d.downstream_table <> p_table
    )
    SELECT e.source, e.target, e.dependency_type,
           COALESCE(src.layer, 'external'), COALESCE(tgt.layer, 'external'), e.direction, e.level
    FROM edges AS e
    LEFT JOIN dwh_etl.table_registry AS src ON src.table_name = e.source
    LEFT JOIN dwh_etl.table_registry AS tgt ON tgt.table_name = e.target
    ORDER BY e.direction DESC, e.level, e.source, e.target;
END;
$$;
COMMENT ON FUNCTION dwh_lineage.lineage_graph(text, text) IS 'Edges of the table lineage graph upstream of, downstream of, or around (both) p_table, with layers and distance from p_table.';
REVOKE EXECUTE ON FUNCTION dwh_lineage.lineage_graph(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_lineage.lineage_graph(text, text) TO etl_service;
