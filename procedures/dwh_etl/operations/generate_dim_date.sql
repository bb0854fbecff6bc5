-- Seed 002's generator, set-based (the seed inserted one row per loop iteration) and idempotent: days
-- already present are refreshed from the current fiscal setting and holiday table, new days inserted.
-- Concurrent callers (the daily calendar step, maintenance's extend_calendar, a fact load's
-- ensure_calendar) are serialized by a transaction-level advisory lock: ON CONFLICT (date_key) guards
-- only its arbiter, so two sessions inserting the same new days at once failed the later one on the
-- other unique key, dim_date_full_date_uq (attack 9b).
CREATE OR REPLACE PROCEDURE dwh_etl.generate_dim_date(
    in_start_date         date DEFAULT NULL,
    in_end_date           date DEFAULT NULL,
    in_fiscal_start_month integer DEFAULT NULL
)
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_start date    := COALESCE(in_start_date, dwh_etl.get_setting('calendar.start_date', '2020-01-01')::date);
    v_end   date    := COALESCE(in_end_date, CURRENT_DATE + dwh_etl.get_setting('calendar.days_ahead', '730')::integer);
    v_fsm   integer := COALESCE(in_fiscal_start_month, dwh_etl.get_setting('calendar.fiscal_year_start_month', '1')::integer);
    v_rows  bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('dwh_etl.calendar', 0));
    IF v_fsm NOT BETWEEN 1 AND 12 THEN
        RAISE EXCEPTION 'fiscal year start month must be 1..12, got %', v_fsm
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'UPDATE dwh_etl.settings SET value = ''4'' WHERE key = ''calendar.fiscal_year_start_month''';
    END IF;
    IF v_end < v_start THEN
        RAISE EXCEPTION 'end date % is before start date %', v_end, v_start
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    INSERT INTO gold.dim_date AS dd (
        date_key, full_date, year, quarter, month, week, iso_year, week_of_month,
        day_of_month, day_of_week, iso_day_of_week, day_of_year,
        month_name, month_short, day_name, day_short, quarter_name,
        is_weekend, is_holiday, holiday_name, is_business_day,
        fiscal_year, fiscal_quarter, fiscal_month
    )
    SELECT to_char(d, 'YYYYMMDD')::integer,
           d,
           EXTRACT(year FROM d),
           EXTRACT(quarter FROM d),
           EXTRACT(month FROM d),
           EXTRACT(week FROM d),
           EXTRACT(isoyear FROM d),
           (EXTRACT(day FROM d)::integer - 1) / 7 + 1,
           EXTRACT(day FROM d),
           EXTRACT(dow FROM d),
           EXTRACT(isodow FROM d),
           EXTRACT(doy FROM d),
           to_char(d, 'FMMonth'),
           to_char(d, 'Mon'),
           to_char(d, 'FMDay'),
           to_char(d, 'Dy'),
           'Q' || EXTRACT(quarter FROM d),
           EXTRACT(isodow FROM d) IN (6, 7),
           h.holiday_date IS NOT NULL,
           h.holiday_name,
           EXTRACT(isodow FROM d) NOT IN (6, 7) AND h.holiday_date IS NULL,
           -- fiscal year named after the calendar year it ends in
           EXTRACT(year FROM d) + CASE WHEN v_fsm > 1 AND EXTRACT(month FROM d) >= v_fsm THEN 1 ELSE 0 END,
           (fm.fiscal_month - 1) / 3 + 1,
           fm.fiscal_month
    FROM generate_series(v_start, v_end, interval '1 day') AS g (ts)
    CROSS JOIN LATERAL (SELECT g.ts::date AS d) AS x
    CROSS JOIN LATERAL (SELECT ((EXTRACT(month FROM x.d)::integer - v_fsm + 12) % 12) + 1 AS fiscal_month) AS fm
    LEFT JOIN gold.holidays AS h
      ON h.holiday_date = x.d
    ON CONFLICT (date_key) DO UPDATE
    SET is_holiday      = EXCLUDED.is_holiday,
        holiday_name    = EXCLUDED.holiday_name,
        is_business_day = EXCLUDED.is_business_day,
        fiscal_year     = EXCLUDED.fiscal_year,
        fiscal_quarter  = EXCLUDED.fiscal_quarter,
        fiscal_month    = EXCLUDED.fiscal_month
    WHERE (dd.is_holiday, dd.holiday_name, dd.fiscal_year, dd.fiscal_quarter, dd.fiscal_month)
          IS DISTINCT FROM
          (EXCLUDED.is_holiday, EXCLUDED.holiday_name, EXCLUDED.fiscal_year, EXCLUDED.fiscal_quarter, EXCLUDED.fiscal_month);
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    RAISE DEBUG 'gold.dim_date: % rows inserted or refreshed for % .. %', v_rows, v_start, v_end;
END;
$$;
COMMENT ON PROCEDURE dwh_etl.generate_dim_date(date, date, integer) IS 'Generate or refresh gold.dim_date for a date range, set-based and idempotent. Defaults from settings calendar.*.';
