-- 'a.c1 = b.c1 AND a.c2 = b.c2' for identifiers cols (quoted with %I).
CREATE OR REPLACE FUNCTION dwh_etl._join_cond(
    p_cols text[],
    p_left text,
    p_right text
)
RETURNS text
LANGUAGE sql
IMMUTABLE
SET search_path = dwh_etl, pg_temp
AS $$
    SELECT string_agg(format('%I.%I = %I.%I', p_left, c, p_right, c), ' AND ' ORDER BY o)
    FROM unnest(p_cols) WITH ORDINALITY AS u (c, o);
$$;
COMMENT ON FUNCTION dwh_etl._join_cond(text[], text, text) IS 'Equality join condition on the given columns for dynamic SQL.';
