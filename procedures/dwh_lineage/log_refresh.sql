-- Seed 002: log a materialized view refresh. The seed stamped a random batch id; inside a run the
-- run's batch is used, so the refresh shows up in the run's lineage.
CREATE OR REPLACE FUNCTION dwh_lineage.log_refresh(
    in_view_name   text,
    in_source_table text DEFAULT 'multiple',
    in_row_count   bigint DEFAULT NULL
)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = dwh_lineage, pg_temp
AS $$
DECLARE
    l_lineage_id bigint;
    l_run        record := dwh_lineage._current_run();
BEGIN
    INSERT INTO dwh_lineage.table_lineage (
        run_id, batch_id, step_name, source_table, target_table, operation,
        rows_inserted, started_at, completed_at
    ) VALUES (
        l_run.run_id, COALESCE(l_run.batch_id, gen_random_uuid()), l_run.step_name,
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
COMMENT ON FUNCTION dwh_lineage.log_refresh(text, text, bigint) IS 'Record a materialized view refresh (seed 002).';
