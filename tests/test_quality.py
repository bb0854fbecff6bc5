"""Data quality of the sales load and of the rule engine.

- Bad input on the sales source (a raw feed into bronze through dwh_etl.ingest_json): every bad row is
  quarantined with its exact reasons, the good rows of the same batch load, the batch reconciles, and
  nothing outside the batch changes.
- Write-audit-publish: a failing error rule stops its step before anything is published; a failing warn
  rule is recorded and the run goes on.
- Every rule type on a small table of the test's own; thresholds; batch vs table scope; SQL injection
  through a rule's names and values.
- Seed 002's check functions and run_quality_gate.

Each test works on its own fresh database (`conn` of tests/conftest.py: autocommit psycopg 3).
"""

from __future__ import annotations

import hashlib
import json
import uuid

import psycopg
import pytest
from psycopg.types.json import Jsonb

RUN_SQL = "CALL dwh_etl.run_pipeline(p_pipeline => 'daily', p_run_date => CURRENT_DATE, p_run_id => NULL)"
SQL_INJECTION = "'); DROP TABLE sales.fact_sales; --"

# the valid sales lines of the source: what the fact table must hold (as in test_sales_pipeline.py)
VALID_SOURCE_SALES_SQL = """
    SELECT s.sale_id, s.customer_id, s.product_id, s.quantity, s.unit_price, s.discount_amount, s.transaction_date
    FROM sales_src.sales AS s
    JOIN sales_src.customers AS c
      ON c.customer_id = s.customer_id
     AND c.last_name <> ''
    JOIN sales_src.products AS p
      ON p.product_id = s.product_id
    WHERE s.quantity > 0
"""
FACT_SALES_SQL = """
    SELECT f.sale_id, c.customer_id, p.product_id, f.quantity, f.unit_price, f.discount_amount, f.transaction_at
    FROM sales.fact_sales AS f
    JOIN sales.dim_customer AS c
      ON c.customer_key = f.customer_key
    JOIN sales.dim_product AS p
      ON p.product_key = f.product_key
"""


def scalar(conn, sql, params=None):
    return conn.execute(sql, params).fetchone()[0]


def rows(conn, sql, params=None):
    return conn.execute(sql, params).fetchall()


def run(conn):
    """Run the daily pipeline for today; returns its run_id."""
    return conn.execute(RUN_SQL).fetchone()[0]


def last_run(conn):
    return rows(conn, "SELECT run_id, batch_id, status FROM dwh_lineage.pipeline_runs ORDER BY run_id DESC LIMIT 1")[0]


def ingest(conn, table, payload, source="test-feed"):
    conn.execute("CALL dwh_etl.ingest_json(%s, %s, %s)", (table, Jsonb(payload), source))


def register_rules(conn, rules, area="test"):
    conn.execute("CALL dwh_etl.register_rules(p_area => %s, p_rules => %s)", (area, Jsonb(rules)))


def checksum(conn, sql, params=None):
    """md5 of every row a query returns, order-independent: 'unchanged' means exactly that."""
    return scalar(conn, f"SELECT md5(COALESCE(string_agg(x::text, '|' ORDER BY x::text), '')) FROM ({sql}) AS x",
                  params)


@pytest.fixture
def loaded(sales_loaded_template, conn):
    """Source generated at a tiny scale, daily pipeline run once (conn: a clone of a database built so
    once: tests/conftest.py sales_loaded_template)."""
    return conn


# ---------------------------------------------------------------------------------------------
# bad input on the sales source
# ---------------------------------------------------------------------------------------------

GOOD = {"order_id": "900000", "customer_id": "1", "product_id": "1", "quantity": "2", "unit_price": "10.50",
        "discount_amount": "0", "transaction_date": "2026-01-15T10:00:00+00:00",
        "updated_at": "2026-01-15T10:00:00+00:00"}
LONG_TEXT = "".join(f"{i:06d}long" for i in range(10_000))  # 100,000 characters, barely compressible


def md5(text):
    return hashlib.md5(text.encode()).hexdigest()


def sale(sale_id, line, **changes):
    row = dict(GOOD, line_number=str(line), **changes)
    if sale_id is not None:
        row["sale_id"] = sale_id
    return row


# sale_id -> (the bronze row, the exact reasons it must be quarantined with)
BAD_SALES = {
    "900101": (sale("900101", 1, quantity="abc"), ["quantity 'abc' is not an integer"]),
    "900102": (sale("900102", 2, quantity="-3"), ["quantity -3 is not positive"]),
    "900103": (sale("900103", 3, unit_price="1,50"), ["unit_price '1,50' is not a number"]),
    "900104": (sale("900104", 4, transaction_date="2026-02-30"), ["transaction_date '2026-02-30' is not a valid timestamp"]),
    "900105": (sale("900105", 5, transaction_date="03/04/2026"), ["transaction_date '03/04/2026' is not a valid timestamp"]),
    "900106": (sale("900106", 6, order_id="", customer_id=""),
               ["order_id '' is not an integer", "customer_id '' is not an integer"]),
    "900107": (sale("900107", 7, customer_id="999999"), ["unknown customer_id 999999"]),
    "900108": (sale("900108", 8, product_id="999999"), ["unknown product_id 999999"]),
    "900109": (sale("900109", 9, quantity=LONG_TEXT), # a reason quotes at most 200 characters of a value (issue 9: a 10 MB value was copied whole)
               [f"quantity '{LONG_TEXT[:200]}…' (100000 characters) is not an integer"]),
    "900110": (sale("900110", 10, quantity=SQL_INJECTION),
               ["quantity '''); DROP TABLE sales.fact_sales; --' is not an integer"]),
    "": (sale("", 11), ["sale_id '' is not an integer"]),
    None: (sale(None, 12), ["sale_id NULL is not an integer"]),
}
# an identifier carrying SQL: a key that names no column is ignored, so quantity is missing
INJECTED_KEY_SALE = {k: v for k, v in sale("900111", 13).items() if k != "quantity"}
INJECTED_KEY_SALE["quantity" + SQL_INJECTION] = "1"
BAD_SALES["900111"] = (INJECTED_KEY_SALE, ["quantity NULL is not an integer"])

