-- The audit half of the runner's write-audit-publish: every enabled quality rule of a step's target
-- tables, evaluated on the rows of the run's batch as this transaction sees them (the step's writes,
-- not yet committed). Records nothing: dwh_etl._run_step records the results (dwh_etl.quality_record)
-- whether they pass or not, and refuses to publish the step's writes when an error rule failed.
CREATE OR REPLACE FUNCTION dwh_etl.quality_audit(
    p_run_id    bigint,
    p_step_name text
)
RETURNS jsonb
LANGUAGE sql
STABLE
SET search_path = dwh_etl, pg_temp
AS $$
    SELECT COALESCE(jsonb_agg(e.r ORDER BY tt.n, e.n), '[]'::jsonb)
    FROM dwh_lineage.pipeline_runs AS pr
    JOIN dwh_etl.steps AS st
      ON st.pipeline_name = pr.pipeline_name
     AND st.step_name = p_step_name
    CROSS JOIN LATERAL unnest(st.target_tables) WITH ORDINALITY AS tt (table_name, n)
    CROSS JOIN LATERAL jsonb_array_elements(dwh_etl.quality_check_table(tt.table_name, pr.batch_id))
                       WITH ORDINALITY AS e (r, n)
    WHERE pr.run_id = p_run_id;
$$;
COMMENT ON FUNCTION dwh_etl.quality_audit(bigint, text) IS 'Results (jsonb array, nothing recorded) of the quality rules of a step''s target tables on its run''s batch: the audit of write-audit-publish.';
