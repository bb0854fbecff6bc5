-- Step kind `mart`, two forms.
--
-- 1. A materialized view: REFRESH MATERIALIZED VIEW of one registered mart view, plainly when nobody holds
--    it at that instant, else CONCURRENTLY (readers holding it are never waited for; its unique index
--    allows it; setting marts.refresh, dwh_etl.sec_refresh_mart), serialized with other refreshes of it (dwh_etl.lock_step),
--    through the owner-only dwh_etl.sec_refresh_mart (etl_service does not own the view), and logged as a
--    refresh from its lineage source. Spec:
--      {"view": "sales.mv_customer_lifetime_value", "lineage_source": "sales.fact_sales"}
--
-- 2. A table rebuilt for the affected keys only (spec has "table"): the keys queued by an upstream step
--    (typically a fact step's affected_queue) are the only ones recomputed. Spec:
--      {"table": "sales.agg_daily_sales", "view": "silver.sales_agg_daily_sales_rows",
--       "key_column": "date_key", "queue": {"table": "dwh_staging.sales_affected_dates", "column": "date_key"},
--       "lineage_source": "sales.fact_sales"}
--    In the step's one transaction: the queued keys are read and locked (FOR UPDATE), the table's rows of
--    those keys are deleted, the view's rows of those keys inserted (every view column must be a table
--    column; a table column `_batch_id` the view lacks gets the run's batch id), the consumed queue rows
--    are deleted (only those read: a key queued by a concurrent run after the read stays for the next run;
--    a concurrent re-queue of a locked key waits for this commit, then lands), and the aggregation is
--    logged with the run id. Why by key and not a whole rebuild: a day's late fact re-aggregates its day,
--    and the table keeps its history of untouched days. The view must compute the rows of a key from the
--    key alone (the filter `key_column = ANY(keys)` is pushed into it). A failed step leaves the queue
--    for the next run. An empty queue is a no-op (still logged, 0 rows).
--    Optional "rebuild_keys": a view with the key_column listing the keys that can have rows, for a view
--    computed key by key over a whole calendar: a rebuild (dwh_etl.rebuild) queues those instead of every
--    key of the view, a restatement the keys of its range among those or in the table.
--
-- A bad spec fails the step before any work with 22023 and the step's name.
CREATE OR REPLACE PROCEDURE dwh_etl.step_mart(
    p_run_id   bigint,
    p_run_date date,
    p_spec     jsonb
)
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_run       dwh_etl.run_context := dwh_etl.get_run_context(p_run_id);
    v_step      text := COALESCE(v_run.step_name, format('(mart step of %s)', COALESCE(p_spec->>'table', p_spec->>'view', 'nothing')));
    v_view      regclass := to_regclass(p_spec->>'view');
    v_table     regclass;
    v_queue     regclass;
    v_key       text := p_spec->>'key_column';
    v_qcol      text := p_spec#>>'{queue,column}';
    v_cols      text;
    v_batch_col boolean;
    v_batch     uuid;
    v_keys      text[];
    v_key_type  text;
    v_rows      bigint;
    v_deleted   bigint;
    v_inserted  bigint;
BEGIN
    IF v_view IS NULL THEN
        RAISE EXCEPTION 'mart step % spec names no existing view: %', v_step, p_spec
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_spec ? 'table' THEN
        -- form 2: check the whole spec up front
        v_table := to_regclass(p_spec->>'table');
        v_queue := to_regclass(p_spec#>>'{queue,table}');
        IF v_table IS NULL OR v_key IS NULL OR v_queue IS NULL OR v_qcol IS NULL THEN
            RAISE EXCEPTION 'mart step % spec needs an existing table, a key_column and a queue {table, column}: %', v_step, p_spec
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'e.g. {"table": "sales.agg_daily_sales", "view": "silver.sales_agg_daily_sales_rows", "key_column": "date_key", "queue": {"table": "dwh_staging.sales_affected_dates", "column": "date_key"}}';
        END IF;
        SELECT format_type(a.atttypid, a.atttypmod) INTO v_key_type
        FROM pg_catalog.pg_attribute AS a
        WHERE a.attrelid = v_table AND a.attname = v_key AND a.attnum > 0 AND NOT a.attisdropped;
        IF v_key_type IS NULL
           OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute AS a
                          WHERE a.attrelid = v_view AND a.attname = v_key AND a.attnum > 0 AND NOT a.attisdropped)
           OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute AS a
                          WHERE a.attrelid = v_queue AND a.attname = v_qcol AND a.attnum > 0 AND NOT a.attisdropped) THEN
            RAISE EXCEPTION 'mart step %: key column % must be a column of % and %, and % a column of %',
                    v_step, v_key, v_table, v_view, v_qcol, v_queue
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum),
               bool_and(t.attname IS NOT NULL)
        INTO v_cols, v_batch_col
        FROM pg_catalog.pg_attribute AS a
        LEFT JOIN pg_catalog.pg_attribute AS t
          ON t.attrelid = v_table AND t.attname = a.attname AND t.attnum > 0 AND NOT t.attisdropped
        WHERE a.attrelid = v_view AND a.attnum > 0 AND NOT a.attisdropped;
        IF NOT v_batch_col THEN
            RAISE EXCEPTION 'mart step %: view % has columns that % lacks', v_step, v_view, v_table
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = format('missing: %s', (
                          SELECT string_agg(a.attname, ', ' ORDER BY a.attnum)
                          FROM pg_catalog.pg_attribute AS a
                          WHERE a.attrelid = v_view AND a.attnum > 0 AND NOT a.attisdropped
                            AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute AS t
                                            WHERE t.attrelid = v_table AND t.attname = a.attname
                                              AND t.attnum > 0 AND NOT t.attisdropped)));
        END IF;
        v_batch_col := EXISTS (SELECT 1 FROM pg_catalog.pg_attribute AS t
                               WHERE t.attrelid = v_table AND t.attname = '_batch_id' AND t.attnum > 0 AND NOT t.attisdropped)
                       AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute AS a
                                       WHERE a.attrelid = v_view AND a.attname = '_batch_id' AND a.attnum > 0 AND NOT a.attisdropped);

        PERFORM dwh_etl.lock_step(p_spec->>'table');
        v_batch := COALESCE(v_run.batch_id, gen_random_uuid());
        -- the keys to rebuild, locked: a concurrent re-queue of one of them waits for our commit
        EXECUTE format('SELECT array_agg(DISTINCT q.%1$I::text) FROM (SELECT %1$I FROM %2$s FOR UPDATE) AS q',
                       v_qcol, v_queue)
        INTO v_keys;
        v_keys := COALESCE(v_keys, '{}');

        EXECUTE format('DELETE FROM %s WHERE %I = ANY($1::%s[])', v_table, v_key, v_key_type)
        USING v_keys;
        GET DIAGNOSTICS v_deleted = ROW_COUNT;
        IF v_batch_col THEN
            EXECUTE format('INSERT INTO %1$s (%2$s, _batch_id) SELECT %2$s, $2 FROM %3$s WHERE %4$I = ANY($1::%5$s[])',
                           v_table, v_cols, v_view, v_key, v_key_type)
            USING v_keys, v_batch;
        ELSE
            EXECUTE format('INSERT INTO %1$s (%2$s) SELECT %2$s FROM %3$s WHERE %4$I = ANY($1::%5$s[])',
                           v_table, v_cols, v_view, v_key, v_key_type)
            USING v_keys;
        END IF;
        GET DIAGNOSTICS v_inserted = ROW_COUNT;
        EXECUTE format('DELETE FROM %s WHERE %I::text = ANY($1)', v_queue, v_qcol)
        USING v_keys;

        PERFORM dwh_lineage.log_aggregation(
            in_source_table  => COALESCE(p_spec->>'lineage_source', p_spec->>'view'),
            in_target_table  => p_spec->>'table',
            in_batch_id      => v_batch,
            in_rows_inserted => v_inserted,
            in_rows_deleted  => v_deleted,
            in_run_id        => p_run_id);
        RAISE DEBUG 'mart step %: % keys rebuilt in %, % rows deleted, % inserted',
            v_step, cardinality(v_keys), v_table, v_deleted, v_inserted;
        RETURN;
    END IF;

    -- form 1: a materialized view
    PERFORM dwh_etl.lock_step(p_spec->>'view');
    PERFORM dwh_etl.sec_refresh_mart(v_view);  -- owner-only REFRESH, done for etl_service
    EXECUTE format('SELECT count(*) FROM %s', v_view) INTO v_rows;
    PERFORM dwh_lineage.log_refresh(
        in_view_name    => p_spec->>'view',
        in_source_table => p_spec->>'lineage_source',
        in_row_count    => v_rows,
        in_run_id       => p_run_id);
END;
$$;
COMMENT ON PROCEDURE dwh_etl.step_mart(bigint, date, jsonb) IS 'Step kind mart: refresh one materialized view concurrently (spec: view, lineage_source), or rebuild a table for the queued keys only (spec: table, view, key_column, queue {table, column}, lineage_source); logs the refresh or aggregation.';
REVOKE EXECUTE ON PROCEDURE dwh_etl.step_mart(bigint, date, jsonb) FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE dwh_etl.step_mart(bigint, date, jsonb) TO etl_service;
