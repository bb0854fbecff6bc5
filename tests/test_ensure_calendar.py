"""dwh_etl.ensure_calendar: the one calendar top-up fact loads call before they write date keys
(devflow._ensure_calendar is a wrapper of it)."""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest


def scalar(conn, sql, params=None):
    return conn.execute(sql, params).fetchone()[0]


def span(conn):
    return conn.execute("SELECT min(full_date), max(full_date), count(*) FROM gold.dim_date").fetchone()


def test_a_range_outside_the_calendar_is_added_without_a_gap(conn):
    conn.execute("TRUNCATE gold.dim_date, gold.dim_time_of_day CASCADE")
    conn.execute("SELECT dwh_etl.ensure_calendar(NULL, NULL)")  # no data: nothing to do
    assert span(conn) == (None, None, 0)

    conn.execute("SELECT dwh_etl.ensure_calendar(DATE '2024-03-01', DATE '2024-03-10')")
    assert span(conn) == (dt.date(2024, 3, 1), dt.date(2024, 3, 10), 10)
    assert scalar(conn, "SELECT count(*) FROM gold.dim_time_of_day") > 0

    # a later range: the days between are generated too (one contiguous calendar)
    conn.execute("SELECT devflow._ensure_calendar(DATE '2024-04-01', DATE '2024-04-02')")
    assert span(conn) == (dt.date(2024, 3, 1), dt.date(2024, 4, 2), 33)
    # a covered range changes nothing
    conn.execute("SELECT dwh_etl.ensure_calendar(DATE '2024-03-05', DATE '2024-03-06')")
    assert span(conn) == (dt.date(2024, 3, 1), dt.date(2024, 4, 2), 33)


def test_an_empty_range_is_refused(conn):
    with pytest.raises(psycopg.errors.InvalidParameterValue):
        conn.execute("SELECT dwh_etl.ensure_calendar(DATE '2024-03-10', DATE '2024-03-01')")