GOOD_SALES = [
    sale("900001", 1, quantity="2"),
    sale("900002", 2, quantity="3", customer_id="900001"),  # a customer of the same feed (see below)
    # one key twice in the batch: the latest updated_at wins, the other is a collapsed duplicate
    sale("900003", 3, quantity="4", updated_at="2026-01-15T11:00:00+00:00"),
    sale("900003", 3, quantity="5", updated_at="2026-01-15T12:00:00+00:00"),
]

# customers: unicode and control characters and SQL in names are data, they load as is (only trimmed and
# initcap-ed like every name; no rule rejects them); a 100k-character city loads too; an empty required
# name is quarantined.
CUSTOMER = {"email": "zoe@example.com", "phone": "+1 555", "city": "Tokyo", "country": "Japan",
            "customer_segment": "Consumer", "signup_date": "2026-01-01",
            "updated_at": "2026-01-01T09:00:00+00:00"}
GOOD_CUSTOMERS = [
    dict(CUSTOMER, customer_id="900001", first_name="Zoë\x07", last_name="Ñúñez\tO\x1bBrien", city="東京 🚀"),
    dict(CUSTOMER, customer_id="900002", first_name=SQL_INJECTION, last_name="Smith", city=LONG_TEXT),
]
BAD_CUSTOMERS = {
    "900003": (dict(CUSTOMER, customer_id="900003", first_name="Ann", last_name=""), ["last_name is empty"]),
    "900004": (dict(CUSTOMER, customer_id="900004", first_name="  ", last_name="Lee"), ["first_name is empty"]),
    "x'); DROP TABLE sales.dim_customer; --": (
        dict(CUSTOMER, customer_id="x'); DROP TABLE sales.dim_customer; --", first_name="Bob", last_name="Ray"),
        ["customer_id 'x''); DROP TABLE sales.dim_customer; --' is not an integer"]),
}

OUTSIDE_THE_BATCH = {
    "silver.sales_sales": "SELECT * FROM silver.sales_sales WHERE sale_id < 900000",
    "sales.fact_sales": "SELECT * FROM sales.fact_sales WHERE sale_id < 900000",
    "silver.sales_customers": "SELECT * FROM silver.sales_customers WHERE customer_id < 900000",
    "sales.dim_customer": "SELECT * FROM sales.dim_customer WHERE customer_id < 900000",
    "silver.sales_products": "SELECT * FROM silver.sales_products",
    "sales.dim_product": "SELECT * FROM sales.dim_product",
}


@pytest.fixture
def bad_feed(loaded):
    """A raw feed of good and bad customers and sales landed in bronze, then the daily run.
    Returns (conn, checksums of the rows outside the batch before the run, run_id, batch_id)."""
    conn = loaded
    before = {name: checksum(conn, sql) for name, sql in OUTSIDE_THE_BATCH.items()}
    ingest(conn, "bronze.sales_customers", GOOD_CUSTOMERS + [r for r, _ in BAD_CUSTOMERS.values()])
    ingest(conn, "bronze.sales_sales", GOOD_SALES + [r for r, _ in BAD_SALES.values()])
    run_id = run(conn)
    batch_id = scalar(conn, "SELECT batch_id FROM dwh_lineage.pipeline_runs WHERE run_id = %s", (run_id,))
    return conn, before, run_id, batch_id


def test_bad_sales_rows_are_quarantined_with_every_reason(bad_feed):
    conn, _, run_id, batch_id = bad_feed
    quarantined = rows(conn, """
        SELECT record_key, reasons, source_table, run_id, batch_id, resolved_at, payload - '_bronze_id' - '_ingested_at' - '_batch_id'
        FROM dwh_etl.quarantine
        WHERE target_table = 'silver.sales_sales'
    """)
    expected = [(key, reasons, "bronze.sales_sales", run_id, batch_id, None) for key, (_, reasons) in BAD_SALES.items()]
    by_key = lambda r: (r[0] is not None, r[0] or "")  # noqa: E731  (one record_key is NULL)
    assert sorted((q[:6] for q in quarantined), key=by_key) == sorted(expected, key=by_key)
    # the raw payload is kept exactly as received (values as text, the unknown key not a column)
    payload = {q[0]: q[6] for q in quarantined}
    columns = ["sale_id", "order_id", "line_number", "customer_id", "product_id", "quantity", "unit_price",
               "discount_amount", "transaction_date", "created_at", "updated_at",
               "tax_amount"]  # issue 18: a bronze column too (the feed has none: NULL, no tax)
    for key, (row, _) in BAD_SALES.items():
        assert payload[key] == {**{c: row.get(c) for c in columns}, "_source": "test-feed"}


def test_bad_customers_are_quarantined_and_odd_text_loads_as_is(bad_feed):
    conn, _, run_id, batch_id = bad_feed
    assert sorted(rows(conn, """
        SELECT record_key, reasons, run_id, batch_id FROM dwh_etl.quarantine WHERE target_table = 'silver.sales_customers'
    """)) == sorted((key, reasons, run_id, batch_id) for key, (_, reasons) in BAD_CUSTOMERS.items())
    # Decision: unicode, control characters, SQL text and very long text in a name are data. No rule
    # rejects them; they load byte for byte (after the trim + initcap every name gets).
    assert rows(conn, """
        SELECT customer_id, first_name, last_name, md5(city), length(city)
        FROM silver.sales_customers
        WHERE customer_id >= 900000
        ORDER BY customer_id
    """) == [
        (900001, "Zoë\x07", "Ñúñez\tO\x1bBrien", md5("東京 🚀"), 4),
        # initcap: a word is a run of letters and digits, so '000000long000001long...' is one word
        (900002, "'); Drop Table Sales.Fact_Sales; --", "Smith", md5(LONG_TEXT[0].upper() + LONG_TEXT[1:]), 100_000),
    ]
    assert rows(conn, "SELECT customer_id, full_name FROM sales.dim_customer WHERE customer_id >= 900000 ORDER BY 1")[0] \
        == (900001, "Zoë\x07 Ñúñez\tO\x1bBrien")
    # the SQL in the values was never executed
    assert scalar(conn, "SELECT to_regclass('sales.fact_sales') IS NOT NULL AND to_regclass('sales.dim_customer') IS NOT NULL")


