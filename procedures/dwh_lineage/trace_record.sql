-- Seed 002: how did the rows of a batch get into a table? Walks the lineage back from the target.
-- Fixed from the seed: the walk stays inside the batch (every step of a run stamps the run's batch),
-- where the seed joined every earlier load of each upstream table, of every run.
CREATE OR REPLACE FUNCTION dwh_lineage.trace_record(
    in_table_name text,
    in_batch_id   uuid
)
RETURNS TABLE (
    step          int,
    operation     text,
    source_table  text,
    target_table  text,
    executed_at   timestamptz,
    rows_affected bigint
)
LANGUAGE sql
STABLE
SET search_path = dwh_lineage, pg_temp
AS $$
    WITH RECURSIVE lineage_trace (step, operation, source_table, target_table, completed_at, rows_affected) AS (
        SELECT 1,
               tl.operation,
               tl.source_table,
               tl.target_table,
               tl.completed_at,
               COALESCE(tl.rows_inserted, 0) + COALESCE(tl.rows_updated, 0)
        FROM dwh_lineage.table_lineage AS tl
        WHERE tl.target_table = in_table_name
          AND tl.batch_id = in_batch_id

        UNION ALL

        SELECT lt.step + 1,
               tl.operation,
               tl.source_table,
               tl.target_table,
               tl.completed_at,
               COALESCE(tl.rows_inserted, 0) + COALESCE(tl.rows_updated, 0)
        FROM lineage_trace AS lt
        JOIN dwh_lineage.table_lineage AS tl
          ON tl.target_table = lt.source_table
         AND tl.batch_id = in_batch_id
         AND tl.completed_at <= lt.completed_at
        WHERE lt.step < 20
    ) CYCLE target_table SET is_cycle USING path
    SELECT lt.step, lt.operation, lt.source_table, lt.target_table, lt.completed_at, lt.rows_affected
    FROM lineage_trace AS lt
    WHERE NOT lt.is_cycle
    ORDER BY lt.step, lt.target_table, lt.source_table;
$$;
COMMENT ON FUNCTION dwh_lineage.trace_record(text, uuid) IS 'Lineage of the rows a batch wrote to a table, walked back to the source (seed 002).';
