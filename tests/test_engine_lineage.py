"""Lineage (dwh_lineage: log_*, get_upstream/get_downstream, trace_record, pipeline history, the dependency
graph view, start/complete_pipeline) and incremental extraction by watermark (dwh_etl.get_watermark,
set_watermark, extract_incremental, safe_upper_bound).

Uses the `conn` fixture of tests/conftest.py (autocommit psycopg connection to a fresh, fully migrated
database) and `dsn` for a second session.
"""

from __future__ import annotations

import datetime as dt
import uuid

import psycopg
import pytest
from psycopg.types.json import Jsonb

UTC = dt.timezone.utc


def scalar(conn, sql, params=None):
    return conn.execute(sql, params).fetchone()[0]


def rows(conn, sql, params=None):
    return conn.execute(sql, params).fetchall()


@pytest.fixture
def fresh(conn):
    """The connection, with the dependency graph the registry declared removed (tests build their own)."""
    conn.execute("DELETE FROM dwh_lineage.table_dependencies")
    return conn


# ---------------------------------------------------------------------------------------------
# log_* functions
# ---------------------------------------------------------------------------------------------


def test_log_ingestion_records_lineage_and_dependency(fresh):
    conn = fresh
    batch = uuid.uuid4()

    lineage_id = scalar(conn, "SELECT dwh_lineage.log_ingestion('bronze.t_orders', %s, 'src.orders', 42)", (batch,))

    assert rows(conn, """
        SELECT lineage_id, run_id, batch_id, step_name, source_table, target_table, operation,
               rows_read, rows_inserted, rows_updated, rows_deleted, rows_rejected, rows_unchanged,
               completed_at >= started_at
        FROM dwh_lineage.table_lineage
    """) == [(lineage_id, None, batch, None, "src.orders", "bronze.t_orders", "ingest",
              42, 42, None, None, None, None, True)]
    assert rows(conn, "SELECT upstream_table, downstream_table, dependency_type FROM dwh_lineage.table_dependencies") == [
        ("src.orders", "bronze.t_orders", "data"),
    ]


def test_log_ingestion_without_batch_outside_a_run_gets_a_fresh_batch(fresh):
    conn = fresh
    conn.execute("SELECT dwh_lineage.log_ingestion('bronze.t_orders', NULL, 'src.orders', 1)")
    conn.execute("SELECT dwh_lineage.log_ingestion('bronze.t_orders', NULL, 'src.orders', 1)")
    assert scalar(conn, "SELECT count(DISTINCT batch_id) FROM dwh_lineage.table_lineage WHERE batch_id IS NOT NULL") == 2
    # the dependency is recorded once
    assert scalar(conn, "SELECT count(*) FROM dwh_lineage.table_dependencies") == 1


def test_log_functions_inside_a_run_use_the_runs_ids(fresh):
    conn = fresh
    run_id, batch = conn.execute("""
        INSERT INTO dwh_lineage.pipeline_runs (pipeline_name) VALUES ('manual') RETURNING run_id, batch_id
    """).fetchone()
    conn.execute("SELECT set_config('dwh.run_id', %s, false), set_config('dwh.batch_id', %s, false), "
                 "set_config('dwh.step', 'my_step', false)", (str(run_id), str(batch)))

    conn.execute("SELECT dwh_lineage.log_ingestion('bronze.a', NULL, 'src.a', 3)")
    conn.execute("SELECT dwh_lineage.log_transformation('bronze.a', 'silver.a', NULL, 2, 1)")
    conn.execute("SELECT dwh_lineage.log_refresh('gold.mv_a', 'silver.a', 7)")

    assert rows(conn, """
        SELECT run_id, batch_id, step_name, operation FROM dwh_lineage.table_lineage ORDER BY lineage_id
    """) == [(run_id, batch, "my_step", "ingest"), (run_id, batch, "my_step", "transform"),
             (run_id, batch, "my_step", "refresh")]


def test_log_transformation_records_counts_and_dependency(fresh):
    conn = fresh
    batch = uuid.uuid4()

    conn.execute("""
        SELECT dwh_lineage.log_transformation(
            in_source_table => 'bronze.a', in_target_table => 'silver.a', in_batch_id => %s,
            in_rows_inserted => 5, in_rows_updated => 4, in_rows_unchanged => 3, in_rows_rejected => 2,
            in_rows_deleted => 1, in_notes => 'five new')
    """, (batch,))

    assert rows(conn, """
        SELECT batch_id, source_table, target_table, operation, rows_read, rows_inserted, rows_updated,
               rows_deleted, rows_rejected, rows_unchanged, notes
        FROM dwh_lineage.table_lineage
    """) == [(batch, "bronze.a", "silver.a", "transform", 15, 5, 4, 1, 2, 3, "five new")]
    assert rows(conn, "SELECT upstream_table, downstream_table FROM dwh_lineage.table_dependencies") == [
        ("bronze.a", "silver.a"),
    ]


