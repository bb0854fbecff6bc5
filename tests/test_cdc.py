"""Change events (CDC, issue 13): dwh_etl.ingest_cdc_events lands Debezium-shaped events in
bronze.cdc_events and applies them to sales_src per key in LSN order; the daily pipeline carries them on.

Focused behaviours use `conn` (a fresh clone of the migrated template per test). The end-to-end story
(several batches, two daily runs) is built once per module in its own database (`story`).
"""

from __future__ import annotations

import datetime as dt
import json

import psycopg
import pytest
from psycopg.types.json import Jsonb

from conftest import cloned_database

INGEST = "SELECT * FROM dwh_etl.ingest_cdc_events(%s, 'sales_src')"
RUN_SQL = "CALL dwh_etl.run_pipeline(p_pipeline => 'daily', p_run_date => CURRENT_DATE, p_run_id => NULL)"
COUNTS = ("events", "applied", "stale", "duplicate", "quarantined")

NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
SALE_AT = (NOW - dt.timedelta(days=2)).replace(hour=10, minute=30)
BASE_MS = int((NOW - dt.timedelta(days=1)).timestamp() * 1000)


def ev(op, table, lsn, after=None, before=None, ts_ms=None, **source):
    """A bare Debezium payload."""
    return {"before": before, "after": after, "op": op, "ts_ms": BASE_MS + 999_999,
            "source": {"schema": "public", "table": table, "lsn": lsn,
                       "ts_ms": BASE_MS + (lsn if isinstance(lsn, int) else 0) if ts_ms is None else ts_ms,
                       "txId": 700 + (lsn if isinstance(lsn, int) else 0), **source}}


def customer(cid, first="Ann", last="Lee", segment="Consumer", **extra):
    return {"customer_id": cid, "first_name": first, "last_name": last, "email": f"c{cid}@example.org",
            "city": "Lyon", "country": "France", "customer_segment": segment, "signup_date": "2024-03-01",
            "created_at": "2024-03-01T09:00:00Z", **extra}


def product(pid, price="19.99", **extra):
    return {"product_id": pid, "product_name": f"Product {pid}", "product_group": "Toys", "category": "Puzzles",
            "brand": "Acme", "unit_price": price, "unit_cost": "7.50", "is_active": True, **extra}


def sale(sid, cid, pid, qty=2, line=1, order=None, price="19.99", **extra):
    return {"sale_id": sid, "order_id": order or 9000 + sid, "line_number": line, "customer_id": cid,
            "product_id": pid, "quantity": qty, "unit_price": price, "discount_amount": "0.00",
            "transaction_date": SALE_AT.isoformat(), **extra}


def ingest(conn, events) -> dict:
    row = conn.execute("SELECT * FROM dwh_etl.ingest_cdc_events(%s, 'sales_src')", (Jsonb(events),)).fetchone()
    return dict(zip(COUNTS, row[1:]))


def counts(applied=0, stale=0, duplicate=0, quarantined=0) -> dict:
    return {"events": applied + stale + duplicate + quarantined, "applied": applied, "stale": stale,
            "duplicate": duplicate, "quarantined": quarantined}


def rows(conn, sql, params=None):
    return conn.execute(sql, params).fetchall()


def scalar(conn, sql, params=None):
    return conn.execute(sql, params).fetchone()[0]


def customers(conn):
    return rows(conn, "SELECT customer_id, first_name, last_name, city FROM sales_src.customers ORDER BY 1")


# ---------------------------------------------------------------------------------------------
# Order, deduplication, deletes
# ---------------------------------------------------------------------------------------------

def test_changes_of_one_key_in_a_batch_apply_the_newest_by_lsn(conn):
    batch = [ev("u", "customers", 30, after=customer(1, city="Paris")),
             ev("c", "customers", 10, after=customer(1, city="Lyon")),
             ev("u", "customers", 20, after=customer(1, city="Nice"))]
    assert ingest(conn, batch) == counts(applied=1, stale=2)
    assert customers(conn) == [(1, "Ann", "Lee", "Paris")]
    assert rows(conn, "SELECT event_no, status FROM bronze.cdc_events ORDER BY event_no") == [
        (1, "applied"), (2, "stale"), (3, "stale")]
    assert rows(conn, "SELECT target_table, record_key, lsn::text, op FROM dwh_etl.cdc_key_state") == [
        ("sales_src.customers", {"customer_id": 1}, "0/1E", "u")]


def test_out_of_order_delivery_across_batches_never_goes_back(conn):
    assert ingest(conn, [ev("u", "customers", 300, after=customer(1, city="Paris"))]) == counts(applied=1)
    assert ingest(conn, [ev("u", "customers", 200, after=customer(1, city="Nice")),
                         ev("c", "customers", 100, after=customer(1, city="Lyon"))]) == counts(stale=2)
    assert customers(conn) == [(1, "Ann", "Lee", "Paris")]
    assert ingest(conn, [ev("u", "customers", 301, after=customer(1, city="Metz"))]) == counts(applied=1)
    assert customers(conn) == [(1, "Ann", "Lee", "Metz")]


