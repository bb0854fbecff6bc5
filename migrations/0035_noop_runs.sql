-- depends: 0033_bronze_append_only
-- A no-op run costs nothing (issue 15, "per-run cost must follow the delta").
--
-- The runner skips a step whose declared inputs did not move since its last success (dwh_etl._step_unchanged):
-- the step's body is not called, its quality rules are still evaluated and recorded as a run would (a
-- batch-scoped rule on a table the run did not write looks at no rows), and the step_runs row says why in
-- skipped_reason (status 'completed': the step's outputs are what running it would have left).
ALTER TABLE dwh_lineage.step_runs ADD COLUMN skipped_reason text;
COMMENT ON COLUMN dwh_lineage.step_runs.skipped_reason IS
    'Set when the runner did not call the step because nothing it reads changed since its last success (dwh_etl._step_unchanged): why. NULL: the step ran.';

-- The runner's look-ups: a step's last attempt (over every pipeline: shared steps), and the writes to a
-- table since then. Both tables grow with every run; without these each look-up scans their history.
CREATE INDEX step_runs_step_started_idx ON dwh_lineage.step_runs (step_name, started_at);
CREATE INDEX table_lineage_target_completed_idx ON dwh_lineage.table_lineage (target_table, completed_at);

-- devflow.mart_development_performance, set-based (issue 15): its mean time to recovery looked up, for
-- each failed production deployment, the issue's next successful one with a subquery over the
-- deployments CTE: 12,760 scans of it per refresh at the demo scale, growing with the square of history
-- (30 ms -> 1,063 ms over six days). The same lookup is now one window over the issue's deployments in
-- completion order. Same rows (the view is otherwise unchanged: tests/test_fingerprint_golden.py).
DROP MATERIALIZED VIEW devflow.mart_development_performance;
CREATE MATERIALIZED VIEW devflow.mart_development_performance AS
WITH facts AS (
    SELECT dt.year, dt.quarter, dt.month, dt.week_of_year,
           COALESCE(di.priority, 'unknown')   AS priority,
           COALESCE(di.complexity, 'unknown') AS complexity,
           COALESCE(da.agent_type, 'unknown') AS agent_type,
           di.issue_id,
           f.*
    FROM devflow.fact_issue_processing AS f
    JOIN devflow.dim_time AS dt
      ON dt.time_key = f.time_key
    JOIN devflow.dim_issue AS di
      ON di.issue_key = f.issue_key
    LEFT JOIN devflow.dim_agent AS da
      ON da.agent_key = f.agent_key
),
production AS (
    SELECT di.issue_id, fd.deployment_status, fd.completed_at
    FROM devflow.fact_deployment AS fd
    JOIN devflow.dim_issue AS di
      ON di.issue_key = fd.issue_key
    WHERE fd.environment = 'production'
),
recovery AS (
    -- the next successful production deployment of the issue after each failed one: one ordered pass
    -- per issue (the frame: the rows completed strictly later, EXCLUDE GROUP drops the ties; NULL
    -- completion times sort last and min() skips them; an issue id that is NULL matched nothing in the
    -- subquery and matches nothing here), not a subquery per failed deployment
    SELECT p.issue_id,
           EXTRACT(EPOCH FROM p.next_success_at - p.completed_at) / 3600.0 AS hours
    FROM (
        SELECT s.issue_id, s.deployment_status, s.completed_at,
               min(s.completed_at) FILTER (WHERE s.deployment_status = 'SUCCESS' AND s.issue_id IS NOT NULL)
                   OVER (PARTITION BY s.issue_id ORDER BY s.completed_at
                         RANGE BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING EXCLUDE GROUP) AS next_success_at
        FROM production AS s
    ) AS p
    WHERE p.deployment_status IN ('FAILED', 'ROLLED_BACK')
),
issue_dora AS (
    SELECT p.issue_id,
           count(*)                                                          AS deployments,
           count(*) FILTER (WHERE p.deployment_status = 'SUCCESS')          AS successful,
           count(*) FILTER (WHERE p.deployment_status IN ('FAILED', 'ROLLED_BACK')) AS failed,
           min(p.completed_at) FILTER (WHERE p.deployment_status = 'SUCCESS') AS first_success_at
    FROM production AS p
    GROUP BY p.issue_id
),
issue_recovery AS (
    SELECT r.issue_id, sum(r.hours) AS hours, count(r.hours) AS recovered
    FROM recovery AS r
    GROUP BY r.issue_id
),
period_days AS (
    SELECT t.year, t.quarter, t.month, t.week_of_year, count(*) AS days
    FROM devflow.dim_time AS t
    GROUP BY t.year, t.quarter, t.month, t.week_of_year
)
SELECT f.year, f.quarter, f.month, f.week_of_year, f.priority, f.complexity, f.agent_type,
       COUNT(DISTINCT f.issue_processing_key) AS total_issues,
       SUM(f.files_modified) AS total_files_modified,
       SUM(f.lines_of_code_generated) AS total_lines_generated,
       AVG(f.processing_duration_seconds) AS avg_processing_time_seconds,
       PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY f.processing_duration_seconds) AS median_processing_time,
       PERCENTILE_CONT(0.95) WITHIN GROUP (ORDER BY f.processing_duration_seconds) AS p95_processing_time,
       AVG(f.review_score) AS avg_review_score,
       AVG(f.test_coverage_percent) AS avg_test_coverage,
       SUM(f.clippy_warnings) AS total_clippy_warnings,
       SUM(f.fmt_issues) AS total_fmt_issues,
       AVG(CASE WHEN f.build_success THEN 100.0 ELSE 0.0 END) AS build_success_rate,
       AVG(CASE WHEN f.test_success THEN 100.0 ELSE 0.0 END) AS test_success_rate,
       AVG(CASE WHEN f.deployment_success THEN 100.0 ELSE 0.0 END) FILTER (WHERE f.deployment_success IS NOT NULL) AS deployment_success_rate,
       SUM(f.ai_cost_usd) AS total_ai_cost_usd,
       SUM(f.infrastructure_cost_usd) AS total_infra_cost_usd,
       AVG(f.ai_cost_usd) AS avg_cost_per_issue,
       COALESCE(SUM(d.deployments), 0) AS production_deployments,
       COALESCE(SUM(d.successful), 0)::numeric / MIN(pd.days) AS deployment_frequency_per_day,
       AVG(EXTRACT(EPOCH FROM d.first_success_at - f.started_at) / 3600.0) AS mean_lead_time_hours,
       100.0 * SUM(d.failed) / NULLIF(SUM(d.deployments), 0) AS change_failure_rate,
       SUM(r.hours) / NULLIF(SUM(r.recovered), 0) AS mean_time_to_recovery_hours
