-- p_value as jsonb, or NULL when it is not valid JSON (PostgreSQL 15 has no pg_input_is_valid). The
-- typing of jsonb silver columns in dwh_etl.step_silver (moved from devflow._try_jsonb).
CREATE OR REPLACE FUNCTION dwh_etl.try_jsonb(
    p_value text
)
RETURNS jsonb
LANGUAGE plpgsql
IMMUTABLE
SET search_path = dwh_etl, pg_temp
AS $$
BEGIN
    RETURN p_value::jsonb;
EXCEPTION WHEN invalid_text_representation THEN
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION dwh_etl.try_jsonb(text) IS 'p_value as jsonb, or NULL when it does not parse.';
REVOKE EXECUTE ON FUNCTION dwh_etl.try_jsonb(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl.try_jsonb(text) TO etl_service;
