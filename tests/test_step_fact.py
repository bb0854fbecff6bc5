"""Step kind `fact` (issue 10): dwh_etl.step_fact loads a fact table from an area view, with the dimension
versions valid at the event, late-arriving dimensions, and idempotent reloads. A tiny fact over a test
schema here; sales and devflow's facts are covered by their own tests (same rows as before)."""

from __future__ import annotations

import json

import psycopg
import pytest

RUN_SQL = "CALL dwh_etl.run_pipeline(p_pipeline => %s, p_run_date => CURRENT_DATE, p_run_id => NULL)"
STEP_SQL = "CALL dwh_etl.step_fact(p_run_id => NULL, p_run_date => CURRENT_DATE, p_spec => %s)"

SPEC = {
    "view": "tfact.event_rows",
    "target": "tfact.fact_event",
    "natural_key": ["event_id"],
    "mode": "upsert",
    "event_time": "happened_at",
    "lookups": [{"dimension": "tfact.dim_thing", "wait": "always"}],
    "late_window": "7 days",
    "date_key": "date_key",
    "lineage_source": "tfact.events",
}


def scalar(conn, sql, params=None):
    return conn.execute(sql, params).fetchone()[0]


def rows(conn, sql, params=None):
    return conn.execute(sql, params).fetchall()


@pytest.fixture
def tiny(conn):
    """A dimension (SCD2, registered), a silver-like event table, the area's view and the fact."""
    conn.execute("""
        CREATE SCHEMA tfact;
        CREATE TABLE tfact.dim_thing (
            thing_key  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            thing_id   integer NOT NULL,
            colour     text,
            valid_from timestamptz NOT NULL,
            valid_to   timestamptz,
            is_current boolean NOT NULL,
            version    integer NOT NULL,
            is_deleted boolean NOT NULL DEFAULT false,
            _batch_id  uuid NOT NULL DEFAULT gen_random_uuid(),
            _loaded_at timestamptz NOT NULL DEFAULT now());
        CREATE TABLE tfact.events (
            event_id    integer PRIMARY KEY,
            thing_id    integer,
            happened_at timestamptz NOT NULL,
            amount      numeric NOT NULL,
            _loaded_at  timestamptz NOT NULL DEFAULT now());
        CREATE VIEW tfact.event_rows AS
        SELECT e.event_id, e.thing_id, e.happened_at, e.amount * 2 AS amount,
               to_char(e.happened_at AT TIME ZONE 'UTC', 'YYYYMMDD')::integer AS date_key, e._loaded_at
        FROM tfact.events AS e;
        CREATE TABLE tfact.fact_event (
            event_key   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            event_id    integer NOT NULL UNIQUE,
            thing_key   bigint REFERENCES tfact.dim_thing,
            date_key    integer NOT NULL REFERENCES gold.dim_date,
            amount      numeric NOT NULL,
            happened_at timestamptz NOT NULL,
            _batch_id   uuid NOT NULL,
            _loaded_at  timestamptz NOT NULL DEFAULT now());
    """)
    conn.execute("""CALL dwh_etl.register_dimension(
        p_dimension => 'tfact.dim_thing', p_target => 'tfact.dim_thing', p_surrogate_key => 'thing_key',
        p_natural_key => '{thing_id}', p_type2_columns => '{colour}')""")
    return conn


def thing(conn, thing_id, colour, valid_from, valid_to=None, version=1):
    conn.execute("""INSERT INTO tfact.dim_thing (thing_id, colour, valid_from, valid_to, is_current, version)
                    VALUES (%s, %s, %s, %s, %s, %s)""", (thing_id, colour, valid_from, valid_to, valid_to is None, version))


def load(conn, spec=SPEC):
    conn.execute(STEP_SQL, (json.dumps(spec),))


def facts(conn):
    return rows(conn, """
        SELECT f.event_id, d.colour, f.amount, f.date_key
        FROM tfact.fact_event AS f LEFT JOIN tfact.dim_thing AS d USING (thing_key)
        ORDER BY f.event_id""")


