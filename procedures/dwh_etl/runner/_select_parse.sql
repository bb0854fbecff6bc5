-- Parses step selectors (dbt's syntax, issue 14) into terms; resolves nothing. Each element of
-- p_selectors may hold several selectors separated by blanks (`--select "a b"` = `--select a --select b`).
-- Grammar:
--   selector := term ( ',' term )*                 the steps every term selects (intersection)
--   term     := [ '@' | [N] '+' ] [ method ':' ] pattern [ '+' [N] ]
--   method   := step | table | area | layer | kind | pipeline
--   pattern  := a name, '*' matching any characters (sales_silver_*, silver.devflow_*)
-- '+x' adds everything upstream of x, 'x+' everything downstream, 'N+x' / 'x+N' only N levels, '@x'
-- x, everything downstream and everything those need upstream (what a rebuild of x's descendants runs).
-- Without a method a pattern with a dot is a table, otherwise a step name if one matches, else an area
-- (dwh_etl._select_resolve decides). Returns one row per term, with its LIKE pattern (LIKE's own
-- wildcards escaped: step names are full of '_'). A malformed selector raises DW020 naming it.
CREATE OR REPLACE FUNCTION dwh_etl._select_parse(
    p_selectors text[]
)
RETURNS TABLE (
    sel_no       integer,
    term_no      integer,
    n_terms      integer,
    selector     text,
    term         text,
    at           boolean,
    up           boolean,
    up_depth     integer,
    down         boolean,
    down_depth   integer,
    method       text,
    pattern      text,
    like_pattern text
)
LANGUAGE plpgsql
IMMUTABLE
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_sel   text;
    v_terms text[];
    v_m     text[];
    v_hint  text := 'a selector is [@|N+][method:]name[+N] (method: step, table, area, layer, kind, pipeline; * matches anything), several terms joined by commas select their intersection, e.g. +sales.fact_sales or area:sales,layer:silver';
BEGIN
    sel_no := 0;
    FOR v_sel IN
        SELECT s.part
        FROM unnest(COALESCE(p_selectors, '{}'::text[])) WITH ORDINALITY AS a (txt, n)
        CROSS JOIN LATERAL regexp_split_to_table(btrim(a.txt), '\s+') WITH ORDINALITY AS s (part, k)
        WHERE s.part <> ''
        ORDER BY a.n, s.k
    LOOP
        sel_no := sel_no + 1;
        selector := v_sel;
        v_terms := string_to_array(v_sel, ',');
        n_terms := cardinality(v_terms);
        FOR i IN 1 .. n_terms LOOP
            term := v_terms[i];
            term_no := i;
            v_m := regexp_match(term, '^(?:(@)|([0-9]*)\+)?(?:([A-Za-z_]+):)?([A-Za-z0-9_.*]+)(?:\+([0-9]*))?$');
            IF v_m IS NULL THEN
                RAISE EXCEPTION 'invalid selector %', quote_literal(v_sel)
                    USING ERRCODE = 'DW020',
                          DETAIL = CASE WHEN term = '' THEN 'an empty term (two commas, or one at an end)'
                                        ELSE format('term %s is not [@|N+][method:]name[+N]', quote_literal(term)) END,
                          HINT = v_hint;
            END IF;
            method := lower(v_m[3]);
            IF method IS NOT NULL AND method NOT IN ('step', 'table', 'area', 'layer', 'kind', 'pipeline') THEN
                RAISE EXCEPTION 'unknown selector method %', quote_literal(v_m[3])
                    USING ERRCODE = 'DW020',
                          DETAIL = format('in selector %s', quote_literal(v_sel)),
                          HINT = 'methods: step, table, area, layer, kind, pipeline (tags are not supported)';
            END IF;
            at := v_m[1] IS NOT NULL;
            up := v_m[2] IS NOT NULL;
            up_depth := NULLIF(v_m[2], '')::integer;
            down := v_m[5] IS NOT NULL OR at;
            down_depth := NULLIF(v_m[5], '')::integer;
            pattern := lower(v_m[4]);
            like_pattern := replace(replace(replace(replace(pattern, '\', '\\'), '%', '\%'), '_', '\_'), '*', '%');
            RETURN NEXT;
        END LOOP;
    END LOOP;
END;
$$;
COMMENT ON FUNCTION dwh_etl._select_parse(text[]) IS 'Parse step selectors ([@|N+][method:]pattern[+N], commas = intersection) into terms; DW020 on a malformed one.';
REVOKE EXECUTE ON FUNCTION dwh_etl._select_parse(text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl._select_parse(text[]) TO etl_service;