def test_log_aggregation_records_an_aggregate(fresh):
    conn = fresh
    batch = uuid.uuid4()

    conn.execute("SELECT dwh_lineage.log_aggregation('gold.fact', 'mart.agg', %s, 10, 4)", (batch,))

    assert rows(conn, """
        SELECT batch_id, source_table, target_table, operation, rows_read, rows_inserted, rows_updated, rows_deleted
        FROM dwh_lineage.table_lineage
    """) == [(batch, "gold.fact", "mart.agg", "aggregate", 14, 10, 0, 4)]
    assert rows(conn, "SELECT upstream_table, downstream_table FROM dwh_lineage.table_dependencies") == [
        ("gold.fact", "mart.agg"),
    ]


def test_log_refresh_records_a_refresh_and_a_dependency_unless_multiple(fresh):
    conn = fresh

    conn.execute("SELECT dwh_lineage.log_refresh('mart.mv_one', 'gold.fact', 12)")
    conn.execute("SELECT dwh_lineage.log_refresh('mart.mv_many')")

    assert rows(conn, """
        SELECT source_table, target_table, operation, rows_inserted, batch_id IS NOT NULL
        FROM dwh_lineage.table_lineage ORDER BY lineage_id
    """) == [("gold.fact", "mart.mv_one", "refresh", 12, True), ("multiple", "mart.mv_many", "refresh", None, True)]
    assert rows(conn, "SELECT upstream_table, downstream_table FROM dwh_lineage.table_dependencies") == [
        ("gold.fact", "mart.mv_one"),
    ]


def test_duration_ms_counts_the_whole_interval(fresh):
    """Seed 002 counted only the seconds field: a 2-minute step showed as a few ms."""
    conn = fresh
    assert scalar(conn, """
        INSERT INTO dwh_lineage.table_lineage (batch_id, source_table, target_table, operation, started_at, completed_at)
        VALUES (gen_random_uuid(), 'a', 'b', 'transform', '2025-01-01 10:00:00+00', '2025-01-01 10:02:00.250+00')
        RETURNING duration_ms
    """) == 120250


# ---------------------------------------------------------------------------------------------
# Graph walks
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def graph(fresh):
    """src -> bronze -> silver -> gold -> mart, src -> silver (shortcut), mart -> silver (a cycle),
    ref -> gold (reference)."""
    conn = fresh
    conn.execute("""
        INSERT INTO dwh_lineage.table_dependencies (upstream_table, downstream_table, dependency_type) VALUES
            ('src', 'bronze', 'data'),
            ('bronze', 'silver', 'data'),
            ('src', 'silver', 'optional'),
            ('silver', 'gold', 'data'),
            ('ref', 'gold', 'reference'),
            ('gold', 'mart', 'data'),
            ('mart', 'silver', 'data')
    """)
    return conn


def test_get_upstream_lists_each_table_once_at_its_shortest_distance(graph):
    assert rows(graph, "SELECT level, table_name, dependency_type FROM dwh_lineage.get_upstream('gold')") == [
        (1, "ref", "reference"),
        (1, "silver", "data"),
        (2, "bronze", "data"),
        (2, "mart", "data"),
        (2, "src", "optional"),
    ]


def test_get_downstream_terminates_on_a_cycle(graph):
    assert rows(graph, "SELECT level, table_name, dependency_type FROM dwh_lineage.get_downstream('src')") == [
        (1, "bronze", "data"),
        (1, "silver", "optional"),
        (2, "gold", "data"),
        (3, "mart", "data"),
    ]


def test_get_downstream_of_a_table_on_the_cycle_excludes_itself(graph):
    assert rows(graph, "SELECT level, table_name FROM dwh_lineage.get_downstream('silver')") == [
        (1, "gold"), (2, "mart"),
    ]
    assert rows(graph, "SELECT level, table_name FROM dwh_lineage.get_upstream('silver')") == [
        (1, "bronze"), (1, "mart"), (1, "src"), (2, "gold"), (3, "ref"),
    ]


def test_get_upstream_of_an_unknown_table_is_empty(graph):
    assert rows(graph, "SELECT * FROM dwh_lineage.get_upstream('nowhere')") == []
    assert rows(graph, "SELECT * FROM dwh_lineage.get_downstream('nowhere')") == []


