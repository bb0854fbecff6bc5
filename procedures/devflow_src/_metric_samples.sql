-- One metric payload per 5-minute tick in [p_from, p_to): a JSON array with a sample of every resource
-- of the inventory, as the Prometheus / CloudWatch collectors export them. Received a minute after the
-- tick (or at p_stamp), never at or after p_cutoff, as the collector reports it: the inbox's trigger
-- zz_dwh_arrival replaces received_at with the time the row is written (arrival order, issue 9).
CREATE OR REPLACE PROCEDURE devflow_src._metric_samples(
    p_from   timestamptz,
    p_to     timestamptz,
    p_stamp  timestamptz DEFAULT NULL,
    p_cutoff timestamptz DEFAULT NULL
)
LANGUAGE plpgsql
SET search_path = devflow_src, pg_temp
AS $$
BEGIN
    INSERT INTO devflow_src.api_payloads (feed, source, payload, received_at)
    SELECT 'metrics', 'prometheus',
           jsonb_agg(jsonb_build_object(
               'resource_id', r.resource_id,
               'namespace', 'Miyabi/Production',
               'timestamp', to_char(g.tick AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
               'period', 300,
               'metrics', jsonb_build_object(
                   'cpu_utilization_percent', round((10 + random() * 70)::numeric, 2),
                   'memory_utilization_percent', round((30 + random() * 55)::numeric, 2),
                   'disk_usage_percent', round((35 + random() * 40)::numeric, 2),
                   'disk_io_mbps', round((random() * 120)::numeric, 2),
                   'network_in_mbps', round((random() * 300)::numeric, 2),
                   'network_out_mbps', round((random() * 300)::numeric, 2),
                   'request_count', q.requests,
                   'request_rate_per_sec', round(q.requests / 300.0, 2),
                   'error_count', floor(q.requests * random() * 0.02)::integer,
                   'p50_latency_ms', 20 + floor(random() * 40)::integer,
                   'p90_latency_ms', 70 + floor(random() * 60)::integer,
                   'p95_latency_ms', 130 + floor(random() * 80)::integer,
                   'p99_latency_ms', 210 + floor(random() * 200)::integer,
                   'max_latency_ms', 420 + floor(random() * 600)::integer,
                   'db_connection_count', floor(random() * 80)::integer,
                   'db_connection_pool_usage_percent', round((random() * 90)::numeric, 2),
                   'db_query_count', floor(random() * 50000)::integer,
                   'db_query_time_avg_ms', round((1 + random() * 20)::numeric, 2),
                   'db_query_time_p95_ms', 10 + floor(random() * 90)::integer,
                   'db_deadlock_count', CASE WHEN random() < 0.01 THEN 1 ELSE 0 END,
                   'db_slow_query_count', floor(random() * 5)::integer,
                   'cache_hit_count', floor(random() * 40000)::integer,
                   'cache_miss_count', floor(random() * 4000)::integer,
                   'cache_eviction_count', floor(random() * 100)::integer,
                   'cache_size_mb', 256 + floor(random() * 768)::integer))
               ORDER BY r.resource_id),
           COALESCE(p_stamp, LEAST(g.tick + interval '1 minute', p_cutoff - interval '1 second'))
    FROM generate_series(date_bin('5 minutes', p_from, TIMESTAMPTZ '2000-01-01'), p_to - interval '1 microsecond', interval '5 minutes') AS g (tick)
    CROSS JOIN devflow_src.infrastructure AS r
    CROSS JOIN LATERAL (SELECT 1000 + floor(random() * 20000)::integer AS requests WHERE r.resource_id IS NOT NULL) AS q
    WHERE g.tick >= p_from
      AND (p_cutoff IS NULL OR g.tick < p_cutoff)
    GROUP BY g.tick;
END;
$$;
COMMENT ON PROCEDURE devflow_src._metric_samples(timestamptz, timestamptz, timestamptz, timestamptz) IS 'Generate one metric payload (every resource''s sample) per 5-minute tick.';
