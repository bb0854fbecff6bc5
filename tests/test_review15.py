"""Review 15 of this session's changes (e8ca931..fbe5694), attacked as a demanding stranger would:

(a) dwh_etl._fact_repoint, called by dwh_etl.step_fact after its write: fact rows loaded by earlier runs
    follow a late-arriving SCD2 dimension version (a version loaded since the fact step's window start).
    Oracle: every fact row points at the version a fresh load would pick (the latest that started at or
    before its event; an event before the first version, or with no time, takes the first), whatever the
    order and timing of the dimension loads: back-dated versions before the first, a version between two
    old ones, several new versions of one key, deletion markers, a window held back by an open
    transaction, composite natural keys, NULL event times, the three write modes, as etl_service.
(b) quality: the batch-scoped counting rules share one scan (dwh_etl._batch_rule_counts); the results of
    dwh_etl.quality_check_table equal the rule-by-rule dwh_etl.quality_evaluate for every rule type,
    thresholds, where clauses, hostile identifiers, more than 50 rules on one table, a dropped column.
(c) the restatement of a fact queues only the dates of its range that held rows (_restate_apply).

A test whose docstring says DEFECT exposed one (fixed unless marked xfail); the others held and stay as
regression tests. The tiny dimension + fact world is test_step_fact's (`tiny`); each test gets a clone.
"""

from __future__ import annotations

import json

import psycopg
import pytest

from test_step_fact import SPEC, facts, load, rows, scalar, thing, tiny  # noqa: F401


# ===================================================================================================
# (a) re-pointing facts at late-arriving dimension versions
# ===================================================================================================

def expected_keys(conn, key="thing_key", at="happened_at"):
    """The oracle: each fact row's key as a fresh load would resolve it (same ordering rule)."""
    return rows(conn, f"""
        SELECT f.event_id,
               COALESCE((SELECT d.thing_key FROM tfact.dim_thing AS d
                         WHERE d.thing_id = e.thing_id AND d.valid_from <= f.{at}
                         ORDER BY d.valid_from DESC, d.thing_key DESC LIMIT 1),
                        (SELECT d.thing_key FROM tfact.dim_thing AS d
                         WHERE d.thing_id = e.thing_id ORDER BY d.valid_from, d.thing_key LIMIT 1))
        FROM tfact.fact_event AS f JOIN tfact.events AS e USING (event_id)
        ORDER BY 1""")


def actual_keys(conn, key="thing_key"):
    return rows(conn, f"SELECT event_id, {key} FROM tfact.fact_event ORDER BY 1")


def event(conn, event_id, thing_id, at, amount=1):
    conn.execute("INSERT INTO tfact.events (event_id, thing_id, happened_at, amount) VALUES (%s, %s, %s, %s)",
                 (event_id, thing_id, at, amount))


def test_a_first_version_loaded_behind_a_held_back_window_follows_a_version_placed_before_it(tiny, dsn):
    """DEFECT (medium), fixed: a fact run whose window was held back by another open transaction (an
    analyst's session, another pipeline's step: dwh_etl.safe_upper_bound) resolves its rows against a
    version V committed after the window's end; V is still "new" for the next run. When a version W is then
    placed before V (a back-dated change before the key's first), the rows that took V as the key's first
    version (events before V's start) must move to W, but _fact_repoint left out every new current version
    ("rows resolved with it in place: nothing newer can take them"), so they kept V for good. The new
    current version's rows are now probed when a new version became the key's first."""
    conn = tiny
    thing(conn, 2, "grey", "2020-01-01T00:00:00Z")
    event(conn, 100, 2, "2024-01-10T00:00:00Z")
    load(conn)                                               # a watermark: later runs re-point
    event(conn, 1, 1, "2024-01-15T00:00:00Z")                # arrives before the blocker opens
    blocker = psycopg.connect(dsn)
    try:
        blocker.execute("SELECT 1")                          # an open transaction: the window stops at its start
        thing(conn, 1, "red", "2024-02-01T00:00:00Z")        # V: committed after that start
        load(conn)                                           # event 1 takes red (the key's first version)
        assert facts(conn)[0][:2] == (1, "red")
    finally:
        blocker.rollback()
        blocker.close()
    thing(conn, 1, "green", "2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z", version=0)   # W, before red
    load(conn)
    assert actual_keys(conn) == expected_keys(conn)
    assert facts(conn)[0][:2] == (1, "green")


