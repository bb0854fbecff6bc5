"""Issue 15, the SCD engine: the warehouse's SCD2 tables guard "no two versions of a key overlap" with a
unique btree on (natural key, valid_from) and statement-level triggers (migration 0032,
dwh_etl.scd2_guard) instead of a GiST exclusion constraint. The invariant is still the database's: a
direct write that breaks history is refused with 23P01 (exclusion_violation), whoever writes it.

Uses the per-test `conn` fixture of tests/conftest.py (a fresh clone of the migrated template).
"""

from __future__ import annotations

import psycopg
import pytest

# every SCD2 table of the warehouse and its natural key
SCD2 = {
    "sales.dim_customer": ["customer_id"],
    "sales.dim_product": ["product_id"],
    "silver.sales_customers": ["customer_id"],
    "silver.sales_products": ["product_id"],
}


def rows(conn, sql, params=None):
    return conn.execute(sql, params).fetchall()


def scalar(conn, sql, params=None):
    return conn.execute(sql, params).fetchone()[0]


def test_no_scd2_table_keeps_a_gist_exclusion_and_each_has_the_guard(conn):
    assert rows(conn, """SELECT conrelid::regclass::text FROM pg_constraint
                         WHERE contype = 'x' AND pg_get_constraintdef(oid) LIKE '%%tstzrange(valid_from, valid_to)%%'""") == []
    guarded = dict(rows(conn, """
        SELECT t.tgrelid::regclass::text, count(*)
        FROM pg_trigger AS t
        WHERE t.tgfoid = 'dwh_etl.trg_scd2_no_overlap'::regproc
        GROUP BY 1"""))
    # every registered SCD2 dimension (a spec with Type 2 columns) is guarded, with its three triggers
    # (insert, update, and delete since migration 0072: versions 1..n)
    specs = [r[0] for r in rows(conn, "SELECT target_table FROM dwh_etl.dimension_specs "
                                      "WHERE cardinality(type2_columns) > 0 ORDER BY 1")]
    assert specs and all(guarded.get(t) == 3 for t in specs), (specs, guarded)
    for table, key in SCD2.items():
        assert guarded.get(table) == 3, table
        assert scalar(conn, """SELECT pg_get_indexdef(i.indexrelid) FROM pg_index AS i
                               WHERE i.indrelid = %s::regclass AND i.indisunique
                                 AND pg_get_indexdef(i.indexrelid) LIKE '%%valid_from)'""", (table,)).endswith(
            f"USING btree ({', '.join(key)}, valid_from)")


def customer(conn, cid, valid_from, valid_to=None, version=1, segment="Consumer"):
    conn.execute("""INSERT INTO sales.dim_customer (customer_id, full_name, customer_segment,
                        valid_from, valid_to, is_current, version, _batch_id)
                    VALUES (%s, 'A B', %s, %s, %s, %s, %s, gen_random_uuid())""",
                 (cid, segment, valid_from, valid_to, valid_to is None, version))


def test_a_direct_write_that_overlaps_history_is_refused(conn):
    customer(conn, 1, "2025-01-01", "2025-02-01", 1)
    customer(conn, 1, "2025-02-01", None, 2)
    # an insert reaching into the first version
    with pytest.raises(psycopg.errors.ExclusionViolation) as e:
        customer(conn, 1, "2025-01-15", "2025-01-20", 3)
    assert "overlap" in e.value.diag.message_detail and e.value.diag.constraint_name == "dim_customer_no_overlap"
    # an update stretching a closed version over the next
    with pytest.raises(psycopg.errors.ExclusionViolation):
        conn.execute("UPDATE sales.dim_customer SET valid_to = '2025-03-01' WHERE customer_id = 1 AND version = 1")
    # the same start twice: the unique btree
    with pytest.raises(psycopg.errors.UniqueViolation):
        customer(conn, 1, "2025-01-01", "2025-01-02", 4)
    # one bad key refuses the whole statement; other keys' rows are not written either
    with pytest.raises(psycopg.errors.ExclusionViolation):
        conn.execute("""INSERT INTO sales.dim_customer (customer_id, full_name, customer_segment,
                            valid_from, valid_to, is_current, version, _batch_id)
                        SELECT g, 'A B', 'Consumer', '2024-01-01'::timestamptz, '2024-06-01'::timestamptz, false, 9, gen_random_uuid()
                        FROM generate_series(2, 50) AS g
                        UNION ALL
                        SELECT 1, 'A B', 'Consumer', '2024-12-01'::timestamptz, '2025-01-05'::timestamptz, false, 9, gen_random_uuid()""")
    assert scalar(conn, "SELECT count(*) FROM sales.dim_customer") == 2
    # a version before the first that fits in time is still refused when numbered after the others
    # (versions 1..n in time order, migration 0072: the engine's next version of the key would clash)
    with pytest.raises(psycopg.errors.CheckViolation):
        customer(conn, 1, "2024-06-01", "2025-01-01", 3)
    # the Type 1 columns may change freely
    conn.execute("UPDATE sales.dim_customer SET phone = '1' WHERE customer_id = 1")
    assert scalar(conn, "SELECT count(*) FROM sales.dim_customer WHERE customer_id = 1") == 2


