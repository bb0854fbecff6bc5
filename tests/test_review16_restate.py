"""Review 16: a restatement and the lines whose date the source moved.

`dwh_etl.restate` deletes a fact's rows whose *stored* date is in the range and reloads the view's rows whose
*current* date is in it. When silver is ahead of the fact (a partial run, `dwh run daily --select` of the
extraction and silver; a run whose fact step failed), a sales line the source moved out of the range was
deleted and not reloaded: missing from gold, and its new day's marts not recomputed, until a later run.
The restatement now also reloads every natural key it deleted, at its current date (dwh_etl._restate_apply
keeps the keys, dwh_etl.step_fact joins them), so that afterwards every line whose stored or current date is
in the range is right, and nothing outside it is lost or duplicated.

The sales area is driven through its real source (sales_src: UPDATE, DELETE, a late-stamped customer
change) and compared with the source's final state (each valid line once, at its current day, pointing at
the dimension versions valid at its time). One database per module (scale 0.001, ~1,000 lines); the
scenarios run once in the fixture, the tests read what each step found. A tiny upsert fact (plain path,
inferred members) checks the engine's other staging path.
"""
from __future__ import annotations

import datetime as dt
import json

import pytest

from conftest import cloned_database, disable_other_areas
from oracle_common import rows, run_daily, scalar
from test_restate import AGG_DIFF, SALES_FACT_VERSIONS_VALID

# every valid source line once, at its current day (the shop's zone), in fact_sales; 'missing' / 'extra'
FACT_VS_SOURCE = """
WITH exp AS (SELECT s.sale_id, to_char(s.transaction_date AT TIME ZONE dwh_etl.setting_timezone('sales.source_timezone'),
                                       'YYYYMMDD')::integer AS date_key
             FROM sales_src.sales AS s
             WHERE EXISTS (SELECT 1 FROM silver.sales_sales AS v WHERE v.sale_id = s.sale_id AND NOT v.is_deleted)),
     got AS (SELECT f.sale_id, f.date_key FROM sales.fact_sales AS f)
SELECT 'missing', e.sale_id, e.date_key FROM (SELECT * FROM exp EXCEPT ALL SELECT * FROM got) AS e
UNION ALL
SELECT 'extra', g.sale_id, g.date_key FROM (SELECT * FROM got EXCEPT ALL SELECT * FROM exp) AS g
ORDER BY 2, 1, 3"""

SILVER_ONLY = ("CALL dwh_etl.run_steps(p_pipeline => 'daily', p_run_date => (now() AT TIME ZONE 'UTC')::date, "
               "p_steps => ARRAY['sales_extract', 'sales_silver_customers', 'sales_silver_sales'])")
RESTATE = "CALL dwh_etl.restate(p_pipeline => %s, p_from => %s, p_to => %s, p_run_id => NULL)"


def dkey(d: dt.date) -> int:
    return int(d.strftime("%Y%m%d"))


def check(conn):
    """What differs from the source: fact lines, versions not valid at the line's time, marts."""
    return {"fact": [tuple(r) for r in rows(conn, FACT_VS_SOURCE)],
            "versions": tuple(rows(conn, SALES_FACT_VERSIONS_VALID)[0]),
            "marts": scalar(conn, AGG_DIFF)}


GOOD = {"fact": [], "versions": (0, 0), "marts": 0}


def restate(conn, start, end, pipeline="daily"):
    run_id = scalar(conn, RESTATE, (pipeline, start, end))
    status, metrics = conn.execute("SELECT status, metrics FROM dwh_lineage.pipeline_runs WHERE run_id = %s",
                                   (run_id,)).fetchone()
    assert status == "completed", rows(conn, "SELECT step_name, error_message FROM dwh_lineage.step_runs "
                                             "WHERE run_id = %s AND status <> 'completed'", (run_id,))
    return {r["table"]: r for r in metrics["replaced"]}


def move(conn, sale_id, when):
    conn.execute("UPDATE sales_src.sales SET transaction_date = %s WHERE sale_id = %s", (when, sale_id))


def at(d: dt.date, hour=10) -> dt.datetime:
    return dt.datetime.combine(d, dt.time(hour), tzinfo=dt.timezone.utc)


