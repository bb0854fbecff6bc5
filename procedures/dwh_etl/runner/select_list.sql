-- What `dwh ls` prints: the pipelines (schedules in UTC, active or not, owning area) with their steps in
-- run order (kind, area, layer, dependencies, tables read and written), optionally only the steps a
-- selection chooses (dwh_etl.select_steps over every pipeline; a pipeline none of whose steps is chosen
-- is left out). One json document, keys in a fixed order. Reads only.
CREATE OR REPLACE FUNCTION dwh_etl.select_list(
    p_select  text[] DEFAULT NULL,
    p_exclude text[] DEFAULT NULL
)
RETURNS json
LANGUAGE sql
STABLE
SET search_path = dwh_etl, pg_temp
AS $$
    WITH chosen AS (
        SELECT s.*
        FROM dwh_etl.select_steps(NULL, p_select, p_exclude) AS s
    ),
    filtered AS (
        SELECT EXISTS (SELECT 1 FROM unnest(COALESCE(p_select, '{}'::text[]) || COALESCE(p_exclude, '{}'::text[])) AS x
                       WHERE btrim(x) <> '') AS is_filtered
    )
    SELECT COALESCE(json_agg(json_build_object(
               'pipeline', p.pipeline_name,
               'area', p.area,
               'active', p.is_active,
               'schedules_utc', p.schedules,
               'description', p.description,
               'steps', COALESCE((SELECT json_agg(json_build_object(
                                      'order', c.step_order,
                                      'step', c.step_name,
                                      'kind', c.kind,
                                      'area', c.area,
                                      'layer', c.layer,
                                      'depends_on', c.depends_on,
                                      'reads', c.source_tables,
                                      'writes', c.target_tables) ORDER BY c.step_order)
                                  FROM chosen AS c
                                  WHERE c.pipeline_name = p.pipeline_name), '[]'::json))
               ORDER BY p.pipeline_name), '[]'::json)
    FROM dwh_etl.pipelines AS p
    CROSS JOIN filtered AS f
    WHERE NOT f.is_filtered
       OR EXISTS (SELECT 1 FROM chosen AS c WHERE c.pipeline_name = p.pipeline_name);
$$;
COMMENT ON FUNCTION dwh_etl.select_list(text[], text[]) IS 'Pipelines with schedules and their (selected) steps in run order, with the tables each reads and writes, as json (what dwh ls prints).';
REVOKE EXECUTE ON FUNCTION dwh_etl.select_list(text[], text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl.select_list(text[], text[]) TO etl_service;
