-- Seed 004's etl_logs, as a view over the runner's step history: one row per step run.
CREATE OR REPLACE VIEW sales.etl_logs AS
SELECT sr.step_run_id                                  AS log_id,
       pr.pipeline_name,
       sr.step_name                                    AS process_name,
       sr.procedure_name,
       CASE sr.status WHEN 'completed' THEN 'SUCCESS'
                      WHEN 'failed' THEN 'FAILED'
                      WHEN 'running' THEN 'RUNNING'
                      ELSE upper(sr.status) END        AS status,
       sr.started_at                                   AS start_time,
       sr.completed_at                                 AS end_time,
       round(sr.duration_ms / 1000.0, 3)               AS duration_seconds,
       sr.rows_read                                    AS records_read,
       sr.rows_written                                 AS records_processed,
       sr.error_message,
       sr.error_detail,
       sr.run_id,
       pr.batch_id
FROM dwh_lineage.step_runs AS sr
JOIN dwh_lineage.pipeline_runs AS pr
  ON pr.run_id = sr.run_id;
COMMENT ON VIEW sales.etl_logs IS 'Seed 004 etl_logs: one row per step of every pipeline run (status SUCCESS / FAILED / RUNNING).';