def test_good_rows_of_a_bad_batch_load_once_and_the_latest_duplicate_wins(bad_feed):
    conn, _, run_id, batch_id = bad_feed
    assert rows(conn, """
        SELECT sale_id, customer_id, product_id, quantity, unit_price, _batch_id
        FROM silver.sales_sales WHERE sale_id >= 900000 ORDER BY sale_id
    """) == [(900001, 1, 1, 2, 10.5, batch_id), (900002, 900001, 1, 3, 10.5, batch_id),
             (900003, 1, 1, 5, 10.5, batch_id)]
    assert rows(conn, """
        SELECT f.sale_id, c.customer_id, f.quantity, f.line_total
        FROM sales.fact_sales AS f JOIN sales.dim_customer AS c ON c.customer_key = f.customer_key
        WHERE f.sale_id >= 900000 ORDER BY f.sale_id
    """) == [(900001, 1, 2, 21), (900002, 900001, 3, 31.5), (900003, 1, 5, 52.5)]


def test_bad_batch_reconciles_and_is_recorded(bad_feed):
    conn, _, run_id, batch_id = bad_feed
    recon = {r[0]: r[1:] for r in rows(conn, """
        SELECT table_name, passed, metric_value, rows_checked, failing_sample, batch_id
        FROM dwh_lineage.quality_metrics
        WHERE metric_name = 'reconciliation' AND run_id = %s
    """, (run_id,))}
    n_sales = len(GOOD_SALES) + len(BAD_SALES)
    assert recon["silver.sales_sales"] == (True, 0, n_sales, {
        "source": "bronze.sales_sales", "read": n_sales, "accepted": 3, "quarantined": len(BAD_SALES),
        "duplicates": 1}, batch_id)
    n_customers = len(GOOD_CUSTOMERS) + len(BAD_CUSTOMERS)
    assert recon["silver.sales_customers"] == (True, 0, n_customers, {
        "source": "bronze.sales_customers", "read": n_customers, "accepted": 2, "quarantined": 3,
        "duplicates": 0}, batch_id)
    assert last_run(conn)[2] == "completed"
    # and every quality rule of the run passed (bad rows never reached silver)
    assert rows(conn, """
        SELECT table_name, metric_name FROM dwh_lineage.quality_metrics
        WHERE run_id = %s AND NOT passed AND severity = 'error'
    """, (run_id,)) == []


def test_bad_batch_changes_nothing_outside_the_batch(bad_feed):
    conn, before, _, _ = bad_feed
    after = {name: checksum(conn, sql) for name, sql in OUTSIDE_THE_BATCH.items()}
    assert after == before


def test_ingest_json_rejects_an_identifier_carrying_sql_and_nul_characters(loaded):
    conn = loaded
    with pytest.raises(psycopg.Error) as exc:
        ingest(conn, "bronze.sales_sales; DROP TABLE sales.fact_sales", [{"sale_id": "1"}])
    assert exc.value.sqlstate == "42602"  # invalid name syntax: the name is parsed, never executed
    with pytest.raises(psycopg.errors.UndefinedTable) as exc:
        ingest(conn, 'bronze."sales_sales; DROP TABLE sales.fact_sales; --"', [{"sale_id": "1"}])
    assert exc.value.diag.message_primary == \
        "'bronze.\"sales_sales; DROP TABLE sales.fact_sales; --\"' is not a bronze table (with _batch_id, _ingested_at, _source)"
    # a NUL character cannot be stored in text: the whole feed is refused, nothing half-landed
    count = scalar(conn, "SELECT count(*) FROM bronze.sales_customers")
    with pytest.raises(psycopg.errors.UntranslatableCharacter):
        ingest(conn, "bronze.sales_customers", [dict(CUSTOMER, customer_id="900009", first_name="A\x00b",
                                                     last_name="C")])
    assert scalar(conn, "SELECT count(*) FROM bronze.sales_customers") == count
    assert scalar(conn, "SELECT count(*) FROM sales.fact_sales") > 0


def test_rerun_after_a_bad_batch_changes_nothing(bad_feed):
    conn, _, _, _ = bad_feed
    state = {name: checksum(conn, f"SELECT * FROM {name}") for name in
             ("silver.sales_sales", "sales.fact_sales", "silver.sales_customers", "sales.dim_customer")}
    quarantine = scalar(conn, "SELECT count(*) FROM dwh_etl.quarantine")
    run(conn)
    assert {name: checksum(conn, f"SELECT * FROM {name}") for name in state} == state
    assert scalar(conn, "SELECT count(*) FROM dwh_etl.quarantine") == quarantine


# ---------------------------------------------------------------------------------------------
# write-audit-publish
# ---------------------------------------------------------------------------------------------

QUANTITY_MAX_1 = {"name": "test_fact_quantity_max_1", "table": "sales.fact_sales", "type": "range",
                  "columns": ["quantity"], "params": {"max": 1}}


