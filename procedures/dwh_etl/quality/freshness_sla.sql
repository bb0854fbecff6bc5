-- The freshness SLAs (enabled quality rules of type freshness) evaluated now: how old each table's
-- data is against its allowed age. Shown by dwh status and dwh quality.
CREATE OR REPLACE FUNCTION dwh_etl.freshness_sla(p_table text DEFAULT NULL)
RETURNS TABLE (
    "table"     text,
    rule        text,
    severity    text,
    passed      boolean,
    max_age     text,
    age         text,
    description text
)
LANGUAGE sql
STABLE
SET search_path = dwh_etl, pg_temp
AS $$
    SELECT r.table_name, r.rule_name, r.severity, e.passed, r.params->>'max_age', e.failing_sample->>'age',
           r.description
    FROM dwh_etl.quality_rules AS r
    CROSS JOIN LATERAL dwh_etl.quality_evaluate(r, NULL) AS e
    WHERE r.rule_type = 'freshness'
      AND r.is_enabled
      AND (p_table IS NULL OR r.table_name = p_table)
    ORDER BY e.passed, r.table_name, r.rule_name;
$$;
COMMENT ON FUNCTION dwh_etl.freshness_sla(text) IS 'Freshness SLAs (freshness rules) evaluated now, failing first.';
