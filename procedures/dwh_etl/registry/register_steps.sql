-- Declarative registration of one area's steps in one pipeline: the listed steps are upserted, the
-- area's other steps in that pipeline are removed. p_steps is a JSON array of objects with keys
-- step, procedure, depends_on, sources, targets, layer, description, and optionally feeds: the
-- [source, target] pairs the step moves data along (default: every source feeds every target), and
-- kind + spec: a typed step (extract, mart, ...) names no procedure, the engine's dwh_etl.step_<kind>
-- runs it with its spec; without kind a step is custom and names its procedure. A custom step entry may
-- also carry "columns" (read from dwh_etl.areas.spec by dwh_lineage.derive_column_lineage, not here):
-- {"<target table>.<column>": ["<source table>.<column>", ...] | {"from": [...], "how": "..."}}, what
-- feeds each target column, since the engine cannot see inside its procedure.
CREATE OR REPLACE PROCEDURE dwh_etl.register_steps(
    p_pipeline text,
    p_area     text,
    p_steps    jsonb
)
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM dwh_etl.pipelines WHERE pipeline_name = p_pipeline) THEN
        RAISE EXCEPTION 'unknown pipeline %', p_pipeline
            USING ERRCODE = 'DW001',
                  HINT = 'register it first: CALL dwh_etl.register_pipeline(p_pipeline => ...)';
    END IF;
    IF jsonb_typeof(p_steps) IS DISTINCT FROM 'array' THEN
        RAISE EXCEPTION 'p_steps must be a JSON array, got %', jsonb_typeof(p_steps)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    -- tells plpgsql_check the shape of the temp table created below
    PERFORM 'PRAGMA:TABLE: _new_steps (step_name text, procedure_name text, depends_on text[], source_tables text[], '
            'target_tables text[], layer text, description text, feeds jsonb, kind text, spec jsonb)';
    CREATE TEMP TABLE _new_steps ON COMMIT DROP AS
    SELECT e->>'step'                                                       AS step_name,
           -- a typed step runs the engine's routine of its kind
           CASE WHEN COALESCE(e->>'kind', 'custom') = 'custom' THEN e->>'procedure'
                ELSE 'dwh_etl.step_' || (e->>'kind') END                    AS procedure_name,
           COALESCE(ARRAY(SELECT jsonb_array_elements_text(e->'depends_on')), '{}') AS depends_on,
           COALESCE(ARRAY(SELECT jsonb_array_elements_text(e->'sources')), '{}')    AS source_tables,
           COALESCE(ARRAY(SELECT jsonb_array_elements_text(e->'targets')), '{}')    AS target_tables,
           e->>'layer'                                                      AS layer,
           e->>'description'                                                AS description,
           e->'feeds'                                                       AS feeds,
           COALESCE(e->>'kind', 'custom')                                   AS kind,
           COALESCE(e->'spec', '{}'::jsonb)                                 AS spec
    FROM jsonb_array_elements(p_steps) AS e;

    DELETE FROM dwh_etl.steps AS s
    WHERE s.pipeline_name = p_pipeline
      AND s.area = p_area
      AND NOT EXISTS (SELECT 1 FROM _new_steps AS n WHERE n.step_name = s.step_name);

    INSERT INTO dwh_etl.steps AS s (
        pipeline_name, step_name, procedure_name, depends_on, source_tables, target_tables,
        layer, area, description, kind, spec
    )
    SELECT p_pipeline, n.step_name, n.procedure_name, n.depends_on, n.source_tables, n.target_tables,
           n.layer, p_area, n.description, n.kind, n.spec
    FROM _new_steps AS n
    ON CONFLICT (pipeline_name, step_name) DO UPDATE
    SET procedure_name = EXCLUDED.procedure_name,
        depends_on     = EXCLUDED.depends_on,
        source_tables  = EXCLUDED.source_tables,
        target_tables  = EXCLUDED.target_tables,
        layer          = EXCLUDED.layer,
        area           = EXCLUDED.area,
        description    = EXCLUDED.description,
        kind           = EXCLUDED.kind,
        spec           = EXCLUDED.spec;

    -- The declared tables feed the dependency graph before the first run.
    WITH edges AS (
        SELECT src, tgt
        FROM _new_steps AS n
        CROSS JOIN LATERAL unnest(n.source_tables) AS src
        CROSS JOIN LATERAL unnest(n.target_tables) AS tgt
        WHERE n.feeds IS NULL
        UNION
        SELECT f->>0, f->>1
        FROM _new_steps AS n
        CROSS JOIN LATERAL jsonb_array_elements(n.feeds) AS f
        WHERE n.feeds IS NOT NULL
    )
    INSERT INTO dwh_lineage.table_dependencies (upstream_table, downstream_table)
    SELECT DISTINCT e.src, e.tgt
    FROM edges AS e
    WHERE e.src <> e.tgt
    ON CONFLICT (upstream_table, downstream_table) DO NOTHING;

    DROP TABLE _new_steps;
END;
$$;
COMMENT ON PROCEDURE dwh_etl.register_steps(text, text, jsonb) IS 'Declare the steps an area contributes to a pipeline (upsert listed, remove unlisted); dependencies are checked by trigger.';
-- The registry is code: only the owner changes it (issue 9: etl_service could write what the pipeline
-- executes). Routines of dwh_etl are granted to etl_service by default: not this one.
REVOKE EXECUTE ON PROCEDURE dwh_etl.register_steps(text, text, jsonb) FROM etl_service, PUBLIC;
