"""Review 13 of this session's changes (8c858e1..914c4d2): devflow's deletes (tombstones in
devflow_src.deleted_records, migration 0064; the queue dwh_staging.devflow_affected_issues), the
watermark guard (migration 0066), the plain-or-concurrent mart refresh (dwh_etl.sec_refresh_mart,
setting marts.refresh) and `dwh migrate`'s run locks.

Cases: a delete and re-insert of one key within one window and across windows (old change time), a
delete of a row never loaded, tombstones read again (`--restate --reextract`, `dwh rebuild devflow`), a
delete committed while `daily` runs, a TRUNCATE of a devflow source table, the queue when the fact step
fails, who may write tombstones and the queue; etl_service and the run records the watermark guard
trusts (another session's run, a run for another backend, a run an ended session left with the same
pid) and every legitimate path that moves watermarks as etl_service; a REPEATABLE READ reader of a mart
during a plain refresh, a reader arriving between the look at pg_locks and the refresh; migrate with
nothing pending while a run runs, and Ctrl-C during migrate's wait.

A test whose docstring says DEFECT exposed one (fixed unless marked xfail); the others held and stay as
regression tests. The loaded demo week is the session template `devflow_week_template`; the module's
template `review13_template` adds one issue of its own (number 1_300_001, executions 13_000_001/2) loaded
by `daily`, each test gets a clone.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from conftest import database_template
from test_load_files import dwh, ok

RUN_SQL = "CALL dwh_etl.run_pipeline(p_pipeline => %s, p_run_date => %s, p_run_id => NULL)"
BASE = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=6)).replace(minute=0, second=0, microsecond=0)


def at(minutes: float) -> dt.datetime:
    return BASE + dt.timedelta(minutes=minutes)


def scalar(conn, sql, params=None):
    return conn.execute(sql, params).fetchone()[0]


def rows(conn, sql, params=None):
    return conn.execute(sql, params).fetchall()


def daily(conn, pipeline="daily"):
    run_id = conn.execute(RUN_SQL, (pipeline, dt.datetime.now(dt.timezone.utc).date())).fetchone()[0]
    status = scalar(conn, "SELECT status FROM dwh_lineage.pipeline_runs WHERE run_id = %s", (run_id,))
    assert status == "completed", rows(conn, """SELECT step_name, status, error_message FROM dwh_lineage.step_runs
                                              WHERE run_id = %s AND status <> 'completed'""", (run_id,))
    return run_id


def execution(conn, eid, iid, start, end, cost):
    conn.execute("""INSERT INTO devflow_src.agent_execution_logs (id, issue_id, agent_id, started_at, completed_at,
                        exit_code, llm_cost_usd, updated_at)
                    VALUES (%s, %s, (SELECT min(agent_id) FROM devflow_src.agents), %s, %s, 0, %s, %s)""",
                 (eid, iid, start, end, Decimal(cost), end))


@database_template(parent="devflow_week_template", scope="module")
def review13_template(conn):
    """The devflow week plus issue R13-A (number 1300001): execution 13000001 (14:00-14:30 six hours
    back, 1.5000) and 13000002 (+40-+50 min, 2.2500), loaded by `daily`."""
    conn.execute("""INSERT INTO devflow_src.issues (id, number, title, priority, complexity, created_at, updated_at)
                    VALUES ('R13-A', 1300001, 'review 13', 'P2', 'medium', %s, now())""", (at(-60),))
    execution(conn, 13_000_001, "R13-A", at(0), at(30), "1.5000")
    execution(conn, 13_000_002, "R13-A", at(40), at(50), "2.2500")
    conn.execute("CALL dwh_etl.run_pipeline(p_pipeline => 'daily', p_run_id => NULL)")


@pytest.fixture
def wh(review13_template, conn):
    return conn


def other(conn, role=None, autocommit=True):
    """A second session of the test's database (as `role` when given, by SET ROLE)."""
    info = conn.info
    c = psycopg.connect(host=info.host, port=info.port, user=info.user, dbname=info.dbname,
                        password=info.password, autocommit=autocommit)
    if role:
        c.execute(f"SET ROLE {role}")
    return c


def issue_a(conn):
    """R13-A's processing row: (completed_at, ai_cost_usd)."""
    return rows(conn, "SELECT completed_at, ai_cost_usd FROM devflow.fact_issue_processing WHERE issue_number = 1300001")


