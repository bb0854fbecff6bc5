-- Remove the warehouse's pg_cron jobs, without Python:
--     psql -d <warehouse database> -f scripts/unschedule.sql                     (every dwh:* job)
--     psql -d <warehouse database> -v pipeline=daily -f scripts/unschedule.sql   (one pipeline's jobs)
-- The registry is unchanged: scripts/schedule.sql creates the jobs again.
\set ON_ERROR_STOP on
\if :{?pipeline}
\else
\set pipeline ''
\endif
SELECT action, job_name, schedule AS schedule_utc
FROM dwh_etl.schedule_remove(p_pipeline => NULLIF(:'pipeline', ''))
ORDER BY job_name;
