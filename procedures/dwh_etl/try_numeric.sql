-- Text to numeric, NULL unless it is a plain decimal with a dot (a comma is not accepted: '1,5' is
-- ambiguous between a decimal comma and a thousands separator).
CREATE OR REPLACE FUNCTION dwh_etl.try_numeric(p_value text)
RETURNS numeric
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
-- No SET clause: it would stop the planner from inlining this into set-based loads (names are qualified).
AS $$
    SELECT CASE WHEN p_value ~ '^\s*[+-]?(\d{1,15}(\.\d*)?|\.\d+)\s*$' THEN p_value::numeric END;
$$;
COMMENT ON FUNCTION dwh_etl.try_numeric(text) IS 'p_value as numeric, or NULL when it is not a plain decimal number (dot as decimal separator).';
