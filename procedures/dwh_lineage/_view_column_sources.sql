-- For each output column of a view or materialized view (issue 16): the columns of the relations it
-- reads that the column is computed from, from the view's stored query tree (pg_rewrite), through its
-- joins, sub-selects and CTEs. transformation: "same name" / "renamed" (a plain column reference) or
-- "computed" (an aggregate, a CASE, an operator, a function, a CTE's computed column). A view whose tree cannot be read
-- yields nothing (derive_column_lineage then keeps its by-name lineage).
-- Example: SELECT * FROM dwh_lineage._view_column_sources('sales.mv_customer_lifetime_value'::regclass);
CREATE OR REPLACE FUNCTION dwh_lineage._view_column_sources(
    p_view oid
)
RETURNS TABLE (
    target_column  text,
    source_table   text,
    source_column  text,
    transformation text
)
LANGUAGE plpgsql
STABLE
SET search_path = dwh_lineage, pg_temp
SET jit = off
AS $$
DECLARE
    v_tree jsonb;
BEGIN
    SELECT dwh_lineage._node_tree_jsonb(r.ev_action::text)->0 INTO v_tree
    FROM pg_rewrite AS r
    WHERE r.ev_class = p_view AND r.rulename = '_RETURN';
    IF v_tree IS NULL OR v_tree->>'_' IS DISTINCT FROM 'QUERY' THEN
        RETURN;
    END IF;
    RETURN QUERY
    SELECT va.attname::text,
           sn.nspname || '.' || sc.relname,
           sa.attname::text,
           CASE WHEN te->'expr'->0->>'_' IS DISTINCT FROM 'VAR' THEN 'computed'
                WHEN sa.attname = va.attname THEN 'same name'
                -- a plain reference to a table's column under another name; to a CTE's or a
                -- sub-select's column: whatever that query computed
                WHEN v_tree->'rtable'->0->((te->'expr'->0->'varno'->>0)::int - 1)->'rtekind'->>0 = '0' THEN 'renamed'
                ELSE 'computed' END
    FROM jsonb_array_elements(v_tree->'targetList'->0) AS te
    CROSS JOIN LATERAL dwh_lineage._query_column_sources(v_tree, '[[]]'::jsonb, (te->'resno'->>0)::int) AS s
    JOIN pg_class AS sc ON sc.oid = s.relid
    JOIN pg_namespace AS sn ON sn.oid = sc.relnamespace
    JOIN pg_attribute AS sa ON sa.attrelid = s.relid AND sa.attnum = s.attnum
    -- a view's columns are its target list's non-junk entries, attnum = resno (names from the catalog)
    JOIN pg_attribute AS va ON va.attrelid = p_view AND va.attnum = (te->'resno'->>0)::int AND NOT va.attisdropped
    WHERE te->'resjunk'->>0 = 'false';
EXCEPTION
    WHEN invalid_text_representation OR data_exception THEN
        -- an unexpected tree layout (another server version): no precise lineage for this view
        RETURN;
END;
$$;
COMMENT ON FUNCTION dwh_lineage._view_column_sources(oid) IS 'For each output column of a view: the columns of the relations it reads that it is computed from (from its stored query tree), with same name / renamed / computed.';
REVOKE EXECUTE ON FUNCTION dwh_lineage._view_column_sources(oid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_lineage._view_column_sources(oid) TO etl_service;
