-- Step (gold): metric samples changed in silver -> fact_performance_metrics (monthly partitions on
-- time_key created ahead), one row per resource and sample time, pointing at the resource version
-- current at the sample.
CREATE OR REPLACE PROCEDURE devflow.load_fact_performance_metrics(
    p_run_id   bigint,
    p_run_date date
)
LANGUAGE plpgsql
SET search_path = devflow, pg_temp
AS $$
DECLARE
    v_win   record := dwh_etl.window_bounds('devflow.fact_performance_metrics');
    v_batch uuid := COALESCE((dwh_lineage._current_run()).batch_id, gen_random_uuid());
    v_min   date;
    v_max   date;
    v_read  bigint;
    v_rows  bigint;
BEGIN
    PERFORM 'PRAGMA:TABLE: _fpm_delta (LIKE silver.devflow_metric_samples)';
    CREATE TEMP TABLE _fpm_delta ON COMMIT DROP AS
    SELECT m.*
    FROM silver.devflow_metric_samples AS m
    WHERE (m._loaded_at >= v_win.from_ts AND m._loaded_at < v_win.to_ts
           -- rows that waited for their dimension row (a late-arriving issue or resource), up to a week
           OR (m._loaded_at >= v_win.to_ts - interval '7 days' AND m._loaded_at < v_win.from_ts
               AND NOT EXISTS (SELECT 1 FROM devflow.fact_performance_metrics AS x WHERE x.resource_id = m.resource_id AND x.measured_at = m.measured_at
                                 AND x.time_key = devflow._time_key(m.measured_at))))
      -- a row whose dimension row has not arrived yet waits (next runs retry it)
      AND EXISTS (SELECT 1 FROM devflow.dim_infrastructure AS k WHERE k.resource_id = m.resource_id);
    GET DIAGNOSTICS v_read = ROW_COUNT;
    SELECT devflow._utc_date(min(d.measured_at)), devflow._utc_date(max(d.measured_at)) INTO v_min, v_max FROM _fpm_delta AS d;
    IF v_min IS NOT NULL THEN
        PERFORM devflow._ensure_calendar(v_min, v_max);
        -- partitions for the months that have samples, and the current month and 3 ahead: not every month
        -- from the oldest sample on (silver keeps instants in a sane range, quality.min_event_date, but a
        -- single old sample must not create years of empty partitions)
        PERFORM dwh_etl.ensure_partitions('devflow.fact_performance_metrics', m.month, m.month, 0)
        FROM (SELECT DISTINCT date_trunc('month', devflow._utc_date(d.measured_at)::timestamp)::date AS month FROM _fpm_delta AS d) AS m;
        PERFORM dwh_etl.ensure_partitions('devflow.fact_performance_metrics', devflow._utc_date(now()), devflow._utc_date(now()), 3);
    END IF;

    INSERT INTO devflow.fact_performance_metrics AS f (
        time_key, infrastructure_key, resource_id, cpu_utilization_percent, memory_utilization_percent,
        disk_usage_percent, disk_io_mbps, network_in_mbps, network_out_mbps, request_count, request_rate_per_sec,
        error_count, p50_latency_ms, p90_latency_ms, p95_latency_ms, p99_latency_ms, max_latency_ms,
        db_connection_count, db_connection_pool_usage_percent, db_query_count, db_query_time_avg_ms,
        db_query_time_p95_ms, db_deadlock_count, db_slow_query_count, cache_hit_count, cache_miss_count,
        cache_eviction_count, cache_size_mb, measured_at, measurement_interval_seconds, _batch_id
    )
    SELECT devflow._time_key(m.measured_at), devflow.infrastructure_key_at(m.resource_id, m.measured_at),
           m.resource_id, m.cpu_utilization_percent, m.memory_utilization_percent, m.disk_usage_percent,
           m.disk_io_mbps, m.network_in_mbps, m.network_out_mbps, COALESCE(m.request_count, 0), m.request_rate_per_sec,
           COALESCE(m.error_count, 0), m.p50_latency_ms, m.p90_latency_ms, m.p95_latency_ms, m.p99_latency_ms,
           m.max_latency_ms, COALESCE(m.db_connection_count, 0), m.db_connection_pool_usage_percent,
           COALESCE(m.db_query_count, 0), m.db_query_time_avg_ms, m.db_query_time_p95_ms,
           COALESCE(m.db_deadlock_count, 0), COALESCE(m.db_slow_query_count, 0), COALESCE(m.cache_hit_count, 0),
           COALESCE(m.cache_miss_count, 0), COALESCE(m.cache_eviction_count, 0), m.cache_size_mb,
           m.measured_at, m.measurement_interval_seconds, v_batch
    FROM _fpm_delta AS m
    ON CONFLICT (resource_id, measured_at, time_key) DO UPDATE
    SET infrastructure_key = EXCLUDED.infrastructure_key,
        cpu_utilization_percent = EXCLUDED.cpu_utilization_percent, memory_utilization_percent = EXCLUDED.memory_utilization_percent,
        disk_usage_percent = EXCLUDED.disk_usage_percent, disk_io_mbps = EXCLUDED.disk_io_mbps,
        network_in_mbps = EXCLUDED.network_in_mbps, network_out_mbps = EXCLUDED.network_out_mbps,
        request_count = EXCLUDED.request_count, request_rate_per_sec = EXCLUDED.request_rate_per_sec,
        error_count = EXCLUDED.error_count, p50_latency_ms = EXCLUDED.p50_latency_ms, p90_latency_ms = EXCLUDED.p90_latency_ms,
        p95_latency_ms = EXCLUDED.p95_latency_ms, p99_latency_ms = EXCLUDED.p99_latency_ms, max_latency_ms = EXCLUDED.max_latency_ms,
        db_connection_count = EXCLUDED.db_connection_count, db_connection_pool_usage_percent = EXCLUDED.db_connection_pool_usage_percent,
        db_query_count = EXCLUDED.db_query_count, db_query_time_avg_ms = EXCLUDED.db_query_time_avg_ms,
        db_query_time_p95_ms = EXCLUDED.db_query_time_p95_ms, db_deadlock_count = EXCLUDED.db_deadlock_count,
        db_slow_query_count = EXCLUDED.db_slow_query_count, cache_hit_count = EXCLUDED.cache_hit_count,
        cache_miss_count = EXCLUDED.cache_miss_count, cache_eviction_count = EXCLUDED.cache_eviction_count,
        cache_size_mb = EXCLUDED.cache_size_mb, measurement_interval_seconds = EXCLUDED.measurement_interval_seconds,
        _batch_id = EXCLUDED._batch_id, _loaded_at = now();
    GET DIAGNOSTICS v_rows = ROW_COUNT;

    PERFORM dwh_lineage.log_transformation(
        in_source_table  => 'silver.devflow_metric_samples',
        in_target_table  => 'devflow.fact_performance_metrics',
        in_batch_id      => v_batch,
        in_rows_inserted => v_rows,
        in_notes         => format('%s samples read', v_read));
    CALL dwh_etl.set_watermark('devflow.fact_performance_metrics', '_loaded_at', v_win.to_ts);
    DROP TABLE _fpm_delta;
END;
$$;
COMMENT ON PROCEDURE devflow.load_fact_performance_metrics(bigint, date) IS 'Step: silver metric samples -> devflow.fact_performance_metrics (partitioned, one row per resource and sample).';
