-- The tables a selection is about, for `dwh test` (and anything else that acts on tables rather than
-- steps): a selector that is one plain table term (`sales.fact_sales`, `table:silver.devflow_*`, no
-- graph operator) means those tables themselves, including tables no step writes (a source table with a
-- freshness rule); any other selector means the tables its chosen steps write. --exclude removes the
-- tables its selectors mean the same way. Every pipeline's steps count. No selector: NULL (all tables).
-- Unknown or malformed selectors raise DW020 as in dwh_etl.select_steps.
CREATE OR REPLACE FUNCTION dwh_etl.select_tables(
    p_select  text[] DEFAULT NULL,
    p_exclude text[] DEFAULT NULL
)
RETURNS text[]
LANGUAGE plpgsql
STABLE
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_chosen  text[];
    v_dropped text[];
BEGIN
    IF NOT EXISTS (SELECT 1 FROM dwh_etl._select_parse(p_select)) THEN
        IF NOT EXISTS (SELECT 1 FROM dwh_etl._select_parse(p_exclude)) THEN
            RETURN NULL;
        END IF;
        v_chosen := ARRAY(SELECT DISTINCT t FROM dwh_etl.steps AS s CROSS JOIN LATERAL unnest(s.target_tables) AS t
                          WHERE s.is_enabled
                          UNION
                          SELECT r.table_name FROM dwh_etl.quality_rules AS r);
    ELSE
        v_chosen := dwh_etl._select_tables_of(p_select, 'select');
    END IF;
    v_dropped := dwh_etl._select_tables_of(p_exclude, 'exclude');
    RETURN ARRAY(SELECT t FROM unnest(v_chosen) AS t WHERE t <> ALL (v_dropped) ORDER BY t);
END;
$$;
COMMENT ON FUNCTION dwh_etl.select_tables(text[], text[]) IS 'Tables a selection means (a plain table selector: those tables; any other: the tables its steps write), minus the excluded ones; NULL without selectors (dwh test).';
REVOKE EXECUTE ON FUNCTION dwh_etl.select_tables(text[], text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl.select_tables(text[], text[]) TO etl_service;
