-- 'a.c1, a.c2' for identifiers cols (each quoted with %I); alias may be NULL.
CREATE OR REPLACE FUNCTION dwh_etl._col_list(
    p_cols  text[],
    p_alias text DEFAULT NULL
)
RETURNS text
LANGUAGE sql
IMMUTABLE
SET search_path = dwh_etl, pg_temp
AS $$
    SELECT COALESCE(string_agg(
               CASE WHEN p_alias IS NULL THEN format('%I', c) ELSE format('%I.%I', p_alias, c) END,
               ', ' ORDER BY o), '')
    FROM unnest(p_cols) WITH ORDINALITY AS u (c, o);
$$;
COMMENT ON FUNCTION dwh_etl._col_list(text[], text) IS 'Comma-separated, quoted column list for dynamic SQL.';
