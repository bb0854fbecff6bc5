-- Seed 002: log a bronze ingestion. in_run_id (issue 10) is the run the ingestion belongs to (its
-- running step is recorded too, see dwh_etl.get_run_context); without it, outside a pipeline, no run.
-- The earlier signature, replaced by this one (a new argument list would otherwise add an overload).
DROP FUNCTION IF EXISTS dwh_lineage.log_ingestion(text, uuid, text, bigint);
CREATE OR REPLACE FUNCTION dwh_lineage.log_ingestion(
    in_table_name text,
    in_batch_id   uuid,
    in_source     text,
    in_row_count  bigint,
    in_run_id     bigint DEFAULT NULL
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
        rows_read, rows_inserted, started_at, completed_at
    ) VALUES (
        l_run.run_id, COALESCE(in_batch_id, l_run.batch_id), l_run.step_name, in_source, in_table_name, 'ingest',
        in_row_count, in_row_count, now(), clock_timestamp()
    )
    RETURNING lineage_id INTO l_lineage_id;

    INSERT INTO dwh_lineage.table_dependencies (upstream_table, downstream_table)
    VALUES (in_source, in_table_name)
    ON CONFLICT (upstream_table, downstream_table) DO NOTHING;

    RETURN l_lineage_id;
END;
$$;
COMMENT ON FUNCTION dwh_lineage.log_ingestion(text, uuid, text, bigint, bigint) IS 'Record an ingestion into a bronze table (seed 002) for a run (in_run_id; NULL outside a pipeline); also records the dependency source -> table.';
