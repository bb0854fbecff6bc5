-- Seed 002: log a transformation. Extended (trailing parameters, all defaulted) with deleted rows and
-- unchanged rows kept apart, so SCD applications can report inserted / expired / unchanged / deleted.
-- in_run_id (issue 10) is the run the transformation belongs to (its running step is recorded too, see
-- dwh_etl.get_run_context); without it, outside a pipeline, no run.
-- The earlier signature, replaced by this one (a new argument list would otherwise add an overload).
DROP FUNCTION IF EXISTS dwh_lineage.log_transformation(text, text, uuid, bigint, bigint, bigint, bigint, bigint, text, text);
CREATE OR REPLACE FUNCTION dwh_lineage.log_transformation(
    in_source_table   text,
    in_target_table   text,
    in_batch_id       uuid,
    in_rows_inserted  bigint DEFAULT 0,
    in_rows_updated   bigint DEFAULT 0,
    in_rows_unchanged bigint DEFAULT 0,
    in_rows_rejected  bigint DEFAULT 0,
    in_rows_deleted   bigint DEFAULT 0,
    in_operation      text DEFAULT 'transform',
    in_notes          text DEFAULT NULL,
    in_run_id         bigint DEFAULT NULL
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
        rows_read, rows_inserted, rows_updated, rows_deleted, rows_rejected, rows_unchanged,
        started_at, completed_at, notes
    ) VALUES (
        l_run.run_id, COALESCE(in_batch_id, l_run.batch_id), l_run.step_name, in_source_table, in_target_table, in_operation,
        COALESCE(in_rows_inserted, 0) + COALESCE(in_rows_updated, 0) + COALESCE(in_rows_unchanged, 0)
            + COALESCE(in_rows_rejected, 0) + COALESCE(in_rows_deleted, 0),
        in_rows_inserted, in_rows_updated, in_rows_deleted, in_rows_rejected, in_rows_unchanged,
        now(), clock_timestamp(), in_notes
    )
    RETURNING lineage_id INTO l_lineage_id;

    INSERT INTO dwh_lineage.table_dependencies (upstream_table, downstream_table)
    VALUES (in_source_table, in_target_table)
    ON CONFLICT (upstream_table, downstream_table) DO NOTHING;

    RETURN l_lineage_id;
END;
$$;
COMMENT ON FUNCTION dwh_lineage.log_transformation(text, text, uuid, bigint, bigint, bigint, bigint, bigint, text, text, bigint) IS 'Record a transformation source -> target with row counts (seed 002) for a run (in_run_id; NULL outside a pipeline) and the dependency between the two tables.';
