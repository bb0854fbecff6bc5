-- Step (bronze): new Prometheus / CloudWatch metric sample payloads -> bronze.devflow_metric_samples.
CREATE OR REPLACE PROCEDURE devflow.ingest_metrics(
    p_run_id   bigint,
    p_run_date date
)
LANGUAGE plpgsql
SET search_path = devflow, pg_temp
AS $$
BEGIN
    PERFORM devflow._ingest_feed('metrics', 'bronze.devflow_metric_samples', 'prometheus', p_run_date, p_run_id);
END;
$$;
COMMENT ON PROCEDURE devflow.ingest_metrics(bigint, date) IS 'Step: land new metric sample payloads in bronze (dwh_etl.ingest_json).';
