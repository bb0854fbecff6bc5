-- The non-NULL elements of a list of reasons: reasons(CASE WHEN bad THEN 'why' END, ...).
CREATE OR REPLACE FUNCTION dwh_etl.reasons(VARIADIC p_reasons text[])
RETURNS text[]
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
-- No SET clause: it would stop the planner from inlining this into set-based loads (names are qualified).
AS $$
    SELECT array_remove(p_reasons, NULL);
$$;
COMMENT ON FUNCTION dwh_etl.reasons(text[]) IS 'Array of the non-NULL reasons given (row-level validation helper).';
