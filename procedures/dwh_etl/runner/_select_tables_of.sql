-- The tables some selectors mean (see dwh_etl.select_tables), without the exclusion: per selector, a
-- plain table term gives the known table names matching it, anything else the targets of the steps it
-- chooses (dwh_etl._select_resolve, which also validates it).
CREATE OR REPLACE FUNCTION dwh_etl._select_tables_of(
    p_selectors text[],
    p_what      text
)
RETURNS text[]
LANGUAGE plpgsql
STABLE
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_sel    record;
    v_tables text[] := '{}'::text[];
BEGIN
    FOR v_sel IN
        SELECT t.selector, t.n_terms, t.up, t.down, t.method, t.pattern, t.like_pattern
        FROM dwh_etl._select_parse(p_selectors) AS t
        WHERE t.term_no = 1
        ORDER BY t.sel_no
    LOOP
        IF v_sel.n_terms = 1 AND NOT v_sel.up AND NOT v_sel.down
           AND (v_sel.method = 'table' OR (v_sel.method IS NULL AND v_sel.pattern LIKE '%.%')) THEN
            PERFORM FROM dwh_etl._select_resolve(NULL, ARRAY[v_sel.selector], p_what);   -- known?
            v_tables := v_tables || ARRAY(SELECT n.name FROM dwh_etl._select_names() AS n
                                          WHERE n.method = 'table' AND n.name LIKE v_sel.like_pattern
                                          UNION
                                          SELECT r.table_name FROM dwh_etl.quality_rules AS r
                                          WHERE r.table_name LIKE v_sel.like_pattern);
        ELSE
            v_tables := v_tables || ARRAY(SELECT DISTINCT t
                                          FROM dwh_etl._select_resolve(NULL, ARRAY[v_sel.selector], p_what) AS r
                                          JOIN dwh_etl.steps AS s
                                            ON s.pipeline_name = r.pipeline_name
                                           AND s.step_name = r.step_name
                                          CROSS JOIN LATERAL unnest(s.target_tables) AS t
                                          WHERE s.is_enabled);
        END IF;
    END LOOP;
    RETURN ARRAY(SELECT DISTINCT t FROM unnest(v_tables) AS t ORDER BY t);
END;
$$;
COMMENT ON FUNCTION dwh_etl._select_tables_of(text[], text) IS 'Tables some selectors mean: a plain table selector its matching tables, any other the targets of its steps.';
REVOKE EXECUTE ON FUNCTION dwh_etl._select_tables_of(text[], text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl._select_tables_of(text[], text) TO etl_service;
