"""Real sources (issue 13): an operational PostgreSQL on another server attached with one command, by
logical replication (default) or postgres_fdw, feeding the sales area.

A second PostgreSQL cluster (`source_proc`, wal_level = logical) plays the shop's operational database;
each test gets its own database there, with the sales area's source contract in schema `shop`. The
warehouse is the usual fresh clone (`conn`). Sources are removed at the end of each test: a database
with a subscription cannot be dropped, and a slot left on the source would hold its WAL.
"""

from __future__ import annotations

import contextlib
import time
import uuid

import psycopg
import pytest
from pytest_postgresql import factories

from dwh_cli.cli import cli
from dwh_cli.embedded import find_bindir

source_proc = factories.postgresql_proc(
    executable=str(find_bindir() / "pg_ctl"),
    port=None,
    postgres_options="-c wal_level=logical -c max_replication_slots=20 -c max_wal_senders=20",
)

RUN_SQL = "CALL dwh_etl.run_pipeline(p_pipeline => 'daily', p_run_date => CURRENT_DATE, p_run_id => NULL)"

SHOP_ROWS = """
INSERT INTO shop.customers (customer_id, first_name, last_name, email, city, country, customer_segment, signup_date, updated_at)
VALUES (1, 'Ada', 'Lovelace', 'ada@example.com', 'London', 'UK', 'Consumer', '2025-01-02', now() - interval '3 days'),
       (2, 'Alan', 'Turing', 'alan@example.com', 'Wilmslow', 'UK', 'Corporate', '2025-02-03', now() - interval '3 days'),
       (3, 'Grace', 'Hopper', NULL, 'Arlington', 'US', 'Home Office', '2025-03-04', now() - interval '3 days');
INSERT INTO shop.products (product_id, product_name, product_group, category, brand, unit_price, unit_cost, updated_at)
VALUES (10, 'Laptop', 'Electronics', 'Laptops', 'Acme', 999.00, 700.00, now() - interval '3 days'),
       (11, 'Desk', 'Furniture', 'Desks', 'Oak', 250.00, 120.00, now() - interval '3 days');
INSERT INTO shop.sales (sale_id, order_id, line_number, customer_id, product_id, quantity, unit_price, transaction_date, updated_at)
VALUES (100, 1000, 1, 1, 10, 1, 999.00, now() - interval '2 days', now() - interval '2 days'),
       (101, 1000, 2, 1, 11, 2, 250.00, now() - interval '2 days', now() - interval '2 days'),
       (102, 1001, 1, 2, 11, 1, 250.00, now() - interval '1 day', now() - interval '1 day'),
       (103, 1002, 1, 3, 10, 1, 999.00, now() - interval '1 day', now() - interval '1 day');
"""

SHOP_DDL = """
CREATE SCHEMA shop;
CREATE TABLE shop.customers (
    customer_id bigint PRIMARY KEY, first_name text, last_name text, email text, phone text, city text,
    country text, customer_segment text, signup_date date,
    created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE shop.products (
    product_id bigint PRIMARY KEY, product_name text, product_group text, category text, brand text,
    unit_price numeric(10,2), unit_cost numeric(10,2), is_active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE shop.sales (
    sale_id bigint PRIMARY KEY, order_id bigint NOT NULL, line_number smallint NOT NULL, customer_id bigint,
    product_id bigint, quantity integer, unit_price numeric(10,2), discount_amount numeric(10,2) NOT NULL DEFAULT 0,
    transaction_date timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now());
""" + SHOP_ROWS


def make_conninfo(proc, dbname, **extra) -> str:
    return psycopg.conninfo.make_conninfo(host=proc.host, port=str(proc.port), user=proc.user, dbname=dbname,
                                          **extra)


def scalar(conn, sql, params=None):
    return conn.execute(sql, params).fetchone()[0]


def wait_for(conn, sql, expected, timeout=60.0, params=None):
    """Poll `sql` on `conn` until it returns `expected` (replication is asynchronous); no row is None (a
    key deleted and not re-inserted yet)."""
    deadline = time.monotonic() + timeout
    while True:
        row = conn.execute(sql, params).fetchone()
        got = row[0] if row else None
        if got == expected:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{sql!r} returned {got!r}, expected {expected!r} within {timeout} s")
        time.sleep(0.2)


