-- Seed 002's relative flags of the calendar, under its name: gold.dim_date.is_current_day / _week /
-- _month / _quarter / _year say whether a day is in today's day, ISO week, month, quarter, year.
--   CALL dwh_etl.update_dim_date_flags();
-- "Today" is in the zone of setting calendar.timezone (default UTC), never the session's TimeZone (the
-- seed's CURRENT_DATE changed with the client's zone); p_today overrides it (tests, a backfill's view).
-- Only the rows whose flags change are written (about 400 of a calendar's days carry a flag; the seed
-- rewrote every row of the table daily). Fixed from the seed: the week compared EXTRACT(week) with the
-- calendar year, so 2024-12-30 (ISO week 1 of 2025) was "this week" in the first days of January 2024;
-- here the ISO week and its ISO year. The maintenance pipeline's step date_flags calls it daily.
CREATE OR REPLACE PROCEDURE dwh_etl.update_dim_date_flags(
    p_today date DEFAULT NULL
)
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_today date := COALESCE(p_today, (now() AT TIME ZONE dwh_etl.setting_timezone('calendar.timezone'))::date);
    v_rows  bigint;
BEGIN
    WITH today AS (
        SELECT v_today                                          AS d,
               extract(isoyear FROM v_today)::integer           AS iso_year,
               extract(week FROM v_today)::integer              AS week,
               extract(year FROM v_today)::integer              AS year,
               extract(quarter FROM v_today)::integer           AS quarter,
               extract(month FROM v_today)::integer             AS month
    ),
    flagged AS (
        SELECT d.date_key,
               d.full_date = t.d                                AS is_current_day,
               d.iso_year = t.iso_year AND d.week = t.week      AS is_current_week,
               d.year = t.year AND d.month = t.month            AS is_current_month,
               d.year = t.year AND d.quarter = t.quarter        AS is_current_quarter,
               d.year = t.year                                  AS is_current_year
        FROM gold.dim_date AS d
        CROSS JOIN today AS t
        -- the days that carry a flag now or should: the current year and ISO week, and the old flags
        WHERE d.full_date BETWEEN make_date(LEAST(t.year, t.iso_year), 1, 1) - 7
                              AND make_date(GREATEST(t.year, t.iso_year), 12, 31) + 7
           OR d.is_current_day OR d.is_current_week OR d.is_current_month OR d.is_current_quarter
           OR d.is_current_year
    )
    UPDATE gold.dim_date AS d
    SET is_current_day     = f.is_current_day,
        is_current_week    = f.is_current_week,
        is_current_month   = f.is_current_month,
        is_current_quarter = f.is_current_quarter,
        is_current_year    = f.is_current_year
    FROM flagged AS f
    WHERE d.date_key = f.date_key
      AND (d.is_current_day, d.is_current_week, d.is_current_month, d.is_current_quarter, d.is_current_year)
          IS DISTINCT FROM
          (f.is_current_day, f.is_current_week, f.is_current_month, f.is_current_quarter, f.is_current_year);
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    RAISE NOTICE 'dim_date flags set for % (% days changed)', v_today, v_rows;
END;
$$;
COMMENT ON PROCEDURE dwh_etl.update_dim_date_flags(date) IS 'Seed 002: set gold.dim_date.is_current_day/week/month/quarter/year for today (calendar.timezone, default UTC) or p_today; writes only the days whose flags change.';
REVOKE EXECUTE ON PROCEDURE dwh_etl.update_dim_date_flags(date) FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE dwh_etl.update_dim_date_flags(date) TO etl_service;
