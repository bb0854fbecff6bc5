"""Scheduling with the real pg_cron of the test cluster: dwh_etl.sync_schedules / schedule_sync,
schedule_jobs, schedule_remove, the dwh schedule CLI, overlap and recovery of killed runs.

pg_cron lives in database `postgres` (cron.database_name); each test's database is another one, so the
jobs are created through dblink with cron.schedule_in_database. `cron_conn` (tests/conftest.py) is a
connection to `postgres` and removes the test database's jobs afterwards.
"""

from __future__ import annotations

import json
import threading
import time

import psycopg
import pytest
from psycopg.types.json import Jsonb

from dwh_cli.cli import cli


def scalar(conn, sql, params=None):
    return conn.execute(sql, params).fetchone()[0]


def rows(conn, sql, params=None):
    return conn.execute(sql, params).fetchall()


def command(pipeline):
    return f"CALL dwh_etl.run_pipeline(p_pipeline => '{pipeline}', p_trigger => 'cron')"


def jobs(cron_conn, dbname):
    return rows(cron_conn, """
        SELECT jobname, schedule, command, database, username, active
        FROM cron.job
        WHERE database = %s
        ORDER BY jobname
    """, (dbname,))


def register(conn, pipeline, steps, schedules=None):
    conn.execute("CALL dwh_etl.register_pipeline(p_pipeline => %s, p_schedules => %s)", (pipeline, schedules or []))
    conn.execute("CALL dwh_etl.register_steps(p_pipeline => %s, p_area => 'test', p_steps => %s)",
                 (pipeline, Jsonb(steps)))


def make_step(conn, name, sleep_s=0):
    conn.execute(f"""
        CREATE PROCEDURE public.step_{name}(p_run_id bigint, p_run_date date)
        LANGUAGE plpgsql
        AS $$
        BEGIN
            PERFORM pg_sleep({sleep_s});
        END;
        $$
    """)


ENGINE_PIPELINES = ("daily", "incremental", "maintenance")


@pytest.fixture
def db(conn):
    """This test's database name. Only the engine's pipelines stay active: the tests do not depend on
    which other areas are registered (their pipelines would add jobs)."""
    conn.execute("UPDATE dwh_etl.pipelines SET is_active = false WHERE NOT pipeline_name = ANY (%s)",
                 (list(ENGINE_PIPELINES),))
    return conn.info.dbname


def engine_rows(schedule):
    return [s for s in schedule if s["pipeline"] in ENGINE_PIPELINES]


def expected_registry_jobs(db, user):
    return [
        ("dwh:daily", "0 2 * * *", command("daily"), db, user, True),
        ("dwh:incremental", "0 */6 * * *", command("incremental"), db, user, True),
        ("dwh:maintenance", "0 3 * * *", command("maintenance"), db, user, True),
    ]


def test_sync_creates_one_job_per_pipeline_schedule_in_pg_crons_database(conn, cron_conn, db):
    user = scalar(conn, "SELECT current_user")

    result = rows(conn, "CALL dwh_etl.sync_schedules()")

    assert result == [(3, 0, 0, 0)]
    assert jobs(cron_conn, db) == expected_registry_jobs(db, user)
    # the warehouse database is not pg_cron's: the jobs were created from here through dblink
    assert scalar(conn, "SELECT to_regnamespace('cron') IS NULL") is True


def test_second_sync_changes_nothing(conn, cron_conn, db):
    conn.execute("CALL dwh_etl.sync_schedules()")
    ids = rows(cron_conn, "SELECT jobid, jobname FROM cron.job WHERE database = %s ORDER BY jobid", (db,))

    second = rows(conn, "SELECT action, job_name, schedule FROM dwh_etl.schedule_sync() ORDER BY job_name")

    assert second == [("unchanged", "dwh:daily", "0 2 * * *"), ("unchanged", "dwh:incremental", "0 */6 * * *"),
                      ("unchanged", "dwh:maintenance", "0 3 * * *")]
    assert rows(cron_conn, "SELECT jobid, jobname FROM cron.job WHERE database = %s ORDER BY jobid", (db,)) == ids


