"""The runner under adverse conditions: a failed step does not stop independent steps, cancels and
timeouts are recorded and release the lock, the caller's session settings do not change what a run
computes, open transactions that hold load windows back are reported, and the quarantine keeps one
open entry per record however often it is delivered.

Uses `conn` / `dsn` of tests/conftest.py (a fresh migrated database per test) and throwaway pipelines
whose steps are procedures in schema public.
"""

from __future__ import annotations

import datetime as dt
import threading
import time

import psycopg
import pytest
from psycopg.types.json import Jsonb

RUN_DATE = dt.date(2025, 1, 31)


def scalar(conn, sql, params=None):
    return conn.execute(sql, params).fetchone()[0]


def rows(conn, sql, params=None):
    return conn.execute(sql, params).fetchall()


def register(conn, pipeline, steps):
    conn.execute("CALL dwh_etl.register_pipeline(p_pipeline => %s, p_description => 'test', p_schedules => '{}')",
                 (pipeline,))
    conn.execute("CALL dwh_etl.register_steps(p_pipeline => %s, p_area => 'test', p_steps => %s)",
                 (pipeline, Jsonb(steps)))


def run(conn, pipeline, run_date=RUN_DATE):
    return scalar(conn, "CALL dwh_etl.run_pipeline(p_pipeline => %s, p_run_date => %s, p_run_id => NULL)",
                  (pipeline, run_date))


def lock_is_free(dsn, pipeline) -> bool:
    with psycopg.connect(dsn, autocommit=True) as other:
        got = scalar(other, "SELECT pg_try_advisory_lock(hashtextextended('dwh_etl.run_pipeline:' || %s, 0))",
                     (pipeline,))
        other.execute("SELECT pg_advisory_unlock_all()")
        return got


@pytest.fixture
def steps(conn):
    """public.seen(step, tz, datestyle, ...) records what each step saw; public.step_<name> procedures."""
    conn.execute("""
        CREATE TABLE public.seen (
            step text, run_date date, tz text, datestyle text, intervalstyle text, search_path text,
            today_local date, stamp_text text
        );
        CREATE TABLE public.switch (fail boolean NOT NULL);
        INSERT INTO public.switch VALUES (true);
        CREATE PROCEDURE public.step_ok(p_run_id bigint, p_run_date date) LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO public.seen VALUES ('ok', p_run_date, current_setting('TimeZone'),
                current_setting('DateStyle'), current_setting('IntervalStyle'), current_setting('search_path'),
                (TIMESTAMPTZ '2025-01-31 23:30:00+00')::date, (TIMESTAMPTZ '2025-01-31 23:30:00+00')::text);
        END $$;
        CREATE PROCEDURE public.step_bad(p_run_id bigint, p_run_date date) LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO public.seen (step, run_date) VALUES ('bad', p_run_date);
            IF (SELECT fail FROM public.switch) THEN
                RAISE EXCEPTION 'bad step exploded';
            END IF;
        END $$;
        CREATE PROCEDURE public.step_after(p_run_id bigint, p_run_date date) LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO public.seen (step, run_date) VALUES ('after', p_run_date);
        END $$;
        CREATE PROCEDURE public.step_slow(p_run_id bigint, p_run_date date) LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO public.seen (step, run_date) VALUES ('slow', p_run_date);
            PERFORM pg_sleep(30);
        END $$;
    """)
    return conn


# ---------------------------------------------------------------------------------------------
# One failing step does not stop the rest
# ---------------------------------------------------------------------------------------------