def test_each_event_gets_the_dimension_version_valid_at_its_time(tiny):
    conn = tiny
    thing(conn, 1, "red", "2024-01-01T00:00:00Z")
    conn.execute("""INSERT INTO tfact.events (event_id, thing_id, happened_at, amount) VALUES
                    (1, 1, '2024-03-01T12:00:00Z', 10)""")
    load(conn)
    assert facts(conn) == [(1, "red", 20, 20240301)]
    # a late change of the dimension: blue from February on (red closed then)
    conn.execute("UPDATE tfact.dim_thing SET valid_to = '2024-02-01T00:00:00Z', is_current = false WHERE thing_id = 1")
    thing(conn, 1, "blue", "2024-02-01T00:00:00Z", version=2)
    # events arriving now: one before the first version, one in red's time, one in blue's
    conn.execute("""INSERT INTO tfact.events (event_id, thing_id, happened_at, amount) VALUES
                    (2, 1, '2023-12-01T00:00:00Z', 1), (3, 1, '2024-01-31T23:59:59Z', 2),
                    (4, 1, '2024-02-01T00:00:00Z', 3)""")
    load(conn)
    # the event before the first version takes the first; event 1, not redelivered, is re-pointed at blue,
    # the version loaded since that is valid at its time (attack 15b: it kept red before)
    assert facts(conn) == [(1, "blue", 20, 20240301), (2, "red", 2, 20231201), (3, "red", 4, 20240131),
                           (4, "blue", 6, 20240201)]
    assert "1 rows loaded earlier re-pointed" in scalar(conn, """
        SELECT notes FROM dwh_lineage.table_lineage WHERE target_table = 'tfact.fact_event' ORDER BY lineage_id DESC LIMIT 1""")
    # a version placed before the first (green until red began): event 2, before red, now takes green;
    # the others keep theirs, and a load with no new version re-points nothing
    thing(conn, 1, "green", "2023-11-01T00:00:00Z", "2024-01-01T00:00:00Z", version=0)
    load(conn)
    assert facts(conn) == [(1, "blue", 20, 20240301), (2, "green", 2, 20231201), (3, "red", 4, 20240131),
                           (4, "blue", 6, 20240201)]
    before = rows(conn, "SELECT event_id, thing_key, _batch_id FROM tfact.fact_event ORDER BY 1")
    load(conn)
    assert rows(conn, "SELECT event_id, thing_key, _batch_id FROM tfact.fact_event ORDER BY 1") == before
    # the calendar was extended back to the oldest event, contiguously
    assert scalar(conn, """SELECT count(*) FROM gold.dim_date WHERE full_date BETWEEN '2023-12-01' AND '2024-03-01'""") == 92
    # a redelivery of event 1 (its row changed in silver) is re-resolved: blue at its time
    conn.execute("UPDATE tfact.events SET amount = 11, _loaded_at = now() WHERE event_id = 1")
    load(conn)
    assert facts(conn)[0] == (1, "blue", 22, 20240301)


def test_a_version_after_every_loaded_event_probes_no_row_and_a_later_event_still_moves(tiny):
    """Issue 15: the fact step keeps the latest event time it loaded (mark '<target>#<at column>');
    a new version starting after it reaches no row loaded before, and the rows of its key are not read
    (the usual daily change); one starting before a loaded event still re-points that row."""
    conn = tiny
    thing(conn, 1, "red", "2024-01-01T00:00:00Z")
    conn.execute("""INSERT INTO tfact.events (event_id, thing_id, happened_at, amount) VALUES
                    (1, 1, '2024-03-01T12:00:00Z', 10), (2, 1, '2024-06-01T12:00:00Z', 10)""")
    load(conn)
    load(conn)   # a second run: the mark is set (the first run of a fact re-points nothing)
    mark = "SELECT watermark_value FROM dwh_etl.watermarks WHERE table_name = 'tfact.fact_event#happened_at'"
    assert scalar(conn, mark) == scalar(conn, "SELECT max(happened_at) FROM tfact.fact_event")

    def change(colour, at):
        conn.execute("UPDATE tfact.dim_thing SET valid_to = %s, is_current = false WHERE thing_id = 1 AND is_current", (at,))
        thing(conn, 1, colour, at, version=scalar(conn, "SELECT max(version) + 1 FROM tfact.dim_thing"))

    change("blue", "2025-01-01T00:00:00Z")          # after every loaded event
    with conn.transaction():
        before = scalar(conn, "SELECT pg_stat_get_xact_numscans('tfact.fact_event'::regclass)")
        load(conn)
        scans = scalar(conn, "SELECT pg_stat_get_xact_numscans('tfact.fact_event'::regclass)") - before
    assert [r[1] for r in facts(conn)] == ["red", "red"]
    change("green", "2024-05-01T00:00:00Z")          # reaches event 2 (June), not event 1 (March)
    load(conn)
    assert [r[1] for r in facts(conn)] == ["red", "green"]
    # the run with the version after every event read the fact for its own write only (its natural-key
    # lookups), not the rows of thing 1's versions: the same number of scans as a run with no new version
    with conn.transaction():
        before2 = scalar(conn, "SELECT pg_stat_get_xact_numscans('tfact.fact_event'::regclass)")
        load(conn)
        idle = scalar(conn, "SELECT pg_stat_get_xact_numscans('tfact.fact_event'::regclass)") - before2
    assert scans == idle, (scans, idle)