def test_sync_updates_changed_schedules_and_adds_numbered_jobs(conn, cron_conn, db):
    conn.execute("CALL dwh_etl.sync_schedules()")
    daily_id = scalar(cron_conn, "SELECT jobid FROM cron.job WHERE database = %s AND jobname = 'dwh:daily'", (db,))
    conn.execute("UPDATE dwh_etl.pipelines SET schedules = '{0 4 * * *, 30 */2 * * 1-5}' WHERE pipeline_name = 'daily'")

    result = rows(conn, "SELECT action, job_name, schedule FROM dwh_etl.schedule_sync() WHERE action <> 'unchanged' ORDER BY job_name")

    assert result == [("updated", "dwh:daily", "0 4 * * *"), ("created", "dwh:daily:2", "30 */2 * * 1-5")]
    user = scalar(conn, "SELECT current_user")
    assert jobs(cron_conn, db)[:2] == [("dwh:daily", "0 4 * * *", command("daily"), db, user, True),
                                       ("dwh:daily:2", "30 */2 * * 1-5", command("daily"), db, user, True)]
    # updated in place (cron.alter_job): the job keeps its id and history
    assert scalar(cron_conn, "SELECT jobid FROM cron.job WHERE database = %s AND jobname = 'dwh:daily'", (db,)) == daily_id


def test_sync_reactivates_a_paused_job_and_removes_unknown_dwh_jobs(conn, cron_conn, db):
    conn.execute("CALL dwh_etl.sync_schedules()")
    cron_conn.execute("SELECT cron.alter_job(jobid, active => false) FROM cron.job WHERE database = %s AND jobname = 'dwh:daily'", (db,))
    cron_conn.execute("SELECT cron.schedule_in_database('dwh:gone', '0 1 * * *', 'CALL x()', %s)", (db,))
    cron_conn.execute("SELECT cron.schedule_in_database('not-ours', '0 1 * * *', 'SELECT 1', %s)", (db,))

    result = rows(conn, "SELECT action, job_name FROM dwh_etl.schedule_sync() WHERE action <> 'unchanged' ORDER BY job_name")

    assert result == [("updated", "dwh:daily"), ("removed", "dwh:gone")]
    assert [j[0] for j in jobs(cron_conn, db)] == ["dwh:daily", "dwh:incremental", "dwh:maintenance", "not-ours"]
    assert all(j[5] for j in jobs(cron_conn, db))


def test_removing_a_pipelines_schedule_removes_its_job(conn, cron_conn, db):
    conn.execute("CALL dwh_etl.sync_schedules()")
    conn.execute("CALL dwh_etl.register_pipeline(p_pipeline => 'incremental', p_schedules => '{}')")

    assert rows(conn, "CALL dwh_etl.sync_schedules()") == [(0, 0, 1, 2)]
    assert [j[0] for j in jobs(cron_conn, db)] == ["dwh:daily", "dwh:maintenance"]


def test_inactive_pipeline_has_no_job(conn, cron_conn, db):
    conn.execute("UPDATE dwh_etl.pipelines SET is_active = false WHERE pipeline_name = 'maintenance'")

    conn.execute("CALL dwh_etl.sync_schedules()")

    assert [j[0] for j in jobs(cron_conn, db)] == ["dwh:daily", "dwh:incremental"]
    schedule = engine_rows(scalar(conn, "SELECT dwh_etl.status_report()")["schedule"])
    assert [(s["pipeline"], s["job_exists"], s["state"]) for s in schedule] == [
        ("daily", True, "ok"), ("incremental", True, "ok"), ("maintenance", False, "pipeline inactive")]


def test_schedule_remove_removes_one_pipelines_jobs_or_all(conn, cron_conn, db):
    conn.execute("UPDATE dwh_etl.pipelines SET schedules = '{0 4 * * *, 0 5 * * *}' WHERE pipeline_name = 'daily'")
    conn.execute("CALL dwh_etl.sync_schedules()")

    assert rows(conn, "SELECT action, job_name FROM dwh_etl.schedule_remove('daily')") == [
        ("removed", "dwh:daily"), ("removed", "dwh:daily:2")]
    assert [j[0] for j in jobs(cron_conn, db)] == ["dwh:incremental", "dwh:maintenance"]
    assert len(rows(conn, "SELECT * FROM dwh_etl.schedule_remove()")) == 2
    assert jobs(cron_conn, db) == []
    with pytest.raises(psycopg.Error) as excinfo:
        conn.execute("SELECT * FROM dwh_etl.schedule_remove('nope')")
    assert excinfo.value.sqlstate == "DW001"


