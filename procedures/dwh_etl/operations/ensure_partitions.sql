-- Creates the monthly range partitions of a table partitioned on an integer YYYYMMDD date key (or a
-- date / timestamptz column) from p_from up to p_months_ahead months after p_until. Idempotent.
-- The work is done by dwh_etl.sec_ensure_partitions (SECURITY DEFINER): etl_service may not create
-- tables in the area schemas, and partitions are only created for registered tables and inside the
-- window of settings partitions.min_date / partitions.max_months_ahead (a row dated 0001-01-01 once
-- made this function create partitions from year 1 until "out of shared memory").
CREATE OR REPLACE FUNCTION dwh_etl.ensure_partitions(
    p_table        text,
    p_from         date,
    p_until        date DEFAULT CURRENT_DATE,
    p_months_ahead integer DEFAULT 3
)
RETURNS integer
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_rel regclass := to_regclass(p_table);
BEGIN
    IF v_rel IS NULL OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_partitioned_table WHERE partrelid = v_rel) THEN
        RAISE EXCEPTION '% is not a partitioned table', quote_literal(p_table)
            USING ERRCODE = 'wrong_object_type';
    END IF;
    RETURN dwh_etl.sec_ensure_partitions(v_rel, p_from, p_until, p_months_ahead);
END;
$$;
COMMENT ON FUNCTION dwh_etl.ensure_partitions(text, date, date, integer) IS 'Create missing monthly partitions of a range-partitioned table (integer YYYYMMDD, date or timestamptz key) from p_from to p_months_ahead months past p_until, inside the window of settings partitions.min_date / partitions.max_months_ahead (dwh_etl.sec_ensure_partitions).';
