-- depends: 0004_operations
-- When this database is pg_cron's own (cron.database_name, as in the embedded cluster) and pg_cron is
-- preloaded, create the extension so `dwh schedule sync` works out of the box. Elsewhere pg_cron lives in
-- another database and is reached from there (see dwh_etl.sync_schedules); nothing to do.
DO $pg_cron$
BEGIN
    IF current_setting('cron.database_name', true) = current_database()
       AND current_setting('shared_preload_libraries') ~ '(^|[ ,])pg_cron($|[ ,])' THEN
        CREATE EXTENSION IF NOT EXISTS pg_cron;
    END IF;
END
$pg_cron$;
