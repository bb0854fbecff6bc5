-- What `dwh run PIPELINE --dry-run` prints: the steps a run would run (dwh_etl.select_steps), in order,
-- and for each table a step loads the window it would read: [watermark, upper bound) as the runner
-- would compute it now (dwh_etl.get_watermark; dwh_etl.safe_upper_bound, capped at the end of the run
-- date for extraction as step_extract does). A step without a watermark says what it reads instead (a
-- mart's queued keys, a refresh, a custom procedure). Reads only: nothing is locked, written or run,
-- and the windows are those of this instant (a run moments later reads up to its own now()).
CREATE OR REPLACE FUNCTION dwh_etl.select_plan(
    p_pipeline text,
    p_run_date date DEFAULT NULL,
    p_select   text[] DEFAULT NULL,
    p_exclude  text[] DEFAULT NULL
)
RETURNS TABLE (
    step_order       integer,
    step_name        text,
    kind             text,
    area             text,
    table_name       text,
    watermark_column text,
    window_from      timestamptz,
    window_to        timestamptz,
    note             text
)
LANGUAGE plpgsql
STABLE
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_run_date date := COALESCE(p_run_date, (now() AT TIME ZONE 'UTC')::date);
    v_cap      timestamptz := (v_run_date + 1)::timestamp AT TIME ZONE 'UTC';
    v_row      record;
    v_queue    regclass;
    v_keys     bigint;
BEGIN
    IF p_pipeline IS NULL THEN
        RAISE EXCEPTION 'select_plan needs a pipeline' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOR v_row IN
        SELECT s.step_order, s.step_name, s.kind, s.area, t.table_name, st.spec,
               w.watermark_column, w.watermark_value
        FROM dwh_etl.select_steps(p_pipeline, p_select, p_exclude) AS s
        JOIN dwh_etl.steps AS st
          ON st.pipeline_name = s.pipeline_name
         AND st.step_name = s.step_name
        LEFT JOIN LATERAL unnest(NULLIF(s.target_tables, '{}'::text[])) WITH ORDINALITY AS t (table_name, n)
          ON true
        LEFT JOIN dwh_etl.watermarks AS w
          ON w.table_name = t.table_name
        ORDER BY s.step_order, t.n
    LOOP
        step_order := v_row.step_order;
        step_name := v_row.step_name;
        kind := v_row.kind;
        area := v_row.area;
        table_name := v_row.table_name;
        watermark_column := v_row.watermark_column;
        window_from := NULL;
        window_to := NULL;
        note := NULL;
        IF v_row.watermark_value IS NOT NULL OR v_row.kind IN ('extract', 'silver', 'dimension', 'fact') THEN
            -- no watermark yet: the first load reads everything before window_to (window_from is left
            -- NULL rather than -infinity, which clients such as psycopg cannot represent)
            window_from := v_row.watermark_value;
            window_to := GREATEST(COALESCE(window_from, '-infinity'::timestamptz),
                                  dwh_etl.safe_upper_bound(CASE WHEN v_row.kind = 'extract' THEN v_cap END));
            note := CASE WHEN v_row.watermark_value IS NULL THEN 'first load (no watermark yet): everything before window_to'
                         WHEN window_to <= window_from THEN 'nothing new to read'
                    END;
        ELSIF v_row.kind = 'mart' AND v_row.spec ? 'queue' THEN
            v_queue := to_regclass(v_row.spec->'queue'->>'table');
            IF v_queue IS NOT NULL THEN
                EXECUTE format('SELECT count(DISTINCT q.%I) FROM %s AS q', v_row.spec->'queue'->>'column', v_queue)
                INTO v_keys;
            END IF;
            note := format('rebuilds the keys queued in %s: %s', v_row.spec->'queue'->>'table', COALESCE(v_keys::text, '?'));
        ELSIF v_row.kind = 'mart' THEN
            note := 'refreshes the materialized view whole';
        ELSE
            note := 'custom step: its procedure decides what it reads';
        END IF;
        RETURN NEXT;
    END LOOP;
END;
$$;
COMMENT ON FUNCTION dwh_etl.select_plan(text, date, text[], text[]) IS 'Dry run: the chosen steps of a pipeline in run order with the window [watermark, upper bound) each would read now per target table; reads only. Example: SELECT * FROM dwh_etl.select_plan(''daily'', NULL, ARRAY[''+sales.fact_sales'']);';
REVOKE EXECUTE ON FUNCTION dwh_etl.select_plan(text, date, text[], text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl.select_plan(text, date, text[], text[]) TO etl_service;
