-- Step (gold): the seed's issue transform in SQL. One row per issue processing (natural key
-- issue_number + started_at, the seed's ON CONFLICT target, now backed by a unique index), recomputed
-- for every issue that anything changed for in silver since the last run: its executions, generations,
-- reviews, deployments, labels, worktree or pull request, and every issue an event left (queue
-- dwh_staging.devflow_affected_issues); rows silver flags deleted count for nothing. Each source is aggregated per issue before
-- the join (the seed's extract multiplied rows). The seed's upsert set a non-existent updated_at; here
-- _loaded_at and _batch_id. Transform:
--   started_at / completed_at  first execution start / last execution or deployment end
--   processing_duration_seconds = completed_at - started_at
--   build_success  latest code generation had no clippy warnings and no fmt issues
--   test_success   latest review's coverage > 70
--   deployment_success  latest production deployment = SUCCESS (NULL: never deployed to production)
--   ai_cost_usd    sum of the executions' LLM cost; infrastructure_cost_usd: sum of its deployments' total cost
--   label_key      highest of P0..P4 among its labels (at completion), else its first label
--   issue_key      the issue version current at started_at; agent_key: most execution time
CREATE OR REPLACE PROCEDURE devflow.load_fact_issue_processing(
    p_run_id   bigint,
    p_run_date date
)
LANGUAGE plpgsql
SET search_path = devflow, pg_temp
AS $$
DECLARE
    v_win     record := dwh_etl.window_bounds('devflow.fact_issue_processing');
    v_batch   uuid := (dwh_etl.get_run_context(p_run_id)).batch_id;
    v_issues  bigint;
    v_deleted bigint;
    v_rows    bigint;
BEGIN
    -- tells plpgsql_check the shape of the temp tables created below
    PERFORM 'PRAGMA:TABLE: _fip_issues (issue_id text)';
    PERFORM 'PRAGMA:TABLE: _fip_stage (issue_id text, issue_number integer, started_at timestamptz, completed_at timestamptz, '
            'issue_key bigint, agent_key bigint, time_key integer, label_key bigint, worktree_key bigint, '
            'processing_duration_seconds integer, lines_of_code_generated bigint, files_modified bigint, review_score numeric, '
            'test_coverage_percent numeric, clippy_warnings integer, fmt_issues integer, build_success boolean, '
            'test_success boolean, deployment_success boolean, ai_cost_usd numeric, infrastructure_cost_usd numeric, '
            'commit_sha text, pr_number integer)';
    CREATE TEMP TABLE _fip_issues ON COMMIT DROP AS
    SELECT s.id AS issue_id FROM silver.devflow_issues AS s WHERE s._loaded_at >= v_win.from_ts AND s._loaded_at < v_win.to_ts
    UNION SELECT s.issue_id FROM silver.devflow_agent_execution_logs AS s WHERE s._loaded_at >= v_win.from_ts AND s._loaded_at < v_win.to_ts
    UNION SELECT s.issue_id FROM silver.devflow_code_gen_tasks AS s WHERE s._loaded_at >= v_win.from_ts AND s._loaded_at < v_win.to_ts
    UNION SELECT s.issue_id FROM silver.devflow_review_results AS s WHERE s._loaded_at >= v_win.from_ts AND s._loaded_at < v_win.to_ts
    UNION SELECT s.issue_id FROM silver.devflow_deployment_pipelines AS s WHERE s._loaded_at >= v_win.from_ts AND s._loaded_at < v_win.to_ts
    UNION SELECT s.issue_id FROM silver.devflow_label_history AS s WHERE s._loaded_at >= v_win.from_ts AND s._loaded_at < v_win.to_ts
    UNION SELECT s.associated_issue_id FROM silver.devflow_worktree_states AS s WHERE s._loaded_at >= v_win.from_ts AND s._loaded_at < v_win.to_ts
    UNION SELECT i.id FROM silver.devflow_pull_requests AS s JOIN silver.devflow_issues AS i ON i.number = s.issue_number
          WHERE s._loaded_at >= v_win.from_ts AND s._loaded_at < v_win.to_ts
    -- the issues an event left (its issue changed in silver: trigger devflow.trg_note_affected_issue)
    UNION SELECT q.issue_id FROM dwh_staging.devflow_affected_issues AS q;
    DELETE FROM _fip_issues AS a WHERE a.issue_id IS NULL;
    DELETE FROM dwh_staging.devflow_affected_issues AS q USING _fip_issues AS a WHERE q.issue_id = a.issue_id;
    GET DIAGNOSTICS v_issues = ROW_COUNT;
    SELECT count(*) INTO v_issues FROM _fip_issues;

    CREATE TEMP TABLE _fip_stage ON COMMIT DROP AS
    WITH executions AS (
        SELECT e.issue_id, min(e.started_at) AS started_at, max(e.completed_at) AS completed_at,
               sum(COALESCE(e.llm_cost_usd, 0)) AS ai_cost
        FROM silver.devflow_agent_execution_logs AS e
        JOIN _fip_issues AS a ON a.issue_id = e.issue_id
        WHERE e.completed_at IS NOT NULL AND NOT e.is_deleted
        GROUP BY e.issue_id
    ),
    main_agent AS (
        SELECT DISTINCT ON (t.issue_id) t.issue_id, t.agent_id
        FROM (SELECT e.issue_id, e.agent_id, sum(e.completed_at - e.started_at) AS busy
              FROM silver.devflow_agent_execution_logs AS e
              JOIN _fip_issues AS a ON a.issue_id = e.issue_id
              WHERE e.completed_at IS NOT NULL AND NOT e.is_deleted
              GROUP BY e.issue_id, e.agent_id) AS t
        ORDER BY t.issue_id, t.busy DESC, t.agent_id
    ),
    generations AS (
        SELECT c.issue_id, sum(COALESCE(c.total_lines_generated, 0)) AS lines, sum(COALESCE(c.total_files_generated, 0)) AS files
        FROM silver.devflow_code_gen_tasks AS c
        JOIN _fip_issues AS a ON a.issue_id = c.issue_id
        WHERE NOT c.is_deleted
        GROUP BY c.issue_id
    ),
    last_generation AS (
        SELECT DISTINCT ON (c.issue_id) c.issue_id, c.clippy_warnings, c.fmt_issues, c.commit_sha
        FROM silver.devflow_code_gen_tasks AS c
        JOIN _fip_issues AS a ON a.issue_id = c.issue_id
        WHERE NOT c.is_deleted
        ORDER BY c.issue_id, c.created_at DESC, c.id DESC
    ),
    last_review AS (
        SELECT DISTINCT ON (r.issue_id) r.issue_id, r.review_score, r.test_coverage_percent
        FROM silver.devflow_review_results AS r
        JOIN _fip_issues AS a ON a.issue_id = r.issue_id
        WHERE NOT r.is_deleted
        ORDER BY r.issue_id, r.reviewed_at DESC, r.id DESC
    ),
    deployments AS (
        SELECT d.issue_id, sum(COALESCE(d.infrastructure_cost_usd, 0) + COALESCE(d.data_transfer_cost_usd, 0)) AS cost,
               max(d.completed_at) AS completed_at
        FROM silver.devflow_deployment_pipelines AS d
        JOIN _fip_issues AS a ON a.issue_id = d.issue_id
        WHERE d.completed_at IS NOT NULL AND d.deployment_status IN ('SUCCESS', 'FAILED', 'ROLLED_BACK', 'PARTIAL')
          AND NOT d.is_deleted
        GROUP BY d.issue_id
    ),
    last_production AS (
        SELECT DISTINCT ON (d.issue_id) d.issue_id, d.deployment_status
        FROM silver.devflow_deployment_pipelines AS d
        JOIN _fip_issues AS a ON a.issue_id = d.issue_id
        WHERE d.environment = 'production' AND d.completed_at IS NOT NULL AND NOT d.is_deleted
          AND d.deployment_status IN ('SUCCESS', 'FAILED', 'ROLLED_BACK', 'PARTIAL')
        ORDER BY d.issue_id, d.started_at DESC, d.id DESC
    ),
    worktree AS (
        SELECT DISTINCT ON (w.associated_issue_id) w.associated_issue_id AS issue_id, w.worktree_path
        FROM silver.devflow_worktree_states AS w
        JOIN _fip_issues AS a ON a.issue_id = w.associated_issue_id
        WHERE NOT w.is_deleted  -- a deleted worktree (a tombstone, migration 0074) labels no issue
        ORDER BY w.associated_issue_id, w.created_at DESC, w.worktree_path
    ),
    base AS (
        SELECT i.id AS issue_id, i.number AS issue_number, x.started_at,
               GREATEST(x.completed_at, d.completed_at) AS completed_at, x.ai_cost
        FROM executions AS x
        JOIN silver.devflow_issues AS i ON i.id = x.issue_id AND NOT i.is_deleted
        LEFT JOIN deployments AS d ON d.issue_id = x.issue_id
    ),
    label_state AS (
        -- the labels an issue carries at its completion, with when each was (last) added
        SELECT DISTINCT ON (h.issue_id, h.label_name) h.issue_id, h.label_name, h.action, h.changed_at
        FROM silver.devflow_label_history AS h
        JOIN base AS b ON b.issue_id = h.issue_id AND h.changed_at <= b.completed_at
        WHERE NOT h.is_deleted
        ORDER BY h.issue_id, h.label_name, h.changed_at DESC, h.id DESC
    ),
    primary_label AS (
        SELECT DISTINCT ON (l.issue_id) l.issue_id, l.label_name
        FROM label_state AS l
        WHERE l.action = 'added'
        ORDER BY l.issue_id, CASE WHEN l.label_name IN ('P0', 'P1', 'P2', 'P3', 'P4') THEN 0 ELSE 1 END,
                 CASE WHEN l.label_name IN ('P0', 'P1', 'P2', 'P3', 'P4') THEN l.label_name END,
                 l.changed_at, l.label_name
    ),
    pull_request AS (
        SELECT DISTINCT ON (p.issue_number) p.issue_number, p.pr_number
        FROM silver.devflow_pull_requests AS p
        JOIN base AS b ON b.issue_number = p.issue_number
        ORDER BY p.issue_number, p.created_at DESC, p.pr_number DESC
    )
    SELECT b.issue_id, b.issue_number, b.started_at, b.completed_at,
           COALESCE(ik.issue_key, ik0.issue_key) AS issue_key,
           ag.agent_key, devflow._time_key(b.started_at) AS time_key,
           lb.label_key, wk.worktree_key,
           EXTRACT(EPOCH FROM b.completed_at - b.started_at)::integer AS processing_duration_seconds,
           COALESCE(g.lines, 0) AS lines_of_code_generated, COALESCE(g.files, 0) AS files_modified,
           r.review_score, r.test_coverage_percent,
           COALESCE(lg.clippy_warnings, 0) AS clippy_warnings, COALESCE(lg.fmt_issues, 0) AS fmt_issues,
           COALESCE(lg.clippy_warnings = 0 AND lg.fmt_issues = 0, false) AS build_success,
           COALESCE(r.test_coverage_percent > 70, false) AS test_success,
           lp.deployment_status = 'SUCCESS' AS deployment_success,
           b.ai_cost AS ai_cost_usd, COALESCE(d.cost, 0) AS infrastructure_cost_usd,
           lg.commit_sha, pr.pr_number
    FROM base AS b
    -- the issue version valid at started_at; an issue processed before its first version takes the first
    -- (set-based, on the (issue_id, valid_from) index, as dwh_etl.step_fact resolves its lookups)
    LEFT JOIN LATERAL (
        SELECT d.issue_key FROM devflow.dim_issue AS d
        WHERE d.issue_id = b.issue_id AND d.valid_from <= b.started_at
        ORDER BY d.valid_from DESC LIMIT 1
    ) AS ik ON true
    LEFT JOIN LATERAL (
        SELECT d.issue_key FROM devflow.dim_issue AS d
        WHERE d.issue_id = b.issue_id AND ik.issue_key IS NULL
        ORDER BY d.valid_from LIMIT 1
    ) AS ik0 ON true
    LEFT JOIN main_agent AS ma ON ma.issue_id = b.issue_id
    LEFT JOIN devflow.dim_agent AS ag ON ag.agent_id = ma.agent_id AND ag.is_current
    LEFT JOIN generations AS g ON g.issue_id = b.issue_id
    LEFT JOIN last_generation AS lg ON lg.issue_id = b.issue_id
    LEFT JOIN last_review AS r ON r.issue_id = b.issue_id
    LEFT JOIN deployments AS d ON d.issue_id = b.issue_id
    LEFT JOIN last_production AS lp ON lp.issue_id = b.issue_id
    LEFT JOIN worktree AS w ON w.issue_id = b.issue_id
    LEFT JOIN devflow.dim_worktree AS wk ON wk.worktree_path = w.worktree_path AND wk.is_current
    LEFT JOIN primary_label AS pl ON pl.issue_id = b.issue_id
    LEFT JOIN devflow.dim_label AS lb ON lb.label_name = pl.label_name AND lb.is_current
    LEFT JOIN pull_request AS pr ON pr.issue_number = b.issue_number;

    -- Sums over an issue's rows can exceed the fact's columns even when every row fits (one generation
    -- of 2147483647 lines next to another overflowed lines_of_code_generated and failed the step, issue
    -- 9): such an issue's row is quarantined with its figures and left as it was; the others load.
    INSERT INTO dwh_etl.quarantine AS q (target_table, source_table, record_key, payload, reasons, run_id, batch_id)
    SELECT 'devflow.fact_issue_processing', 'silver.devflow_agent_execution_logs', s.issue_id, to_jsonb(s), s.reasons,
           p_run_id, v_batch
    FROM (SELECT x.*,
                 dwh_etl.reasons(
                     CASE WHEN x.lines_of_code_generated > 2147483647 THEN format('lines_of_code_generated %s (the sum of the issue''s code generations) is out of range for integer', x.lines_of_code_generated) END,
                     CASE WHEN x.files_modified > 2147483647 THEN format('files_modified %s (the sum of the issue''s code generations) is out of range for integer', x.files_modified) END,
                     CASE WHEN abs(x.ai_cost_usd) >= 1e6 THEN format('ai_cost_usd %s (the sum of the issue''s executions) is out of range for numeric(10,4)', x.ai_cost_usd) END,
                     CASE WHEN abs(x.infrastructure_cost_usd) >= 1e6 THEN format('infrastructure_cost_usd %s (the sum of the issue''s deployments) is out of range for numeric(10,4)', x.infrastructure_cost_usd) END
                 ) AS reasons
          FROM _fip_stage AS x) AS s
    WHERE cardinality(s.reasons) > 0
    -- one open entry per record: the same figures judged again (a rerun) count a delivery
    ON CONFLICT (fingerprint) WHERE resolved_at IS NULL DO UPDATE
    SET deliveries = q.deliveries + 1, last_delivered_at = now(),
        run_id = EXCLUDED.run_id, batch_id = EXCLUDED.batch_id;
    DELETE FROM _fip_issues AS a
    USING _fip_stage AS s
    WHERE s.issue_id = a.issue_id
      AND (s.lines_of_code_generated > 2147483647 OR s.files_modified > 2147483647
           OR abs(s.ai_cost_usd) >= 1e6 OR abs(s.infrastructure_cost_usd) >= 1e6);
    DELETE FROM _fip_stage AS s
    WHERE s.lines_of_code_generated > 2147483647 OR s.files_modified > 2147483647
       OR abs(s.ai_cost_usd) >= 1e6 OR abs(s.infrastructure_cost_usd) >= 1e6;

    PERFORM devflow._ensure_calendar((SELECT devflow._utc_date(min(s.started_at)) FROM _fip_stage AS s), (SELECT devflow._utc_date(max(s.started_at)) FROM _fip_stage AS s));

    -- an issue whose first execution changed (a late, earlier execution arrived) replaces its row; so
    -- does one whose number changed (a Type 1 correction: its row under the old number is found by the
    -- issue's dimension rows, attack 14b), and one with no finished execution left (all deleted or moved)
    DELETE FROM devflow.fact_issue_processing AS f
    USING _fip_issues AS a
    WHERE (f.issue_number IN (SELECT i.number FROM silver.devflow_issues AS i WHERE i.id = a.issue_id)
           OR f.issue_key IN (SELECT d.issue_key FROM devflow.dim_issue AS d WHERE d.issue_id = a.issue_id))
      AND NOT EXISTS (SELECT 1 FROM _fip_stage AS s WHERE s.issue_number = f.issue_number AND s.started_at = f.started_at);
    GET DIAGNOSTICS v_deleted = ROW_COUNT;

    INSERT INTO devflow.fact_issue_processing AS f (
        issue_key, agent_key, time_key, label_key, worktree_key, processing_duration_seconds, lines_of_code_generated,
        files_modified, review_score, test_coverage_percent, clippy_warnings, fmt_issues, build_success, test_success,
        deployment_success, ai_cost_usd, infrastructure_cost_usd, started_at, completed_at, issue_number, commit_sha,
        pr_number, _batch_id
    )
    SELECT s.issue_key, s.agent_key, s.time_key, s.label_key, s.worktree_key, s.processing_duration_seconds,
           s.lines_of_code_generated, s.files_modified, s.review_score, s.test_coverage_percent, s.clippy_warnings,
           s.fmt_issues, s.build_success, s.test_success, s.deployment_success, s.ai_cost_usd, s.infrastructure_cost_usd,
           s.started_at, s.completed_at, s.issue_number, s.commit_sha, s.pr_number, v_batch
    FROM _fip_stage AS s
    ON CONFLICT (issue_number, started_at) DO UPDATE
    SET issue_key = EXCLUDED.issue_key, agent_key = EXCLUDED.agent_key, time_key = EXCLUDED.time_key,
        label_key = EXCLUDED.label_key, worktree_key = EXCLUDED.worktree_key,
        processing_duration_seconds = EXCLUDED.processing_duration_seconds,
        lines_of_code_generated = EXCLUDED.lines_of_code_generated, files_modified = EXCLUDED.files_modified,
        review_score = EXCLUDED.review_score, test_coverage_percent = EXCLUDED.test_coverage_percent,
        clippy_warnings = EXCLUDED.clippy_warnings, fmt_issues = EXCLUDED.fmt_issues,
        build_success = EXCLUDED.build_success, test_success = EXCLUDED.test_success,
        deployment_success = EXCLUDED.deployment_success, ai_cost_usd = EXCLUDED.ai_cost_usd,
        infrastructure_cost_usd = EXCLUDED.infrastructure_cost_usd, completed_at = EXCLUDED.completed_at,
        commit_sha = EXCLUDED.commit_sha, pr_number = EXCLUDED.pr_number,
        _batch_id = EXCLUDED._batch_id, _loaded_at = now()
    WHERE (f.issue_key, f.agent_key, f.label_key, f.worktree_key, f.processing_duration_seconds, f.lines_of_code_generated,
           f.files_modified, f.review_score, f.test_coverage_percent, f.clippy_warnings, f.fmt_issues, f.build_success,
           f.test_success, f.deployment_success, f.ai_cost_usd, f.infrastructure_cost_usd, f.completed_at, f.commit_sha, f.pr_number)
          IS DISTINCT FROM
          (EXCLUDED.issue_key, EXCLUDED.agent_key, EXCLUDED.label_key, EXCLUDED.worktree_key, EXCLUDED.processing_duration_seconds,
           EXCLUDED.lines_of_code_generated, EXCLUDED.files_modified, EXCLUDED.review_score, EXCLUDED.test_coverage_percent,
           EXCLUDED.clippy_warnings, EXCLUDED.fmt_issues, EXCLUDED.build_success, EXCLUDED.test_success,
           EXCLUDED.deployment_success, EXCLUDED.ai_cost_usd, EXCLUDED.infrastructure_cost_usd, EXCLUDED.completed_at,
           EXCLUDED.commit_sha, EXCLUDED.pr_number);
    GET DIAGNOSTICS v_rows = ROW_COUNT;

    PERFORM dwh_lineage.log_transformation(
        in_source_table  => 'silver.devflow_agent_execution_logs',
        in_target_table  => 'devflow.fact_issue_processing',
        in_batch_id      => v_batch,
        in_rows_inserted => v_rows,
        in_rows_deleted  => v_deleted,
        in_notes         => format('%s affected issues recomputed: %s rows upserted, %s replaced', v_issues, v_rows, v_deleted),
        in_run_id        => p_run_id);
    CALL dwh_etl.set_watermark('devflow.fact_issue_processing', '_loaded_at', v_win.to_ts);
    DROP TABLE _fip_issues, _fip_stage;
END;
$$;
COMMENT ON PROCEDURE devflow.load_fact_issue_processing(bigint, date) IS 'Step: silver -> devflow.fact_issue_processing (the seed''s transform in SQL, one row per issue processing, upsert on issue_number + started_at).';
