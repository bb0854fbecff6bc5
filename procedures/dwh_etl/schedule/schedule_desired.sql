-- The pg_cron jobs the registry asks for: one per (active pipeline, cron expression), named
-- dwh:<pipeline> (dwh:<pipeline>:2 for the second expression, ...), running the pipeline with trigger
-- 'cron' in this database as the current user. Raises DW012 naming the pipeline when an expression is
-- not valid for pg_cron 1.4.
CREATE OR REPLACE FUNCTION dwh_etl.schedule_desired()
RETURNS TABLE (
    pipeline text,
    job_name text,
    schedule text,
    command  text
)
LANGUAGE plpgsql
STABLE
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_bad     record;
    v_message text;
BEGIN
    FOR v_bad IN
        SELECT p.pipeline_name, s.expr
        FROM dwh_etl.pipelines AS p
        CROSS JOIN LATERAL unnest(p.schedules) AS s (expr)
        WHERE p.is_active
          AND NOT dwh_etl._cron_valid(s.expr)
        ORDER BY p.pipeline_name
    LOOP
        BEGIN
            PERFORM dwh_etl._cron_parse(v_bad.expr);
        EXCEPTION WHEN SQLSTATE 'DW012' THEN
            GET STACKED DIAGNOSTICS v_message = MESSAGE_TEXT;
        END;
        RAISE EXCEPTION 'pipeline %: %', v_bad.pipeline_name, v_message
            USING ERRCODE = 'DW012',
                  DETAIL = 'pg_cron 1.4 takes five fields, in UTC: minute hour day-of-month month day-of-week (no seconds)',
                  HINT = format('fix it with CALL dwh_etl.register_pipeline(p_pipeline => %L, p_schedules => ARRAY[''0 2 * * *'']) (or the registry file of its area), then sync again',
                                v_bad.pipeline_name);
    END LOOP;

    RETURN QUERY
    SELECT p.pipeline_name::text,
           ('dwh:' || p.pipeline_name || CASE WHEN s.n > 1 THEN ':' || s.n ELSE '' END)::text,
           btrim(s.expr)::text,
           format('CALL dwh_etl.run_pipeline(p_pipeline => %L, p_trigger => ''cron'')', p.pipeline_name)
    FROM dwh_etl.pipelines AS p
    CROSS JOIN LATERAL unnest(p.schedules) WITH ORDINALITY AS s (expr, n)
    WHERE p.is_active
    ORDER BY 2;
END;
$$;
COMMENT ON FUNCTION dwh_etl.schedule_desired() IS 'The pg_cron jobs the registry asks for (name dwh:<pipeline>[:n], schedule, command); raises DW012 naming the pipeline on an invalid expression.';
