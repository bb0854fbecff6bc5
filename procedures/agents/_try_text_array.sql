-- Array columns of the source (feedback labels) arrive in bronze as PostgreSQL array text ({a,b}):
-- parsed here, NULL when the text is not an array literal (the typing view then gives a reason).
CREATE OR REPLACE FUNCTION agents._try_text_array(p_value text)
RETURNS text[]
LANGUAGE plpgsql
IMMUTABLE
-- PARALLEL UNSAFE: its EXCEPTION block is a subtransaction, refused in a parallel plan (a typing view
-- over a large bronze table failed with "cannot start subtransactions during a parallel operation")
PARALLEL UNSAFE
SET search_path = agents, pg_temp
AS $$
BEGIN
    RETURN p_value::text[];
EXCEPTION WHEN invalid_text_representation OR array_subscript_error THEN
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION agents._try_text_array(text) IS 'p_value as text[], or NULL when it is not an array literal.';
REVOKE EXECUTE ON FUNCTION agents._try_text_array(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION agents._try_text_array(text) TO etl_service;
