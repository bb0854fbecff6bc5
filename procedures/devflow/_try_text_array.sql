-- p_value as text[], or NULL when it is not a valid array literal: '{"a' used to raise "malformed array
-- literal" and fail the whole silver step.
CREATE OR REPLACE FUNCTION devflow._try_text_array(
    p_value text
)
RETURNS text[]
LANGUAGE plpgsql
IMMUTABLE
SET search_path = devflow, pg_temp
AS $$
BEGIN
    IF p_value !~ '^\s*\{.*\}\s*$' THEN
        RETURN NULL;
    END IF;
    RETURN p_value::text[];
EXCEPTION WHEN invalid_text_representation OR program_limit_exceeded OR array_subscript_error THEN
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION devflow._try_text_array(text) IS 'p_value as text[], or NULL when it does not parse.';