def executions_in_gold(conn):
    return [r[0] for r in rows(conn, """SELECT execution_id FROM devflow.fact_agent_execution
                                        WHERE execution_id IN (13000001, 13000002) ORDER BY 1""")]


def gold_state(conn):
    state = {}
    for table in ["devflow.fact_agent_execution", "devflow.fact_issue_processing", "devflow.fact_deployment",
                  "devflow.fact_code_generation", "devflow.dim_issue", "devflow.mart_development_performance",
                  "devflow.mart_agent_performance"]:
        state[table] = rows(conn, f"""
            SELECT j::text FROM (
                SELECT (SELECT jsonb_object_agg(e.k, e.v) FROM jsonb_each(to_jsonb(t)) AS e(k, v)
                        WHERE e.k !~ '^_|^record_|_key$') AS j
                FROM {table} AS t) AS s ORDER BY 1""")
    return state


# ===================================================================================================
# devflow deletes
# ===================================================================================================

def test_delete_then_reinsert_with_its_old_change_time_in_a_later_window(wh):
    """Held: execution 13000002 deleted (daily: gone from fact_agent_execution, the issue's cost 1.5000,
    completed 14:30), then restored with its old updated_at (a backup) in a later window: back
    everywhere, cost 3.7500 again; a rerun changes nothing."""
    conn = wh
    conn.execute("CREATE TEMP TABLE keep AS SELECT * FROM devflow_src.agent_execution_logs WHERE id = 13000002")
    conn.execute("DELETE FROM devflow_src.agent_execution_logs WHERE id = 13000002")
    daily(conn)
    assert issue_a(conn) == [(at(30), Decimal("1.5000"))]
    assert executions_in_gold(conn) == [13000001]
    conn.execute("INSERT INTO devflow_src.agent_execution_logs SELECT * FROM keep")
    daily(conn)
    assert issue_a(conn) == [(at(50), Decimal("3.7500"))]
    assert executions_in_gold(conn) == [13000001, 13000002]
    before = gold_state(conn)
    daily(conn)
    assert gold_state(conn) == before


def test_delete_reinsert_and_delete_again_within_one_window(wh):
    """Held: within one window 13000002 is deleted and restored (old change time: it stays), 13000001 is
    deleted, restored and deleted again (it goes): the issue keeps 13000002 alone."""
    conn = wh
    conn.execute("CREATE TEMP TABLE keep AS SELECT * FROM devflow_src.agent_execution_logs WHERE id IN (13000001, 13000002)")
    conn.execute("DELETE FROM devflow_src.agent_execution_logs WHERE id IN (13000001, 13000002)")
    conn.execute("INSERT INTO devflow_src.agent_execution_logs SELECT * FROM keep")
    conn.execute("SELECT pg_sleep(0.01)")
    conn.execute("DELETE FROM devflow_src.agent_execution_logs WHERE id = 13000001")
    daily(conn)
    assert executions_in_gold(conn) == [13000002]
    assert issue_a(conn) == [(at(50), Decimal("2.2500"))]
    assert rows(conn, """SELECT id, is_deleted FROM silver.devflow_agent_execution_logs
                         WHERE id IN (13000001, 13000002) ORDER BY 1""") == [(13000001, True), (13000002, False)]


def test_a_delete_and_reinsert_in_one_transaction_then_deleted_again_in_it(wh):
    """Held: one transaction deletes 13000002, inserts it again and deletes it again: the second tombstone
    has the same deleted_at (now()) and is dropped (ON CONFLICT DO NOTHING), but the row is gone from the
    source, so the first tombstone is applied: the execution leaves gold."""
    conn = wh
    with conn.transaction():
        conn.execute("CREATE TEMP TABLE keep AS SELECT * FROM devflow_src.agent_execution_logs WHERE id = 13000002")
        conn.execute("DELETE FROM devflow_src.agent_execution_logs WHERE id = 13000002")
        conn.execute("INSERT INTO devflow_src.agent_execution_logs SELECT * FROM keep")
        conn.execute("DELETE FROM devflow_src.agent_execution_logs WHERE id = 13000002")
    assert scalar(conn, "SELECT count(*) FROM devflow_src.deleted_records WHERE record_id = '13000002'") == 1
    daily(conn)
    assert executions_in_gold(conn) == [13000001]
    assert issue_a(conn) == [(at(30), Decimal("1.5000"))]


