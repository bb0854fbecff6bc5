-- Seed 002: values outside [in_min, in_max]. (The seed spliced the bounds into the SQL text; here they
-- are quoted values.)
CREATE OR REPLACE FUNCTION dwh_etl.check_range(
    in_table    text,
    in_column   text,
    in_min      numeric,
    in_max      numeric,
    in_batch_id uuid DEFAULT NULL
)
RETURNS TABLE (passed boolean, out_of_range_count bigint)
LANGUAGE sql
SET search_path = dwh_etl, pg_temp
AS $$
    SELECT c.passed, c.failing
    FROM dwh_etl._adhoc_check('range_check_' || in_column, in_table, 'range', ARRAY[in_column],
                              jsonb_strip_nulls(jsonb_build_object('min', in_min, 'max', in_max)), in_batch_id) AS c;
$$;
COMMENT ON FUNCTION dwh_etl.check_range(text, text, numeric, numeric, uuid) IS 'Seed 002: values of a column outside a range; recorded in quality_metrics when a batch id is given.';