def test_failing_error_rule_stops_the_step_before_publishing(loaded):
    conn = loaded
    register_rules(conn, [QUANTITY_MAX_1])
    fact_before = checksum(conn, "SELECT * FROM sales.fact_sales")
    silver_before = scalar(conn, "SELECT count(*) FROM silver.sales_sales")
    conn.execute("CALL sales_src.generate_next_day()")
    with pytest.raises(psycopg.Error) as exc:
        run(conn)
    assert exc.value.sqlstate == "DW003"
    run_id, batch_id, status = last_run(conn)
    assert status == "failed"
    steps = dict(rows(conn, "SELECT step_name, status FROM dwh_lineage.step_runs WHERE run_id = %s", (run_id,)))
    assert steps["sales_silver_sales"] == "completed"
    assert steps["sales_fact_sales"] == "failed"
    assert steps["sales_agg_daily_sales"] == "skipped"  # its dependents are skipped, not run on unpublished rows
    sqlstate, message, detail = rows(conn, """
        SELECT sqlstate, error_message, error_detail FROM dwh_lineage.step_runs
        WHERE run_id = %s AND step_name = 'sales_fact_sales'
    """, (run_id,))[0]
    new_lines = scalar(conn, "SELECT count(*) FROM silver.sales_sales WHERE _batch_id = %s", (batch_id,))
    failing = scalar(conn, "SELECT count(*) FROM silver.sales_sales WHERE _batch_id = %s AND quantity > 1 AND NOT is_deleted",
                     (batch_id,))
    assert sqlstate == "DW004"
    assert message.startswith("quality gate failed: test_fact_quantity_max_1 (")
    assert message == f"quality gate failed: test_fact_quantity_max_1 ({failing} failing of {new_lines - scalar(conn, 'SELECT count(*) FROM silver.sales_sales WHERE _batch_id = %s AND is_deleted', (batch_id,))})"
    assert detail == f"quality results recorded in dwh_lineage.quality_metrics (run_id {run_id})"
    assert f"test_fact_quantity_max_1" in scalar(conn, "SELECT error_message FROM dwh_lineage.pipeline_runs WHERE run_id = %s",
                                                 (run_id,))
    # nothing published; the earlier layer keeps its committed rows
    assert checksum(conn, "SELECT * FROM sales.fact_sales") == fact_before
    assert scalar(conn, "SELECT count(*) FROM silver.sales_sales") > silver_before
    assert new_lines > 0
    # the failed evaluation is in the history, with its sample of failing rows
    passed, value, severity, sample = rows(conn, """
        SELECT passed, metric_value, severity, failing_sample FROM dwh_lineage.quality_metrics
        WHERE run_id = %s AND metric_name = 'test_fact_quantity_max_1'
    """, (run_id,))[0]
    assert (passed, value, severity) == (False, failing, "error")
    assert 0 < len(sample) <= 10
    assert all(s["quantity"] > 1 and s["_batch_id"] == str(batch_id) for s in sample)
    # the other rules of the step were recorded too
    assert scalar(conn, """
        SELECT count(*) FROM dwh_lineage.quality_metrics
        WHERE run_id = %s AND table_name = 'sales.fact_sales' AND metric_name = 'fact_sales_sale_unique' AND passed
    """, (run_id,)) == 1


def test_rerun_after_the_failing_rule_is_removed_loads_the_facts_exactly_once(loaded):
    conn = loaded
    register_rules(conn, [QUANTITY_MAX_1])
    conn.execute("CALL sales_src.generate_next_day()")
    with pytest.raises(psycopg.Error):
        run(conn)
    register_rules(conn, [])  # the test area's rules removed
    assert scalar(conn, "SELECT count(*) FROM dwh_etl.quality_rules WHERE area = 'test'") == 0
    run_id = run(conn)
    assert last_run(conn)[2] == "completed"
    assert scalar(conn, "SELECT count(*) - count(DISTINCT sale_id) FROM sales.fact_sales") == 0
    assert sorted(rows(conn, FACT_SALES_SQL)) == sorted(rows(conn, VALID_SOURCE_SALES_SQL))
    assert rows(conn, """
        SELECT status FROM dwh_lineage.step_runs WHERE run_id = %s AND status <> 'completed'
    """, (run_id,)) == []


def test_failing_warn_rule_is_recorded_and_the_run_completes(loaded):
    conn = loaded
    register_rules(conn, [dict(QUANTITY_MAX_1, severity="warn")])
    conn.execute("CALL sales_src.generate_next_day()")
    run_id = run(conn)
    assert last_run(conn)[2] == "completed"
    passed, severity, value = rows(conn, """
        SELECT passed, severity, metric_value FROM dwh_lineage.quality_metrics
        WHERE run_id = %s AND metric_name = 'test_fact_quantity_max_1'
    """, (run_id,))[0]
    assert (passed, severity) == (False, "warn")
    assert value > 0
    assert sorted(rows(conn, FACT_SALES_SQL)) == sorted(rows(conn, VALID_SOURCE_SALES_SQL))


# ---------------------------------------------------------------------------------------------
# every rule type on a small table
# ---------------------------------------------------------------------------------------------

OLD, NEW = uuid.UUID(int=1), uuid.UUID(int=2)


@pytest.fixture
def items(conn):
    """public.qt_items: 4 rows of batch NEW, 1 of batch OLD; public.qt_dim: an SCD2-like parent with a
    non-current version of id 11."""
    conn.execute("""
        CREATE TABLE public.qt_dim (dim_key int, id int, is_current boolean);
        INSERT INTO public.qt_dim VALUES (1, 10, true), (2, 11, false), (3, 12, true);
        CREATE TABLE public.qt_items (id int, code text, grp text, qty numeric, ref_id int,
                                      updated_at timestamptz, _batch_id uuid);
        CREATE TABLE public.qt_stale (id int, updated_at timestamptz);
        INSERT INTO public.qt_stale VALUES (1, now() - interval '2 days');
    """)
    conn.execute("""
        INSERT INTO public.qt_items VALUES
            (1, 'A1', 'x', 5, 10, now(), %(new)s),
            (2, 'A2', 'y', 0, 11, now(), %(new)s),
            (3, NULL, 'x', 7, NULL, now(), %(new)s),
            (4, 'bad code', 'w', 3, 12, now(), %(new)s),
            (2, 'A2', 'z', 50, 99, now() - interval '2 days', %(old)s)
    """, {"new": NEW, "old": OLD})
    return conn


