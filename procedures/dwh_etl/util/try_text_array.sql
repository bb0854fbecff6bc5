-- p_value as text[], or NULL when it is not a valid array literal: '{"a' used to raise "malformed array
-- literal" and fail the whole silver step. The typing of text[] silver columns in dwh_etl.step_silver
-- (moved from devflow._try_text_array).
CREATE OR REPLACE FUNCTION dwh_etl.try_text_array(
    p_value text
)
RETURNS text[]
LANGUAGE plpgsql
IMMUTABLE
SET search_path = dwh_etl, pg_temp
AS $$
BEGIN
    IF p_value !~ '^\s*\{.*\}\s*$' THEN
        RETURN NULL;
    END IF;
    RETURN p_value::text[];
EXCEPTION WHEN data_exception OR program_limit_exceeded OR statement_too_complex THEN
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION dwh_etl.try_text_array(text) IS 'p_value as text[], or NULL when it does not parse.';
REVOKE EXECUTE ON FUNCTION dwh_etl.try_text_array(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl.try_text_array(text) TO etl_service;