def test_the_guard_refuses_the_etl_role_too_and_is_not_the_callers_to_remove(conn):
    customer(conn, 7, "2025-01-01", None, 1)
    conn.execute("SET ROLE etl_service")
    try:
        with pytest.raises(psycopg.errors.ExclusionViolation):
            customer(conn, 7, "2024-12-01", "2025-01-02", 2)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("ALTER TABLE sales.dim_customer DISABLE TRIGGER scd_no_overlap_after_insert")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("CALL dwh_etl.scd2_guard('sales.dim_customer', '{customer_id}')")
    finally:
        conn.execute("RESET ROLE")


def test_composite_keys_are_compared_as_a_whole(conn):
    conn.execute("""CREATE TABLE public.dim_pair (pair_key bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                        a int NOT NULL, b text NOT NULL, valid_from timestamptz NOT NULL, valid_to timestamptz,
                        CONSTRAINT dim_pair_no_overlap EXCLUDE USING gist (a WITH =, b WITH =, tstzrange(valid_from, valid_to) WITH &&))""")
    conn.execute("CALL dwh_etl.scd2_guard('public.dim_pair', '{a,b}')")
    assert scalar(conn, "SELECT count(*) FROM pg_constraint WHERE conrelid = 'public.dim_pair'::regclass AND contype = 'x'") == 0
    conn.execute("INSERT INTO public.dim_pair (a, b, valid_from) VALUES (1, 'x', '2025-01-01'), (1, 'y', '2025-01-01'), "
                 "(2, 'x', '2024-01-01')")
    with pytest.raises(psycopg.errors.ExclusionViolation):
        conn.execute("INSERT INTO public.dim_pair (a, b, valid_from, valid_to) VALUES (1, 'y', '2024-01-01', '2025-06-01')")
    conn.execute("INSERT INTO public.dim_pair (a, b, valid_from, valid_to) VALUES (1, 'z', '2024-01-01', '2025-06-01')")
    # converting again changes nothing
    conn.execute("CALL dwh_etl.scd2_guard('public.dim_pair', '{a,b}')")
    assert scalar(conn, "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'public.dim_pair'::regclass AND NOT tgisinternal") == 3


def test_the_engine_loads_a_guarded_dimension_under_its_lock(conn):
    """apply_dimension on sales.dim_customer (guarded) through the pipeline; a second writer waits for the
    engine's lock instead of interleaving."""
    conn.execute("CREATE TABLE public.src (customer_id bigint, full_name text, email text, email_domain text, phone text, "
                 "city text, country text, customer_segment text, signup_date date, change_ts timestamptz, is_deleted boolean)")
    conn.execute("INSERT INTO public.src SELECT g, 'F L', NULL, NULL, NULL, 'Lyon', 'FR', 'Consumer', NULL, "
                 "'2025-01-01', false FROM generate_series(1, 100) AS g")
    dimension = scalar(conn, "SELECT dimension_name FROM dwh_etl.dimension_specs WHERE target_table = 'sales.dim_customer'")
    conn.execute("SELECT * FROM dwh_etl.apply_dimension(%s, 'public.src')", (dimension,))
    conn.execute("UPDATE public.src SET customer_segment = 'Corporate', change_ts = '2025-02-01' WHERE customer_id <= 10")
    conn.execute("INSERT INTO public.src SELECT 5, 'F L', NULL, NULL, NULL, 'Paris', 'FR', 'Consumer', NULL, '2025-01-15', false")
    res = rows(conn, "SELECT rows_inserted, rows_expired, rows_late FROM dwh_etl.apply_dimension(%s, 'public.src')", (dimension,))
    assert res == [(11, 10, 0)]
    assert rows(conn, """SELECT version, valid_from::date::text, valid_to::date::text, city, customer_segment
                         FROM sales.dim_customer WHERE customer_id = 5 ORDER BY version""") == [
        (1, "2025-01-01", "2025-01-15", "Lyon", "Consumer"), (2, "2025-01-15", "2025-02-01", "Paris", "Consumer"),
        (3, "2025-02-01", None, "Lyon", "Corporate")]


