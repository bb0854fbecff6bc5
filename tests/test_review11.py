"""Review 11 of issue 15's performance change (7425de5..0c66014): silver's latest state per key sorts only
the keys with several rows, the runner's ANALYZE precedes the step's quality rules and covers only a
partitioned table's key columns (dwh_etl.sec_analyze(regclass, boolean)), sales typing parses an unchanged
line's change time once.

A test whose docstring says DEFECT exposed one (fixed in the product code); the others held and stay as
regression tests for what the suite did not cover.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

RUN = "CALL dwh_etl.run_pipeline(p_pipeline => %s, p_run_date => CURRENT_DATE, p_run_id => NULL)"


def scalar(conn, sql, params=None):
    return conn.execute(sql, params).fetchone()[0]


def rows(conn, sql, params=None):
    return conn.execute(sql, params).fetchall()


def last_step(conn, pipeline):
    return rows(conn, """SELECT s.status, s.error_message FROM dwh_lineage.step_runs AS s
                         JOIN dwh_lineage.pipeline_runs AS r USING (run_id)
                         WHERE r.pipeline_name = %s ORDER BY s.run_id DESC LIMIT 1""", (pipeline,))[0]


def register(conn, pipeline, spec, source, target):
    conn.execute("CALL dwh_etl.register_pipeline(p_pipeline => %s, p_description => 'review 11')", (pipeline,))
    conn.execute("CALL dwh_etl.register_steps(p_pipeline => %s, p_area => %s, p_steps => %s::jsonb)",
                 (pipeline, pipeline, json.dumps([{"step": f"{pipeline}_silver", "kind": "silver", "layer": "silver",
                                                   "spec": spec, "sources": [source], "targets": [target]}])))


def run(conn, pipeline):
    try:
        conn.execute(RUN, (pipeline,))
    except Exception:  # noqa: BLE001 - the step's error is read back from step_runs
        pass
    return last_step(conn, pipeline)


# =====================================================================================================
# silver: the latest state per key
# =====================================================================================================

@pytest.fixture
def nullable_key(conn):
    """A silver table whose natural key (k1, k2) has a nullable part, unique with NULLS NOT DISTINCT (PG15):
    (1, NULL) is one key."""
    conn.execute("""
        CREATE TABLE public.bronze_nk (
            _bronze_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, k1 text, k2 text, name text, seen_at text,
            _batch_id uuid NOT NULL DEFAULT gen_random_uuid(), _ingested_at timestamptz NOT NULL DEFAULT now())""")
    conn.execute("""
        CREATE TABLE public.nk (
            k1 integer NOT NULL, k2 text, name text NOT NULL, seen_at timestamptz NOT NULL,
            _batch_id uuid NOT NULL, _loaded_at timestamptz NOT NULL DEFAULT now(),
            UNIQUE NULLS NOT DISTINCT (k1, k2))""")
    register(conn, "nk", {"target": "public.nk", "bronze": "public.bronze_nk", "key": ["k1", "k2"],
                          "ts_column": "seen_at"}, "public.bronze_nk", "public.nk")
    return conn


def land_nk(conn, *values):
    for k1, k2, name, seen in values:
        conn.execute("INSERT INTO public.bronze_nk (k1, k2, name, seen_at) VALUES (%s, %s, %s, %s)", (k1, k2, name, seen))


def test_a_key_with_a_null_part_delivered_twice_in_a_window_is_one_row(nullable_key):
    """DEFECT (high): a window with two rows of a key with a NULL part, (1, NULL), failed the step. The rows
    of a key with several rows were found by `d.k2 = t.k2` against the GROUP BY's keys: NULL never equals,
    so both rows passed through as 'a key's only row' and the INSERT into the empty table raised a unique
    violation (a non-empty one: ON CONFLICT cannot affect a row twice). 7425de5's DISTINCT ON treated NULLs
    as equal and kept the latest. Now too, first load and later window alike."""
    conn = nullable_key
    land_nk(conn,
            ("1", None, "old", "2025-06-01T10:00:00Z"),
            ("1", None, "new", "2025-06-01T11:00:00Z"),
            ("1", "x", "one x", "2025-06-01T10:00:00Z"),
            ("2", "y", "two", "2025-06-01T10:00:00Z"),
            ("2", "y", "two again", "2025-06-01T12:00:00Z"))
    assert run(conn, "nk") == ("completed", None)
    assert rows(conn, "SELECT k1, k2, name FROM public.nk ORDER BY k1, k2 NULLS FIRST") == [
        (1, None, "new"), (1, "x", "one x"), (2, "y", "two again")]
    # the next window, against a non-empty table: the key twice again, and once more alone
    land_nk(conn,
            ("1", None, "newer", "2025-06-01T13:00:00Z"),
            ("1", None, "newest", "2025-06-01T14:00:00Z"),
            ("2", None, "two null", "2025-06-01T14:00:00Z"))
    assert run(conn, "nk") == ("completed", None)
    assert rows(conn, "SELECT k1, k2, name FROM public.nk ORDER BY k1, k2 NULLS FIRST") == [
        (1, None, "newest"), (1, "x", "one x"), (2, None, "two null"), (2, "y", "two again")]
    assert rows(conn, """SELECT notes FROM dwh_lineage.table_lineage
                         WHERE target_table = 'public.nk' ORDER BY lineage_id""") == [
        ("5 bronze rows = 3 upserted + 0 unchanged + 0 quarantined + 2 duplicates collapsed",),
        ("3 bronze rows = 2 upserted + 0 unchanged + 0 quarantined + 1 duplicates collapsed",)]


# =====================================================================================================
# dwh_etl.sec_analyze(regclass, p_keys_only)
# =====================================================================================================

@pytest.fixture
def odd_parts(conn):
    """A registered partitioned table with odd column names, a dropped column, an expression index, an
    INCLUDE column, a partial index and an extended statistics object over a key and a measure."""
    conn.execute("""
        CREATE TABLE public.odd (k int, "we""ird, col)" text, "x; DROP TABLE public.odd; --" int, gone int,
                                 v text, inc text, m numeric, d date NOT NULL, UNIQUE (k, d)) PARTITION BY RANGE (d);
        CREATE TABLE public.odd_p1 PARTITION OF public.odd FOR VALUES FROM ('2020-01-01') TO ('2030-01-01');
        ALTER TABLE public.odd DROP COLUMN gone;
        CREATE INDEX ON public.odd (lower(v));
        CREATE INDEX ON public.odd ("we""ird, col)") INCLUDE (inc);
        CREATE INDEX ON public.odd ("x; DROP TABLE public.odd; --") WHERE m IS NOT NULL;
        INSERT INTO public.odd SELECT g, 'a' || g % 7, g % 3, 'V' || g % 5, 'i', g % 11, DATE '2025-01-01' + g % 30
        FROM generate_series(1, 3000) AS g;
        INSERT INTO dwh_etl.table_registry (table_name, layer, area) VALUES ('public.odd', 'silver', 'review11');
        GRANT USAGE ON SCHEMA public TO etl_service;
    """)
    return conn


def test_keys_only_analyze_quotes_the_catalogs_names_and_skips_what_is_no_key(odd_parts):
    """Held: the key columns are read from the catalog and quoted (a column named like SQL is analyzed, not
    run); dropped columns, INCLUDE columns and the columns only an index expression or predicate reads are
    left out; the partition key and the unique constraint's columns are in; the parent and its partition
    alike. Only etl_service (and the owner) may call it, and only on a registered table."""
    conn = odd_parts
    conn.execute("SET ROLE etl_service")
    try:
        conn.execute("SELECT dwh_etl.sec_analyze('public.odd', p_keys_only => true)")
        with pytest.raises(Exception) as excinfo:
            conn.execute("SELECT dwh_etl.sec_analyze('dwh_etl.settings', true)")
        assert excinfo.value.sqlstate == "42501"
    finally:
        conn.execute("RESET ROLE")
    keys = {"k", "d", 'we"ird, col)', "x; DROP TABLE public.odd; --"}
    for table, inherited in (("odd", True), ("odd_p1", False)):
        assert {r[0] for r in rows(conn, "SELECT attname FROM pg_stats WHERE schemaname = 'public' AND tablename = %s "
                                         "AND inherited = %s", (table, inherited))} == keys, table
    assert scalar(conn, "SELECT to_regclass('public.odd') IS NOT NULL")
    # nobody else: no EXECUTE for PUBLIC, and the old one-argument signature is gone
    assert rows(conn, """SELECT p.oid::regprocedure::text, p.proacl::text[] FROM pg_proc AS p
                         WHERE p.proname = 'sec_analyze'""") == [
        ("dwh_etl.sec_analyze(regclass,boolean)", [f"{scalar(conn, 'SELECT current_user')}=X/{scalar(conn, 'SELECT current_user')}",
                                                   f"etl_service=X/{scalar(conn, 'SELECT current_user')}"])]


def test_keys_only_analyze_keeps_the_extended_statistics_of_the_table(odd_parts):
    """DEFECT (low): an extended statistics object (CREATE STATISTICS) over a key column and a measure of a
    registered partitioned table was not computed by the runner's column-list ANALYZE: every large step
    warned 'statistics object ... could not be computed' and the planner kept none. The columns of the
    table's statistics objects are analyzed too (all of them when an object has expressions)."""
    conn = odd_parts
    conn.execute("CREATE STATISTICS public.odd_km (ndistinct, dependencies) ON k, m FROM public.odd")
    notices = []
    conn.add_notice_handler(lambda d: notices.append(d.message_primary))
    conn.execute("SET ROLE etl_service")
    try:
        conn.execute("SELECT dwh_etl.sec_analyze('public.odd', p_keys_only => true)")
    finally:
        conn.execute("RESET ROLE")
    assert notices == []
    assert scalar(conn, "SELECT count(*) FROM pg_stats_ext WHERE statistics_name = 'odd_km' AND inherited") == 1
    assert "m" in {r[0] for r in rows(conn, "SELECT attname FROM pg_stats WHERE tablename = 'odd' AND inherited")}
    assert "v" not in {r[0] for r in rows(conn, "SELECT attname FROM pg_stats WHERE tablename = 'odd' AND inherited")}
    # an object with an expression: its columns cannot be listed, the table is analyzed whole
    conn.execute("CREATE STATISTICS public.odd_expr ON (lower(v)), k FROM public.odd")
    conn.execute("SELECT dwh_etl.sec_analyze('public.odd', p_keys_only => true)")
    assert notices == []
    assert scalar(conn, "SELECT count(*) FROM pg_stats_ext WHERE statistics_name = 'odd_expr' AND inherited") == 1
