-- Text to bigint, NULL when it is not an integer in range (set-based validation without exceptions).
CREATE OR REPLACE FUNCTION dwh_etl.try_bigint(p_value text)
RETURNS bigint
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
-- No SET clause: it would stop the planner from inlining this into set-based loads (names are qualified).
AS $$
    SELECT CASE WHEN p_value ~ '^\s*[+-]?\d{1,18}\s*$' THEN p_value::bigint END;
$$;
COMMENT ON FUNCTION dwh_etl.try_bigint(text) IS 'p_value as bigint, or NULL when it is not a plain integer of at most 18 digits.';
