-- The column references (VAR nodes) of one expression of a query tree (_node_tree_jsonb), not looking
-- inside nested queries (a sub-select's VARs refer to its own range table).
CREATE OR REPLACE FUNCTION dwh_lineage._expr_vars(
    p_node jsonb
)
RETURNS SETOF jsonb
LANGUAGE plpgsql
IMMUTABLE
SET search_path = dwh_lineage, pg_temp
AS $$
DECLARE
    v_child jsonb;
BEGIN
    IF jsonb_typeof(p_node) = 'object' THEN
        IF p_node->>'_' = 'VAR' THEN
            RETURN NEXT p_node;
            RETURN;
        END IF;
        IF p_node->>'_' = 'QUERY' THEN
            RETURN;
        END IF;
        FOR v_child IN SELECT e.value FROM jsonb_each(p_node) AS e WHERE e.key <> '_' LOOP
            RETURN QUERY SELECT * FROM dwh_lineage._expr_vars(v_child);
        END LOOP;
    ELSIF jsonb_typeof(p_node) = 'array' THEN
        FOR v_child IN SELECT e FROM jsonb_array_elements(p_node) AS e LOOP
            RETURN QUERY SELECT * FROM dwh_lineage._expr_vars(v_child);
        END LOOP;
    END IF;
END;
$$;
COMMENT ON FUNCTION dwh_lineage._expr_vars(jsonb) IS 'The VAR nodes of an expression of a query tree as jsonb (_node_tree_jsonb), nested queries excluded.';
REVOKE EXECUTE ON FUNCTION dwh_lineage._expr_vars(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_lineage._expr_vars(jsonb) TO etl_service;
