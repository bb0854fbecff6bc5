"""Helpers shared by the oracle attacks (tests/test_attack15b..e.py): each drives one area through its real
source paths over several simulated days and compares gold with figures computed independently."""
from __future__ import annotations

RUN_DAILY = "CALL dwh_etl.run_pipeline(p_pipeline => 'daily', p_run_date => CURRENT_DATE, p_run_id => NULL)"


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
