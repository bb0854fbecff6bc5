-- depends: 0039_seed_devflow
-- The seeds' monthly maintenance (seed 000: "VACUUM FULL ANALYZE", "rebuild indexes", slow queries from
-- pg_stat_statements), as steps of the maintenance pipeline (issue 18):
--   * pgstattuple (contrib, shipped with the server) when the server has it, in schema dwh_remote: the
--     reindex step measures an index's leaf density with pgstatindex and rebuilds only the bloated ones
--     (REINDEX where it pays); without it the step says so and rebuilds nothing.
--   * dwh_lineage.statement_stats: the monthly snapshot of pg_stat_statements' most expensive statements,
--     when that extension is installed and preloaded (it needs shared_preload_libraries; dwh does not
--     install it), so a DBA can compare months. Part of the run history: deleted with its run
--     (ON DELETE CASCADE, dwh_etl.op_purge_history).
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_available_extensions AS e WHERE e.name = 'pgstattuple') THEN
        CREATE EXTENSION IF NOT EXISTS pgstattuple WITH SCHEMA dwh_remote;
    END IF;
END
$$;

CREATE TABLE dwh_lineage.statement_stats (
    run_id          bigint,
    captured_at     timestamptz NOT NULL DEFAULT now(),
    rank            integer NOT NULL,
    queryid         bigint,
    username        text,
    query           text,
    calls           bigint NOT NULL,
    total_exec_ms   double precision NOT NULL,
    mean_exec_ms    double precision NOT NULL,
    rows            bigint NOT NULL,
    shared_blks_read bigint,
    CONSTRAINT statement_stats_pk PRIMARY KEY (captured_at, rank),
    CONSTRAINT statement_stats_run_fk FOREIGN KEY (run_id) REFERENCES dwh_lineage.pipeline_runs (run_id) ON DELETE CASCADE
);
CREATE INDEX statement_stats_run_idx ON dwh_lineage.statement_stats (run_id);
COMMENT ON TABLE dwh_lineage.statement_stats IS 'Monthly snapshot (step statement_stats of the maintenance pipeline) of the most expensive statements of pg_stat_statements (by total execution time since its last reset), when installed and preloaded.';
REVOKE ALL ON dwh_lineage.statement_stats FROM PUBLIC, analyst_role;
GRANT SELECT, INSERT, DELETE ON dwh_lineage.statement_stats TO etl_service;
