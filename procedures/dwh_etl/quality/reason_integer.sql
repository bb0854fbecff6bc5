-- The reason an integer column's raw text fails its target type, or NULL when it fits. p_value is
-- dwh_etl.try_bigint(p_raw), computed once by the caller; p_type the target type (bigint, integer or
-- smallint). Why: values that passed try_bigint overflowed an integer column and failed the whole step
-- ("integer out of range"); a 19-digit number was reported as "not an integer".
-- A NULL or blank p_raw gives "<column> NULL is not an integer" / "<column> '' is not an integer":
-- call it for required columns, or only when p_raw is not NULL.
-- STABLE, not IMMUTABLE (issue 15): format() and text || integer are STABLE, and an IMMUTABLE SQL
-- function with a STABLE call inside is never inlined: every row paid a SQL function call (11-18 us,
-- ~50 us per sales line: half the silver step). STABLE is the truth and lets the planner inline it.
CREATE OR REPLACE FUNCTION dwh_etl.reason_integer(
    p_column text,
    p_raw    text,
    p_value  bigint,
    p_type   text DEFAULT 'bigint'
)
RETURNS text
LANGUAGE sql
STABLE
PARALLEL SAFE
-- No SET clause: it would stop the planner from inlining this into set-based loads (names are qualified).
AS $$
    SELECT CASE
        WHEN p_value IS NULL AND dwh_etl.try_trim(p_raw) ~ '^[+-]?[0-9]+$'
            THEN format('%s %s is out of range for bigint', p_column, dwh_etl.quote_value(p_raw))
        WHEN p_value IS NULL
            THEN format('%s %s is not an integer', p_column, dwh_etl.quote_value(p_raw))
        WHEN p_type = 'integer' AND p_value NOT BETWEEN -2147483648 AND 2147483647
            THEN format('%s %s is out of range for integer', p_column, p_value)
        WHEN p_type = 'smallint' AND p_value NOT BETWEEN -32768 AND 32767
            THEN format('%s %s is out of range for smallint', p_column, p_value)
    END;
$$;
COMMENT ON FUNCTION dwh_etl.reason_integer(text, text, bigint, text) IS 'Why raw text does not fit an integer column (not an integer, out of range for bigint/integer/smallint), or NULL when it does; p_value = try_bigint(p_raw).';