def test_trace_record_walks_back_within_the_batch(fresh):
    conn = fresh
    mine, other = uuid.uuid4(), uuid.uuid4()
    for batch, n in ((other, 100), (mine, 10), (other, 200)):
        conn.execute("SELECT dwh_lineage.log_ingestion('bronze.t', %s, 'src.t', %s)", (batch, n))
        conn.execute("SELECT dwh_lineage.log_transformation('bronze.t', 'silver.t', %s, %s, 1)", (batch, n - 2))
        conn.execute("SELECT dwh_lineage.log_transformation('silver.t', 'gold.t', %s, %s)", (batch, n - 5))

    traced = rows(conn, """
        SELECT step, operation, source_table, target_table, rows_affected
        FROM dwh_lineage.trace_record('gold.t', %s)
    """, (mine,))

    assert traced == [
        (1, "transform", "silver.t", "gold.t", 5),
        (2, "transform", "bronze.t", "silver.t", 9),
        (3, "ingest", "src.t", "bronze.t", 10),
    ]


def test_get_pipeline_history_lists_the_last_runs_with_their_totals(fresh):
    conn = fresh
    first = scalar(conn, "SELECT dwh_lineage.start_pipeline('hist', '{\"n\": 1}')")
    conn.execute("SELECT dwh_lineage.log_transformation('a', 'b', %s, 3, 2)", (first,))
    conn.execute("SELECT dwh_lineage.log_transformation('b', 'c', %s, 4)", (first,))
    conn.execute("SELECT dwh_lineage.log_transformation('b', 'c', %s, 1, 0, 0, 0, 9)", (first,))
    conn.execute("CALL dwh_lineage.complete_pipeline(%s)", (first,))
    conn.execute("UPDATE dwh_lineage.pipeline_runs SET started_at = '2025-01-01 10:00+00', "
                 "completed_at = '2025-01-01 10:01:30+00' WHERE batch_id = %s", (first,))
    second = scalar(conn, "SELECT dwh_lineage.start_pipeline('hist')")
    conn.execute("SELECT dwh_lineage.start_pipeline('other')")

    history = rows(conn, "SELECT * FROM dwh_lineage.get_pipeline_history('hist')")

    assert [(h[0], h[3], h[4], h[5], h[6]) for h in history] == [
        (second, None, "running", 0, 0),
        (first, 90, "completed", 2, 10),
    ]
    assert rows(conn, "SELECT batch_id FROM dwh_lineage.get_pipeline_history('hist', 1)") == [(second,)]


def test_v_dependency_graph_takes_layers_from_the_registry(fresh):
    conn = fresh
    conn.execute("""
        CALL dwh_etl.register_tables(p_area => 'g', p_tables => '[
            {"table": "custom.raw_x", "layer": "bronze"},
            {"table": "custom.x", "layer": "silver"},
            {"table": "reports.x_summary", "layer": "mart"}
        ]')
    """)
    conn.execute("SELECT dwh_lineage.log_transformation('custom.raw_x', 'custom.x', NULL)")
    conn.execute("SELECT dwh_lineage.log_transformation('custom.x', 'reports.x_summary', NULL)")
    conn.execute("SELECT dwh_lineage.log_ingestion('custom.raw_x', NULL, 'ftp.drop', 1)")

    assert rows(conn, "SELECT * FROM dwh_lineage.v_dependency_graph") == [
        ("custom.raw_x", "custom.x", "data", "bronze", "silver"),
        ("ftp.drop", "custom.raw_x", "data", "external", "bronze"),
        ("custom.x", "reports.x_summary", "data", "silver", "mart"),
    ]


def test_start_and_complete_pipeline_record_a_run(fresh):
    conn = fresh
    batch = scalar(conn, "SELECT dwh_lineage.start_pipeline('seeded', '{\"mode\": \"full\"}')")
    assert rows(conn, """
        SELECT pipeline_name, status, parameters, completed_at, error_message FROM dwh_lineage.pipeline_runs
        WHERE batch_id = %s
    """, (batch,)) == [("seeded", "running", {"mode": "full"}, None, None)]

    conn.execute("CALL dwh_lineage.complete_pipeline(%s, 'failed', 'disk full', %s)", (batch, Jsonb({"rows": 3})))

    assert rows(conn, """
        SELECT status, error_message, metrics, completed_at >= started_at FROM dwh_lineage.pipeline_runs
        WHERE batch_id = %s
    """, (batch,)) == [("failed", "disk full", {"rows": 3}, True)]


