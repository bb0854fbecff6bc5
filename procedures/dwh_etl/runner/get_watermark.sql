-- Seed 002. Fixed from the seed: a table without a watermark yet returns the default instead of NULL
-- (the seed's COALESCE sat inside the lookup, so a missing row still gave NULL).
CREATE OR REPLACE FUNCTION dwh_etl.get_watermark(in_table_name text)
RETURNS timestamptz
LANGUAGE sql
STABLE
SET search_path = dwh_etl, pg_temp
AS $$
    SELECT COALESCE(
        (SELECT w.watermark_value FROM dwh_etl.watermarks AS w WHERE w.table_name = in_table_name),
        '-infinity'::timestamptz
    );
$$;
COMMENT ON FUNCTION dwh_etl.get_watermark(text) IS 'High-water mark of an incremental load; -infinity before the first load.';
