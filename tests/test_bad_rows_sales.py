"""Issue 9, sales area: one bad row never fails a step. Each case of ONE parametrized battery feeds a bad
row the way a user's data arrives (the operational source tables sales_src.*, or a raw feed through
dwh_etl.ingest_json into bronze, where values are text), with good rows alongside, runs the daily
pipeline and checks: the run completed (no failed step), the bad row is in dwh_etl.quarantine with a
reason that says what is wrong (quoting at most ~200 characters of a value), and the good rows reached
silver and the star schema.

One database for the module (a clone of the migrated template, demo source generated at a tiny scale,
daily run once); the cases run in order on it, each with its own ids.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Callable
from zoneinfo import ZoneInfo

import psycopg
import pytest
from psycopg.types.json import Jsonb
from pytest_postgresql.janitor import DatabaseJanitor

RUN_SQL = "CALL dwh_etl.run_pipeline(p_pipeline => 'daily', p_run_date => CURRENT_DATE, p_run_id => NULL)"
NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
RECENT = NOW - dt.timedelta(hours=2)  # a sane event time for good rows
TEN_MB = 10_000_000
EM, IDEO, NBSP = "\u2003", "\u3000", "\u00a0"


def scalar(conn, sql, params=None):
    return conn.execute(sql, params).fetchone()[0]


def rows(conn, sql, params=None):
    return conn.execute(sql, params).fetchall()


@pytest.fixture(scope="module")
def db(postgresql_proc):
    """One fresh clone of the migrated template for the whole module: demo source at scale 0.001, the
    sales area only (the other areas' steps and rules off), daily run once. Yields (conn, customer_id,
    product_id): a live customer and product of the demo every good row refers to."""
    proc = postgresql_proc
    janitor = DatabaseJanitor(user=proc.user, host=proc.host, port=proc.port, dbname="bad_rows_sales",
                              template_dbname=proc.template_dbname, password=proc.password)
    with janitor:
        with psycopg.connect(host=proc.host, port=proc.port, user=proc.user, dbname="bad_rows_sales",
                             password=proc.password, autocommit=True) as conn:
            conn.execute("UPDATE dwh_etl.steps SET is_enabled = false WHERE area NOT IN ('sales', 'engine')")
            conn.execute("UPDATE dwh_etl.quality_rules SET is_enabled = false WHERE area IS DISTINCT FROM 'sales'")
            conn.execute("CALL sales_src.generate(p_scale => 0.001, p_seed => 0.9)")
            conn.execute(RUN_SQL)
            customer_id = scalar(conn, "SELECT min(customer_id) FROM silver.sales_customers WHERE is_current AND NOT is_deleted")
            product_id = scalar(conn, "SELECT min(product_id) FROM silver.sales_products WHERE is_current AND NOT is_deleted")
            yield conn, customer_id, product_id


# ---------------------------------------------------------------------------------------------
# ways a row arrives
# ---------------------------------------------------------------------------------------------

@dataclass
class Ids:
    """Ids of one case: its sales lines, orders, customers and products start at base."""
    base: int
    customer_id: int  # the demo's customer and product the good rows refer to
    product_id: int

    def sale(self, n):
        return self.base + n


def src_sale(conn, ids, n, **values):
    """A sales line in the operational source (typed columns: some bad values cannot even be stored)."""
    row = dict(sale_id=ids.sale(n), order_id=ids.sale(n), line_number=1, customer_id=ids.customer_id,
               product_id=ids.product_id, quantity=2, unit_price="12.50", discount_amount="0",
               transaction_date=RECENT)
    row.update(values)
    conn.execute(f"INSERT INTO sales_src.sales ({', '.join(row)}) VALUES ({', '.join(['%s'] * len(row))})",
                 list(row.values()))


def src_customer(conn, customer_id, **values):
    row = dict(customer_id=customer_id, first_name="Ada", last_name="Byron", email="ada@example.com",
               city="London", country="UK", customer_segment="Consumer", signup_date=dt.date(2024, 5, 1))
    row.update(values)
    conn.execute(f"INSERT INTO sales_src.customers ({', '.join(row)}) VALUES ({', '.join(['%s'] * len(row))})",
                 list(row.values()))


def src_product(conn, product_id, **values):
    row = dict(product_id=product_id, product_name="Desk", product_group="Furniture", category="Desks",
               brand="Oak", unit_price="199.00", unit_cost="120.00")
    row.update(values)
    conn.execute(f"INSERT INTO sales_src.products ({', '.join(row)}) VALUES ({', '.join(['%s'] * len(row))})",
                 list(row.values()))


def feed_sale(ids, n, **values):
    """A sales line as a raw feed delivers it: every value text."""
    row = dict(sale_id=str(ids.sale(n)), order_id=str(ids.sale(n)), line_number="1",
               customer_id=str(ids.customer_id), product_id=str(ids.product_id), quantity="2",
               unit_price="12.50", discount_amount="0", transaction_date=RECENT.isoformat(),
               updated_at=RECENT.isoformat())
    row.update(values)
    return row


def feed_customer(customer_id, **values):
    row = dict(customer_id=str(customer_id), first_name="Ada", last_name="Byron", email="ada@example.com",
               city="London", country="UK", customer_segment="Consumer", signup_date="2024-05-01",
               updated_at=RECENT.isoformat())
    row.update(values)
    return row


def ingest(conn, table, payload):
    conn.execute("CALL dwh_etl.ingest_json(%s, %s, 'user-feed')", (table, Jsonb(payload)))


def big_text(n=TEN_MB):
    """n characters of hex digits, hardly compressible (a 10 MB value in an indexed column failed the
    step with 'index row requires 10000016 bytes')."""
    return f"(SELECT left(string_agg(md5(i::text), ''), {n}) FROM generate_series(1, {n // 32 + 1}) AS i)"


# ---------------------------------------------------------------------------------------------
# the battery
# ---------------------------------------------------------------------------------------------

@dataclass
class Case:
    id: str
    feed: Callable  # feed(conn, ids): writes the bad row(s) and the case's own good rows
    bad: list       # (target_table, record_key or None, reason fragment) expected in quarantine
    good_sales: list = field(default_factory=list)      # case-relative n of sales lines that must load
    good_customers: list = field(default_factory=list)  # case-relative n of customers that must load
    good_products: list = field(default_factory=list)
    source_rows: bool = True  # add two good source sales lines (the batch the bad row travels with)
    check: Callable | None = None  # extra assertions: check(conn, ids)


S, C, P, B = "silver.sales_sales", "silver.sales_customers", "silver.sales_products", "bronze.sales_sales"


def year_one_sale(conn, ids):
    src_sale(conn, ids, 1, transaction_date="0001-01-01T00:00:00Z")


def no_partition_before_1990(conn, ids):
    bounds = rows(conn, """
        SELECT substring(pg_get_expr(c.relpartbound, c.oid) FROM 'FROM \\(''?(-?[0-9]+)')::bigint
        FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'sales.fact_sales'::regclass
    """)
    assert bounds and min(b for (b,) in bounds if b is not None) >= 19900101


def quarantine_reasons_are_short(conn, ids):
    """The reason quotes ~200 characters of the 10 MB value, with its length; the raw row is kept whole."""
    reason, payload_len = rows(conn, """
        SELECT array_to_string(reasons, ' | '), length(payload::text) FROM dwh_etl.quarantine
        WHERE quarantine_id > %s ORDER BY quarantine_id DESC LIMIT 1
    """, (ids.q_before,))[0]
    assert len(reason) < 500 and f"({TEN_MB} characters)" in reason
    assert payload_len > TEN_MB


def unicode_spaces_trimmed(conn, ids):
    assert rows(conn, "SELECT quantity, unit_price, transaction_at FROM silver.sales_sales WHERE sale_id = %s",
                (ids.sale(1),)) == [(3, 12.5, RECENT)]


def zone_and_settings(conn, ids):
    """Zone-less source text read in sales.source_timezone (New York), not the session's Tokyo; ISO text
    parsed under DateStyle 'SQL, DMY'; the business day is New York's."""
    ny = ZoneInfo("America/New_York")
    local = dt.datetime(RECENT.year, RECENT.month, RECENT.day, 21, 30)  # 21:30 in New York, next day in UTC
    expected = local.replace(tzinfo=ny)
    if expected > NOW:
        expected -= dt.timedelta(days=1)
    got = rows(conn, "SELECT transaction_at FROM silver.sales_sales WHERE sale_id = %s", (ids.sale(2),))
    assert got == [(expected,)]
    assert rows(conn, "SELECT date_key, time_key FROM sales.fact_sales WHERE sale_id = %s", (ids.sale(2),)) == \
        [(int(expected.strftime("%Y%m%d")), 213000)]
    assert rows(conn, "SELECT transaction_at FROM silver.sales_sales WHERE sale_id = %s", (ids.sale(1),)) == [(RECENT,)]


