-- The predicate that marks a failing row of a not_null, accepted_values, range or regex rule, over the
-- rule's rows as alias t; NULL for the other rule types (and for a not_null rule without columns).
-- Identifiers go through %I, values through %L. Used by dwh_etl.quality_evaluate and by the shared count
-- of a batch's rules (dwh_etl._batch_rule_counts), so both evaluate the same predicate.
CREATE OR REPLACE FUNCTION dwh_etl._rule_predicate(p_rule dwh_etl.quality_rules)
RETURNS text
LANGUAGE sql
STABLE
SET search_path = dwh_etl, pg_temp
AS $$
    SELECT CASE p_rule.rule_type
        WHEN 'not_null' THEN
            (SELECT string_agg(format('t.%I IS NULL', c), ' OR ') FROM unnest(p_rule.column_names) AS c)
        WHEN 'accepted_values' THEN
            format('t.%I::text <> ALL (%L::text[])', p_rule.column_names[1],
                   ARRAY(SELECT jsonb_array_elements_text(COALESCE(p_rule.params, '{}')->'values')))
        WHEN 'range' THEN
            concat_ws(' OR ',
                      CASE WHEN p_rule.params ? 'min' THEN format('t.%I < %L::numeric', p_rule.column_names[1], p_rule.params->>'min') END,
                      CASE WHEN p_rule.params ? 'max' THEN format('t.%I > %L::numeric', p_rule.column_names[1], p_rule.params->>'max') END)
        WHEN 'regex' THEN
            format('t.%I::text !~ %L', p_rule.column_names[1], p_rule.params->>'pattern')
    END;
$$;
COMMENT ON FUNCTION dwh_etl._rule_predicate(dwh_etl.quality_rules) IS 'The failing-row predicate (over alias t) of a not_null, accepted_values, range or regex quality rule; NULL for other types.';
REVOKE EXECUTE ON FUNCTION dwh_etl._rule_predicate(dwh_etl.quality_rules) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl._rule_predicate(dwh_etl.quality_rules) TO etl_service;