def check(conn, table, batch=None):
    """{rule_name: (rows_checked, failing, metric_value, passed)} of every rule of a table."""
    results = scalar(conn, "SELECT dwh_etl.quality_check_table(%s, %s)", (table, batch))
    return {r["rule_name"]: (r["rows_checked"], r["failing"], r["metric_value"], r["passed"]) for r in results}


ITEM_RULES = [
    {"name": "nn", "table": "public.qt_items", "type": "not_null", "columns": ["code"]},
    {"name": "nn_table", "table": "public.qt_items", "type": "not_null", "columns": ["code", "ref_id"], "scope": "table"},
    {"name": "uq", "table": "public.qt_items", "type": "unique", "columns": ["id", "code"]},
    {"name": "uq_table", "table": "public.qt_items", "type": "unique", "columns": ["id", "code"], "scope": "table"},
    {"name": "uq_grp_new", "table": "public.qt_items", "type": "unique", "columns": ["grp"],
     "params": {"where": "_batch_id <> '00000000-0000-0000-0000-000000000001'"}},
    {"name": "av", "table": "public.qt_items", "type": "accepted_values", "columns": ["grp"],
     "params": {"values": ["x", "y", "z"]}},
    {"name": "rel", "table": "public.qt_items", "type": "relationships", "columns": ["ref_id"],
     "params": {"to_table": "public.qt_dim", "to_column": "id"}},
    {"name": "rel_table", "table": "public.qt_items", "type": "relationships", "columns": ["ref_id"],
     "params": {"to_table": "public.qt_dim", "to_column": "id"}, "scope": "table"},
    {"name": "range", "table": "public.qt_items", "type": "range", "columns": ["qty"], "params": {"min": 1, "max": 10}},
    {"name": "range_table", "table": "public.qt_items", "type": "range", "columns": ["qty"],
     "params": {"min": 1, "max": 10}, "scope": "table"},
    {"name": "regex", "table": "public.qt_items", "type": "regex", "columns": ["code"], "params": {"pattern": "^[A-Z][0-9]+$"}},
    {"name": "fresh_col", "table": "public.qt_items", "type": "freshness", "columns": ["updated_at"],
     "params": {"max_age": "1 hour"}, "scope": "table"},
    {"name": "fresh_lineage", "table": "public.qt_items", "type": "freshness", "params": {"max_age": "1 hour"},
     "scope": "table"},
    {"name": "rows_batch", "table": "public.qt_items", "type": "row_count", "params": {"min": 1, "max": 3}},
    {"name": "rows_table", "table": "public.qt_items", "type": "row_count", "params": {"min": 1, "max": 10},
     "scope": "table"},
    {"name": "volume", "table": "public.qt_items", "type": "volume_change", "params": {"max_change_pct": 10}},
    {"name": "custom", "table": "public.qt_items", "type": "custom_sql",
     "params": {"sql": "SELECT id FROM public.qt_items WHERE qty > 40"}},
    {"name": "nn_pct_25", "table": "public.qt_items", "type": "not_null", "columns": ["code"],
     "threshold_type": "percent", "threshold": 25},
    {"name": "nn_pct_20", "table": "public.qt_items", "type": "not_null", "columns": ["code"],
     "threshold_type": "percent", "threshold": 20},
    {"name": "nn_count_1", "table": "public.qt_items", "type": "not_null", "columns": ["code"], "threshold": 1},
    {"name": "fresh_stale", "table": "public.qt_stale", "type": "freshness", "columns": ["updated_at"],
     "params": {"max_age": "1 day"}, "scope": "table"},
]


def test_every_rule_type_on_batch_and_table_scope(items):
    conn = items
    register_rules(conn, ITEM_RULES)
    results = check(conn, "public.qt_items", NEW)
    fresh_col = results.pop("fresh_col")
    assert results == {
        "nn": (4, 1, 1, False),
        "nn_table": (5, 1, 1, False),            # ref_id NULL of row 3 counts once (the row fails)
        "uq": (4, 1, 1, False),                  # (2, 'A2') of the batch is also in batch OLD
        "uq_table": (5, 1, 1, False),
        "uq_grp_new": (4, 1, 1, False),          # params.where leaves batch OLD out: 'x' twice
        "av": (4, 1, 1, False),                  # 'w'
        "rel": (4, 0, 0, True),                  # 11 is a non-current version: any version counts; NULL is no orphan
        "rel_table": (5, 1, 1, False),           # 99 of batch OLD
        "range": (4, 1, 1, False),               # 0
        "range_table": (5, 2, 2, False),         # 0 and 50
        "regex": (4, 1, 1, False),               # 'bad code' (NULL is for not_null)
        "fresh_lineage": (1, 1, None, False),    # never loaded by a run: no lineage, not fresh
        "rows_batch": (1, 1, 4, False),
        "rows_table": (1, 0, 5, True),
        "volume": (1, 0, None, True),            # fewer than 3 earlier loads: not judged
        "custom": (4, 1, 1, False),
        "nn_pct_25": (4, 1, 1, True),            # 1 of 4 = 25 % <= 25 %
        "nn_pct_20": (4, 1, 1, False),
        "nn_count_1": (4, 1, 1, True),
    }
    assert fresh_col[:2] == (1, 0) and fresh_col[3] is True and 0 <= fresh_col[2] < 60
    stale = check(conn, "public.qt_stale")["fresh_stale"]
    assert stale[:2] == (1, 1) and stale[3] is False and 2 * 86400 - 60 < stale[2] < 2 * 86400 + 60
    # without a batch id, batch-scoped rules look at the whole table
    assert check(conn, "public.qt_items")["range"] == (5, 2, 2, False)


def test_rule_results_carry_a_sample_of_the_failing_rows(items):
    conn = items
    register_rules(conn, ITEM_RULES)
    results = {r["rule_name"]: r for r in scalar(conn, "SELECT dwh_etl.quality_check_table('public.qt_items', %s)", (NEW,))}
    assert [(s["id"], s["qty"]) for s in results["range"]["failing_sample"]] == [(2, 0)]
    assert results["uq"]["failing_sample"] == [{"id": 2, "code": "A2", "n": 2}]
    assert results["custom"]["failing_sample"] == [{"id": 2}]
    assert results["volume"]["failing_sample"] == {"rows": None, "note": "fewer than 3 earlier loads: not judged"}
    assert results["rows_batch"]["failing_sample"] == {"rows": 4, "min": 1, "max": 3}


