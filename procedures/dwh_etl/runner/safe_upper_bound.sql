-- Upper end of an incremental window [watermark, upper_bound) on a change timestamp stamped with now()
-- (transaction start). Another transaction of this database that is open now may still write rows
-- stamped with its start time, whether it has written yet or not: the window stops at the oldest such
-- start, so those rows are read by the next window instead of being skipped forever. The price: a
-- long-open transaction holds the window back (nothing is lost, it arrives later). Only transactions of
-- this cluster are visible: for a foreign source, pass an explicit bound or add a safety lag.
CREATE OR REPLACE FUNCTION dwh_etl.safe_upper_bound(
    p_cap timestamptz DEFAULT NULL
)
RETURNS timestamptz
LANGUAGE sql
STABLE
SET search_path = dwh_etl, pg_temp
AS $$
    SELECT LEAST(
        now(),
        p_cap,
        (SELECT min(a.xact_start)
         FROM pg_catalog.pg_stat_activity AS a
         WHERE a.pid <> pg_backend_pid()
           AND a.datname = current_database()
           AND a.backend_type NOT IN ('autovacuum worker', 'autovacuum launcher', 'walsender', 'parallel worker')
           -- the background workers of Citus (its maintenance daemon) hold transactions open for a minute and more
           -- on a coordinator and never write warehouse rows: they held the window back (issue 17)
           AND a.backend_type NOT LIKE 'Citus %'
           AND a.xact_start IS NOT NULL
           -- an idle session has no open transaction, whatever its (stale) xact_start says: with the
           -- extended query protocol it can still show the last statement's start
           AND a.state IS DISTINCT FROM 'idle')
    );
$$;
COMMENT ON FUNCTION dwh_etl.safe_upper_bound(timestamptz) IS 'now(), capped at p_cap and at the start of the oldest other open transaction of this database: the end of an incremental window that cannot skip a late-committing row.';