def test_failed_step_skips_its_dependents_and_runs_every_independent_step(steps, dsn):
    conn = steps
    register(conn, "mixed", [
        {"step": "bad", "procedure": "public.step_bad", "layer": "silver"},
        {"step": "bad_child", "procedure": "public.step_after", "layer": "gold", "depends_on": ["bad"]},
        {"step": "bad_grandchild", "procedure": "public.step_after", "layer": "gold", "depends_on": ["bad_child"]},
        {"step": "other_area", "procedure": "public.step_ok", "layer": "silver"},
        {"step": "other_child", "procedure": "public.step_after", "layer": "gold", "depends_on": ["other_area"]},
    ])

    with pytest.raises(psycopg.Error) as excinfo:
        run(conn, "mixed")

    assert excinfo.value.sqlstate == "DW003"
    run_id = scalar(conn, "SELECT max(run_id) FROM dwh_lineage.pipeline_runs")
    assert excinfo.value.diag.message_detail == f"run_id={run_id}"
    assert excinfo.value.diag.message_primary.endswith("(1 step(s) failed, 2 skipped, the others completed)")
    assert dict(rows(conn, "SELECT step_name, status FROM dwh_lineage.step_runs WHERE run_id = %s", (run_id,))) == {
        "bad": "failed", "bad_child": "skipped", "bad_grandchild": "skipped",
        "other_area": "completed", "other_child": "completed",
    }
    assert rows(conn, "SELECT error_message FROM dwh_lineage.step_runs WHERE run_id = %s AND step_name = 'bad_grandchild'",
                (run_id,)) == [("skipped: depends on bad_child, which did not complete",)]
    # the failed step's writes rolled back; the independent ones committed
    assert sorted(r[0] for r in rows(conn, "SELECT step FROM public.seen")) == ["after", "ok"]
    assert rows(conn, "SELECT status, metrics->>'failed_steps', metrics->>'skipped_steps' FROM dwh_lineage.pipeline_runs WHERE run_id = %s",
                (run_id,)) == [("failed", "1", "2")]
    # dwh status shows what was skipped and why
    doc = scalar(conn, "SELECT dwh_etl.status_report()")
    steps_shown = {s["step"]: s for s in doc["last_run_steps"] if s["pipeline"] == "mixed"}
    assert steps_shown["bad_child"]["status"] == "skipped"
    assert steps_shown["bad_child"]["error"] == "skipped: depends on bad, which did not complete"
    assert lock_is_free(dsn, "mixed")

    # fixed: the rerun completes everything
    conn.execute("UPDATE public.switch SET fail = false")
    run_id = run(conn, "mixed")
    assert scalar(conn, "SELECT status FROM dwh_lineage.pipeline_runs WHERE run_id = %s", (run_id,)) == "completed"


# ---------------------------------------------------------------------------------------------
# Cancel, timeout, interrupted sessions
# ---------------------------------------------------------------------------------------------

def test_statement_timeout_is_recorded_as_cancelled_and_releases_the_lock(steps, dsn):
    conn = steps
    register(conn, "sleepy", [
        {"step": "first", "procedure": "public.step_ok", "layer": "bronze"},
        {"step": "slow", "procedure": "public.step_slow", "layer": "silver", "depends_on": ["first"]},
        {"step": "last", "procedure": "public.step_after", "layer": "gold", "depends_on": ["slow"]},
    ])
    conn.execute("SET statement_timeout = '1500ms'")

    with pytest.raises(psycopg.errors.QueryCanceled) as excinfo:
        run(conn, "sleepy")

    conn.execute("SET statement_timeout = 0")
    run_id = scalar(conn, "SELECT max(run_id) FROM dwh_lineage.pipeline_runs")
    assert excinfo.value.diag.message_primary.startswith(f"run {run_id} of pipeline sleepy cancelled at step slow: ")
    assert "statement timeout" in excinfo.value.diag.message_primary
    assert rows(conn, "SELECT step_name, status, sqlstate FROM dwh_lineage.step_runs WHERE run_id = %s ORDER BY step_order",
                (run_id,)) == [("first", "completed", None), ("slow", "cancelled", "57014")]
    assert rows(conn, "SELECT status, completed_at IS NOT NULL FROM dwh_lineage.pipeline_runs WHERE run_id = %s",
                (run_id,)) == [("cancelled", True)]
    # the slow step's insert was rolled back
    assert sorted(r[0] for r in rows(conn, "SELECT step FROM public.seen")) == ["ok"]
    # the lock is released although this session lives on: another session can run the pipeline
    assert lock_is_free(dsn, "sleepy")
    assert scalar(conn, """
        SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()
    """) == 0


def test_pg_cancel_backend_is_recorded_and_the_next_run_works(steps, dsn):
    conn = steps
    register(conn, "cancelme", [{"step": "slow", "procedure": "public.step_slow", "layer": "bronze"}])
    pid = conn.info.backend_pid

    def cancel_soon():
        with psycopg.connect(dsn, autocommit=True) as other:
            for _ in range(100):
                time.sleep(0.1)
                if scalar(other, "SELECT count(*) FROM public.seen WHERE step = 'slow'") or scalar(
                        other, "SELECT count(*) FROM dwh_lineage.step_runs WHERE status = 'running'"):
                    break
            time.sleep(0.3)
            other.execute("SELECT pg_cancel_backend(%s)", (pid,))

    thread = threading.Thread(target=cancel_soon)
    thread.start()
    with pytest.raises(psycopg.errors.QueryCanceled):
        run(conn, "cancelme")
    thread.join()

    assert rows(conn, "SELECT status FROM dwh_lineage.pipeline_runs") == [("cancelled",)]
    assert rows(conn, "SELECT status, error_message FROM dwh_lineage.step_runs") == [
        ("cancelled", "canceling statement due to user request")]
    assert lock_is_free(dsn, "cancelme")