def test_lsn_text_and_number_order_alike(conn):
    # 0/12C is 300: the number 250 is older, "0/1F4" (500) newer
    assert ingest(conn, [ev("u", "customers", "0/12C", after=customer(1, city="Paris"))]) == counts(applied=1)
    assert ingest(conn, [ev("u", "customers", 250, after=customer(1, city="Nice"))]) == counts(stale=1)
    assert ingest(conn, [ev("u", "customers", "500", after=customer(1, city="Metz"))]) == counts(applied=1)
    assert customers(conn) == [(1, "Ann", "Lee", "Metz")]
    assert scalar(conn, "SELECT lsn::text FROM dwh_etl.cdc_key_state") == "0/1F4"


def test_equal_lsn_goes_to_the_later_commit_then_the_later_delivery(conn):
    batch = [ev("r", "customers", 50, after=customer(1, city="Late"), ts_ms=BASE_MS + 2),
             ev("r", "customers", 50, after=customer(1, city="Early"), ts_ms=BASE_MS + 1)]
    assert ingest(conn, batch) == counts(applied=1, stale=1)
    assert customers(conn) == [(1, "Ann", "Lee", "Late")]
    # same lsn and commit time (a producer that gives a transaction's changes its commit LSN): arrival
    assert ingest(conn, [ev("u", "customers", 60, after=customer(1, city="First")),
                         ev("u", "customers", 60, after=customer(1, city="Second"))]) == counts(applied=1, stale=1)
    assert customers(conn) == [(1, "Ann", "Lee", "Second")]
    assert ingest(conn, [ev("u", "customers", 60, after=customer(1, city="Third"))]) == counts(applied=1)
    assert customers(conn) == [(1, "Ann", "Lee", "Third")]


def test_a_delete_then_a_late_older_update_does_not_resurrect_the_row(conn):
    assert ingest(conn, [ev("c", "customers", 100, after=customer(1))]) == counts(applied=1)
    assert ingest(conn, [ev("d", "customers", 500, before={"customer_id": 1})]) == counts(applied=1)
    assert customers(conn) == []
    assert ingest(conn, [ev("u", "customers", 400, after=customer(1, city="Ghost"))]) == counts(stale=1)
    assert customers(conn) == []
    assert rows(conn, "SELECT op, lsn::text FROM dwh_etl.cdc_key_state") == [("d", "0/1F4")]
    # the mirror's delete trigger wrote the tombstone the silver load reads
    assert rows(conn, "SELECT table_name, record_id FROM sales_src.deleted_records") == [("customers", 1)]


def test_a_delete_then_a_reinsert_ends_with_the_row(conn):
    assert ingest(conn, [ev("c", "customers", 1, after=customer(1))]) == counts(applied=1)
    assert ingest(conn, [ev("d", "customers", 2, before=customer(1))]) == counts(applied=1)
    assert ingest(conn, [ev("c", "customers", 3, after=customer(1, first="Anna"))]) == counts(applied=1)
    assert customers(conn) == [(1, "Anna", "Lee", "Lyon")]
    # delete and re-insert in one batch: the re-insert is the newest change
    assert ingest(conn, [ev("d", "customers", 4, before={"customer_id": 1}),
                         ev("c", "customers", 5, after=customer(1, first="Annie"))]) == counts(applied=1, stale=1)
    assert customers(conn) == [(1, "Annie", "Lee", "Lyon")]
    # the re-inserted row's change time is after its tombstone (silver must not see it as deleted)
    assert scalar(conn, """
        SELECT c.updated_at > (SELECT max(d.deleted_at) FROM sales_src.deleted_records AS d)
        FROM sales_src.customers AS c""") is True


def test_the_same_batch_twice_is_recorded_once_and_applied_once(conn):
    batch = [ev("c", "customers", 1, after=customer(1)),
             ev("u", "customers", 2, after=customer(1, city="Paris")),
             ev("c", "products", 3, after=product(1)),
             ev("c", "customers", 4, after=customer(2, segment="Bogus"))]
    assert ingest(conn, batch) == counts(applied=2, stale=1, quarantined=1)
    before = rows(conn, "SELECT c.*::text FROM sales_src.customers AS c ORDER BY 1")
    # redelivered: the connector's ts_ms differs, the change is the same
    again = [dict(e, ts_ms=e["ts_ms"] + 5000) for e in batch]
    assert ingest(conn, again) == counts(duplicate=3, quarantined=1)
    assert rows(conn, "SELECT c.*::text FROM sales_src.customers AS c ORDER BY 1") == before
    assert rows(conn, "SELECT status, count(*) FROM bronze.cdc_events GROUP BY 1 ORDER BY 1") == [
        ("applied", 2), ("duplicate", 3), ("quarantined", 2), ("stale", 1)]
    # the rejected change keeps one open quarantine entry, its deliveries counted
    assert rows(conn, """SELECT record_key, deliveries FROM dwh_etl.quarantine
                         WHERE source_table = 'dwh_etl.ingest_cdc_events' AND resolved_at IS NULL""") == [
        ('{"customer_id": 2}', 2)]


