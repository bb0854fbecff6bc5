-- JSON columns of the source (capabilities, metadata) arrive in bronze as text: parsed here, NULL when the
-- text is not JSON (the typing view then gives a reason): also for "\u0000", a number beyond numeric's
-- range or nesting deeper than the stack, which raised and failed the silver step (attack 13a).
CREATE OR REPLACE FUNCTION agents._try_jsonb(p_value text)
RETURNS jsonb
LANGUAGE plpgsql
IMMUTABLE
-- PARALLEL UNSAFE: its EXCEPTION block is a subtransaction, refused in a parallel plan (a typing view
-- over a large bronze table failed with "cannot start subtransactions during a parallel operation")
PARALLEL UNSAFE
SET search_path = agents, pg_temp
AS $$
BEGIN
    RETURN p_value::jsonb;
EXCEPTION WHEN data_exception OR program_limit_exceeded OR statement_too_complex THEN
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION agents._try_jsonb(text) IS 'p_value as jsonb, or NULL when it does not parse.';
REVOKE EXECUTE ON FUNCTION agents._try_jsonb(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION agents._try_jsonb(text) TO etl_service;
