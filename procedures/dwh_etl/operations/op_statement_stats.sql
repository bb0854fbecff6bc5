-- Step statement_stats of the maintenance pipeline (seed 000: pg_stat_statements, "analyze slow
-- queries"): when pg_stat_statements is installed in this database and preloaded, its
-- statement_stats.top (default 50) statements by total execution time are copied into
-- dwh_lineage.statement_stats with this run's id, so months can be compared (the counters are
-- cumulative since pg_stat_statements' last reset, which this step leaves alone). Without it, a NOTICE
-- says how to get it and the step succeeds: it is an optional extension, not a dependency. Query texts
-- of other users read as '<insufficient privilege>' unless the runner has pg_read_all_stats.
-- In a maintenance run it works on day maintenance.monthly_day (default 1) of the month of
-- LEAST(run date, today) only, and says so on the other days; called by hand (p_run_id NULL) it always works.
CREATE OR REPLACE PROCEDURE dwh_etl.op_statement_stats(
    p_run_id   bigint,
    p_run_date date
)
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_schema text := (SELECT e.extnamespace::regnamespace::text FROM pg_catalog.pg_extension AS e WHERE e.extname = 'pg_stat_statements');
    v_top    integer := dwh_etl.get_setting('statement_stats.top', '50')::integer;
    v_rows   bigint;
BEGIN
    IF p_run_id IS NOT NULL
       AND extract(day FROM LEAST(COALESCE(p_run_date, CURRENT_DATE), (now() AT TIME ZONE 'UTC')::date))
           <> dwh_etl.get_setting('maintenance.monthly_day', '1')::integer THEN
        RAISE NOTICE 'statement_stats: monthly, on day % of the month (setting maintenance.monthly_day); not today',
                     dwh_etl.get_setting('maintenance.monthly_day', '1');
        RETURN;
    END IF;
    IF v_schema IS NULL OR NOT 'pg_stat_statements' = ANY (string_to_array(replace(current_setting('shared_preload_libraries'), ' ', ''), ',')) THEN
        RAISE NOTICE 'statement_stats: pg_stat_statements is not %',
                     CASE WHEN v_schema IS NULL THEN 'installed (CREATE EXTENSION pg_stat_statements)' ELSE 'preloaded (shared_preload_libraries)' END
            USING HINT = 'shared_preload_libraries = ''pg_stat_statements'' (restart), then CREATE EXTENSION pg_stat_statements';
        RETURN;
    END IF;
    EXECUTE format($q$
        INSERT INTO dwh_lineage.statement_stats (run_id, captured_at, rank, queryid, username, query, calls,
                                                 total_exec_ms, mean_exec_ms, rows, shared_blks_read)
        SELECT $1, clock_timestamp(), row_number() OVER (ORDER BY s.total_exec_time DESC, s.queryid),
               s.queryid, s.userid::regrole::text, s.query, s.calls, s.total_exec_time, s.mean_exec_time,
               s.rows, s.shared_blks_read
        FROM %I.pg_stat_statements AS s
        WHERE s.dbid = (SELECT d.oid FROM pg_catalog.pg_database AS d WHERE d.datname = current_database())
        ORDER BY s.total_exec_time DESC, s.queryid
        LIMIT $2
        $q$, v_schema)
    USING p_run_id, v_top;
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    RAISE NOTICE 'statement_stats: % statement(s) recorded', v_rows;
END;
$$;
COMMENT ON PROCEDURE dwh_etl.op_statement_stats(bigint, date) IS 'Step statement_stats (maintenance, monthly on maintenance.monthly_day): the statement_stats.top (50) most expensive statements of pg_stat_statements into dwh_lineage.statement_stats, when installed and preloaded. Example: CALL dwh_etl.op_statement_stats(NULL, CURRENT_DATE);';
REVOKE EXECUTE ON PROCEDURE dwh_etl.op_statement_stats(bigint, date) FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE dwh_etl.op_statement_stats(bigint, date) TO etl_service;
