-- Everything `dwh status` prints, as one json document: each key holds a list of rows. json, not jsonb,
-- so each row keeps its columns in the order written here (the CLI prints them in that order).
-- The return type changed from jsonb to json: CREATE OR REPLACE cannot change it, so drop first
-- (nothing depends on this function).
-- Scheduling sections: schedule (each pipeline's cron expressions and their pg_cron job), cron_health,
-- missed_schedules and stale_runs. A pipeline missed its schedule when its last expected fire time
-- before now() - setting schedule.grace (default 1 hour), computed from its cron expressions
-- (dwh_etl._cron_prev, UTC) and later than its registration, has no successful run started at or after
-- it. A stale run is marked 'running' but its backend is gone, or its pid belongs to a session started
-- after the run (a crash restart reuses pids; the next run closes it as failed). An
-- interrupted run is marked 'running', its session alive and idle (it holds the lock). window_blockers:
-- open transactions holding every load window back (dwh_etl.window_blockers). held_back_runs: the latest
-- run of a pipeline whose steps' windows stopped early (metrics windows_held_back): rows wait for the next run.
-- Not STABLE: reaching pg_cron may go through dblink.
DROP FUNCTION IF EXISTS dwh_etl.status_report(integer);
CREATE OR REPLACE FUNCTION dwh_etl.status_report(
    p_runs integer DEFAULT 5
)
RETURNS json
LANGUAGE sql
VOLATILE
SET search_path = dwh_etl, pg_temp
AS $$
    WITH ranked_runs AS (
        SELECT pr.*,
               row_number() OVER (PARTITION BY pr.pipeline_name ORDER BY pr.run_id DESC) AS rn,
               row_number() OVER (PARTITION BY pr.pipeline_name
                                  ORDER BY (pr.status = 'skipped'), pr.run_id DESC) AS worked_rn
        FROM dwh_lineage.pipeline_runs AS pr
    ),
    pipelines AS (
        SELECT p.pipeline_name AS pipeline,
               array_to_string(p.schedules, ' | ') AS schedule_utc,
               (SELECT count(*) FROM dwh_etl.steps AS s WHERE s.pipeline_name = p.pipeline_name AND s.is_enabled) AS steps,
               r.status AS last_status,
               r.run_id AS last_run_id,
               r.started_at AS last_started_at,
               (SELECT max(x.completed_at) FROM dwh_lineage.pipeline_runs AS x
                WHERE x.pipeline_name = p.pipeline_name AND x.status = 'completed') AS last_success_at
        FROM dwh_etl.pipelines AS p
        LEFT JOIN ranked_runs AS r
          ON r.pipeline_name = p.pipeline_name
         AND r.rn = 1
    ),
    runs AS (
        SELECT r.run_id, r.pipeline_name AS pipeline, r.run_date, r.status, r.started_at,
               round(EXTRACT(EPOCH FROM (COALESCE(r.completed_at, clock_timestamp()) - r.started_at))::numeric, 1) AS duration_s,
               (r.metrics->>'rows_written')::bigint AS rows_written,
               r.error_message AS error
        FROM ranked_runs AS r
        WHERE r.rn <= p_runs
    ),
    latest_steps AS (
        SELECT r.pipeline_name AS pipeline, sr.run_id, sr.step_name AS step, sr.status,
               sr.rows_read, sr.rows_written, sr.duration_ms,
               sr.error_message AS error
        FROM ranked_runs AS r
        JOIN dwh_lineage.step_runs AS sr
          ON sr.run_id = r.run_id
        WHERE r.worked_rn = 1
    ),
    freshness AS (
        SELECT tr.table_name AS "table", tr.layer, tr.area,
               max(tl.completed_at) AS last_loaded_at,
               date_trunc('second', clock_timestamp() - max(tl.completed_at)) AS age
        FROM dwh_etl.table_registry AS tr
        LEFT JOIN dwh_lineage.table_lineage AS tl
          ON tl.target_table = tr.table_name
        WHERE tr.layer <> 'source'
        GROUP BY tr.table_name, tr.layer, tr.area
    ),
    failed_checks AS (
        -- rules failing now: their latest evaluation (of the last 7 days) failed
        SELECT l.* FROM (
            SELECT DISTINCT ON (qm.table_name, qm.metric_name)
                   qm.table_name AS "table", qm.metric_name AS "check", qm.metric_value AS value,
                   qm.threshold, qm.measured_at, qm.run_id, qm.severity, qm.failing_sample AS sample, qm.passed
            FROM dwh_lineage.quality_metrics AS qm
            WHERE qm.measured_at > clock_timestamp() - interval '7 days'
            ORDER BY qm.table_name, qm.metric_name, qm.measured_at DESC, qm.id DESC
        ) AS l
        WHERE NOT l.passed
    ),
    cron_jobs AS MATERIALIZED (
        SELECT j.* FROM dwh_etl.sec_schedule_jobs(p_quiet => true) AS j
    ),
    registry_schedules AS (
        SELECT p.pipeline_name, p.is_active, p.created_at, btrim(s.expr) AS expr,
               'dwh:' || p.pipeline_name || CASE WHEN s.n > 1 THEN ':' || s.n ELSE '' END AS job_name
        FROM dwh_etl.pipelines AS p
        CROSS JOIN LATERAL unnest(p.schedules) WITH ORDINALITY AS s (expr, n)
    ),
    schedule AS (
        SELECT rs.pipeline_name AS pipeline, COALESCE(rs.expr, j.schedule) AS schedule_utc,
               COALESCE(rs.job_name, j.job_name) AS job_name,
               rs.is_active AS pipeline_active,
               j.jobid IS NOT NULL AS job_exists,
               j.active AS job_active,
               CASE WHEN rs.expr IS NULL THEN 'not in the registry: dwh schedule sync removes it'
                    WHEN NOT dwh_etl._cron_valid(rs.expr) THEN 'invalid cron expression'
                    WHEN NOT rs.is_active AND j.jobid IS NULL THEN 'pipeline inactive'
                    WHEN NOT rs.is_active THEN 'pipeline inactive: dwh schedule sync removes the job'
                    WHEN j.jobid IS NULL THEN 'no job: dwh schedule sync'
                    WHEN j.schedule <> rs.expr OR NOT j.active THEN 'job differs: dwh schedule sync'
                    ELSE 'ok' END AS state,
               j.next_run_at,
               j.last_start AS last_job_start,
               j.last_status AS last_job_status
        FROM registry_schedules AS rs
        FULL JOIN cron_jobs AS j
          ON j.job_name = rs.job_name
    ),
    expected AS (
        SELECT rs.pipeline_name,
               string_agg(rs.expr, ' | ' ORDER BY rs.job_name) AS schedule_utc,
               max(CASE WHEN dwh_etl._cron_valid(rs.expr)
                        THEN dwh_etl._cron_prev(rs.expr, clock_timestamp() - dwh_etl.get_setting('schedule.grace', '1 hour')::interval)
                   END) AS expected_at,
               min(rs.created_at) AS created_at
        FROM registry_schedules AS rs
        WHERE rs.is_active
        GROUP BY rs.pipeline_name
    ),
    missed_schedules AS (
        SELECT e.pipeline_name AS pipeline, e.schedule_utc, e.expected_at,
               ls.last_success_started_at,
               date_trunc('second', clock_timestamp() - e.expected_at) AS overdue_by
        FROM expected AS e
        LEFT JOIN LATERAL (
            SELECT max(pr.started_at) AS last_success_started_at
            FROM dwh_lineage.pipeline_runs AS pr
            WHERE pr.pipeline_name = e.pipeline_name
              AND pr.status = 'completed'
        ) AS ls ON true
        WHERE e.expected_at > e.created_at
          AND (ls.last_success_started_at IS NULL OR ls.last_success_started_at < e.expected_at)
    ),
    stale_runs AS (
        SELECT pr.run_id, pr.pipeline_name AS pipeline, pr.run_date, pr.started_at, pr.backend_pid,
               date_trunc('second', clock_timestamp() - pr.started_at) AS running_for
        FROM dwh_lineage.pipeline_runs AS pr
        WHERE pr.status = 'running'
          AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity AS a
                          WHERE a.pid = pr.backend_pid
                            -- a session started after the run is another one that got its pid (a crash
                            -- restart, pid wrap-around); NULL: another role's session, assume it is the run's
                            AND (a.backend_start IS NULL OR a.backend_start <= pr.started_at))
    ),
    held_back_runs AS (
        -- the latest run of each pipeline (skipped ones aside) whose steps' load windows stopped early
        -- (dwh_etl.window_bounds: an open transaction, or a dimension/reference load with rows pending):
        -- it completed, and the rows past those windows wait for the next run (nothing lost, but not
        -- loaded yet: a `dwh run daily --select` of a fact alone, a long analyst transaction)
        SELECT r.run_id, r.pipeline_name AS pipeline, r.run_date, r.status,
               (SELECT string_agg(DISTINCT e, ', ') FROM jsonb_array_elements_text(r.metrics->'windows_held_back') AS e) AS steps,
               r.metrics->'window_held_back_by' AS held_back_by
        FROM ranked_runs AS r
        WHERE r.worked_rn = 1
          AND jsonb_typeof(r.metrics->'windows_held_back') = 'array'
          AND jsonb_array_length(r.metrics->'windows_held_back') > 0
    ),
    interrupted_runs AS (
        -- marked 'running', its session alive but no longer running it (a CALL interrupted outside a
        -- step): the session still holds the pipeline's lock until it runs it again or ends
        SELECT pr.run_id, pr.pipeline_name AS pipeline, pr.started_at, pr.backend_pid, a.state,
               a.state_change AS since
        FROM dwh_lineage.pipeline_runs AS pr
        JOIN pg_catalog.pg_stat_activity AS a
          ON a.pid = pr.backend_pid
         AND (a.backend_start IS NULL OR a.backend_start <= pr.started_at)
        WHERE pr.status = 'running'
          AND a.state IS DISTINCT FROM 'active'
          AND a.pid <> pg_backend_pid()
    )
    SELECT json_build_object(
        'pipelines',     COALESCE((SELECT json_agg(to_json(p) ORDER BY p.pipeline) FROM pipelines AS p), '[]'::json),
        'recent_runs',   COALESCE((SELECT json_agg(to_json(r) ORDER BY r.pipeline, r.run_id DESC) FROM runs AS r), '[]'::json),
        'last_run_steps', COALESCE((SELECT json_agg(to_json(s) ORDER BY s.pipeline, s.run_id, sr_order.step_order)
                                    FROM latest_steps AS s
                                    JOIN dwh_lineage.step_runs AS sr_order
                                      ON sr_order.run_id = s.run_id AND sr_order.step_name = s.step), '[]'::json),
        'watermarks',    COALESCE((SELECT json_agg(json_build_object(
                                        'table', w.table_name, 'column', w.watermark_column,
                                        'value', w.watermark_value, 'updated_at', w.updated_at) ORDER BY w.table_name)
                                   FROM dwh_etl.watermarks AS w), '[]'::json),
        'freshness',     COALESCE((SELECT json_agg(to_json(f) ORDER BY f.area, f.layer, f."table") FROM freshness AS f), '[]'::json),
        'failed_checks', COALESCE((SELECT json_agg(json_build_object(
                                       'table', q."table", 'check', q."check", 'value', q.value,
                                       'threshold', q.threshold, 'measured_at', q.measured_at, 'run_id', q.run_id,
                                       'severity', q.severity, 'sample', q.sample) ORDER BY q.measured_at DESC)
                                   FROM failed_checks AS q), '[]'::json),
        'freshness_sla', COALESCE((SELECT json_agg(to_json(f)) FROM dwh_etl.freshness_sla() AS f), '[]'::json),
        'schedule',      COALESCE((SELECT json_agg(to_json(s) ORDER BY s.pipeline NULLS LAST, s.job_name) FROM schedule AS s), '[]'::json),
        'cron_health',   COALESCE((SELECT json_agg(to_json(h)) FROM dwh_etl._cron_health() AS h), '[]'::json),
        'missed_schedules', COALESCE((SELECT json_agg(to_json(m) ORDER BY m.pipeline) FROM missed_schedules AS m), '[]'::json),
        'stale_runs',    COALESCE((SELECT json_agg(to_json(r) ORDER BY r.run_id) FROM stale_runs AS r), '[]'::json),
        'interrupted_runs', COALESCE((SELECT json_agg(to_json(r) ORDER BY r.run_id) FROM interrupted_runs AS r), '[]'::json),
        'window_blockers', COALESCE((SELECT json_agg(to_json(b) ORDER BY b.xact_start) FROM dwh_etl.window_blockers() AS b), '[]'::json),
        'sources',       COALESCE((SELECT json_agg(to_json(s) ORDER BY s.source_name) FROM dwh_etl.source_status() AS s), '[]'::json),
        'held_back_runs', COALESCE((SELECT json_agg(to_json(h) ORDER BY h.pipeline) FROM held_back_runs AS h), '[]'::json)
    );
$$;
COMMENT ON FUNCTION dwh_etl.status_report(integer) IS 'Status of the warehouse as json: pipelines, recent runs, steps of the latest runs, watermarks, freshness, failing checks, freshness SLAs, schedule, cron health, missed schedules, stale and interrupted runs, sessions holding load windows back, latest runs whose windows stopped early (what dwh status prints).';
