-- The steps that step selectors choose (the union of the selectors; each selector the intersection of
-- its terms), over the step graph of one pipeline (or of every pipeline when p_pipeline is NULL).
--
-- The graph is the steps' registered dependencies (dwh_etl.steps.depends_on): the order the runner
-- keeps, so `+x` is exactly what must have run for x to read complete input. Tables enter through the
-- steps that write them (target_tables): `sales.fact_sales` selects the step that loads it, `+sales.fact_sales`
-- that step and everything upstream. A table no step of the pipeline writes (a source table) selects
-- the steps that read it. Source and target tables are not graph edges themselves: two steps may write
-- one table (agents' dimension and its counters), which would make a cycle of a fact and its counters.
--
-- `@x` is x, everything downstream of it, and everything upstream of those (dbt's "at" operator).
--
-- A selector that matches no name at all (dwh_etl._select_names) raises DW020 with the close matches;
-- every unknown one is named at once. A known name absent from this pipeline selects nothing.
CREATE OR REPLACE FUNCTION dwh_etl._select_resolve(
    p_pipeline  text,
    p_selectors text[],
    p_what      text DEFAULT 'select'
)
RETURNS TABLE (
    pipeline_name text,
    step_name     text
)
LANGUAGE plpgsql
STABLE
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_unknown record;
    v_terms   jsonb;
BEGIN
    -- the terms, each with the method a bare pattern resolves to
    WITH terms AS (
        SELECT t.*
        FROM dwh_etl._select_parse(p_selectors) AS t
    ),
    names AS (
        SELECT n.method, n.name FROM dwh_etl._select_names() AS n
    ),
    resolved AS (
        SELECT t.*,
               COALESCE(t.method,
                        CASE WHEN t.pattern LIKE '%.%' THEN 'table'
                             WHEN EXISTS (SELECT 1 FROM names AS n WHERE n.method = 'step' AND n.name LIKE t.like_pattern) THEN 'step'
                             WHEN EXISTS (SELECT 1 FROM names AS n WHERE n.method = 'area' AND n.name LIKE t.like_pattern) THEN 'area'
                        END) AS resolved_method
        FROM terms AS t
    )
    SELECT COALESCE(jsonb_agg(to_jsonb(r) ORDER BY r.sel_no, r.term_no), '[]'::jsonb)
    INTO v_terms
    FROM resolved AS r;

    -- unknown names: every one, with its close matches
    SELECT string_agg(format('%s%s', quote_literal(u.term),
                             CASE WHEN u.close IS NOT NULL THEN format(' (did you mean %s?)', u.close) ELSE '' END),
                      '; ' ORDER BY u.sel_no, u.term_no) AS terms,
           count(*) AS n
    INTO v_unknown
    FROM (
        SELECT t->>'term' AS term, (t->>'sel_no')::integer AS sel_no, (t->>'term_no')::integer AS term_no,
               (SELECT string_agg(c.name, ', ' ORDER BY c.d, c.name)
                FROM (SELECT c.name, c.d
                      FROM (SELECT DISTINCT ON (n.name) n.name,
                                   dwh_etl._select_distance(replace(t->>'pattern', '*', ''), n.name) AS d
                            FROM dwh_etl._select_names() AS n
                            WHERE n.method = COALESCE(t->>'resolved_method', n.method)
                            ORDER BY n.name, 2) AS c
                      WHERE c.d <= GREATEST(2, length(t->>'pattern') / 4)
                         OR c.name LIKE '%' || replace(t->>'like_pattern', '%', '') || '%'
                      ORDER BY c.d, c.name
                      LIMIT 3) AS c
               ) AS close
        FROM jsonb_array_elements(v_terms) AS t
        WHERE NOT EXISTS (SELECT 1 FROM dwh_etl._select_names() AS n
                          WHERE n.method = t->>'resolved_method'
                            AND n.name LIKE t->>'like_pattern')
    ) AS u;
    IF v_unknown.n > 0 THEN
        RAISE EXCEPTION 'unknown selector%: %', CASE WHEN v_unknown.n > 1 THEN 's' ELSE '' END, v_unknown.terms
            USING ERRCODE = 'DW020',
                  DETAIL = format('in %s: no step, table, area%s matches', p_what,
                                  CASE WHEN v_unknown.terms LIKE '%:%' THEN ', layer, kind or pipeline' ELSE '' END),
                  HINT = 'dwh ls lists the pipelines, steps and tables (SELECT * FROM dwh_etl.select_steps(NULL))';
    END IF;

    RETURN QUERY
    WITH RECURSIVE terms AS (
        SELECT (t->>'sel_no')::integer AS sel_no, (t->>'term_no')::integer AS term_no,
               (t->>'n_terms')::integer AS n_terms,
               (t->>'at')::boolean AS at,
               (t->>'up')::boolean AS up, (t->>'up_depth')::integer AS up_depth,
               (t->>'down')::boolean AS down, (t->>'down_depth')::integer AS down_depth,
               t->>'resolved_method' AS method, t->>'like_pattern' AS like_pattern
        FROM jsonb_array_elements(v_terms) AS t
    ),
    graph AS (
        SELECT s.pipeline_name, s.step_name, s.depends_on, s.source_tables, s.target_tables, s.area, s.layer, s.kind
        FROM dwh_etl.steps AS s
        WHERE p_pipeline IS NULL OR s.pipeline_name = p_pipeline
    ),
    matched AS (
        SELECT t.sel_no, t.term_no, g.pipeline_name, g.step_name,
               CASE t.method
                   WHEN 'step' THEN g.step_name LIKE t.like_pattern
                   WHEN 'area' THEN g.area LIKE t.like_pattern
                   WHEN 'layer' THEN g.layer LIKE t.like_pattern
                   WHEN 'kind' THEN g.kind LIKE t.like_pattern
                   WHEN 'pipeline' THEN g.pipeline_name LIKE t.like_pattern
                   WHEN 'table' THEN EXISTS (SELECT 1 FROM unnest(g.target_tables) AS x WHERE x LIKE t.like_pattern)
               END AS hit,
               t.method = 'table'
               AND EXISTS (SELECT 1 FROM unnest(g.source_tables) AS x WHERE x LIKE t.like_pattern) AS reads
        FROM terms AS t
        CROSS JOIN graph AS g
    ),
    seeds AS (
        -- a table: its writers; when no step of the pipeline writes it, its readers
        SELECT m.sel_no, m.term_no, m.pipeline_name, m.step_name
        FROM (SELECT m.*, bool_or(m.hit) OVER (PARTITION BY m.sel_no, m.term_no, m.pipeline_name) AS any_hit
              FROM matched AS m) AS m
        WHERE m.hit OR (m.reads AND NOT m.any_hit)
    ),
    downstream (sel_no, term_no, pipeline_name, step_name, depth) AS (
        SELECT s.sel_no, s.term_no, s.pipeline_name, s.step_name, 0
        FROM seeds AS s
        JOIN terms AS t USING (sel_no, term_no)
        WHERE t.down
        UNION
        SELECT u.sel_no, u.term_no, u.pipeline_name, g.step_name, u.depth + 1
        FROM downstream AS u
        JOIN terms AS t USING (sel_no, term_no)
        JOIN graph AS g
          ON g.pipeline_name = u.pipeline_name
         AND u.step_name = ANY (g.depends_on)
        WHERE t.down_depth IS NULL OR u.depth < t.down_depth
    ),
    upstream (sel_no, term_no, pipeline_name, step_name, depth) AS (
        SELECT s.sel_no, s.term_no, s.pipeline_name, s.step_name, 0
        FROM seeds AS s
        JOIN terms AS t USING (sel_no, term_no)
        WHERE t.up
        UNION
        -- @x: what every step downstream of x needs
        SELECT d.sel_no, d.term_no, d.pipeline_name, d.step_name, 0
        FROM downstream AS d
        JOIN terms AS t USING (sel_no, term_no)
        WHERE t.at
        UNION
        SELECT u.sel_no, u.term_no, u.pipeline_name, d.dep, u.depth + 1
        FROM upstream AS u
        JOIN terms AS t USING (sel_no, term_no)
        JOIN graph AS g
          ON g.pipeline_name = u.pipeline_name
         AND g.step_name = u.step_name
        CROSS JOIN LATERAL unnest(g.depends_on) AS d (dep)
        WHERE t.up_depth IS NULL OR u.depth < t.up_depth
    ),
    per_term AS (
        SELECT s.sel_no, s.term_no, s.pipeline_name, s.step_name FROM seeds AS s
        UNION
        SELECT u.sel_no, u.term_no, u.pipeline_name, u.step_name FROM upstream AS u
        UNION
        SELECT d.sel_no, d.term_no, d.pipeline_name, d.step_name FROM downstream AS d
    )
    -- a selector: the steps all its terms chose; the selection: the union of the selectors
    SELECT DISTINCT p.pipeline_name, p.step_name
    FROM per_term AS p
    JOIN (SELECT DISTINCT t.sel_no, t.n_terms FROM terms AS t) AS sel
      ON sel.sel_no = p.sel_no
    GROUP BY p.sel_no, sel.n_terms, p.pipeline_name, p.step_name
    HAVING count(DISTINCT p.term_no) = sel.n_terms;
END;
$$;
COMMENT ON FUNCTION dwh_etl._select_resolve(text, text[], text) IS 'Steps (pipeline, step) chosen by step selectors over the dependency graph of one pipeline or all; DW020 naming every unknown selector with its close matches.';
REVOKE EXECUTE ON FUNCTION dwh_etl._select_resolve(text, text[], text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl._select_resolve(text, text[], text) TO etl_service;