def test_a_row_deleted_before_it_was_ever_loaded_and_tombstones_read_again(wh, dsn):
    """Held: an execution inserted and deleted before any run (its tombstone names a key silver never
    held) changes nothing; the tombstones read again by `dwh run daily --restate --reextract` and by
    `dwh rebuild devflow` change nothing in gold either."""
    conn = wh
    execution(conn, 13_000_009, "R13-A", at(55), at(58), "7.0000")
    conn.execute("DELETE FROM devflow_src.agent_execution_logs WHERE id = 13000009")
    conn.execute("DELETE FROM devflow_src.agent_execution_logs WHERE id = 13000002")
    daily(conn)
    assert scalar(conn, "SELECT count(*) FROM silver.devflow_agent_execution_logs WHERE id = 13000009") == 0
    assert issue_a(conn) == [(at(30), Decimal("1.5000"))]
    before = gold_state(conn)
    today = dt.datetime.now(dt.timezone.utc).date().isoformat()
    ok(dwh(dsn, "run", "daily", "--restate", "--date", today, "--reextract"))
    assert gold_state(conn) == before
    ok(dwh(dsn, "rebuild", "devflow"))
    assert gold_state(conn) == before
    assert issue_a(conn) == [(at(30), Decimal("1.5000"))]


def test_a_delete_committed_while_daily_runs_is_applied_by_the_next_run(wh):
    """Held: a transaction deletes 13000002 and stays open while `daily` runs (its window ends before it),
    commits after: the next `daily` applies the tombstone; nothing is lost between the two."""
    conn = wh
    deleter = other(conn, autocommit=False)
    try:
        deleter.execute("DELETE FROM devflow_src.agent_execution_logs WHERE id = 13000002")
        t = threading.Thread(target=lambda: (time.sleep(1.0), deleter.commit()))
        t.start()
        daily(conn)
        t.join()
    finally:
        deleter.close()
    daily(conn)
    assert executions_in_gold(conn) == [13000001]
    assert issue_a(conn) == [(at(30), Decimal("1.5000"))]


def test_truncate_of_a_devflow_source_table_tombstones_every_row(wh):
    """Held (documented in procedures/devflow_src/tombstone_triggers.sql): TRUNCATE of devflow_src.review_results
    leaves one tombstone per row (BEFORE TRUNCATE), silver flags every review deleted and no issue's
    processing row keeps a review score."""
    conn = wh
    n = scalar(conn, "SELECT count(*) FROM devflow_src.review_results")
    assert n > 0
    conn.execute("TRUNCATE devflow_src.review_results")
    assert scalar(conn, "SELECT count(*) FROM devflow_src.deleted_records WHERE table_name = 'review_results'") == n
    daily(conn)
    assert scalar(conn, "SELECT count(*) FILTER (WHERE NOT is_deleted) FROM silver.devflow_review_results") == 0
    assert scalar(conn, "SELECT count(*) FROM devflow.fact_issue_processing WHERE review_score IS NOT NULL") == 0


