-- One call declares a whole subject area (issue 10), the way pg_partman's part_config row or pgmq.create()
-- declare a partition set or a queue: the area's registry rows are derived from one jsonb spec, and a
-- second call with a changed spec converges the registry onto it.
--
--   CALL dwh_etl.register_area('sales', '{
--       "description": "...",
--       "demo":       {"generate": "sales_src.generate", "args": {"p_scale": 0.1}, "next_day": "sales_src.generate_next_day",
--                      "generated_when": "sales_src.customers", "order": 10},
--       "settings":   [{"key": "sales.source_schema", "value": "sales_src", "description": "..."}],
--       "tables":     [{"table": "bronze.sales_sales", "layer": "bronze", "description": "..."}],
--       "dimensions": [{"dimension": "sales.dim_customer", "target": "sales.dim_customer", "surrogate_key": "customer_key",
--                       "natural_key": ["customer_id"], "type2_columns": [...], "type1_columns": [...],
--                       "change_ts": "change_ts", "deleted_flag": "is_deleted", "delete_policy": "close",
--                       "type1_scope": "all_versions", "description": "..."}],
--       "pipelines":  [{"pipeline": "sales_hourly", "description": "...", "schedules": ["0 * * * *"]}],
--       "step_pipelines": ["daily", "incremental"],
--       "steps":      [{"step": "sales_extract", "kind": "extract", "spec": {...}, "layer": "bronze", ...,
--                       "pipelines": ["daily"]}],
--       "rules":      [{"name": "...", "table": "...", "type": "not_null", ...}]
--   }');
--
-- Each top-level key is optional; a key that is present is the whole truth for its kind of entry:
--   settings    inserted when missing, never overwritten (an operator's value wins) nor removed;
--   tables      upserted into table_registry; the area's tables no longer listed are removed, with the
--               lineage edges that touch them;
--   dimensions  upserted into dimension_specs (register_dimension); the area's unlisted ones are removed;
--   pipelines   the area's OWN pipelines (register_pipeline); unlisted ones are removed with their steps
--               (their pg_cron jobs go at the next schedule sync; run history stays);
--   steps       registered per pipeline (register_steps: upsert listed, remove unlisted, lineage edges);
--               a step runs in its "pipelines", else in "step_pipelines", else in the area's own
--               pipelines; the area's steps in any other pipeline are removed;
--   rules       register_rules (upsert listed, remove unlisted).
-- Then the area's column lineage is derived again (dwh_lineage.refresh_column_lineage): a custom step
-- declares its own with the key "columns" of its entry (see dwh_lineage.derive_column_lineage).
-- An unknown key (of the spec or of an entry), a non-array list or an entry without its name is refused
-- before anything is written;
-- dependency and kind checks of the tables themselves still apply. Owner only.
CREATE OR REPLACE PROCEDURE dwh_etl.register_area(
    p_area text,
    p_spec jsonb
)
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    c_keys    CONSTANT text[] := '{description,demo,settings,tables,dimensions,pipelines,step_pipelines,steps,rules}'::text[];
    c_lists   CONSTANT text[] := '{settings,tables,dimensions,pipelines,step_pipelines,steps,rules}'::text[];
    c_names   CONSTANT jsonb := '{"settings": "key", "tables": "table", "dimensions": "dimension",
                                  "pipelines": "pipeline", "steps": "step", "rules": "name"}'::jsonb;
    c_entry_keys CONSTANT jsonb := '{
        "settings":   ["key", "value", "description"],
        "tables":     ["table", "layer", "description"],
        "dimensions": ["dimension", "target", "surrogate_key", "natural_key", "type2_columns", "type1_columns",
                       "change_ts", "deleted_flag", "delete_policy", "type1_scope", "description"],
        "pipelines":  ["pipeline", "description", "schedules"],
        "steps":      ["step", "kind", "procedure", "spec", "layer", "pipelines", "depends_on", "sources", "targets",
                       "feeds", "description", "columns"],
        "rules":      ["name", "table", "type", "columns", "params", "severity", "scope", "threshold_type",
                       "threshold", "description"]}'::jsonb;
    v_bad     text;
    v_key     text;
    v_default jsonb;
    v_own     text[];
    v_removed text[];
    v_pipe    text;
    v_steps   jsonb;
