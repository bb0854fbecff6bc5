-- Declarative registration of an area's quality rules: listed rules are upserted by name, the area's
-- other rules removed. p_rules: JSON array of {name, table, type, columns, params, severity, scope,
-- threshold_type, threshold, description}.
CREATE OR REPLACE PROCEDURE dwh_etl.register_rules(
    p_area  text,
    p_rules jsonb
)
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_bad text;
BEGIN
    -- a rule on a table or column that does not exist is refused, naming it (docs17: it was registered, and
    -- a rule on a missing table never failed at all)
    SELECT string_agg(x.problem, '; ' ORDER BY x.problem) INTO v_bad
    FROM (SELECT format('rule %s: table %s does not exist', quote_literal(e->>'name'), quote_nullable(e->>'table')) AS problem
          FROM jsonb_array_elements(p_rules) AS e
          WHERE to_regclass(e->>'table') IS NULL
          UNION
          SELECT format('rule %s: %s has no column %s', quote_literal(e->>'name'), e->>'table', quote_literal(c))
          FROM jsonb_array_elements(p_rules) AS e
          CROSS JOIN LATERAL jsonb_array_elements_text(CASE jsonb_typeof(e->'columns') WHEN 'array' THEN e->'columns' ELSE '[]' END) AS c
          WHERE to_regclass(e->>'table') IS NOT NULL
            AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute AS a
                            WHERE a.attrelid = to_regclass(e->>'table') AND a.attname = c AND a.attnum > 0 AND NOT a.attisdropped)) AS x;
    IF v_bad IS NOT NULL THEN
        RAISE EXCEPTION 'area %: %', p_area, v_bad
            USING ERRCODE = 'invalid_parameter_value', HINT = 'nothing was registered';
    END IF;
    DELETE FROM dwh_etl.quality_rules AS q
    WHERE q.area = p_area
      AND q.rule_name NOT IN (SELECT e->>'name' FROM jsonb_array_elements(p_rules) AS e);

    INSERT INTO dwh_etl.quality_rules AS q (
        rule_name, table_name, rule_type, column_names, params, severity, scope, threshold_type,
        threshold, area, description
    )
    SELECT e->>'name',
           e->>'table',
           e->>'type',
           COALESCE(ARRAY(SELECT jsonb_array_elements_text(e->'columns')), '{}'),
           COALESCE(e->'params', '{}'),
           COALESCE(e->>'severity', 'error'),
           COALESCE(e->>'scope', 'batch'),
           COALESCE(e->>'threshold_type', 'count'),
           COALESCE((e->>'threshold')::numeric, 0),
           p_area,
           e->>'description'
    FROM jsonb_array_elements(p_rules) AS e
    ON CONFLICT (rule_name) DO UPDATE
    SET table_name = EXCLUDED.table_name,
        rule_type = EXCLUDED.rule_type,
        column_names = EXCLUDED.column_names,
        params = EXCLUDED.params,
        severity = EXCLUDED.severity,
        scope = EXCLUDED.scope,
        threshold_type = EXCLUDED.threshold_type,
        threshold = EXCLUDED.threshold,
        area = EXCLUDED.area,
        description = EXCLUDED.description;
END;
$$;
COMMENT ON PROCEDURE dwh_etl.register_rules(text, jsonb) IS 'Declare an area''s quality rules (upsert listed, remove unlisted).';
-- The registry is code: only the owner changes it (issue 9: etl_service could write what the pipeline
-- executes). Routines of dwh_etl are granted to etl_service by default: not this one.
REVOKE EXECUTE ON PROCEDURE dwh_etl.register_rules(text, jsonb) FROM etl_service, PUBLIC;