@pytest.mark.parametrize("bad", [0, 1, 9, 10, 11, 25])
def test_failing_counts_are_exact_around_the_sample_size(items, bad):
    """A passing rule scans once (the sample only when something fails; relationships and custom_sql
    take the sample first and count only a full one, issue 15): the counts stay exact at 9, 10, 11 and
    more failing rows, and the sample holds at most 10 of them."""
    conn = items
    conn.execute("CREATE TABLE public.qt_many (id integer PRIMARY KEY, ref_id integer, qty integer, "
                 "_batch_id uuid NOT NULL)")
    conn.execute("""INSERT INTO public.qt_many
                    SELECT g, CASE WHEN g <= %(bad)s THEN 1000 + g ELSE 10 END,
                           CASE WHEN g <= %(bad)s THEN 0 ELSE 5 END, %(b)s
                    FROM generate_series(1, 40) AS g""", {"bad": bad, "b": NEW})
    register_rules(conn, [
        {"name": "m_rel", "table": "public.qt_many", "type": "relationships", "columns": ["ref_id"],
         "params": {"to_table": "public.qt_dim", "to_column": "id"}},
        {"name": "m_range", "table": "public.qt_many", "type": "range", "columns": ["qty"], "params": {"min": 1}},
        {"name": "m_custom", "table": "public.qt_many", "type": "custom_sql",
         "params": {"sql": "SELECT id FROM public.qt_many WHERE qty < 1"}},
    ])
    results = {r["rule_name"]: r for r in scalar(conn, "SELECT dwh_etl.quality_check_table('public.qt_many', %s)", (NEW,))}
    for name in ("m_rel", "m_range", "m_custom"):
        r = results[name]
        assert (r["rows_checked"], r["failing"], r["passed"]) == (40, bad, bad == 0), name
        sample = r["failing_sample"] or []
        assert len(sample) == min(bad, 10), name
        assert {s["id"] for s in sample} <= set(range(1, bad + 1)), name


@pytest.mark.parametrize("bad", [0, 3])
def test_a_batchs_counting_rules_share_one_scan(items, bad):
    """Issue 15: the batch-scoped rules that need only counts (not_null, accepted_values, range, regex, and
    the rules a constraint guarantees, which only count their rows) are counted in one scan of the
    batch's rows, not one each; their results are the ones dwh_etl.quality_evaluate gives rule by rule
    (with failing rows too: those rules are evaluated again for their sample). A rule with params.where,
    a relationships rule and a table-scoped rule keep their own evaluation, with the same results."""
    conn = items
    conn.execute("CREATE TABLE public.qt_share (id integer NOT NULL, code text, qty integer, ref_id integer, "
                 "_batch_id uuid)")
    conn.execute("""INSERT INTO public.qt_share
                    SELECT g, CASE WHEN g <= %(bad)s THEN NULL ELSE 'A' || g END,
                           CASE WHEN g <= %(bad)s THEN 0 ELSE 5 END, 10, %(b)s
                    FROM generate_series(1, 30) AS g
                    UNION ALL SELECT 100, NULL, -1, 99, %(o)s""", {"bad": bad, "b": NEW, "o": OLD})
    share = [
        {"name": "s_nn", "table": "public.qt_share", "type": "not_null", "columns": ["code"]},
        {"name": "s_nn_enforced", "table": "public.qt_share", "type": "not_null", "columns": ["id"]},
        {"name": "s_range", "table": "public.qt_share", "type": "range", "columns": ["qty"], "params": {"min": 1, "max": 9}},
        {"name": "s_range_pct", "table": "public.qt_share", "type": "range", "columns": ["qty"], "params": {"min": 1},
         "threshold_type": "percent", "threshold": 10},
        {"name": "s_av", "table": "public.qt_share", "type": "accepted_values", "columns": ["qty"],
         "params": {"values": ["5", "0"]}},
        {"name": "s_regex", "table": "public.qt_share", "type": "regex", "columns": ["code"], "params": {"pattern": "^A[0-9]+$"}},
    ]
    own = [
        {"name": "o_where", "table": "public.qt_share", "type": "range", "columns": ["qty"], "params": {"min": 1, "where": "id > 2"}},
        {"name": "o_rel", "table": "public.qt_share", "type": "relationships", "columns": ["ref_id"],
         "params": {"to_table": "public.qt_dim", "to_column": "id"}},
        {"name": "o_table", "table": "public.qt_share", "type": "range", "columns": ["qty"], "params": {"min": 0},
         "scope": "table"},
    ]
    register_rules(conn, share + own)
    with conn.transaction():
        before = scalar(conn, "SELECT pg_stat_get_xact_numscans('public.qt_share'::regclass)")
        results = {r["rule_name"]: r for r in scalar(conn, "SELECT dwh_etl.quality_check_table('public.qt_share', %s)", (NEW,))}
        scans = scalar(conn, "SELECT pg_stat_get_xact_numscans('public.qt_share'::regclass)") - before
    reference = {name: (checked, failing, passed, sample) for name, checked, failing, passed, sample in rows(conn, """
        SELECT r.rule_name, e.rows_checked, e.failing, e.passed, e.failing_sample
        FROM dwh_etl.quality_rules AS r
        CROSS JOIN LATERAL dwh_etl.quality_evaluate(r, %s) AS e
        WHERE r.table_name = 'public.qt_share'""", (NEW,))}
    got = {n: (r["rows_checked"], r["failing"], r["passed"], r["failing_sample"]) for n, r in results.items()}
    assert got == reference
    assert results["s_nn_enforced"]["enforced_by"] == "NOT NULL"
    assert got["s_nn"][:3] == (30, bad, bad == 0) and got["s_range_pct"][:3] == (30, bad, bad <= 3)
    assert got["o_where"][:2] == (28, max(bad - 2, 0)) and got["o_table"][:2] == (31, 1)
    # one shared scan; the rules of their own: o_where and o_table their count (1), plus their sample when
    # they fail (o_table's row of batch OLD: always); o_rel 1 (its sample; its count is the shared
    # scan's); a counting rule with failing rows is evaluated again: its count and its sample (2)
    failing_counting = sum(1 for n in ("s_nn", "s_range", "s_range_pct", "s_av", "s_regex") if got[n][1] > 0)
    assert scans == 1 + (1 + (bad > 2)) + 1 + 2 + 2 * failing_counting, (scans, got)


