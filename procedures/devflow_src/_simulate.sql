-- The activity of the issues created in [p_from, p_to), set-based: about 20 issues a day, each flowing
-- issue -> analysis -> 1-3 code generation attempts, each reviewed -> staging deployment -> production
-- deployment; 20% of production deployments fail (FAILED or ROLLED_BACK) and are followed by a
-- recovery deployment 15 minutes to 2 hours later. Writes issues, label history, worktrees, agent
-- executions, code generation tasks, reviews, deployments and the GitHub pull request payload.
-- Rows are stamped updated_at = p_stamp, or (p_stamp NULL) with their own event time; events at or
-- after p_cutoff are not written yet (an issue is then still in progress).
CREATE OR REPLACE PROCEDURE devflow_src._simulate(
    p_from   timestamptz,
    p_to     timestamptz,
    p_stamp  timestamptz DEFAULT NULL,
    p_cutoff timestamptz DEFAULT NULL
)
LANGUAGE plpgsql
SET search_path = devflow_src, pg_temp
AS $$
DECLARE
    v_cut     timestamptz := COALESCE(p_cutoff, 'infinity');
    v_issues  integer := floor(EXTRACT(EPOCH FROM p_to - p_from) / 86400.0 * 20 + random())::integer;
    v_number  integer := COALESCE((SELECT max(i.number) FROM devflow_src.issues AS i), 0);
    v_exec    bigint := COALESCE((SELECT max(e.id) FROM devflow_src.agent_execution_logs AS e), 0);
    v_cg      bigint := COALESCE((SELECT max(c.id) FROM devflow_src.code_gen_tasks AS c), 0);
    v_rv      bigint := COALESCE((SELECT max(r.id) FROM devflow_src.review_results AS r), 0);
    v_dp      bigint := COALESCE((SELECT max(d.id) FROM devflow_src.deployment_pipelines AS d), 0);
    v_lh      bigint := COALESCE((SELECT max(h.id) FROM devflow_src.label_history AS h), 0);
    v_wt      bigint := COALESCE((SELECT max(w.id) FROM devflow_src.worktree_states AS w), 0);
    v_prs     jsonb;