def test_lock_left_by_an_interrupted_call_of_this_session_is_taken_once_and_released(steps, dsn):
    conn = steps
    register(conn, "twice", [{"step": "ok", "procedure": "public.step_ok", "layer": "bronze"}])
    # what an interrupt outside a step leaves behind: this session holds the lock, a run marked running
    conn.execute("SELECT pg_advisory_lock(hashtextextended('dwh_etl.run_pipeline:twice', 0))")
    conn.execute("SELECT pg_advisory_lock(hashtextextended('dwh_etl.run_pipeline:twice', 0))")  # taken twice
    left = scalar(conn, """
        INSERT INTO dwh_lineage.pipeline_runs (pipeline_name, run_date, status, backend_pid)
        VALUES ('twice', DATE '2025-01-30', 'running', pg_backend_pid()) RETURNING run_id
    """)
    # meanwhile another session is told who holds it and why
    with psycopg.connect(dsn, autocommit=True) as other:
        with pytest.raises(psycopg.Error) as excinfo:
            run(other, "twice")
        assert excinfo.value.sqlstate == "DW002"
        assert "its CALL was interrupted and the session still holds the lock" in excinfo.value.diag.message_detail
        assert f"pg_terminate_backend({conn.info.backend_pid})" in excinfo.value.diag.message_hint
        interrupted = scalar(other, "SELECT dwh_etl.status_report()")["interrupted_runs"]
        assert [r["run_id"] for r in interrupted] == [left]

    run_id = run(conn, "twice")

    assert rows(conn, "SELECT run_id, status FROM dwh_lineage.pipeline_runs ORDER BY run_id") == [
        (left, "failed"), (run_id, "completed")]
    assert scalar(conn, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()") == 0
    assert lock_is_free(dsn, "twice")


# ---------------------------------------------------------------------------------------------
# Session settings
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("settings", [
    {"TimeZone": "Asia/Tokyo", "DateStyle": "SQL, DMY", "IntervalStyle": "sql_standard"},
    {"TimeZone": "America/New_York", "DateStyle": "German", "IntervalStyle": "iso_8601"},
    {"TimeZone": "Pacific/Kiritimati", "DateStyle": "Postgres, YMD", "IntervalStyle": "postgres_verbose"},
])
def test_steps_see_pinned_settings_and_the_caller_gets_its_own_back(steps, settings):
    conn = steps
    register(conn, "pinned", [{"step": "ok", "procedure": "public.step_ok", "layer": "bronze"}])
    conn.execute("SET search_path = pg_temp, public")
    for name, value in settings.items():
        conn.execute(f"SET {name} = '{value}'")
    before = {name: scalar(conn, f"SELECT current_setting('{name}')") for name in settings}

    run(conn, "pinned")

    assert rows(conn, "SELECT tz, datestyle, intervalstyle, search_path, today_local, stamp_text FROM public.seen") == [
        ("UTC", "ISO, MDY", "postgres", "dwh_etl, pg_temp", dt.date(2025, 1, 31), "2025-01-31 23:30:00+00")]
    assert {name: scalar(conn, f"SELECT current_setting('{name}')") for name in settings} == before
    assert scalar(conn, "SELECT current_setting('search_path')") == "pg_temp, public"


def test_a_replica_session_is_refused_clearly(steps):
    conn = steps
    register(conn, "replica", [{"step": "ok", "procedure": "public.step_ok", "layer": "bronze"}])
    conn.execute("SET session_replication_role = replica")
    with pytest.raises(psycopg.errors.InvalidParameterValue) as excinfo:
        run(conn, "replica")
    assert "session_replication_role is replica" in excinfo.value.diag.message_primary
    assert scalar(conn, "SELECT count(*) FROM dwh_lineage.pipeline_runs") == 0


# ---------------------------------------------------------------------------------------------
# Open transactions that hold the load windows back
# ---------------------------------------------------------------------------------------------

def test_idle_in_transaction_session_is_reported_by_the_run_and_status(steps, dsn):
    conn = steps
    register(conn, "held", [{"step": "ok", "procedure": "public.step_ok", "layer": "bronze"}])
    conn.execute("INSERT INTO dwh_etl.settings (key, value) VALUES ('window.warn_after', '0 seconds') "
                 "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value")
    notices = []
    conn.add_notice_handler(lambda d: notices.append((d.severity_nonlocalized, d.message_primary)))
    with psycopg.connect(dsn, application_name="forgotten psql") as idle:
        idle.execute("SELECT txid_current()")  # BEGIN ... and then nothing: idle in transaction
        idle_pid = idle.info.backend_pid
        time.sleep(0.2)

        run_id = run(conn, "held")

        held = scalar(conn, "SELECT metrics->'window_held_back_by' FROM dwh_lineage.pipeline_runs WHERE run_id = %s",
                      (run_id,))
        assert [(b["pid"], b["state"], b["application_name"]) for b in held] == [
            (idle_pid, "idle in transaction", "forgotten psql")]
        warnings = [m for s, m in notices if s == "WARNING"]
        assert any(m.startswith("load windows are held back by 1 open transaction(s), oldest: pid "
                                f"{idle_pid}") for m in warnings), warnings
        blockers = scalar(conn, "SELECT dwh_etl.status_report()")["window_blockers"]
        assert [b["pid"] for b in blockers] == [idle_pid]
        # safe_upper_bound is indeed held at that transaction's start
        assert scalar(conn, "SELECT dwh_etl.safe_upper_bound() <= (SELECT xact_start FROM pg_stat_activity WHERE pid = %s)",
                      (idle_pid,)) is True
    # gone once that session ends
    assert scalar(conn, "SELECT dwh_etl.status_report()")["window_blockers"] == []


# ---------------------------------------------------------------------------------------------
# Quarantine: one open entry per record
# ---------------------------------------------------------------------------------------------

@pytest.fixture
def staged(conn):
    conn.execute("""
        CREATE TABLE public.bronze_things (
            _bronze_id bigint GENERATED ALWAYS AS IDENTITY, thing_id text, amount text,
            _batch_id uuid NOT NULL DEFAULT gen_random_uuid(), _ingested_at timestamptz NOT NULL DEFAULT now()
        )
    """)
    return conn


def test_a_record_delivered_again_keeps_one_open_entry_and_counts_deliveries(staged):
    conn = staged

    def batch(things):
        batch_id = scalar(conn, "SELECT gen_random_uuid()")
        conn.execute("INSERT INTO public.bronze_things (thing_id, amount, _batch_id) "
                     "SELECT t, a, %s FROM unnest(%s::text[], %s::text[]) AS x (t, a)",
                     (batch_id, [t[0] for t in things], [t[1] for t in things]))
        with conn.transaction():
            conn.execute("""
                CREATE TEMP TABLE _things_typed ON COMMIT DROP AS
                SELECT b._bronze_id, b.thing_id AS _record_key,
                       CASE WHEN dwh_etl.try_numeric(b.amount) IS NULL THEN ARRAY['amount is not a number']
                            ELSE '{}'::text[] END AS _reasons
                FROM public.bronze_things AS b
                WHERE b._batch_id = %s
            """, (batch_id,))
            conn.execute("SELECT dwh_etl.quarantine_rows('_things_typed', 'public.bronze_things', 'silver.things')")

    batch([("a", "1"), ("b", "x1"), ("c", "x2")])
    batch([("b", "x1")])                       # the same payload sent again
    batch([("b", "x1"), ("b", "x1"), ("c", "x2")])  # twice in one batch, and c again
    assert rows(conn, """
        SELECT record_key, payload->>'amount', deliveries, last_delivered_at IS NOT NULL
        FROM dwh_etl.quarantine WHERE resolved_at IS NULL ORDER BY record_key, payload->>'amount'
    """) == [("b", "x1", 4, True), ("c", "x2", 2, True)]
    # another version of b, rejected too, delivered later: it supersedes the older entry (attack 12: one
    # record is listed, and replayed, once: its newest state)
    batch([("b", "y9")])
    assert rows(conn, """
        SELECT record_key, payload->>'amount', deliveries, resolved_at IS NULL, resolution
        FROM dwh_etl.quarantine ORDER BY record_key, payload->>'amount'
    """) == [("b", "x1", 4, False, "superseded: a newer version of the record, rejected too, was quarantined in run outside a run"),
             ("b", "y9", 1, True, None), ("c", "x2", 2, True, None)]
    listed = rows(conn, "SELECT record_key, deliveries FROM dwh_etl.quarantine_list() ORDER BY record_key, deliveries")
    assert listed == [("b", 1), ("c", 2)]
    # the latest delivery is what a retry replays
    latest_b = scalar(conn, "SELECT max(_bronze_id) FROM public.bronze_things WHERE thing_id = 'b' AND amount = 'x1'")
    assert scalar(conn, "SELECT (payload->>'_bronze_id')::bigint FROM dwh_etl.quarantine "
                        "WHERE record_key = 'b' AND payload->>'amount' = 'x1'") == latest_b

    # a valid version resolves every open entry of the record; a new bad delivery opens a new one
    batch([("b", "5")])
    assert rows(conn, "SELECT record_key, deliveries FROM dwh_etl.quarantine WHERE resolved_at IS NULL") == [("c", 2)]
    batch([("b", "x1")])
    assert rows(conn, "SELECT record_key, deliveries FROM dwh_etl.quarantine WHERE resolved_at IS NULL ORDER BY 1") == [
        ("b", 1), ("c", 2)]


def test_rewound_watermark_redelivers_sales_without_new_quarantine_entries(sales_next_day_template, conn):
    # conn: a clone of the sales source generated (scale 0.005), `daily` run, the next day generated (with
    # its bad rows), `daily` run again (tests/conftest.py sales_next_day_template)
    before = rows(conn, "SELECT quarantine_id, deliveries FROM dwh_etl.quarantine WHERE resolved_at IS NULL ORDER BY 1")
    assert before, "the next day's source has bad rows"
    facts = scalar(conn, "SELECT count(*) FROM sales.fact_sales")

    # every silver window rewound: the same bronze rows are read and judged again
    conn.execute("UPDATE dwh_etl.watermarks SET watermark_value = '-infinity' WHERE table_name LIKE 'silver.%'")
    conn.execute("CALL dwh_etl.run_pipeline(p_pipeline => 'daily', p_run_date => CURRENT_DATE, p_run_id => NULL)")

    after = rows(conn, "SELECT quarantine_id, deliveries FROM dwh_etl.quarantine WHERE resolved_at IS NULL ORDER BY 1")
    assert [q for q, _ in after] == [q for q, _ in before]
    assert all(d >= 2 for _, d in after)
    assert scalar(conn, "SELECT count(*) FROM sales.fact_sales") == facts


def test_a_json_element_delivered_twice_keeps_one_open_entry(conn):
    payload = '[{"customer_id": "1", "first_name": "Ada"}, "PR", 42, "PR"]'
    for _ in range(2):  # the same payload sent twice
        conn.execute("CALL dwh_etl.ingest_json(%s, %s::jsonb, 'test feed', gen_random_uuid())",
                     ("bronze.sales_customers", payload))
    assert rows(conn, """
        SELECT payload->'element', deliveries FROM dwh_etl.quarantine
        WHERE resolved_at IS NULL ORDER BY payload->>'element'
    """) == [(42, 2), ("PR", 4)]
    assert scalar(conn, "SELECT count(*) FROM bronze.sales_customers") == 2


def test_migration_folds_duplicate_open_entries_of_an_older_installation(conn):
    """0012 on a warehouse that already quarantined a record several times: the newest entry stays open
    with the deliveries counted, the others are resolved as duplicates, and the unique index holds."""
    from pathlib import Path

    sql = (Path(__file__).resolve().parent.parent / "migrations" / "0012_runner_robustness.sql").read_text()
    fold = sql[sql.index("-- Entries quarantined twice"):sql.index("CREATE UNIQUE INDEX quarantine_open_fingerprint_uq")]
    conn.execute("DROP INDEX dwh_etl.quarantine_open_fingerprint_uq")
    for amount in ("x1", "x1", "x1", "y2"):
        conn.execute("""
            INSERT INTO dwh_etl.quarantine (target_table, source_table, record_key, payload, reasons)
            VALUES ('silver.things', 'bronze.things', 'k', jsonb_build_object('amount', %s::text,
                    '_bronze_id', (SELECT count(*) FROM dwh_etl.quarantine)), ARRAY['bad'])
        """, (amount,))
    conn.execute(fold)
    conn.execute("CREATE UNIQUE INDEX quarantine_open_fingerprint_uq ON dwh_etl.quarantine (fingerprint) "
                 "WHERE resolved_at IS NULL")

    assert rows(conn, """
        SELECT payload->>'amount', deliveries, resolution FROM dwh_etl.quarantine ORDER BY quarantine_id
    """) == [
        ("x1", 1, "duplicate: the same record is quarantined as entry 3"),
        ("x1", 1, "duplicate: the same record is quarantined as entry 3"),
        ("x1", 3, None),
        ("y2", 1, None),
    ]
