-- `dwh test`: evaluates the enabled quality rules ON DEMAND over WHOLE tables and records the results
-- with scope 'table' (dwh_lineage.quality_metrics.scope). The runner's gate evaluates batch rules on the
-- rows of the run's batch only: after an incremental run most of them checked a handful of rows or
-- none, so "passed" said little about the table, and a bad row loaded earlier (or written by hand) was
-- never looked at again. Here every rule looks at every row (its params.where still applies).
-- p_tables: only the rules of these tables (NULL: every rule); a name that is neither a table nor in
-- the registry is an error (42P01), a table without rules gives no row. A rule whose evaluation fails
-- (a dropped column, a broken custom_sql) does not stop the others: it is a failed result carrying the
-- error. p_record false: evaluate only (nothing written). Recorded outside any run (run_id NULL, one
-- fresh batch id for the whole call). Returns one row per rule, failures first within each table order.
CREATE OR REPLACE FUNCTION dwh_etl.test_rules(
    p_tables text[] DEFAULT NULL,
    p_record boolean DEFAULT true
)
RETURNS TABLE (
    table_name     text,
    rule_name      text,
    rule_type      text,
    severity       text,
    scope          text,
    rows_checked   bigint,
    failing        bigint,
    metric_value   numeric,
    threshold      numeric,
    passed         boolean,
    failing_sample jsonb,
    error          text
)
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_unknown text;
    v_rule    dwh_etl.quality_rules;
    v_checked bigint;
    v_failing bigint;
    v_metric  numeric;
    v_passed  boolean;
    v_sample  jsonb;
    v_results jsonb := '[]'::jsonb;
    v_batch   uuid := (dwh_etl.get_run_context(NULL)).batch_id;
    v_message text;
BEGIN
    SELECT string_agg(quote_literal(COALESCE(t, 'NULL')), ', ' ORDER BY t)
    INTO v_unknown
    FROM unnest(p_tables) AS t
    WHERE t IS NULL
       OR (NOT EXISTS (SELECT 1 FROM dwh_etl.table_registry AS tr WHERE tr.table_name = t)
           -- a name that is not schema.table is unknown, not a syntax error of to_regclass
           AND CASE WHEN t ~ '^[A-Za-z_][A-Za-z0-9_$]*\.[A-Za-z_][A-Za-z0-9_$]*$' THEN to_regclass(t) IS NULL
                    ELSE true END);
    IF v_unknown IS NOT NULL THEN
        RAISE EXCEPTION 'unknown table(s) %', v_unknown
            USING ERRCODE = 'undefined_table',
                  HINT = 'tables are named schema.table; SELECT table_name FROM dwh_etl.table_registry lists them';
    END IF;

    FOR v_rule IN
        SELECT r.*
        FROM dwh_etl.quality_rules AS r
        WHERE r.is_enabled
          AND (p_tables IS NULL OR r.table_name = ANY (p_tables))
        ORDER BY r.table_name, r.rule_name
    LOOP
        v_message := NULL;
        BEGIN
            SELECT e.rows_checked, e.failing, e.metric_value, e.passed, e.failing_sample
            INTO v_checked, v_failing, v_metric, v_passed, v_sample
            FROM dwh_etl.quality_evaluate(v_rule, NULL) AS e;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS v_message = MESSAGE_TEXT;
            v_checked := NULL;
            v_failing := NULL;
            v_metric := NULL;
            v_passed := false;
            v_sample := jsonb_build_object('error', v_message);
        END;
        v_results := v_results || jsonb_build_object(
            'rule_id', v_rule.rule_id,
            'rule_name', v_rule.rule_name,
            'table_name', v_rule.table_name,
            'rule_type', v_rule.rule_type,
            'severity', v_rule.severity,
            'threshold', v_rule.threshold,
            'threshold_type', v_rule.threshold_type,
            'batch_id', v_batch,
            'scope', 'table',
            'rows_checked', v_checked,
            'failing', v_failing,
            'metric_value', v_metric,
            'passed', COALESCE(v_passed, false),
            'failing_sample', v_sample,
            'error', v_message);
    END LOOP;

    IF p_record AND jsonb_array_length(v_results) > 0 THEN
        PERFORM dwh_etl.quality_record(v_results, NULL);
    END IF;

    RETURN QUERY
    SELECT r->>'table_name', r->>'rule_name', r->>'rule_type', r->>'severity', r->>'scope',
           (r->>'rows_checked')::bigint, (r->>'failing')::bigint, (r->>'metric_value')::numeric,
           (r->>'threshold')::numeric, (r->>'passed')::boolean, r->'failing_sample', r->>'error'
    FROM jsonb_array_elements(v_results) WITH ORDINALITY AS x (r, n)
    ORDER BY r->>'table_name', (r->>'passed')::boolean, r->>'rule_name';
END;
$$;
COMMENT ON FUNCTION dwh_etl.test_rules(text[], boolean) IS 'dwh test: evaluate the enabled quality rules of some tables (NULL: all) over the WHOLE table, record them with scope table (p_record), return each result with rows checked; a rule that errors is a failed result. Example: SELECT * FROM dwh_etl.test_rules(ARRAY[''sales.fact_sales'']);';
REVOKE EXECUTE ON FUNCTION dwh_etl.test_rules(text[], boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl.test_rules(text[], boolean) TO etl_service;
