-- Everything `dwh status` prints, as one json document: each key holds a list of rows. json, not jsonb,
-- so each row keeps its columns in the order written here (the CLI prints them in that order).
-- The return type changed from jsonb to json: CREATE OR REPLACE cannot change it, so drop first
-- (nothing depends on this function).
DROP FUNCTION IF EXISTS dwh_etl.status_report(integer);
CREATE OR REPLACE FUNCTION dwh_etl.status_report(
    p_runs integer DEFAULT 5
)
RETURNS json
LANGUAGE sql
STABLE
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
        SELECT qm.table_name AS "table", qm.metric_name AS "check", qm.metric_value AS value,
               qm.threshold, qm.measured_at, qm.run_id
        FROM dwh_lineage.quality_metrics AS qm
        WHERE NOT qm.passed
          AND qm.measured_at > clock_timestamp() - interval '7 days'
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
        'failed_checks', COALESCE((SELECT json_agg(to_json(q) ORDER BY q.measured_at DESC) FROM failed_checks AS q), '[]'::json)
    );
$$;
COMMENT ON FUNCTION dwh_etl.status_report(integer) IS 'Status of the warehouse as json: pipelines, recent runs, steps of the latest runs, watermarks, freshness, failed checks (what dwh status prints).';
