-- Seed 002: orphans of a child column (NULLs are not orphans). Against an SCD2 dimension, any version
-- counts as a parent.
CREATE OR REPLACE FUNCTION dwh_etl.check_referential_integrity(
    in_child_table   text,
    in_child_column  text,
    in_parent_table  text,
    in_parent_column text,
    in_batch_id      uuid DEFAULT NULL
)
RETURNS TABLE (passed boolean, orphan_count bigint)
LANGUAGE sql
SET search_path = dwh_etl, pg_temp
AS $$
    SELECT c.passed, c.failing
    FROM dwh_etl._adhoc_check('referential_integrity', in_child_table, 'relationships', ARRAY[in_child_column],
                              jsonb_build_object('to_table', in_parent_table, 'to_column', in_parent_column),
                              in_batch_id) AS c;
$$;
COMMENT ON FUNCTION dwh_etl.check_referential_integrity(text, text, text, text, uuid) IS 'Seed 002: child rows whose key has no parent row; recorded in quality_metrics when a batch id is given.';
