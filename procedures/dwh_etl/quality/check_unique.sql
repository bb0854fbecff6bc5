-- Seed 002: SELECT * FROM dwh_etl.check_unique('silver.sales_sales', ARRAY['sale_id'], batch_id);
-- duplicate_count is the number of surplus rows (rows beyond the first of each duplicated key).
CREATE OR REPLACE FUNCTION dwh_etl.check_unique(
    in_table    text,
    in_columns  text[],
    in_batch_id uuid DEFAULT NULL
)
RETURNS TABLE (passed boolean, duplicate_count bigint)
LANGUAGE sql
SET search_path = dwh_etl, pg_temp
AS $$
    SELECT c.passed, c.failing
    FROM dwh_etl._adhoc_check('unique_check', in_table, 'unique', in_columns, '{}', in_batch_id) AS c;
$$;
COMMENT ON FUNCTION dwh_etl.check_unique(text, text[], uuid) IS 'Seed 002: duplicated keys of a table; recorded in quality_metrics when a batch id is given.';
