"""The maintenance pipeline's operations (dwh_etl.op_*), each called by hand and as steps of the
`maintenance` pipeline: partitions ahead, calendar, mart refresh, ANALYZE, retention to schema archive,
purge of run and cron history."""

from __future__ import annotations

import datetime as dt
import time

import psycopg
import pytest



def scalar(conn, sql, params=None):
    return conn.execute(sql, params).fetchone()[0]


def rows(conn, sql, params=None):
    return conn.execute(sql, params).fetchall()


def partitions(conn, table="sales.fact_sales"):
    return [r[0] for r in rows(conn, """
        SELECT c.relname FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid
        WHERE i.inhparent = %s::regclass ORDER BY 1
    """, (table,))]


def month_name(day: dt.date, table="fact_sales") -> str:
    return f"{table}_p{day:%Y%m}"


def add_months(day: dt.date, n: int) -> dt.date:
    m = day.month - 1 + n
    return dt.date(day.year + m // 12, m % 12 + 1, 1)


@pytest.fixture
def loaded(sales_loaded_template, conn):
    """The sales source generated (scale 0.005), `daily` run once (conn: a clone of a database built so
    once: tests/conftest.py sales_loaded_template)."""
    return conn


def test_maintenance_pipeline_is_registered_with_its_steps_in_order(conn):
    assert rows(conn, "SELECT schedules, is_active FROM dwh_etl.pipelines WHERE pipeline_name = 'maintenance'") == [
        (["0 3 * * *"], True)]
    assert rows(conn, "SELECT step_name, procedure_name FROM dwh_etl._ordered_steps('maintenance')") == [
        ("extend_calendar", "dwh_etl.op_extend_calendar"),
        ("date_flags", "dwh_etl.op_date_flags"),  # issue 18: seed 002's relative calendar flags
        ("partitions_ahead", "dwh_etl.op_partitions_ahead"),
        ("retention", "dwh_etl.op_retention"),
        ("compact_bronze", "dwh_etl.op_compact_bronze"),
        ("refresh_marts", "dwh_etl.op_refresh_marts"),
        ("analyze", "dwh_etl.op_analyze"),
        ("purge_history", "dwh_etl.op_purge_history"),
        # the citizen area's purge of raw web-analytics events (issue 12), after the engine's steps
        ("citizen_purge_raw_events", "citizen.step_purge_raw_events"),
        # issue 18: seed 000's retention of fact_issue_processing and its monthly maintenance
        ("devflow_archive_issue_processing", "devflow.archive_issue_processing"),
        ("vacuum", "dwh_etl.op_vacuum"),
        ("reindex", "dwh_etl.op_reindex"),
        ("statement_stats", "dwh_etl.op_statement_stats"),
    ]


def test_maintenance_pipeline_runs_every_step(loaded, cron_dsn):
    conn = loaded
    run_id = scalar(conn, "CALL dwh_etl.run_pipeline(p_pipeline => 'maintenance', p_run_id => NULL)")
    assert rows(conn, "SELECT step_name, status FROM dwh_lineage.step_runs WHERE run_id = %s ORDER BY step_order",
                (run_id,)) == [("extend_calendar", "completed"), ("date_flags", "completed"), ("partitions_ahead", "completed"),
                               ("retention", "completed"), ("compact_bronze", "completed"), ("refresh_marts", "completed"),
                               ("analyze", "completed"), ("purge_history", "completed"),
                               ("citizen_purge_raw_events", "completed"),
                               ("devflow_archive_issue_processing", "completed"), ("vacuum", "completed"),
                               ("reindex", "completed"), ("statement_stats", "completed")]
    # the default horizon (3 years) keeps the demo's last year
    assert scalar(conn, "SELECT count(*) FROM dwh_etl.archived_partitions") == 0


def test_partitions_ahead_fills_from_the_earliest_partition_to_three_months_ahead(conn):
    conn.execute("SELECT dwh_etl.ensure_partitions('sales.fact_sales', DATE '2024-01-01', DATE '2024-01-01', 0)")
    assert partitions(conn) == ["fact_sales_p202401"]
    today = scalar(conn, "SELECT CURRENT_DATE")

    conn.execute("CALL dwh_etl.op_partitions_ahead(NULL, CURRENT_DATE)")

    expected, day = [], dt.date(2024, 1, 1)
    while day <= add_months(today, 3):
        expected.append(month_name(day))
        day = add_months(day, 1)
    assert partitions(conn) == expected
    assert rows(conn, """
        SELECT target_table, operation, notes LIKE 'partitions ahead: %%' FROM dwh_lineage.table_lineage
        WHERE target_table = 'sales.fact_sales'
    """) == [("sales.fact_sales", "refresh", True)]
    # idempotent
    conn.execute("CALL dwh_etl.op_partitions_ahead(NULL, CURRENT_DATE)")
    assert partitions(conn) == expected


def test_extend_calendar_reaches_the_horizon(conn):
    conn.execute("UPDATE dwh_etl.settings SET value = '40' WHERE key = 'calendar.days_ahead'")
    conn.execute("CALL dwh_etl.op_extend_calendar(NULL, CURRENT_DATE)")
    assert scalar(conn, "SELECT max(full_date) - CURRENT_DATE FROM gold.dim_date") == 40


def test_retention_moves_old_partitions_to_archive_without_copying_rows(loaded):
    conn = loaded
    conn.execute("UPDATE dwh_etl.settings SET value = '6 months' WHERE key = 'retention.sales.fact_sales'")
    cutoff = scalar(conn, "SELECT (CURRENT_DATE - interval '6 months')::date")
    old = [p for p in partitions(conn) if dt.date(int(p[-6:-2]), int(p[-2:]), 1) < dt.date(cutoff.year, cutoff.month, 1)
           and add_months(dt.date(int(p[-6:-2]), int(p[-2:]), 1), 1) <= cutoff]
    assert old, "the demo has sales older than 6 months"
    before = {p: rows(conn, f"SELECT count(*), pg_relation_filenode('sales.{p}') FROM sales.{p}")[0] for p in old}
    total = scalar(conn, "SELECT count(*) FROM sales.fact_sales")

    conn.execute("CALL dwh_etl.op_retention(NULL, CURRENT_DATE)")

    assert not set(old) & set(partitions(conn))
    for p, (count, filenode) in before.items():
        # same storage (no row copied), same rows, now in schema archive
        assert rows(conn, f"SELECT count(*), pg_relation_filenode('archive.{p}') FROM archive.{p}")[0] == (count, filenode)
    moved = sum(c for c, _ in before.values())
    assert scalar(conn, "SELECT count(*) FROM sales.fact_sales") == total - moved
    assert rows(conn, """
        SELECT parent_table, partition_name, archived_table, row_count, retention
        FROM dwh_etl.archived_partitions ORDER BY archive_id
    """) == [("sales.fact_sales", f"sales.{p}", f"archive.{p}", before[p][0], dt.timedelta(days=180)) for p in old]
    assert scalar(conn, """
        SELECT count(*) FROM dwh_lineage.table_lineage
        WHERE source_table = 'sales.fact_sales' AND target_table LIKE 'archive.%%'
    """) == len(old)
    # idempotent; and partitions ahead does not recreate what retention archived
    conn.execute("CALL dwh_etl.op_retention(NULL, CURRENT_DATE)")
    conn.execute("CALL dwh_etl.op_partitions_ahead(NULL, CURRENT_DATE)")
    assert not set(old) & set(partitions(conn))
    assert scalar(conn, "SELECT count(*) FROM dwh_etl.archived_partitions") == len(old)


def test_retention_with_a_bad_setting_fails_clearly(conn):
    conn.execute("INSERT INTO dwh_etl.settings (key, value) VALUES ('retention.public.nothing', '1 year')")
    with pytest.raises(psycopg.Error) as excinfo:
        conn.execute("CALL dwh_etl.op_retention(NULL, CURRENT_DATE)")
    assert excinfo.value.diag.message_primary == "setting retention.public.nothing names no range-partitioned table"
    conn.execute("UPDATE dwh_etl.settings SET value = 'forever' WHERE key = 'retention.public.nothing'")
    with pytest.raises(psycopg.Error) as excinfo:
        conn.execute("CALL dwh_etl.op_retention(NULL, CURRENT_DATE)")
    assert excinfo.value.diag.message_primary == "setting retention.public.nothing is not an interval: 'forever'"


def test_refresh_marts_refreshes_registered_mart_views(loaded):
    """Not populated: a plain refresh; populated and nobody holding it: a plain refresh too (marts.refresh
    auto, 3-4x cheaper); setting concurrently: CONCURRENTLY."""
    conn = loaded
    conn.execute("TRUNCATE dwh_lineage.table_lineage CASCADE")
    conn.execute("REFRESH MATERIALIZED VIEW sales.mv_customer_lifetime_value WITH NO DATA")

    conn.execute("CALL dwh_etl.op_refresh_marts(NULL, CURRENT_DATE)")  # not populated: plain refresh
    conn.execute("CALL dwh_etl.op_refresh_marts(NULL, CURRENT_DATE)")  # populated, nobody reads it: plain
    conn.execute("UPDATE dwh_etl.settings SET value = 'concurrently' WHERE key = 'marts.refresh'")
    conn.execute("CALL dwh_etl.op_refresh_marts(NULL, CURRENT_DATE)")  # concurrently

    customers = scalar(conn, "SELECT count(*) FROM sales.dim_customer WHERE is_current")
    assert scalar(conn, "SELECT count(*) FROM sales.mv_customer_lifetime_value") == customers
    assert rows(conn, """
        SELECT target_table, operation, rows_inserted, notes FROM dwh_lineage.table_lineage
        WHERE target_table = 'sales.mv_customer_lifetime_value' ORDER BY lineage_id
    """) == [
        ("sales.mv_customer_lifetime_value", "refresh", customers, "refreshed"),
        ("sales.mv_customer_lifetime_value", "refresh", customers, "refreshed (no reader held it)"),
        ("sales.mv_customer_lifetime_value", "refresh", customers, "refreshed concurrently"),
    ]


def test_a_mart_view_somebody_reads_is_refreshed_concurrently_without_waiting(loaded):
    """A reader holding the view (an open transaction that read it) is never waited for: the refresh is
    CONCURRENTLY and the reader keeps reading; a bad marts.refresh is a clear error."""
    conn = loaded
    info = conn.info
    reader = psycopg.connect(host=info.host, port=info.port, user=info.user, dbname=info.dbname,
                             password=info.password, autocommit=False)
    try:
        before = reader.execute("SELECT count(*) FROM sales.mv_customer_lifetime_value").fetchone()[0]
        conn.execute("SET lock_timeout = '5s'")
        assert scalar(conn, "SELECT dwh_etl.sec_refresh_mart('sales.mv_customer_lifetime_value')") == "refreshed concurrently"
        assert reader.execute("SELECT count(*) FROM sales.mv_customer_lifetime_value").fetchone()[0] == before
    finally:
        reader_pid = reader.info.backend_pid
        reader.close()
        conn.execute("RESET lock_timeout")
    # the reader's backend exits (and releases its lock) a moment after the client closed: on a busy
    # machine the next refresh still saw it
    for _ in range(200):
        if not scalar(conn, "SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (reader_pid,)):
            break
        time.sleep(0.05)
    assert scalar(conn, "SELECT dwh_etl.sec_refresh_mart('sales.mv_customer_lifetime_value')") == "refreshed (no reader held it)"
    conn.execute("UPDATE dwh_etl.settings SET value = 'sometimes' WHERE key = 'marts.refresh'")
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="setting marts.refresh is 'sometimes'"):
        conn.execute("SELECT dwh_etl.sec_refresh_mart('sales.mv_customer_lifetime_value')")


def test_analyze_only_tables_changed_by_more_than_the_threshold(conn):
    conn.execute("CREATE TABLE public.big (id integer)")
    conn.execute("CREATE TABLE public.calm (id integer)")
    conn.execute("INSERT INTO public.big SELECT generate_series(1, 1000)")
    conn.execute("INSERT INTO public.calm SELECT generate_series(1, 1000)")
    conn.execute("SELECT pg_stat_force_next_flush()")  # statistics are flushed when the session goes idle
    conn.execute("ANALYZE public.big, public.calm")
    conn.execute("""CALL dwh_etl.register_tables(p_area => 'test', p_tables => '[
        {"table": "public.big", "layer": "silver"}, {"table": "public.calm", "layer": "silver"}]')""")
    conn.execute("INSERT INTO public.big SELECT generate_series(1, 500)")  # +50%
    conn.execute("INSERT INTO public.calm SELECT generate_series(1, 50)")  # +5%
    conn.execute("SELECT pg_stat_force_next_flush()")
    conn.execute("SELECT 1")  # the flush happens at the end of a transaction

    conn.execute("CALL dwh_etl.op_analyze(NULL, CURRENT_DATE)")

    assert scalar(conn, "SELECT reltuples FROM pg_class WHERE oid = 'public.big'::regclass") == 1500
    # only the table changed by more than 10% was analyzed
    notes = rows(conn, "SELECT target_table, notes FROM dwh_lineage.table_lineage WHERE target_table LIKE 'public.%%'")
    assert notes == [("public.big", "analyzed: 500 rows modified since the last analyze, of about 1000")]


def test_purge_history_deletes_old_runs_with_their_steps_and_old_cron_details(conn, cron_conn):
    conn.execute("UPDATE dwh_etl.settings SET value = '10 days' WHERE key = 'history.keep'")
    old, recent, running = (scalar(conn, """
        INSERT INTO dwh_lineage.pipeline_runs (pipeline_name, run_date, status, started_at)
        VALUES ('daily', CURRENT_DATE, %s, now() - %s::interval) RETURNING run_id
    """, (status, age)) for status, age in (("completed", "11 days"), ("completed", "9 days"), ("running", "20 days")))
    conn.execute("""
        INSERT INTO dwh_lineage.step_runs (run_id, step_name, procedure_name, step_order, status)
        VALUES (%s, 'x', 'public.x', 1, 'completed'), (%s, 'x', 'public.x', 1, 'completed')
    """, (old, recent))
    db = conn.info.dbname
    cron_conn.execute("""
        INSERT INTO cron.job_run_details (jobid, runid, database, username, command, status, start_time, end_time)
        VALUES (999001, 999001, %(db)s, 'u', 'CALL x()', 'succeeded', now() - interval '40 days', now() - interval '40 days'),
               (999001, 999002, %(db)s, 'u', 'CALL x()', 'succeeded', now() - interval '2 days', now() - interval '2 days'),
               (999001, 999003, 'other_db', 'u', 'CALL x()', 'succeeded', now() - interval '40 days', now() - interval '40 days')
    """, {"db": db})
    try:
        conn.execute("CALL dwh_etl.op_purge_history(NULL, CURRENT_DATE)")

        assert [r[0] for r in rows(conn, "SELECT run_id FROM dwh_lineage.pipeline_runs ORDER BY run_id")] == [recent, running]
        assert rows(conn, "SELECT run_id FROM dwh_lineage.step_runs") == [(recent,)]
        assert [r[0] for r in rows(cron_conn, "SELECT runid FROM cron.job_run_details WHERE jobid = 999001 ORDER BY runid")] == [
            999002, 999003]  # another database's history is not ours to purge
        assert rows(conn, """
            SELECT target_table, operation, rows_deleted FROM dwh_lineage.table_lineage ORDER BY lineage_id
        """) == [("dwh_lineage.pipeline_runs", "delete", 1), ("cron.job_run_details", "delete", 1)]
    finally:
        cron_conn.execute("DELETE FROM cron.job_run_details WHERE jobid = 999001")
