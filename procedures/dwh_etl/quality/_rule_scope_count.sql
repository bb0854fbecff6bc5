-- The rows a quality rule looks at, counted (its rows_checked) without evaluating it: for a rule the
-- database already guarantees (dwh_etl._rule_enforced). The same rows as dwh_etl.quality_evaluate's: the
-- batch's rows for a batch-scoped rule of a table with _batch_id (none, without a scan, when the batch is
-- known to have written none there), else the whole table; params.where applied.
CREATE OR REPLACE FUNCTION dwh_etl._rule_scope_count(
    p_rule        dwh_etl.quality_rules,
    p_batch       uuid,
    p_batch_empty boolean
)
RETURNS bigint
LANGUAGE plpgsql
STABLE
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_rel   regclass := to_regclass(p_rule.table_name);
    v_batch boolean := p_rule.scope = 'batch' AND p_batch IS NOT NULL
                       AND EXISTS (SELECT 1 FROM pg_catalog.pg_attribute AS a
                                   WHERE a.attrelid = to_regclass(p_rule.table_name) AND a.attname = '_batch_id' AND NOT a.attisdropped);
    v_n     bigint;
BEGIN
    IF v_batch AND p_batch_empty THEN
        RETURN 0;
    END IF;
    EXECUTE format('SELECT count(*) FROM %s AS x WHERE %s AND (%s)', v_rel,
                   CASE WHEN v_batch THEN 'x._batch_id = $1' ELSE 'true' END,
                   COALESCE(p_rule.params->>'where', 'true'))
    INTO v_n
    USING p_batch;
    RETURN v_n;
END;
$$;
COMMENT ON FUNCTION dwh_etl._rule_scope_count(dwh_etl.quality_rules, uuid, boolean) IS 'The number of rows a quality rule looks at (its batch''s rows or its whole table, params.where applied), counted without evaluating the rule.';
REVOKE EXECUTE ON FUNCTION dwh_etl._rule_scope_count(dwh_etl.quality_rules, uuid, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl._rule_scope_count(dwh_etl.quality_rules, uuid, boolean) TO etl_service;
