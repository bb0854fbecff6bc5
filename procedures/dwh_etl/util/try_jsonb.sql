-- p_value as jsonb, or NULL when it is not valid JSON (PostgreSQL 15 has no pg_input_is_valid). The
-- typing of jsonb silver columns in dwh_etl.step_silver (moved from devflow._try_jsonb).
-- Not only a syntax error makes text no jsonb: "\u0000" (untranslatable_character, 22P05), a number
-- beyond numeric's range such as 1e1000000 (numeric_value_out_of_range, 22003) and nesting deeper than
-- the server's stack (statement_too_complex, 54001) raised out of here and failed the whole silver step,
-- every night, for one row of a file (attack 13a): every data exception and those limits give NULL.
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
EXCEPTION WHEN data_exception OR program_limit_exceeded OR statement_too_complex THEN
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION dwh_etl.try_jsonb(text) IS 'p_value as jsonb, or NULL when it does not parse.';
REVOKE EXECUTE ON FUNCTION dwh_etl.try_jsonb(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl.try_jsonb(text) TO etl_service;
