-- The base-table columns output column p_attno of a query is made of (issue 16), following the query
-- tree p_tree (a view's, as _node_tree_jsonb gives it): a VAR of a table is that column; of a join, the
-- joined column; of a sub-select or a CTE, that query's output column, recursively. p_stack holds the
-- paths (jsonb arrays of keys into p_tree) of the queries from the top level down to the one asked
-- about; a CTE is looked up in the query that defines it. Functions, VALUES and the like are sources of
-- nothing. Paths rather than the queries themselves: a mart's tree is ~100 kB and is not copied.
CREATE OR REPLACE FUNCTION dwh_lineage._query_column_sources(
    p_tree  jsonb,
    p_stack jsonb,
    p_attno integer,
    p_depth integer DEFAULT 0
)
RETURNS TABLE (
    relid  oid,
    attnum integer
)
LANGUAGE plpgsql
IMMUTABLE
SET search_path = dwh_lineage, pg_temp
AS $$
DECLARE
    v_path  text[] := ARRAY(SELECT jsonb_array_elements_text(p_stack->-1));
    v_entry jsonb;
BEGIN
    IF p_depth > 30 THEN
        RETURN;
    END IF;
    SELECT t INTO v_entry
    FROM jsonb_array_elements(p_tree #> (v_path || '{targetList,0}'::text[])) AS t
    WHERE (t->'resno'->>0)::int = p_attno
    LIMIT 1;
    IF v_entry IS NULL THEN
        RETURN;
    END IF;
    RETURN QUERY
    SELECT DISTINCT s.relid, s.attnum
    FROM dwh_lineage._expr_vars(v_entry->'expr') AS v
    CROSS JOIN LATERAL dwh_lineage._var_sources(p_tree, p_stack, v, p_depth + 1) AS s;
END;
$$;
COMMENT ON FUNCTION dwh_lineage._query_column_sources(jsonb, jsonb, integer, integer) IS 'Base-table columns (relid, attnum) an output column of a query in a query tree (as jsonb) is made of, through joins, sub-selects and CTEs.';
REVOKE EXECUTE ON FUNCTION dwh_lineage._query_column_sources(jsonb, jsonb, integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_lineage._query_column_sources(jsonb, jsonb, integer, integer) TO etl_service;
