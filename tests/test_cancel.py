"""`dwh cancel` (issue 14): a running run is cancelled from another session, through
dwh_etl.sec_cancel_run; the runner records the step cancelled, the pipeline is free again, and only a
backend that holds the run lock is ever signalled.

Uses the per-test `conn`/`dsn` fixtures of tests/conftest.py.
"""

from __future__ import annotations

import json
import threading
import time

import psycopg
import pytest
from click.testing import CliRunner

from dwh_cli.cli import cli


def dwh(dsn, *args):
    return CliRunner().invoke(cli, ["--dsn", dsn, *map(str, args)])


@pytest.fixture
def nap(conn):
    conn.execute("""
        CREATE PROCEDURE public.step_nap(p_run_id bigint, p_run_date date) LANGUAGE plpgsql AS $$
        BEGIN PERFORM pg_sleep(30); END $$
    """)
    conn.execute("GRANT EXECUTE ON PROCEDURE public.step_nap(bigint, date) TO etl_service")
    conn.execute("CALL dwh_etl.register_pipeline(p_pipeline => 'nap', p_description => 'test', p_schedules => '{}')")
    conn.execute("""CALL dwh_etl.register_steps(p_pipeline => 'nap', p_area => 'test',
                    p_steps => '[{"step": "nap", "procedure": "public.step_nap", "layer": "bronze"}]')""")
    return conn


def start_run(dsn, role=None):
    """Run pipeline nap in a thread of its own (as `role` if given); returns the thread and its result box."""
    box = {}

    def go():
        with psycopg.connect(dsn, autocommit=True) as c:
            if role:
                c.execute(f"SET ROLE {role}")
            try:
                box["run_id"] = c.execute("CALL dwh_etl.run_pipeline(p_pipeline => 'nap', p_run_id => NULL)").fetchone()[0]
            except psycopg.Error as exc:
                box["error"] = exc

    t = threading.Thread(target=go)
    t.start()
    return t, box


def wait_running(conn, timeout=20):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        row = conn.execute("SELECT r.run_id FROM dwh_lineage.pipeline_runs AS r JOIN dwh_lineage.step_runs AS s "
                           "USING (run_id) WHERE r.pipeline_name = 'nap' AND r.status = 'running' "
                           "AND s.status = 'running'").fetchone()
        if row:
            time.sleep(0.3)  # inside pg_sleep
            return row[0]
        time.sleep(0.1)
    raise AssertionError("the run did not start")


def test_dwh_cancel_stops_the_running_step_and_frees_the_pipeline(nap, dsn):
    conn = nap
    t, box = start_run(dsn, role="etl_service")
    run_id = wait_running(conn)
    started = time.monotonic()
    res = dwh(dsn, "cancel", run_id, "--json")
    t.join(timeout=30)
    assert res.exit_code == 0, res.output
    [doc] = json.loads(res.stdout)
    assert doc["run_id"] == run_id and doc["cancelled"] is True and doc["status"] != "running"
    assert time.monotonic() - started < 15
    assert conn.execute("SELECT status FROM dwh_lineage.step_runs WHERE run_id = %s", (run_id,)).fetchall() == [("cancelled",)]
    assert conn.execute("SELECT status FROM dwh_lineage.pipeline_runs WHERE run_id = %s", (run_id,)).fetchone()[0] != "running"
    # the pipeline is free: a new run takes the lock at once (and is cancelled by pipeline name)
    t, box = start_run(dsn)
    second = wait_running(conn)
    assert second != run_id
    res = dwh(dsn, "cancel", "--pipeline", "nap")
    t.join(timeout=30)
    assert res.exit_code == 0, res.output
    assert "cancel sent" in res.stdout


def test_cancel_refuses_what_is_not_running_and_analysts(nap, dsn):
    conn = nap
    res = dwh(dsn, "cancel")
    assert res.exit_code == 1 and "no run is running" in res.stderr
    res = dwh(dsn, "cancel", "--pipeline", "nap", "--json")
    assert res.exit_code == 1 and json.loads(res.stderr.strip().splitlines()[-1])["error"].startswith("no run is running")
    run_id = conn.execute("INSERT INTO dwh_lineage.pipeline_runs (pipeline_name, run_date, status, completed_at) "
                          "VALUES ('nap', CURRENT_DATE, 'completed', now()) RETURNING run_id").fetchone()[0]
    res = dwh(dsn, "cancel", run_id)
    assert res.exit_code == 1 and f"run {run_id} is not running (it is completed)" in res.stderr
    assert dwh(dsn, "cancel", "0").exit_code == 2
    assert conn.execute("SELECT has_function_privilege('analyst_role', 'dwh_etl.sec_cancel_run(bigint, text)', 'EXECUTE')").fetchone() == (False,)


def test_a_stale_running_row_whose_backend_holds_no_run_lock_is_not_signalled(nap, dsn):
    """A run recorded 'running' for a backend that does not hold the run lock (its session died and the
    pid now belongs to someone else: here, the test's own idle session) is reported, not cancelled."""
    conn = nap
    other = psycopg.connect(dsn, autocommit=True)
    try:
        pid = other.execute("SELECT pg_backend_pid()").fetchone()[0]
        run_id = conn.execute("INSERT INTO dwh_lineage.pipeline_runs (pipeline_name, run_date, status, backend_pid) "
                              "VALUES ('nap', CURRENT_DATE, 'running', %s) RETURNING run_id", (pid,)).fetchone()[0]
        rows = conn.execute("SELECT run_id, cancelled, note FROM dwh_etl.sec_cancel_run(%s)", (run_id,)).fetchall()
        assert rows[0][:2] == (run_id, False) and "no longer holds the run lock" in rows[0][2]
        assert other.execute("SELECT 1").fetchone() == (1,)  # not signalled
    finally:
        other.close()
