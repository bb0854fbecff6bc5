-- Step (silver): metric samples, one per resource and time (a re-sent sample replaces the earlier one).
-- A sample whose "metrics" is not a JSON object (a string, an array, missing) is quarantined: it used to
-- load with every metric NULL.
CREATE OR REPLACE PROCEDURE devflow.load_silver_metrics(
    p_run_id   bigint,
    p_run_date date
)
LANGUAGE plpgsql
SET search_path = devflow, pg_temp
AS $$
BEGIN
    PERFORM devflow._load_silver('devflow._bronze_metric_samples', 'bronze.devflow_metric_samples', 'silver.devflow_metric_samples',
        '{resource_id,measured_at}', 'updated_at',
        ARRAY[$c$CASE WHEN b._metrics_type IS NULL THEN 'metrics is missing'
                      WHEN b._metrics_type <> 'object' THEN 'metrics is a JSON ' || b._metrics_type || ', not an object: ' || devflow._quote(b._metrics_text) END$c$,
              $c$CASE WHEN t.cpu_utilization_percent NOT BETWEEN 0 AND 100 THEN 'cpu_utilization_percent is not between 0 and 100' END$c$,
              $c$CASE WHEN t.memory_utilization_percent NOT BETWEEN 0 AND 100 THEN 'memory_utilization_percent is not between 0 and 100' END$c$,
              $c$CASE WHEN t.disk_usage_percent NOT BETWEEN 0 AND 100 THEN 'disk_usage_percent is not between 0 and 100' END$c$],
        p_run_date);
END;
$$;
COMMENT ON PROCEDURE devflow.load_silver_metrics(bigint, date) IS 'Step: bronze metric samples -> silver.devflow_metric_samples.';