def test_a_change_delivered_twice_in_one_batch_counts_once(conn):
    e = ev("c", "customers", 7, after=customer(1))
    assert ingest(conn, [e, e, dict(e, ts_ms=1)]) == counts(applied=1, duplicate=2)
    assert customers(conn) == [(1, "Ann", "Lee", "Lyon")]


def test_a_snapshot_after_changes_ends_in_the_snapshot_state(conn):
    assert ingest(conn, [ev("c", "customers", 10, after=customer(1)),
                         ev("c", "customers", 11, after=customer(2)),
                         ev("u", "customers", 12, after=customer(1, city="Paris"))]) == counts(applied=2, stale=1)
    # a snapshot taken after those changes (its LSN is later): it wins, keys it lacks are untouched
    assert ingest(conn, [ev("r", "customers", 20, after=customer(1, city="Snap")),
                         ev("r", "customers", 20, after=customer(3, city="Snap"))]) == counts(applied=2)
    assert customers(conn) == [(1, "Ann", "Lee", "Snap"), (2, "Ann", "Lee", "Lyon"), (3, "Ann", "Lee", "Snap")]
    # a snapshot older than the key's last change is stale
    assert ingest(conn, [ev("r", "customers", 5, after=customer(2, city="Old"))]) == counts(stale=1)
    assert customers(conn)[1] == (2, "Ann", "Lee", "Lyon")


def test_an_update_of_an_unknown_key_inserts_it_and_a_delete_of_one_is_recorded(conn):
    assert ingest(conn, [ev("u", "products", 10, after=product(5)),
                         ev("d", "products", 11, before={"product_id": 6})]) == counts(applied=2)
    assert rows(conn, "SELECT product_id FROM sales_src.products") == [(5,)]
    # a create of key 6 older than its recorded delete stays out
    assert ingest(conn, [ev("c", "products", 9, after=product(6))]) == counts(stale=1)
    assert rows(conn, "SELECT product_id FROM sales_src.products") == [(5,)]


def test_an_image_without_a_column_keeps_its_value(conn):
    assert ingest(conn, [ev("c", "products", 1, after=product(1, price="10.00"))]) == counts(applied=1)
    assert ingest(conn, [ev("u", "products", 2, after={"product_id": 1, "unit_price": "12.00", "extra": 1})]) == counts(applied=1)
    assert rows(conn, "SELECT product_name, brand, unit_price::text FROM sales_src.products") == [
        ("Product 1", "Acme", "12.00")]


def test_an_unchanged_row_is_not_rewritten(conn):
    assert ingest(conn, [ev("c", "customers", 1, after=customer(1))]) == counts(applied=1)
    stamp = scalar(conn, "SELECT _dwh_arrived_at FROM sales_src.customers")
    assert ingest(conn, [ev("r", "customers", 2, after=customer(1))]) == counts(applied=1)
    assert scalar(conn, "SELECT _dwh_arrived_at FROM sales_src.customers") == stamp


# ---------------------------------------------------------------------------------------------
# Bad events: quarantined with their reason, the rest applies
# ---------------------------------------------------------------------------------------------

