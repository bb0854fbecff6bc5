"""The conformed calendar: dwh_etl.generate_dim_date (gold.dim_date, fiscal year, ISO weeks, holidays)
and dwh_etl.generate_dim_time_of_day (gold.dim_time_of_day).

Uses the `conn` fixture of tests/conftest.py (autocommit psycopg connection to a fresh database).
"""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest

D = dt.date


def scalar(conn, sql, params=None):
    return conn.execute(sql, params).fetchone()[0]


def rows(conn, sql, params=None):
    return conn.execute(sql, params).fetchall()


def generate(conn, start, end, fiscal_start=None):
    conn.execute(
        "CALL dwh_etl.generate_dim_date(in_start_date => %s, in_end_date => %s, in_fiscal_start_month => %s)",
        (start, end, fiscal_start),
    )


def day(conn, date):
    cur = conn.execute("SELECT * FROM gold.dim_date WHERE full_date = %s", (date,))
    names = [c.name for c in cur.description]
    return dict(zip(names, cur.fetchone()))


def test_generate_dim_date_fills_every_day_of_the_range(conn):
    generate(conn, D(2023, 12, 25), D(2024, 3, 5), 4)

    assert rows(conn, "SELECT count(*), min(full_date), max(full_date), count(DISTINCT date_key) FROM gold.dim_date") == [
        (72, D(2023, 12, 25), D(2024, 3, 5), 72)]
    assert day(conn, D(2024, 2, 29)) == {
        "date_key": 20240229, "full_date": D(2024, 2, 29), "year": 2024, "quarter": 1, "month": 2, "week": 9,
        "iso_year": 2024, "week_of_month": 5, "day_of_month": 29, "day_of_week": 4, "iso_day_of_week": 4,
        "day_of_year": 60, "month_name": "February", "month_short": "Feb", "day_name": "Thursday", "day_short": "Thu",
        "quarter_name": "Q1", "is_weekend": False, "is_holiday": False, "holiday_name": None,
        "is_business_day": True, "fiscal_year": 2024, "fiscal_quarter": 4, "fiscal_month": 11,
        # seed 002's relative flags (issue 18): false until dwh_etl.update_dim_date_flags runs
        "is_current_day": False, "is_current_week": False, "is_current_month": False,
        "is_current_quarter": False, "is_current_year": False,
    }


def test_generate_dim_date_is_idempotent(conn):
    generate(conn, D(2024, 1, 1), D(2024, 12, 31), 4)
    before = rows(conn, "SELECT * FROM gold.dim_date ORDER BY date_key")
    xmins = rows(conn, "SELECT xmin::text FROM gold.dim_date ORDER BY date_key")

    generate(conn, D(2024, 1, 1), D(2024, 12, 31), 4)

    assert rows(conn, "SELECT * FROM gold.dim_date ORDER BY date_key") == before
    # nothing was rewritten
    assert rows(conn, "SELECT xmin::text FROM gold.dim_date ORDER BY date_key") == xmins


def test_generate_dim_date_extends_an_existing_range(conn):
    generate(conn, D(2024, 1, 1), D(2024, 1, 10), 4)
    generate(conn, D(2024, 1, 5), D(2024, 1, 20), 4)
    assert rows(conn, "SELECT count(*), min(full_date), max(full_date) FROM gold.dim_date") == [
        (20, D(2024, 1, 1), D(2024, 1, 20))]


def test_fiscal_year_starting_in_april(conn):
    generate(conn, D(2024, 3, 30), D(2024, 4, 2), 4)
    assert rows(conn, """
        SELECT full_date, fiscal_year, fiscal_quarter, fiscal_month FROM gold.dim_date ORDER BY full_date
    """) == [
        (D(2024, 3, 30), 2024, 4, 12),
        (D(2024, 3, 31), 2024, 4, 12),
        (D(2024, 4, 1), 2025, 1, 1),
        (D(2024, 4, 2), 2025, 1, 1),
    ]


def test_fiscal_year_comes_from_the_setting_by_default(conn):
    conn.execute("UPDATE dwh_etl.settings SET value = '10' WHERE key = 'calendar.fiscal_year_start_month'")
    generate(conn, D(2024, 9, 30), D(2024, 10, 1))
    assert rows(conn, "SELECT full_date, fiscal_year, fiscal_quarter, fiscal_month FROM gold.dim_date ORDER BY 1") == [
        (D(2024, 9, 30), 2024, 4, 12),
        (D(2024, 10, 1), 2025, 1, 1),
    ]


def test_fiscal_year_starting_in_january_is_the_calendar_year(conn):
    generate(conn, D(2024, 12, 31), D(2025, 1, 1), 1)
    assert rows(conn, "SELECT full_date, fiscal_year, fiscal_quarter, fiscal_month FROM gold.dim_date ORDER BY 1") == [
        (D(2024, 12, 31), 2024, 4, 12),
        (D(2025, 1, 1), 2025, 1, 1),
    ]


def test_changing_the_fiscal_start_refreshes_existing_days(conn):
    generate(conn, D(2024, 4, 1), D(2024, 4, 1), 4)
    generate(conn, D(2024, 4, 1), D(2024, 4, 1), 7)
    assert rows(conn, "SELECT fiscal_year, fiscal_quarter, fiscal_month FROM gold.dim_date") == [(2024, 4, 10)]