@pytest.fixture(scope="module")
def world(postgresql_proc):
    proc = postgresql_proc
    with cloned_database(proc, proc.template_dbname, "r16") as conn:
        conn.execute("SET TimeZone = 'UTC'")
        disable_other_areas(conn)
        today = scalar(conn, "SELECT (now() AT TIME ZONE 'UTC')::date")
        d0 = today - dt.timedelta(days=30)
        lo, hi = d0 - dt.timedelta(days=2), d0 + dt.timedelta(days=2)     # the restated range
        far = d0 - dt.timedelta(days=45)                                   # another month, always
        near = hi + dt.timedelta(days=3)                                   # outside, a few days after
        conn.execute("CALL sales_src.generate(p_scale => 0.001, p_seed => 0.16, p_today => %s, p_from => %s)",
                     (today, today - dt.timedelta(days=90)))
        run_daily(conn)
        found = {"loaded": check(conn)}
        inside = [r[0] for r in rows(conn, "SELECT sale_id FROM sales.fact_sales WHERE date_key BETWEEN %s AND %s "
                                           "ORDER BY sale_id", (dkey(lo), dkey(hi)))]
        outside = [r[0] for r in rows(conn, "SELECT sale_id FROM sales.fact_sales WHERE date_key < %s "
                                            "ORDER BY sale_id", (dkey(d0 - dt.timedelta(days=40)),))]
        assert len(inside) >= 12 and len(outside) >= 8
        ids = {"in_far": inside[0], "in_near": inside[1], "out_in": outside[0], "near_in": outside[1],
               "twice_in_out_in": inside[2], "twice_in_in_out": inside[3], "twice_out_in_out": outside[2],
               "deleted_in": inside[4], "deleted_out": outside[3], "plain_in_out": inside[5],
               "plain_out_in": outside[4], "kept": inside[6]}
        # the customer of in_far changes segment, stamped between far and d0 (a late change, placed in history):
        # the line moved to `far` must point at the version before it
        cust = scalar(conn, "SELECT customer_id FROM sales_src.sales WHERE sale_id = %s", (ids["in_far"],))
        with conn.transaction():
            conn.execute("SELECT set_config('sales_src.stamp', %s, true)", (at(d0 - dt.timedelta(days=20)).isoformat(),))
            conn.execute("""UPDATE sales_src.customers SET customer_segment =
                            CASE customer_segment WHEN 'Consumer' THEN 'Corporate' ELSE 'Consumer' END
                            WHERE customer_id = %s""", (cust,))
        run_daily(conn)
        found["versioned"] = scalar(conn, "SELECT count(*) FROM sales.dim_customer WHERE customer_id = %s", (cust,))
        found["late_change"] = check(conn)

        # 1. a plain daily run carries date moves (across months, both ways) to gold, and a restatement after it
        move(conn, ids["plain_in_out"], at(far))
        move(conn, ids["plain_out_in"], at(d0))
        run_daily(conn)
        found["plain_daily"] = check(conn)
        restate(conn, lo, hi)
        found["plain_daily_restated"] = check(conn)

        # 2. silver ahead of the fact (the extraction and silver run alone), then a restatement of the range
        move(conn, ids["in_far"], at(far, 11))
        move(conn, ids["in_near"], at(near))
        move(conn, ids["out_in"], at(d0, 12))
        move(conn, ids["near_in"], at(hi, 13))
        conn.execute("DELETE FROM sales_src.sales WHERE sale_id = ANY (%s)", ([ids["deleted_in"], ids["deleted_out"]],))
        # moved twice between runs: in -> out -> in; in -> in -> out; out -> in -> out (elsewhere outside)
        move(conn, ids["twice_in_out_in"], at(far))
        move(conn, ids["twice_in_in_out"], at(lo))
        move(conn, ids["twice_out_in_out"], at(d0))
        scalar(conn, SILVER_ONLY)
        move(conn, ids["twice_in_out_in"], at(hi))
        move(conn, ids["twice_in_in_out"], at(far, 9))
        move(conn, ids["twice_out_in_out"], at(far + dt.timedelta(days=3)))
        scalar(conn, SILVER_ONLY)
        found["silver_ahead"] = check(conn)
        found["replaced"] = restate(conn, lo, hi)["sales.fact_sales"]
        found["restated"] = check(conn)
        found["customer_keys"] = rows(conn, """
            SELECT f.sale_id, c.customer_segment, c.valid_from <= f.transaction_at
            FROM sales.fact_sales AS f JOIN sales.dim_customer AS c USING (customer_key)
            WHERE f.sale_id = %s""", (ids["in_far"],))
        found["agg_far"] = rows(conn, "SELECT sum(item_count) FROM sales.agg_daily_sales WHERE date_key = %s", (dkey(far),))
        found["agg_far_view"] = rows(conn, "SELECT sum(item_count) FROM silver.sales_agg_daily_sales_rows WHERE date_key = %s",
                                     (dkey(far),))
        found["restated_again"] = restate(conn, lo, hi)["sales.fact_sales"]
        found["restated_twice"] = check(conn)
        run_daily(conn)
        found["next_daily"] = check(conn)

        # 3. a range without a row (before the source's first sale), and one that is only a moved line's
        before = rows(conn, "SELECT sale_id, date_key, customer_key, product_key, line_total FROM sales.fact_sales ORDER BY 1")
        empty_lo, empty_hi = today - dt.timedelta(days=200), today - dt.timedelta(days=190)
        found["empty_replaced"] = restate(conn, empty_lo, empty_hi)["sales.fact_sales"]
        found["empty_unchanged"] = before == rows(conn, "SELECT sale_id, date_key, customer_key, product_key, line_total "
                                                        "FROM sales.fact_sales ORDER BY 1")
        move(conn, ids["kept"], at(empty_lo))     # the only line of the range now, ahead in silver
        scalar(conn, SILVER_ONLY)
        restate(conn, empty_lo, empty_hi)
        found["moved_into_empty"] = check(conn)
        found["ids"] = ids
        yield conn, found