BAD_EVENTS = [
    ("no op", {"after": customer(9), "source": {"table": "customers", "lsn": 1}}, "the event has no op"),
    ("unknown op", dict(ev("c", "customers", 1, after=customer(9)), op="x"), "unknown op 'x' (expected c, u, d or r)"),
    ("truncate", {"op": "t", "source": {"table": "customers", "lsn": 1}}, "op t (truncate) of sales_src.customers is not applied"),
    ("unknown table", ev("c", "orders", 1, after={"order_id": 1}),
     "'orders' is not a table of sales_src registered as a source"),
    ("no source.table", {"op": "c", "after": customer(9), "source": {"lsn": 1}}, "the event has no source.table"),
    ("no lsn", {"op": "c", "after": customer(9), "source": {"table": "customers"}}, "the event has no source.lsn"),
    ("bad lsn", ev("c", "customers", "12/XYZ", after=customer(9)), "source.lsn '12/XYZ' is not an LSN"),
    ("negative lsn", ev("c", "customers", -5, after=customer(9)), "source.lsn '-5' is not an LSN"),
    ("no after image", ev("c", "customers", 1), "op c has no after image"),
    ("no before image", ev("d", "customers", 1), "op d has no before image"),
    ("missing key", ev("c", "customers", 1, after={"first_name": "No", "last_name": "Key"}),
     "the after image has no value for key column customer_id"),
    ("null key", ev("d", "customers", 1, before={"customer_id": None}),
     "the before image has no value for key column customer_id"),
    ("value of the wrong type", ev("c", "customers", 1, after=customer("abc")),
     'a value of the after image does not fit sales_src.customers: invalid input syntax for type bigint: "abc"'),
    ("date that is no date", ev("c", "customers", 1, after=customer(9, signup_date="2024-02-30")),
     "a value of the after image does not fit sales_src.customers: date/time field value out of range"),
    ("smallint overflow", ev("c", "sales", 1, after=sale(9, 1, 1, line=70000)),
     "a value of the after image does not fit sales_src.sales: value \"70000\" is out of range for type smallint"),
    ("numeric that would round", ev("c", "products", 1, after=product(9, price="10.555")),
     "unit_price '10.555' does not fit numeric(10,2) without rounding"),
    ("check violation", ev("c", "customers", 1, after=customer(9, segment="Reseller")),
     'sales_src.customers rejected the change: new row for relation "customers" violates check constraint "customers_segment_ck"'),
    ("not null violation", ev("c", "customers", 1, after=customer(9, last_name=None)),
     'sales_src.customers rejected the change: null value in column "last_name" of relation "customers" violates not-null constraint'),
    ("tombstone", None, "element 1 of the batch is a JSON null, not a change event"),
    ("not an object", "op=c", "element 1 of the batch is a JSON string, not a change event"),
    ("null payload", {"schema": None, "payload": None}, "the event's payload is null (a Kafka tombstone carries no change)"),
]


@pytest.mark.parametrize("bad, reason", [b[1:] for b in BAD_EVENTS], ids=[b[0] for b in BAD_EVENTS])
def test_a_bad_event_is_quarantined_with_its_reason_and_the_rest_applies(conn, bad, reason):
    good = [ev("c", "customers", 5, after=customer(1)), ev("c", "products", 6, after=product(1))]
    assert ingest(conn, [bad, *good]) == counts(applied=2, quarantined=1)
    assert customers(conn) == [(1, "Ann", "Lee", "Lyon")]
    assert rows(conn, "SELECT product_id FROM sales_src.products") == [(1,)]
    entries = rows(conn, """SELECT reasons, payload FROM dwh_etl.quarantine
                            WHERE source_table = 'dwh_etl.ingest_cdc_events' AND resolved_at IS NULL""")
    assert len(entries) == 1
    assert any(r.startswith(reason) for r in entries[0][0]), entries[0][0]
    # the event is kept: in the quarantine entry (without its volatile ts_ms) and raw in bronze
    assert entries[0][1]["into"] == "sales_src"
    assert rows(conn, "SELECT event FROM bronze.cdc_events WHERE status = 'quarantined'") == [(bad,)]


def test_a_few_bad_events_among_many_are_found_and_the_rest_applies(conn):
    bad_segment, bad_type = {7, 80, 81, 199}, {3, 150}
    batch = [ev("c", "customers", i, after=customer("x" if i in bad_type else i,
                                                      segment="Reseller" if i in bad_segment else "Consumer"))
             for i in range(1, 201)]
    assert ingest(conn, batch) == counts(applied=194, quarantined=6)
    assert scalar(conn, "SELECT count(*) FROM sales_src.customers") == 194
    assert rows(conn, "SELECT array_agg(event_no ORDER BY event_no) FROM bronze.cdc_events WHERE status = 'quarantined'") == [
        ([3, 7, 80, 81, 150, 199],)]


def test_a_rejected_newest_change_leaves_the_newest_valid_one_applied(conn):
    # lsn 3 is refused by the mirror's CHECK: lsn 2, the newest valid change of the batch, is applied, as
    # it would have been had lsn 3 come in a batch of its own (tests/test_attack8.py compares both)
    assert ingest(conn, [ev("c", "customers", 1, after=customer(1))]) == counts(applied=1)
    assert ingest(conn, [ev("u", "customers", 2, after=customer(1, city="Paris")),
                         ev("u", "customers", 3, after=customer(1, segment="Reseller"))]) == counts(applied=1, quarantined=1)
    assert customers(conn) == [(1, "Ann", "Lee", "Paris")]
    assert scalar(conn, "SELECT count(*) FROM dwh_etl.quarantine WHERE resolved_at IS NULL") == 1
    # the source corrected the row: the newer valid change applies and supersedes the entry
    assert ingest(conn, [ev("u", "customers", 4, after=customer(1, city="Nice"))]) == counts(applied=1)
    assert customers(conn) == [(1, "Ann", "Lee", "Nice")]
    assert rows(conn, "SELECT resolution LIKE 'superseded: %' FROM dwh_etl.quarantine") == [(True,)]