def test_a_row_waits_for_its_late_dimension_row_then_loads(tiny):
    conn = tiny
    thing(conn, 1, "red", "2024-01-01T00:00:00Z")
    conn.execute("""INSERT INTO tfact.events (event_id, thing_id, happened_at, amount) VALUES
                    (1, 1, '2024-03-01T00:00:00Z', 1), (2, 2, '2024-03-02T00:00:00Z', 2),
                    (3, NULL, '2024-03-03T00:00:00Z', 3)""")
    load(conn)
    # thing 2 has not arrived: its event waits; a NULL key waits too ("always")
    assert [r[0] for r in facts(conn)] == [1]
    thing(conn, 2, "green", "2024-03-05T00:00:00Z")
    load(conn)   # the watermark moved past event 2: it is retried (late_window), before the first version
    assert facts(conn) == [(1, "red", 2, 20240301), (2, "green", 4, 20240302)]
    # "if_key": a NULL key loads with no dimension key
    spec = dict(SPEC, lookups=[{"dimension": "tfact.dim_thing", "wait": "if_key"}])
    conn.execute("DELETE FROM dwh_etl.watermarks WHERE table_name = 'tfact.fact_event'")
    load(conn, spec)
    assert facts(conn)[-1] == (3, None, 6, 20240303)


def test_a_row_that_waited_longer_than_the_late_window_is_quarantined_not_dropped(tiny):
    """Nothing lost: a row whose dimension row never came leaves the retry region with a quarantine
    entry naming the dimension and the late window, recorded once however many runs see it."""
    conn = tiny
    thing(conn, 1, "red", "2024-01-01T00:00:00Z")
    conn.execute("""INSERT INTO tfact.events (event_id, thing_id, happened_at, amount, _loaded_at) VALUES
                    (1, 1, '2024-03-01T00:00:00Z', 1, now() - interval '10 days'),
                    (2, 99, '2024-03-02T00:00:00Z', 2, now() - interval '10 days'),
                    (3, 98, '2024-03-03T00:00:00Z', 3, now() - interval '2 days')""")
    # the step last ran an hour ago: event 2 (10 days old) is past the 7-day retry region, event 3 is in it
    conn.execute("CALL dwh_etl.set_watermark('tfact.fact_event', '_loaded_at', now() - interval '1 hour')")
    for _ in range(2):
        with conn.transaction():
            conn.execute("SET LOCAL client_min_messages = error")
            load(conn)
    assert rows(conn, "SELECT target_table, source_table, record_key, payload->>'event_id', reasons, deliveries "
                      "FROM dwh_etl.quarantine") == [
        ("tfact.fact_event", "tfact.event_rows", "2", "2",
         ["waited 7 days for its row in tfact.dim_thing, which did not arrive: not loaded "
          "(once it arrives, a restatement of the event date loads it)"], 1)]


