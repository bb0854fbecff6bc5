"""The run context passed explicitly (issue 10): a step gets its run id, and dwh_etl.get_run_context
reads batch, pipeline, run date and running step from the run's own records; the quality gate of a step
records its results itself (no jsonb smuggled through an error's DETAIL).

Each test registers a throwaway pipeline whose custom steps are procedures in schema public. Uses `conn`
(autocommit connection to a fresh clone of the migrated database) and `dsn` for other sessions.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import uuid

import psycopg
import pytest
from psycopg.types.json import Jsonb

RUN_DATE = dt.date(2025, 1, 31)


def scalar(conn, sql, params=None):
    return conn.execute(sql, params).fetchone()[0]


def rows(conn, sql, params=None):
    return conn.execute(sql, params).fetchall()


def register(conn, pipeline, steps, area="test"):
    conn.execute("CALL dwh_etl.register_pipeline(p_pipeline => %s, p_description => %s, p_schedules => %s)",
                 (pipeline, f"test pipeline {pipeline}", []))
    conn.execute("CALL dwh_etl.register_steps(p_pipeline => %s, p_area => %s, p_steps => %s)",
                 (pipeline, area, Jsonb(steps)))


def run(conn, pipeline, run_date=RUN_DATE):
    return scalar(conn, "CALL dwh_etl.run_pipeline(p_pipeline => %s, p_run_date => %s, p_run_id => NULL)",
                  (pipeline, run_date))


def run_row(conn, run_id):
    return rows(conn, "SELECT batch_id, pipeline_name, run_date FROM dwh_lineage.pipeline_runs WHERE run_id = %s",
                (run_id,))[0]


@pytest.fixture
def seen(conn):
    """public.ctx_seen: what a step saw of its context, by how it asked."""
    conn.execute("""
        CREATE TABLE public.ctx_seen (
            step     text NOT NULL,
            how      text NOT NULL,
            run_id   bigint,
            batch_id uuid,
            pipeline text,
            run_date date,
            step_name text
        )
    """)
    return conn


def literal(text):
    return "'" + text.replace("'", "''") + "'"


def make_context_step(conn, name, wait_lock=None, nested_dsn=None):
    """public.step_<name>: records get_run_context(p_run_id) ('explicit') and get_run_context(NULL)
    ('implicit'); optionally waits for advisory lock wait_lock in between, and asks a nested session
    (dblink to nested_dsn) for its context ('nested')."""
    wait = f"PERFORM pg_advisory_lock({wait_lock}); PERFORM pg_advisory_unlock({wait_lock});" if wait_lock else ""
    nested = ""
    if nested_dsn:
        nested = f"""
            INSERT INTO public.ctx_seen
            SELECT '{name}', 'nested', n.run_id, n.batch_id, n.pipeline, n.run_date, n.step_name
            FROM dwh_remote.dblink({literal(nested_dsn)},
                 'SELECT run_id, batch_id, pipeline_name, run_date, step_name FROM dwh_etl.get_run_context()')
                 AS n (run_id bigint, batch_id uuid, pipeline text, run_date date, step_name text);"""
    conn.execute(f"""
        CREATE PROCEDURE public.step_{name}(p_run_id bigint, p_run_date date)
        LANGUAGE plpgsql
        AS $$
        BEGIN
            INSERT INTO public.ctx_seen
            SELECT '{name}', 'explicit', c.run_id, c.batch_id, c.pipeline_name, c.run_date, c.step_name
            FROM dwh_etl.get_run_context(p_run_id) AS c;
            {wait}
            INSERT INTO public.ctx_seen
            SELECT '{name}', 'implicit', c.run_id, c.batch_id, c.pipeline_name, c.run_date, c.step_name
            FROM dwh_etl.get_run_context(NULL) AS c;
            {nested}
        END;
        $$
    """)


# ---------------------------------------------------------------------------------------------
# Outside a pipeline
# ---------------------------------------------------------------------------------------------

def test_context_outside_a_pipeline_is_no_run_a_fresh_batch_and_today_in_utc(conn):
    # a client far from UTC: the default run date is still the UTC date
    conn.execute("SET TimeZone = 'Pacific/Kiritimati'")
    first = rows(conn, "SELECT * FROM dwh_etl.get_run_context()")[0]
    second = rows(conn, "SELECT * FROM dwh_etl.get_run_context(NULL)")[0]
    today_utc = scalar(conn, "SELECT (now() AT TIME ZONE 'UTC')::date")
    assert (first[0], first[2], first[3], first[4]) == (None, None, today_utc, None)
    assert isinstance(first[1], uuid.UUID) and isinstance(second[1], uuid.UUID) and first[1] != second[1]


def test_engine_routines_called_from_psql_work_without_a_run(conn):
    """A DBA's call outside any pipeline: no run, no step, one batch for the call."""
    conn.execute("CALL dwh_etl.step_calendar(p_run_id => NULL, p_run_date => %s)", (RUN_DATE,))
    conn.execute("SELECT dwh_lineage.log_refresh('gold.mv_x', 'gold.x', 3)")
    assert rows(conn, """
        SELECT target_table, run_id, step_name, batch_id IS NOT NULL FROM dwh_lineage.table_lineage ORDER BY lineage_id
    """) == [("gold.dim_date", None, None, True), ("gold.mv_x", None, None, True)]
    assert scalar(conn, "SELECT count(*) FROM gold.dim_date WHERE full_date = %s", (RUN_DATE,)) == 1