def feed_zone_and_settings(conn, ids):
    ny = ZoneInfo("America/New_York")
    local = dt.datetime(RECENT.year, RECENT.month, RECENT.day, 21, 30)
    if local.replace(tzinfo=ny) > NOW:
        local -= dt.timedelta(days=1)
    conn.execute("UPDATE dwh_etl.settings SET value = 'America/New_York' WHERE key = 'sales.source_timezone'")
    conn.execute("SET DateStyle = 'SQL, DMY'")
    conn.execute("SET TimeZone = 'Asia/Tokyo'")
    ingest(conn, B, [feed_sale(ids, 1, transaction_date=RECENT.strftime("%Y-%m-%dT%H:%M:%SZ")),
                     feed_sale(ids, 2, transaction_date=local.strftime("%Y-%m-%d %H:%M:%S")),
                     feed_sale(ids, 3, transaction_date="04/03/2026 10:00:00")])


CASES = [
    # --- through the operational source tables ---
    Case("customer name of ideographic spaces",
         lambda conn, ids: (src_customer(conn, ids.base + 1, first_name=IDEO * 3),
                            src_customer(conn, ids.base + 2, first_name=NBSP + "Grace" + EM)),
         [(C, "+1", "first_name is empty")], good_customers=[2]),
    Case("customer signup in year 1",
         lambda conn, ids: (src_customer(conn, ids.base + 1, signup_date=dt.date(1, 1, 1)),
                            src_customer(conn, ids.base + 2)),
         [(C, "+1", "signup_date '0001-01-01' is before 1990-01-01")], good_customers=[2]),
    Case("product name of em spaces",
         lambda conn, ids: (src_product(conn, ids.base + 1, product_name=EM + " " + EM),
                            src_product(conn, ids.base + 2)),
         [(P, "+1", "product_name is empty")], good_products=[2]),
    Case("10 MB product group (indexed column)",
         lambda conn, ids: (conn.execute(f"""INSERT INTO sales_src.products (product_id, product_name, product_group, unit_price)
                                             VALUES (%s, 'Big', {big_text()}, 1)""", (ids.base + 1,)),
                            src_product(conn, ids.base + 2)),
         [(P, "+1", f"characters) is longer than 200 characters")], good_products=[2],
         check=quarantine_reasons_are_short),
    Case("quantity past the rule's limit",
         lambda conn, ids: src_sale(conn, ids, 1, quantity=20000),
         [(S, "+1", "quantity 20000 is above the limit 10000")]),
    Case("price past the rule's limit",
         lambda conn, ids: src_sale(conn, ids, 1, unit_price="5000000.00"),
         [(S, "+1", "unit_price 5000000.00 is above the limit 1000000")]),
    Case("line total overflows numeric(12,2) within the limits",
         lambda conn, ids: src_sale(conn, ids, 1, quantity=10000, unit_price="1000000.00"),
         [(S, "+1", "line_total 10000000000.00 (quantity x unit_price - discount_amount) is out of range for numeric(12,2)")]),
    Case("sale in year 1",
         year_one_sale,
         [(S, "+1", "is before 1990-01-01T00:00:00Z (setting quality.min_event_date)")],
         check=no_partition_before_1990),
    Case("sale at infinity",
         lambda conn, ids: src_sale(conn, ids, 1, transaction_date="infinity"),
         [(S, "+1", "transaction_date 'infinity' is not a valid timestamp")]),
    Case("sale at -infinity",
         lambda conn, ids: src_sale(conn, ids, 1, transaction_date="-infinity"),
         [(S, "+1", "transaction_date '-infinity' is not a valid timestamp")]),
    Case("sale in year 9999",
         lambda conn, ids: src_sale(conn, ids, 1, transaction_date="9999-12-31T00:00:00Z"),
         [(S, "+1", "too far ahead of the run (setting quality.max_future)")]),
    Case("sale three years ahead",
         lambda conn, ids: src_sale(conn, ids, 1, transaction_date=NOW + dt.timedelta(days=3 * 365)),
         [(S, "+1", "too far ahead of the run (setting quality.max_future)")]),
    # --- through a raw feed into bronze (values as text) ---
    Case("unicode spaces around numbers, keys and dates load",
         lambda conn, ids: ingest(conn, B, [feed_sale(ids, 1, sale_id=IDEO + str(ids.sale(1)) + " ",
                                                      quantity=IDEO + "3" + IDEO, unit_price=NBSP + "12.50",
                                                      customer_id=EM + str(ids.customer_id),
                                                      transaction_date=EM + RECENT.isoformat() + IDEO)]),
         [], good_sales=[1], check=unicode_spaces_trimmed),
    Case("key of three spaces",
         lambda conn, ids: ingest(conn, B, [feed_sale(ids, 1, sale_id="   "), feed_sale(ids, 2)]),
         [(S, "   ", "sale_id '   ' is not an integer")], good_sales=[2]),
    Case("key of ideographic spaces",
         lambda conn, ids: ingest(conn, B, [feed_sale(ids, 1, sale_id=IDEO * 3), feed_sale(ids, 2)]),
         [(S, IDEO * 3, f"sale_id '{IDEO * 3}' is not an integer")], good_sales=[2]),
    Case("date of only unicode spaces",
         lambda conn, ids: ingest(conn, B, [feed_sale(ids, 1, transaction_date=NBSP + IDEO), feed_sale(ids, 2)]),
         [(S, "+1", "transaction_date")], good_sales=[2]),
    Case("price with three decimals is not rounded",
         lambda conn, ids: ingest(conn, B, [feed_sale(ids, 1, unit_price="10.555"), feed_sale(ids, 2, unit_price="10.550")]),
         [(S, "+1", "unit_price '10.555' has more than 2 decimal places")], good_sales=[2]),
    Case("price of 10^15",
         lambda conn, ids: ingest(conn, B, [feed_sale(ids, 1, unit_price="1000000000000000")]),
         [(S, "+1", "unit_price '1000000000000000' is out of range for numeric(10,2)")]),
    Case("discount of 10^8",
         lambda conn, ids: ingest(conn, B, [feed_sale(ids, 1, discount_amount="100000000")]),
         [(S, "+1", "discount_amount '100000000' is out of range for numeric(10,2)")]),
    Case("quantity past integer",
         lambda conn, ids: ingest(conn, B, [feed_sale(ids, 1, quantity="3000000000")]),
         [(S, "+1", "quantity 3000000000 is out of range for integer")]),
    Case("order id past bigint",
         lambda conn, ids: ingest(conn, B, [feed_sale(ids, 1, order_id="9223372036854775808")]),
         [(S, "+1", "order_id '9223372036854775808' is out of range for bigint")]),
    Case("line number past smallint",
         lambda conn, ids: ingest(conn, B, [feed_sale(ids, 1, line_number="40000")]),
         [(S, "+1", "line_number 40000 is not between 1 and 32767")]),
    Case("10 MB quantity",
         lambda conn, ids: ingest(conn, B, [feed_sale(ids, 1, quantity="7" * TEN_MB)]),
         [(S, "+1", f"…' ({TEN_MB} characters) is out of range for bigint")], check=quarantine_reasons_are_short),
    Case("change time in year 1",
         lambda conn, ids: ingest(conn, B, [feed_sale(ids, 1, updated_at="0001-01-01T00:00:00Z")]),
         [(S, "+1", "updated_at '0001-01-01T00:00:00Z' is before 1990-01-01")]),
    Case("customer key of three spaces, 10 MB segment",
         lambda conn, ids: ingest(conn, "bronze.sales_customers", [
             feed_customer("   "), feed_customer(ids.base + 1, customer_segment="x" * TEN_MB),
             feed_customer(ids.base + 2, last_name=IDEO), feed_customer(ids.base + 3)]),
         [(C, "   ", "customer_id '   ' is not an integer"),
          (C, "+1", "is longer than 200 characters"), (C, "+2", "last_name is empty")],
         good_customers=[3]),
    Case("zone-less text in the source's zone, under DateStyle SQL, DMY and TimeZone Asia/Tokyo",
         feed_zone_and_settings,
         [(S, "+3", "transaction_date '04/03/2026 10:00:00' is not a valid timestamp")],
         good_sales=[1, 2], source_rows=False, check=zone_and_settings),
    # --- payloads of the wrong shape (dwh_etl.ingest_json) ---
    Case("array of non-objects",
         lambda conn, ids: ingest(conn, B, ["PR", 42]),
         [(B, None, "element 1 of the payload is a JSON string, not an object"),
          (B, None, "element 2 of the payload is a JSON number, not an object")]),
    Case("object wrapping one row under data",
         lambda conn, ids: ingest(conn, B, {"data": feed_sale(ids, 1)}),
         [], good_sales=[1]),
    Case("single object instead of an array",
         lambda conn, ids: ingest(conn, B, feed_sale(ids, 1)),
         [], good_sales=[1]),
    Case("nested arrays",
         lambda conn, ids: ingest(conn, B, [[feed_sale(ids, 1)], feed_sale(ids, 2)]),
         [(B, None, "element 1 of the payload is a JSON array, not an object")], good_sales=[2]),
    Case("data of the wrong type",
         lambda conn, ids: ingest(conn, B, {"data": "rows"}),
         [(B, None, 'payload "data" is a JSON string, not an array of objects')]),
    Case("scalar payload",
         lambda conn, ids: ingest(conn, B, 42),
         [(B, None, "payload is a JSON number, not an array of objects")]),
    Case("good, scalar and foreign elements mixed",
         lambda conn, ids: ingest(conn, B, [feed_sale(ids, 1), "x", {"foo": 1}, {}, feed_sale(ids, 2)]),
         [(B, None, "element 2 of the payload is a JSON string, not an object"),
          (B, None, "element 3 of the payload has none of the columns of bronze.sales_sales (keys: foo)"),
          (B, None, "element 4 of the payload is an empty object")],
         good_sales=[1, 2]),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_bad_row_is_quarantined_and_the_rest_loads(db, case):
    conn, customer_id, product_id = db
    index = CASES.index(case)
    ids = Ids(base=7_000_000 + 100 * index, customer_id=customer_id, product_id=product_id)
    ids.q_before = scalar(conn, "SELECT COALESCE(max(quarantine_id), 0) FROM dwh_etl.quarantine")
    try:
        if case.source_rows:  # the good lines the bad row travels with
            src_sale(conn, ids, 90, quantity=1)
            src_sale(conn, ids, 91, quantity=4, unit_price="3.99", discount_amount="1.00")
        case.feed(conn, ids)
        try:
            run_id = conn.execute(RUN_SQL).fetchone()[0]
        except psycopg.Error as exc:
            failed = rows(conn, """
                SELECT step_name, error_message FROM dwh_lineage.step_runs
                WHERE status = 'failed' ORDER BY step_run_id DESC LIMIT 3""")
            pytest.fail(f"the run failed: {exc}; failed steps: {failed}")
        finally:  # a case may run under other session settings; the client reads results in ISO
            conn.execute("RESET DateStyle")
            conn.execute("RESET TimeZone")

        # the run completed, no step failed
        assert scalar(conn, "SELECT status FROM dwh_lineage.pipeline_runs WHERE run_id = %s", (run_id,)) == "completed"
        assert rows(conn, "SELECT step_name, error_message FROM dwh_lineage.step_runs WHERE run_id = %s AND status <> 'completed'",
                    (run_id,)) == []

        # each bad row is in quarantine, with its reason
        quarantined = rows(conn, """
            SELECT target_table, record_key, reasons FROM dwh_etl.quarantine
            WHERE quarantine_id > %s AND resolved_at IS NULL ORDER BY quarantine_id
        """, (ids.q_before,))
        for target, key, fragment in case.bad:
            if isinstance(key, str) and key.startswith("+"):
                key = str(ids.base + int(key[1:]))
            hits = [q for q in quarantined if q[0] == target and (key is None or q[1] == key)
                    and any(fragment in r for r in q[2])]
            assert hits, f"no {target} quarantine entry for {key!r} with {fragment!r}: {[(q[0], q[1][:50] if q[1] else q[1], [r[:300] for r in q[2]]) for q in quarantined]}"
        assert len(quarantined) == len(case.bad), [(q[0], [r[:300] for r in q[2]]) for q in quarantined]
        # a reason quotes at most ~200 characters of a value
        assert all(len(r) < 600 for q in quarantined for r in q[2])

        # the good rows reached silver and the star schema
        good_sales = case.good_sales + ([90, 91] if case.source_rows else [])
        for n in good_sales:
            assert scalar(conn, "SELECT count(*) FROM silver.sales_sales WHERE sale_id = %s AND NOT is_deleted",
                          (ids.sale(n),)) == 1, f"sale {ids.sale(n)} not in silver"
            assert scalar(conn, "SELECT count(*) FROM sales.fact_sales WHERE sale_id = %s", (ids.sale(n),)) == 1, \
                f"sale {ids.sale(n)} not in the fact"
        for n in case.good_customers:
            assert scalar(conn, "SELECT count(*) FROM sales.dim_customer WHERE customer_id = %s AND is_current",
                          (ids.base + n,)) == 1
        for n in case.good_products:
            assert scalar(conn, "SELECT count(*) FROM sales.dim_product WHERE product_id = %s AND is_current",
                          (ids.base + n,)) == 1
        if case.check:
            case.check(conn, ids)
    finally:
        conn.execute("RESET DateStyle")
        conn.execute("RESET TimeZone")
        conn.execute("UPDATE dwh_etl.settings SET value = 'UTC' WHERE key = 'sales.source_timezone'")


def test_no_bad_value_reached_silver_or_the_fact(db):
    """After the battery: every loaded sale fits its columns and the sane range, and no fact partition
    lies outside the data's real range."""
    conn, _, _ = db
    assert scalar(conn, """
        SELECT count(*) FROM silver.sales_sales
        WHERE transaction_at < '1990-01-01' OR transaction_at > now() + interval '2 days'
           OR quantity > 10000 OR unit_price > 1000000
    """) == 0
    no_partition_before_1990(conn, None)
