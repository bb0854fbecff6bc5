-- 'ROW(a.c1, a.c2)' (or ROW(NULL) for no columns): compared with IS DISTINCT FROM, NULL-safe.
CREATE OR REPLACE FUNCTION dwh_etl._row_expr(
    p_cols  text[],
    p_alias text
)
RETURNS text
LANGUAGE sql
IMMUTABLE
SET search_path = dwh_etl, pg_temp
AS $$
    SELECT CASE WHEN cardinality(p_cols) = 0 THEN 'ROW(NULL::int)'
                ELSE format('ROW(%s)', dwh_etl._col_list(p_cols, p_alias)) END;
$$;
COMMENT ON FUNCTION dwh_etl._row_expr(text[], text) IS 'Row constructor over the given columns for NULL-safe change detection.';
