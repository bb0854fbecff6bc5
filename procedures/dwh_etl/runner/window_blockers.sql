-- The open transactions that hold every incremental load window back: dwh_etl.safe_upper_bound stops
-- the windows at the start of the oldest other open transaction of this database (so a row it writes
-- and commits late is not skipped). One left open (an idle-in-transaction client, a forgotten psql
-- BEGIN) makes every run load nothing while it lasts, without failing: run_pipeline warns and records
-- them with the run, `dwh status` lists them. Listed once open longer than the setting
-- `window.warn_after` (default 1 minute). idle_in_transaction_session_timeout bounds idle ones.
CREATE OR REPLACE FUNCTION dwh_etl.window_blockers(
    p_older_than interval DEFAULT NULL
)
RETURNS TABLE (
    pid              integer,
    usename          text,
    application_name text,
    client_addr      text,
    state            text,
    xact_start       timestamptz,
    state_change     timestamptz,
    held_for         interval,
    query            text
)
LANGUAGE sql
STABLE
SET search_path = dwh_etl, pg_temp
AS $$
    -- the same sessions safe_upper_bound considers, open longer than the threshold
    SELECT a.pid, a.usename::text, a.application_name, host(a.client_addr), a.state, a.xact_start,
           a.state_change, date_trunc('second', now() - a.xact_start), left(a.query, 200)
    FROM pg_catalog.pg_stat_activity AS a
    WHERE a.pid <> pg_backend_pid()
      AND a.datname = current_database()
      AND a.backend_type NOT IN ('autovacuum worker', 'autovacuum launcher', 'walsender', 'parallel worker')
      -- the background workers of Citus (its maintenance daemon) hold transactions open for a minute and more
      -- on a coordinator and never write warehouse rows: they held the window back (issue 17)
      AND a.backend_type NOT LIKE 'Citus %'
      AND a.xact_start IS NOT NULL
      AND a.state IS DISTINCT FROM 'idle'
      AND a.xact_start < now() - COALESCE(p_older_than,
                                          dwh_etl.get_setting('window.warn_after', '1 minute')::interval)
    ORDER BY a.xact_start;
$$;
COMMENT ON FUNCTION dwh_etl.window_blockers(interval) IS 'Open transactions older than window.warn_after (default 1 minute) that hold every incremental load window back (see safe_upper_bound).';
