-- Fills gold.dim_time_of_day with one row per second of the day (idempotent). An empty table (the first
-- fill: every caller checks that before calling) takes a plain INSERT, without the speculative insertion
-- of ON CONFLICT per row (86,400 rows: 240 -> 155 ms, issue 15); a partly filled one (a DBA's deletes)
-- is completed with ON CONFLICT DO NOTHING.
CREATE OR REPLACE PROCEDURE dwh_etl.generate_dim_time_of_day()
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
BEGIN
    -- serialized with dwh_etl.generate_dim_date: ON CONFLICT (time_key) does not guard dim_time_of_day_full_time_uq
    PERFORM pg_advisory_xact_lock(hashtextextended('dwh_etl.calendar', 0));
    -- full: every second's key is there (counted among the keys it writes: a row a DBA added, such as
    -- an 'unknown' member, does not stand in for a missing second, review 17)
    IF (SELECT count(*) FROM gold.dim_time_of_day AS t
        WHERE t.time_key BETWEEN 0 AND 235959 AND t.time_key % 100 < 60 AND t.time_key / 100 % 100 < 60) >= 86400 THEN
        RETURN;
    END IF;
    EXECUTE format($q$
        INSERT INTO gold.dim_time_of_day (
            time_key, full_time, hour, minute, second, hour_of_day, period_of_day,
            is_business_hours, is_peak_hours
        )
        SELECT (h * 10000 + m * 100 + s),
               make_time(h, m, s),
               h, m, s, h,
               CASE WHEN h < 6 THEN 'night'
                    WHEN h < 12 THEN 'morning'
                    WHEN h < 18 THEN 'afternoon'
                    ELSE 'evening' END,
               h BETWEEN 9 AND 17,
               h BETWEEN 9 AND 11 OR h BETWEEN 13 AND 15
        FROM generate_series(0, 23) AS h
        CROSS JOIN generate_series(0, 59) AS m
        CROSS JOIN generate_series(0, 59) AS s
        %s
        $q$,
        CASE WHEN EXISTS (SELECT 1 FROM gold.dim_time_of_day) THEN 'ON CONFLICT (time_key) DO NOTHING' ELSE '' END);
END;
$$;
COMMENT ON PROCEDURE dwh_etl.generate_dim_time_of_day() IS 'Fill gold.dim_time_of_day with one row per second of the day (idempotent).';