def test_an_unknown_run_id_is_an_error_not_a_default(conn):
    with pytest.raises(psycopg.Error) as exc:
        conn.execute("SELECT * FROM dwh_etl.get_run_context(987654321)")
    assert exc.value.sqlstate == "22023"
    assert exc.value.diag.message_primary == "unknown run 987654321"


def test_the_explicit_run_id_needs_no_session_settings(conn):
    """A run driven by hand (records only, no dwh.* settings): engine routines given the run id log
    for that run and its running step."""
    run_id, batch = conn.execute("""
        INSERT INTO dwh_lineage.pipeline_runs (pipeline_name, run_date) VALUES ('by_hand', DATE '2025-01-31')
        RETURNING run_id, batch_id
    """).fetchone()
    conn.execute("""
        INSERT INTO dwh_lineage.step_runs (run_id, step_name, procedure_name, step_order, status, completed_at)
        VALUES (%s, 'earlier', 'public.x', 1, 'completed', now()), (%s, 'now_running', 'public.y', 2, 'running', NULL)
    """, (run_id, run_id))
    assert scalar(conn, "SELECT current_setting('dwh.run_id', true)") in (None, "")
    assert rows(conn, "SELECT * FROM dwh_etl.get_run_context(%s)", (run_id,)) == [
        (run_id, batch, "by_hand", RUN_DATE, "now_running")]
    conn.execute("SELECT dwh_lineage.log_transformation('a.src', 'a.tgt', NULL, 5, in_run_id => %s)", (run_id,))
    conn.execute("SELECT dwh_lineage.log_refresh('a.mv', 'a.tgt', 5, in_run_id => %s)", (run_id,))
    conn.execute("SELECT dwh_etl.quality_record(%s, %s)", (Jsonb([{
        "rule_name": "r", "table_name": "a.tgt", "rule_type": "not_null", "severity": "error", "threshold": 0,
        "threshold_type": "count", "rows_checked": 5, "failing": 0, "metric_value": 0, "passed": True}]), run_id))
    assert rows(conn, "SELECT run_id, batch_id, step_name FROM dwh_lineage.table_lineage ORDER BY lineage_id") == [
        (run_id, batch, "now_running"), (run_id, batch, "now_running")]
    assert rows(conn, "SELECT run_id, batch_id FROM dwh_lineage.quality_metrics") == [(run_id, batch)]


# ---------------------------------------------------------------------------------------------
# Inside a run: the step's own context, never another session's
# ---------------------------------------------------------------------------------------------

