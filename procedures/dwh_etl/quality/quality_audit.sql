-- The audit half of the runner's write-audit-publish: every enabled quality rule of a step's target
-- tables, evaluated on the rows of the run's batch as this transaction sees them (the step's writes,
-- not yet committed). Records nothing: dwh_etl._run_step records the results (dwh_etl.quality_record)
-- whether they pass or not, and refuses to publish the step's writes when an error rule failed.
--
-- Batch-scoped rules filter on _batch_id, which no table indexes: each was a full scan of its table per
-- run, also when the run wrote nothing there (issue 15: 1.9 s for sales.fact_sales, 1.5 s for
-- silver.sales_sales, per no-op run at scale 1). When the run's lineage shows that the batch wrote no row
-- to a table, its batch-scoped rules look at no rows without scanning (dwh_etl.quality_evaluate's
-- p_batch_empty; same results). The lineage is trusted only when complete for that table: every step of
-- the run that ran and declares the table a target logged lineage for it (the engine's step kinds always
-- do, even for 0 rows; a custom step that logs nothing for a table gets the scan). p_skipped: the runner
-- did not call this step (dwh_etl._step_unchanged), so it wrote nothing itself. A whole-table rule whose
-- inputs did not change repeats its latest result (dwh_etl._rule_state; setting quality.reuse_unchanged).
-- The earlier signature (without p_skipped), replaced by this one.
DROP FUNCTION IF EXISTS dwh_etl.quality_audit(bigint, text);
CREATE OR REPLACE FUNCTION dwh_etl.quality_audit(
    p_run_id    bigint,
    p_step_name text,
    p_skipped   boolean DEFAULT false
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
    CROSS JOIN LATERAL (
        SELECT
            -- no step of this run that ran and writes the table left it unlogged ...
            NOT EXISTS (
                SELECT 1
                FROM dwh_etl.steps AS w
                LEFT JOIN dwh_lineage.step_runs AS sr
                  ON sr.run_id = pr.run_id
                 AND sr.step_name = w.step_name
                WHERE w.pipeline_name = pr.pipeline_name
                  AND tt.table_name = ANY (w.target_tables)
                  AND CASE WHEN w.step_name = p_step_name THEN NOT COALESCE(p_skipped, false)
                           ELSE sr.status IN ('running', 'completed') AND sr.skipped_reason IS NULL END
                  AND NOT EXISTS (SELECT 1 FROM dwh_lineage.table_lineage AS tl
                                  WHERE tl.run_id = pr.run_id
                                    AND tl.step_name = w.step_name
                                    AND tl.target_table = tt.table_name))
            -- ... and the batch's lineage shows no row inserted or updated there
            AND NOT EXISTS (
                SELECT 1 FROM dwh_lineage.table_lineage AS tl
                WHERE tl.batch_id = pr.batch_id
                  AND tl.target_table = tt.table_name
                  AND COALESCE(tl.rows_inserted, 0) + COALESCE(tl.rows_updated, 0) > 0) AS batch_empty
    ) AS b
    CROSS JOIN LATERAL jsonb_array_elements(dwh_etl.quality_check_table(tt.table_name, pr.batch_id, b.batch_empty,
                                                                        dwh_etl.get_setting('quality.reuse_unchanged', 'on') = 'on'))
                       WITH ORDINALITY AS e (r, n)
    WHERE pr.run_id = p_run_id;
$$;
COMMENT ON FUNCTION dwh_etl.quality_audit(bigint, text, boolean) IS 'Results (jsonb array, nothing recorded) of the quality rules of a step''s target tables on its run''s batch (a table the batch did not write, by the run''s lineage: no scan): the audit of write-audit-publish. p_skipped: the runner did not call the step.';
REVOKE EXECUTE ON FUNCTION dwh_etl.quality_audit(bigint, text, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl.quality_audit(bigint, text, boolean) TO etl_service;
