CREATE OR REPLACE PROCEDURE dwh_etl.generate_dim_time_of_day()
LANGUAGE sql
SET search_path = dwh_etl, pg_temp
AS $$
    -- serialized with dwh_etl.generate_dim_date: ON CONFLICT (time_key) does not guard dim_time_of_day_full_time_uq
    SELECT pg_advisory_xact_lock(hashtextextended('dwh_etl.calendar', 0));
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
    ON CONFLICT (time_key) DO NOTHING;
$$;
COMMENT ON PROCEDURE dwh_etl.generate_dim_time_of_day() IS 'Fill gold.dim_time_of_day with one row per second of the day (idempotent).';