def test_a_duplicate_delivery_or_a_rerun_changes_nothing(tiny):
    conn = tiny
    thing(conn, 1, "red", "2024-01-01T00:00:00Z")
    conn.execute("""INSERT INTO tfact.events (event_id, thing_id, happened_at, amount) VALUES
                    (1, 1, '2024-03-01T00:00:00Z', 1), (2, 1, '2024-03-02T00:00:00Z', 2)""")
    load(conn)
    before = rows(conn, "SELECT event_key, event_id, thing_key, amount FROM tfact.fact_event ORDER BY 1")
    load(conn)   # nothing new in the window
    assert scalar(conn, """SELECT rows_inserted + rows_updated FROM dwh_lineage.table_lineage
                           WHERE target_table = 'tfact.fact_event' ORDER BY lineage_id DESC LIMIT 1""") == 0
    for mode in ("upsert", "insert", "replace"):
        # the same rows delivered again (a reload from scratch): still one fact row per event, same figures
        conn.execute("DELETE FROM dwh_etl.watermarks WHERE table_name = 'tfact.fact_event'")
        load(conn, dict(SPEC, mode=mode))
        after = rows(conn, "SELECT event_id, thing_key, amount FROM tfact.fact_event ORDER BY event_id")
        assert after == [r[1:] for r in before], mode
    # insert mode counted them as already loaded, and the step reconciled
    assert rows(conn, """SELECT rows_inserted, rows_updated, rows_unchanged FROM dwh_lineage.table_lineage
                         WHERE target_table = 'tfact.fact_event' AND notes LIKE '%%2 already loaded%%'""") == [(0, 0, 2)]
    assert scalar(conn, """SELECT bool_and(passed) AND count(*) = 5 FROM dwh_lineage.quality_metrics
                           WHERE table_name = 'tfact.fact_event' AND metric_name = 'reconciliation'""")


def with_deleted_flag(conn):
    """The events get a deleted flag, and the view passes it on."""
    conn.execute("ALTER TABLE tfact.events ADD COLUMN is_deleted boolean NOT NULL DEFAULT false")
    conn.execute("""CREATE OR REPLACE VIEW tfact.event_rows AS
        SELECT e.event_id, e.thing_id, e.happened_at, e.amount * 2 AS amount,
               to_char(e.happened_at AT TIME ZONE 'UTC', 'YYYYMMDD')::integer AS date_key, e._loaded_at, e.is_deleted
        FROM tfact.events AS e""")


def test_a_deleted_flag_removes_the_fact_row(tiny):
    conn = tiny
    thing(conn, 1, "red", "2024-01-01T00:00:00Z")
    with_deleted_flag(conn)
    conn.execute("""INSERT INTO tfact.events (event_id, thing_id, happened_at, amount) VALUES
                    (1, 1, '2024-03-01T00:00:00Z', 1), (2, 1, '2024-03-02T00:00:00Z', 2)""")
    spec = dict(SPEC, deleted_column="is_deleted")
    load(conn, spec)
    conn.execute("UPDATE tfact.events SET is_deleted = true, _loaded_at = now() WHERE event_id = 2")
    load(conn, spec)
    assert [r[0] for r in facts(conn)] == [1]


def register(conn, spec):
    conn.execute("CALL dwh_etl.register_pipeline(p_pipeline => 'facts', p_description => 'test')")
    conn.execute("CALL dwh_etl.register_steps(p_pipeline => 'facts', p_area => 'sales', p_steps => "
                 "jsonb_build_array(jsonb_build_object('step', 'tfact_fact_event', 'kind', 'fact', 'layer', 'gold', "
                 "'spec', %s::jsonb)))", (json.dumps(spec),))


def failed_step(conn):
    return conn.execute("""SELECT s.step_name, s.sqlstate, s.error_message FROM dwh_lineage.step_runs AS s
                           JOIN dwh_lineage.pipeline_runs AS r USING (run_id)
                           WHERE r.pipeline_name = 'facts'""").fetchone()


def test_a_fact_step_registers_and_runs_in_a_pipeline(tiny):
    conn = tiny
    register(conn, SPEC)
    assert scalar(conn, "SELECT procedure_name FROM dwh_etl.steps WHERE step_name = 'tfact_fact_event'") == "dwh_etl.step_fact"
    thing(conn, 1, "red", "2024-01-01T00:00:00Z")
    conn.execute("INSERT INTO tfact.events (event_id, thing_id, happened_at, amount) VALUES (1, 1, '2024-03-01T00:00:00Z', 1)")
    conn.execute(RUN_SQL, ("facts",))
    assert facts(conn) == [(1, "red", 2, 20240301)]
    assert rows(conn, """SELECT s.status, s.rows_written FROM dwh_lineage.step_runs AS s
                         JOIN dwh_lineage.pipeline_runs AS r USING (run_id) WHERE r.pipeline_name = 'facts'""") == [("completed", 1)]


