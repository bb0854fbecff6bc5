-- Schedule the warehouse's pipelines with pg_cron, without Python:
--     psql -d <warehouse database> -f scripts/schedule.sql
-- Makes pg_cron's jobs match dwh_etl.pipelines.schedules (UTC): creates, updates and removes the
-- dwh:<pipeline> jobs of this database (works when pg_cron lives in another database, see
-- cron.database_name), then lists them. Safe to run again: a second run changes nothing.
\set ON_ERROR_STOP on
\echo 'syncing pg_cron jobs with the registry of database' :DBNAME
CALL dwh_etl.sync_schedules();
SELECT job_name, schedule AS schedule_utc, active, next_run_at, last_start, last_status
FROM dwh_etl.schedule_jobs()
ORDER BY job_name;