def test_volume_change_is_judged_against_three_or_more_earlier_loads(items):
    conn = items
    register_rules(conn, [r for r in ITEM_RULES if r["name"] == "volume"])
    for n, at in ((100, "4 days"), (100, "3 days")):
        conn.execute("""
            INSERT INTO dwh_lineage.table_lineage (batch_id, source_table, target_table, operation, rows_inserted, completed_at)
            VALUES (gen_random_uuid(), 'x', 'public.qt_items', 'transform', %s, now() - %s::interval)
        """, (n, at))
    conn.execute("""
        INSERT INTO dwh_lineage.table_lineage (batch_id, source_table, target_table, operation, rows_inserted, completed_at)
        VALUES (%s, 'x', 'public.qt_items', 'transform', 130, now())
    """, (NEW,))
    assert check(conn, "public.qt_items", NEW)["volume"] == (1, 0, None, True)  # 2 earlier loads: not judged
    conn.execute("""
        INSERT INTO dwh_lineage.table_lineage (batch_id, source_table, target_table, operation, rows_inserted, completed_at)
        VALUES (gen_random_uuid(), 'x', 'public.qt_items', 'transform', 100, now() - interval '2 days')
    """)
    assert check(conn, "public.qt_items", NEW)["volume"] == (1, 1, 30, False)  # |130 - 100| / 100 > 10 %


def test_lineage_based_freshness_uses_the_last_load_of_the_table(loaded):
    conn = loaded
    register_rules(conn, [{"name": "fact_fresh_1h", "table": "sales.fact_sales", "type": "freshness",
                           "params": {"max_age": "1 hour"}, "scope": "table"}])
    checked, failing, value, passed = check(conn, "sales.fact_sales")["fact_fresh_1h"]
    assert (checked, failing, passed) == (1, 0, True)
    # the age of the table's last load in the lineage (the module's data may have been loaded minutes
    # ago on a busy machine: compared with the lineage, not with a fixed bound)
    age = float(scalar(conn, """SELECT extract(epoch FROM clock_timestamp() - max(completed_at))
                                FROM dwh_lineage.table_lineage WHERE target_table = 'sales.fact_sales'"""))
    assert 0 <= value and value - 0.1 <= age < value + 30


@pytest.mark.parametrize("rule, sqlstate, message", [
    ({"columns": ["qty); DROP TABLE public.qt_dim; --"]}, "42703",
     "quality rule evil: table public.qt_items has no column qty); DROP TABLE public.qt_dim; --"),
    ({"table": 'public."qt_items; DROP TABLE public.qt_dim; --"'}, "42P01",
     "quality rule evil: table 'public.\"qt_items; DROP TABLE public.qt_dim; --\"' does not exist"),
    ({"table": "public.qt_items; DROP TABLE public.qt_dim"}, "42602", "invalid name syntax"),
    ({"type": "relationships", "params": {"to_table": "public.qt_dim; DROP TABLE public.qt_dim", "to_column": "id"}},
     "42602", "invalid name syntax"),
    ({"type": "relationships", "params": {"to_table": "public.qt_dim", "to_column": "id) OR (SELECT 1 FROM pg_sleep(0)"}},
     "42703", "quality rule evil: referenced column public.qt_dim.id) OR (SELECT 1 FROM pg_sleep(0) does not exist"),
    ({"params": {"min": "1); DROP TABLE public.qt_dim; --"}}, "22P02", None),
])
def test_sql_in_a_rule_name_is_a_clean_error_and_nothing_runs(items, rule, sqlstate, message):
    conn = items
    spec = {"name": "evil", "table": "public.qt_items", "type": "range", "columns": ["qty"], "params": {"min": 1}, **rule}
    if "columns" in rule or "table" in rule:
        # register_rules refuses a table or column that does not exist (docs17), naming it...
        with pytest.raises(psycopg.Error, match="does not exist|has no column|invalid name syntax"):
            register_rules(conn, [spec])
        # ... and a rule written into the registry directly (a DBA's INSERT) is a clean error when it runs
        conn.execute("""INSERT INTO dwh_etl.quality_rules (rule_name, table_name, rule_type, column_names, params, area)
                        VALUES (%s, %s, %s, %s, %s, 'test')""",
                     (spec["name"], spec["table"], spec["type"], spec["columns"], Jsonb(spec["params"])))
    else:
        register_rules(conn, [spec])
    with pytest.raises(psycopg.Error) as exc:
        check(conn, "public.qt_items" if "table" not in rule else rule["table"])
    assert exc.value.sqlstate == sqlstate
    if message:
        assert exc.value.diag.message_primary == message
    assert scalar(conn, "SELECT count(*) FROM public.qt_dim") == 3


def test_sql_in_a_rule_value_is_data(items):
    conn = items
    conn.execute("INSERT INTO public.qt_items VALUES (5, 'B5', %s, 1, NULL, now(), %s)", (SQL_INJECTION, NEW))
    register_rules(conn, [
        {"name": "av_evil", "table": "public.qt_items", "type": "accepted_values", "columns": ["grp"],
         "params": {"values": ["x", "y", "z", SQL_INJECTION]}},
        {"name": "regex_evil", "table": "public.qt_items", "type": "regex", "columns": ["grp"],
         "params": {"pattern": "^x$' OR true; DROP TABLE public.qt_dim; --"}},
    ])
    # 'w' is not accepted; the pattern is one literal regex no value matches (its quote is no way out)
    assert check(conn, "public.qt_items", NEW) == {"av_evil": (5, 1, 1, False), "regex_evil": (5, 5, 5, False)}
    assert scalar(conn, "SELECT count(*) FROM public.qt_dim") == 3


