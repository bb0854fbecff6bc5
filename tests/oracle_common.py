"""Helpers shared by the oracle attacks (tests/test_attack15b..e.py): each drives one area through its real
source paths over several simulated days and compares gold with figures computed independently."""
from __future__ import annotations

# the run date as the runner takes it, a UTC date: CURRENT_DATE is the session's (a test that sets TimeZone
# to America/St_Johns between 00:00 and 03:30 UTC ran for yesterday, whose window ends before its rows arrived)
RUN_DAILY = "CALL dwh_etl.run_pipeline(p_pipeline => 'daily', p_run_date => (now() AT TIME ZONE 'UTC')::date, p_run_id => NULL)"


def scalar(conn, sql, params=None):
    return conn.execute(sql, params).fetchone()[0]


def rows(conn, sql, params=None):
    return conn.execute(sql, params).fetchall()


def run_daily(conn):
    """`daily` for today, asserted completed (the failing steps and their errors in the message); its run id."""
    run_id = scalar(conn, RUN_DAILY)
    status = scalar(conn, "SELECT status FROM dwh_lineage.pipeline_runs WHERE run_id = %s", (run_id,))
    assert status == "completed", rows(conn, """SELECT step_name, status, error_message FROM dwh_lineage.step_runs
                                              WHERE run_id = %s AND status <> 'completed'""", (run_id,))
    return run_id