FROM facts AS f
JOIN period_days AS pd
  ON pd.year = f.year AND pd.quarter = f.quarter AND pd.month = f.month AND pd.week_of_year = f.week_of_year
LEFT JOIN issue_dora AS d
  ON d.issue_id = f.issue_id
LEFT JOIN issue_recovery AS r
  ON r.issue_id = f.issue_id
GROUP BY f.year, f.quarter, f.month, f.week_of_year, f.priority, f.complexity, f.agent_type;
CREATE UNIQUE INDEX idx_mart_dev_perf ON devflow.mart_development_performance (
    year, quarter, month, week_of_year, priority, complexity, agent_type);
COMMENT ON MATERIALIZED VIEW devflow.mart_development_performance IS 'Development performance by week, priority, complexity and agent type with the DORA metrics (deployment frequency, lead time, change failure rate, mean time to recovery). One fact row per issue, so no DORA count is multiplied.';
GRANT SELECT ON devflow.mart_development_performance TO analyst_role;
GRANT SELECT, INSERT, UPDATE, DELETE ON devflow.mart_development_performance TO etl_service;

-- Batch-scoped quality rules read the rows of one batch (WHERE _batch_id = ...) of their table: with no
-- index on _batch_id each rule was a full scan of the table, per rule and run (issue 15: 1.9 s for
-- sales.fact_sales, 1.5 s for silver.sales_sales at scale 1, when the batch wrote a few thousand rows).
-- A BRIN bloom index answers "which page ranges hold this batch" for a few kB per million rows and
-- almost nothing per insert (a btree on a random uuid would cost every load); a batch's rows are
-- written together, so its ranges are few. autosummarize: ranges filled after the last vacuum are
-- summarized by autovacuum (an unsummarized range is always read: still correct). On every table
-- the registries give batch-scoped rules (where it has _batch_id).
DO $brin$
DECLARE
    v_table text;
BEGIN
    FOREACH v_table IN ARRAY ARRAY[
        'silver.sales_customers', 'silver.sales_products', 'silver.sales_sales',
        'sales.dim_customer', 'sales.dim_product', 'sales.fact_sales', 'sales.agg_daily_sales',
        'silver.devflow_agent_execution_logs', 'devflow.dim_agent', 'devflow.dim_infrastructure',
        'devflow.dim_issue', 'devflow.dim_label', 'devflow.dim_worktree', 'devflow.fact_agent_execution',
        'devflow.fact_code_generation', 'devflow.fact_deployment', 'devflow.fact_issue_processing',
        'devflow.fact_performance_metrics',
        'agents.dim_agent', 'agents.dim_user', 'agents.dim_conversation', 'agents.fact_agent_query',
        'agents.fact_approval', 'agents.fact_training',
        'citizen.fct_service_queries', 'citizen.fct_content_usage']
    LOOP
        IF EXISTS (SELECT 1 FROM pg_catalog.pg_attribute AS a
                   WHERE a.attrelid = to_regclass(v_table) AND a.attname = '_batch_id'
                     AND a.atttypid = 'uuid'::regtype AND NOT a.attisdropped) THEN
            EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON %s USING brin (_batch_id uuid_bloom_ops) WITH (autosummarize = on)',
                           replace(v_table, '.', '_') || '_batch_brin', v_table);
        END IF;
    END LOOP;
END;
$brin$;