def test_the_affected_issue_queue_survives_a_failed_fact_step(wh):
    """Held: execution 13000002 moved to another issue notes R13-A in dwh_staging.devflow_affected_issues;
    the issue-processing step then fails (a trigger on its fact raises): the run fails, the queue still
    holds R13-A (rolled back with the step); once the step works again R13-A is recomputed without it
    and the queue is empty."""
    conn = wh
    conn.execute("""INSERT INTO devflow_src.issues (id, number, title, priority, complexity, created_at, updated_at)
                    VALUES ('R13-B', 1300002, 'review 13 b', 'P3', 'low', %s, now())""", (at(-60),))
    conn.execute("UPDATE devflow_src.agent_execution_logs SET issue_id = 'R13-B', updated_at = now() WHERE id = 13000002")
    conn.execute("""CREATE FUNCTION public.r13_fail() RETURNS trigger LANGUAGE plpgsql AS
                    $$BEGIN RAISE EXCEPTION 'review 13: fact step fails'; END$$""")
    conn.execute("""CREATE TRIGGER r13_fail BEFORE INSERT OR UPDATE OR DELETE ON devflow.fact_issue_processing
                    FOR EACH ROW EXECUTE FUNCTION public.r13_fail()""")
    with pytest.raises(psycopg.DatabaseError, match="failed at step devflow_fact_issue_processing"):
        conn.execute(RUN_SQL, ("daily", dt.datetime.now(dt.timezone.utc).date()))
    assert scalar(conn, "SELECT status FROM dwh_lineage.pipeline_runs ORDER BY run_id DESC LIMIT 1") == "failed"
    assert rows(conn, "SELECT issue_id FROM dwh_staging.devflow_affected_issues") == [("R13-A",)]
    conn.execute("DROP TRIGGER r13_fail ON devflow.fact_issue_processing")
    daily(conn)
    assert issue_a(conn) == [(at(30), Decimal("1.5000"))]
    assert rows(conn, "SELECT ai_cost_usd FROM devflow.fact_issue_processing WHERE issue_number = 1300002") == [
        (Decimal("2.2500"),)]
    assert scalar(conn, "SELECT count(*) FROM dwh_staging.devflow_affected_issues") == 0


def test_a_deleted_label_change_no_longer_labels_the_issue(wh):
    """DEFECT (low, fixed): a label change recorded by mistake (P0 added to R13-A) and deleted from
    devflow_src.label_history stayed in silver (label_history had no tombstones): the issue's processing
    row kept P0 as its label, and the marts grouped it under P0, run after run. Now (migration 0068)
    its delete leaves a tombstone, silver flags it, the processing row has no label again."""
    conn = wh
    conn.execute("""INSERT INTO devflow_src.label_history (id, issue_id, label_name, action, changed_at)
                    VALUES (13000101, 'R13-A', 'P0', 'added', %s)""", (at(5),))
    daily(conn)
    label = """SELECT l.label_name FROM devflow.fact_issue_processing AS f
               LEFT JOIN devflow.dim_label AS l USING (label_key) WHERE f.issue_number = 1300001"""
    assert rows(conn, label) == [("P0",)]
    conn.execute("DELETE FROM devflow_src.label_history WHERE id = 13000101")
    daily(conn)
    assert rows(conn, label) == [(None,)]


def test_the_queue_works_when_etl_service_runs_daily(wh):
    """Held: run as etl_service (the trigger on silver runs as the caller, not SECURITY DEFINER), an
    execution moved to another issue and its old issue renumbered in one window: each issue has one
    processing row under its current number with its own executions' cost; the queue is empty after."""
    conn = wh
    conn.execute("""INSERT INTO devflow_src.issues (id, number, title, priority, complexity, created_at, updated_at)
                    VALUES ('R13-B', 1300002, 'review 13 b', 'P3', 'low', %s, now())""", (at(-60),))
    conn.execute("UPDATE devflow_src.agent_execution_logs SET issue_id = 'R13-B', updated_at = now() WHERE id = 13000002")
    conn.execute("UPDATE devflow_src.issues SET number = 1300003, updated_at = now() WHERE id = 'R13-A'")
    etl = other(conn, "etl_service")
    try:
        daily(etl)
    finally:
        etl.close()
    assert rows(conn, """SELECT issue_number, ai_cost_usd FROM devflow.fact_issue_processing
                         WHERE issue_number BETWEEN 1300001 AND 1300003 ORDER BY 1""") == [
        (1300002, Decimal("2.2500")), (1300003, Decimal("1.5000"))]
    assert scalar(conn, "SELECT count(*) FROM dwh_staging.devflow_affected_issues") == 0


@pytest.mark.parametrize("role", ["etl_service", "analyst_role"])
def test_no_pipeline_or_analyst_session_forges_tombstones(wh, role):
    """Held: etl_service and analyst_role write no tombstone (devflow_src.deleted_records: SELECT for
    etl_service only), delete no source row, and the analyst never sees the issue queue."""
    conn = wh
    s = other(conn, role)
    try:
        for sql in ["INSERT INTO devflow_src.deleted_records (table_name, record_id) VALUES ('agent_execution_logs', '13000001')",
                    "DELETE FROM devflow_src.agent_execution_logs WHERE id = 13000001",
                    "UPDATE devflow_src.deleted_records SET deleted_at = now()",
                    "TRUNCATE devflow_src.deleted_records"]:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                s.execute(sql)
        if role == "analyst_role":
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                s.execute("SELECT * FROM dwh_staging.devflow_affected_issues")
    finally:
        s.close()
    assert scalar(conn, "SELECT count(*) FROM devflow_src.deleted_records") == 0


