"""Ctrl-C during `dwh run` (issue 9, item 11): every SIGINT exits 130 with one line "interrupted", no
traceback, and the running query is cancelled on the server.

The race that let Ctrl-C be ignored: Python raised KeyboardInterrupt inside psycopg's notice callback
(our progress printer), where libpq's callback machinery printed and swallowed it. The pipeline here
streams many NOTICEs so that SIGINTs land in notice callbacks, between steps and inside pg_sleep."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from psycopg.types.json import Jsonb

ROOT = Path(__file__).resolve().parent.parent


def dwh_command() -> list[str]:
    script = Path(sys.executable).parent / "dwh"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from dwh_cli.cli import main; main()"]


@pytest.fixture
def slow_pipeline(conn):
    """Pipeline `slow`: step `ticks` streams NOTICEs (every 10 ms for ~0.6 s), then step `nap` sleeps
    3 s in pg_sleep."""
    conn.execute("""
        CREATE PROCEDURE public.step_ticks(p_run_id bigint, p_run_date date) LANGUAGE plpgsql AS $$
        BEGIN
            FOR i IN 1..60 LOOP
                RAISE NOTICE 'tick % of run %', i, p_run_id;
                PERFORM pg_sleep(0.01);
            END LOOP;
        END $$""")
    conn.execute("""
        CREATE PROCEDURE public.step_nap(p_run_id bigint, p_run_date date) LANGUAGE plpgsql AS $$
        BEGIN
            RAISE NOTICE 'napping';
            PERFORM set_config('application_name', 'dwh-nap', true);
            PERFORM pg_sleep(3);
        END $$""")
    conn.execute("CALL dwh_etl.register_pipeline(p_pipeline => 'slow', p_description => 'test', p_schedules => '{}')")
    conn.execute("CALL dwh_etl.register_steps(p_pipeline => 'slow', p_area => 'test', p_steps => %s)", (Jsonb([
        {"step": "ticks", "procedure": "public.step_ticks", "layer": "ops"},
        {"step": "nap", "procedure": "public.step_nap", "layer": "ops", "depends_on": ["ticks"]},
    ]),))
    return conn


def env_for_cli() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "DWH_"))}
    env["PYTHONPATH"] = str(ROOT)
    return env


def wait_for(predicate, timeout=20.0, step=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return predicate()


def run_backend(conn, dbname):
    """pid and wait_event of the dwh backend running the CALL, or None."""
    return conn.execute(
        "SELECT pid, wait_event FROM pg_stat_activity WHERE datname = %s AND application_name = 'dwh' "
        "AND state = 'active' AND query LIKE 'CALL dwh_etl.run_pipeline%%'", (dbname,)).fetchone()


def dwh_backends(conn, dbname) -> int:
    return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND application_name LIKE 'dwh%%'",
                        (dbname,)).fetchone()[0]


def start_run(dsn, day):
    return subprocess.Popen([*dwh_command(), "--dsn", dsn, "run", "slow", "--date", day],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env_for_cli(),
                            cwd=ROOT)


def assert_interrupted(proc, context):
    out, errtext = proc.communicate(timeout=30)
    assert proc.returncode == 130, f"{context}: exit {proc.returncode}\nstdout:\n{out}\nstderr:\n{errtext}"
    assert "Traceback" not in errtext and "Exception ignored" not in errtext, f"{context}:\n{errtext}"
    lines = errtext.splitlines()
    assert lines[-1] == "interrupted" and lines.count("interrupted") == 1, f"{context}:\n{errtext}"
    assert not any(line.startswith("error:") for line in lines), f"{context}:\n{errtext}"


def test_sigint_at_random_moments_of_a_run_always_exits_130(slow_pipeline, dsn, postgresql):
    conn, dbname = slow_pipeline, postgresql.info.dbname
    rng = random.Random(int(os.environ.get("DWH_SIGNAL_SEED", "0")) or None)
    for attempt in range(12):
        assert wait_for(lambda: dwh_backends(conn, dbname) == 0), "a previous run's backend is still there"
        proc = start_run(dsn, f"2025-01-{attempt + 1:02d}")
        try:
            assert wait_for(lambda: run_backend(conn, dbname) or proc.poll() is not None), "the run never started"
            delay = rng.uniform(0, 1.0)  # ticks (notice callbacks) for ~0.6 s, then pg_sleep
            time.sleep(delay)
            proc.send_signal(signal.SIGINT)
            assert_interrupted(proc, f"attempt {attempt}, SIGINT {delay:.3f}s into the run")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_sigint_cancels_the_query_on_the_server(slow_pipeline, dsn, postgresql):
    conn, dbname = slow_pipeline, postgresql.info.dbname
    proc = start_run(dsn, "2025-02-01")
    try:
        # wait until the `nap` step (a 3 s pg_sleep, no NOTICEs) sleeps: it renames its session
        sleeping = wait_for(lambda: conn.execute(
            "SELECT pid, wait_event FROM pg_stat_activity WHERE datname = %s AND application_name = 'dwh-nap' "
            "AND wait_event = 'PgSleep'", (dbname,)).fetchone())
        assert sleeping, "the nap step never ran"
        proc.send_signal(signal.SIGINT)
        assert_interrupted(proc, "SIGINT during pg_sleep")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # The client exits only after the server answered the cancel: its backend no longer sleeps (a client
    # that just died would leave it in pg_sleep for the rest of the 3 s).
    row = conn.execute("SELECT state, wait_event FROM pg_stat_activity WHERE pid = %s", (sleeping[0],)).fetchone()
    assert row is None or row[1] != "PgSleep", row
