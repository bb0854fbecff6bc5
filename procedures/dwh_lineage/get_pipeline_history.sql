-- Seed 002: the last runs of a pipeline.
CREATE OR REPLACE FUNCTION dwh_lineage.get_pipeline_history(
    in_pipeline_name text,
    in_limit         integer DEFAULT 10
)
RETURNS TABLE (
    batch_id         uuid,
    started_at       timestamptz,
    completed_at     timestamptz,
    duration_seconds numeric,
    status           text,
    tables_processed bigint,
    total_rows       bigint
)
LANGUAGE sql
STABLE
SET search_path = dwh_lineage, pg_temp
AS $$
    SELECT pr.batch_id,
           pr.started_at,
           pr.completed_at,
           EXTRACT(EPOCH FROM (pr.completed_at - pr.started_at)),
           pr.status,
           COUNT(DISTINCT tl.target_table),
           COALESCE(SUM(COALESCE(tl.rows_inserted, 0) + COALESCE(tl.rows_updated, 0)), 0)::bigint
    FROM dwh_lineage.pipeline_runs AS pr
    LEFT JOIN dwh_lineage.table_lineage AS tl
      ON tl.batch_id = pr.batch_id
    WHERE pr.pipeline_name = in_pipeline_name
    GROUP BY pr.run_id, pr.batch_id, pr.started_at, pr.completed_at, pr.status
    ORDER BY pr.started_at DESC, pr.run_id DESC
    LIMIT in_limit;
$$;
COMMENT ON FUNCTION dwh_lineage.get_pipeline_history(text, integer) IS 'The last in_limit runs of a pipeline with tables touched and rows written (seed 002).';
