-- Seed 002: close a pipeline run.
CREATE OR REPLACE PROCEDURE dwh_lineage.complete_pipeline(
    in_batch_id      uuid,
    in_status        text DEFAULT 'completed',
    in_error_message text DEFAULT NULL,
    in_metrics       jsonb DEFAULT '{}'
)
LANGUAGE plpgsql
SET search_path = dwh_lineage, pg_temp
AS $$
BEGIN
    UPDATE dwh_lineage.pipeline_runs
    SET completed_at  = clock_timestamp(),
        status        = in_status,
        error_message = in_error_message,
        metrics       = COALESCE(in_metrics, '{}')
    WHERE batch_id = in_batch_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown pipeline run batch %', in_batch_id
            USING ERRCODE = 'no_data_found',
                  HINT = 'dwh_lineage.pipeline_runs lists the runs';
    END IF;
END;
$$;
COMMENT ON PROCEDURE dwh_lineage.complete_pipeline(uuid, text, text, jsonb) IS 'Close a pipeline run with its status, error and metrics (seed 002).';
