-- Seed 000 F5 key metric "System Health Score", per day (time_key) and resource: the percent of the
-- day's metric samples that are healthy, a sample being healthy when every measure it has is within
-- bounds: CPU < 85 %, memory < 90 %, disk < 90 %, error rate < 5 %, p95 latency < 1000 ms (a measure the
-- sample lacks does not count against it). Seed 003's system health (citizen.kpi_system_health) is the
-- same idea: share of judgements that are good. With the day's averages it is judged from.
CREATE OR REPLACE VIEW devflow.kpi_system_health AS
WITH judged AS (
    SELECT f.time_key,
           f.resource_id,
           f.infrastructure_key,
           f.cpu_utilization_percent,
           f.memory_utilization_percent,
           f.error_rate,
           f.p95_latency_ms,
           COALESCE(f.cpu_utilization_percent < 85, true)
           AND COALESCE(f.memory_utilization_percent < 90, true)
           AND COALESCE(f.disk_usage_percent < 90, true)
           AND COALESCE(f.error_rate < 0.05, true)
           AND COALESCE(f.p95_latency_ms < 1000, true) AS is_healthy
    FROM devflow.fact_performance_metrics AS f
)
SELECT j.time_key,
       j.resource_id,
       i.resource_type,
       count(*)                                                          AS samples,
       round(100.0 * count(*) FILTER (WHERE j.is_healthy) / count(*), 2) AS health_score,
       round(avg(j.cpu_utilization_percent), 2)                          AS avg_cpu_percent,
       round(avg(j.memory_utilization_percent), 2)                       AS avg_memory_percent,
       round(avg(j.error_rate) * 100, 4)                                 AS avg_error_rate_percent,
       max(j.p95_latency_ms)                                             AS max_p95_latency_ms
FROM judged AS j
LEFT JOIN devflow.dim_infrastructure AS i
  ON i.infrastructure_key = j.infrastructure_key
GROUP BY j.time_key, j.resource_id, i.resource_type;
COMMENT ON VIEW devflow.kpi_system_health IS 'Seed 000 system health score per day and resource: percent of metric samples within bounds (CPU < 85, memory < 90, disk < 90 percent, error rate < 5 percent, p95 < 1000 ms).';
REVOKE ALL ON devflow.kpi_system_health FROM PUBLIC;
GRANT SELECT ON devflow.kpi_system_health TO analyst_role, etl_service;