def test_versions_between_before_and_after_old_ones_across_runs_match_a_fresh_resolution(tiny):
    """Held: key 1 with red (Feb) and blue (Apr); events across the year. Then, run by run: a version placed
    between the two (yellow, Mar), one before the first (green, Jan), two new versions of the key in one
    dimension load (pink in May, then a deletion marker in June, is_deleted), and a key whose only version
    is replaced by a back-dated first plus a later one. After each run every fact row points at the
    version a fresh load would pick; a run with nothing new re-points nothing (rows, batch ids unchanged)."""
    conn = tiny
    thing(conn, 1, "red", "2024-02-01T00:00:00Z", "2024-04-01T00:00:00Z", version=1)
    thing(conn, 1, "blue", "2024-04-01T00:00:00Z", version=2)
    thing(conn, 3, "red", "2024-06-01T00:00:00Z")
    for i, at in enumerate(["2023-12-15", "2024-01-15", "2024-02-15", "2024-03-15", "2024-04-15",
                            "2024-05-15", "2024-06-15", "2024-07-15"], start=1):
        event(conn, i, 1, f"{at}T12:00:00Z")
        event(conn, 10 + i, 3, f"{at}T12:00:00Z")
    load(conn)
    assert actual_keys(conn) == expected_keys(conn)
    # between two old ones
    conn.execute("UPDATE tfact.dim_thing SET valid_to = '2024-03-01' WHERE thing_id = 1 AND colour = 'red'")
    thing(conn, 1, "yellow", "2024-03-01T00:00:00Z", "2024-04-01T00:00:00Z", version=2)
    load(conn)
    assert actual_keys(conn) == expected_keys(conn)
    assert [c for _, c, _, _ in facts(conn)[:8]] == ["red", "red", "red", "yellow", "blue", "blue", "blue", "blue"]
    # before the first
    thing(conn, 1, "green", "2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z", version=0)
    load(conn)
    assert actual_keys(conn) == expected_keys(conn)
    # two new versions of one key in one load, the later a deletion marker; key 3 gets a back-dated first
    conn.execute("UPDATE tfact.dim_thing SET valid_to = '2024-05-01', is_current = false WHERE thing_id = 1 AND colour = 'blue'")
    thing(conn, 1, "pink", "2024-05-01T00:00:00Z", "2024-06-01T00:00:00Z", version=5)
    conn.execute("""INSERT INTO tfact.dim_thing (thing_id, colour, valid_from, is_current, version, is_deleted)
                    VALUES (1, 'pink', '2024-06-01', true, 6, true)""")
    thing(conn, 3, "white", "2024-01-01T00:00:00Z", "2024-06-01T00:00:00Z", version=0)
    thing(conn, 3, "black", "2024-03-01T00:00:00Z", "2024-06-01T00:00:00Z", version=0)
    conn.execute("UPDATE tfact.dim_thing SET valid_to = '2024-03-01' WHERE thing_id = 3 AND colour = 'white'")
    load(conn)
    assert actual_keys(conn) == expected_keys(conn)
    before = rows(conn, "SELECT event_id, thing_key, _batch_id, _loaded_at FROM tfact.fact_event ORDER BY 1")
    load(conn)
    assert rows(conn, "SELECT event_id, thing_key, _batch_id, _loaded_at FROM tfact.fact_event ORDER BY 1") == before


