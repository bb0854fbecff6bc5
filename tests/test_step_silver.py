"""The silver step kind (issue 10): dwh_etl.step_silver loads bronze into silver from a spec (the areas'
silver steps are such specs); a bad spec fails the step with an error naming it, before anything is read."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import psycopg
import pytest

RUN_SQL = "CALL dwh_etl.run_pipeline(p_pipeline => 'things', p_run_date => CURRENT_DATE, p_run_id => NULL)"


def scalar(conn, sql, params=None):
    return conn.execute(sql, params).fetchone()[0]


def rows(conn, sql, params=None):
    return conn.execute(sql, params).fetchall()


def register(conn, spec: dict, step: str = "things_silver", kind: str = "silver"):
    conn.execute("CALL dwh_etl.register_pipeline(p_pipeline => 'things', p_description => 'test')")
    conn.execute("CALL dwh_etl.register_steps(p_pipeline => 'things', p_area => 'things', p_steps => %s::jsonb)",
                 (json.dumps([{"step": step, "kind": kind, "layer": "silver", "spec": spec,
                               "sources": ["public.bronze_things"], "targets": ["public.things"]}]),))


def run(conn) -> int:
    conn.execute(RUN_SQL)
    return scalar(conn, "SELECT max(run_id) FROM dwh_lineage.pipeline_runs WHERE pipeline_name = 'things'")


def failure(conn):
    return conn.execute("""
        SELECT s.sqlstate, s.error_message FROM dwh_lineage.step_runs AS s
        JOIN dwh_lineage.pipeline_runs AS r USING (run_id)
        WHERE r.pipeline_name = 'things' ORDER BY s.run_id DESC LIMIT 1""").fetchone()


@pytest.fixture
def things(conn):
    """A tiny bronze table (text, as landed) and its silver table: the latest state per thing_id."""
    conn.execute("""
        CREATE TABLE public.bronze_things (
            _bronze_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            thing_id     text, name text, amount text, seen_at text,
            _batch_id    uuid NOT NULL DEFAULT gen_random_uuid(),
            _ingested_at timestamptz NOT NULL DEFAULT now())
    """)
    conn.execute("""
        CREATE TABLE public.things (
            thing_id   integer PRIMARY KEY,
            name       text NOT NULL,
            amount     numeric(6,2),
            seen_at    timestamptz NOT NULL,
            is_deleted boolean NOT NULL DEFAULT false,
            _batch_id  uuid NOT NULL,
            _loaded_at timestamptz NOT NULL DEFAULT now())
    """)
    conn.execute("""
        CREATE TABLE public.bronze_gone (
            _bronze_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, kind text, id text, at text,
            _ingested_at timestamptz NOT NULL DEFAULT now())
    """)
    return conn


def land(conn, *things):
    conn.execute("INSERT INTO public.bronze_things (thing_id, name, amount, seen_at) "
                 "SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[])",
                 tuple(list(col) for col in zip(*things)))


UPSERT_SPEC = {
    "target": "public.things", "bronze": "public.bronze_things", "key": ["thing_id"], "ts_column": "seen_at",
    "checks": ["CASE WHEN t.amount < 0 THEN 'amount ' || dwh_etl.quote_reason(b.amount) || ' is negative' END"],
    "tombstones": {"table": "public.bronze_gone", "key": "id", "deleted_at": "at", "match": {"kind": "thing"},
                   "flag": "is_deleted"},
}


def test_a_spec_over_a_tiny_table_types_validates_and_keeps_the_latest_state(things):
    conn = things
    # the view of the world is not the session's: a Tokyo client, a zone-less text read as UTC
    conn.execute("SET TimeZone = 'Asia/Tokyo'")
    register(conn, UPSERT_SPEC)
    land(conn,
         ("1", "one", "1.50", "2025-06-01T10:00:00Z"),
         ("1", "one again", "2.50", "2025-06-01T11:00:00"),     # a later version of 1: it wins
         ("2", "two", "1.234", "2025-06-01T10:00:00Z"),         # too many decimals
         ("3", "   ", "-1", "2025-06-01T10:00:00Z"),            # blank name, a failed check
         ("3000000000", "big", "1", "2025-06-01T10:00:00Z"),    # out of range for integer
         ("4", "four", "1", "0001-01-01T00:00:00Z"),            # not a sane time
         ("5", "five", None, "2025-06-01T10:00:00Z"),
         ("5", "five", None, "2025-06-01T10:00:00Z"))           # the same state twice: a duplicate
    run_id = run(conn)
    assert scalar(conn, "SELECT status FROM dwh_lineage.pipeline_runs WHERE run_id = %s", (run_id,)) == "completed"
    assert rows(conn, "SELECT thing_id, name, amount, seen_at, is_deleted FROM public.things ORDER BY 1") == [
        (1, "one again", Decimal("2.50"), dt.datetime(2025, 6, 1, 11, tzinfo=dt.timezone.utc), False),
        (5, "five", None, dt.datetime(2025, 6, 1, 10, tzinfo=dt.timezone.utc), False)]
    assert rows(conn, """SELECT record_key, reasons FROM dwh_etl.quarantine
                         WHERE target_table = 'public.things' ORDER BY record_key""") == [
        ("2", ['amount "1.234" has more than 2 decimal places (numeric(6,2); not rounded)']),
        ("3", ["name is blank", 'amount "-1" is negative']),
        ("3000000000", ['thing_id "3000000000" is out of range for integer']),
        ("4", ['seen_at "0001-01-01T00:00:00Z" is outside the sane range ' + scalar(conn, """
            SELECT format('[1990-01-01 00:00Z, %s] (settings quality.min_event_date, quality.max_future)',
                          to_char(max_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI"Z"'))
            FROM dwh_etl.event_time_bounds(CURRENT_DATE)""")])]
    # 8 read = 2 latest + 4 quarantined + 2 collapsed (a second version of 1, a duplicate of 5)
    assert rows(conn, """SELECT step_name, rows_read, rows_inserted, rows_unchanged, rows_rejected, rows_deleted, notes
                         FROM dwh_lineage.table_lineage WHERE run_id = %s AND target_table = 'public.things'""",
                (run_id,)) == [("things_silver", 6, 2, 0, 4, 0,
                                "8 bronze rows = 2 upserted + 0 unchanged + 4 quarantined + 2 duplicates collapsed; 0 deleted")]
    assert scalar(conn, """SELECT (failing_sample->>'read')::int FROM dwh_lineage.quality_metrics
                           WHERE run_id = %s AND metric_name = 'reconciliation'""", (run_id,)) == 8

    # a rerun reads nothing new and changes nothing
    loaded = rows(conn, "SELECT *, _loaded_at FROM public.things ORDER BY 1")
    run(conn)
    assert rows(conn, "SELECT *, _loaded_at FROM public.things ORDER BY 1") == loaded
    assert scalar(conn, "SELECT count(*) FROM dwh_etl.quarantine WHERE target_table = 'public.things'") == 4

    # an older state changes nothing; a corrected one supersedes its quarantine entry; a tombstone flags
    land(conn, ("1", "stale", "9", "2025-05-01T00:00:00Z"), ("2", "two", "1.23", "2025-06-02T00:00:00Z"))
    conn.execute("INSERT INTO public.bronze_gone (kind, id, at) VALUES ('thing', '5', '2025-06-03T00:00:00Z'), "
                 "('other', '1', '2025-06-03T00:00:00Z')")
    run(conn)
    assert rows(conn, "SELECT thing_id, name, amount, is_deleted FROM public.things ORDER BY 1") == [
        (1, "one again", Decimal("2.50"), False), (2, "two", Decimal("1.23"), False), (5, "five", None, True)]
    assert rows(conn, """SELECT record_key FROM dwh_etl.quarantine
                         WHERE target_table = 'public.things' AND resolved_at IS NOT NULL""") == [("2",)]


def test_identical_bad_rows_in_one_batch_reconcile(things):
    """Two identical bad rows are one quarantine entry (two deliveries) but two rejected rows: the
    reconciliation counts rows (it failed the step when it counted entries)."""
    conn = things
    register(conn, UPSERT_SPEC)
    land(conn, ("1", "one", "x", "2025-06-01T10:00:00Z"), ("1", "one", "x", "2025-06-01T10:00:00Z"),
         ("2", "two", "1", "2025-06-01T10:00:00Z"))
    run_id = run(conn)
    assert scalar(conn, "SELECT status FROM dwh_lineage.pipeline_runs WHERE run_id = %s", (run_id,)) == "completed"
    assert rows(conn, "SELECT record_key, deliveries, reasons FROM dwh_etl.quarantine") == [
        ("1", 2, ['amount "x" is not a valid number'])]
    assert scalar(conn, "SELECT rows_rejected FROM dwh_lineage.table_lineage WHERE run_id = %s", (run_id,)) == 2


def test_a_source_view_types_and_the_checks_give_the_reasons(things):
    """typing "source": the view types; the engine adds only "x is missing" for a NOT NULL column no
    check caught, so the INSERT never fails on it."""
    conn = things
    conn.execute("""
        CREATE VIEW public.typed_things AS
        SELECT b._bronze_id, b._ingested_at, upper(b.thing_id) AS _record_key,
               dwh_etl.try_bigint(b.thing_id) AS thing_id, initcap(dwh_etl.try_trim(b.name)) AS name,
               dwh_etl.try_numeric(b.amount) AS amount,
               dwh_etl.try_timestamptz(b.seen_at, current_setting('TimeZone')) AS seen_at,
               b.amount AS _raw_amount
        FROM public.bronze_things AS b
    """)
    conn.execute("INSERT INTO dwh_etl.settings (key, value) VALUES ('things.zone', 'America/New_York')")
    register(conn, {**UPSERT_SPEC, "source": "public.typed_things", "typing": "source",
                    "timezone_setting": "things.zone",
                    "checks": ["CASE WHEN t.amount IS NULL AND b._raw_amount IS NOT NULL "
                               "THEN format('amount %s is no number', dwh_etl.quote_value(b._raw_amount)) END"]})
    land(conn, ("1", "ada", "1", "2025-06-01 10:00:00"), ("x1", "bob", "zz", "2025-06-01 10:00:00"),
         ("2", None, "1", "2025-06-01 10:00:00"))
    run(conn)
    # zone-less text read in the setting's zone (New York), whatever the session's
    assert rows(conn, "SELECT thing_id, name, seen_at FROM public.things") == [
        (1, "Ada", dt.datetime(2025, 6, 1, 14, tzinfo=dt.timezone.utc))]
    assert rows(conn, "SELECT record_key, reasons FROM dwh_etl.quarantine ORDER BY 1") == [
        ("2", ["name is missing"]), ("X1", ["amount 'zz' is no number"])]


def test_scd2_mode_keeps_history_through_the_registered_dimension(things):
    conn = things
    conn.execute("""
        CREATE TABLE public.things_history (
            thing_sk bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, thing_id integer NOT NULL, name text NOT NULL,
            valid_from timestamptz NOT NULL, valid_to timestamptz, is_current boolean NOT NULL, version integer NOT NULL,
            is_deleted boolean NOT NULL DEFAULT false, _batch_id uuid NOT NULL, _loaded_at timestamptz NOT NULL DEFAULT now())
    """)
    conn.execute("""CALL dwh_etl.register_dimension(
        p_dimension => 'public.things_history', p_target => 'public.things_history', p_surrogate_key => 'thing_sk',
        p_natural_key => '{thing_id}', p_type2_columns => '{name}', p_type1_columns => '{}', p_change_ts => 'change_ts',
        p_deleted_flag => 'is_deleted', p_delete_policy => 'close_marker', p_type1_scope => 'all_versions',
        p_description => 'test')""")
    register(conn, {"target": "public.things_history", "bronze": "public.bronze_things", "mode": "scd2",
                     "dimension": "public.things_history", "ts_column": "seen_at",
                     "tombstones": {"table": "public.bronze_gone", "key": "id", "deleted_at": "at"}})
    land(conn, ("1", "one", None, "2025-06-01T10:00:00Z"), ("1", "uno", None, "2025-06-02T10:00:00Z"),
         ("1", "uno", None, "2025-06-02T10:00:00Z"), ("2", "", None, "2025-06-01T10:00:00Z"))
    run_id = run(conn)
    conn.execute("INSERT INTO public.bronze_gone (id, at) VALUES ('1', '2025-06-03T10:00:00Z')")
    run(conn)
    assert rows(conn, """SELECT thing_id, name, version, is_current, is_deleted, valid_from
                         FROM public.things_history ORDER BY version""") == [
        (1, "one", 1, False, False, dt.datetime(2025, 6, 1, 10, tzinfo=dt.timezone.utc)),
        (1, "uno", 2, False, False, dt.datetime(2025, 6, 2, 10, tzinfo=dt.timezone.utc)),
        (1, "uno", 3, True, True, dt.datetime(2025, 6, 3, 10, tzinfo=dt.timezone.utc))]
    assert rows(conn, "SELECT record_key, reasons FROM dwh_etl.quarantine") == [("2", ["name is blank"])]
    assert rows(conn, """SELECT rows_rejected, notes FROM dwh_lineage.table_lineage
                         WHERE run_id = %s AND source_table = 'public.bronze_things' AND rows_rejected > 0""",
                (run_id,)) == [(1, "4 bronze rows: 3 valid, 1 quarantined")]


@pytest.mark.parametrize("spec, problem", [
    ({}, '"target" (the silver table) is missing'),
    ({"loads": []}, 'the spec needs "loads"'),
    ({**UPSERT_SPEC, "target": "public.nothing"}, "\"target\" 'public.nothing' is not an existing table"),
    ({**UPSERT_SPEC, "bronze": None}, '"bronze" (the bronze table) is missing'),
    ({**UPSERT_SPEC, "mode": "merge"}, "\"mode\" 'merge' is not upsert or scd2"),
    ({**UPSERT_SPEC, "key": []}, '"key" (the natural key columns) must be a non-empty array'),
    ({**UPSERT_SPEC, "key": ["thing"]}, "the key or ts_column names no column of the target: thing"),
    ({**UPSERT_SPEC, "ts_column": None}, '"ts_column" (the change time that decides the latest row) is missing'),
    ({**UPSERT_SPEC, "checks": "amount > 0"}, '"checks" must be an array of SQL expressions'),
    ({**UPSERT_SPEC, "source": "public.bronze_gone"}, "source public.bronze_gone lacks the columns thing_id, name, amount, seen_at"),
    ({**UPSERT_SPEC, "mode": "scd2", "dimension": "public.nope"}, "\"dimension\" 'public.nope' is not a registered dimension"),
    ({**UPSERT_SPEC, "tombstones": {"table": "public.bronze_gone", "key": "id", "deleted_at": "at"}},
     '"tombstones" needs "flag", a boolean column of the target'),
    ({**UPSERT_SPEC, "tombstones": {"table": "public.bronze_gone", "key": "nope", "deleted_at": "at", "flag": "is_deleted"}},
     '"tombstones" needs "key" and "deleted_at", columns of public.bronze_gone'),
    ({"loads": [UPSERT_SPEC, {**UPSERT_SPEC, "typing": "magic"}]}, "\"typing\" 'magic' is not engine or source"),
    ({**UPSERT_SPEC, "reasons_column": "_reasons"}, '"reasons_column" \'_reasons\' must be a text[] column of the source view (typing source)'),
])
def test_a_bad_spec_fails_the_step_clearly_before_anything_is_read(things, spec, problem):
    conn = things
    land(conn, ("1", "one", "1", "2025-06-01T10:00:00Z"))
    register(conn, {k: v for k, v in spec.items() if v is not None})
    with pytest.raises(psycopg.Error):
        run(conn)
    state, message = failure(conn)
    assert state == "22023"
    assert message.startswith("silver step things_silver: ") and problem in message, message
    # nothing was loaded, not even by a valid load listed before the bad one
    assert scalar(conn, "SELECT count(*) FROM public.things") == 0
    assert scalar(conn, "SELECT count(*) FROM dwh_etl.watermarks WHERE table_name = 'public.things'") == 0


def test_an_unknown_source_zone_is_a_clear_error(things):
    conn = things
    conn.execute("INSERT INTO dwh_etl.settings (key, value) VALUES ('things.zone', 'Mars/Olympus_Mons')")
    register(conn, {**UPSERT_SPEC, "timezone_setting": "things.zone"})
    with pytest.raises(psycopg.Error):
        run(conn)
    state, message = failure(conn)
    assert (state, message) == ("22023", "setting things.zone: 'Mars/Olympus_Mons' is not a time zone")


def test_the_areas_silver_steps_are_data(conn):
    silver = rows(conn, """SELECT DISTINCT step_name, kind, procedure_name FROM dwh_etl.steps
                           WHERE layer = 'silver' ORDER BY 1""")
    assert silver == [(s, "silver", "dwh_etl.step_silver") for s in (
        "agents_silver_entities", "agents_silver_events", "citizen_silver_entities", "citizen_silver_events", "devflow_silver_entities", "devflow_silver_events", "devflow_silver_metrics", "devflow_silver_pull_requests",
        "sales_silver_customers", "sales_silver_products", "sales_silver_sales")]
    for routine in ("sales.load_silver_customers(bigint, date)", "sales.load_silver_products(bigint, date)",
                    "sales.load_silver_sales(bigint, date)", "devflow.load_silver_entities(bigint, date)",
                    "devflow.load_silver_events(bigint, date)", "devflow.load_silver_metrics(bigint, date)",
                    "devflow.load_silver_pull_requests(bigint, date)",
                    "devflow._load_silver(text, text, text, text[], text, text[], date)"):
        assert scalar(conn, "SELECT to_regprocedure(%s)", (routine,)) is None, routine
    # every load of every silver step passes the spec check
    assert rows(conn, """
        SELECT st.step_name, dwh_etl._silver_spec_problem((st.spec - 'loads') || l.load)
        FROM dwh_etl.steps AS st
        CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN st.spec ? 'loads' THEN st.spec->'loads'
                                                     ELSE jsonb_build_array(st.spec) END) AS l (load)
        WHERE st.kind = 'silver' AND dwh_etl._silver_spec_problem((st.spec - 'loads') || l.load) IS NOT NULL""") == []


def test_columns_named_like_the_engines_aliases_load(conn):
    """A stranger's silver table whose columns are named b, t, s, d, x, l, p, c, k, q (the one-letter
    aliases of the engine's SQL): the load, the quarantine, the deduplication and the rules work as for
    any name (a key column named b made the quarantine's whole-row reference ambiguous)."""
    conn.execute("""
        CREATE TABLE public.bronze_alias (
            _bronze_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            b text, t text, s text, d text, x text, l text, p text, c text, k text, q text,
            _batch_id uuid NOT NULL DEFAULT gen_random_uuid(), _ingested_at timestamptz NOT NULL DEFAULT now())""")
    conn.execute("""
        CREATE TABLE public.alias_target (
            b integer PRIMARY KEY, t text NOT NULL, s numeric(6,2), d timestamptz NOT NULL, x text, l text,
            p text, c text, k text, q text, _batch_id uuid NOT NULL, _loaded_at timestamptz NOT NULL DEFAULT now())""")
    conn.execute("""
        INSERT INTO public.bronze_alias (b, t, s, d, x, l, p, c, k, q) VALUES
            ('1', 'one', '1.5', '2025-06-01T10:00:00Z', 'x', 'l', 'p', 'c', 'k', 'q'),
            ('1', 'one again', '2.5', '2025-06-01T11:00:00Z', 'x', 'l', 'p', 'c', 'k', 'q'),
            ('two', 'bad key', '1', '2025-06-01T10:00:00Z', NULL, NULL, NULL, NULL, NULL, NULL),
            ('3', 'three', 'abc', '2025-06-01T10:00:00Z', NULL, NULL, NULL, NULL, NULL, NULL)""")
    spec = {"target": "public.alias_target", "bronze": "public.bronze_alias", "key": ["b"], "ts_column": "d"}
    conn.execute("CALL dwh_etl.register_pipeline(p_pipeline => 'aliases', p_description => 'test')")
    conn.execute("CALL dwh_etl.register_steps(p_pipeline => 'aliases', p_area => 'aliases', p_steps => %s::jsonb)",
                 (json.dumps([{"step": "alias_silver", "kind": "silver", "layer": "silver", "spec": spec,
                               "sources": ["public.bronze_alias"], "targets": ["public.alias_target"]}]),))
    conn.execute("""CALL dwh_etl.register_rules(p_area => 'aliases', p_rules => %s::jsonb)""",
                 (json.dumps([{"name": "alias_t_not_null", "table": "public.alias_target", "type": "not_null", "columns": ["t", "b"]},
                              {"name": "alias_b_unique", "table": "public.alias_target", "type": "unique", "columns": ["b"]},
                              {"name": "alias_s_range", "table": "public.alias_target", "type": "range", "columns": ["s"],
                               "params": {"min": 0, "max": 2}, "severity": "warn"}]),))
    conn.execute("CALL dwh_etl.run_pipeline(p_pipeline => 'aliases', p_run_date => CURRENT_DATE, p_run_id => NULL)")
    assert scalar(conn, "SELECT status FROM dwh_lineage.pipeline_runs WHERE pipeline_name = 'aliases'") == "completed"
    assert rows(conn, "SELECT b, t, s FROM public.alias_target ORDER BY b") == [(1, "one again", Decimal("2.50"))]
    assert rows(conn, """SELECT record_key, payload->>'t' FROM dwh_etl.quarantine
                         WHERE target_table = 'public.alias_target' ORDER BY record_key""") == [
        ("3", "three"), ("two", "bad key")]
    failed = rows(conn, """SELECT r.rule_name, m.passed, m.failing_sample FROM dwh_lineage.quality_metrics AS m
                           JOIN dwh_etl.quality_rules AS r USING (rule_id)
                           WHERE r.rule_name LIKE 'alias%%' ORDER BY 1""")
    assert [(n, p) for n, p, _ in failed] == [("alias_b_unique", True), ("alias_s_range", False), ("alias_t_not_null", True)]
    assert failed[1][2][0]["s"] == 2.5
