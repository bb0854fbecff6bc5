-- The base-table columns one VAR node stands for (see _query_column_sources): its range table entry is
-- a table (the column itself), a join (the joined expression, resolved in the same query), a sub-select
-- or a CTE (that query's output column). A VAR of an outer query (varlevelsup > 0) resolves there.
CREATE OR REPLACE FUNCTION dwh_lineage._var_sources(
    p_tree  jsonb,
    p_stack jsonb,
    p_var   jsonb,
    p_depth integer
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
    v_level  integer := jsonb_array_length(p_stack) - 1 - COALESCE((p_var->'varlevelsup'->>0)::int, 0);
    v_attno  integer := (p_var->'varattno'->>0)::int;
    v_varno  integer := (p_var->'varno'->>0)::int;
    v_path   text[];
    v_stack  jsonb;
    v_rte    jsonb;
    v_kind   integer;
    v_def    integer;
    v_cte    integer;
BEGIN
    IF p_depth > 30 OR v_level < 0 OR v_attno IS NULL OR v_attno <= 0 OR v_varno IS NULL THEN
        RETURN;
    END IF;
    v_path := ARRAY(SELECT jsonb_array_elements_text(p_stack->v_level));
    v_rte := p_tree #> (v_path || ARRAY['rtable', '0', (v_varno - 1)::text]);
    v_kind := (v_rte->'rtekind'->>0)::int;
    -- the stack up to the query the VAR belongs to
    SELECT jsonb_agg(q.value ORDER BY q.ordinality) INTO v_stack
    FROM jsonb_array_elements(p_stack) WITH ORDINALITY AS q
    WHERE q.ordinality <= v_level + 1;
    IF v_kind = 0 THEN                                   -- a table, view or materialized view
        RETURN QUERY SELECT (v_rte->'relid'->>0)::oid, v_attno;
    ELSIF v_kind = 2 THEN                                -- a join: its column is an expression of the joined ones
        RETURN QUERY
        SELECT DISTINCT s.relid, s.attnum
        FROM dwh_lineage._expr_vars(v_rte->'joinaliasvars'->0->(v_attno - 1)) AS v
        CROSS JOIN LATERAL dwh_lineage._var_sources(p_tree, v_stack, v, p_depth + 1) AS s;
    ELSIF v_kind = 1 THEN                                -- a sub-select in FROM
        RETURN QUERY
        SELECT s.relid, s.attnum
        FROM dwh_lineage._query_column_sources(
            p_tree, v_stack || jsonb_build_array(to_jsonb(v_path || ARRAY['rtable', '0', (v_varno - 1)::text, 'subquery', '0'])),
            v_attno, p_depth + 1) AS s;
    ELSIF v_kind = 6 THEN                                -- a CTE, defined in this query or an outer one
        v_def := v_level - COALESCE((v_rte->'ctelevelsup'->>0)::int, 0);
        IF v_def < 0 THEN
            RETURN;
        END IF;
        v_path := ARRAY(SELECT jsonb_array_elements_text(p_stack->v_def));
        SELECT c.ordinality - 1 INTO v_cte
        FROM jsonb_array_elements(COALESCE(p_tree #> (v_path || '{cteList,0}'::text[]), '[]'::jsonb)) WITH ORDINALITY AS c
        WHERE jsonb_typeof(c.value) = 'object' AND c.value->'ctename'->>0 = v_rte->'ctename'->>0
        LIMIT 1;
        IF v_cte IS NULL THEN
            RETURN;
        END IF;
        SELECT jsonb_agg(q.value ORDER BY q.ordinality) INTO v_stack
        FROM jsonb_array_elements(p_stack) WITH ORDINALITY AS q
        WHERE q.ordinality <= v_def + 1;
        RETURN QUERY
        SELECT s.relid, s.attnum
        FROM dwh_lineage._query_column_sources(
            p_tree, v_stack || jsonb_build_array(to_jsonb(v_path || ARRAY['cteList', '0', v_cte::text, 'ctequery', '0'])),
            v_attno, p_depth + 1) AS s;
    END IF;
END;
$$;
COMMENT ON FUNCTION dwh_lineage._var_sources(jsonb, jsonb, jsonb, integer) IS 'Base-table columns (relid, attnum) a VAR node of a query tree (as jsonb) stands for, through joins, sub-selects and CTEs.';
REVOKE EXECUTE ON FUNCTION dwh_lineage._var_sources(jsonb, jsonb, jsonb, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_lineage._var_sources(jsonb, jsonb, jsonb, integer) TO etl_service;
