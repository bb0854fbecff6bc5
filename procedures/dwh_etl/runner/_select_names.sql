-- Every name a selector may match, by method: steps (of any pipeline), tables (registered or named by a
-- step), areas (registered or owning a step, e.g. the engine's), layers, kinds and pipelines. Whether a
-- selector is known is decided against this list, and its close matches are taken from it.
CREATE OR REPLACE FUNCTION dwh_etl._select_names()
RETURNS TABLE (
    method text,
    name   text
)
LANGUAGE sql
STABLE
SET search_path = dwh_etl, pg_temp
AS $$
    SELECT 'step', s.step_name FROM dwh_etl.steps AS s
    UNION
    SELECT 'table', tr.table_name FROM dwh_etl.table_registry AS tr
    UNION
    SELECT 'table', t.table_name
    FROM dwh_etl.steps AS s
    CROSS JOIN LATERAL unnest(s.source_tables || s.target_tables) AS t (table_name)
    UNION
    SELECT 'area', a.area FROM dwh_etl.areas AS a
    UNION
    SELECT 'area', s.area FROM dwh_etl.steps AS s
    UNION
    SELECT 'layer', s.layer FROM dwh_etl.steps AS s
    UNION
    SELECT 'kind', s.kind FROM dwh_etl.steps AS s
    UNION
    SELECT 'pipeline', p.pipeline_name FROM dwh_etl.pipelines AS p;
$$;
COMMENT ON FUNCTION dwh_etl._select_names() IS 'The names selectors match, by method (step, table, area, layer, kind, pipeline).';
REVOKE EXECUTE ON FUNCTION dwh_etl._select_names() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl._select_names() TO etl_service;