def test_a_quarantined_change_delivered_again_is_tried_again(conn):
    e = ev("c", "customers", 1, after=customer(1, segment="Reseller"))
    assert ingest(conn, [e]) == counts(quarantined=1)
    # the owner widened the mirror's check: the redelivered change now applies
    conn.execute("ALTER TABLE sales_src.customers DROP CONSTRAINT customers_segment_ck")
    assert ingest(conn, [e]) == counts(applied=1)
    assert rows(conn, "SELECT customer_segment FROM sales_src.customers") == [("Reseller",)]
    assert rows(conn, "SELECT resolution LIKE 'superseded: %' FROM dwh_etl.quarantine") == [(True,)]


def test_a_batch_that_is_not_an_array_is_one_event(conn):
    row = conn.execute("SELECT * FROM dwh_etl.ingest_cdc_event(%s, 'sales_src')",
                       (Jsonb(ev("c", "customers", 1, after=customer(1))),)).fetchone()
    assert dict(zip(COUNTS, row[1:])) == counts(applied=1)
    assert ingest(conn, ev("u", "customers", 2, after=customer(1, city="Paris"))) == counts(applied=1)
    assert customers(conn) == [(1, "Ann", "Lee", "Paris")]


def test_a_schema_without_registered_sources_is_refused_and_nothing_lands(conn):
    for schema in ("dwh_etl", "public", "sales_src'; DROP TABLE sales_src.customers; --", ""):
        with pytest.raises(psycopg.Error) as exc:
            conn.execute("SELECT * FROM dwh_etl.ingest_cdc_events(%s, %s)",
                         (Jsonb([ev("c", "pipelines", 1, after={"pipeline_name": "x"})]), schema))
        assert exc.value.sqlstate in ("3F000", "22004")
    assert scalar(conn, "SELECT count(*) FROM bronze.cdc_events") == 0
    assert scalar(conn, "SELECT to_regclass('sales_src.customers') IS NOT NULL") is True


def test_a_table_name_carrying_sql_is_only_a_name(conn):
    evil = ev("c", 'customers"; DROP TABLE sales_src.sales; --', 1, after=customer(1))
    assert ingest(conn, [evil]) == counts(quarantined=1)
    assert scalar(conn, "SELECT to_regclass('sales_src.sales') IS NOT NULL") is True


# ---------------------------------------------------------------------------------------------
# Debezium encodings, client settings
# ---------------------------------------------------------------------------------------------

def test_the_debezium_envelope_and_its_encodings_are_read(conn):
    fields = [{"field": "sale_id", "type": "int64"},
              {"field": "transaction_date", "type": "int64", "name": "io.debezium.time.MicroTimestamp"},
              {"field": "unit_price", "type": "bytes", "name": "org.apache.kafka.connect.data.Decimal",
               "parameters": {"scale": "2"}},
              {"field": "discount_amount", "type": "bytes", "name": "org.apache.kafka.connect.data.Decimal",
               "parameters": {"scale": "2"}}]
    schema = {"type": "struct", "fields": [{"field": "before", "type": "struct", "fields": fields},
                                           {"field": "after", "type": "struct", "fields": fields}]}
    micros = int(dt.datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=dt.timezone.utc).timestamp()) * 1_000_000 + 678901
    after = sale(1, 1, 1, transaction_date=micros, unit_price="B88=", discount_amount="/zg=")  # 1999, -200
    # an envelope whose schema says nothing of the fields: an epoch-day number into a date column
    customer_env = {"schema": {"type": "struct", "fields": []},
                    "payload": ev("c", "customers", 2, after=customer(1, signup_date=19800))}
    assert ingest(conn, [{"schema": schema, "payload": ev("c", "sales", 1, after=after)}, customer_env]) == counts(applied=2)
    assert rows(conn, """
        SELECT transaction_date = '2025-01-02 03:04:05.678901+00', unit_price::text, discount_amount::text
        FROM sales_src.sales""") == [(True, "19.99", "-2.00")]
    assert rows(conn, "SELECT signup_date FROM sales_src.customers") == [(dt.date(2024, 3, 18),)]
    # the raw envelope is what bronze keeps
    assert scalar(conn, "SELECT event ? 'schema' FROM bronze.cdc_events WHERE event_no = 1") is True


@pytest.mark.parametrize("timezone, datestyle", [("UTC", "ISO, MDY"), ("Asia/Tokyo", "SQL, DMY"),
                                                  ("America/St_Johns", "German")])
