-- The rows of citizen.fct_system_performance (metric x service x hour) for one day, and the view its mart
-- step reads (kind mart, table form, queue dwh_staging.citizen_perf_days, filled by
-- citizen.marts_queue_engine_days). Two sources, one row per metric, service and hour:
--  * the portal, from fct_service_queries per service and hour (time_key's hour, citizen.timezone):
--      request_count     queries
--      response_time_ms  avg(response_time_ms) of those that report one (no row when none does)
--      throughput_rps    queries / 3600
--      error_rate        100 * failed / queries
--  * the warehouse measuring itself, from dwh_lineage.step_runs: the citizen area's steps (dwh_etl.steps
--    area 'citizen') that finished (completed or failed) in the hour, service_key NULL:
--      etl_step_seconds  sum of their durations, in seconds (details: seconds per step)
--      etl_step_runs     how many finished
--      etl_failed_steps  how many failed
--    A step still running is measured once it has finished, by a later run (its day is queued then).
-- Each value is judged against its metric's thresholds (citizen.kpi_status); inactive metrics are not
-- written.
CREATE OR REPLACE FUNCTION citizen.marts_system_performance(
    p_date_key integer
)
RETURNS TABLE (
    date_key           integer,
    time_key           integer,
    service_key        bigint,
    quality_metric_key integer,
    metric_type        text,
    metric_value       numeric(14,4),
    unit               text,
    threshold_value    numeric(14,4),
    status             text,
    details            jsonb
)
LANGUAGE sql
STABLE
SET search_path = citizen, pg_temp
AS $$
    WITH zone AS (
        SELECT dwh_etl.setting_timezone('citizen.timezone', 'Asia/Kolkata') AS name,
               to_date(p_date_key::text, 'YYYYMMDD') AS day
    ),
    portal AS (
        SELECT q.service_key, q.time_key / 10000 * 10000 AS time_key,
               count(*) AS queries,
               count(*) FILTER (WHERE NOT q.success_flag) AS failed,
               count(q.response_time_ms) AS timed,
               avg(q.response_time_ms) AS avg_response_time_ms
        FROM citizen.fct_service_queries AS q
        WHERE q.date_key = p_date_key
        GROUP BY q.service_key, q.time_key / 10000
    ),
    steps AS (
        SELECT (EXTRACT(HOUR FROM sr.completed_at AT TIME ZONE z.name) * 10000)::integer AS time_key,
               sr.step_name,
               sum(COALESCE(sr.duration_ms, EXTRACT(EPOCH FROM sr.completed_at - sr.started_at) * 1000)) / 1000.0 AS seconds,
               count(*) FILTER (WHERE sr.status = 'failed') AS failed,
               count(*) AS runs
        FROM zone AS z
        JOIN dwh_lineage.step_runs AS sr
          ON sr.completed_at >= z.day::timestamp AT TIME ZONE z.name
         AND sr.completed_at < (z.day + 1)::timestamp AT TIME ZONE z.name
        JOIN dwh_lineage.pipeline_runs AS pr
          ON pr.run_id = sr.run_id
        WHERE sr.status IN ('completed', 'failed')
          AND EXISTS (SELECT 1 FROM dwh_etl.steps AS st
                      WHERE st.pipeline_name = pr.pipeline_name AND st.step_name = sr.step_name AND st.area = 'citizen')
        GROUP BY 1, sr.step_name
    ),
    measured (time_key, service_key, metric_code, value, details) AS (
        SELECT p.time_key, p.service_key, m.code, m.value,
               jsonb_build_object('queries', p.queries, 'failed', p.failed, 'timed', p.timed)
        FROM portal AS p
        CROSS JOIN LATERAL (VALUES
            ('request_count', p.queries::numeric),
            ('response_time_ms', round(p.avg_response_time_ms, 4)),
            ('throughput_rps', round(p.queries / 3600.0, 4)),
            ('error_rate', round(100.0 * p.failed / p.queries, 4))
        ) AS m (code, value)
        WHERE m.value IS NOT NULL
        UNION ALL
        SELECT s.time_key, NULL::bigint, m.code, m.value, s.details
        FROM (SELECT st.time_key,
                     sum(st.seconds) AS seconds,
                     sum(st.failed) AS failed,
                     sum(st.runs) AS runs,
                     jsonb_object_agg(st.step_name, round(st.seconds, 3)) AS details
              FROM steps AS st
              GROUP BY st.time_key) AS s
        CROSS JOIN LATERAL (VALUES
            ('etl_step_seconds', round(s.seconds, 4)),
            ('etl_step_runs', s.runs::numeric),
            ('etl_failed_steps', s.failed::numeric)
        ) AS m (code, value)
    )
    SELECT p_date_key,
           x.time_key,
           x.service_key,
           dm.quality_metric_key,
           dm.metric_code,
           x.value::numeric(14,4),
           dm.measurement_unit,
           dm.threshold_good,
           citizen.kpi_status(x.value, dm.higher_is_better, dm.threshold_good, dm.threshold_warning),
           x.details
    FROM measured AS x
    JOIN citizen.dim_quality_metric AS dm
      ON dm.metric_code = x.metric_code
    WHERE dm.is_active;
$$;
COMMENT ON FUNCTION citizen.marts_system_performance(integer) IS 'The rows of citizen.fct_system_performance for one day: the portal''s metrics per service and hour from fct_service_queries, the citizen steps'' time and failures per hour from dwh_lineage.step_runs (formulas in the header and docs/CITIZEN.md).';
REVOKE EXECUTE ON FUNCTION citizen.marts_system_performance(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION citizen.marts_system_performance(integer) TO etl_service;

CREATE OR REPLACE VIEW silver.citizen_fct_system_performance_rows AS
SELECT d.date_key, r.time_key, r.service_key, r.quality_metric_key, r.metric_type, r.metric_value, r.unit,
       r.threshold_value, r.status, r.details
FROM gold.dim_date AS d
CROSS JOIN LATERAL citizen.marts_system_performance(d.date_key) AS r;
COMMENT ON VIEW silver.citizen_fct_system_performance_rows IS 'The rows of citizen.fct_system_performance (metric x service x hour), for its mart step, which reads the queued days only.';
REVOKE ALL ON silver.citizen_fct_system_performance_rows FROM PUBLIC;
GRANT SELECT ON silver.citizen_fct_system_performance_rows TO etl_service;