# ===================================================================================================
# the watermark guard
# ===================================================================================================

def wm(conn, table="silver.devflow_agent_execution_logs"):
    return scalar(conn, "SELECT watermark_value FROM dwh_etl.watermarks WHERE table_name = %s", (table,))


def test_etl_service_cannot_take_over_the_running_run_of_another_session(wh):
    """DEFECT (medium, fixed): the guard trusts pipeline_runs.backend_pid, and etl_service could UPDATE a
    running run of another session (a daily in progress) to its own pid: then it moved watermarks by hand
    under that run's name (nothing recorded a run of its own), and the real run's next step was refused
    its watermark. Now (migration 0068) no non-owner rewrites a run's backend_pid, name or start."""
    conn = wh
    runner = other(conn, "etl_service")
    etl = other(conn, "etl_service")
    try:
        batch = scalar(runner, "SELECT dwh_lineage.start_pipeline('r13 manual')")
        run_id = scalar(conn, "SELECT run_id FROM dwh_lineage.pipeline_runs WHERE batch_id = %s", (batch,))
        before = wm(conn)
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="not the caller's to rewrite"):
            etl.execute("UPDATE dwh_lineage.pipeline_runs SET backend_pid = pg_backend_pid() WHERE run_id = %s", (run_id,))
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="only inside a pipeline run"):
            etl.execute("CALL dwh_etl.set_watermark('silver.devflow_agent_execution_logs', '_ingested_at', now() + interval '1 day')")
        assert wm(conn) == before
        # the run's own session still moves it
        runner.execute("BEGIN")
        runner.execute("CALL dwh_etl.set_watermark('silver.devflow_agent_execution_logs', '_ingested_at', now())")
        runner.execute("ROLLBACK")
    finally:
        runner.close()
        etl.close()


def test_etl_service_cannot_record_a_running_run_for_another_backend(wh):
    """DEFECT (low, fixed): etl_service could INSERT a 'running' run naming another backend's pid (a
    session that would later move watermarks, or a pid not yet given). Now a running run is recorded only
    for the inserting session (its backend_pid default); its own run, by start_pipeline, still works."""
    conn = wh
    etl = other(conn, "etl_service")
    try:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="recorded by the session that runs it"):
            etl.execute("INSERT INTO dwh_lineage.pipeline_runs (pipeline_name, backend_pid) VALUES ('r13', %s)",
                        (conn.info.backend_pid,))
        etl.execute("INSERT INTO dwh_lineage.pipeline_runs (pipeline_name, status, completed_at) VALUES ('r13', 'skipped', now())")
    finally:
        etl.close()


def test_a_run_left_running_by_an_ended_session_lends_nothing_to_a_later_one(wh):
    """DEFECT (low, fixed): a run left 'running' by a session that ended (a crash, a killed psql) let the
    next session given the same pid move watermarks outside any run of its own. Now the guard counts only a
    run started since this backend started. (Reproduced by recording, as the owner, a run of the etl
    session's pid that started before that session.)"""
    conn = wh
    etl = other(conn, "etl_service")
    try:
        conn.execute("""INSERT INTO dwh_lineage.pipeline_runs (pipeline_name, started_at, backend_pid)
                        VALUES ('r13 crashed', now() - interval '1 hour', %s)""", (etl.info.backend_pid,))
        before = wm(conn)
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="only inside a pipeline run"):
            etl.execute("CALL dwh_etl.set_watermark('silver.devflow_agent_execution_logs', '_ingested_at', now() + interval '1 day')")
        assert wm(conn) == before
    finally:
        etl.close()


