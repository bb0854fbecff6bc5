-- Seed 000's populate_dim_time(start_date, end_date), as its operations guide calls it (with
-- SET search_path = devflow, gold: SELECT populate_dim_time('2020-01-01', '2030-12-31');) to make the
-- calendar reach the seed's 2030 horizon (the daily calendar step keeps calendar.days_ahead ahead only).
--   SELECT devflow.populate_dim_time('2020-01-01', '2030-12-31');
-- devflow.dim_time is a view over the conformed calendar gold.dim_date, so this makes the calendar cover
-- the range (dwh_etl.generate_dim_date, set-based and idempotent) and returns how many days of the range
-- were added (the seed returned void; a SELECT of it works the same). Fixed from the seed: it did not
-- compile (a variable named current_date), looped one INSERT per day, padded day and month names with blanks ('Monday   ') and paired the ISO week with the calendar
-- year (2025-12-29 became week 1 of 2025): dim_time has the ISO week with its iso_year.
CREATE OR REPLACE FUNCTION devflow.populate_dim_time(
    start_date date,
    end_date   date
)
RETURNS integer
LANGUAGE plpgsql
SET search_path = devflow, pg_temp
AS $$
DECLARE
    v_before integer;
    v_after  integer;
BEGIN
    IF start_date IS NULL OR end_date IS NULL OR end_date < start_date THEN
        RAISE EXCEPTION 'populate_dim_time needs start_date <= end_date, got % .. %',
                        COALESCE(start_date::text, 'NULL'), COALESCE(end_date::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'SELECT devflow.populate_dim_time(''2020-01-01'', ''2030-12-31'');';
    END IF;
    IF end_date - start_date > 36600 THEN
        RAISE EXCEPTION 'populate_dim_time: % .. % is more than 100 years', start_date, end_date
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT count(*) INTO v_before FROM gold.dim_date AS d WHERE d.full_date BETWEEN start_date AND end_date;
    IF v_before < end_date - start_date + 1 THEN
        CALL dwh_etl.generate_dim_date(in_start_date => start_date, in_end_date => end_date);
    END IF;
    SELECT count(*) INTO v_after FROM gold.dim_date AS d WHERE d.full_date BETWEEN start_date AND end_date;
    RETURN v_after - v_before;
END;
$$;
COMMENT ON FUNCTION devflow.populate_dim_time(date, date) IS 'Seed 000 populate_dim_time: make devflow.dim_time (over gold.dim_date) cover [start_date, end_date]; returns the number of days added.';
REVOKE EXECUTE ON FUNCTION devflow.populate_dim_time(date, date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION devflow.populate_dim_time(date, date) TO etl_service;