def test_a_plain_daily_run_follows_date_moves(world):
    """Held: without a restatement, the daily run moves a line the source re-dated (across months, into and
    out of a range) to its new day, once, with the versions valid then; a restatement after it changes nothing."""
    found = world[1]
    assert found["loaded"] == GOOD and found["late_change"] == GOOD
    assert found["versioned"] == 2, "the late customer change is a second version"
    assert found["plain_daily"] == GOOD
    assert found["plain_daily_restated"] == GOOD


def test_a_restatement_reloads_the_lines_moved_out_of_its_range(world):
    """DEFECT (low-medium: transient, needs silver ahead of the fact), fixed: with silver ahead of the fact, a restatement deleted the lines whose stored
    date was in the range and reloaded only those whose current date is: a line moved out of the range
    (to another month, a few days later, or there after two moves) was missing from gold until the next
    run. Now every line is once at its current date, lines that stay outside the range keep their row
    (a line moved between two outside dates, and one deleted outside: the next run's), and the marts of the
    new dates follow."""
    found = world[1]
    ids = found["ids"]
    # the partial run left the fact behind silver: every move and delete shows
    assert len(found["silver_ahead"]["fact"]) == 16   # 7 moved lines x 2, 2 deleted
    # after the restatement, only what lies wholly outside the range is still the next run's
    stale = [r for r in found["silver_ahead"]["fact"] if r[1] in (ids["twice_out_in_out"], ids["deleted_out"])]
    assert len(stale) == 3
    assert found["restated"] == dict(GOOD, fact=stale), found["restated"]
    assert found["restated_twice"] == found["restated"]
    assert found["next_daily"] == GOOD


def test_the_moved_line_points_at_the_version_valid_at_its_new_date(world):
    """DEFECT, fixed (same cause): the line moved before its customer's late change is reloaded with the
    version valid then, and its new day's mart counts it within the restatement."""
    found = world[1]
    assert len(found["customer_keys"]) == 1 and found["customer_keys"][0][2] is True
    assert found["agg_far"] == found["agg_far_view"]
    assert found["restated"]["versions"] == (0, 0) and found["restated"]["marts"] == 0


def test_restatement_metrics_count_the_rows_of_the_range(world):
    """Held: the metrics count the rows of the range: deleted (those stored there), after (those there now);
    a second restatement deletes what the first left."""
    found = world[1]
    rep, again = found["replaced"], found["restated_again"]
    assert rep["rows_deleted"] > 0
    assert again["rows_deleted"] == again["rows_after"] == rep["rows_after"]


def test_a_range_without_rows(world):
    """Held: a range with no line deletes and reloads nothing; a line moved into it (silver ahead) is loaded
    there, once, and leaves its old day."""
    found = world[1]
    assert found["empty_replaced"]["rows_deleted"] == 0 and found["empty_replaced"]["rows_after"] == 0
    assert found["empty_unchanged"]
    assert found["moved_into_empty"] == GOOD


# --------------------------------------------------------------------------------------------------
# the engine's other staging path: an upsert fact, not partitioned, no as-of lookup, inferred members
# --------------------------------------------------------------------------------------------------