def test_a_step_reads_its_context_from_its_run_id(seen):
    conn = seen
    make_context_step(conn, "one")
    make_context_step(conn, "two")
    register(conn, "ctx", [
        {"step": "one", "procedure": "public.step_one", "layer": "bronze"},
        {"step": "two", "procedure": "public.step_two", "layer": "silver", "depends_on": ["one"]},
    ])
    run_id = run(conn, "ctx")
    batch, pipeline, run_date = run_row(conn, run_id)
    assert sorted(rows(conn, "SELECT * FROM public.ctx_seen")) == sorted([
        ("one", "explicit", run_id, batch, "ctx", RUN_DATE, "one"),
        ("one", "implicit", run_id, batch, "ctx", RUN_DATE, "one"),
        ("two", "explicit", run_id, batch, "ctx", RUN_DATE, "two"),
        ("two", "implicit", run_id, batch, "ctx", RUN_DATE, "two"),
    ])
    # after the run this session has no context any more
    assert rows(conn, "SELECT run_id, step_name FROM dwh_etl.get_run_context()") == [(None, None)]


def test_a_nested_session_opened_by_a_step_does_not_see_its_run(seen, dsn):
    conn = seen
    make_context_step(conn, "outer", nested_dsn=dsn)
    register(conn, "ctx_nested", [{"step": "outer", "procedure": "public.step_outer", "layer": "bronze"}])
    run_id = run(conn, "ctx_nested")
    today_utc = scalar(conn, "SELECT (now() AT TIME ZONE 'UTC')::date")
    assert rows(conn, "SELECT how, run_id, pipeline, run_date, step_name FROM public.ctx_seen ORDER BY how") == [
        ("explicit", run_id, "ctx_nested", RUN_DATE, "outer"),
        ("implicit", run_id, "ctx_nested", RUN_DATE, "outer"),
        ("nested", None, None, today_utc, None),
    ]
    batches = dict(rows(conn, "SELECT how, batch_id FROM public.ctx_seen"))
    assert batches["nested"] != batches["explicit"]


def test_concurrent_runs_each_see_only_their_own_context(seen, dsn):
    """Run A's step waits (advisory lock) while run B runs whole in another session, and while a third
    session looks: each step sees its own run, the onlooker none (unless it names A's run id)."""
    conn = seen
    make_context_step(conn, "a_step", wait_lock=731)
    make_context_step(conn, "b_step")
    register(conn, "ctx_a", [{"step": "a_step", "procedure": "public.step_a_step", "layer": "bronze"}])
    register(conn, "ctx_b", [{"step": "b_step", "procedure": "public.step_b_step", "layer": "bronze"}])
    with psycopg.connect(dsn, autocommit=True) as holder, psycopg.connect(dsn, autocommit=True) as other:
        holder.execute("SELECT pg_advisory_lock(731)")
        result = {}

        def run_a():
            with psycopg.connect(dsn, autocommit=True) as a_conn:
                result["a"] = run(a_conn, "ctx_a")

        thread = threading.Thread(target=run_a)
        thread.start()
        try:
            deadline = time.monotonic() + 30
            # the step's own rows are not committed yet: its step_runs row (committed before it starts) is
            while not scalar(other, "SELECT count(*) FROM dwh_lineage.step_runs WHERE step_name = 'a_step' "
                                    "AND status = 'running'"):
                assert time.monotonic() < deadline, "run A's step did not start"
                time.sleep(0.05)
            a_run = scalar(other, "SELECT run_id FROM dwh_lineage.step_runs WHERE step_name = 'a_step'")
            # an onlooker session: no context of its own, A's only when it names A's run
            assert rows(other, "SELECT run_id, step_name FROM dwh_etl.get_run_context()") == [(None, None)]
            assert rows(other, "SELECT run_id, step_name FROM dwh_etl.get_run_context(%s)", (a_run,)) == [
                (a_run, "a_step")]
            b_run = run(conn, "ctx_b")
        finally:
            holder.execute("SELECT pg_advisory_unlock(731)")
            thread.join(60)
    assert result["a"] == a_run
    a_batch, _, _ = run_row(conn, a_run)
    b_batch, _, _ = run_row(conn, b_run)
    assert sorted(rows(conn, "SELECT step, how, run_id, batch_id, pipeline, step_name FROM public.ctx_seen")) == sorted([
        ("a_step", "explicit", a_run, a_batch, "ctx_a", "a_step"),
        ("a_step", "implicit", a_run, a_batch, "ctx_a", "a_step"),
        ("b_step", "explicit", b_run, b_batch, "ctx_b", "b_step"),
        ("b_step", "implicit", b_run, b_batch, "ctx_b", "b_step"),
    ])


# ---------------------------------------------------------------------------------------------
# The quality gate records its own results
# ---------------------------------------------------------------------------------------------