@pytest.mark.parametrize("expr, problem", [
    ("0 2 * *", "'0 2 * *': 4 fields"),
    ("0 0 2 * * *", "'0 0 2 * * *': 6 fields"),
    ("61 * * * *", "'61 * * * *': bad minute (0-59) field"),
    ("0 24 * * *", "'0 24 * * *': bad hour (0-23) field"),
    ("0 0 0 * *", "'0 0 0 * *': bad day-of-month (1-31) field"),
    ("0 0 * 13 *", "'0 0 * 13 *': bad month (1-12 or jan-dec) field"),
    ("0 0 * * 8", "'0 0 * * 8': bad day-of-week (0-7 or sun-sat) field"),
    ("*/0 * * * *", "'*/0 * * * *': bad minute (0-59) field"),
])
def test_invalid_cron_expression_is_rejected_naming_the_pipeline_and_nothing_changes(conn, cron_conn, db, expr, problem):
    conn.execute("CALL dwh_etl.register_pipeline(p_pipeline => 'badly', p_schedules => %s)", ([expr],))

    with pytest.raises(psycopg.Error) as excinfo:
        conn.execute("CALL dwh_etl.sync_schedules()")

    assert excinfo.value.sqlstate == "DW012"
    assert excinfo.value.diag.message_primary == f"pipeline badly: invalid cron expression {problem}"
    assert "register_pipeline(p_pipeline => 'badly'" in excinfo.value.diag.message_hint
    assert jobs(cron_conn, db) == []


def test_cron_next_and_previous_fire_times_in_utc(conn):
    got = rows(conn, """
        SELECT dwh_etl._cron_next(e, t), dwh_etl._cron_prev(e, t)
        FROM (VALUES ('0 2 * * *', '2025-01-31 02:00+00'::timestamptz),
                     ('*/15 9-17 * * mon-fri', '2025-02-01 12:00+00'),
                     ('0 0 1,15 * 3', '2025-01-02 00:00+00'),
                     ('0 0 29 2 *', '2025-03-01 00:00+00'),
                     ('@hourly', '2025-01-31 23:59:30+00')) AS x (e, t)
    """)
    assert [tuple(v.isoformat() for v in r) for r in got] == [
        ("2025-02-01T02:00:00+00:00", "2025-01-31T02:00:00+00:00"),
        ("2025-02-03T09:00:00+00:00", "2025-01-31T17:45:00+00:00"),  # Saturday: next Monday, last Friday
        ("2025-01-08T00:00:00+00:00", "2025-01-01T00:00:00+00:00"),  # both day fields: day 1/15 OR Wednesday
        ("2028-02-29T00:00:00+00:00", "2024-02-29T00:00:00+00:00"),
        ("2025-02-01T00:00:00+00:00", "2025-01-31T23:00:00+00:00"),
    ]


def test_missing_pg_cron_gives_a_clear_error_with_what_to_install(conn):
    with pytest.raises(psycopg.Error) as excinfo:
        conn.execute("SELECT dwh_etl._cron_check(p_cron_database => 'template1')")
    assert excinfo.value.sqlstate == "DW010"
    assert excinfo.value.diag.message_primary == "the pg_cron extension is not installed in database template1"
    hint = excinfo.value.diag.message_hint
    for needed in ("CREATE EXTENSION pg_cron", "apt-get install postgresql-15-cron",
                   "shared_preload_libraries = 'pg_cron'", "cron.database_name"):
        assert needed in hint

    with pytest.raises(psycopg.Error) as excinfo:
        conn.execute("SELECT dwh_etl._cron_check(p_cron_database => 'no_such_database')")
    assert excinfo.value.sqlstate == "DW010"
    assert excinfo.value.diag.message_primary.startswith("cannot reach pg_cron's database no_such_database: ")
    assert 'database "no_such_database" does not exist' in excinfo.value.diag.message_primary