# ---------------------------------------------------------------------------------------------
# seed 002: check functions and run_quality_gate
# ---------------------------------------------------------------------------------------------

def test_seed_002_check_functions_without_a_batch_record_nothing(items):
    conn = items
    assert rows(conn, "SELECT * FROM dwh_etl.check_not_null('public.qt_items', 'code')") == [(False, 1, 5)]
    assert rows(conn, "SELECT * FROM dwh_etl.check_not_null('public.qt_items', 'id')") == [(True, 0, 5)]
    assert rows(conn, "SELECT * FROM dwh_etl.check_unique('public.qt_items', ARRAY['id'])") == [(False, 1)]
    assert rows(conn, "SELECT * FROM dwh_etl.check_unique('public.qt_items', ARRAY['id', 'grp'])") == [(True, 0)]
    assert rows(conn, "SELECT * FROM dwh_etl.check_referential_integrity('public.qt_items', 'ref_id', 'public.qt_dim', 'id')") \
        == [(False, 1)]
    assert rows(conn, "SELECT * FROM dwh_etl.check_range('public.qt_items', 'qty', 1, 10)") == [(False, 2)]
    assert rows(conn, "SELECT * FROM dwh_etl.check_range('public.qt_items', 'qty', 0, NULL)") == [(True, 0)]
    assert scalar(conn, "SELECT count(*) FROM dwh_lineage.quality_metrics") == 0


def test_seed_002_check_functions_with_a_batch_record_a_metric(items):
    conn = items
    batch = uuid.uuid4()
    assert rows(conn, "SELECT * FROM dwh_etl.check_not_null('public.qt_items', 'code', %s)", (batch,)) == [(False, 1, 5)]
    assert rows(conn, "SELECT * FROM dwh_etl.check_unique('public.qt_items', ARRAY['id'], %s)", (batch,)) == [(False, 1)]
    assert rows(conn, "SELECT * FROM dwh_etl.check_referential_integrity('public.qt_items', 'ref_id', 'public.qt_dim', 'id', %s)",
                (batch,)) == [(False, 1)]
    assert rows(conn, "SELECT * FROM dwh_etl.check_range('public.qt_items', 'qty', 1, 10, %s)", (batch,)) == [(False, 2)]
    assert sorted(rows(conn, """
        SELECT table_name, metric_name, metric_value, threshold, passed, severity, rows_checked, batch_id
        FROM dwh_lineage.quality_metrics
    """)) == sorted([
        ("public.qt_items", "null_check_code", 1, 0, False, "error", 5, batch),
        ("public.qt_items", "unique_check", 1, 0, False, "error", 5, batch),
        ("public.qt_items", "referential_integrity", 1, 0, False, "error", 5, batch),
        ("public.qt_items", "range_check_qty", 2, 0, False, "error", 5, batch),
    ])


def test_run_quality_gate_raises_warns_or_notices(items):
    conn = items
    notices = []
    conn.add_notice_handler(lambda d: notices.append((d.severity_nonlocalized, d.message_primary)))
    conn.execute("CALL dwh_etl.run_quality_gate('public.qt_stale', %s)", (NEW,))
    assert notices == [("NOTICE", "No quality checks defined for public.qt_stale")]

    register_rules(conn, [r for r in ITEM_RULES if r["name"] in ("range", "av", "rel")])
    with pytest.raises(psycopg.Error) as exc:
        conn.execute("CALL dwh_etl.run_quality_gate('public.qt_items', %s)", (NEW,))
    assert exc.value.sqlstate == "DW004"
    assert exc.value.diag.message_primary == \
        "Quality gate failed for public.qt_items: quality gate failed: av (1 failing of 4), range (1 failing of 4)"
    assert exc.value.diag.message_hint == "dwh quality --failed --table public.qt_items shows the failing rows"

    notices.clear()
    conn.execute("CALL dwh_etl.run_quality_gate('public.qt_items', %s, false)", (NEW,))
    assert notices == [("WARNING", "Quality gate warning for public.qt_items: quality gate failed: av (1 failing of 4), "
                                   "range (1 failing of 4)")]
    # the warning gate recorded its three results (the raising gate: see the next test)
    assert sorted(rows(conn, """
        SELECT metric_name, passed, batch_id FROM dwh_lineage.quality_metrics ORDER BY id DESC LIMIT 3
    """)) == [("av", False, NEW), ("range", False, NEW), ("rel", True, NEW)]
    notices.clear()
    register_rules(conn, [r for r in ITEM_RULES if r["name"] == "rel"])
    conn.execute("CALL dwh_etl.run_quality_gate('public.qt_items', %s)", (NEW,))
    assert notices[-1] == ("NOTICE", "Quality gate passed for public.qt_items")


def test_run_quality_gate_failure_carries_its_results(items):
    """Seed 002 / issue 4: 'every rule evaluation is kept' — the DW004 a failing gate raises rolls back its
    own records, so the results travel in the error's DETAIL (the runner records them from there)."""
    conn = items
    register_rules(conn, [r for r in ITEM_RULES if r["name"] in ("range", "rel")])
    with pytest.raises(psycopg.Error) as exc:
        conn.execute("CALL dwh_etl.run_quality_gate('public.qt_items', %s)", (NEW,))
    assert exc.value.sqlstate == "DW004"
    import json

    results = json.loads(exc.value.diag.message_detail)
    assert sorted((r["rule_name"], r["passed"], r["metric_value"], r["batch_id"]) for r in results) == [
        ("range", False, 1, str(NEW)), ("rel", True, 0, str(NEW))]