def test_client_timezone_and_datestyle_do_not_change_results(conn, timezone, datestyle):
    conn.execute(f"SET TimeZone = '{timezone}'")
    conn.execute(f"SET DateStyle = '{datestyle}'")
    ms = int(dt.datetime(2025, 1, 2, 23, 30, tzinfo=dt.timezone.utc).timestamp() * 1000)
    batch = [ev("c", "customers", 1, after=customer(1, signup_date=19800), ts_ms=ms),
             ev("c", "sales", 2, after=sale(1, 1, 1, transaction_date="2025-01-02 23:30:00")),
             ev("c", "sales", 3, after=sale(2, 1, 1, transaction_date=ms)),
             ev("c", "products", 4, after=product(1, created_at="2025-01-02T23:30:00+01:00"))]
    assert ingest(conn, batch) == counts(applied=4)
    conn.execute("RESET TimeZone")
    conn.execute("RESET DateStyle")
    assert rows(conn, """
        SELECT (SELECT signup_date::text FROM sales_src.customers),
               (SELECT array_agg(transaction_date = TIMESTAMPTZ '2025-01-02 23:30:00+00' ORDER BY sale_id) FROM sales_src.sales),
               (SELECT created_at = TIMESTAMPTZ '2025-01-02 22:30:00+00' FROM sales_src.products),
               (SELECT source_ts = TIMESTAMPTZ '2025-01-02 23:30:00+00' FROM bronze.cdc_events WHERE event_no = 1)
    """) == [("2024-03-18", [True, True], True, True)]


# ---------------------------------------------------------------------------------------------
# Roles and lineage
# ---------------------------------------------------------------------------------------------

def test_etl_service_may_ingest_and_analyst_may_not(conn):
    assert rows(conn, """
        SELECT has_function_privilege('etl_service', 'dwh_etl.ingest_cdc_events(jsonb, text, text, uuid)', 'EXECUTE'),
               has_function_privilege('etl_service', 'dwh_etl.ingest_cdc_event(jsonb, text, text, uuid)', 'EXECUTE'),
               has_function_privilege('analyst_role', 'dwh_etl.ingest_cdc_events(jsonb, text, text, uuid)', 'EXECUTE'),
               has_function_privilege('analyst_role', 'dwh_etl.ingest_cdc_event(jsonb, text, text, uuid)', 'EXECUTE'),
               has_function_privilege('analyst_role', 'dwh_etl.sec_cdc_apply(regclass, jsonb)', 'EXECUTE'),
               has_table_privilege('etl_service', 'sales_src.customers', 'INSERT'),
               has_table_privilege('analyst_role', 'bronze.cdc_events', 'SELECT'),
               has_table_privilege('analyst_role', 'dwh_etl.cdc_key_state', 'SELECT')
    """) == [(True, True, False, False, False, False, False, False)]
    conn.execute("SET ROLE etl_service")
    try:
        assert ingest(conn, [ev("c", "customers", 1, after=customer(1))]) == counts(applied=1)
        # through the function only: the mirror itself stays read-only for the role
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM sales_src.customers")
        # the definer half writes registered source tables only
        for table in ("dwh_etl.pipelines", "sales.dim_customer", "bronze.sales_customers", "pg_temp.x"):
            with pytest.raises(psycopg.Error) as exc:
                conn.execute("SELECT * FROM dwh_etl.sec_cdc_apply(%s, %s)",
                             (table, Jsonb([{"n": 1, "op": "d", "key": {"pipeline_name": "daily"}}])))
            assert exc.value.sqlstate in ("42501", "42P01"), table
    finally:
        conn.execute("RESET ROLE")
    conn.execute("SET ROLE analyst_role")
    try:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            ingest(conn, [ev("c", "customers", 2, after=customer(2))])
    finally:
        conn.execute("RESET ROLE")
    assert customers(conn) == [(1, "Ann", "Lee", "Lyon")]


def test_the_ingestion_and_the_apply_are_in_lineage(conn):
    ingest(conn, [ev("c", "customers", 1, after=customer(1)), ev("c", "customers", 2, after=customer(2)),
                  ev("d", "customers", 3, before={"customer_id": 2}), ev("c", "products", 4, after=product(1, price="1.234"))])
    assert rows(conn, """
        SELECT source_table, target_table, operation, rows_inserted, rows_deleted, rows_rejected
        FROM dwh_lineage.table_lineage ORDER BY lineage_id
    """) == [("cdc", "bronze.cdc_events", "ingest", 4, None, None),
             ("bronze.cdc_events", "sales_src.customers", "transform", 1, 0, 0),
             ("bronze.cdc_events", "sales_src.products", "transform", 0, 0, 1)]
    assert ("bronze.cdc_events",) in rows(conn, """
        SELECT upstream_table FROM dwh_lineage.table_dependencies WHERE downstream_table = 'sales_src.customers'""")