@pytest.fixture
def gated(conn):
    """public.gate_items written by step `load` with the run's batch (from its run id); rules on it."""
    conn.execute("""
        CREATE TABLE public.gate_items (id integer, qty integer, _batch_id uuid);
        CREATE PROCEDURE public.step_load(p_run_id bigint, p_run_date date)
        LANGUAGE plpgsql
        AS $$
        DECLARE
            v_ctx dwh_etl.run_context := dwh_etl.get_run_context(p_run_id);
        BEGIN
            INSERT INTO public.gate_items SELECT g, g, v_ctx.batch_id FROM generate_series(1, 5) AS g;
            PERFORM dwh_lineage.log_transformation('public.gate_src', 'public.gate_items', v_ctx.batch_id, 5,
                                                   in_run_id => p_run_id);
        END;
        $$;
    """)
    register(conn, "gate", [
        {"step": "load", "procedure": "public.step_load", "layer": "silver", "targets": ["public.gate_items"]},
    ])
    return conn


def test_a_failing_gate_records_its_results_and_the_error_names_the_rule(gated):
    conn = gated
    conn.execute("CALL dwh_etl.register_rules(p_area => 'test', p_rules => %s)", (Jsonb([
        {"name": "qty_at_most_3", "table": "public.gate_items", "type": "range", "columns": ["qty"],
         "params": {"max": 3}},
        {"name": "id_not_null", "table": "public.gate_items", "type": "not_null", "columns": ["id"]},
    ]),))
    with pytest.raises(psycopg.Error) as exc:
        run(conn, "gate")
    assert exc.value.sqlstate == "DW003"
    run_id = scalar(conn, "SELECT max(run_id) FROM dwh_lineage.pipeline_runs WHERE pipeline_name = 'gate'")
    batch, _, _ = run_row(conn, run_id)
    assert "qty_at_most_3 (2 failing of 5)" in str(exc.value)
    assert rows(conn, """
        SELECT status, sqlstate, error_message, error_detail, error_hint FROM dwh_lineage.step_runs
        WHERE run_id = %s AND step_name = 'load'
    """, (run_id,)) == [("failed", "DW004", "quality gate failed: qty_at_most_3 (2 failing of 5)",
                         f"quality results recorded in dwh_lineage.quality_metrics (run_id {run_id})",
                         "the step's writes were rolled back; dwh quality --failed shows the failing rows")]
    assert scalar(conn, "SELECT error_message FROM dwh_lineage.pipeline_runs WHERE run_id = %s", (run_id,)) == \
        "step load failed: quality gate failed: qty_at_most_3 (2 failing of 5)"
    # nothing published, every result kept with the run and its batch
    assert scalar(conn, "SELECT count(*) FROM public.gate_items") == 0
    assert sorted(rows(conn, """
        SELECT metric_name, passed, metric_value, rows_checked, batch_id FROM dwh_lineage.quality_metrics
        WHERE run_id = %s
    """, (run_id,))) == [("id_not_null", True, 0, 5, batch), ("qty_at_most_3", False, 2, 5, batch)]
    sample = scalar(conn, "SELECT failing_sample FROM dwh_lineage.quality_metrics WHERE run_id = %s AND NOT passed",
                    (run_id,))
    assert sorted(s["qty"] for s in sample) == [4, 5]
    # and `dwh quality` reads it from there
    failed = scalar(conn, "SELECT dwh_etl.status_report()")
    assert "qty_at_most_3" in json.dumps(failed)


def test_a_passing_gate_records_its_results_with_the_published_rows(gated):
    conn = gated
    conn.execute("CALL dwh_etl.register_rules(p_area => 'test', p_rules => %s)", (Jsonb([
        {"name": "qty_at_most_9", "table": "public.gate_items", "type": "range", "columns": ["qty"],
         "params": {"max": 9}},
    ]),))
    run_id = run(conn, "gate")
    batch, _, _ = run_row(conn, run_id)
    assert scalar(conn, "SELECT count(*) FROM public.gate_items WHERE _batch_id = %s", (batch,)) == 5
    assert rows(conn, "SELECT metric_name, passed, run_id, batch_id FROM dwh_lineage.quality_metrics") == [
        ("qty_at_most_9", True, run_id, batch)]