def test_null_event_times_and_a_back_dated_first_version(tiny):
    """Held: events without a time take the key's first version (the load's rule); when a version is placed
    before the first, they move to it with the rows dated before it, and the others stay."""
    conn = tiny
    conn.execute("""ALTER TABLE tfact.events ADD COLUMN seen_at timestamptz;
                    ALTER TABLE tfact.fact_event ADD COLUMN seen_at timestamptz;
                    CREATE OR REPLACE VIEW tfact.event_rows AS
                    SELECT e.event_id, e.thing_id, e.happened_at, e.amount * 2 AS amount,
                           to_char(e.happened_at AT TIME ZONE 'UTC', 'YYYYMMDD')::integer AS date_key, e._loaded_at,
                           e.seen_at
                    FROM tfact.events AS e""")
    spec = dict(SPEC, lookups=[{"dimension": "tfact.dim_thing", "wait": "always", "at": "seen_at"}])
    thing(conn, 1, "red", "2024-02-01T00:00:00Z")
    for i, seen in enumerate([None, "2024-01-15", "2024-03-01", None], start=1):
        event(conn, i, 1, "2024-03-01T00:00:00Z")
        conn.execute("UPDATE tfact.events SET seen_at = %s WHERE event_id = %s", (seen, i))
    load(conn, spec)
    assert actual_keys(conn) == expected_keys(conn, at="seen_at")
    thing(conn, 1, "green", "2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z", version=0)
    load(conn, spec)
    assert actual_keys(conn) == expected_keys(conn, at="seen_at")
    assert [c for _, c, _, _ in facts(conn)] == ["green", "green", "red", "green"]


# ===================================================================================================
# (b) quality: the shared scan of a batch's counting rules
# ===================================================================================================

@pytest.fixture
def qworld(conn):
    """A table with _batch_id and a hostile column name, two batches, and 70 rules of every type."""
    conn.execute("""
        CREATE SCHEMA "q w";
        CREATE TABLE "q w".parent (id integer PRIMARY KEY);
        INSERT INTO "q w".parent VALUES (1), (2);
        CREATE TABLE "q w"."T" (
            id integer, n integer, code text, ref integer, "odd ""col""; x" text, gone integer, _batch_id uuid);
        INSERT INTO "q w"."T" (id, n, code, ref, "odd ""col""; x", gone, _batch_id)
        SELECT g, CASE WHEN g % 7 = 0 THEN NULL ELSE g % 13 END,
               (ARRAY['a', 'b', 'C', NULL, 'a1'])[1 + g % 5], 1 + g % 3,
               CASE WHEN g % 4 = 0 THEN NULL ELSE 'v' END, g,
               CASE WHEN g <= 200 THEN '00000000-0000-0000-0000-00000000000a'::uuid
                    ELSE '00000000-0000-0000-0000-00000000000b'::uuid END
        FROM generate_series(1, 300) AS g;
        INSERT INTO "q w"."T" (id, n, code, ref, _batch_id) VALUES (1, 1, 'a', 1, '00000000-0000-0000-0000-00000000000a');
    """)
    t = '"q w"."T"'
    specs = [
        ("not_null", ["n"], {}, "count", 0), ("not_null", ["n", "code"], {}, "count", 100),
        ("not_null", ['odd "col"; x'], {}, "percent", 30), ("not_null", ['odd "col"; x'], {}, "percent", 20),
        ("accepted_values", ["code"], {"values": ["a", "b"]}, "count", 0),
        ("accepted_values", ["code"], {"values": ["a", "b", "C", "a1"]}, "count", 0),
        ("accepted_values", ["code"], {"values": ["x'); DROP TABLE \"q w\".parent; --"]}, "percent", 50),
        ("range", ["n"], {"min": 0, "max": 10}, "count", 0), ("range", ["n"], {"min": 5}, "percent", 60),
        ("range", ["n"], {"max": 100}, "count", 0),
        ("regex", ["code"], {"pattern": "^[a-z]+$"}, "count", 0), ("regex", ["code"], {"pattern": "'"}, "count", 0),
        ("relationships", ["ref"], {"to_table": '"q w".parent', "to_column": "id"}, "count", 0),
        ("unique", ["id"], {}, "count", 0), ("unique", ["code"], {}, "count", 1000),
        ("custom_sql", [], {"sql": 'SELECT * FROM "q w"."T" WHERE n = 12'}, "count", 0),
        ("row_count", [], {"min": 1, "max": 150}, "count", 0),
        ("not_null", ["n"], {"where": "x.id > 100"}, "count", 0),
        ("range", ["n"], {"max": 3, "where": "x.code = 'a'"}, "percent", 10),
        ("unique", ["code"], {"where": "x.n > 5"}, "count", 0),
    ] + [("range", ["n"], {"max": k}, "count", k % 3) for k in range(50)]
    for i, (typ, cols, params, ttype, thr) in enumerate(specs):
        conn.execute("""INSERT INTO dwh_etl.quality_rules (rule_name, table_name, rule_type, column_names, params,
                                                              threshold_type, threshold, severity)
                        VALUES (%s, %s, %s, %s, %s, %s, %s, 'warn')""",
                     (f"r15 {i:02d} {typ}", t, typ, cols, json.dumps(params), ttype, thr))
    return conn, t


