-- Seed 002's customer validation, under its name and signature, for a DBA or an application checking a
-- record before sending it:
--   SELECT * FROM dwh_etl.validate_customer('ann@example.com', 'Ann Lee', 'active');  -- (true, {})
-- The address test is the one the sales silver step applies (procedures/registry/sales.sql: no
-- whitespace, one @, a dot in the domain), so what this accepts silver accepts. Fixed from the seed: a
-- NULL status passed (NOT IN over NULL is NULL, not true); here it is 'Invalid status value'.
CREATE OR REPLACE FUNCTION dwh_etl.validate_customer(
    in_email  text,
    in_name   text,
    in_status text
)
RETURNS TABLE (
    is_valid boolean,
    issues   text[]
)
LANGUAGE sql
IMMUTABLE
SET search_path = dwh_etl, pg_temp
AS $$
    WITH checked AS (
        SELECT array_remove(ARRAY[
                   CASE WHEN in_email IS NULL OR in_email = '' THEN 'Email is required'
                        WHEN in_email !~ '^[^@[:space:]]+@[^@[:space:]]+\.[^@[:space:]]+$' THEN 'Invalid email format'
                   END,
                   CASE WHEN in_name IS NULL OR length(btrim(in_name)) < 2 THEN 'Name must be at least 2 characters' END,
                   CASE WHEN in_status IS NULL OR in_status NOT IN ('active', 'inactive', 'suspended') THEN 'Invalid status value' END
               ], NULL) AS issues
    )
    SELECT cardinality(c.issues) = 0, c.issues
    FROM checked AS c;
$$;
COMMENT ON FUNCTION dwh_etl.validate_customer(text, text, text) IS 'Seed 002: (is_valid, issues) of a customer record: email required and well-formed (the silver step''s test), name of 2+ characters, status active/inactive/suspended.';
REVOKE EXECUTE ON FUNCTION dwh_etl.validate_customer(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl.validate_customer(text, text, text) TO etl_service;