# ---------------------------------------------------------------------------------------------
# End to end: batches of changes, then the daily pipeline to silver and gold
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def story(postgresql_proc):
    """One database: a snapshot, a daily run, then changes (several per key, out of order, a batch twice,
    a delete then a re-insert, bad events), and a second daily run. Yields (conn, counts per batch)."""
    with cloned_database(postgresql_proc, postgresql_proc.template_dbname, "cdc") as conn:
        conn.execute("UPDATE dwh_etl.steps SET is_enabled = false WHERE area NOT IN ('sales', 'engine')")
        conn.execute("UPDATE dwh_etl.quality_rules SET is_enabled = false WHERE area IS DISTINCT FROM 'sales'")
        out = {}
        out["snapshot"] = ingest(conn, [
            *[ev("r", "customers", 100, after=customer(i, first=f"First{i}", last=f"Last{i}")) for i in (1, 2, 3)],
            *[ev("r", "products", 100, after=product(i)) for i in (1, 2)],
            ev("r", "sales", 100, after=sale(1, 1, 1)),
            ev("r", "sales", 100, after=sale(2, 1, 2, qty=1)),
            ev("r", "sales", 100, after=sale(3, 2, 1, qty=3)),
            ev("r", "sales", 100, after=sale(4, 2, 2, qty=4)),
        ])
        conn.execute(RUN_SQL)
        changes = [
            ev("u", "customers", 230, after=customer(2, first="First2", last="Last2", city="Paris")),
            ev("u", "customers", 210, after=customer(2, first="First2", last="Last2", city="Nice")),
            ev("u", "customers", 220, after=customer(2, first="First2", last="Last2", city="Metz")),
            ev("u", "customers", 240, after=customer(1, first="First1", last="Last1", city="Brest")),
            ev("u", "products", 250, after=product(2, price="24.50")),
            ev("c", "customers", 260, after=customer(4, first="First4", last="Last4", segment="Corporate")),
            ev("c", "sales", 270, after=sale(5, 4, 2, qty=5, price="24.50")),
            ev("u", "sales", 280, after=sale(1, 1, 1, qty=7)),
            ev("d", "sales", 290, before={"sale_id": 4}),
        ]
        out["changes"] = ingest(conn, changes)
        out["changes again"] = ingest(conn, changes)
        out["late"] = ingest(conn, [
            ev("u", "customers", 200, after=customer(1, first="First1", last="Last1", city="Old")),
            ev("u", "sales", 285, after=sale(4, 2, 2, qty=9)),
        ])
        out["delete"] = ingest(conn, [ev("d", "customers", 300, before={"customer_id": 3})])
        out["reinsert"] = ingest(conn, [
            ev("c", "customers", 310, after=customer(3, first="Again", last="Last3", segment="Home Office")),
            ev("c", "customers", 320, after=customer(5, first="Bad", last="Row", segment="Reseller")),
            ev("c", "sales", 330, after=sale(6, 3, 1, qty="many")),
            {"op": "t", "source": {"table": "sales", "lsn": 340}},
            ev("c", "sales", 350, after=sale(7, 3, 1, qty=2)),
        ])
        conn.execute(RUN_SQL)
        yield conn, out


def test_story_batches_count_what_became_of_each_event(story):
    _conn, out = story
    assert out == {
        "snapshot": counts(applied=9),
        "changes": counts(applied=7, stale=2),
        "changes again": counts(duplicate=9),
        "late": counts(stale=2),
        "delete": counts(applied=1),
        "reinsert": counts(applied=2, quarantined=3),
    }


def test_story_source_mirror_holds_the_final_state(story):
    conn, _ = story
    assert rows(conn, "SELECT customer_id, first_name, city, customer_segment FROM sales_src.customers ORDER BY 1") == [
        (1, "First1", "Brest", "Consumer"), (2, "First2", "Paris", "Consumer"), (3, "Again", "Lyon", "Home Office"),
        (4, "First4", "Lyon", "Corporate")]
    assert rows(conn, "SELECT sale_id, customer_id, product_id, quantity FROM sales_src.sales ORDER BY 1") == [
        (1, 1, 1, 7), (2, 1, 2, 1), (3, 2, 1, 3), (5, 4, 2, 5), (7, 3, 1, 2)]


def test_story_silver_holds_the_final_state(story):
    conn, _ = story
    assert rows(conn, """
        SELECT customer_id, first_name, city, customer_segment, is_deleted
        FROM silver.sales_customers WHERE is_current ORDER BY 1""") == [
        (1, "First1", "Brest", "Consumer", False), (2, "First2", "Paris", "Consumer", False),
        (3, "Again", "Lyon", "Home Office", False), (4, "First4", "Lyon", "Corporate", False)]
    # customer 3's history: the snapshot version, its delete, its re-insert
    assert rows(conn, """
        SELECT version, first_name, is_deleted, is_current FROM silver.sales_customers
        WHERE customer_id = 3 ORDER BY version""")[-1] == (scalar(conn, """
        SELECT max(version) FROM silver.sales_customers WHERE customer_id = 3"""), "Again", False, True)
    assert scalar(conn, "SELECT bool_or(is_deleted) FROM silver.sales_customers WHERE customer_id = 3") is True
    assert rows(conn, "SELECT product_id, unit_price::text FROM silver.sales_products WHERE is_current ORDER BY 1") == [
        (1, "19.99"), (2, "24.50")]
    assert rows(conn, "SELECT sale_id, quantity, is_deleted FROM silver.sales_sales ORDER BY 1") == [
        (1, 7, False), (2, 1, False), (3, 3, False), (4, 4, True), (5, 5, False), (7, 2, False)]


