-- Step kind `dimension`: the "window -> stage -> apply_dimension -> watermark" sequence every gold
-- dimension load used to write by hand (issue 10), written once. The area supplies a view over silver
-- that yields the dimension's rows with the dimension's own column names (derivations such as
-- email_domain or full_name live in the view), plus the change time and deleted flag the dimension is
-- registered with (dwh_etl.register_dimension) and the watermark column; the engine does the rest:
--   1. the incremental window [watermark, safe upper bound) keyed by the dimension's target table
--      (dwh_etl.window_bounds, which also serializes the load across pipelines);
--   2. the view's rows whose watermark column falls in the window, staged in a temp table (so a view
--      that reads the dimension itself, e.g. "first version from the creation time", sees it as it was
--      before this load);
--   3. dwh_etl.apply_dimension on the stage: SCD1/SCD2 versions, late changes, duplicates quarantined,
--      row counts and lineage logged (from lineage_source, the silver table, when given);
--   4. reconciliation: every staged row was read by apply_dimension (DW005 otherwise);
--   5. the watermark moved to the window's end (dwh_etl.set_watermark), in the step's transaction.
-- Spec, one dimension:
--   {"dimension": "sales.dim_customer",              -- registered in dwh_etl.dimension_specs
--    "view": "sales.dim_customer_changes",           -- the area's view (columns of the dimension)
--    "watermark_column": "_loaded_at",               -- optional, default _loaded_at; timestamptz
--    "lineage_source": "silver.sales_customers"}     -- optional, default the view
-- or several, loaded in this order in one step (one transaction: all or none):
--   {"dimensions": [{"dimension": ..., "view": ...}, ...]}
-- The spec is validated before anything is read (dwh_etl._dimension_step_items): a bad one fails the
-- step with SQLSTATE 22023 and a message naming the step. No special (unknown) members are created
-- here; inferred members that fact steps created (step_fact lookup option "inferred") are completed in
-- place by apply_dimension when their rows arrive.
CREATE OR REPLACE PROCEDURE dwh_etl.step_dimension(
    p_run_id   bigint,
    p_run_date date,
    p_spec     jsonb
)
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    -- the step this run is executing (for the messages); by hand, outside a run, there is none
    v_step    text := COALESCE((SELECT sr.step_name FROM dwh_lineage.step_runs AS sr
                                WHERE sr.run_id = p_run_id AND sr.status = 'running'
                                ORDER BY sr.step_order DESC LIMIT 1),
                               '(outside a run)');
    v_items   jsonb := dwh_etl._dimension_step_items(p_spec, v_step);
    v_item    jsonb;
    v_win     record;
    v_staged  bigint;
    v_counts  record;
    v_ignored bigint;
BEGIN
    FOR v_item IN SELECT e.value FROM jsonb_array_elements(v_items) AS e LOOP
        v_win := dwh_etl.window_bounds(v_item->>'target');

        IF to_regclass('pg_temp._dim_stage') IS NOT NULL THEN
            DROP TABLE pg_temp._dim_stage;
        END IF;
        EXECUTE format('CREATE TEMP TABLE _dim_stage ON COMMIT DROP AS SELECT v.* FROM %s AS v WHERE v.%I >= $1 AND v.%I < $2',
                       v_item->>'view', v_item->>'watermark_column', v_item->>'watermark_column')
        USING v_win.from_ts, v_win.to_ts;
        GET DIAGNOSTICS v_staged = ROW_COUNT;

        SELECT * INTO v_counts
        FROM dwh_etl.apply_dimension(
            p_dimension      => v_item->>'dimension',
            p_source         => 'pg_temp._dim_stage',
            p_lineage_source => v_item->>'lineage_source',
            p_run_id         => p_run_id);

        -- apply_dimension counts every row of its source as read, except deletions its delete policy
        -- 'ignore' drops; anything else would mean staged rows went unaccounted for
        v_ignored := 0;
        IF v_item->>'ignored_flag' IS NOT NULL THEN
            EXECUTE format('SELECT count(*) FROM pg_temp._dim_stage AS s WHERE COALESCE(s.%I, false)', v_item->>'ignored_flag')
            INTO v_ignored;
        END IF;
        IF v_counts.rows_read + v_ignored <> v_staged THEN
            RAISE EXCEPTION 'reconciliation of % failed: % rows staged from %, % read by dwh_etl.apply_dimension, % deletions ignored',
                            v_item->>'target', v_staged, v_item->>'view', v_counts.rows_read, v_ignored
                USING ERRCODE = 'DW005',
                      HINT = 'rows would be lost: the step is rolled back';
        END IF;

        CALL dwh_etl.set_watermark(v_item->>'target', v_item->>'watermark_column', v_win.to_ts);
        DROP TABLE pg_temp._dim_stage;
        RAISE DEBUG 'dwh_etl.step_dimension %: % rows staged from %, % versions inserted, % unchanged',
                    v_item->>'dimension', v_staged, v_item->>'view', v_counts.rows_inserted, v_counts.rows_unchanged;
    END LOOP;
END;
$$;
COMMENT ON PROCEDURE dwh_etl.step_dimension(bigint, date, jsonb) IS 'Step kind dimension: for each dimension of the spec (dimension, view, watermark_column, lineage_source), stage the view''s rows of the incremental window, apply them with dwh_etl.apply_dimension and move the watermark, in one transaction.';
REVOKE EXECUTE ON PROCEDURE dwh_etl.step_dimension(bigint, date, jsonb) FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE dwh_etl.step_dimension(bigint, date, jsonb) TO etl_service;