def test_complete_pipeline_of_an_unknown_batch_is_an_error(fresh):
    batch = uuid.uuid4()
    with pytest.raises(psycopg.errors.NoDataFound) as excinfo:
        fresh.execute("CALL dwh_lineage.complete_pipeline(%s)", (batch,))
    assert excinfo.value.sqlstate == "P0002"
    assert excinfo.value.diag.message_primary == f"unknown pipeline run batch {batch}"
    assert excinfo.value.diag.message_hint == "dwh_lineage.pipeline_runs lists the runs"


# ---------------------------------------------------------------------------------------------
# Watermarks and incremental extraction
# ---------------------------------------------------------------------------------------------


def test_get_watermark_defaults_to_minus_infinity(conn):
    assert scalar(conn, "SELECT dwh_etl.get_watermark('bronze.nothing_yet') = '-infinity'::timestamptz") is True


def test_set_watermark_inserts_then_updates(conn):
    conn.execute("CALL dwh_etl.set_watermark('bronze.w', 'updated_at', '2025-01-01 00:00+00')")
    conn.execute("CALL dwh_etl.set_watermark('bronze.w', 'changed_at', '2025-02-01 00:00+00')")

    assert rows(conn, "SELECT table_name, watermark_column, watermark_value FROM dwh_etl.watermarks") == [
        ("bronze.w", "changed_at", dt.datetime(2025, 2, 1, tzinfo=UTC)),
    ]
    assert scalar(conn, "SELECT dwh_etl.get_watermark('bronze.w')") == dt.datetime(2025, 2, 1, tzinfo=UTC)


def test_set_watermark_rejects_null(conn):
    conn.execute("CALL dwh_etl.set_watermark('bronze.w', 'updated_at', '2025-01-01 00:00+00')")
    with pytest.raises(psycopg.errors.NullValueNotAllowed) as excinfo:
        conn.execute("CALL dwh_etl.set_watermark('bronze.w', 'updated_at', NULL)")
    assert excinfo.value.diag.message_primary == "watermark of bronze.w cannot be set to NULL"
    assert scalar(conn, "SELECT dwh_etl.get_watermark('bronze.w')") == dt.datetime(2025, 1, 1, tzinfo=UTC)


@pytest.fixture
def source(conn):
    """public.src_item (the operational source) and public.bronze_item (text-typed copy + metadata)."""
    conn.execute("""
        CREATE TABLE public.src_item (
            item_id    integer PRIMARY KEY,
            name       text,
            price      numeric(10, 2),
            updated_at timestamptz NOT NULL
        )
    """)
    conn.execute("""
        CREATE TABLE public.bronze_item (
            _bronze_id   bigint GENERATED ALWAYS AS IDENTITY,
            item_id      text,
            name         text,
            price        text,
            updated_at   text,
            _batch_id    uuid NOT NULL,
            _ingested_at timestamptz NOT NULL,
            _source      text NOT NULL
        )
    """)
    return conn


def extract(conn, cap=None):
    return scalar(conn, "SELECT dwh_etl.extract_incremental('public.src_item', 'public.bronze_item', 'updated_at', %s)",
                  (cap,))


def bronze(conn):
    return rows(conn, "SELECT item_id, name, price FROM public.bronze_item ORDER BY _bronze_id")


def test_extract_incremental_copies_the_window_and_advances_the_watermark(source):
    conn = source
    conn.execute("""
        INSERT INTO public.src_item VALUES
            (1, 'old', 1.50, '2025-01-01 00:00+00'),
            (2, 'at the mark', 2.00, '2025-01-02 00:00+00'),
            (3, 'new', NULL, '2025-01-03 00:00+00'),
            (4, 'at the cap', 4.00, '2025-01-04 00:00+00')
    """)
    conn.execute("CALL dwh_etl.set_watermark('public.bronze_item', 'updated_at', '2025-01-02 00:00+00')")

    copied = extract(conn, cap=dt.datetime(2025, 1, 4, tzinfo=UTC))

    assert copied == 2
    assert bronze(conn) == [("2", "at the mark", "2.00"), ("3", "new", None)]
    assert rows(conn, "SELECT count(DISTINCT _batch_id), min(_source) FROM public.bronze_item") == [
        (1, "public.src_item"),
    ]
    assert rows(conn, "SELECT watermark_column, watermark_value FROM dwh_etl.watermarks "
                      "WHERE table_name = 'public.bronze_item'") == [
        ("updated_at", dt.datetime(2025, 1, 4, tzinfo=UTC)),
    ]
    assert rows(conn, """
        SELECT source_table, target_table, operation, rows_inserted FROM dwh_lineage.table_lineage
        WHERE target_table = 'public.bronze_item'
    """) == [("public.src_item", "public.bronze_item", "ingest", 2)]