@pytest.mark.parametrize("change, problems", [
    ({"view": None}, ["view is missing"]),
    ({"target": "tfact.nothing", "mode": "merge"}, ["target 'tfact.nothing' is not an existing table",
                                                    "mode 'merge' is not upsert, insert or replace"]),
    ({"natural_key": []}, ["natural_key must be a non-empty array of column names"]),
    ({"natural_key": ['event_id" = 1; DROP TABLE tfact.fact_event; --']}, ["the view lacks natural key column(s)"]),
    ({"lookups": [{"dimension": "tfact.nothing"}]}, ["lookup 1: 'tfact.nothing' is not a registered dimension"]),
    ({"lookups": [{"dimension": "tfact.dim_thing", "at": "nope", "wait": "sometimes"}]},
     ['lookup 1 (tfact.dim_thing): "at"', "wait 'sometimes' is not never, always or if_key"]),
    ({"late_window": "a week or so"}, ["late_window (a week or so) must be an interval"]),
    ({"lookups": [{"dimension": "tfact.dim_thing", "inferred": True}]},
     ["lookup 1 (tfact.dim_thing): inferred needs an is_inferred column"]),
    ({"lookups": [{"table": "tfact.nothing", "surrogate_key": "k", "natural_key": ["id"]}],
      "affected_queue": {"table": "tfact.nothing"}},
     ["lookup 1: table 'tfact.nothing' needs surrogate_key and natural_key", "affected_queue"]),
    # a typo is refused, never ignored (docs17: "lookup" loaded every row with its key NULL)
    ({"lookup": [{"dimension": "tfact.dim_thing"}], "deleted_colum": "gone"},
     ["unknown key(s) 'deleted_colum', 'lookup' (known: view, target"]),
    ({"lookups": [{"dimension": "tfact.dim_thing", "wiat": "always"}]},
     ["lookup 1: unknown key(s) 'wiat' (known: dimension or table"]),
])
def test_a_bad_spec_fails_the_step_naming_it_and_every_problem(tiny, change, problems):
    conn = tiny
    register(conn, {k: v for k, v in dict(SPEC, **change).items() if v is not None})
    with pytest.raises(psycopg.Error):
        conn.execute(RUN_SQL, ("facts",))
    step, state, message = failed_step(conn)
    assert (step, state) == ("tfact_fact_event", "22023")
    assert message.startswith("fact step tfact_fact_event: bad spec: ")
    for problem in problems:
        assert problem in message, message
    # nothing was read or written, and the fact table is still there
    assert scalar(conn, "SELECT count(*) FROM tfact.fact_event") == 0
    assert scalar(conn, "SELECT count(*) FROM dwh_etl.watermarks WHERE table_name = 'tfact.fact_event'") == 0


