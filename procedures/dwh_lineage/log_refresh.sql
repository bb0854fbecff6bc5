-- Seed 002: log a materialized view refresh. The seed stamped a random batch id; inside a run the
-- run's batch is used, so the refresh shows up in the run's lineage. in_run_id (issue 10) is that run
-- (dwh_etl.get_run_context); without it, outside a pipeline, no run and a fresh batch.
-- The earlier signature, replaced by this one (a new argument list would otherwise add an overload).
DROP FUNCTION IF EXISTS dwh_lineage.log_refresh(text, text, bigint);
CREATE OR REPLACE FUNCTION dwh_lineage.log_refresh(
    in_view_name    text,
    in_source_table text DEFAULT 'multiple',
    in_row_count    bigint DEFAULT NULL,
    in_run_id       bigint DEFAULT NULL
)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = dwh_lineage, pg_temp
AS $$
DECLARE
    l_lineage_id bigint;
    l_run        dwh_etl.run_context := dwh_etl.get_run_context(in_run_id);
BEGIN
    INSERT INTO dwh_lineage.table_lineage (
        run_id, batch_id, step_name, source_table, target_table, operation,
        rows_inserted, started_at, completed_at
    ) VALUES (
        l_run.run_id, l_run.batch_id, l_run.step_name,
        in_source_table, in_view_name, 'refresh', in_row_count, now(), clock_timestamp()
    )
    RETURNING lineage_id INTO l_lineage_id;

    IF in_source_table <> 'multiple' THEN
        INSERT INTO dwh_lineage.table_dependencies (upstream_table, downstream_table)
        VALUES (in_source_table, in_view_name)
        ON CONFLICT (upstream_table, downstream_table) DO NOTHING;
    END IF;

    RETURN l_lineage_id;
END;
$$;
COMMENT ON FUNCTION dwh_lineage.log_refresh(text, text, bigint, bigint) IS 'Record a materialized view refresh (seed 002) for a run (in_run_id; NULL outside a pipeline).';
