-- What is wrong with one load of a silver step's spec (see dwh_etl.step_silver), or NULL when nothing:
-- checked before any load of the step runs, so a typo in a registry file is a clear error naming the
-- step, the load and the entry, not a failure deep in generated SQL after half the step has run.
CREATE OR REPLACE FUNCTION dwh_etl._silver_spec_problem(
    p_load jsonb
)
RETURNS text
LANGUAGE plpgsql
STABLE
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_target  regclass := to_regclass(p_load->>'target');
    v_bronze  regclass := to_regclass(p_load->>'bronze');
    v_source  regclass := to_regclass(COALESCE(p_load->>'source', p_load->>'bronze'));
    v_mode    text := COALESCE(p_load->>'mode', 'upsert');
    v_ts      text := p_load->>'ts_column';
    v_tomb    jsonb := p_load->'tombstones';
    v_dim     dwh_etl.dimension_specs;
    v_key     text[];
    v_cols    text[];
    v_missing text;
BEGIN
    IF jsonb_typeof(p_load) IS DISTINCT FROM 'object' THEN
        RETURN format('a load must be a JSON object, not %s', p_load);
    ELSIF v_target IS NULL THEN
        RETURN CASE WHEN p_load ? 'target' THEN format('"target" %s is not an existing table', quote_literal(p_load->>'target'))
                    ELSE '"target" (the silver table) is missing' END;
    ELSIF v_bronze IS NULL THEN
        RETURN format('load of %s: "bronze" %s', p_load->>'target',
                      CASE WHEN p_load ? 'bronze' THEN quote_literal(p_load->>'bronze') || ' is not an existing table' ELSE '(the bronze table) is missing' END);
    ELSIF v_source IS NULL THEN
        RETURN format('load of %s: "source" %s is not an existing table or view', p_load->>'target', quote_literal(p_load->>'source'));
    ELSIF v_mode NOT IN ('upsert', 'scd2') THEN
        RETURN format('load of %s: "mode" %s is not upsert or scd2', p_load->>'target', quote_literal(v_mode));
    ELSIF COALESCE(p_load->>'typing', 'engine') NOT IN ('engine', 'source') THEN
        RETURN format('load of %s: "typing" %s is not engine or source', p_load->>'target', quote_literal(p_load->>'typing'));
    ELSIF v_ts IS NULL THEN
        RETURN format('load of %s: "ts_column" (the change time that decides the latest row) is missing', p_load->>'target');
    ELSIF jsonb_typeof(COALESCE(p_load->'checks', '[]')) <> 'array'
          OR EXISTS (SELECT 1 FROM jsonb_array_elements(COALESCE(p_load->'checks', '[]')) AS e WHERE jsonb_typeof(e) <> 'string') THEN
        RETURN format('load of %s: "checks" must be an array of SQL expressions (strings)', p_load->>'target');
    ELSIF jsonb_typeof(COALESCE(p_load->'unchanged_columns', '[]')) <> 'array' THEN
        RETURN format('load of %s: "unchanged_columns" must be an array of column names', p_load->>'target');
    ELSIF COALESCE(p_load->>'ties', 'quarantine') NOT IN ('quarantine', 'latest_delivery') THEN
        RETURN format('load of %s: "ties" %s is not quarantine or latest_delivery', p_load->>'target', quote_literal(p_load->>'ties'));
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute AS a WHERE a.attrelid = v_source AND a.attname = '_bronze_id' AND NOT a.attisdropped)
       OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute AS a WHERE a.attrelid = v_source AND a.attname = '_ingested_at' AND NOT a.attisdropped) THEN
        RETURN format('load of %s: source %s has no _bronze_id or no _ingested_at (the bronze row and its arrival)', p_load->>'target', v_source);
    END IF;
    IF p_load ? 'reasons_column' AND (COALESCE(p_load->>'typing', 'engine') <> 'source' OR NOT EXISTS (
           SELECT 1 FROM pg_catalog.pg_attribute AS a
           WHERE a.attrelid = v_source AND a.attname = p_load->>'reasons_column' AND NOT a.attisdropped
             AND a.atttypid = 'text[]'::regtype)) THEN
        RETURN format('load of %s: "reasons_column" %s must be a text[] column of the source view (typing source)',
                      p_load->>'target', quote_nullable(p_load->>'reasons_column'));
    END IF;

    IF v_mode = 'scd2' THEN
        SELECT * INTO v_dim FROM dwh_etl.dimension_specs AS d WHERE d.dimension_name = p_load->>'dimension';
        IF NOT FOUND THEN
            RETURN format('load of %s: "dimension" %s is not a registered dimension (dwh_etl.dimension_specs)',
                          p_load->>'target', COALESCE(quote_literal(p_load->>'dimension'), 'NULL'));
        ELSIF to_regclass(v_dim.target_table) IS DISTINCT FROM v_target THEN
            RETURN format('load of %s: dimension %s maintains %s, not the target', p_load->>'target', v_dim.dimension_name, v_dim.target_table);
        END IF;
        v_key  := v_dim.natural_key;
        v_cols := v_dim.natural_key || v_dim.type2_columns || v_dim.type1_columns || v_ts;
    ELSE
        IF jsonb_typeof(p_load->'key') IS DISTINCT FROM 'array' OR jsonb_array_length(p_load->'key') = 0 THEN
            RETURN format('load of %s: "key" (the natural key columns) must be a non-empty array', p_load->>'target');
        END IF;
        v_key := ARRAY(SELECT jsonb_array_elements_text(p_load->'key'));
        SELECT array_agg(a.attname::text ORDER BY a.attnum) INTO v_cols
        FROM pg_catalog.pg_attribute AS a
        WHERE a.attrelid = v_target AND a.attnum > 0 AND NOT a.attisdropped AND a.attname !~ '^_'
          AND a.attname IS DISTINCT FROM v_tomb->>'flag';
        SELECT string_agg(c, ', ') INTO v_missing FROM unnest(v_key || v_ts) AS c WHERE c <> ALL (v_cols);
        IF v_missing IS NOT NULL THEN
            RETURN format('load of %s: the key or ts_column names no column of the target: %s', p_load->>'target', v_missing);
        END IF;
    END IF;
    IF v_tomb IS NOT NULL THEN
        IF jsonb_typeof(v_tomb) <> 'object' OR to_regclass(v_tomb->>'table') IS NULL THEN
            RETURN format('load of %s: "tombstones" needs "table", an existing table', p_load->>'target');
        ELSIF cardinality(v_key) <> 1 THEN
            RETURN format('load of %s: tombstones name one key column; the key is %s', p_load->>'target', array_to_string(v_key, ', '));
        END IF;
        SELECT string_agg(c, ', ') INTO v_missing
        FROM unnest(ARRAY[v_tomb->>'key', v_tomb->>'deleted_at', '_ingested_at']
                    || ARRAY(SELECT jsonb_object_keys(COALESCE(v_tomb->'match', '{}')))) AS c
        WHERE c IS NULL
           OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute AS a
                          WHERE a.attrelid = to_regclass(v_tomb->>'table') AND a.attname = c AND NOT a.attisdropped);
        IF v_missing IS NOT NULL OR (v_tomb->>'key') IS NULL OR (v_tomb->>'deleted_at') IS NULL THEN
            RETURN format('load of %s: "tombstones" needs "key" and "deleted_at", columns of %s (and "match" on its columns)',
                          p_load->>'target', v_tomb->>'table');
        ELSIF v_mode = 'scd2' AND v_dim.deleted_flag_column IS NULL THEN
            RETURN format('load of %s: dimension %s has no deleted flag column for the tombstones', p_load->>'target', v_dim.dimension_name);
        ELSIF v_mode = 'upsert' AND NOT EXISTS (
            SELECT 1 FROM pg_catalog.pg_attribute AS a
            WHERE a.attrelid = v_target AND a.attname = v_tomb->>'flag' AND a.atttypid = 'boolean'::regtype AND NOT a.attisdropped) THEN
            RETURN format('load of %s: "tombstones" needs "flag", a boolean column of the target', p_load->>'target');
        END IF;
    END IF;
    SELECT string_agg(c, ', ') INTO v_missing
    FROM unnest(v_cols) AS c
    WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute AS a WHERE a.attrelid = v_source AND a.attname = c AND NOT a.attisdropped);
    IF v_missing IS NOT NULL THEN
        RETURN format('load of %s: source %s lacks the columns %s', p_load->>'target', v_source, v_missing);
    END IF;

    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION dwh_etl._silver_spec_problem(jsonb) IS 'What is wrong with one load of a silver step''s spec, or NULL (checked before the step runs).';
REVOKE EXECUTE ON FUNCTION dwh_etl._silver_spec_problem(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl._silver_spec_problem(jsonb) TO etl_service;