def test_an_unknown_key_gets_an_inferred_member_that_the_dimension_load_completes_in_place(tiny):
    # issue 11: an early-arriving fact does not wait; the dimension row, when it comes, fills the member
    conn = tiny
    conn.execute("ALTER TABLE tfact.dim_thing ADD COLUMN is_inferred boolean NOT NULL DEFAULT false")
    thing(conn, 1, "red", "2024-01-01T00:00:00Z")
    conn.execute("""INSERT INTO tfact.events (event_id, thing_id, happened_at, amount) VALUES
                    (1, 1, '2024-03-01T00:00:00Z', 1), (2, 9, '2024-03-02T00:00:00Z', 2), (3, 9, '2024-03-03T00:00:00Z', 3),
                    (4, NULL, '2024-03-04T00:00:00Z', 4)""")
    spec = dict(SPEC, lookups=[{"dimension": "tfact.dim_thing", "inferred": True}])
    load(conn, spec)
    assert rows(conn, """SELECT thing_id, colour, is_inferred, valid_from = '-infinity', is_current, version
                         FROM tfact.dim_thing WHERE thing_id = 9""") == [(9, None, True, True, True, 1)]
    member = scalar(conn, "SELECT thing_key FROM tfact.dim_thing WHERE thing_id = 9")
    assert rows(conn, "SELECT event_id, thing_key FROM tfact.fact_event WHERE event_id > 1 ORDER BY 1") == [
        (2, member), (3, member), (4, None)]
    assert "1 inferred dimension members created" in scalar(
        conn, "SELECT notes FROM dwh_lineage.table_lineage WHERE target_table = 'tfact.fact_event' ORDER BY lineage_id DESC LIMIT 1")
    # the real row arrives, then a later change: completed in place (same key, no second version for
    # the first row), the change a version of its own
    conn.execute("""CREATE TEMP TABLE thing_changes AS
                    SELECT * FROM (VALUES (9, 'green', '2024-03-05T00:00:00Z'::timestamptz),
                                          (9, 'blue', '2024-04-01T00:00:00Z'::timestamptz)) AS c (thing_id, colour, changed_at)""")
    conn.execute("UPDATE dwh_etl.dimension_specs SET change_ts_column = 'changed_at' WHERE dimension_name = 'tfact.dim_thing'")
    counts = rows(conn, "SELECT rows_inserted, rows_type1_updated FROM dwh_etl.apply_dimension('tfact.dim_thing', 'pg_temp.thing_changes')")
    assert counts == [(1, 1)]
    assert rows(conn, """SELECT thing_key = %s, colour, is_inferred, version, is_current FROM tfact.dim_thing
                         WHERE thing_id = 9 ORDER BY version""", (member,)) == [
        (True, "green", False, 1, False), (False, "blue", False, 2, True)]
    # the facts still point at the member, now complete; a rerun changes nothing
    assert facts(conn)[1:3] == [(2, "green", 4, 20240302), (3, "green", 6, 20240303)]
    assert rows(conn, "SELECT rows_inserted, rows_type1_updated FROM dwh_etl.apply_dimension('tfact.dim_thing', 'pg_temp.thing_changes')") == [(0, 0)]


def test_a_small_batch_against_a_large_fact_replaces_and_queues_the_same_rows_by_index_probes(tiny):
    """A daily delta against a large fact finds the rows it replaces and the values it queues through the
    natural key's index (hash and merge joins off for those statements only, issue 15): the same rows as
    the hash join path, and the session's own settings are back after the step, in its transaction."""
    conn = tiny
    thing(conn, 1, "red", "2024-01-01T00:00:00Z")
    with_deleted_flag(conn)
    conn.execute("CREATE TABLE tfact.queue (date_key integer PRIMARY KEY, run_id bigint)")
    # 6,000 events over three days, loaded once (the large fact), statistics taken
    conn.execute("""INSERT INTO tfact.events (event_id, thing_id, happened_at, amount)
                    SELECT g, 1, timestamptz '2024-03-01T00:00:00Z' + (g % 3) * interval '1 day', g
                    FROM generate_series(1, 6000) AS g""")
    spec = dict(SPEC, mode="replace", deleted_column="is_deleted",
                affected_queue={"table": "tfact.queue", "column": "date_key"})
    load(conn, spec)
    conn.execute("ANALYZE tfact.fact_event")
    conn.execute("DELETE FROM tfact.queue")
    # the next delta: 3 events move to another day, 2 are deleted, 1 is new
    conn.execute("""UPDATE tfact.events SET happened_at = '2024-03-10T00:00:00Z', amount = amount + 1, _loaded_at = now()
                    WHERE event_id IN (3, 6, 9)""")
    conn.execute("UPDATE tfact.events SET is_deleted = true, _loaded_at = now() WHERE event_id IN (1, 2)")
    conn.execute("INSERT INTO tfact.events (event_id, thing_id, happened_at, amount) VALUES (7001, 1, '2024-03-11T00:00:00Z', 5)")
    conn.execute("SET enable_hashjoin = on")
    notes = []
    conn.add_notice_handler(lambda d: notes.append(d.message_primary))
    conn.execute("SET client_min_messages = debug1")
    with conn.transaction():
        load(conn, spec)
        assert scalar(conn, "SELECT current_setting('enable_hashjoin') || current_setting('enable_mergejoin')") == "onon"
    conn.execute("RESET client_min_messages")
    assert [n for n in notes if "by index probes" in (n or "")] == ["fact step (fact step of tfact.fact_event): 6 staged rows found in tfact.fact_event by index probes"], notes
    assert scalar(conn, "SELECT count(*) FROM tfact.fact_event") == 6000 - 2 + 1
    assert rows(conn, "SELECT event_id, amount, date_key FROM tfact.fact_event WHERE event_id IN (1, 2, 3, 6, 9, 7001) "
                      "ORDER BY 1") == [(3, 8, 20240310), (6, 14, 20240310), (9, 20, 20240310), (7001, 10, 20240311)]
    # the days the touched rows had (3 and 9 on 03-01, 6 on 03-01; 1 on 03-02, 2 on 03-03) and the days they get
    assert [r[0] for r in rows(conn, "SELECT date_key FROM tfact.queue ORDER BY 1")] == [
        20240301, 20240302, 20240303, 20240310, 20240311]


