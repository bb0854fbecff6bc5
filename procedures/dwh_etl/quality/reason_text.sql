-- The reason a text value is too long for its column, or NULL. For key and indexed columns (a B-tree
-- entry holds at most ~2700 bytes): a 10 MB value failed the whole step with "index row requires
-- 10000016 bytes". The limit is in characters (200 characters are at most 800 bytes in UTF-8).
-- STABLE, not IMMUTABLE (issue 15): format() and text || integer are STABLE, and an IMMUTABLE SQL
-- function with a STABLE call inside is never inlined: every row paid a SQL function call (11-18 us,
-- ~50 us per sales line: half the silver step). STABLE is the truth and lets the planner inline it.
CREATE OR REPLACE FUNCTION dwh_etl.reason_text(
    p_column text,
    p_value  text,
    p_max    integer DEFAULT 200
)
RETURNS text
LANGUAGE sql
STABLE
PARALLEL SAFE
-- No SET clause: it would stop the planner from inlining this into set-based loads (names are qualified).
AS $$
    SELECT CASE WHEN length(p_value) > p_max
                THEN format('%s %s is longer than %s characters', p_column, dwh_etl.quote_value(p_value, 50), p_max)
           END;
$$;
COMMENT ON FUNCTION dwh_etl.reason_text(text, text, integer) IS 'Why a text value is too long for a key or indexed column (more than p_max characters, default 200), or NULL.';