def test_a_finished_run_grants_nothing_and_cannot_be_reopened(wh):
    """Held: once its run ended (end_pipeline), the session moves no watermark, and cannot set its run
    back to running."""
    conn = wh
    etl = other(conn, "etl_service")
    try:
        batch = scalar(etl, "SELECT dwh_lineage.start_pipeline('r13 manual')")
        run_id = scalar(conn, "SELECT run_id FROM dwh_lineage.pipeline_runs WHERE batch_id = %s", (batch,))
        etl.execute("CALL dwh_lineage.complete_pipeline(%s)", (batch,))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            etl.execute("UPDATE dwh_lineage.pipeline_runs SET status = 'running' WHERE run_id = %s", (run_id,))
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="only inside a pipeline run"):
            etl.execute("CALL dwh_etl.set_watermark('silver.devflow_agent_execution_logs', '_ingested_at', now())")
    finally:
        etl.close()


def test_every_path_that_moves_watermarks_still_works_as_etl_service(wh):
    """Held: as etl_service, `daily` (the steps), the maintenance pipeline, a rebuild of devflow, a
    restatement (with re-extraction), a retry of a failed run and seed 002's extract_incremental inside
    start_pipeline all complete; the watermarks moved."""
    conn = wh
    etl = other(conn, "etl_service")
    try:
        execution(conn, 13_000_003, "R13-A", at(60), at(70), "1.0000")
        before = wm(conn)
        today = dt.datetime.now(dt.timezone.utc).date()
        ids = [etl.execute(RUN_SQL, ("daily", today)).fetchone()[0],
               etl.execute(RUN_SQL, ("maintenance", today)).fetchone()[0]]
        etl.execute("CALL dwh_etl.rebuild(p_target => 'devflow', p_pipeline => 'daily', p_steps => NULL, p_run_id => NULL)")
        etl.execute("""CALL dwh_etl.restate(p_pipeline => 'daily', p_from => %s, p_to => %s, p_steps => NULL,
                                            p_reextract => true, p_run_id => NULL)""", (today, today))
        assert wm(conn) > before
        assert rows(conn, "SELECT DISTINCT status FROM dwh_lineage.pipeline_runs WHERE run_id = ANY (%s)", (ids,)) == [("completed",)]
        assert scalar(conn, "SELECT count(*) FROM dwh_lineage.pipeline_runs WHERE status <> 'completed'") == 0
        etl.execute("BEGIN")
        etl.execute("SELECT dwh_lineage.start_pipeline('r13 manual')")
        etl.execute("""SELECT dwh_etl.extract_incremental('devflow_src.agent_execution_logs', 'bronze.devflow_agent_execution_logs',
                                                         '_dwh_arrived_at')""")
        etl.execute("ROLLBACK")
    finally:
        etl.close()
    assert executions_in_gold(conn) == [13000001, 13000002]
    assert issue_a(conn) == [(at(70), Decimal("4.7500"))]


# ===================================================================================================
# mart refresh
# ===================================================================================================

MART = "devflow.mart_agent_performance"


def mart_digest(c):
    return scalar(c, f"SELECT md5(string_agg(t::text, ',' ORDER BY t::text)) FROM {MART} AS t")


def test_a_repeatable_read_reader_keeps_its_snapshot_of_a_mart(wh):
    """DEFECT (medium, fixed): with marts.refresh auto, a REPEATABLE READ transaction open before the
    refresh (a report: it read the facts, not yet the mart) saw the refreshed mart afterwards, next to the
    facts as of its snapshot: a plain REFRESH writes the new contents frozen into a new file, not MVCC-safe.
    Now a session holding a snapshot makes the refresh CONCURRENTLY, and the reader sees the mart as of its
    snapshot."""
    conn = wh
    reader = other(conn)
    try:
        reader.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        facts = scalar(reader, "SELECT count(*) FROM devflow.fact_agent_execution")
        old = mart_digest(conn)
        with conn.transaction():
            conn.execute("DELETE FROM devflow.fact_agent_execution WHERE execution_id IN (13000001, 13000002)")
            how = scalar(conn, "SELECT dwh_etl.sec_refresh_mart(%s::regclass)", (MART,))
        assert how == "refreshed concurrently"
        assert mart_digest(conn) != old
        assert mart_digest(reader) == old
        assert scalar(reader, "SELECT count(*) FROM devflow.fact_agent_execution") == facts
        reader.execute("COMMIT")
    finally:
        reader.close()
    assert scalar(conn, "SELECT dwh_etl.sec_refresh_mart(%s::regclass)", (MART,)) == "refreshed (no reader held it)"


