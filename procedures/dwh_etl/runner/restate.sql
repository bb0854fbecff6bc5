-- Restates a date range: recomputes the selected steps' outputs for the dates p_from..p_to from the layer
-- below (bronze keeps every extracted row: silver and gold are recomputed from it; extraction runs only
-- with p_reextract). Facts of those event dates are deleted and reloaded from their views (idempotent: a
-- second restatement gives the same rows), the marts of those dates are rebuilt, silver and dimensions
-- apply again the input that arrived in those days (their loads are idempotent and place late rows in
-- SCD2 history, so history stays correct), watermarks do not move. What each step kind does exactly:
-- dwh_etl._restate_apply.
--
-- All or nothing: the whole restatement is one transaction; a failure or a cancel (Ctrl-C,
-- statement_timeout) leaves the previous data intact. Refused (DW002, nothing done) while a run holds the
-- pipeline or one sharing its steps; recorded in dwh_lineage.pipeline_runs with parameters
-- {mode: restate, from, to, steps} and metrics.replaced (tables, scope, rows deleted / inserted / after).
-- p_steps: NULL = every step of the pipeline, else these steps (the CLI's --select resolves to them),
-- run in the pipeline's dependency order. Dates beyond today (UTC) + calendar.days_ahead are refused
-- unless p_allow_future.
-- Example: CALL dwh_etl.restate(p_pipeline => 'daily', p_from => DATE '2025-01-01', p_to => DATE '2025-01-31');
CREATE OR REPLACE PROCEDURE dwh_etl.restate(
    p_pipeline     text,
    p_from         date,
    p_to           date,
    p_steps        text[] DEFAULT NULL,
    p_reextract    boolean DEFAULT false,
    p_allow_future boolean DEFAULT false,
    INOUT p_run_id bigint DEFAULT NULL
)
LANGUAGE plpgsql
-- no SET clause: a procedure with one cannot COMMIT; every name is qualified
AS $$
DECLARE
    v_steps   text[];
    v_unknown text;
    v_horizon date := (now() AT TIME ZONE 'UTC')::date + dwh_etl.get_setting('calendar.days_ahead', '730')::integer;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM dwh_etl.pipelines WHERE pipeline_name = p_pipeline) THEN
        RAISE EXCEPTION 'unknown pipeline %', quote_literal(COALESCE(p_pipeline, 'NULL'))
            USING ERRCODE = 'DW001',
                  HINT = format('registered pipelines: %s',
                                (SELECT string_agg(pipeline_name, ', ' ORDER BY pipeline_name) FROM dwh_etl.pipelines));
    END IF;
    IF p_from IS NULL OR p_to IS NULL OR p_to < p_from THEN
        RAISE EXCEPTION 'restatement needs a date range from <= to, got % to %', quote_nullable(p_from), quote_nullable(p_to)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_to > v_horizon AND NOT COALESCE(p_allow_future, false) THEN
        RAISE EXCEPTION 'date % is beyond today (UTC) + the calendar horizon (%)', p_to, v_horizon
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('the horizon is the setting calendar.days_ahead (%s days)', dwh_etl.get_setting('calendar.days_ahead', '730')),
                  HINT = 'check the dates; to restate them anyway: --allow-future (p_allow_future => true)';
    END IF;
    SELECT string_agg(quote_literal(n), ', ' ORDER BY n)
    INTO v_unknown
    FROM unnest(p_steps) AS n
    WHERE NOT EXISTS (SELECT 1 FROM dwh_etl.steps AS s WHERE s.pipeline_name = p_pipeline AND s.step_name = n);
    IF v_unknown IS NOT NULL THEN
        RAISE EXCEPTION 'pipeline % has no step %', p_pipeline, v_unknown
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = format('its steps: %s', (SELECT string_agg(s.step_name, ', ' ORDER BY s.step_name)
                                                  FROM dwh_etl.steps AS s WHERE s.pipeline_name = p_pipeline));
    END IF;
    SELECT array_agg(o.step_name ORDER BY o.depth, o.step_name)
    INTO v_steps
    FROM dwh_etl._ordered_steps(p_pipeline) AS o
    WHERE p_steps IS NULL
       OR o.step_name = ANY (p_steps);
    IF v_steps IS NULL THEN
        RAISE EXCEPTION 'nothing to restate: pipeline % has no enabled step%', p_pipeline,
                        CASE WHEN p_steps IS NULL THEN '' ELSE ' among ' || array_to_string(p_steps, ', ') END
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    CALL dwh_etl._restate_run(
        p_pipeline  => p_pipeline,
        p_mode      => 'restate',
        p_steps     => v_steps,
        p_params    => jsonb_build_object('from', p_from, 'to', p_to, 'reextract', COALESCE(p_reextract, false)),
        p_run_date  => p_to,
        p_from      => p_from,
        p_to        => p_to,
        p_reextract => COALESCE(p_reextract, false),
        p_run_id    => p_run_id);
END;
$$;
COMMENT ON PROCEDURE dwh_etl.restate(text, date, date, text[], boolean, boolean, bigint) IS 'Restate p_from..p_to: recompute the selected steps'' outputs for those dates from the layer below, in one transaction (all or nothing), refused while a run holds the pipeline, recorded with what it replaced. Example: CALL dwh_etl.restate(p_pipeline => ''daily'', p_from => DATE ''2025-01-01'', p_to => DATE ''2025-01-31'');';
REVOKE EXECUTE ON PROCEDURE dwh_etl.restate(text, date, date, text[], boolean, boolean, bigint) FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE dwh_etl.restate(text, date, date, text[], boolean, boolean, bigint) TO etl_service;
