-- Seed 002: log a bronze ingestion.
CREATE OR REPLACE FUNCTION dwh_lineage.log_ingestion(
    in_table_name text,
    in_batch_id   uuid,
    in_source     text,
    in_row_count  bigint
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
        rows_read, rows_inserted, started_at, completed_at
    ) VALUES (
        l_run.run_id, COALESCE(in_batch_id, l_run.batch_id, gen_random_uuid()), l_run.step_name, in_source, in_table_name, 'ingest',
        in_row_count, in_row_count, now(), clock_timestamp()
    )
    RETURNING lineage_id INTO l_lineage_id;

    INSERT INTO dwh_lineage.table_dependencies (upstream_table, downstream_table)
    VALUES (in_source, in_table_name)
    ON CONFLICT (upstream_table, downstream_table) DO NOTHING;

    RETURN l_lineage_id;
END;
$$;
COMMENT ON FUNCTION dwh_lineage.log_ingestion(text, uuid, text, bigint) IS 'Record an ingestion into a bronze table (seed 002); also records the dependency source -> table.';
