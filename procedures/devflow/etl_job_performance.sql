-- Seed 000's monitoring view etl_job_performance (over Airflow's task_instance: dag_id, task_id,
-- execution_date, duration, state, of the last 7 days), over the engine's own record of what ran:
-- a pipeline is the DAG, a step the task, the run date the execution date, duration in seconds (as
-- Airflow's), the step's status the state. Every pipeline's steps, not only devflow's. The ETL role's
-- and the owner's: analysts do not read run history.
CREATE OR REPLACE VIEW devflow.etl_job_performance AS
SELECT r.pipeline_name                       AS dag_id,
       s.step_name                           AS task_id,
       r.run_date                            AS execution_date,
       round(s.duration_ms / 1000.0, 3)      AS duration,
       s.status                              AS state,
       r.run_id,
       s.started_at,
       s.completed_at,
       s.rows_read,
       s.rows_written
FROM dwh_lineage.step_runs AS s
JOIN dwh_lineage.pipeline_runs AS r
  ON r.run_id = s.run_id
WHERE s.started_at > now() - interval '7 days';
COMMENT ON VIEW devflow.etl_job_performance IS 'Seed 000 etl_job_performance: step runs of the last 7 days as dag_id (pipeline), task_id (step), execution_date (run date), duration (s), state.';
REVOKE ALL ON devflow.etl_job_performance FROM analyst_role, PUBLIC;
GRANT SELECT ON devflow.etl_job_performance TO etl_service;