def test_status_report_shows_cron_health_and_schedule(conn, cron_conn, db):
    report = scalar(conn, "SELECT dwh_etl.status_report()")
    assert list(report)[:6] == ["pipelines", "recent_runs", "last_run_steps", "watermarks", "freshness", "failed_checks"]
    assert list(report)[6:] == ["freshness_sla", "schedule", "cron_health", "missed_schedules", "stale_runs",
                                "interrupted_runs", "window_blockers", "sources", "held_back_runs"]
    assert [(h["item"], h["ok"]) for h in report["cron_health"]] == [
        ("preloaded", True), ("extension", True), ("launcher", True), ("jobs", False), ("last job runs", True)]
    assert report["cron_health"][1]["detail"] == "pg_cron in database postgres (reached through dblink)"
    assert [s["state"] for s in engine_rows(report["schedule"])] == ["no job: dwh schedule sync"] * 3

    conn.execute("CALL dwh_etl.sync_schedules()")
    report = scalar(conn, "SELECT dwh_etl.status_report()")
    assert [(h["item"], h["ok"]) for h in report["cron_health"]][3] == ("jobs", True)
    assert [(s["job_name"], s["job_exists"], s["job_active"], s["state"]) for s in engine_rows(report["schedule"])] == [
        ("dwh:daily", True, True, "ok"), ("dwh:incremental", True, True, "ok"), ("dwh:maintenance", True, True, "ok")]
    assert all(s["next_run_at"] for s in engine_rows(report["schedule"]))


def test_missed_schedule_is_reported_until_a_successful_run(conn):
    make_step(conn, "noop")
    register(conn, "hourly_job", [{"step": "noop", "procedure": "public.step_noop", "layer": "ops"}], ["0 * * * *"])
    conn.execute("UPDATE dwh_etl.pipelines SET created_at = now() - interval '1 day' WHERE pipeline_name = 'hourly_job'")
    conn.execute("UPDATE dwh_etl.settings SET value = '5 minutes' WHERE key = 'schedule.grace'")

    missed = [m for m in scalar(conn, "SELECT dwh_etl.status_report()")["missed_schedules"] if m["pipeline"] == "hourly_job"]
    expected_at = scalar(conn, "SELECT to_jsonb(dwh_etl._cron_prev('0 * * * *', clock_timestamp() - interval '5 minutes'))")
    assert [{k: v for k, v in m.items() if k != "overdue_by"} for m in missed] == [
        {"pipeline": "hourly_job", "schedule_utc": "0 * * * *", "expected_at": expected_at,
         "last_success_started_at": None}]

    conn.execute("CALL dwh_etl.run_pipeline(p_pipeline => 'hourly_job')")
    missed = scalar(conn, "SELECT dwh_etl.status_report()")["missed_schedules"]
    assert [m for m in missed if m["pipeline"] == "hourly_job"] == []


# ---------------------------------------------------------------------------------------------
# Overlap and recovery
# ---------------------------------------------------------------------------------------------


