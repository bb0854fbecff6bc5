-- p_value as jsonb, or NULL when it is not valid JSON (PostgreSQL 15 has no pg_input_is_valid).
CREATE OR REPLACE FUNCTION devflow._try_jsonb(
    p_value text
)
RETURNS jsonb
LANGUAGE plpgsql
IMMUTABLE
SET search_path = devflow, pg_temp
AS $$
BEGIN
    RETURN p_value::jsonb;
EXCEPTION WHEN invalid_text_representation THEN
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION devflow._try_jsonb(text) IS 'p_value as jsonb, or NULL when it does not parse.';
