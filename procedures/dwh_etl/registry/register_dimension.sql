-- Declare (or redeclare) an SCD dimension for dwh_etl.apply_dimension. Idempotent.
-- A Type 1 dimension is one with no Type 2 columns: one version per key, attributes overwritten.
CREATE OR REPLACE PROCEDURE dwh_etl.register_dimension(
    p_dimension      text,
    p_target         text,
    p_surrogate_key  text,
    p_natural_key    text[],
    p_type2_columns  text[],
    p_type1_columns  text[] DEFAULT '{}',
    p_change_ts      text DEFAULT NULL,
    p_deleted_flag   text DEFAULT NULL,
    p_delete_policy  text DEFAULT 'close',
    p_type1_scope    text DEFAULT 'all_versions',
    p_description    text DEFAULT NULL
)
LANGUAGE sql
SET search_path = dwh_etl, pg_temp
AS $$
    INSERT INTO dwh_etl.dimension_specs (
        dimension_name, target_table, surrogate_key, natural_key, type2_columns, type1_columns,
        change_ts_column, deleted_flag_column, delete_policy, type1_scope, description
    ) VALUES (
        p_dimension, p_target, p_surrogate_key, p_natural_key, COALESCE(p_type2_columns, '{}'),
        COALESCE(p_type1_columns, '{}'), p_change_ts, p_deleted_flag, p_delete_policy, p_type1_scope, p_description
    )
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
        description = EXCLUDED.description;
$$;
COMMENT ON PROCEDURE dwh_etl.register_dimension(text, text, text, text[], text[], text[], text, text, text, text, text) IS 'Declare an SCD dimension (upsert into dwh_etl.dimension_specs).';
-- The registry is code: only the owner changes it (issue 9: etl_service could write what the pipeline
-- executes). Routines of dwh_etl are granted to etl_service by default: not this one.
REVOKE EXECUTE ON PROCEDURE dwh_etl.register_dimension(text, text, text, text[], text[], text[], text, text, text, text, text) FROM etl_service, PUBLIC;
