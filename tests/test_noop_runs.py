"""A run with nothing new costs nothing (issue 15, "per-run cost must follow the delta").

The runner does not call a step whose inputs did not move since its last success (dwh_etl._step_unchanged):
silver steps whose load windows are empty; other steps whose silver/gold/mart sources no lineage shows
written since. The step is recorded 'completed' with dwh_lineage.step_runs.skipped_reason, its quality rules
are still evaluated and recorded (batch-scoped ones see no rows, without a scan), and what it would have
recorded itself (the reconciliation of an empty load) is recorded. The fingerprint test checks that the
warehouse ends up with the same rows; these tests check when a step is skipped, and when it must run.

Uses the `conn` fixture of tests/conftest.py (autocommit connection to a fresh, migrated database).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import psycopg
import pytest
from psycopg.types.json import Jsonb

RUN_DATE = dt.date(2025, 1, 31)


def scalar(conn, sql, params=None):
    return conn.execute(sql, params).fetchone()[0]


def rows(conn, sql, params=None):
    return conn.execute(sql, params).fetchall()


def run(conn, pipeline, run_date=RUN_DATE, steps=None):
    if steps is None:
        return scalar(conn, "CALL dwh_etl.run_pipeline(p_pipeline => %s, p_run_date => %s, p_run_id => NULL)",
                      (pipeline, run_date))
    return scalar(conn, "CALL dwh_etl.run_steps(p_pipeline => %s, p_run_date => %s, p_run_id => NULL, p_steps => %s)",
                  (pipeline, run_date, steps))


def step_rows(conn, run_id):
    return {r[0]: r[1:] for r in rows(conn, """
        SELECT step_name, status, skipped_reason IS NOT NULL FROM dwh_lineage.step_runs WHERE run_id = %s""",
        (run_id,))}


@pytest.fixture
def area(conn):
    """Pipeline `noop`: `load` (custom, no sources: always runs) appends public.feed's pending rows to
    public.t_silver (registered, layer silver) and logs them; `mart` (custom, source public.t_silver)
    rebuilds public.t_mart (registered, layer mart) and notes each call in public.calls. A batch-scoped
    not_null rule on public.t_mart."""
    conn.execute("""
        CREATE TABLE public.feed (v integer);
        CREATE TABLE public.t_silver (v integer, _batch_id uuid);
        CREATE TABLE public.t_mart (n bigint, total bigint, _batch_id uuid);
        CREATE TABLE public.calls (step text, run_id bigint);
        CREATE PROCEDURE public.step_load(p_run_id bigint, p_run_date date)
        LANGUAGE plpgsql AS $$
        DECLARE v_n bigint;
        BEGIN
            INSERT INTO public.calls VALUES ('load', p_run_id);
            INSERT INTO public.t_silver SELECT v, (dwh_etl.get_run_context(p_run_id)).batch_id FROM public.feed;
            GET DIAGNOSTICS v_n = ROW_COUNT;
            DELETE FROM public.feed;
            PERFORM dwh_lineage.log_transformation(in_source_table => 'public.feed', in_target_table => 'public.t_silver',
                in_batch_id => (dwh_etl.get_run_context(p_run_id)).batch_id, in_rows_inserted => v_n, in_run_id => p_run_id);
        END $$;
        CREATE PROCEDURE public.step_mart(p_run_id bigint, p_run_date date)
        LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO public.calls VALUES ('mart', p_run_id);
            DELETE FROM public.t_mart;
            INSERT INTO public.t_mart SELECT count(*), sum(v), (dwh_etl.get_run_context(p_run_id)).batch_id FROM public.t_silver;
            PERFORM dwh_lineage.log_transformation(in_source_table => 'public.t_silver', in_target_table => 'public.t_mart',
                in_batch_id => (dwh_etl.get_run_context(p_run_id)).batch_id, in_rows_inserted => 1, in_rows_deleted => 1,
                in_run_id => p_run_id);
        END $$;
    """)
    conn.execute("CALL dwh_etl.register_tables(p_area => 'noop', p_tables => %s)", (Jsonb([
        {"table": "public.t_silver", "layer": "silver"}, {"table": "public.t_mart", "layer": "mart"}]),))
    conn.execute("CALL dwh_etl.register_pipeline(p_pipeline => 'noop', p_description => 'test', p_schedules => '{}')")
    conn.execute("CALL dwh_etl.register_steps(p_pipeline => 'noop', p_area => 'noop', p_steps => %s)", (Jsonb([
        {"step": "load", "procedure": "public.step_load", "layer": "silver", "targets": ["public.t_silver"]},
        {"step": "mart", "procedure": "public.step_mart", "layer": "mart", "depends_on": ["load"],
         "sources": ["public.t_silver"], "targets": ["public.t_mart"]},
    ]),))
    conn.execute("CALL dwh_etl.register_rules(p_area => 'noop', p_rules => %s)", (Jsonb([
        {"name": "noop_mart_total_not_null", "table": "public.t_mart", "type": "not_null", "columns": ["total"]}]),))
    conn.execute("INSERT INTO public.feed VALUES (1), (2)")
    return conn


def calls(conn, run_id):
    return [r[0] for r in rows(conn, "SELECT step FROM public.calls WHERE run_id = %s ORDER BY step", (run_id,))]


def test_a_step_whose_sources_did_not_move_is_skipped_and_says_why(area):
    conn = area
    first = run(conn, "noop")
    assert calls(conn, first) == ["load", "mart"]
    assert step_rows(conn, first) == {"load": ("completed", False), "mart": ("completed", False)}

    second = run(conn, "noop")  # nothing new in public.feed: load writes 0 rows
    assert calls(conn, second) == ["load"]
    assert step_rows(conn, second) == {"load": ("completed", False), "mart": ("completed", True)}
    reason = scalar(conn, "SELECT skipped_reason FROM dwh_lineage.step_runs WHERE run_id = %s AND step_name = 'mart'",
                    (second,))
    assert reason.startswith("unchanged: nothing it reads (public.t_silver) was written since its last success")
    assert scalar(conn, "SELECT metrics->>'unchanged_steps' FROM dwh_lineage.pipeline_runs WHERE run_id = %s",
                  (second,)) == "1"
    assert rows(conn, "SELECT n, total FROM public.t_mart") == [(2, 3)]
    # its rules are still evaluated and recorded: the batch wrote no row there
    assert rows(conn, """SELECT metric_name, rows_checked, passed, scope FROM dwh_lineage.quality_metrics
                         WHERE run_id = %s AND table_name = 'public.t_mart'""", (second,)) == [
        ("noop_mart_total_not_null", 0, True, "batch")]

    conn.execute("INSERT INTO public.feed VALUES (10)")
    third = run(conn, "noop")
    assert calls(conn, third) == ["load", "mart"]
    assert step_rows(conn, third)["mart"] == ("completed", False)
    assert rows(conn, "SELECT n, total FROM public.t_mart") == [(3, 13)]
    assert rows(conn, """SELECT metric_name, rows_checked, passed FROM dwh_lineage.quality_metrics
                         WHERE run_id = %s AND table_name = 'public.t_mart'""", (third,)) == [
        ("noop_mart_total_not_null", 1, True)]


def test_another_run_date_a_selection_or_the_setting_off_run_the_step(area):
    conn = area
    run(conn, "noop")
    assert calls(conn, run(conn, "noop", RUN_DATE + dt.timedelta(days=1))) == ["load", "mart"]
    assert calls(conn, run(conn, "noop", RUN_DATE + dt.timedelta(days=1))) == ["load"]
    # dwh run --select: the chosen steps run
    assert calls(conn, run(conn, "noop", RUN_DATE + dt.timedelta(days=1), steps=["mart"])) == ["mart"]
    conn.execute("INSERT INTO dwh_etl.settings (key, value) VALUES ('runner.skip_unchanged', 'off') "
                 "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value")
    assert calls(conn, run(conn, "noop", RUN_DATE + dt.timedelta(days=1))) == ["load", "mart"]


def test_a_failed_last_attempt_runs_the_step_again(area):
    conn = area
    run(conn, "noop")
    conn.execute("UPDATE dwh_lineage.step_runs SET status = 'failed' WHERE step_name = 'mart'")
    assert calls(conn, run(conn, "noop")) == ["load", "mart"]


def test_a_window_held_back_by_an_open_transaction_is_not_taken_as_seen(conn, dsn):
    """A windowed step whose window stopped at an open transaction left rows for later: the next run must
    call it even though nothing new was written since (else those rows would wait for the next write)."""
    conn.execute("""
        CREATE TABLE public.w_feed (v integer);
        CREATE TABLE public.w_silver (v integer, _loaded_at timestamptz NOT NULL DEFAULT now());
        CREATE TABLE public.w_fact (v integer);
        CREATE PROCEDURE public.step_w_load(p_run_id bigint, p_run_date date)
        LANGUAGE plpgsql AS $$
        DECLARE v_n bigint;
        BEGIN
            INSERT INTO public.w_silver (v) SELECT v FROM public.w_feed;
            GET DIAGNOSTICS v_n = ROW_COUNT;
            DELETE FROM public.w_feed;
            PERFORM dwh_lineage.log_transformation(in_source_table => 'public.w_feed', in_target_table => 'public.w_silver',
                in_batch_id => NULL, in_rows_inserted => v_n, in_run_id => p_run_id);
        END $$;
        CREATE PROCEDURE public.step_w_fact(p_run_id bigint, p_run_date date)
        LANGUAGE plpgsql AS $$
        DECLARE w record; v_n bigint;
        BEGIN
            w := dwh_etl.window_bounds('public.w_fact');
            INSERT INTO public.w_fact SELECT v FROM public.w_silver WHERE _loaded_at >= w.from_ts AND _loaded_at < w.to_ts;
            GET DIAGNOSTICS v_n = ROW_COUNT;
            CALL dwh_etl.set_watermark('public.w_fact', '_loaded_at', w.to_ts);
            PERFORM dwh_lineage.log_transformation(in_source_table => 'public.w_silver', in_target_table => 'public.w_fact',
                in_batch_id => NULL, in_rows_inserted => v_n, in_run_id => p_run_id);
        END $$;
    """)
    conn.execute("CALL dwh_etl.register_tables(p_area => 'w', p_tables => %s)", (Jsonb([
        {"table": "public.w_silver", "layer": "silver"}, {"table": "public.w_fact", "layer": "gold"}]),))
    conn.execute("CALL dwh_etl.register_pipeline(p_pipeline => 'w', p_description => 'test', p_schedules => '{}')")
    conn.execute("CALL dwh_etl.register_steps(p_pipeline => 'w', p_area => 'w', p_steps => %s)", (Jsonb([
        {"step": "w_load", "procedure": "public.step_w_load", "layer": "silver", "targets": ["public.w_silver"]},
        {"step": "w_fact", "procedure": "public.step_w_fact", "layer": "gold", "depends_on": ["w_load"],
         "sources": ["public.w_silver"], "targets": ["public.w_fact"]},
    ]),))
    conn.execute("INSERT INTO public.w_feed VALUES (1)")
    run(conn, "w")
    assert scalar(conn, "SELECT count(*) FROM public.w_fact") == 1

    def fact_skipped(run_id):
        return scalar(conn, "SELECT skipped_reason IS NOT NULL FROM dwh_lineage.step_runs "
                            "WHERE run_id = %s AND step_name = 'w_fact'", (run_id,))

    with psycopg.connect(dsn) as other:
        other.execute("SELECT 1")  # an open transaction: windows stop at its start
        conn.execute("INSERT INTO public.w_feed VALUES (2)")
        held = run(conn, "w")
        other.rollback()
    # the new row landed in silver after the open transaction began: the fact's window stopped before it
    assert scalar(conn, "SELECT count(*) FROM public.w_fact") == 1
    assert scalar(conn, "SELECT metrics->'windows_held_back' FROM dwh_lineage.pipeline_runs WHERE run_id = %s",
                  (held,)) == ["w_fact"]
    # nothing new since, but the fact's last run was held back: it runs and loads the row
    after = run(conn, "w")
    assert not fact_skipped(after)
    assert scalar(conn, "SELECT count(*) FROM public.w_fact") == 2
    assert fact_skipped(run(conn, "w"))


def test_a_step_window_held_back_during_the_run_is_recorded(conn, dsn):
    conn.execute("""
        CREATE PROCEDURE public.step_windowed(p_run_id bigint, p_run_date date)
        LANGUAGE plpgsql AS $$
        DECLARE w record;
        BEGIN
            w := dwh_etl.window_bounds('public.windowed');
        END $$;
    """)
    conn.execute("CALL dwh_etl.register_pipeline(p_pipeline => 'win', p_description => 'test', p_schedules => '{}')")
    conn.execute("CALL dwh_etl.register_steps(p_pipeline => 'win', p_area => 'win', p_steps => %s)", (Jsonb([
        {"step": "windowed", "procedure": "public.step_windowed", "layer": "gold"}]),))
    quiet = run(conn, "win")
    assert scalar(conn, "SELECT metrics ? 'windows_held_back' FROM dwh_lineage.pipeline_runs WHERE run_id = %s", (quiet,)) is False
    # a session whose transaction is open while the step reads its window holds it back: said with the
    # run as soon as the step commits (also when the transaction opened after the run started)
    with psycopg.connect(dsn) as other:
        other.execute("SELECT 1")
        held = run(conn, "win")
        other.rollback()
    assert scalar(conn, "SELECT metrics->'windows_held_back' FROM dwh_lineage.pipeline_runs WHERE run_id = %s",
                  (held,)) == ["windowed"]


def test_rows_written_without_lineage_are_still_checked(area):
    """The batch-scoped rules skip their scan only when every step of the run that wrote the table logged
    it: a custom step that writes rows of the batch and logs nothing gets the scan (and its gate)."""
    conn = area
    conn.execute("""
        CREATE OR REPLACE PROCEDURE public.step_mart(p_run_id bigint, p_run_date date)
        LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO public.calls VALUES ('mart', p_run_id);
            INSERT INTO public.t_mart VALUES (0, NULL, (dwh_etl.get_run_context(p_run_id)).batch_id);
        END $$;
    """)
    with pytest.raises(psycopg.Error):
        run(conn, "noop")
    failed = scalar(conn, "SELECT max(run_id) FROM dwh_lineage.pipeline_runs")
    assert rows(conn, "SELECT status, sqlstate FROM dwh_lineage.step_runs WHERE run_id = %s AND step_name = 'mart'",
                (failed,)) == [("failed", "DW004")]
    assert scalar(conn, "SELECT count(*) FROM public.t_mart WHERE total IS NULL") == 0


def test_a_no_op_daily_skips_the_sales_steps_and_the_next_day_runs_them(conn):
    """The sales area end to end: a second `daily` for the same date with nothing new skips its silver, gold
    and mart steps and leaves every sales table as it was; the next day of the source runs them again."""
    day = dt.date(2099, 1, 15)
    conn.execute("UPDATE dwh_etl.settings SET value = '1500' WHERE key = 'partitions.max_months_ahead'")
    conn.execute("CALL sales_src.generate(p_scale => %s, p_seed => 42, p_today => %s)", (Decimal("0.005"), day))

    def daily():
        return scalar(conn, "CALL dwh_etl.run_steps(p_pipeline => 'daily', p_run_date => %s, p_run_id => NULL, "
                            "p_allow_future => true)", (day,))

    def sales_tables():
        return {t: scalar(conn, f"SELECT md5(string_agg(x::text, '|' ORDER BY x::text)) FROM {t} AS x")
                for t in ("silver.sales_sales", "sales.fact_sales", "sales.agg_daily_sales",
                          "sales.mv_customer_lifetime_value", "sales.dim_customer")}

    daily()
    before = sales_tables()
    noop = daily()
    skipped = {r[0] for r in rows(conn, """SELECT step_name FROM dwh_lineage.step_runs
                                           WHERE run_id = %s AND skipped_reason IS NOT NULL""", (noop,))}
    assert {"sales_silver_customers", "sales_silver_products", "sales_silver_sales", "sales_dim_customer",
            "sales_dim_product", "sales_fact_sales", "sales_agg_daily_sales", "sales_customer_ltv",
            "sales_customer_metrics"} <= skipped
    assert "sales_extract" not in skipped  # reads the source: always runs
    assert scalar(conn, "SELECT status FROM dwh_lineage.pipeline_runs WHERE run_id = %s", (noop,)) == "completed"
    assert sales_tables() == before
    # the silver and fact loaders' reconciliation of an empty load is recorded as they record it
    assert rows(conn, """SELECT table_name, rows_checked, passed FROM dwh_lineage.quality_metrics
                         WHERE run_id = %s AND metric_name = 'reconciliation' AND table_name LIKE %s
                         ORDER BY id""", (noop, "%sales%")) == [
        ("silver.sales_customers", 0, True), ("silver.sales_products", 0, True),
        ("silver.sales_sales", 0, True), ("sales.fact_sales", 0, True)]

    conn.execute("SELECT setseed(0.5)")
    conn.execute("CALL sales_src.generate_next_day(p_day => %s)", (day,))
    next_run = daily()
    ran = {r[0] for r in rows(conn, """SELECT step_name FROM dwh_lineage.step_runs
                                       WHERE run_id = %s AND skipped_reason IS NULL""", (next_run,))}
    assert {"sales_silver_sales", "sales_fact_sales", "sales_agg_daily_sales", "sales_customer_ltv",
            "sales_customer_metrics"} <= ran
    assert sales_tables()["sales.fact_sales"] != before["sales.fact_sales"]
