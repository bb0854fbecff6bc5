CREATE OR REPLACE VIEW sales.vw_recent_etl_runs AS
SELECT l.log_id, l.pipeline_name, l.process_name, l.status, l.start_time, l.end_time,
       l.duration_seconds, l.records_processed, l.error_message
FROM sales.etl_logs AS l
WHERE l.start_time > now() - interval '7 days'
ORDER BY l.start_time DESC, l.log_id DESC;
COMMENT ON VIEW sales.vw_recent_etl_runs IS 'Seed 004: step runs of the last 7 days, newest first.';