def index_defs(conn, table):
    return rows(conn, """SELECT c.relname, pg_get_indexdef(i.indexrelid), i.indisvalid, obj_description(c.oid, 'pg_class'), c.oid
                         FROM pg_index AS i JOIN pg_class AS c ON c.oid = i.indexrelid
                         WHERE i.indrelid = %s::regclass ORDER BY 1""", (table,))


def test_a_bulk_load_into_an_empty_fact_builds_its_secondary_indexes_after_the_write(tiny):
    """A first load (fact.bulk_rows rows or more into an empty fact) drops the fact's secondary indexes and
    builds them after the write from their own definitions, in the step's transaction: the same indexes,
    valid, with their comments; the unique ones (ON CONFLICT arbiters, keys) and the one the table is
    clustered on are never dropped. A later
    bulk batch into the non-empty fact keeps them (the same index objects)."""
    conn = tiny
    thing(conn, 1, "red", "2024-01-01T00:00:00Z")
    conn.execute("""CREATE INDEX fact_event_date_idx ON tfact.fact_event (date_key) INCLUDE (amount);
                    CREATE INDEX fact_event_big_idx ON tfact.fact_event (thing_key) WHERE amount > 100;
                    CREATE INDEX fact_event_clustered_idx ON tfact.fact_event (happened_at);
                    CLUSTER tfact.fact_event USING fact_event_clustered_idx;
                    COMMENT ON INDEX tfact.fact_event_date_idx IS 'by day'""")
    before = index_defs(conn, "tfact.fact_event")
    conn.execute("""INSERT INTO tfact.events (event_id, thing_id, happened_at, amount)
                    SELECT g, 1, timestamptz '2024-03-01T00:00:00Z' + (g % 3) * interval '1 day', g
                    FROM generate_series(1, 12000) AS g""")
    notes = []
    conn.add_notice_handler(lambda d: notes.append(d.message_primary))
    conn.execute("SET client_min_messages = debug1")
    load(conn)
    conn.execute("RESET client_min_messages")
    assert any("secondary indexes of the empty tfact.fact_event built after the write" in (n or "") for n in notes), notes
    after = index_defs(conn, "tfact.fact_event")
    assert [r[:4] for r in after] == [r[:4] for r in before]
    assert all(r[2] for r in after)
    # the unique ones stayed (the same objects); the secondary ones are new objects
    kept = {r[0]: r[4] for r in before}
    assert {r[0] for r in after if r[4] == kept[r[0]]} == {"fact_event_clustered_idx", "fact_event_event_id_key", "fact_event_pkey"}
    assert scalar(conn, "SELECT indisclustered FROM pg_index WHERE indexrelid = 'tfact.fact_event_clustered_idx'::regclass")
    assert scalar(conn, "SELECT count(*) FROM tfact.fact_event") == 12000
    assert scalar(conn, "SELECT count(*) FROM tfact.fact_event WHERE amount > 100 AND thing_key IS NOT NULL") == 12000 - 50
    # a second bulk batch: the target is not empty, its indexes stay
    conn.execute("""INSERT INTO tfact.events (event_id, thing_id, happened_at, amount)
                    SELECT g, 1, timestamptz '2024-03-05T00:00:00Z', g FROM generate_series(12001, 24000) AS g""")
    load(conn)
    assert index_defs(conn, "tfact.fact_event") == after
    assert scalar(conn, "SELECT count(*) FROM tfact.fact_event") == 24000