BEGIN
    IF v_issues < 1 THEN
        RETURN;
    END IF;

    -- tell plpgsql_check the shape of the temp tables created below (they do not exist when it checks)
    PERFORM 'PRAGMA:TABLE: _sim_issue (number integer, id text, created_at timestamptz, priority text, complexity text, '
            'issue_type text, component text, effort text, attempts integer, prod_fails boolean, '
            'has_priority_label boolean, prod_resource text, wait interval, analysis interval)';
    CREATE TEMP TABLE _sim_issue ON COMMIT DROP AS
    SELECT v_number + n AS number,
           'I_' || lpad((v_number + n)::text, 6, '0') AS id,
           p_from + random() * (p_to - p_from) AS created_at,
           (ARRAY['P0', 'P1', 'P1', 'P1', 'P2', 'P2', 'P2', 'P2', 'P2', 'P2', 'P2', 'P2', 'P3', 'P3', 'P3', 'P3', 'P3', 'P3', 'P4', 'P4'])[1 + floor(random() * 20)::integer] AS priority,
           (ARRAY['trivial', 'low', 'low', 'medium', 'medium', 'medium', 'high', 'high', 'critical'])[1 + floor(random() * 9)::integer] AS complexity,
           (ARRAY['bug', 'feature', 'feature', 'refactor', 'docs', 'test', 'chore', 'security'])[1 + floor(random() * 8)::integer] AS issue_type,
           (ARRAY['agent', 'cli', 'api', 'db', 'infra', 'ui', 'ci'])[1 + floor(random() * 7)::integer] AS component,
           (ARRAY['xs', 's', 'm', 'l', 'xl'])[1 + floor(random() * 5)::integer] AS effort,
           CASE WHEN random() < 0.6 THEN 1 WHEN random() < 0.75 THEN 2 ELSE 3 END AS attempts,
           random() < 0.2 AS prod_fails,
           random() < 0.8 AS has_priority_label,
           (ARRAY['ec2-prod-api-1', 'ec2-prod-api-2', 'ecs-prod-web', 'ecs-prod-agents', 'lambda-webhooks'])[1 + floor(random() * 5)::integer] AS prod_resource,
           (5 + random() * 115) * interval '1 minute' AS wait,
           (1 + random() * 4) * interval '1 minute' AS analysis
    FROM generate_series(1, v_issues) AS n;

    -- attempts: code generation then review, one 90-minute slot each after the analysis
    PERFORM 'PRAGMA:TABLE: _sim_attempt (id text, number integer, k integer, is_last boolean, cg_start timestamptz, '
            'cg_end timestamptz, rv_start timestamptz, rv_end timestamptz, commit_sha text)';
    CREATE TEMP TABLE _sim_attempt ON COMMIT DROP AS
    WITH a AS (
        SELECT i.id, i.number, i.attempts, k,
               i.created_at + i.wait + i.analysis + (k - 1) * interval '90 minutes' + (5 + random() * 25) * interval '1 minute' AS cg_start,
               (5 + random() * 35) * interval '1 minute' AS cg_dur,
               (2 + random() * 8) * interval '1 minute' AS rv_gap,
               (2 + random() * 8) * interval '1 minute' AS rv_dur
        FROM _sim_issue AS i
        CROSS JOIN LATERAL generate_series(1, i.attempts) AS k
    )
    SELECT a.id, a.number, a.k, a.k = a.attempts AS is_last,
           a.cg_start, a.cg_start + a.cg_dur AS cg_end,
           a.cg_start + a.cg_dur + a.rv_gap AS rv_start, a.cg_start + a.cg_dur + a.rv_gap + a.rv_dur AS rv_end,
           substr(md5(a.id || ':' || a.k), 1, 40) AS commit_sha
    FROM a;

    -- deployments: staging, production, and a recovery after a failed production deployment
    PERFORM 'PRAGMA:TABLE: _sim_deploy (id text, number integer, seq integer, environment text, resource_id text, '
            'commit_sha text, status text, started_at timestamptz, completed_at timestamptz)';
    CREATE TEMP TABLE _sim_deploy ON COMMIT DROP AS
    WITH last AS (
        SELECT t.id, max(t.rv_end) AS rv_end, max(t.commit_sha) FILTER (WHERE t.is_last) AS commit_sha
        FROM _sim_attempt AS t GROUP BY t.id
    ),
    staging AS (
        SELECT i.id, i.number, i.prod_fails, i.prod_resource, l.commit_sha,
               l.rv_end + (5 + random() * 15) * interval '1 minute' AS s_start,
               (3 + random() * 9) * interval '1 minute' AS s_dur,
               (10 + random() * 50) * interval '1 minute' AS p_gap,
               (3 + random() * 12) * interval '1 minute' AS p_dur,
               (15 + random() * 105) * interval '1 minute' AS r_gap,
               (3 + random() * 12) * interval '1 minute' AS r_dur
        FROM _sim_issue AS i JOIN last AS l ON l.id = i.id
    )
    SELECT s.id, s.number, 1 AS seq, 'staging' AS environment, 'ecs-staging' AS resource_id, s.commit_sha,
           'SUCCESS' AS status, s.s_start AS started_at, s.s_start + s.s_dur AS completed_at
    FROM staging AS s
    UNION ALL
    SELECT s.id, s.number, 2, 'production', s.prod_resource, s.commit_sha,
           CASE WHEN NOT s.prod_fails THEN 'SUCCESS' WHEN random() < 0.5 THEN 'FAILED' ELSE 'ROLLED_BACK' END,
           s.s_start + s.s_dur + s.p_gap, s.s_start + s.s_dur + s.p_gap + s.p_dur
    FROM staging AS s
    UNION ALL
    SELECT s.id, s.number, 3, 'production', s.prod_resource, s.commit_sha, 'SUCCESS',
           s.s_start + s.s_dur + s.p_gap + s.p_dur + s.r_gap, s.s_start + s.s_dur + s.p_gap + s.p_dur + s.r_gap + s.r_dur
    FROM staging AS s
    WHERE s.prod_fails;

    -- agent executions: analysis, each generation and review, each deployment
    PERFORM 'PRAGMA:TABLE: _sim_exec (issue_id text, agent_id text, started_at timestamptz, completed_at timestamptz, '
            'k integer, kind text, failed boolean)';
    CREATE TEMP TABLE _sim_exec ON COMMIT DROP AS
    SELECT x.*, random() < 0.05 AS failed
    FROM (
        SELECT i.id AS issue_id, 'agent-issue' AS agent_id, i.created_at + i.wait AS started_at,
               i.created_at + i.wait + i.analysis AS completed_at, 0 AS k, 'analysis' AS kind
        FROM _sim_issue AS i
        UNION ALL
        SELECT t.id, 'agent-codegen', t.cg_start, t.cg_end, t.k, 'codegen' FROM _sim_attempt AS t
        UNION ALL
        SELECT t.id, 'agent-review', t.rv_start, t.rv_end, t.k, 'review' FROM _sim_attempt AS t
        UNION ALL
        SELECT d.id, 'agent-deployment', d.started_at, d.completed_at, d.seq, 'deploy' FROM _sim_deploy AS d
    ) AS x
    WHERE x.completed_at < v_cut;

    INSERT INTO devflow_src.agent_execution_logs (
        id, issue_id, agent_id, worktree_path, started_at, completed_at, execution_duration_ms, memory_usage_mb,
        cpu_usage_percent, disk_io_mb, api_calls_count, api_errors_count, cache_hit_count, cache_miss_count,
        llm_provider, llm_model, llm_tokens_input, llm_tokens_output, llm_requests_count, llm_cost_usd,
        exit_code, error_count, warning_count, retry_count, error_message, created_at, updated_at
    )
    SELECT v_exec + row_number() OVER (ORDER BY x.started_at, x.issue_id, x.kind, x.k),
           x.issue_id, x.agent_id, '.worktrees/' || lower(x.issue_id), x.started_at, x.completed_at,
           (EXTRACT(EPOCH FROM x.completed_at - x.started_at) * 1000)::bigint,
           200 + floor(random() * 1800)::integer, round((5 + random() * 90)::numeric, 2), floor(random() * 500)::integer,
           5 + floor(random() * 45)::integer, CASE WHEN x.failed THEN 1 + floor(random() * 3)::integer ELSE 0 END,
           floor(random() * 40)::integer, floor(random() * 20)::integer,
           'anthropic', CASE WHEN x.kind IN ('codegen', 'review') THEN 'claude-sonnet-4' ELSE 'claude-haiku-4' END,
           t.tin, t.tout, 1 + floor(random() * 8)::integer,
           round(t.tin * 0.000003 + t.tout * 0.000015, 4),
           CASE WHEN x.failed THEN 1 ELSE 0 END, CASE WHEN x.failed THEN 1 ELSE 0 END, floor(random() * 3)::integer,
           CASE WHEN x.failed THEN 1 ELSE 0 END, CASE WHEN x.failed THEN 'tool call timed out' END,
           x.started_at, COALESCE(p_stamp, x.completed_at)
    FROM _sim_exec AS x
    CROSS JOIN LATERAL (SELECT CASE WHEN x.kind = 'codegen' THEN 8000 + floor(random() * 20000)::integer
                                    ELSE 1000 + floor(random() * 6000)::integer END AS tin,
                               CASE WHEN x.kind = 'codegen' THEN 2000 + floor(random() * 8000)::integer
                                    ELSE 200 + floor(random() * 1500)::integer END AS tout
                        WHERE x.issue_id IS NOT NULL) AS t;

    INSERT INTO devflow_src.code_gen_tasks (
        id, issue_id, agent_id, execution_id, total_files_generated, total_lines_generated, total_functions_generated,
        total_tests_generated, compilation_time_ms, clippy_warnings, clippy_errors, fmt_issues, ai_model_name,
        ai_model_tokens_input, ai_model_tokens_output, ai_generation_cost_usd, ai_prompt_count,
        cyclomatic_complexity_avg, code_duplication_percent, maintainability_index, test_count,
        generation_duration_ms, commit_sha, created_at, updated_at
    )
    SELECT v_cg + row_number() OVER (ORDER BY t.cg_end, t.id, t.k), t.id, 'agent-codegen',
           (SELECT e.id FROM devflow_src.agent_execution_logs AS e
            WHERE e.issue_id = t.id AND e.agent_id = 'agent-codegen' AND e.started_at = t.cg_start LIMIT 1),
           1 + floor(random() * 12)::integer, 20 + floor(random() * 600)::integer, 1 + floor(random() * 30)::integer,
           floor(random() * 15)::integer, 2000 + floor(random() * 60000)::integer,
           CASE WHEN t.is_last AND random() < 0.8 THEN 0 ELSE floor(random() * 6)::integer END,
           0,
           CASE WHEN t.is_last AND random() < 0.85 THEN 0 ELSE floor(random() * 3)::integer END,
           'claude-sonnet-4', tk.tin, tk.tout, round(tk.tin * 0.000003 + tk.tout * 0.000015, 4), 1 + floor(random() * 6)::integer,
           round((2 + random() * 8)::numeric, 2), round((random() * 12)::numeric, 2), round((55 + random() * 40)::numeric, 2),
           floor(random() * 25)::integer, (EXTRACT(EPOCH FROM t.cg_end - t.cg_start) * 1000)::bigint, t.commit_sha,
           t.cg_end, COALESCE(p_stamp, t.cg_end)
    FROM _sim_attempt AS t
    CROSS JOIN LATERAL (SELECT 8000 + floor(random() * 20000)::integer AS tin, 2000 + floor(random() * 8000)::integer AS tout
                        WHERE t.id IS NOT NULL) AS tk
    WHERE t.cg_end < v_cut;

    INSERT INTO devflow_src.review_results (
        id, issue_id, code_gen_task_id, agent_id, review_score, test_coverage_percent, approved, reviewed_at, created_at, updated_at
    )
    SELECT v_rv + row_number() OVER (ORDER BY t.rv_end, t.id, t.k), t.id,
           (SELECT c.id FROM devflow_src.code_gen_tasks AS c WHERE c.issue_id = t.id AND c.commit_sha = t.commit_sha LIMIT 1),
           'agent-review', s.score, s.coverage, s.score >= 0.7, t.rv_end, t.rv_end, COALESCE(p_stamp, t.rv_end)
    FROM _sim_attempt AS t
    CROSS JOIN LATERAL (SELECT CASE WHEN t.is_last THEN round((0.75 + random() * 0.25)::numeric, 2) ELSE round((0.3 + random() * 0.45)::numeric, 2) END AS score,
                               CASE WHEN t.is_last THEN round((62 + random() * 35)::numeric, 2) ELSE round((40 + random() * 40)::numeric, 2) END AS coverage
                        WHERE t.id IS NOT NULL) AS s
    WHERE t.rv_end < v_cut;

    INSERT INTO devflow_src.deployment_pipelines (
        id, pipeline_id, issue_id, agent_id, resource_id, commit_sha, environment, deployment_type, deployment_status,
        started_at, completed_at, deployment_duration_seconds, rollback_count, resource_count, container_count,
        health_check_pass_rate, error_count, warning_count, infrastructure_cost_usd, data_transfer_cost_usd,
        created_at, updated_at
    )
    SELECT v_dp + row_number() OVER (ORDER BY d.started_at, d.id, d.seq),
           'gha-' || d.number || '-' || d.seq, d.id, 'agent-deployment', d.resource_id, d.commit_sha, d.environment,
           CASE WHEN d.environment = 'staging' THEN 'RECREATE' ELSE (ARRAY['BLUE_GREEN', 'CANARY', 'ROLLING'])[1 + floor(random() * 3)::integer] END,
           d.status, d.started_at, d.completed_at, EXTRACT(EPOCH FROM d.completed_at - d.started_at)::integer,
           CASE WHEN d.status = 'ROLLED_BACK' THEN 1 ELSE 0 END, 1 + floor(random() * 5)::integer, 1 + floor(random() * 8)::integer,
           CASE WHEN d.status = 'SUCCESS' THEN round((95 + random() * 5)::numeric, 2) ELSE round((20 + random() * 50)::numeric, 2) END,
           CASE WHEN d.status = 'SUCCESS' THEN 0 ELSE 1 + floor(random() * 10)::integer END, floor(random() * 4)::integer,
           round((0.2 + random() * 4.8)::numeric, 2), round((random() * 0.9)::numeric, 2),
           d.started_at, COALESCE(p_stamp, d.completed_at)
    FROM _sim_deploy AS d
    WHERE d.completed_at < v_cut;

    -- labels: priority (80%), type, component, effort at creation; status labels as work moves on
    PERFORM 'PRAGMA:TABLE: _sim_label (id text, label_name text, action text, changed_at timestamptz)';
    CREATE TEMP TABLE _sim_label ON COMMIT DROP AS
    SELECT x.* FROM (
        SELECT i.id, i.priority AS label_name, 'added' AS action, i.created_at AS changed_at FROM _sim_issue AS i WHERE i.has_priority_label
        UNION ALL SELECT i.id, 'type:' || i.issue_type, 'added', i.created_at + interval '1 second' FROM _sim_issue AS i
        UNION ALL SELECT i.id, 'component:' || i.component, 'added', i.created_at + interval '2 seconds' FROM _sim_issue AS i
        UNION ALL SELECT i.id, 'effort:' || i.effort, 'added', i.created_at + interval '3 seconds' FROM _sim_issue AS i
        UNION ALL SELECT i.id, 'status:in-progress', 'added', i.created_at + i.wait FROM _sim_issue AS i
        UNION ALL SELECT t.id, 'status:review', 'added', t.rv_start FROM _sim_attempt AS t WHERE t.k = 1
        UNION ALL SELECT d.id, 'status:in-progress', 'removed', d.completed_at FROM _sim_deploy AS d WHERE d.environment = 'production' AND d.status = 'SUCCESS'
        UNION ALL SELECT d.id, 'status:deployed', 'added', d.completed_at FROM _sim_deploy AS d WHERE d.environment = 'production' AND d.status = 'SUCCESS'
    ) AS x
    WHERE x.changed_at < v_cut;

    INSERT INTO devflow_src.label_history (id, issue_id, label_name, action, changed_at, updated_at)
    SELECT v_lh + row_number() OVER (ORDER BY l.changed_at, l.id, l.label_name), l.id, l.label_name, l.action, l.changed_at,
           COALESCE(p_stamp, l.changed_at)
    FROM _sim_label AS l;

    INSERT INTO devflow_src.issues (
        id, number, title, description, priority, complexity, issue_type, category, repository, created_by,
        assigned_to, labels, state, created_at, updated_at, closed_at
    )
    SELECT i.id, i.number, initcap(i.issue_type) || ': ' || i.component || ' task #' || i.number,
           'Generated ' || i.issue_type || ' issue for the ' || i.component || ' component.',
           i.priority, i.complexity, i.issue_type, i.component, 'miyabi/miyabi-private', 'shunsuke',
           CASE WHEN i.created_at + i.wait < v_cut THEN 'agent-coordinator' END,
           COALESCE((SELECT array_agg(s.label_name ORDER BY s.added_at, s.label_name)
                     FROM (SELECT DISTINCT ON (l.label_name) l.label_name, l.action, l.changed_at AS added_at
                           FROM _sim_label AS l WHERE l.id = i.id
                           ORDER BY l.label_name, l.changed_at DESC) AS s
                     WHERE s.action = 'added'), '{}'),
           CASE WHEN c.closed_at IS NOT NULL THEN 'closed' ELSE 'open' END,
           i.created_at,
           COALESCE(p_stamp, GREATEST(i.created_at, (SELECT max(l.changed_at) FROM _sim_label AS l WHERE l.id = i.id), c.closed_at)),
           c.closed_at
    FROM _sim_issue AS i
    LEFT JOIN LATERAL (SELECT min(d.completed_at) AS closed_at FROM _sim_deploy AS d
                       WHERE d.id = i.id AND d.environment = 'production' AND d.status = 'SUCCESS' AND d.completed_at < v_cut) AS c ON true
    WHERE i.created_at < v_cut;

    INSERT INTO devflow_src.worktree_states (
        id, worktree_path, branch_name, base_branch, status, associated_issue_id, associated_pr_number, created_by,
        purpose, created_at, last_used_at, cleaned_up_at, updated_at
    )
    SELECT v_wt + row_number() OVER (ORDER BY w.created_at, w.id), '.worktrees/' || lower(w.id), 'issue-' || w.number, 'main',
           CASE WHEN w.closed_at IS NOT NULL THEN 'merged' ELSE 'active' END, w.id,
           CASE WHEN w.first_cg < v_cut THEN 1000 + w.number END, 'agent-coordinator', 'Work on issue #' || w.number,
           w.created_at, w.last_used, w.closed_at, COALESCE(p_stamp, GREATEST(w.last_used, w.closed_at, w.created_at))
    FROM (
        SELECT i.id, i.number, i.created_at + i.wait AS created_at,
               (SELECT min(t.cg_end) FROM _sim_attempt AS t WHERE t.id = i.id) AS first_cg,
               (SELECT max(x.completed_at) FROM _sim_exec AS x WHERE x.issue_id = i.id) AS last_used,
               (SELECT min(d.completed_at) FROM _sim_deploy AS d
                WHERE d.id = i.id AND d.environment = 'production' AND d.status = 'SUCCESS' AND d.completed_at < v_cut) AS closed_at
        FROM _sim_issue AS i
    ) AS w
    WHERE w.created_at < v_cut;

    -- GitHub pull requests (one per issue, opened with its first generated commit), as the API returns them
    SELECT jsonb_agg(jsonb_build_object(
               'url', 'https://api.github.com/repos/miyabi/miyabi-private/pulls/' || (1000 + p.number),
               'number', 1000 + p.number,
               'state', CASE WHEN p.merged_at IS NOT NULL THEN 'closed' ELSE 'open' END,
               'title', 'Resolve issue #' || p.number,
               'body', 'Closes #' || p.number || E'\n\nGenerated by agent-codegen.',
               'draft', false,
               'merged', p.merged_at IS NOT NULL,
               'user', jsonb_build_object('login', 'miyabi-codegen[bot]', 'type', 'Bot'),
               'head', jsonb_build_object('ref', 'issue-' || p.number, 'sha', p.sha),
               'base', jsonb_build_object('ref', 'main'),
               'additions', p.additions, 'deletions', p.deletions, 'changed_files', p.files,
               'created_at', to_char(p.opened_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
               'updated_at', to_char(GREATEST(p.opened_at, p.merged_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
               'closed_at', to_char(p.merged_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
               'merged_at', to_char(p.merged_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
               'html_url', 'https://github.com/miyabi/miyabi-private/pull/' || (1000 + p.number))
           ORDER BY p.number)
    INTO v_prs
    FROM (
        SELECT i.number,
               min(t.cg_end) AS opened_at,
               max(t.commit_sha) FILTER (WHERE t.is_last) AS sha,
               (SELECT min(d.completed_at) FROM _sim_deploy AS d
                WHERE d.id = i.id AND d.environment = 'production' AND d.status = 'SUCCESS' AND d.completed_at < v_cut) AS merged_at,
               10 + floor(random() * 600)::integer AS additions, floor(random() * 200)::integer AS deletions,
               1 + floor(random() * 12)::integer AS files
        FROM _sim_issue AS i
        JOIN _sim_attempt AS t ON t.id = i.id AND t.cg_end < v_cut
        GROUP BY i.id, i.number
    ) AS p;
    IF v_prs IS NOT NULL THEN
        INSERT INTO devflow_src.api_payloads (feed, source, payload, received_at)
        VALUES ('github_pulls', 'github', v_prs, COALESCE(p_stamp, LEAST(p_to, v_cut - interval '1 second')));
    END IF;

    DROP TABLE _sim_issue, _sim_attempt, _sim_deploy, _sim_exec, _sim_label;
END;
$$;
COMMENT ON PROCEDURE devflow_src._simulate(timestamptz, timestamptz, timestamptz, timestamptz) IS 'Generate the devflow activity of the issues created in [p_from, p_to) (events at or after p_cutoff not yet).';
