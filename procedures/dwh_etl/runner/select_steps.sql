-- The steps a selection chooses, in the order the runner runs them: what `dwh run --select/--exclude`,
-- `dwh run --dry-run`, `dwh ls` and `dwh test` act on, and what restate / rebuild / retry take as their
-- p_steps. p_select NULL or empty: every step; p_exclude removes. Selectors (dbt's): a step name, a
-- table (schema.table), an area, or method:pattern (step, table, area, layer, kind, pipeline), '*'
-- wildcards, `+x` x and everything upstream, `x+` everything downstream, `N+x` / `x+N` N levels; several
-- selectors: their union; terms joined by commas: their intersection (see dwh_etl._select_parse and
-- dwh_etl._select_resolve for the grammar and the graph).
-- p_pipeline NULL: the steps of every pipeline, each pipeline's graph on its own.
-- Only enabled steps are returned (the runner runs only those). step_order numbers the chosen steps of
-- a pipeline 1..n in run order. Errors: DW001 unknown pipeline; DW020 unknown or malformed selector.
-- Reads only: callable from a read-only transaction.
CREATE OR REPLACE FUNCTION dwh_etl.select_steps(
    p_pipeline text,
    p_select   text[] DEFAULT NULL,
    p_exclude  text[] DEFAULT NULL
)
RETURNS TABLE (
    step_name      text,
    step_order     integer,
    kind           text,
    target_tables  text[],
    pipeline_name  text,
    area           text,
    layer          text,
    depends_on     text[],
    source_tables  text[],
    procedure_name text,
    description    text
)
LANGUAGE plpgsql
STABLE
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_all boolean := NOT EXISTS (SELECT 1 FROM unnest(COALESCE(p_select, '{}'::text[])) AS s WHERE btrim(s) <> '');
BEGIN
    IF p_pipeline IS NOT NULL AND NOT EXISTS (SELECT 1 FROM dwh_etl.pipelines AS p WHERE p.pipeline_name = p_pipeline) THEN
        RAISE EXCEPTION 'unknown pipeline %', quote_literal(p_pipeline)
            USING ERRCODE = 'DW001',
                  HINT = format('registered pipelines: %s',
                                (SELECT string_agg(p.pipeline_name, ', ' ORDER BY p.pipeline_name) FROM dwh_etl.pipelines AS p));
    END IF;

    RETURN QUERY
    WITH chosen AS (
        SELECT r.pipeline_name, r.step_name
        FROM dwh_etl._select_resolve(p_pipeline, p_select, 'select') AS r
    ),
    dropped AS (
        SELECT r.pipeline_name, r.step_name
        FROM dwh_etl._select_resolve(p_pipeline, p_exclude, 'exclude') AS r
    ),
    ordered AS (
        SELECT p.pipeline_name, o.step_name, o.depth
        FROM dwh_etl.pipelines AS p
        CROSS JOIN LATERAL dwh_etl._ordered_steps(p.pipeline_name) AS o
        WHERE p_pipeline IS NULL OR p.pipeline_name = p_pipeline
    ),
    picked AS (
        SELECT o.*
        FROM ordered AS o
        WHERE (v_all OR EXISTS (SELECT 1 FROM chosen AS c
                                WHERE c.pipeline_name = o.pipeline_name AND c.step_name = o.step_name))
          AND NOT EXISTS (SELECT 1 FROM dropped AS d
                          WHERE d.pipeline_name = o.pipeline_name AND d.step_name = o.step_name)
    )
    SELECT s.step_name,
           (row_number() OVER (PARTITION BY pk.pipeline_name ORDER BY pk.depth, pk.step_name))::integer,
           s.kind, s.target_tables, s.pipeline_name, s.area, s.layer, s.depends_on, s.source_tables,
           s.procedure_name, s.description
    FROM picked AS pk
    JOIN dwh_etl.steps AS s
      ON s.pipeline_name = pk.pipeline_name
     AND s.step_name = pk.step_name
    ORDER BY pk.pipeline_name, pk.depth, pk.step_name;
END;
$$;
COMMENT ON FUNCTION dwh_etl.select_steps(text, text[], text[]) IS 'Steps chosen by dbt-style selectors (step, schema.table, area, method:pattern, +x upstream, x+ downstream, commas intersect) minus the excluded ones, in run order; one pipeline or all (NULL). Example: SELECT * FROM dwh_etl.select_steps(''daily'', ARRAY[''+sales.fact_sales'']);';
REVOKE EXECUTE ON FUNCTION dwh_etl.select_steps(text, text[], text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl.select_steps(text, text[], text[]) TO etl_service;
