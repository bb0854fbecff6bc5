-- The rows of devflow.fact_performance_metrics, for the fact step (dwh_etl.step_fact,
-- registry/devflow.sql): one per resource and sample, with the seed's defaults; time_key (the UTC date
-- of the sample) is also the partition key. In silver: analysts never read silver.
CREATE OR REPLACE VIEW silver.devflow_fact_performance_metrics_rows AS
SELECT devflow._time_key(m.measured_at) AS time_key,
       m.resource_id,
       m.cpu_utilization_percent,
       m.memory_utilization_percent,
       m.disk_usage_percent,
       m.disk_io_mbps,
       m.network_in_mbps,
       m.network_out_mbps,
       COALESCE(m.request_count, 0) AS request_count,
       m.request_rate_per_sec,
       COALESCE(m.error_count, 0) AS error_count,
       m.p50_latency_ms,
       m.p90_latency_ms,
       m.p95_latency_ms,
       m.p99_latency_ms,
       m.max_latency_ms,
       COALESCE(m.db_connection_count, 0) AS db_connection_count,
       m.db_connection_pool_usage_percent,
       COALESCE(m.db_query_count, 0) AS db_query_count,
       m.db_query_time_avg_ms,
       m.db_query_time_p95_ms,
       COALESCE(m.db_deadlock_count, 0) AS db_deadlock_count,
       COALESCE(m.db_slow_query_count, 0) AS db_slow_query_count,
       COALESCE(m.cache_hit_count, 0) AS cache_hit_count,
       COALESCE(m.cache_miss_count, 0) AS cache_miss_count,
       COALESCE(m.cache_eviction_count, 0) AS cache_eviction_count,
       m.cache_size_mb,
       m.measured_at,
       m.measurement_interval_seconds,
       m._loaded_at,
       m._source_bronze_id
FROM silver.devflow_metric_samples AS m;
COMMENT ON VIEW silver.devflow_fact_performance_metrics_rows IS 'Fact rows of devflow.fact_performance_metrics (fact step devflow_fact_performance_metrics): metric samples, seed defaults applied.';
GRANT SELECT ON silver.devflow_fact_performance_metrics_rows TO etl_service;
