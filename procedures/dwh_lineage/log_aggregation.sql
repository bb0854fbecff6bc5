-- Seed 002: log an aggregation (a transformation with operation 'aggregate') for a run (in_run_id,
-- issue 10; NULL outside a pipeline).
-- The earlier signature, replaced by this one (a new argument list would otherwise add an overload).
DROP FUNCTION IF EXISTS dwh_lineage.log_aggregation(text, text, uuid, bigint, bigint);
CREATE OR REPLACE FUNCTION dwh_lineage.log_aggregation(
    in_source_table  text,
    in_target_table  text,
    in_batch_id      uuid,
    in_rows_inserted bigint DEFAULT 0,
    in_rows_deleted  bigint DEFAULT 0,
    in_run_id        bigint DEFAULT NULL
)
RETURNS bigint
LANGUAGE sql
SET search_path = dwh_lineage, pg_temp
AS $$
    SELECT dwh_lineage.log_transformation(
        in_source_table  => in_source_table,
        in_target_table  => in_target_table,
        in_batch_id      => in_batch_id,
        in_rows_inserted => in_rows_inserted,
        in_rows_deleted  => in_rows_deleted,
        in_operation     => 'aggregate',
        in_run_id        => in_run_id
    );
$$;
COMMENT ON FUNCTION dwh_lineage.log_aggregation(text, text, uuid, bigint, bigint, bigint) IS 'Record an aggregation source -> target (seed 002).';