BEGIN
    IF p_area IS NULL OR p_area !~ '^[a-z][a-z0-9_]*$' THEN
        RAISE EXCEPTION 'area name % is not a lower-case identifier', quote_nullable(p_area)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF jsonb_typeof(p_spec) IS DISTINCT FROM 'object' THEN
        RAISE EXCEPTION 'the spec of area % must be a JSON object, got %', p_area, COALESCE(jsonb_typeof(p_spec), 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT string_agg(quote_literal(k), ', ' ORDER BY k) INTO v_bad
    FROM jsonb_object_keys(p_spec) AS k
    WHERE k <> ALL (c_keys);
    IF v_bad IS NOT NULL THEN
        RAISE EXCEPTION 'the spec of area % has unknown key(s) %', p_area, v_bad
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'known keys: ' || array_to_string(c_keys, ', ');
    END IF;
    FOREACH v_key IN ARRAY c_lists LOOP
        IF p_spec ? v_key AND jsonb_typeof(p_spec->v_key) <> 'array' THEN
            RAISE EXCEPTION 'spec key "%" of area % must be a JSON array, got %', v_key, p_area, jsonb_typeof(p_spec->v_key)
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
    END LOOP;
    IF p_spec ? 'demo' AND jsonb_typeof(p_spec->'demo') <> 'object' THEN
        RAISE EXCEPTION 'spec key "demo" of area % must be a JSON object, got %', p_area, jsonb_typeof(p_spec->'demo')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- every entry names itself, once
    SELECT format('%s entry %s', l.key, COALESCE(e::text, 'NULL')) INTO v_bad
    FROM jsonb_each_text(c_names) AS l
    CROSS JOIN LATERAL jsonb_array_elements(COALESCE(p_spec->l.key, '[]')) AS e
    WHERE jsonb_typeof(e) <> 'object' OR NULLIF(btrim(e->>l.value), '') IS NULL
    LIMIT 1;
    IF v_bad IS NOT NULL THEN
        RAISE EXCEPTION 'area %: % has no name (each needs its "%s" key)', p_area, left(v_bad, 300),
            (SELECT string_agg(format('%s: %s', key, value), ', ') FROM jsonb_each_text(c_names))
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT format('%s %s', l.key, e->>l.value) INTO v_bad
    FROM jsonb_each_text(c_names) AS l
    CROSS JOIN LATERAL jsonb_array_elements(COALESCE(p_spec->l.key, '[]')) AS e
    GROUP BY l.key, e->>l.value
    HAVING count(*) > 1
    LIMIT 1;
    IF v_bad IS NOT NULL THEN
        RAISE EXCEPTION 'area %: % is listed twice', p_area, v_bad
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- every key of an entry is one the registry reads: a typo ("depend_on", "pipeline", "type2_column",
    -- "column") was ignored and the entry registered without it (a step run before its dependency or
    -- outside daily, a tier change dropped from a dimension's history; docs17)
    SELECT format('%s entry %s has unknown key(s) %s', l.key, quote_literal(e->>(c_names->>l.key)),
                  string_agg(quote_literal(k), ', ' ORDER BY k)),
           l.key
    INTO v_bad, v_key
    FROM jsonb_each(c_entry_keys) AS l
    CROSS JOIN LATERAL jsonb_array_elements(COALESCE(p_spec->l.key, '[]')) AS e
    CROSS JOIN LATERAL jsonb_object_keys(e) AS k
    WHERE NOT l.value ? k
    GROUP BY l.key, e
    ORDER BY l.key
    LIMIT 1;
    IF v_bad IS NOT NULL THEN
        RAISE EXCEPTION 'area %: %', p_area, v_bad
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = format('known keys of %s entries: %s', v_key,
                                (SELECT string_agg(k, ', ' ORDER BY k) FROM jsonb_array_elements_text(c_entry_keys->v_key) AS k));
    END IF;

    -- every name the spec gives exists, and every schedule parses, before anything is written (docs17: a
    -- table that does not exist in "tables", "sources" or "targets", a dimension's target or columns, a
    -- rule on a missing table or column, a schedule '0 25 * * *' were accepted by dwh migrate; some never
    -- failed at all, others only at the first run). The registry is applied last (procedures/ORDER): the area's objects exist by then.
    SELECT string_agg(x.problem, '; ' ORDER BY x.o, x.problem) INTO v_bad
    FROM (SELECT 1 AS o, format('table %s does not exist', quote_literal(e->>'table')) AS problem
          FROM jsonb_array_elements(COALESCE(p_spec->'tables', '[]')) AS e
          WHERE to_regclass(e->>'table') IS NULL
          UNION
          SELECT 2, format('step %s: %s %s does not exist', quote_literal(e->>'step'), l.k, quote_literal(t))
          FROM jsonb_array_elements(COALESCE(p_spec->'steps', '[]')) AS e
          CROSS JOIN (VALUES ('sources'), ('targets')) AS l (k)
          CROSS JOIN LATERAL jsonb_array_elements_text(CASE jsonb_typeof(e->l.k) WHEN 'array' THEN e->l.k ELSE '[]' END) AS t
          WHERE to_regclass(t) IS NULL
          UNION
          SELECT 3, format('pipeline %s: schedule %s is not a cron expression (5 fields or @macro)', quote_literal(e->>'pipeline'), quote_literal(c))
          FROM jsonb_array_elements(COALESCE(p_spec->'pipelines', '[]')) AS e
          CROSS JOIN LATERAL jsonb_array_elements_text(CASE jsonb_typeof(e->'schedules') WHEN 'array' THEN e->'schedules' ELSE '[]' END) AS c
          WHERE NOT dwh_etl._cron_valid(c)
          UNION
          SELECT 4, format('dimension %s: target %s does not exist', quote_literal(e->>'dimension'), quote_nullable(e->>'target'))
          FROM jsonb_array_elements(COALESCE(p_spec->'dimensions', '[]')) AS e
          WHERE to_regclass(e->>'target') IS NULL
          UNION
          SELECT 5, format('dimension %s: %s has no column %s (%s)', quote_literal(e->>'dimension'), e->>'target', quote_literal(c.col), c.k)
          FROM jsonb_array_elements(COALESCE(p_spec->'dimensions', '[]')) AS e
          CROSS JOIN LATERAL (
              SELECT k, t.col
              -- (change_ts names a column of the step's view, not of the target)
              FROM (VALUES ('surrogate_key'), ('natural_key'), ('type2_columns'), ('type1_columns'), ('deleted_flag')) AS v (k)
              CROSS JOIN LATERAL jsonb_array_elements_text(CASE jsonb_typeof(e->v.k) WHEN 'array' THEN e->v.k
                                                                                       WHEN 'string' THEN jsonb_build_array(e->v.k)
                                                                                       ELSE '[]' END) AS t (col)) AS c
          WHERE to_regclass(e->>'target') IS NOT NULL
            AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute AS a
                            WHERE a.attrelid = to_regclass(e->>'target') AND a.attname = c.col AND a.attnum > 0 AND NOT a.attisdropped)) AS x;
    IF v_bad IS NOT NULL THEN
        RAISE EXCEPTION 'area %: %', p_area, v_bad
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'create the tables first (a migration), or correct the names; nothing was registered';
    END IF;

    INSERT INTO dwh_etl.areas AS a (area, description, demo, spec)
    VALUES (p_area, p_spec->>'description', COALESCE(p_spec->'demo', '{}'), p_spec)
    ON CONFLICT (area) DO UPDATE
    SET description   = COALESCE(EXCLUDED.description, a.description),
        demo          = CASE WHEN p_spec ? 'demo' THEN EXCLUDED.demo ELSE a.demo END,
        spec          = EXCLUDED.spec,
        registered_at = now();

    IF p_spec ? 'settings' THEN
        INSERT INTO dwh_etl.settings (key, value, description)
        SELECT e->>'key', e->>'value', e->>'description'
        FROM jsonb_array_elements(p_spec->'settings') AS e
        ON CONFLICT (key) DO NOTHING;
    END IF;

    IF p_spec ? 'tables' THEN
        CALL dwh_etl.register_tables(p_area => p_area, p_tables => p_spec->'tables');
        WITH gone AS (
            DELETE FROM dwh_etl.table_registry AS r
            WHERE r.area = p_area
              AND r.table_name NOT IN (SELECT e->>'table' FROM jsonb_array_elements(p_spec->'tables') AS e)
            RETURNING r.table_name
        )
        SELECT array_agg(table_name) INTO v_removed FROM gone;
        DELETE FROM dwh_lineage.table_dependencies AS d
        WHERE d.upstream_table = ANY (v_removed) OR d.downstream_table = ANY (v_removed);
    END IF;

    IF p_spec ? 'pipelines' THEN
        INSERT INTO dwh_etl.pipelines AS p (pipeline_name, description, schedules, area)
        SELECT e->>'pipeline', e->>'description',
               COALESCE(ARRAY(SELECT jsonb_array_elements_text(e->'schedules')), '{}'), p_area
        FROM jsonb_array_elements(p_spec->'pipelines') AS e
        ON CONFLICT (pipeline_name) DO UPDATE
        SET description = EXCLUDED.description,
            schedules   = EXCLUDED.schedules,
            area        = EXCLUDED.area
        -- its own pipeline, or one registered without an owner that no other area or the engine uses
        WHERE p.area IS NOT DISTINCT FROM EXCLUDED.area
           OR (p.area IS NULL AND NOT EXISTS (
                   SELECT 1 FROM dwh_etl.steps AS s WHERE s.pipeline_name = p.pipeline_name AND s.area <> p_area));
        SELECT string_agg(e->>'pipeline', ', ') INTO v_bad
        FROM jsonb_array_elements(p_spec->'pipelines') AS e
        JOIN dwh_etl.pipelines AS p ON p.pipeline_name = e->>'pipeline'
        WHERE p.area IS DISTINCT FROM p_area;
        IF v_bad IS NOT NULL THEN
            RAISE EXCEPTION 'area % cannot own pipeline(s) %: they belong to the engine or another area', p_area, v_bad
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'add steps to a shared pipeline with the step''s "pipelines" key instead';
        END IF;
    END IF;

    IF p_spec ? 'dimensions' THEN
        INSERT INTO dwh_etl.dimension_specs AS d (
            dimension_name, target_table, surrogate_key, natural_key, type2_columns, type1_columns,
            change_ts_column, deleted_flag_column, delete_policy, type1_scope, description, area
        )
        SELECT e->>'dimension', e->>'target', e->>'surrogate_key',
               ARRAY(SELECT jsonb_array_elements_text(e->'natural_key')),
               COALESCE(ARRAY(SELECT jsonb_array_elements_text(e->'type2_columns')), '{}'),
               COALESCE(ARRAY(SELECT jsonb_array_elements_text(e->'type1_columns')), '{}'),
               e->>'change_ts', e->>'deleted_flag',
               COALESCE(e->>'delete_policy', 'close'), COALESCE(e->>'type1_scope', 'all_versions'),
               e->>'description', p_area
        FROM jsonb_array_elements(p_spec->'dimensions') AS e
        ON CONFLICT (dimension_name) DO UPDATE
        SET target_table = EXCLUDED.target_table,
            surrogate_key = EXCLUDED.surrogate_key,
            natural_key = EXCLUDED.natural_key,
            type2_columns = EXCLUDED.type2_columns,
            type1_columns = EXCLUDED.type1_columns,
            change_ts_column = EXCLUDED.change_ts_column,
            deleted_flag_column = EXCLUDED.deleted_flag_column,
            delete_policy = EXCLUDED.delete_policy,
            type1_scope = EXCLUDED.type1_scope,
            description = EXCLUDED.description,
            area = EXCLUDED.area;
        DELETE FROM dwh_etl.dimension_specs AS d
        WHERE d.area = p_area
          AND d.dimension_name NOT IN (SELECT e->>'dimension' FROM jsonb_array_elements(p_spec->'dimensions') AS e);
    END IF;

    IF p_spec ? 'steps' THEN
        SELECT array_agg(pipeline_name) INTO v_own FROM dwh_etl.pipelines WHERE area = p_area;
        v_default := COALESCE(p_spec->'step_pipelines', to_jsonb(COALESCE(v_own, '{}')));
        SELECT string_agg(quote_literal(e->>'step'), ', ') INTO v_bad
        FROM jsonb_array_elements(p_spec->'steps') AS e
        WHERE jsonb_array_length(COALESCE(e->'pipelines', v_default)) = 0;
        IF v_bad IS NOT NULL THEN
            RAISE EXCEPTION 'area %: step(s) % run in no pipeline', p_area, v_bad
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'give each step a "pipelines" list, or the spec a "step_pipelines" default';
        END IF;
        -- every pipeline the area has or wants steps in, in an order where a step's dependency in the same
        -- pipeline is registered with it (register_steps takes a pipeline's steps together)
        FOR v_pipe IN
            SELECT DISTINCT p FROM (
                SELECT jsonb_array_elements_text(COALESCE(e->'pipelines', v_default)) AS p
                FROM jsonb_array_elements(p_spec->'steps') AS e
                UNION
                SELECT s.pipeline_name FROM dwh_etl.steps AS s WHERE s.area = p_area
            ) AS x
            ORDER BY p
        LOOP
            SELECT COALESCE(jsonb_agg(t.e - 'pipelines' ORDER BY t.o), '[]') INTO v_steps
            FROM jsonb_array_elements(p_spec->'steps') WITH ORDINALITY AS t(e, o)
            WHERE COALESCE(t.e->'pipelines', v_default) ? v_pipe;
            CALL dwh_etl.register_steps(p_pipeline => v_pipe, p_area => p_area, p_steps => v_steps);
        END LOOP;
    END IF;

    IF p_spec ? 'pipelines' THEN
        -- after the steps: a removed pipeline takes its steps with it (ON DELETE CASCADE)
        DELETE FROM dwh_etl.pipelines AS p
        WHERE p.area = p_area
          AND p.pipeline_name NOT IN (SELECT e->>'pipeline' FROM jsonb_array_elements(p_spec->'pipelines') AS e);
    END IF;

    IF p_spec ? 'rules' THEN
        CALL dwh_etl.register_rules(p_area => p_area, p_rules => p_spec->'rules');
    END IF;

    -- the area's column lineage, derived from the steps just registered and the views they read (issue 16)
    PERFORM dwh_lineage.refresh_column_lineage(p_area);
END;
$$;
COMMENT ON PROCEDURE dwh_etl.register_area(text, jsonb) IS 'Declare a whole subject area from one jsonb spec (description, demo, settings, tables, dimensions, pipelines, step_pipelines, steps, rules); a present key is the whole truth for its entries: unlisted ones are removed.';
REVOKE EXECUTE ON PROCEDURE dwh_etl.register_area(text, jsonb) FROM etl_service, PUBLIC;