def test_extract_incremental_rerun_copies_nothing(source):
    conn = source
    conn.execute("INSERT INTO public.src_item VALUES (1, 'a', 1, now() - interval '1 minute'), "
                 "(2, 'b', 2, now() - interval '2 minutes')")
    assert extract(conn) == 2

    assert extract(conn) == 0

    assert sorted(bronze(conn)) == [("1", "a", "1.00"), ("2", "b", "2.00")]


def test_extract_incremental_picks_up_later_changes_once(source):
    conn = source
    conn.execute("INSERT INTO public.src_item VALUES (1, 'a', 1, now())")
    assert extract(conn) == 1
    conn.execute("UPDATE public.src_item SET name = 'a2', updated_at = now() WHERE item_id = 1")
    conn.execute("INSERT INTO public.src_item VALUES (2, 'b', 2, now())")

    assert extract(conn) == 2
    assert extract(conn) == 0
    assert sorted(bronze(conn)) == [("1", "a", "1.00"), ("1", "a2", "1.00"), ("2", "b", "2.00")]


def test_extract_incremental_missing_source_column_is_an_error(source):
    conn = source
    conn.execute("ALTER TABLE public.bronze_item ADD COLUMN colour text")
    with pytest.raises(psycopg.errors.UndefinedColumn) as excinfo:
        extract(conn)
    assert excinfo.value.diag.message_primary == (
        "source public.src_item lacks column(s) colour expected by public.bronze_item")
    assert scalar(conn, "SELECT count(*) FROM dwh_etl.watermarks") == 0


def test_extract_incremental_missing_table_is_an_error(conn):
    with pytest.raises(psycopg.errors.UndefinedTable) as excinfo:
        conn.execute("SELECT dwh_etl.extract_incremental('public.nope', 'public.nope_bronze', 'updated_at')")
    assert excinfo.value.diag.message_primary == "extract public.nope -> public.nope_bronze: public.nope does not exist"


@pytest.fixture
def other_session(dsn):
    with psycopg.connect(dsn) as other:  # not autocommit: it holds a transaction open
        yield other


def test_row_committed_after_the_extraction_by_an_older_transaction_is_not_skipped(source, other_session):
    conn = source
    conn.execute("INSERT INTO public.src_item VALUES (1, 'early', 1, now() - interval '1 hour')")
    # the late writer: starts and writes (updated_at = its start) but does not commit yet
    other_session.execute("INSERT INTO public.src_item VALUES (2, 'late', 2, now())")
    conn.execute("INSERT INTO public.src_item VALUES (3, 'after', 3, now())")

    first = extract(conn)
    other_session.commit()
    second = extract(conn)
    third = extract(conn)

    assert (first, second, third) == (1, 2, 0)
    assert sorted(bronze(conn)) == [("1", "early", "1.00"), ("2", "late", "2.00"), ("3", "after", "3.00")]


def test_row_written_after_the_extraction_by_an_older_transaction_is_not_skipped(source, other_session):
    """The late writer started before the extraction but wrote its row (stamped with its start) only
    after it: its change timestamp lies below the first window's end, so the window must not pass it."""
    conn = source
    # the late writer's transaction starts (and reads) before the extraction, writes nothing yet
    other_session.execute("SELECT 1 FROM public.src_item")
    conn.execute("INSERT INTO public.src_item VALUES (1, 'before', 1, now() - interval '1 hour')")

    first = extract(conn)
    other_session.execute("INSERT INTO public.src_item VALUES (2, 'late', 2, now())")
    other_session.commit()
    second = extract(conn)

    assert (first, second) == (1, 1)
    assert sorted(bronze(conn)) == [("1", "before", "1.00"), ("2", "late", "2.00")]


def test_safe_upper_bound_is_capped_by_an_older_open_writer(conn, other_session):
    other_start = scalar(other_session, "SELECT now()")
    other_session.execute("CREATE TEMP TABLE t (x int)")  # holds a transaction id
    assert scalar(conn, "SELECT dwh_etl.safe_upper_bound()") == other_start
    cap = dt.datetime(2000, 1, 1, tzinfo=UTC)
    assert scalar(conn, "SELECT dwh_etl.safe_upper_bound(%s)", (cap,)) == cap
    other_session.rollback()
    assert scalar(conn, "SELECT dwh_etl.safe_upper_bound() = now()") is True