TOY_SPEC = {"view": "t16.event_rows", "target": "t16.fact_event", "natural_key": ["event_id"], "mode": "upsert",
            "event_time": "happened_at", "date_key": "date_key", "deleted_column": "is_deleted",
            "lookups": [{"table": "t16.dim_thing", "surrogate_key": "thing_key", "natural_key": ["thing_id"],
                         "inferred": True}]}


@pytest.fixture(scope="module")
def toy(postgresql_proc):
    proc = postgresql_proc
    with cloned_database(proc, proc.template_dbname, "r16t") as conn:
        conn.execute("""
            CREATE SCHEMA t16;
            CREATE TABLE t16.dim_thing (thing_key bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                                        thing_id integer NOT NULL UNIQUE, is_inferred boolean NOT NULL DEFAULT false);
            CREATE TABLE t16.events (event_id integer PRIMARY KEY, thing_id integer, happened_at timestamptz NOT NULL,
                                     is_deleted boolean NOT NULL DEFAULT false,
                                     _loaded_at timestamptz NOT NULL DEFAULT clock_timestamp());
            CREATE VIEW t16.event_rows AS
            SELECT e.event_id, e.thing_id, e.happened_at, e.is_deleted, e._loaded_at,
                   to_char(e.happened_at AT TIME ZONE 'UTC', 'YYYYMMDD')::integer AS date_key
            FROM t16.events AS e;
            CREATE TABLE t16.fact_event (event_key bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                                         event_id integer NOT NULL UNIQUE, thing_key bigint REFERENCES t16.dim_thing,
                                         date_key integer NOT NULL, happened_at timestamptz NOT NULL,
                                         _batch_id uuid NOT NULL);
            INSERT INTO t16.dim_thing (thing_id) VALUES (1);
            INSERT INTO t16.events (event_id, thing_id, happened_at) VALUES
                (1, 1, '2024-03-10 10:00Z'), (2, 1, '2024-03-11 10:00Z'), (3, 1, '2024-01-05 10:00Z'),
                (4, 1, '2024-03-12 10:00Z'), (5, 1, '2024-01-06 10:00Z');
        """)
        conn.execute("CALL dwh_etl.register_pipeline(p_pipeline => 't16', p_description => 'test')")
        conn.execute("CALL dwh_etl.register_steps(p_pipeline => 't16', p_area => 'sales', p_steps => "
                     "jsonb_build_array(jsonb_build_object('step', 't16_fact', 'kind', 'fact', 'layer', 'gold', "
                     "'spec', %s::jsonb)))", (json.dumps(TOY_SPEC),))
        conn.execute("CALL dwh_etl.run_pipeline(p_pipeline => 't16', p_run_date => (now() AT TIME ZONE 'UTC')::date)")
        # silver ahead of the fact: 1 leaves the range (to a new, unknown thing), 3 enters it, 2 is gone from
        # silver, 4 is flagged deleted, 5 moves between two outside dates
        conn.execute("""
            UPDATE t16.events SET happened_at = '2024-02-20 10:00Z', thing_id = 7, _loaded_at = clock_timestamp() WHERE event_id = 1;
            UPDATE t16.events SET happened_at = '2024-03-11 12:00Z', _loaded_at = clock_timestamp() WHERE event_id = 3;
            DELETE FROM t16.events WHERE event_id = 2;
            UPDATE t16.events SET is_deleted = true, _loaded_at = clock_timestamp() WHERE event_id = 4;
            UPDATE t16.events SET happened_at = '2024-01-07 10:00Z', _loaded_at = clock_timestamp() WHERE event_id = 5;
        """)
        restate(conn, dt.date(2024, 3, 1), dt.date(2024, 3, 31), pipeline="t16")
        yield conn


def test_an_upsert_fact_restated_reloads_the_rows_moved_out_with_their_inferred_members(toy):
    """DEFECT, fixed (the engine's plain staging path and its inferred members): event 1, moved out of the
    range to a thing not known yet, was deleted and not reloaded; now it is at its new date with an
    inferred member; event 3 moved in is there once; 2 (gone from silver) and 4 (flagged) are gone; 5,
    outside before and after, is left to the next run."""
    got = rows(toy, """SELECT f.event_id, f.date_key, d.thing_id, d.is_inferred
                       FROM t16.fact_event AS f JOIN t16.dim_thing AS d USING (thing_key) ORDER BY 1""")
    assert got == [(1, 20240220, 7, True), (3, 20240311, 1, False), (5, 20240106, 1, False)]