def connect_when_up(info, timeout=60.0):
    """A connection to a server that was just (re)started: it refuses connections while starting up."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return psycopg.connect(info, autocommit=True)
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def run_daily(conn):
    conn.execute(RUN_SQL)


def fact_sale_ids(conn) -> list[int]:
    return [r[0] for r in conn.execute("SELECT sale_id FROM sales.fact_sales ORDER BY sale_id")]


@pytest.fixture
def sales_only(conn):
    conn.execute("UPDATE dwh_etl.steps SET is_enabled = false WHERE area NOT IN ('sales', 'engine')")
    conn.execute("UPDATE dwh_etl.quality_rules SET is_enabled = false WHERE area IS DISTINCT FROM 'sales'")
    return conn


@pytest.fixture
def shop(source_proc):
    """(conninfo, autocommit connection) of a fresh operational database on the source cluster."""
    name = f"shop_{uuid.uuid4().hex[:10]}"
    admin = make_conninfo(source_proc, "postgres")
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    info = make_conninfo(source_proc, name)
    src = psycopg.connect(info, autocommit=True)
    src.execute(SHOP_DDL)
    try:
        yield info, src
    finally:
        src.close()
        with contextlib.suppress(psycopg.Error), psycopg.connect(admin, autocommit=True) as c:
            c.execute(f"SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                      f"WHERE database = '{name}' AND NOT active")
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def attached(conn, info, name="shop", mode="replicate", into="shop", schema="shop", area="sales", tables=None):
    conn.execute("CALL dwh_etl.source_add(p_name => %s, p_conninfo => %s, p_into => %s, p_schema => %s, "
                 "p_tables => %s, p_mode => %s, p_area => %s)", (name, info, into, schema, tables, mode, area))
    try:
        yield
    finally:
        if scalar(conn, "SELECT count(*) FROM dwh_etl.sources WHERE source_name = %s", (name,)):
            conn.execute("CALL dwh_etl.source_remove(%s)", (name,))


def wait_ready(conn, into="shop", sales=4):
    wait_for(conn, "SELECT bool_and(srsubstate = 'r') FROM pg_subscription_rel", True)
    wait_for(conn, f"SELECT count(*) FROM {into}.sales", sales)


# -- replicate ---------------------------------------------------------------------------------------

def test_replicated_source_keeps_the_sales_area_loaded(sales_only, shop, dsn, runner):
    conn = sales_only
    info, src = shop
    res = runner.invoke(cli, ["--dsn", dsn, "source", "add", "shop", "--dsn", info, "--schema", "shop",
                              "--into", "shop", "--area", "sales"])
    assert res.exit_code == 0, res.output + res.stderr
    try:
        assert scalar(conn, "SELECT dwh_etl.get_setting('sales.source_schema')") == "shop"
        wait_ready(conn)
        run_daily(conn)
        assert fact_sale_ids(conn) == [100, 101, 102, 103]
        assert scalar(conn, "SELECT count(*) FROM sales.dim_customer WHERE is_current") == 3

        # changes on the source: an update, a delete, an insert; then a TRUNCATE of nothing harmful
        src.execute("UPDATE shop.customers SET city = 'Cambridge', updated_at = now() WHERE customer_id = 2")
        src.execute("DELETE FROM shop.sales WHERE sale_id = 103")
        src.execute("INSERT INTO shop.sales (sale_id, order_id, line_number, customer_id, product_id, quantity, "
                    "unit_price, transaction_date) VALUES (104, 1003, 1, 2, 10, 3, 999.00, now() - interval '1 hour')")
        wait_for(conn, "SELECT count(*) FROM shop.deleted_records WHERE table_name = 'sales' AND record_id = '103'", 1)
        wait_for(conn, "SELECT city FROM shop.customers WHERE customer_id = 2", "Cambridge")
        wait_for(conn, "SELECT count(*) FROM shop.sales WHERE sale_id = 104", 1)
        run_daily(conn)
        assert fact_sale_ids(conn) == [100, 101, 102, 104]
        assert conn.execute("SELECT city FROM sales.dim_customer WHERE customer_id = 2 ORDER BY customer_key").fetchall() \
            == [("Wilmslow",), ("Cambridge",)]

        res = runner.invoke(cli, ["--dsn", dsn, "source", "status", "--json"])
        assert res.exit_code == 0, res.output + res.stderr
        assert '"state": "streaming"' in res.output
        res = runner.invoke(cli, ["--dsn", dsn, "source", "list"])
        assert res.exit_code == 0 and "shop" in res.output
        # removed: the area attached with --area still reads the schema, and remove says so
        res = runner.invoke(cli, ["--dsn", dsn, "source", "remove", "shop"])
        assert res.exit_code == 0, res.output + res.stderr
        assert "area sales still reads shop" in res.stderr and "sales.source_schema" in res.stderr, res.stderr
        assert "--drop-tables" in res.stderr
    finally:
        if scalar(conn, "SELECT count(*) FROM dwh_etl.sources WHERE source_name = 'shop'"):
            conn.execute("CALL dwh_etl.source_remove('shop')")


def test_a_long_source_transaction_that_commits_late_is_not_skipped(sales_only, shop):
    conn = sales_only
    info, src = shop
    with attached(conn, info):
        wait_ready(conn)
        run_daily(conn)
        late = psycopg.connect(info)  # a transaction open on the source across two runs
        late.execute("INSERT INTO shop.sales (sale_id, order_id, line_number, customer_id, product_id, quantity, "
                     "unit_price, transaction_date, updated_at) "
                     "VALUES (110, 1010, 1, 1, 10, 1, 999.00, now() - interval '2 days', now() - interval '2 days')")
        src.execute("INSERT INTO shop.sales (sale_id, order_id, line_number, customer_id, product_id, quantity, "
                    "unit_price, transaction_date) VALUES (111, 1011, 1, 1, 10, 1, 999.00, now())")
        wait_for(conn, "SELECT count(*) FROM shop.sales WHERE sale_id = 111", 1)
        run_daily(conn)
        assert 111 in fact_sale_ids(conn) and 110 not in fact_sale_ids(conn)
        late.commit()
        late.close()
        wait_for(conn, "SELECT count(*) FROM shop.sales WHERE sale_id = 110", 1)
        run_daily(conn)
        assert 110 in fact_sale_ids(conn)


def test_a_disabled_subscription_catches_up_when_enabled_again(sales_only, shop):
    conn = sales_only
    info, src = shop
    with attached(conn, info):
        wait_ready(conn)
        sub = scalar(conn, "SELECT subscription FROM dwh_etl.sources WHERE source_name = 'shop'")
        conn.execute(f'ALTER SUBSCRIPTION "{sub}" DISABLE')
        src.execute("INSERT INTO shop.sales (sale_id, order_id, line_number, customer_id, product_id, quantity, "
                    "unit_price, transaction_date) VALUES (120, 1020, 1, 1, 10, 1, 999.00, now())")
        status = conn.execute("SELECT state, warnings FROM dwh_etl.source_status()").fetchone()
        assert status[0] == "disabled" and any("disabled" in w for w in status[1])
        run_daily(conn)
        assert 120 not in fact_sale_ids(conn)
        conn.execute(f'ALTER SUBSCRIPTION "{sub}" ENABLE')
        wait_for(conn, "SELECT count(*) FROM shop.sales WHERE sale_id = 120", 1)
        run_daily(conn)
        assert 120 in fact_sale_ids(conn)
        wait_for(conn, "SELECT state FROM dwh_etl.source_status()", "streaming")


def test_a_source_schema_named_otherwise_lands_in_views_and_remove_cleans_the_source(sales_only, shop):
    conn = sales_only
    info, src = shop
    with attached(conn, info, into="shop_src"):
        wait_ready(conn, into="shop_src")
        assert scalar(conn, "SELECT relkind FROM pg_class WHERE oid = 'shop_src.sales'::regclass") == "v"
        assert scalar(conn, "SELECT relkind FROM pg_class WHERE oid = 'shop.sales'::regclass") == "r"
        run_daily(conn)
        assert fact_sale_ids(conn) == [100, 101, 102, 103]
        src.execute("TRUNCATE shop.sales")
        wait_for(conn, "SELECT count(*) FROM shop_src.deleted_records WHERE table_name = 'sales'", 4)
        run_daily(conn)
        assert fact_sale_ids(conn) == []
    # removed: nothing left on the source, the local copies kept
    assert scalar(src, "SELECT count(*) FROM pg_replication_slots WHERE database = current_database()") == 0
    assert scalar(src, "SELECT count(*) FROM pg_publication") == 0
    assert scalar(conn, "SELECT count(*) FROM pg_subscription") == 0
    assert scalar(conn, "SELECT count(*) FROM shop.customers") == 3


def test_a_column_added_on_the_source_waits_for_the_copy_and_nothing_is_lost(sales_only, shop):
    conn = sales_only
    info, src = shop
    with attached(conn, info):
        wait_ready(conn)
        src.execute("ALTER TABLE shop.customers ADD COLUMN loyalty text")
        src.execute("UPDATE shop.customers SET loyalty = 'gold', city = 'Oxford', updated_at = now() WHERE customer_id = 1")
        src.execute("INSERT INTO shop.sales (sale_id, order_id, line_number, customer_id, product_id, quantity, "
                    "unit_price, transaction_date) VALUES (150, 1050, 1, 1, 10, 1, 999.00, now())")
        time.sleep(1.0)
        assert scalar(conn, "SELECT city FROM shop.customers WHERE customer_id = 1") == "London"
        conn.execute("ALTER TABLE shop.customers ADD COLUMN loyalty text")
        wait_for(conn, "SELECT city || '/' || loyalty FROM shop.customers WHERE customer_id = 1", "Oxford/gold", timeout=90)
        wait_for(conn, "SELECT count(*) FROM shop.sales WHERE sale_id = 150", 1)
        run_daily(conn)
        assert 150 in fact_sale_ids(conn)
        assert scalar(conn, "SELECT city FROM sales.dim_customer WHERE customer_id = 1 AND is_current") == "Oxford"


# -- what the source must allow -------------------------------------------------------------------

def test_source_prerequisites_give_clear_errors_and_leave_nothing_behind(sales_only, shop, postgresql_proc, source_proc):
    conn = sales_only
    info, src = shop

    def refused(info, **kw):
        with pytest.raises(psycopg.Error) as exc:
            conn.execute("CALL dwh_etl.source_add(p_name => 'bad', p_conninfo => %s, p_into => %s, "
                         "p_schema => %s, p_tables => %s)",
                         (info, kw.get("into", "bad_src"), kw.get("schema", "shop"), kw.get("tables")))
        return exc.value

    # the warehouse's own cluster runs with wal_level = replica
    wh = make_conninfo(postgresql_proc, "postgres")
    conn_wh = psycopg.connect(wh, autocommit=True)
    conn_wh.execute("CREATE SCHEMA IF NOT EXISTS shop; CREATE TABLE IF NOT EXISTS shop.t (id int PRIMARY KEY)")
    try:
        e = refused(wh)
        assert e.sqlstate == "55000" and "wal_level" in e.diag.message_primary
        assert "ALTER SYSTEM SET wal_level = logical" in e.diag.message_hint
    finally:
        conn_wh.execute("DROP SCHEMA shop CASCADE")
        conn_wh.close()

    src.execute("CREATE TABLE shop.no_key (a int, b text)")
    e = refused(info, tables=["no_key"])
    assert "no primary key" in e.diag.message_primary

    e = refused(info, tables=["nope"])
    assert e.sqlstate == "42P01" and "nope" in e.diag.message_primary and "customers" in e.diag.message_hint

    role = f"plain_{uuid.uuid4().hex[:6]}"
    src.execute(f"CREATE ROLE {role} LOGIN; GRANT USAGE ON SCHEMA shop TO {role}; "
                f"GRANT SELECT ON ALL TABLES IN SCHEMA shop TO {role}")
    try:
        e = refused(info.replace(f"user={source_proc.user}", f"user={role}"), tables=["customers"])
        assert e.sqlstate == "42501" and "may not replicate" in e.diag.message_primary
        assert f"ALTER ROLE {role} REPLICATION" in e.diag.message_hint
    finally:
        src.execute(f"DROP OWNED BY {role}; DROP ROLE {role}")

    # unreachable, with a password that must appear nowhere
    secret = "s3cret-Pa55"
    e = refused(f"host=127.0.0.1 port=1 dbname=x user=y password={secret}")
    assert e.sqlstate == "08001" and "cannot connect" in e.diag.message_primary
    assert secret not in str(e) and secret not in (e.diag.context or "") and secret not in (e.diag.message_hint or "")

    # the demo's tables are in the way
    e = refused(info, into="sales_src", tables=["customers", "products", "sales"])
    assert e.sqlstate == "42P07" and "sales_src.customers" in e.diag.message_primary

    # nothing was created on either side
    assert scalar(src, "SELECT count(*) FROM pg_replication_slots WHERE database = current_database()") == 0
    assert scalar(src, "SELECT count(*) FROM pg_publication") == 0
    assert scalar(conn, "SELECT count(*) FROM dwh_etl.sources") == 0
    assert scalar(conn, "SELECT count(*) FROM pg_subscription") == 0
    assert scalar(conn, "SELECT dwh_etl.get_setting('sales.source_schema')") == "sales_src"


def test_credentials_stay_out_of_reach(sales_only, shop, source_proc):
    conn = sales_only
    info, src = shop
    secret = "Pw-" + uuid.uuid4().hex[:8]
    # trust auth ignores the password: it only has to be kept and never shown
    with attached(conn, info + f" password={secret}", mode="fdw", name="shopf", into="shopf"):
        assert secret not in scalar(conn, "SELECT COALESCE(json_agg(s)::text, '') FROM dwh_etl.sources AS s")
        assert secret not in scalar(conn, "SELECT COALESCE(json_agg(s)::text, '') FROM dwh_etl.source_status() AS s")
        conn.execute("SET ROLE analyst_role")
        try:
            assert scalar(conn, "SELECT count(*) FROM pg_user_mappings WHERE umoptions::text LIKE %s",
                          (f"%{secret}%",)) == 0
            for sql in ("SELECT * FROM shopf.customers", "SELECT * FROM _dwh_fdw_shopf.customers",
                        "SELECT * FROM dwh_etl.sources"):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute(sql)
        finally:
            conn.execute("RESET ROLE")


# -- fdw ------------------------------------------------------------------------------------------

def test_fdw_source_is_pulled_by_each_run_with_deletes_and_late_commits(sales_only, shop):
    conn = sales_only
    info, src = shop
    with attached(conn, info, name="shopf", mode="fdw", into="shopf"):
        # the pipeline runs as etl_service: the pull goes through its SECURITY DEFINER routine
        conn.execute("SET ROLE etl_service")
        try:
            run_daily(conn)
        finally:
            conn.execute("RESET ROLE")
        assert fact_sale_ids(conn) == [100, 101, 102, 103]

        src.execute("UPDATE shop.customers SET city = 'Cambridge', updated_at = now() WHERE customer_id = 2")
        src.execute("DELETE FROM shop.sales WHERE sale_id = 103")
        # committed now, stamped 10 minutes ago: behind the watermark, within the overlap
        src.execute("INSERT INTO shop.sales (sale_id, order_id, line_number, customer_id, product_id, quantity, "
                    "unit_price, transaction_date, updated_at) "
                    "VALUES (130, 1030, 1, 1, 10, 1, 999.00, now() - interval '10 minutes', now() - interval '10 minutes')")
        run_daily(conn)
        assert fact_sale_ids(conn) == [100, 101, 102, 130]
        assert scalar(conn, "SELECT city FROM sales.dim_customer WHERE customer_id = 2 AND is_current") == "Cambridge"

        # a second run pulls the overlap again and changes nothing
        arrived = scalar(conn, "SELECT max(_dwh_arrived_at) FROM shopf.sales")
        assert scalar(conn, "SELECT dwh_etl.sec_source_pull('shopf')") == 0
        assert scalar(conn, "SELECT max(_dwh_arrived_at) FROM shopf.sales") == arrived

        # the window predicate is sent to the source (the pull's EXECUTE ... USING plans its value as a constant)
        plan = "\n".join(r[0] for r in conn.execute(
            "EXPLAIN (VERBOSE) SELECT * FROM _dwh_fdw_shopf.sales AS r "
            "WHERE r.updated_at >= '2026-01-01 00:00:00+00'::timestamptz OR r.updated_at IS NULL"))
        assert "Remote SQL:" in plan and "WHERE (((updated_at >=" in plan


def test_a_source_that_goes_down_fails_only_its_step_and_the_next_run_catches_up(sales_only, shop, source_proc):
    conn = sales_only
    info, src = shop
    with attached(conn, info, name="shopf", mode="fdw", into="shopf"), attached(conn, info, name="shopr", into="shop", area=None):
        wait_ready(conn)
        run_daily(conn)
        assert fact_sale_ids(conn) == [100, 101, 102, 103]
        # a replicated source is not pulled, and says why (it said "no fdw source")
        with pytest.raises(psycopg.Error) as pulled:
            conn.execute("SELECT dwh_etl.sec_source_pull('shopr')")
        assert str(pulled.value).startswith("source 'shopr' is replicated, not pulled"), pulled.value
        src.close()
        source_proc.stop()
        try:
            with pytest.raises(psycopg.Error) as exc:
                run_daily(conn)
            steps = dict(conn.execute("""
                SELECT s.step_name, s.status FROM dwh_lineage.step_runs AS s
                WHERE s.run_id = (SELECT max(run_id) FROM dwh_lineage.pipeline_runs)"""))
            assert steps["sources"] == "failed" and steps["sales_extract"] == "skipped"
            assert steps["calendar"] == "completed"
            msg = scalar(conn, """
                SELECT s.error_message FROM dwh_lineage.step_runs AS s
                WHERE s.step_name = 'sources' ORDER BY s.step_run_id DESC LIMIT 1""")
            assert "source shopf" in msg and "cannot be read" in msg, msg
            assert exc.value.sqlstate == "DW003"
            warnings = [w for r in conn.execute("SELECT warnings FROM dwh_etl.source_status()") for w in r[0]]
            assert any("unreachable" in w for w in warnings), warnings
            # the fdw source itself says so (review 17: it stayed 'pulled', without a warning, while every
            # run failed at it): the failed pull from the step's record, and the check of the remote now
            fdw = lambda remote: conn.execute(
                "SELECT state, warnings FROM dwh_etl.source_status(p_check_remote => %s) WHERE source_name = 'shopf'",
                (remote,)).fetchone()
            state, warns = fdw(True)
            assert state == "unreachable", (state, warns)
            assert any(w.startswith("the last pull failed (") and "source shopf" in w and "cannot be read" in w
                       for w in warns), warns
            assert any(w.startswith("source unreachable: ") for w in warns), warns
            assert fdw(False)[0] == "pull failed"
        finally:
            source_proc.start()
        src = connect_when_up(info)
        src.execute("INSERT INTO shop.sales (sale_id, order_id, line_number, customer_id, product_id, quantity, "
                    "unit_price, transaction_date) VALUES (140, 1040, 1, 1, 10, 1, 999.00, now())")
        run_daily(conn)
        assert 140 in fact_sale_ids(conn)
        assert conn.execute("SELECT state, warnings FROM dwh_etl.source_status() WHERE source_name = 'shopf'").fetchone() \
            == ("pulled", [])
        wait_for(conn, "SELECT count(*) FROM shop.sales WHERE sale_id = 140", 1)
        src.close()