def test_the_first_sales_load_leaves_every_partition_of_the_fact_indexed(conn):
    """The sales fact is partitioned: its indexes, built again on the parent after the first load, are
    valid and attached in every partition (the seed's indexes, by name on the parent)."""
    from conftest import disable_other_areas

    disable_other_areas(conn)
    conn.execute("CALL sales_src.generate(p_scale => 0.02, p_seed => 0.5)")
    before = [r[:4] for r in index_defs(conn, "sales.fact_sales")]
    silver_before = index_defs(conn, "silver.sales_sales")
    bronze_before = index_defs(conn, "bronze.sales_sales")
    conn.execute("CALL dwh_etl.run_pipeline(p_pipeline => 'daily', p_run_date => CURRENT_DATE, p_run_id => NULL)")
    assert scalar(conn, "SELECT count(*) FROM sales.fact_sales") >= 10000
    assert [r[:4] for r in index_defs(conn, "sales.fact_sales")] == before
    # silver's first load took the same bulk path (silver.bulk_rows, 10,000 rows): its secondary indexes
    # are new objects, built after the write, the same definitions and valid; its primary key stayed
    silver_after = index_defs(conn, "silver.sales_sales")
    assert [r[:4] for r in silver_after] == [r[:4] for r in silver_before] and all(r[2] for r in silver_after)
    assert {r[0] for r in silver_after if r[4] in {b[4] for b in silver_before}} == {"sales_sales_pk"}
    assert scalar(conn, "SELECT count(*) FROM silver.sales_sales") == scalar(conn, "SELECT count(*) FROM sales.fact_sales")
    # and bronze's first extraction (dwh_etl.extract_incremental into an empty table): _ingested_at's index
    # built after the write
    bronze_after = index_defs(conn, "bronze.sales_sales")
    assert [r[:4] for r in bronze_after] == [r[:4] for r in bronze_before] and all(r[2] for r in bronze_after)
    assert {r[0] for r in bronze_after if r[4] in {b[4] for b in bronze_before}} == {"sales_sales_pk"}
    parents = scalar(conn, "SELECT count(*) FROM pg_index WHERE indrelid = 'sales.fact_sales'::regclass")
    assert rows(conn, """
        SELECT p.relid::regclass::text, count(i.indexrelid), bool_and(i.indisvalid)
        FROM pg_partition_tree('sales.fact_sales') AS p
        JOIN pg_index AS i ON i.indrelid = p.relid
        WHERE p.isleaf
        GROUP BY 1 HAVING count(i.indexrelid) <> %s OR NOT bool_and(i.indisvalid)""", (parents,)) == []
    # the runner's ANALYZE after the load: the partitioned fact's key columns (indexes, constraints, the
    # partition key), on the parent and its partitions; not its measures (issue 15: 0.85 s -> 0.25 s at
    # 300k lines). dwh_etl.op_analyze (maintenance) still analyzes every column.
    stats = lambda: {r[0] for r in rows(conn, """
        SELECT attname FROM pg_stats WHERE schemaname = 'sales' AND tablename = 'fact_sales' AND inherited""")}
    keys = {"sale_id", "date_key", "time_key", "customer_key", "product_key", "transaction_at", "_batch_id"}
    assert stats() == keys
    assert scalar(conn, """
        SELECT count(DISTINCT s.tablename) FROM pg_stats AS s
        JOIN pg_partition_tree('sales.fact_sales') AS p ON p.relid = format('%I.%I', s.schemaname, s.tablename)::regclass
        WHERE p.isleaf AND s.attname = 'customer_key'""") == scalar(conn, """
        SELECT count(*) FROM pg_partition_tree('sales.fact_sales') AS p
        JOIN pg_class AS c ON c.oid = p.relid WHERE p.isleaf AND c.reltuples > 0""")
    conn.execute("SELECT dwh_etl.sec_analyze('sales.fact_sales')")
    assert stats() >= keys | {"quantity", "unit_price", "line_total"}
