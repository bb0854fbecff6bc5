-- Step kind `extract`: incremental extraction of an area's source tables into its bronze tables, in one
-- transaction (one snapshot: a row never arrives before a row it references was extracted), each by
-- dwh_etl.extract_incremental on the source's arrival column. The window ends at the end of p_run_date
-- at the latest, so `dwh run daily --from --to` catches missed days up. Spec:
--   {"schema_setting": "sales.source_schema",      -- the setting naming the source schema
--    "default_schema": "sales_src",                -- when the setting is missing
--    "tables": [["customers", "bronze.sales_customers"], ...],   -- source table -> bronze table, in order
--    "arrival_column": "_dwh_arrived_at"}          -- optional (default _dwh_arrived_at)
-- A spec without tables is refused (22023) before anything is read.
CREATE OR REPLACE PROCEDURE dwh_etl.step_extract(
    p_run_id   bigint,
    p_run_date date,
    p_spec     jsonb
)
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_schema text := dwh_etl.get_setting(p_spec->>'schema_setting', p_spec->>'default_schema');
    v_column text := COALESCE(p_spec->>'arrival_column', '_dwh_arrived_at');
    v_cap    timestamptz := (p_run_date + 1)::timestamptz;
    v_pair   jsonb;
    v_rows   bigint := 0;
BEGIN
    IF jsonb_typeof(p_spec->'tables') IS DISTINCT FROM 'array' OR jsonb_array_length(p_spec->'tables') = 0 OR v_schema IS NULL THEN
        RAISE EXCEPTION 'extract step spec needs a source schema (schema_setting / default_schema) and tables [[source, bronze], ...]: %', p_spec
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOR v_pair IN SELECT e FROM jsonb_array_elements(p_spec->'tables') AS e LOOP
        v_rows := v_rows + dwh_etl.extract_incremental(format('%I.%I', v_schema, v_pair->>0), v_pair->>1, v_column, v_cap, p_run_id);
    END LOOP;
    RAISE DEBUG 'dwh_etl.step_extract: % rows from schema %', v_rows, v_schema;
END;
$$;
COMMENT ON PROCEDURE dwh_etl.step_extract(bigint, date, jsonb) IS 'Step kind extract: copy the rows that arrived in an area''s source tables (spec: schema_setting, default_schema, tables [[source, bronze]...]) into bronze by arrival order, in one transaction.';
