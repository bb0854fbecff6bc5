-- Evaluates an ad-hoc rule (seed 002's check_* functions) on the whole table and, when a batch id is
-- given, records it in dwh_lineage.quality_metrics like any rule.
CREATE OR REPLACE FUNCTION dwh_etl._adhoc_check(
    p_rule_name text,
    p_table     text,
    p_rule_type text,
    p_columns   text[],
    p_params    jsonb,
    p_batch_id  uuid
)
RETURNS TABLE (passed boolean, failing bigint, rows_checked bigint)
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_rule dwh_etl.quality_rules := jsonb_populate_record(NULL::dwh_etl.quality_rules, jsonb_build_object(
        'rule_name', p_rule_name, 'table_name', p_table, 'rule_type', p_rule_type, 'column_names', p_columns,
        'params', COALESCE(p_params, '{}'), 'severity', 'error', 'scope', 'table', 'threshold_type', 'count',
        'threshold', 0, 'is_enabled', true));
    v_res  record;
BEGIN
    SELECT * INTO v_res FROM dwh_etl.quality_evaluate(v_rule, NULL);
    IF p_batch_id IS NOT NULL THEN
        PERFORM dwh_etl.quality_record(jsonb_build_array(jsonb_build_object(
            'rule_name', p_rule_name, 'table_name', p_table, 'rule_type', p_rule_type, 'severity', 'error',
            'threshold', 0, 'threshold_type', 'count', 'batch_id', p_batch_id,
            'rows_checked', v_res.rows_checked, 'failing', v_res.failing, 'metric_value', v_res.metric_value,
            'passed', v_res.passed, 'failing_sample', v_res.failing_sample)));
    END IF;
    RETURN QUERY SELECT v_res.passed, v_res.failing, v_res.rows_checked;
END;
$$;
COMMENT ON FUNCTION dwh_etl._adhoc_check(text, text, text, text[], jsonb, uuid) IS 'Evaluate (and with a batch id record) an ad-hoc quality rule: the machinery behind seed 002''s check_* functions.';
