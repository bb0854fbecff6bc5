-- Evaluates one quality rule (a row of dwh_etl.quality_rules, stored or built on the fly) and returns
-- what it found; records nothing. Batch-scoped rules look only at the rows stamped with p_batch_id.
-- p_batch_empty: the caller knows the batch wrote no row to the table (the runner reads it from the
-- run's lineage, see dwh_etl.quality_audit): a batch-scoped rule then looks at no rows without scanning
-- the table for them (_batch_id is not indexed: the scan was a full one per rule and run). The result is
-- the one the scan would give, computed by the same statements over an empty set.
-- Identifiers go through %I / regclass, values through %L: a table, column or value carrying SQL is
-- data, never code. params.where and custom_sql are trusted SQL written by the owner role.
-- p_rows: the number of rows the rule looks at, when the caller counted them already (the shared scan of
-- a batch's rules, dwh_etl._batch_rule_counts): a relationships, unique or custom_sql rule then does not
-- count them again.
-- The earlier signatures (without p_batch_empty, without p_rows), replaced by this one.
DROP FUNCTION IF EXISTS dwh_etl.quality_evaluate(dwh_etl.quality_rules, uuid);
DROP FUNCTION IF EXISTS dwh_etl.quality_evaluate(dwh_etl.quality_rules, uuid, boolean);
CREATE OR REPLACE FUNCTION dwh_etl.quality_evaluate(
    p_rule  dwh_etl.quality_rules,
    p_batch uuid DEFAULT NULL,
    p_batch_empty boolean DEFAULT false,
    p_rows bigint DEFAULT NULL
)
RETURNS TABLE (
    rows_checked   bigint,
    failing        bigint,
    metric_value   numeric,
    passed         boolean,
    failing_sample jsonb
)
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_rel     regclass := to_regclass(p_rule.table_name);
    v_rows    text;
    v_cols    text[] := p_rule.column_names;
    v_prm     jsonb := COALESCE(p_rule.params, '{}');
    v_checked bigint;
    v_failing bigint;
    v_metric  numeric;
    v_sample  jsonb;
    v_pred    text;
    v_missing text[];
    v_other   regclass;
    v_age     interval;
BEGIN
    IF v_rel IS NULL THEN
        RAISE EXCEPTION 'quality rule %: table % does not exist', p_rule.rule_name, quote_literal(p_rule.table_name)
            USING ERRCODE = 'undefined_table';
    END IF;
    SELECT array_agg(c) INTO v_missing
    FROM unnest(v_cols) AS c
    WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute AS a
                      WHERE a.attrelid = v_rel AND a.attname = c AND a.attnum > 0 AND NOT a.attisdropped);
    IF v_missing IS NOT NULL THEN
        RAISE EXCEPTION 'quality rule %: table % has no column %', p_rule.rule_name, v_rel, array_to_string(v_missing, ', ')
            USING ERRCODE = 'undefined_column';
    END IF;

    -- the rows the rule looks at
    v_rows := format('(SELECT * FROM %s AS x WHERE %s AND (%s)) AS t',
                     v_rel,
                     CASE WHEN p_rule.scope = 'batch' AND p_batch IS NOT NULL
                               AND EXISTS (SELECT 1 FROM pg_catalog.pg_attribute AS a
                                           WHERE a.attrelid = v_rel AND a.attname = '_batch_id' AND NOT a.attisdropped)
                          THEN CASE WHEN p_batch_empty THEN 'false' ELSE format('x._batch_id = %L', p_batch) END
                          ELSE 'true' END,
                     COALESCE(v_prm->>'where', 'true'));

    -- the failing-row predicate: dwh_etl._rule_predicate for the four simple types (the shared count of a
    -- batch's rules, dwh_etl._batch_rule_counts, uses the same), the anti join for relationships
    v_pred := CASE WHEN p_rule.rule_type = 'relationships' THEN
            format('t.%I IS NOT NULL AND NOT EXISTS (SELECT 1 FROM %s AS p WHERE p.%I = t.%I)',
                   v_cols[1], to_regclass(v_prm->>'to_table'), v_prm->>'to_column', v_cols[1])
        ELSE dwh_etl._rule_predicate(p_rule) END;
    -- Citus (issue 17), a branch because the single-node form stays the better plan there: a correlated
    -- NOT EXISTS from a distributed table into a table that stays local on the coordinator is refused
    -- ("direct joins between distributed and local tables are not supported"); the same test as NOT IN
    -- over an uncorrelated subquery (NULLs excluded on both sides, so the same rows) is computed once on
    -- the coordinator and sent to the workers. The rules that replace the foreign keys Citus cannot keep
    -- (dwh_etl.apply_distribution_plan) are of this kind. dwh_etl.is_citus_table is false without Citus.
    IF p_rule.rule_type = 'relationships' AND dwh_etl.is_citus_table(v_rel) THEN
        IF NOT dwh_etl.is_citus_table(to_regclass(v_prm->>'to_table')) THEN
            v_pred := format('t.%I IS NOT NULL AND t.%I NOT IN (SELECT p.%I FROM %s AS p WHERE p.%I IS NOT NULL)',
                             v_cols[1], v_cols[1], v_prm->>'to_column', to_regclass(v_prm->>'to_table'),
                             v_prm->>'to_column');
        END IF;
    END IF;
    IF p_rule.rule_type = 'relationships' THEN
        v_other := to_regclass(v_prm->>'to_table');
        IF v_other IS NULL OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute AS a
                                          WHERE a.attrelid = v_other AND a.attname = v_prm->>'to_column' AND NOT a.attisdropped) THEN
            RAISE EXCEPTION 'quality rule %: referenced column %.% does not exist', p_rule.rule_name,
                            v_prm->>'to_table', v_prm->>'to_column'
                USING ERRCODE = 'undefined_column';
        END IF;
    END IF;

    IF p_rule.rule_type = 'relationships' AND NOT dwh_etl.is_citus_table(v_rel) THEN
        -- the failing rows with the predicate in WHERE, not in a FILTER: there the NOT EXISTS is planned as
        -- an anti join (a hash of the referenced keys), in a FILTER it was a subplan probed once per row
        -- (silver.sales_sales' customer rule at scale 0.3: 0.69-0.77 s -> 0.24-0.34 s). The sample first:
        -- fewer than 10 rows in it is the whole count, so a passing rule (the usual case) pays one anti
        -- join, not two
        EXECUTE format('SELECT jsonb_agg(s.r) FROM (SELECT to_jsonb(t.*) AS r FROM %2$s WHERE %1$s LIMIT 10) AS s',
                       v_pred, v_rows)
        INTO v_sample;
        v_failing := COALESCE(jsonb_array_length(v_sample), 0);
        IF v_failing >= 10 THEN
            EXECUTE format('SELECT count(*) FROM %2$s WHERE %1$s', v_pred, v_rows) INTO v_failing;
        END IF;
        v_checked := p_rows;
        IF v_checked IS NULL THEN
            EXECUTE format('SELECT count(*) FROM %s', v_rows) INTO v_checked;
        END IF;
        v_metric := v_failing;

    ELSIF p_rule.rule_type IN ('not_null', 'accepted_values', 'range', 'regex', 'relationships') THEN
        -- the counts in one scan; the sample only when something fails (a second scan of the rows, which
        -- for a batch-scoped rule is the whole table: _batch_id has no index). Two statements, not a
        -- scalar subquery beside the aggregates, which Citus cannot push down over a distributed table
        EXECUTE format('SELECT count(*), count(*) FILTER (WHERE %1$s) FROM %2$s', v_pred, v_rows)
        INTO v_checked, v_failing;
        IF v_failing > 0 THEN
            EXECUTE format('SELECT jsonb_agg(s.r) FROM (SELECT to_jsonb(t.*) AS r FROM %2$s WHERE %1$s LIMIT 10) AS s',
                           v_pred, v_rows)
            INTO v_sample;
        END IF;
        v_metric := v_failing;

    ELSIF p_rule.rule_type = 'unique' THEN
        -- batch scope: keys of the batch that occur more than once in the whole (filtered) table
        EXECUTE format('WITH keys AS (SELECT DISTINCT %1$s FROM %2$s),
                             dups AS (SELECT %3$s, count(*) AS n
                                      FROM %4$s AS x
                                      WHERE (%5$s) AND (%3$s) IN (SELECT %6$s FROM keys AS k)
                                      GROUP BY %3$s HAVING count(*) > 1)
                        SELECT COALESCE(%7$s, (SELECT count(*) FROM %2$s)), COALESCE(sum(d.n - 1), 0)::bigint,
                               (SELECT jsonb_agg(to_jsonb(s)) FROM (SELECT * FROM dups LIMIT 10) AS s)
                        FROM dups AS d',
                       (SELECT string_agg(format('t.%I', c), ', ') FROM unnest(v_cols) AS c),
                       v_rows,
                       (SELECT string_agg(format('x.%I', c), ', ') FROM unnest(v_cols) AS c),
                       v_rel,
                       COALESCE(v_prm->>'where', 'true'),
                       (SELECT string_agg(format('k.%I', c), ', ') FROM unnest(v_cols) AS c),
                       COALESCE(p_rows::text, 'NULL::bigint'))
        INTO v_checked, v_failing, v_sample;
        v_metric := v_failing;

    ELSIF p_rule.rule_type = 'freshness' THEN
        IF v_cols[1] IS NOT NULL THEN
            -- infinite values are not times: 'infinity' made the subtraction fail ("cannot subtract
            -- infinite timestamps") and with it dwh status, dwh quality and the run (issue 9)
            EXECUTE format('SELECT count(*), clock_timestamp() - max(t.%1$I) FILTER (WHERE isfinite(t.%1$I))
                            FROM (SELECT * FROM %2$s AS x WHERE %3$s) AS t',
                           v_cols[1], v_rel, COALESCE(v_prm->>'where', 'true'))
            INTO v_checked, v_age;
        ELSE
            SELECT count(*), clock_timestamp() - max(tl.completed_at)
            INTO v_checked, v_age
            FROM dwh_lineage.table_lineage AS tl
            WHERE tl.target_table = p_rule.table_name;
        END IF;
        v_metric  := round(EXTRACT(EPOCH FROM v_age)::numeric, 1);
        v_failing := CASE WHEN v_age IS NULL OR v_age > (v_prm->>'max_age')::interval THEN 1 ELSE 0 END;
        v_sample  := jsonb_build_object('age', v_age::text, 'max_age', v_prm->>'max_age');
        v_checked := 1;

    ELSIF p_rule.rule_type = 'row_count' THEN
        EXECUTE format('SELECT count(*) FROM %s', v_rows) INTO v_metric;
        v_failing := CASE WHEN v_metric < COALESCE((v_prm->>'min')::numeric, v_metric)
                            OR v_metric > COALESCE((v_prm->>'max')::numeric, v_metric) THEN 1 ELSE 0 END;
        v_checked := 1;
        v_sample  := jsonb_build_object('rows', v_metric, 'min', v_prm->'min', 'max', v_prm->'max');

    ELSIF p_rule.rule_type = 'volume_change' THEN
        -- rows this batch wrote to the table against the average of the last loads that wrote any
        WITH loads AS (
            SELECT tl.batch_id, sum(COALESCE(tl.rows_inserted, 0)) AS n, max(tl.completed_at) AS at
            FROM dwh_lineage.table_lineage AS tl
            WHERE tl.target_table = p_rule.table_name
            GROUP BY tl.batch_id
        ),
        history AS (
            SELECT l.n FROM loads AS l
            WHERE l.batch_id IS DISTINCT FROM p_batch AND l.n > 0
            ORDER BY l.at DESC
            LIMIT COALESCE((v_prm->>'runs')::int, 7)
        )
        SELECT (SELECT l.n FROM loads AS l WHERE l.batch_id = p_batch),
               (SELECT avg(h.n) FROM history AS h),
               (SELECT count(*) FROM history AS h)
        INTO v_checked, v_metric, v_failing;
        IF v_failing < 3 OR v_checked IS NULL OR v_metric = 0 THEN
            v_sample := jsonb_build_object('rows', v_checked, 'note', 'fewer than 3 earlier loads: not judged');
            v_metric := NULL;
            v_failing := 0;
        ELSE
            v_sample := jsonb_build_object('rows', v_checked, 'average', round(v_metric, 1));
            v_metric := round(abs(v_checked - v_metric) * 100 / v_metric, 1);
            v_failing := CASE WHEN v_metric > COALESCE((v_prm->>'max_change_pct')::numeric, 50) THEN 1 ELSE 0 END;
        END IF;
        v_checked := 1;

    ELSIF p_rule.rule_type = 'custom_sql' THEN
        -- the sample first: fewer than 10 rows in it is the whole count (a passing rule runs its SQL once)
        EXECUTE format('SELECT jsonb_agg(to_jsonb(s)) FROM (SELECT * FROM (%s) AS q LIMIT 10) AS s', v_prm->>'sql')
        INTO v_sample;
        v_failing := COALESCE(jsonb_array_length(v_sample), 0);
        IF v_failing >= 10 THEN
            EXECUTE format('SELECT count(*) FROM (%s) AS q', v_prm->>'sql') INTO v_failing;
        END IF;
        v_checked := p_rows;
        IF v_checked IS NULL THEN
            EXECUTE format('SELECT count(*) FROM %s', v_rows) INTO v_checked;
        END IF;
        v_metric := v_failing;
    END IF;

    RETURN QUERY
    SELECT v_checked, v_failing, v_metric,
           CASE WHEN p_rule.threshold_type = 'percent'
                THEN v_failing * 100.0 <= p_rule.threshold * GREATEST(v_checked, 1)
                ELSE v_failing <= p_rule.threshold END,
           v_sample;
END;
$$;
COMMENT ON FUNCTION dwh_etl.quality_evaluate(dwh_etl.quality_rules, uuid, boolean, bigint) IS 'Evaluate one quality rule (on the batch''s rows or the whole table; p_batch_empty: the batch is known to have no row there; p_rows: those rows, counted already); returns rows checked, failing rows, the metric, passed, and a sample of failing rows. Records nothing.';
REVOKE EXECUTE ON FUNCTION dwh_etl.quality_evaluate(dwh_etl.quality_rules, uuid, boolean, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl.quality_evaluate(dwh_etl.quality_rules, uuid, boolean, bigint) TO etl_service;