def per_rule(conn, table, batch):
    """Each enabled rule evaluated on its own (the reference), by rule id."""
    return {r[0]: r[1:] for r in rows(conn, """
        SELECT r.rule_id, e.rows_checked, e.failing, e.metric_value, e.passed, e.failing_sample
        FROM dwh_etl.quality_rules AS r CROSS JOIN LATERAL dwh_etl.quality_evaluate(r, %s::uuid) AS e
        WHERE r.table_name = %s AND r.is_enabled""", (batch, table))}


def shared(conn, table, batch):
    doc = scalar(conn, "SELECT dwh_etl.quality_check_table(%s, %s::uuid)", (table, batch))
    return {d["rule_id"]: (d["rows_checked"], d["failing"], d["metric_value"], d["passed"], d["failing_sample"])
            for d in doc}


@pytest.mark.parametrize("batch", ["00000000-0000-0000-0000-00000000000a", "00000000-0000-0000-0000-00000000000b",
                                   "00000000-0000-0000-0000-0000000000ff", None])
def test_the_shared_scan_gives_each_rule_its_own_evaluation(qworld, batch):
    """Held: 70 rules on one table (every type, count and percent thresholds, where clauses, a column
    named with quotes and a semicolon, a value carrying SQL): dwh_etl.quality_check_table's rows checked,
    failing rows, metric, verdict and sample equal dwh_etl.quality_evaluate's rule by rule, for two
    batches, a batch with no row and no batch; the table without _batch_id is judged whole the same way."""
    conn, t = qworld
    ref = per_rule(conn, t, batch)
    got = shared(conn, t, batch)
    assert len(got) == 70
    for rid, r in ref.items():
        assert (got[rid][0], got[rid][1], float(got[rid][2]) if got[rid][2] is not None else None, got[rid][3]) == \
               (r[0], r[1], float(r[2]) if r[2] is not None else None, r[3]), rid
        assert (got[rid][4] is None) == (r[4] is None), rid
    assert scalar(conn, 'SELECT count(*) FROM "q w".parent') == 2
    if batch is None:
        conn.execute('ALTER TABLE "q w"."T" DROP COLUMN _batch_id')
        assert {k: v[:4] for k, v in shared(conn, t, "00000000-0000-0000-0000-00000000000a").items()} == \
               {k: v[:4] for k, v in per_rule(conn, t, "00000000-0000-0000-0000-00000000000a").items()}


def test_a_rule_whose_column_was_dropped_fails_with_its_own_clear_error(qworld):
    """Held: a counting rule on a column dropped since makes the check fail with quality_evaluate's
    undefined_column naming the rule, not with an error of the shared statement."""
    conn, t = qworld
    conn.execute("""INSERT INTO dwh_etl.quality_rules (rule_name, table_name, rule_type, column_names)
                    VALUES ('r15 gone', %s, 'not_null', '{gone}')""", (t,))
    conn.execute('ALTER TABLE "q w"."T" DROP COLUMN gone')
    with pytest.raises(psycopg.errors.UndefinedColumn, match="r15 gone"):
        conn.execute("SELECT dwh_etl.quality_check_table(%s, '00000000-0000-0000-0000-00000000000a')", (t,))
