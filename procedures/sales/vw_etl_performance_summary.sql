CREATE OR REPLACE VIEW sales.vw_etl_performance_summary AS
SELECT l.process_name,
       count(*)                                        AS total_runs,
       count(*) FILTER (WHERE l.status = 'SUCCESS')    AS successful_runs,
       count(*) FILTER (WHERE l.status = 'FAILED')     AS failed_runs,
       round(avg(l.duration_seconds), 3)               AS avg_duration_seconds,
       max(l.duration_seconds)                         AS max_duration_seconds,
       COALESCE(sum(l.records_processed), 0)           AS total_records_processed,
       max(l.start_time)                               AS last_run
FROM sales.etl_logs AS l
GROUP BY l.process_name
ORDER BY l.process_name;
COMMENT ON VIEW sales.vw_etl_performance_summary IS 'Seed 004: per process (step) runs, successes, failures, durations, rows.';