def test_a_reader_arriving_between_the_look_and_the_refresh_makes_it_concurrent(wh):
    """Held: a session that holds none of the view but an exclusive lock on a table it reads (pg_locks
    shows nobody on the view: the plain refresh starts, then waits) makes the plain refresh give up after
    lock_timeout 50 ms, without an error, and refresh CONCURRENTLY once the lock is gone; the caller's
    lock_timeout is what it was, after either path."""
    conn = wh
    blocker = other(conn, autocommit=False)
    try:
        blocker.execute("LOCK TABLE devflow.fact_agent_execution IN ACCESS EXCLUSIVE MODE")
        t = threading.Thread(target=lambda: (time.sleep(0.8), blocker.commit()))
        t.start()
        conn.execute("SET lock_timeout = '7s'")
        started = time.monotonic()
        assert scalar(conn, "SELECT dwh_etl.sec_refresh_mart(%s::regclass)", (MART,)) == "refreshed concurrently"
        assert time.monotonic() - started >= 0.5
        t.join()
        assert scalar(conn, "SHOW lock_timeout") == "7s"
        assert scalar(conn, "SELECT dwh_etl.sec_refresh_mart(%s::regclass)", (MART,)) == "refreshed (no reader held it)"
        assert scalar(conn, "SHOW lock_timeout") == "7s"
    finally:
        blocker.close()
        conn.execute("RESET lock_timeout")


def test_etl_service_refreshes_registered_marts_only(wh):
    """Held: through sec_refresh_mart etl_service refreshes a registered mart view, and nothing else (a
    gold table, an unregistered view of its own making is refused 42501)."""
    conn = wh
    conn.execute("CREATE MATERIALIZED VIEW public.r13_mv AS SELECT 1 AS a")
    etl = other(conn, "etl_service")
    try:
        assert scalar(etl, "SELECT dwh_etl.sec_refresh_mart(%s::regclass)", (MART,)).startswith("refreshed")
        for target in ["public.r13_mv", "devflow.fact_agent_execution"]:
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="not a registered mart"):
                etl.execute("SELECT dwh_etl.sec_refresh_mart(%s::regclass)", (target,))
    finally:
        etl.close()


# ===================================================================================================
# dwh migrate
# ===================================================================================================

def test_migrate_with_nothing_pending_does_not_wait_for_a_running_run(wh, dsn):
    """Held: with daily's run lock held by another session (a run in progress), `dwh migrate` with nothing
    to apply returns at once, exit 0, without waiting."""
    conn = wh
    holder = other(conn)
    try:
        holder.execute("SELECT pg_advisory_lock(dwh_etl._run_lock_key('daily'))")
        started = time.monotonic()
        res = ok(dwh(dsn, "migrate", "--wait", "30"))
        assert time.monotonic() - started < 20
        assert "waiting" not in res.stderr
    finally:
        holder.close()


def test_ctrl_c_while_migrate_waits_exits_130_and_leaves_no_lock(wh, dsn):
    """Held: `dwh migrate` with a changed procedure file waits for a running daily; SIGINT then ends it
    with exit 130, "interrupted", nothing applied, and it keeps no advisory lock (a run may start)."""
    conn = wh
    conn.execute("UPDATE dwh_etl.applied_code SET sha256 = 'r13' WHERE path = 'procedures/devflow/load_fact_issue_processing.sql'")
    holder = other(conn)
    try:
        holder.execute("SELECT pg_advisory_lock(dwh_etl._run_lock_key('daily'))")
        env = {k: v for k, v in os.environ.items() if k not in ("DWH_DSN", "PGOPTIONS")}
        proc = subprocess.Popen([str(Path(sys.executable).parent / "dwh"), "--dsn", dsn, "migrate", "--wait", "60"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not scalar(
                conn, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'dwh migrate'"):
            time.sleep(0.1)
        time.sleep(1.5)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 130, (out, err)
        assert "interrupted" in err
        assert "waiting for the running daily run" in err
    finally:
        holder.close()
    time.sleep(0.5)
    assert scalar(conn, "SELECT sha256 FROM dwh_etl.applied_code WHERE path = 'procedures/devflow/load_fact_issue_processing.sql'") == "r13"
    assert scalar(conn, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid <> pg_backend_pid()") == 0
    daily(conn)
