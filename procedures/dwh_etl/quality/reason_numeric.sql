-- The reason a numeric(p_precision, p_scale) column's value fails its type, or NULL when it fits.
-- p_value is dwh_etl.try_numeric(p_raw) (computed once by the caller) or a computed value (then p_raw
-- is NULL and the value itself is quoted). Why: '10.555' was rounded to 10.56 silently by the cast
-- into numeric(10,2) (now: more than 2 decimal places, never rounded; trailing zeros such as '10.550'
-- lose nothing and pass); values too large for the column failed the whole step ("numeric field
-- overflow") or were reported as "not a number" (10^15). A NULL p_value with a NULL p_raw gives NULL:
-- a missing value is the caller's check.
-- STABLE, not IMMUTABLE (issue 15): format() and text || integer are STABLE, and an IMMUTABLE SQL
-- function with a STABLE call inside is never inlined: every row paid a SQL function call (11-18 us,
-- ~50 us per sales line: half the silver step). STABLE is the truth and lets the planner inline it.
CREATE OR REPLACE FUNCTION dwh_etl.reason_numeric(
    p_column    text,
    p_raw       text,
    p_value     numeric,
    p_precision integer,
    p_scale     integer
)
RETURNS text
LANGUAGE sql
STABLE
PARALLEL SAFE
-- No SET clause: it would stop the planner from inlining this into set-based loads (names are qualified).
AS $$
    SELECT CASE
        WHEN p_value IS NULL AND p_raw IS NULL
            THEN NULL
        WHEN p_value IS NULL AND dwh_etl.try_trim(p_raw) ~ '^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$'
            THEN format('%s %s is out of range for numeric(%s,%s)', p_column, dwh_etl.quote_value(p_raw), p_precision, p_scale)
        WHEN p_value IS NULL
            THEN format('%s %s is not a number', p_column, dwh_etl.quote_value(p_raw))
        WHEN p_value <> round(p_value, p_scale)
            THEN format('%s %s has more than %s decimal places (numeric(%s,%s); never rounded)', p_column,
                        CASE WHEN p_raw IS NULL THEN p_value::text ELSE dwh_etl.quote_value(dwh_etl.try_trim(p_raw)) END,
                        p_scale, p_precision, p_scale)
        WHEN abs(p_value) >= 10::numeric ^ (p_precision - p_scale)
            THEN format('%s %s is out of range for numeric(%s,%s)', p_column,
                        CASE WHEN p_raw IS NULL THEN p_value::text ELSE dwh_etl.quote_value(dwh_etl.try_trim(p_raw)) END,
                        p_precision, p_scale)
    END;
$$;
COMMENT ON FUNCTION dwh_etl.reason_numeric(text, text, numeric, integer, integer) IS 'Why a value does not fit numeric(p,s) (not a number, more than s decimal places, out of range), or NULL when it does; p_value = try_numeric(p_raw), or a computed value with p_raw NULL.';