def test_iso_week_and_year(conn):
    generate(conn, D(2020, 12, 31), D(2021, 1, 4), 4)
    assert rows(conn, "SELECT full_date, year, week, iso_year, iso_day_of_week, day_of_week FROM gold.dim_date ORDER BY 1") == [
        (D(2020, 12, 31), 2020, 53, 2020, 4, 4),
        (D(2021, 1, 1), 2021, 53, 2020, 5, 5),
        (D(2021, 1, 2), 2021, 53, 2020, 6, 6),
        (D(2021, 1, 3), 2021, 53, 2020, 7, 0),
        (D(2021, 1, 4), 2021, 1, 2021, 1, 1),
    ]


def test_weekend_and_business_day_flags(conn):
    generate(conn, D(2024, 6, 7), D(2024, 6, 10), 4)  # Friday .. Monday
    assert rows(conn, "SELECT full_date, day_name, is_weekend, is_business_day FROM gold.dim_date ORDER BY 1") == [
        (D(2024, 6, 7), "Friday", False, True),
        (D(2024, 6, 8), "Saturday", True, False),
        (D(2024, 6, 9), "Sunday", True, False),
        (D(2024, 6, 10), "Monday", False, True),
    ]


def test_holidays_are_applied_on_regeneration(conn):
    generate(conn, D(2024, 12, 24), D(2024, 12, 27), 4)
    conn.execute("INSERT INTO gold.holidays VALUES ('2024-12-25', 'Christmas Day'), ('2024-12-26', 'Boxing Day')")

    generate(conn, D(2024, 12, 24), D(2024, 12, 27), 4)

    assert rows(conn, "SELECT full_date, is_holiday, holiday_name, is_business_day FROM gold.dim_date ORDER BY 1") == [
        (D(2024, 12, 24), False, None, True),
        (D(2024, 12, 25), True, "Christmas Day", False),
        (D(2024, 12, 26), True, "Boxing Day", False),
        (D(2024, 12, 27), False, None, True),
    ]

    # a holiday removed from the hook is removed from the calendar
    conn.execute("DELETE FROM gold.holidays WHERE holiday_date = '2024-12-26'")
    generate(conn, D(2024, 12, 24), D(2024, 12, 27), 4)
    assert rows(conn, "SELECT full_date, is_holiday, holiday_name, is_business_day FROM gold.dim_date "
                      "WHERE full_date = '2024-12-26'") == [(D(2024, 12, 26), False, None, True)]


@pytest.mark.parametrize("month", [0, 13, -1])
def test_invalid_fiscal_start_month_is_rejected(conn, month):
    with pytest.raises(psycopg.errors.InvalidParameterValue) as excinfo:
        generate(conn, D(2024, 1, 1), D(2024, 1, 2), month)
    assert excinfo.value.diag.message_primary == f"fiscal year start month must be 1..12, got {month}"
    assert scalar(conn, "SELECT count(*) FROM gold.dim_date") == 0


def test_end_before_start_is_rejected(conn):
    with pytest.raises(psycopg.errors.InvalidParameterValue) as excinfo:
        generate(conn, D(2024, 1, 2), D(2024, 1, 1), 4)
    assert excinfo.value.diag.message_primary == "end date 2024-01-01 is before start date 2024-01-02"


def test_generate_dim_time_of_day_has_one_row_per_second(conn):
    conn.execute("CALL dwh_etl.generate_dim_time_of_day()")
    conn.execute("CALL dwh_etl.generate_dim_time_of_day()")  # idempotent

    assert rows(conn, "SELECT count(*), count(DISTINCT full_time), min(time_key), max(time_key) FROM gold.dim_time_of_day") == [
        (86400, 86400, 0, 235959)]
    assert rows(conn, """
        SELECT period_of_day, min(full_time), max(full_time), count(*)
        FROM gold.dim_time_of_day GROUP BY period_of_day ORDER BY min(full_time)
    """) == [
        ("night", dt.time(0, 0, 0), dt.time(5, 59, 59), 6 * 3600),
        ("morning", dt.time(6, 0, 0), dt.time(11, 59, 59), 6 * 3600),
        ("afternoon", dt.time(12, 0, 0), dt.time(17, 59, 59), 6 * 3600),
        ("evening", dt.time(18, 0, 0), dt.time(23, 59, 59), 6 * 3600),
    ]
    assert rows(conn, """
        SELECT time_key, full_time, hour, minute, second, hour_of_day, period_of_day, is_business_hours, is_peak_hours
        FROM gold.dim_time_of_day
        WHERE time_key IN (85959, 90000, 120000, 130000, 175959, 180000)
        ORDER BY time_key
    """) == [
        (85959, dt.time(8, 59, 59), 8, 59, 59, 8, "morning", False, False),
        (90000, dt.time(9, 0, 0), 9, 0, 0, 9, "morning", True, True),
        (120000, dt.time(12, 0, 0), 12, 0, 0, 12, "afternoon", True, False),
        (130000, dt.time(13, 0, 0), 13, 0, 0, 13, "afternoon", True, True),
        (175959, dt.time(17, 59, 59), 17, 59, 59, 17, "afternoon", True, False),
        (180000, dt.time(18, 0, 0), 18, 0, 0, 18, "evening", False, False),
    ]