def test_story_gold_holds_the_final_state(story):
    conn, _ = story
    assert rows(conn, """
        SELECT f.sale_id, c.customer_id, c.full_name, p.product_id, f.quantity, f.unit_price::text
        FROM sales.fact_sales AS f
        JOIN sales.dim_customer AS c ON c.customer_key = f.customer_key
        JOIN sales.dim_product AS p ON p.product_key = f.product_key
        ORDER BY 1""") == [
        (1, 1, "First1 Last1", 1, 7, "19.99"), (2, 1, "First1 Last1", 2, 1, "19.99"),
        (3, 2, "First2 Last2", 1, 3, "19.99"), (5, 4, "First4 Last4", 2, 5, "24.50"),
        (7, 3, "Again Last3", 1, 2, "19.99")]
    assert rows(conn, "SELECT customer_id, city, is_deleted FROM sales.dim_customer WHERE is_current ORDER BY 1") == [
        (1, "Brest", False), (2, "Paris", False), (3, "Lyon", False), (4, "Lyon", False)]
    assert scalar(conn, "SELECT status FROM dwh_lineage.pipeline_runs ORDER BY run_id DESC LIMIT 1") == "completed"


def test_story_bad_events_wait_in_quarantine(story):
    conn, _ = story
    reasons = rows(conn, """
        SELECT target_table, record_key, reasons[1] FROM dwh_etl.quarantine
        WHERE source_table = 'dwh_etl.ingest_cdc_events' AND resolved_at IS NULL ORDER BY 1, 2""")
    assert [(r[0], r[1]) for r in reasons] == [
        ("sales_src.customers", '{"customer_id": 5}'), ("sales_src.sales", '{"sale_id": 6}'),
        ("sales_src.sales", None)]
    assert reasons[1][2].startswith('a value of the after image does not fit sales_src.sales: invalid input syntax for type integer: "many"')
    assert reasons[2][2].startswith("op t (truncate) of sales_src.sales is not applied")


# ---------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------

def _cli(runner, dsn, *args, input=None):
    from dwh_cli.cli import cli

    return runner.invoke(cli, ["--dsn", dsn, "cdc", "ingest", *args], input=input)


def test_cli_ingests_json_lines_in_batches(runner, dsn, conn, tmp_path):
    path = tmp_path / "changes.jsonl"
    lines = [json.dumps(ev("c", "customers", i, after=customer(i))) for i in range(1, 6)]
    path.write_text("\n".join([lines[0], "", *lines[1:], lines[4], "not json {", '{"op": NaN}']) + "\n")
    result = _cli(runner, dsn, str(path), "--into", "sales_src", "--batch-size", "2", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert {k: out[k] for k in COUNTS} == counts(applied=5, duplicate=1, quarantined=2)
    assert len(out["batches"]) == 4 and out["source"] == "changes.jsonl"
    assert "line 8 is not a storable JSON event" in result.stderr
    assert "line 9 is not a storable JSON event" in result.stderr
    assert scalar(conn, "SELECT count(*) FROM sales_src.customers") == 5
    # the unreadable lines are kept, as text
    assert rows(conn, "SELECT event FROM bronze.cdc_events WHERE status = 'quarantined' ORDER BY cdc_event_id") == [
        ("not json {",), ('{"op": NaN}',)]


def test_cli_ingests_a_json_array_from_stdin(runner, dsn, conn):
    events = [ev("c", "products", 1, after=product(1, price=12.5)), ev("u", "products", 2, after=product(1, price=13.25))]
    result = _cli(runner, dsn, "-", "--into", "sales_src", input=json.dumps(events, indent=2))
    assert result.exit_code == 0, result.output
    assert result.stdout == "2 event(s) into sales_src in 1 batch(es): 1 applied, 1 stale, 0 duplicate, 0 quarantined\n"
    assert rows(conn, "SELECT unit_price::text FROM sales_src.products") == [("13.25",)]


def test_cli_refuses_a_broken_array_and_an_unknown_schema(runner, dsn, conn):
    result = _cli(runner, dsn, "-", "--into", "sales_src", input='[{"op": "c"},')
    assert result.exit_code == 1
    assert result.stderr.startswith("error: stdin: not a valid JSON array")
    result = _cli(runner, dsn, "-", "--into", "nowhere", input=json.dumps(ev("c", "customers", 1, after=customer(1))))
    assert result.exit_code == 1
    assert "error: schema nowhere has no table registered as a source" in result.stderr
    assert scalar(conn, "SELECT count(*) FROM bronze.cdc_events") == 0
