-- Array columns of the source (feedback labels) arrive in bronze as PostgreSQL array text ({a,b}):
-- parsed here, NULL when the text is not an array literal (the typing view then gives a reason): also
-- for more than 6 dimensions ({{{{{{{a}}}}}}}: program_limit_exceeded), which raised and failed the
-- silver step for one row of a file (attack 13a).
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
EXCEPTION WHEN data_exception OR program_limit_exceeded OR statement_too_complex THEN
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION agents._try_text_array(text) IS 'p_value as text[], or NULL when it is not an array literal.';
REVOKE EXECUTE ON FUNCTION agents._try_text_array(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION agents._try_text_array(text) TO etl_service;
