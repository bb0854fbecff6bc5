-- Seed 002: SELECT * FROM dwh_etl.check_not_null('silver.sales_customers', 'email', batch_id);
CREATE OR REPLACE FUNCTION dwh_etl.check_not_null(
    in_table    text,
    in_column   text,
    in_batch_id uuid DEFAULT NULL
)
RETURNS TABLE (passed boolean, null_count bigint, total_count bigint)
LANGUAGE sql
SET search_path = dwh_etl, pg_temp
AS $$
    SELECT c.passed, c.failing, c.rows_checked
    FROM dwh_etl._adhoc_check('null_check_' || in_column, in_table, 'not_null', ARRAY[in_column], '{}', in_batch_id) AS c;
$$;
COMMENT ON FUNCTION dwh_etl.check_not_null(text, text, uuid) IS 'Seed 002: NULLs in a column of a table; recorded in quality_metrics when a batch id is given.';