def test_cron_run_while_the_pipeline_is_locked_records_skipped(conn, dsn):
    make_step(conn, "noop")
    register(conn, "busy", [{"step": "noop", "procedure": "public.step_noop", "layer": "ops"}])
    with psycopg.connect(dsn, autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(hashtextextended('dwh_etl.run_pipeline:' || 'busy', 0))")

        conn.execute("CALL dwh_etl.run_pipeline(p_pipeline => 'busy', p_trigger => 'cron')")

    assert rows(conn, "SELECT status, parameters->>'trigger' FROM dwh_lineage.pipeline_runs") == [("skipped", "cron")]


def test_killed_run_is_stale_then_closed_as_failed_by_the_next_run(conn, dsn):
    make_step(conn, "slow", sleep_s=60)
    register(conn, "sleepy", [{"step": "slow", "procedure": "public.step_slow", "layer": "ops"}])
    victim = psycopg.connect(dsn, autocommit=True)
    pid = victim.info.backend_pid
    errors = []

    def call():
        try:
            victim.execute("CALL dwh_etl.run_pipeline(p_pipeline => 'sleepy')")
        except psycopg.Error as exc:  # terminated
            errors.append(exc)

    thread = threading.Thread(target=call)
    thread.start()
    deadline = time.monotonic() + 20
    while not rows(conn, "SELECT 1 FROM dwh_lineage.step_runs WHERE status = 'running'"):
        assert time.monotonic() < deadline, "the run did not start"
        time.sleep(0.1)
    dead_run = scalar(conn, "SELECT run_id FROM dwh_lineage.pipeline_runs WHERE pipeline_name = 'sleepy'")
    assert scalar(conn, "SELECT pg_terminate_backend(%s)", (pid,)) is True
    thread.join(10)
    victim.close()
    assert errors
    while scalar(conn, "SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,)):
        time.sleep(0.05)

    stale = scalar(conn, "SELECT dwh_etl.status_report()")["stale_runs"]
    assert [(s["run_id"], s["pipeline"], s["backend_pid"]) for s in stale] == [(dead_run, "sleepy", pid)]

    conn.execute("UPDATE dwh_etl.steps SET procedure_name = 'public.step_fast' WHERE pipeline_name = 'sleepy'")
    make_step(conn, "fast")
    conn.execute("CALL dwh_etl.run_pipeline(p_pipeline => 'sleepy', p_trigger => 'cron')")

    assert rows(conn, "SELECT run_id, status, error_message FROM dwh_lineage.pipeline_runs ORDER BY run_id") == [
        (dead_run, "failed", "abandoned: the session running it ended before it finished"),
        (dead_run + 1, "completed", None)]
    assert scalar(conn, "SELECT dwh_etl.status_report()")["stale_runs"] == []


# ---------------------------------------------------------------------------------------------
# A job created by sync really runs (the only test that waits for pg_cron: up to ~75 s)
# ---------------------------------------------------------------------------------------------


def test_job_created_by_sync_runs_the_pipeline_with_trigger_cron(conn, cron_conn, db):
    conn.execute("UPDATE dwh_etl.pipelines SET is_active = false")  # only the test pipeline is scheduled
    make_step(conn, "tick")
    register(conn, "ticker", [{"step": "tick", "procedure": "public.step_tick", "layer": "ops"}], ["* * * * *"])
    conn.execute("CALL dwh_etl.sync_schedules()")
    assert [j[:2] for j in jobs(cron_conn, db)] == [("dwh:ticker", "* * * * *")]

    deadline = time.monotonic() + 75
    found = []
    while not found and time.monotonic() < deadline:
        time.sleep(1)
        found = rows(conn, """
            SELECT status FROM dwh_lineage.pipeline_runs
            WHERE pipeline_name = 'ticker' AND parameters->>'trigger' = 'cron' AND status <> 'running'
        """)
    conn.execute("SELECT * FROM dwh_etl.schedule_remove('ticker')")

    assert found and found[0] == ("completed",)
    assert jobs(cron_conn, db) == []
    details = rows(cron_conn, "SELECT status, command FROM cron.job_run_details WHERE database = %s", (db,))
    assert details and details[0] == ("succeeded", command("ticker"))


# ---------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------


def test_cli_schedule_sync_then_list_json(runner, dsn, conn, cron_conn, db):
    result = runner.invoke(cli, ["--dsn", dsn, "schedule", "sync"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == "3 created, 0 updated, 0 removed, 0 unchanged."
    assert len(jobs(cron_conn, db)) == 3

    again = runner.invoke(cli, ["--dsn", dsn, "schedule", "sync"])
    assert again.stdout == "0 created, 0 updated, 0 removed, 3 unchanged.\n"

    listed = runner.invoke(cli, ["--dsn", dsn, "schedule", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    doc = json.loads(listed.stdout)
    assert [(j["job_name"], j["schedule_utc"], j["active"], j["last_status"]) for j in doc] == [
        ("dwh:daily", "0 2 * * *", True, None), ("dwh:incremental", "0 */6 * * *", True, None),
        ("dwh:maintenance", "0 3 * * *", True, None)]
    nexts = rows(conn, "SELECT dwh_etl._cron_next(schedule) FROM dwh_etl.schedule_jobs() ORDER BY job_name")
    assert [j["next_run_at"] for j in doc] == [str(n[0]) for n in nexts]

    removed = runner.invoke(cli, ["--dsn", dsn, "schedule", "remove", "daily"])
    assert removed.exit_code == 0, removed.output
    assert removed.stdout.splitlines()[-1] == "0 created, 0 updated, 1 removed, 0 unchanged."
    assert [j[0] for j in jobs(cron_conn, db)] == ["dwh:incremental", "dwh:maintenance"]


def test_cli_schedule_remove_unknown_pipeline_exits_4(runner, dsn, conn, db):
    result = runner.invoke(cli, ["--dsn", dsn, "schedule", "remove", "nope"])
    assert result.exit_code == 4
    assert result.stderr.splitlines()[0] == "error: unknown pipeline 'nope'"


@pytest.mark.parametrize("command_", [["schedule"], ["schedule", "sync"], ["schedule", "list"], ["schedule", "remove"]],
                         ids=" ".join)
def test_schedule_commands_have_help_with_an_example(runner, command_):
    result = runner.invoke(cli, [*command_, "-h"])
    assert result.exit_code == 0
    assert "Example:" in result.stdout
