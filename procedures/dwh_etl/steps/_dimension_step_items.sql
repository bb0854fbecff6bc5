-- Validates the spec of a `dimension` step (see dwh_etl.step_dimension) before anything is read or
-- written, and returns its dimensions as a JSON array in load order, defaults filled in:
--   [{"dimension", "target", "view" (the relation, schema-qualified), "watermark_column", "lineage_source",
--     "ignored_flag" (the deleted flag when the delete policy is 'ignore', else null)}]
-- Every problem is reported by name (the step, the dimension, the view, the missing columns) with
-- SQLSTATE 22023, so a typo in a registry file fails its step clearly instead of loading nothing.
-- Checked: the shape (one dimension object, or {"dimensions": [...]} with at least one), unknown keys
-- (a misspelt "watermark_column" must not silently fall back to the default), the dimension is
-- registered (dwh_etl.dimension_specs) and listed once, the view exists and has every column the
-- dimension needs (natural key, Type 2, Type 1, change time, deleted flag) and the watermark column,
-- which must be timestamptz (a timestamp without time zone compared with the window's bounds would
-- depend on the session's TimeZone), and lineage_source, when given, names an existing relation.
-- The target table is not checked here: dwh_etl.apply_dimension reports a missing one itself.
CREATE OR REPLACE FUNCTION dwh_etl._dimension_step_items(
    p_spec jsonb,
    p_step text
)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_hint    text := 'a dimension step''s spec is {"dimension": "<registered dimension>", "view": "<schema.view>"} '
                      '(optional "watermark_column", default _loaded_at, and "lineage_source"), or '
                      '{"dimensions": [<such objects>, ...]} loaded in order; see dwh_etl.step_dimension';
    v_list    jsonb;
    v_item    jsonb;
    v_unknown text;
    v_dim     dwh_etl.dimension_specs;
    v_view    regclass;
    v_wm      text;
    v_wm_type regtype;
    v_missing text;
    v_out     jsonb := '[]'::jsonb;
BEGIN
    IF jsonb_typeof(p_spec) IS DISTINCT FROM 'object' THEN
        RAISE EXCEPTION 'dimension step %: the spec must be a JSON object, got %', p_step, COALESCE(p_spec::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value', HINT = v_hint;
    END IF;
    IF p_spec ? 'dimensions' THEN
        v_unknown := (SELECT string_agg(k, ', ' ORDER BY k) FROM jsonb_object_keys(p_spec) AS k WHERE k <> 'dimensions');
        IF v_unknown IS NOT NULL THEN
            RAISE EXCEPTION 'dimension step %: a spec with "dimensions" has no other keys, got %', p_step, v_unknown
                USING ERRCODE = 'invalid_parameter_value', DETAIL = p_spec::text, HINT = v_hint;
        END IF;
        v_list := p_spec->'dimensions';
        IF jsonb_typeof(v_list) IS DISTINCT FROM 'array' OR jsonb_array_length(v_list) = 0 THEN
            RAISE EXCEPTION 'dimension step %: "dimensions" must be a non-empty JSON array, got %', p_step, v_list
                USING ERRCODE = 'invalid_parameter_value', DETAIL = p_spec::text, HINT = v_hint;
        END IF;
    ELSE
        v_list := jsonb_build_array(p_spec);
    END IF;

    FOR v_item IN SELECT e.value FROM jsonb_array_elements(v_list) AS e LOOP
        IF jsonb_typeof(v_item) IS DISTINCT FROM 'object' THEN
            RAISE EXCEPTION 'dimension step %: each dimension must be a JSON object, got %', p_step, v_item
                USING ERRCODE = 'invalid_parameter_value', DETAIL = p_spec::text, HINT = v_hint;
        END IF;
        v_unknown := (SELECT string_agg(k, ', ' ORDER BY k) FROM jsonb_object_keys(v_item) AS k
                      WHERE k NOT IN ('dimension', 'view', 'watermark_column', 'lineage_source'));
        IF v_unknown IS NOT NULL THEN
            RAISE EXCEPTION 'dimension step %: unknown key(s) % in %', p_step, v_unknown, v_item
                USING ERRCODE = 'invalid_parameter_value', HINT = v_hint;
        END IF;
        IF jsonb_typeof(v_item->'dimension') IS DISTINCT FROM 'string' OR jsonb_typeof(v_item->'view') IS DISTINCT FROM 'string' THEN
            RAISE EXCEPTION 'dimension step %: "dimension" and "view" are required strings, got %', p_step, v_item
                USING ERRCODE = 'invalid_parameter_value', HINT = v_hint;
        END IF;

        SELECT * INTO v_dim FROM dwh_etl.dimension_specs AS d WHERE d.dimension_name = v_item->>'dimension';
        IF NOT FOUND THEN
            RAISE EXCEPTION 'dimension step %: dimension % is not registered', p_step, quote_literal(v_item->>'dimension')
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'dwh_etl.dimension_specs lists the registered dimensions; declare one with dwh_etl.register_dimension';
        END IF;
        IF v_out @> jsonb_build_array(jsonb_build_object('dimension', v_dim.dimension_name)) THEN
            RAISE EXCEPTION 'dimension step %: dimension % is listed twice', p_step, v_dim.dimension_name
                USING ERRCODE = 'invalid_parameter_value', DETAIL = p_spec::text, HINT = v_hint;
        END IF;

        -- to_regclass raises on a malformed name ('a.b.c.d'): report it as this spec's problem
        BEGIN
            v_view := to_regclass(v_item->>'view');
        EXCEPTION WHEN OTHERS THEN
            v_view := NULL;
        END;
        IF v_view IS NULL THEN
            RAISE EXCEPTION 'dimension step %: view % of dimension % does not exist', p_step, quote_literal(v_item->>'view'), v_dim.dimension_name
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'the area''s procedures/ files create the view (run dwh migrate), or fix "view" in the step''s spec';
        END IF;

        v_wm := COALESCE(v_item->>'watermark_column', '_loaded_at');
        SELECT a.atttypid::regtype INTO v_wm_type
        FROM pg_catalog.pg_attribute AS a
        WHERE a.attrelid = v_view AND a.attname = v_wm AND a.attnum > 0 AND NOT a.attisdropped;
        IF v_wm_type IS DISTINCT FROM 'timestamp with time zone'::regtype THEN
            RAISE EXCEPTION 'dimension step %: view % has no timestamptz watermark column % (found %)',
                            p_step, v_view, quote_ident(v_wm), COALESCE(v_wm_type::text, 'no such column')
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'the window is read on a load time the warehouse stamps itself, e.g. silver''s _loaded_at';
        END IF;

        SELECT string_agg(c, ', ' ORDER BY c) INTO v_missing
        FROM unnest(v_dim.natural_key || v_dim.type2_columns || v_dim.type1_columns
                    || ARRAY[v_dim.change_ts_column, v_dim.deleted_flag_column]) AS c
        WHERE c IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute AS a
                          WHERE a.attrelid = v_view AND a.attname = c AND a.attnum > 0 AND NOT a.attisdropped);
        IF v_missing IS NOT NULL THEN
            RAISE EXCEPTION 'dimension step %: view % lacks column(s) % of dimension %', p_step, v_view, v_missing, v_dim.dimension_name
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'the view yields the dimension''s columns (dwh_etl.dimension_specs), its change time and deleted flag';
        END IF;

        IF v_item ? 'lineage_source' AND (jsonb_typeof(v_item->'lineage_source') IS DISTINCT FROM 'string'
                                          OR to_regclass(v_item->>'lineage_source') IS NULL) THEN
            RAISE EXCEPTION 'dimension step %: lineage_source % of dimension % is not an existing table or view',
                            p_step, v_item->'lineage_source', v_dim.dimension_name
                USING ERRCODE = 'invalid_parameter_value', HINT = v_hint;
        END IF;

        v_out := v_out || jsonb_build_array(jsonb_build_object(
            'dimension',        v_dim.dimension_name,
            'target',           v_dim.target_table,
            'view',             v_view::text,
            'watermark_column', v_wm,
            'lineage_source',   COALESCE(v_item->>'lineage_source', v_view::text),
            -- the deleted flag when the delete policy drops deletions (apply_dimension does not read them)
            'ignored_flag',     CASE WHEN v_dim.delete_policy = 'ignore' THEN v_dim.deleted_flag_column END));
    END LOOP;
    RETURN v_out;
END;
$$;
COMMENT ON FUNCTION dwh_etl._dimension_step_items(jsonb, text) IS 'Validate a dimension step''s spec (clear 22023 errors naming the step) and return its dimensions in load order with defaults filled.';
REVOKE EXECUTE ON FUNCTION dwh_etl._dimension_step_items(jsonb, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl._dimension_step_items(jsonb, text) TO etl_service;