def _big_insert(conn, keys: str, extra: str = "") -> None:
    """One statement writing a closed version 1 ([2025-01-01, 2025-02-01)) for each key of `keys` (a
    generate_series), plus `extra` (a UNION ALL branch)."""
    conn.execute(f"""INSERT INTO sales.dim_customer (customer_id, full_name, customer_segment,
                         valid_from, valid_to, is_current, version, _batch_id)
                     SELECT g, 'A B', 'Consumer', '2025-01-01'::timestamptz, '2025-02-01'::timestamptz, false, 1,
                            gen_random_uuid()
                     FROM {keys} AS g {extra}""")


def _debug(conn) -> list[str]:
    seen: list[str] = []
    conn.add_notice_handler(lambda d: seen.append(d.message_primary))
    conn.execute("SET client_min_messages = debug1")
    return seen


def test_a_large_statement_is_checked_in_one_pass_and_its_overlap_refused(conn):
    """Migration 0060: a statement of 10,000+ rows that wrote a tenth of the table or more is checked in one
    ordered pass over the table; an overlap it wrote is refused as before, with the same message."""
    seen = _debug(conn)
    _big_insert(conn, "generate_series(1, 12000)")
    assert any("one ordered pass" in m for m in seen), seen
    assert scalar(conn, "SELECT count(*) FROM sales.dim_customer") == 12000
    seen.clear()
    with pytest.raises(psycopg.errors.ExclusionViolation) as e:
        _big_insert(conn, "generate_series(20001, 32000)",
                    """UNION ALL SELECT 20005, 'A B', 'Consumer', '2025-01-15'::timestamptz, NULL, true, 2,
                                        gen_random_uuid()""")
    assert any("one ordered pass" in m for m in seen), seen
    assert e.value.diag.constraint_name == "dim_customer_no_overlap"
    assert "Versions of key (20005) overlap: [2025-01-01" in e.value.diag.message_detail
    # an UPDATE of many rows stretching every version over the next one of its key
    _big_insert(conn, "generate_series(1, 12000)".replace("1, 12000", "40001, 52000"))
    conn.execute("""INSERT INTO sales.dim_customer (customer_id, full_name, customer_segment, valid_from, valid_to,
                        is_current, version, _batch_id)
                    VALUES (40007, 'A B', 'Consumer', '2025-02-01', NULL, true, 2, gen_random_uuid())""")
    with pytest.raises(psycopg.errors.ExclusionViolation) as e:
        conn.execute("UPDATE sales.dim_customer SET valid_to = '2025-03-01' WHERE version = 1 AND customer_id > 40000")
    assert "(40007)" in e.value.diag.message_detail
    assert scalar(conn, "SELECT count(*) FROM sales.dim_customer WHERE valid_to = '2025-03-01'") == 0


def test_a_large_statement_is_not_blamed_for_an_overlap_of_a_key_it_did_not_write(conn):
    """The ordered pass sees every key; an overlap it finds in a key the statement did not write (history
    broken with the guard off, by the owner) does not refuse the statement: the keyed check decides."""
    customer(conn, 999999, "2025-01-01", "2025-03-01", 1)
    conn.execute("ALTER TABLE sales.dim_customer DISABLE TRIGGER scd_no_overlap_after_insert")
    customer(conn, 999999, "2025-02-01", None, 2)
    conn.execute("ALTER TABLE sales.dim_customer ENABLE TRIGGER scd_no_overlap_after_insert")
    seen = _debug(conn)
    _big_insert(conn, "generate_series(1, 12000)")
    assert any("one ordered pass" in m for m in seen), seen
    assert scalar(conn, "SELECT count(*) FROM sales.dim_customer") == 12002
    # a small statement keeps the keyed check (no pass over the table)
    seen.clear()
    customer(conn, 12001, "2025-01-01", None, 1)
    assert not any("one ordered pass" in m for m in seen), seen
