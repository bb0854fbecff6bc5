-- The metric sample elements of bronze, unpacked to silver's column names (as text) from _raw_payload;
-- _metrics_type is the JSON type of "metrics" (the silver step quarantines anything but an object).
CREATE OR REPLACE VIEW devflow._bronze_metric_samples AS
SELECT b._bronze_id,
       b._ingested_at,
       b.resource_id,
       b.timestamp AS measured_at,
       b.namespace,
       b.period    AS measurement_interval_seconds,
       m->>'cpu_utilization_percent'          AS cpu_utilization_percent,
       m->>'memory_utilization_percent'       AS memory_utilization_percent,
       m->>'disk_usage_percent'               AS disk_usage_percent,
       m->>'disk_io_mbps'                     AS disk_io_mbps,
       m->>'network_in_mbps'                  AS network_in_mbps,
       m->>'network_out_mbps'                 AS network_out_mbps,
       m->>'request_count'                    AS request_count,
       m->>'request_rate_per_sec'             AS request_rate_per_sec,
       m->>'error_count'                      AS error_count,
       m->>'p50_latency_ms'                   AS p50_latency_ms,
       m->>'p90_latency_ms'                   AS p90_latency_ms,
       m->>'p95_latency_ms'                   AS p95_latency_ms,
       m->>'p99_latency_ms'                   AS p99_latency_ms,
       m->>'max_latency_ms'                   AS max_latency_ms,
       m->>'db_connection_count'              AS db_connection_count,
       m->>'db_connection_pool_usage_percent' AS db_connection_pool_usage_percent,
       m->>'db_query_count'                   AS db_query_count,
       m->>'db_query_time_avg_ms'             AS db_query_time_avg_ms,
       m->>'db_query_time_p95_ms'             AS db_query_time_p95_ms,
       m->>'db_deadlock_count'                AS db_deadlock_count,
       m->>'db_slow_query_count'              AS db_slow_query_count,
       m->>'cache_hit_count'                  AS cache_hit_count,
       m->>'cache_miss_count'                 AS cache_miss_count,
       m->>'cache_eviction_count'             AS cache_eviction_count,
       m->>'cache_size_mb'                    AS cache_size_mb,
       -- ISO UTC text: a plain ::text follows the session's DateStyle ('SQL, DMY' made every sample invalid)
       to_char(b._ingested_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS updated_at,
       -- the JSON type of "metrics": a string used to load as a sample with every metric NULL
       jsonb_typeof(b._raw_payload->'metrics') AS _metrics_type,
       b.metrics                              AS _metrics_text
FROM bronze.devflow_metric_samples AS b
CROSS JOIN LATERAL (SELECT CASE WHEN jsonb_typeof(b._raw_payload->'metrics') = 'object' THEN b._raw_payload->'metrics' END) AS x (m);
COMMENT ON VIEW devflow._bronze_metric_samples IS 'bronze.devflow_metric_samples unpacked for the silver step devflow_silver_metrics (dwh_etl.step_silver).';
