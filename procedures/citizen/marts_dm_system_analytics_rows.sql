-- The rows of citizen.dm_system_analytics (day x hour) for one day, and the view its mart step reads
-- (kind mart, table form, queue dwh_staging.citizen_affected_days_system). Formulas (docs/CITIZEN.md):
--   total_requests        queries of every service in the hour (hour of queried_at in citizen.timezone:
--                         the fact's time_key)
--   avg_response_time_ms  avg(response_time_ms) of the hour's queries that report one
--   error_rate            100 * failed queries / total_requests
--   throughput_rps        total_requests / 3600
--   cpu / memory / disk   avg of the hour's cpu_usage_percent / memory_usage_percent / disk_usage_percent
--                         rows of fct_system_performance: no source carries host metrics today (the
--                         metrics are defined, inactive), so these are NULL until a feed writes them.
CREATE OR REPLACE FUNCTION citizen.marts_system_analytics(
    p_date_key integer
)
RETURNS TABLE (
    date_key             integer,
    time_key             integer,
    total_requests       bigint,
    avg_response_time_ms numeric(10,2),
    error_rate           numeric(5,2),
    throughput_rps       numeric(12,4),
    cpu_usage_percent    numeric(5,2),
    memory_usage_percent numeric(5,2),
    disk_usage_percent   numeric(5,2)
)
LANGUAGE sql
STABLE
SET search_path = citizen, pg_temp
AS $$
    WITH hours AS (
        SELECT q.time_key / 10000 * 10000 AS time_key,
               count(*) AS total_requests,
               count(*) FILTER (WHERE NOT q.success_flag) AS failed,
               avg(q.response_time_ms) AS avg_response_time_ms
        FROM citizen.fct_service_queries AS q
        WHERE q.date_key = p_date_key
        GROUP BY q.time_key / 10000
    ),
    host AS (
        SELECT p.time_key,
               avg(p.metric_value) FILTER (WHERE p.metric_type = 'cpu_usage_percent') AS cpu,
               avg(p.metric_value) FILTER (WHERE p.metric_type = 'memory_usage_percent') AS memory,
               avg(p.metric_value) FILTER (WHERE p.metric_type = 'disk_usage_percent') AS disk
        FROM citizen.fct_system_performance AS p
        WHERE p.date_key = p_date_key
          AND p.metric_type IN ('cpu_usage_percent', 'memory_usage_percent', 'disk_usage_percent')
        GROUP BY p.time_key
    )
    SELECT p_date_key,
           h.time_key,
           h.total_requests,
           round(h.avg_response_time_ms, 2)::numeric(10,2),
           round(100.0 * h.failed / h.total_requests, 2)::numeric(5,2),
           round(h.total_requests / 3600.0, 4)::numeric(12,4),
           round(x.cpu, 2)::numeric(5,2),
           round(x.memory, 2)::numeric(5,2),
           round(x.disk, 2)::numeric(5,2)
    FROM hours AS h
    LEFT JOIN host AS x
      ON x.time_key = h.time_key;
$$;
COMMENT ON FUNCTION citizen.marts_system_analytics(integer) IS 'The rows of citizen.dm_system_analytics for one day (formulas in the header and docs/CITIZEN.md).';
REVOKE EXECUTE ON FUNCTION citizen.marts_system_analytics(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION citizen.marts_system_analytics(integer) TO etl_service;

CREATE OR REPLACE VIEW silver.citizen_dm_system_analytics_rows AS
SELECT d.date_key, r.time_key, r.total_requests, r.avg_response_time_ms, r.error_rate, r.throughput_rps,
       r.cpu_usage_percent, r.memory_usage_percent, r.disk_usage_percent
FROM gold.dim_date AS d
CROSS JOIN LATERAL citizen.marts_system_analytics(d.date_key) AS r;
COMMENT ON VIEW silver.citizen_dm_system_analytics_rows IS 'The rows of citizen.dm_system_analytics (day x hour), for its mart step, which reads the queued days only.';
REVOKE ALL ON silver.citizen_dm_system_analytics_rows FROM PUBLIC;
GRANT SELECT ON silver.citizen_dm_system_analytics_rows TO etl_service;
