-- The rows of a staging (temp) table as an inline row source for dynamic SQL:
--   jsonb_to_recordset('[...]'::jsonb) AS <alias> (<col> <type>, ...)
-- with only the columns p_cols, typed as in the table. dwh_etl.apply_dimension uses it, on a Citus
-- target only (issue 17, docs/SCALE.md), in place of "pg_temp._scd_ch AS ch" and the like: Citus refuses
-- a modification of a reference table joined with a temp table in FROM ("relation _scd_ch is not
-- distributed"), and accepts the same join with a set-returning function over a constant. On one node
-- the engine reads the temp tables directly and never calls this.
-- p_table is text, resolved when called: a regclass constant naming a temp table would be resolved
-- when the caller is planned (and by plpgsql_check), before the temp table exists.
CREATE OR REPLACE FUNCTION dwh_etl._scd_rows_inline(
    p_table text,
    p_cols  text[],
    p_alias text
)
RETURNS text
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_rel  regclass := to_regclass(p_table);
    v_defs text;
    v_rows jsonb;
BEGIN
    IF v_rel IS NULL THEN
        RAISE EXCEPTION 'relation % does not exist', quote_literal(p_table) USING ERRCODE = 'undefined_table';
    END IF;
    SELECT string_agg(format('%I %s', a.attname, format_type(a.atttypid, a.atttypmod)), ', ' ORDER BY u.o)
    INTO v_defs
    FROM unnest(p_cols) WITH ORDINALITY AS u (c, o)
    JOIN pg_catalog.pg_attribute AS a
      ON a.attrelid = v_rel AND a.attname = u.c AND a.attnum > 0 AND NOT a.attisdropped;
    EXECUTE format('SELECT COALESCE(jsonb_agg(jsonb_build_object(%s)), ''[]''::jsonb) FROM %s AS r',
                   (SELECT string_agg(format('%L, r.%I', u.c, u.c), ', ' ORDER BY u.o)
                    FROM unnest(p_cols) WITH ORDINALITY AS u (c, o)),
                   v_rel)
    INTO v_rows;
    RETURN format('jsonb_to_recordset(%L::jsonb) AS %I (%s)', v_rows::text, p_alias, v_defs);
END;
$$;
COMMENT ON FUNCTION dwh_etl._scd_rows_inline(text, text[], text) IS 'A temp table''s rows (the given columns, their types) as jsonb_to_recordset over a constant, for dynamic SQL that Citus refuses with a temp table (modifications of reference tables, issue 17).';
