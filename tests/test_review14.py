"""Review 14 of the silver tie rule (daddc03, 9b5fb13, 254c057): in an upsert load, rows of one key with
one change time and different values are a tie; the first delivery stays, the others are quarantined
("another row of the same key and change time was loaded first (bronze row N): ..."), unless the spec
says "ties": "latest_delivery"; where both sides know their arrival at the source (the mirror's
extraction), the later arrival wins.

Cases: the mirror path (a sales line changed twice with the same updated_at, extracted between or not; a
row restored with its old updated_at); three deliveries A, B, A again, in one window and across windows,
then `restate` and `rebuild`: the same end state and the same quarantine entries whatever the order of
re-reading, a rerun changing nothing; ties with the tombstone flag (a deleted line delivered again with
its old change time, the same or other values); the entry's life (retry, a newer valid row, the copy of
the kept state); other areas' upsert loads that were built to take the later delivery (devflow's pull
requests from GitHub payloads); the reconciliation notes.

A test whose docstring says DEFECT exposed one (fixed unless marked xfail); the others held and stay as
regression tests. The sales-only template is attack 13e's (`attack13e_template`: customers 1 and 2,
product 1, sales 1 and 2 loaded by `daily`); the devflow test uses the session's `devflow_week`; each test
gets a clone.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

from test_attack10 import rows, run_daily, scalar
from test_attack13e import (attack13e_template, change_quietly, fact_sale, iso, load_sales, now,  # noqa: F401
                            open_quarantine, pairs, rerun_changes_nothing, sale_rec, sales_notes, silver_sale, snapshot)

TIE = "another row of the same key and change time was loaded first"


@pytest.fixture
def wh(attack13e_template, conn):
    return conn


def entries(conn, target="silver.sales_sales"):
    """Every quarantine entry of the target (open or not): key, payload quantity, open, deliveries."""
    return rows(conn, """SELECT record_key, payload->>'quantity', resolved_at IS NULL, deliveries
                         FROM dwh_etl.quarantine WHERE target_table = %s ORDER BY quarantine_id""", (target,))


def silver_rows(conn):
    return rows(conn, "SELECT sale_id, quantity, is_deleted, source_updated_at, _source_bronze_id FROM silver.sales_sales ORDER BY 1")


def restate(conn):
    conn.execute("CALL dwh_etl.restate(p_pipeline => 'daily', p_from => CURRENT_DATE, p_to => CURRENT_DATE)")


def rebuild(conn):
    conn.execute("CALL dwh_etl.rebuild(p_target => 'sales')")


def notes_balance(conn):
    """Every reconciliation note of silver.sales_sales adds up: read = upserted + unchanged + quarantined + duplicates."""
    for n in sales_notes(conn):
        if " bronze rows = " not in (n or ""):
            continue
        read, rest = n.split(" bronze rows = ")
        parts = rest.split(";")[0].split(" + ")
        assert int(read) == sum(int(p.split()[0]) for p in parts), n


# ===================================================================================================
# (a) the mirror path
# ===================================================================================================

@pytest.mark.parametrize("split", [False, True])
def test_mirror_two_quiet_changes_with_one_updated_at(wh, split):
    """Held: the application changes sale 2 twice without bumping updated_at (quantity 9, then 4), with a
    `daily` between or not: the later arrival wins, nothing is quarantined, a rerun changes nothing."""
    conn = wh
    change_quietly(conn, "UPDATE sales_src.sales SET quantity = 9 WHERE sale_id = 2")
    if split:
        run_daily(conn)
        assert silver_sale(conn, 2) == [(9, False)]
    change_quietly(conn, "UPDATE sales_src.sales SET quantity = 4 WHERE sale_id = 2")
    run_daily(conn)
    assert silver_sale(conn, 2) == [(4, False)] and fact_sale(conn, 2) == [(4,)]
    assert open_quarantine(conn) == []
    rerun_changes_nothing(conn)
    notes_balance(conn)


def test_mirror_quiet_change_back_to_the_first_values(wh):
    """Held: sale 2 changed quietly to 9 (loaded), then back to 2 with the same updated_at: the later
    arrival (2) wins although silver held 2 before with that change time."""
    conn = wh
    change_quietly(conn, "UPDATE sales_src.sales SET quantity = 9 WHERE sale_id = 2")
    run_daily(conn)
    change_quietly(conn, "UPDATE sales_src.sales SET quantity = 2 WHERE sale_id = 2")
    run_daily(conn)
    assert silver_sale(conn, 2) == [(2, False)] and fact_sale(conn, 2) == [(2,)]
    assert open_quarantine(conn) == []
    rerun_changes_nothing(conn)


@pytest.mark.parametrize("values", ["same", "other"])
def test_mirror_restore_with_the_old_updated_at_after_a_quiet_change(wh, values):
    """Held: sale 2 changed quietly (9), deleted, then restored from a backup with its old updated_at (the
    backup's quantity 2, or another): the restore arrived last and stands, not deleted, no entry."""
    conn = wh
    ts = scalar(conn, "SELECT updated_at FROM sales_src.sales WHERE sale_id = 2")
    change_quietly(conn, "UPDATE sales_src.sales SET quantity = 9 WHERE sale_id = 2")
    run_daily(conn)
    backup = rows(conn, "SELECT * FROM sales_src.sales WHERE sale_id = 2")
    conn.execute("DELETE FROM sales_src.sales WHERE sale_id = 2")
    run_daily(conn)
    assert silver_sale(conn, 2) == [(9, True)]
    qty = 2 if values == "same" else 6
    change_quietly(conn, f"""INSERT INTO sales_src.sales (sale_id, order_id, line_number, customer_id, product_id, quantity,
                                 unit_price, discount_amount, transaction_date, created_at, updated_at)
                             SELECT sale_id, order_id, line_number, customer_id, product_id, {qty}, unit_price,
                                    discount_amount, transaction_date, created_at, '{ts.isoformat()}'::timestamptz
                             FROM (VALUES (2)) AS v (sale_id)
                             CROSS JOIN LATERAL (SELECT 2 AS order_id, 1 AS line_number, 1 AS customer_id, 1 AS product_id,
                                                        10.00 AS unit_price, 0 AS discount_amount,
                                                        '{backup[0][8].isoformat()}'::timestamptz AS transaction_date,
                                                        now() AS created_at) AS x""")
    run_daily(conn)
    assert silver_sale(conn, 2) == [(qty, False)] and fact_sale(conn, 2) == [(qty,)]
    assert open_quarantine(conn) == []
    rerun_changes_nothing(conn)


# ===================================================================================================
# (b) three deliveries, restate, rebuild
# ===================================================================================================

ABA = {"A-B-A": [3, 4, 3], "A-A-B": [3, 3, 4], "B-A-A": [4, 3, 3]}


@pytest.mark.parametrize("order", list(ABA))
@pytest.mark.parametrize("split", [False, True])
def test_three_deliveries_one_window_or_three(wh, order, split):
    """Was a DEFECT (medium, A-B-A; fixed: dwh_etl._load_silver keeps a tie's entry open against a copy of the kept
    state, quarantine_rows(p_keep)): three files deliver sale 5 with one change time: the first's quantity stays; the tie with the other
    quantity stays open whether a copy of the kept state comes before or after it, in one window or three
    (a copy of the kept state is no newer version: it does not decide the tie); a rerun, a restatement
    and a rebuild change neither silver nor the entries (no second entry, no entry closed or opened)."""
    conn = wh
    ts = iso(now(conn) - dt.timedelta(minutes=5))
    for i, q in enumerate(ABA[order]):
        load_sales(conn, [sale_rec(5, q, ts)], f"f{i}.csv")
        if split:
            run_daily(conn)
    run_daily(conn)
    first = ABA[order][0]
    other = 4 if first == 3 else 3
    assert silver_sale(conn, 5) == [(first, False)] and fact_sale(conn, 5) == [(first,)]
    q = open_quarantine(conn)
    assert [k for k, _ in q] == ["5"] and TIE in q[0][1], (q, entries(conn))
    assert [(k, qty, o) for k, qty, o, _ in entries(conn)] == [("5", str(other), True)], entries(conn)
    state = (silver_rows(conn), [e[:3] for e in entries(conn)])
    rerun_changes_nothing(conn)
    restate(conn)
    assert (silver_rows(conn), [e[:3] for e in entries(conn)]) == state
    rebuild(conn)
    assert silver_sale(conn, 5) == [(first, False)] and fact_sale(conn, 5) == [(first,)]
    assert [e[:3] for e in entries(conn) if e[2]] == [("5", str(other), True)], entries(conn)
    notes_balance(conn)


# ===================================================================================================
# (c) the tombstone flag
# ===================================================================================================

@pytest.mark.parametrize("qty", [2, 7])
@pytest.mark.parametrize("split", [False, True])
def test_deleted_line_delivered_again_with_its_old_change_time(wh, qty, split):
    """Sale 2 deleted in the source (its tombstone after its updated_at); a file delivers sale 2 with its
    old updated_at, the same quantity or another, in the deletion's window or a later one: the deletion
    is the newer change, sale 2 stays deleted (silver and fact); a rerun and a restatement change nothing."""
    conn = wh
    ts, when = rows(conn, "SELECT updated_at, transaction_date FROM sales_src.sales WHERE sale_id = 2")[0]
    conn.execute("DELETE FROM sales_src.sales WHERE sale_id = 2")
    if split:
        run_daily(conn)
    load_sales(conn, [sale_rec(2, qty, iso(ts), when=iso(when))], "late.csv")
    run_daily(conn)
    assert silver_sale(conn, 2)[0][1] is True and fact_sale(conn, 2) == []
    state = (silver_rows(conn), entries(conn))
    rerun_changes_nothing(conn)
    restate(conn)
    assert (silver_rows(conn), [e[:3] for e in entries(conn)]) == (state[0], [e[:3] for e in state[1]])
    assert silver_sale(conn, 2)[0][1] is True and fact_sale(conn, 2) == []
    notes_balance(conn)


# ===================================================================================================
# (d) the entry's life
# ===================================================================================================

def tie_of_sale_5(conn):
    ts = now(conn) - dt.timedelta(minutes=5)
    load_sales(conn, [sale_rec(5, 3, iso(ts))], "a.csv")
    run_daily(conn)
    load_sales(conn, [sale_rec(5, 4, iso(ts))], "b.csv")
    run_daily(conn)
    assert [e[:3] for e in entries(conn)] == [("5", "4", True)]
    return ts


def test_a_newer_valid_row_resolves_the_tie(wh):
    """Held: after a tie of sale 5, a file row with a newer change time loads and resolves the tie's entry
    (superseded); a rerun changes nothing."""
    conn = wh
    ts = tie_of_sale_5(conn)
    load_sales(conn, [sale_rec(5, 8, iso(ts + dt.timedelta(minutes=1)))], "c.csv")
    run_daily(conn)
    assert silver_sale(conn, 5) == [(8, False)] and open_quarantine(conn) == []
    assert rows(conn, "SELECT resolution FROM dwh_etl.quarantine WHERE target_table = 'silver.sales_sales'")[0][0].startswith("superseded")
    rerun_changes_nothing(conn)


def test_a_copy_of_the_kept_state_does_not_resolve_the_tie(wh):
    """Was a DEFECT (medium, fixed as the one above, across windows): a file delivers the kept state of sale 5 again (the same change time and values): nothing changes,
    the tie's entry stays open (the disagreement stands; a copy is no newer version of the record)."""
    conn = wh
    ts = tie_of_sale_5(conn)
    load_sales(conn, [sale_rec(5, 3, iso(ts))], "a-again.csv")
    run_daily(conn)
    assert silver_sale(conn, 5) == [(3, False)]
    assert [e[:3] for e in entries(conn)] == [("5", "4", True)]
    rerun_changes_nothing(conn)


def resolutions(conn):
    return [r[0] for r in rows(conn, """SELECT resolution FROM dwh_etl.quarantine
                                         WHERE target_table = 'silver.sales_sales' ORDER BY quarantine_id""")]


@pytest.mark.parametrize("how", ["same values", "newer then copy"])
def test_a_newer_change_time_resolves_the_tie_whatever_the_values(wh, how):
    """Held (the boundary of the fix above): after a tie of sale 5, a row with a newer change time resolves
    the tie's entry: with the kept values (quantity 3; sales' source_updated_at alone is no change, so
    silver keeps its row), or a newer state (8) followed in the same window by a copy of the old kept
    state (the last row of the record repeats the old state, but a newer version came after the tie)."""
    conn = wh
    ts = tie_of_sale_5(conn)
    newer = iso(ts + dt.timedelta(minutes=1))
    if how == "same values":
        load_sales(conn, [sale_rec(5, 3, newer)], "c.csv")
    else:
        load_sales(conn, [sale_rec(5, 8, newer)], "c.csv")
        load_sales(conn, [sale_rec(5, 3, iso(ts))], "a-again.csv")
    run_daily(conn)
    assert silver_sale(conn, 5) == [(3 if how == "same values" else 8, False)]
    assert open_quarantine(conn) == [] and resolutions(conn)[0].startswith("superseded: a valid version"), resolutions(conn)
    rerun_changes_nothing(conn)


def test_a_bad_row_is_still_resolved_by_a_later_copy_of_the_kept_state(wh):
    """Held (an entry that is no tie): sale 5 loaded (3), then a row of it with a quantity that is no
    integer (quarantined), then the loaded state again: a valid version of the record came after the bad
    row and resolves its entry, as before the fix of the ties."""
    conn = wh
    ts = iso(now(conn) - dt.timedelta(minutes=5))
    load_sales(conn, [sale_rec(5, 3, ts)], "a.csv")
    run_daily(conn)
    bad = sale_rec(5, 3, ts)
    bad[5] = "three"
    load_sales(conn, [bad], "bad.csv")
    run_daily(conn)
    assert [e[:3] for e in entries(conn)] == [("5", "three", True)]
    load_sales(conn, [sale_rec(5, 3, ts)], "a-again.csv")
    run_daily(conn)
    assert silver_sale(conn, 5) == [(3, False)] and open_quarantine(conn) == []
    assert resolutions(conn)[0].startswith("superseded: a valid version"), resolutions(conn)


def test_composite_key_copy_of_the_kept_state_leaves_the_tie_open(pairs):
    """The fix above for a key of two columns (one NULL part) without arrivals (silver read back after the
    write, the keys as JSON): a tie of (1, NULL) with silver's state stays open when the kept state is
    delivered again, and a newer row resolves it."""
    from test_attack13e import land_pairs, run_pairs

    conn = pairs
    T = "2025-06-01T10:00:00Z"
    land_pairs(conn, ("1", None, "first", T))
    run_pairs(conn)
    land_pairs(conn, ("1", None, "second", T))
    _, q, _ = run_pairs(conn)
    assert [k for k, _ in q] == ["1"]
    land_pairs(conn, ("1", None, "first", T))
    got, q, notes = run_pairs(conn)
    assert [r[2] for r in got] == ["first"] and [k for k, _ in q] == ["1"], (got, q)
    assert notes == "1 bronze rows = 0 upserted + 1 unchanged + 0 quarantined + 0 duplicates collapsed"
    land_pairs(conn, ("1", None, "third", "2025-06-01T11:00:00Z"))
    got, q, _ = run_pairs(conn)
    assert [r[2] for r in got] == ["third"] and q == []


def test_retry_of_a_tie_then_status(wh, dsn):
    """Held: `dwh quarantine retry` of the tie's entry replays it; the tie stands: one open entry, the
    state kept; `dwh status` names the open entry."""
    from test_load_files import dwh, ok

    conn = wh
    tie_of_sale_5(conn)
    (qid,) = rows(conn, "SELECT quarantine_id FROM dwh_etl.quarantine WHERE resolved_at IS NULL AND target_table = 'silver.sales_sales'")[0]
    ok(dwh(dsn, "quarantine", "retry", str(qid)))
    run_daily(conn)
    assert silver_sale(conn, 5) == [(3, False)]
    assert [e[:3] for e in entries(conn) if e[2]] == [("5", "4", True)], entries(conn)
    out = ok(dwh(dsn, "status"))
    assert "quarantine" in (out.stdout + out.stderr).lower()
    notes_balance(conn)


# ===================================================================================================
# (e) other areas: devflow's pull requests from GitHub payloads
# ===================================================================================================

def test_pull_request_payloads_with_one_updated_at(devflow_week):
    """DEFECT (medium, fixed in procedures/registry/devflow.sql: "ties": "latest_delivery"): GitHub's updated_at counts seconds, and a pull request's diff statistics (additions, deletions,
    changed_files) and mergeability are computed after the event that stamped it: the collector's later
    payload of the same updated_at is the later state of the source (as the spec's metric samples). The
    tie rule kept the first payload's statistics (1, 1, 1) and quarantined the later one; pull requests
    now declare latest_delivery, as before the rule."""
    from test_attack14b import daily, inbox, pr_payload, at

    conn = devflow_week
    first = pr_payload(1_401_001, 1_400_777, at(5))
    inbox(conn, "github_pulls", [first])
    daily(conn)
    later = dict(first, additions=120, deletions=30, changed_files=7)
    inbox(conn, "github_pulls", [later])
    daily(conn)
    assert rows(conn, "SELECT additions, deletions, changed_files FROM silver.devflow_pull_requests WHERE pr_number = 1401001") == [(120, 30, 7)]
    assert open_quarantine(conn, "silver.devflow_pull_requests") == []
