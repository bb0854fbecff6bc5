"""Issue 18 (seed 002): bronze is append-only. Nobody, the ETL role included, updates, deletes or truncates
bronze rows (migration 0033: no such privilege for etl_service, and a statement trigger for everyone
else); rows leave bronze only by retention (dwh_etl.sec_purge_bronze: the maintenance step `retention` for a
setting retention.bronze.<table>, citizen's raw-event purge), never before silver has read them.

Uses the per-test `conn` fixture of tests/conftest.py (a superuser connection to a fresh clone).
"""
from __future__ import annotations

import psycopg
import pytest



def rows(conn, query, params=None):
    return conn.execute(query, params).fetchall()


def scalar(conn, query, params=None):
    return conn.execute(query, params).fetchone()[0]


def bronze_tables(conn):
    return [r[0] for r in rows(conn, """
        SELECT c.oid::regclass::text FROM pg_class AS c
        WHERE c.relnamespace = 'bronze'::regnamespace AND c.relkind = 'r'
          AND NOT EXISTS (SELECT 1 FROM pg_inherits AS i WHERE i.inhrelid = c.oid)
          AND c.relname !~ '_landing$' ORDER BY 1""")]


def test_every_bronze_table_refuses_update_delete_truncate_to_everyone(conn):
    tables = bronze_tables(conn)
    assert len(tables) > 20
    for t in tables:
        for priv in ("UPDATE", "DELETE", "TRUNCATE"):
            assert not scalar(conn, "SELECT has_table_privilege('etl_service', %s, %s)", (t, priv)), (t, priv)
        assert scalar(conn, "SELECT has_table_privilege('etl_service', %s, 'INSERT')", (t,)), t
        assert scalar(conn, "SELECT count(*) FROM pg_trigger WHERE tgrelid = %s::regclass "
                            "AND tgname IN ('bronze_append_only', 'bronze_append_only_truncate')", (t,)) == 2, t
    conn.execute("INSERT INTO bronze.sales_customers (customer_id, _batch_id, _source) VALUES ('1', gen_random_uuid(), 't')")
    # the owner (a superuser here) is stopped by the trigger, with the way out in the hint
    for stmt in ("UPDATE bronze.sales_customers SET customer_id = '2'", "DELETE FROM bronze.sales_customers",
                 "TRUNCATE bronze.sales_customers"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="bronze is append-only") as e:
            conn.execute(stmt)
        assert "retention" in e.value.diag.message_hint
    # etl_service has no privilege at all
    conn.execute("SET ROLE etl_service")
    try:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"):
            conn.execute("DELETE FROM bronze.sales_customers")
        # setting the trigger's switch does not help a role without the privilege
        conn.execute("SET dwh_etl.bronze_purge = 'bronze.sales_customers'")
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"):
            conn.execute("UPDATE bronze.sales_customers SET customer_id = '3'")
    finally:
        conn.execute("RESET ROLE")
        conn.execute("RESET dwh_etl.bronze_purge")
    assert rows(conn, "SELECT customer_id FROM bronze.sales_customers") == [("1",)]


def test_a_table_created_later_by_create_bronze_is_append_only_too(conn):
    conn.execute("CALL dwh_etl.create_bronze('bronze.t_later', ARRAY['a', 'b'])")
    assert not scalar(conn, "SELECT has_table_privilege('etl_service', 'bronze.t_later', 'DELETE')")
    assert scalar(conn, "SELECT has_table_privilege('etl_service', 'bronze.t_later', 'INSERT')")
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="bronze is append-only"):
        conn.execute("DELETE FROM bronze.t_later")


def test_retention_deletes_only_old_rows_that_silver_has_read(conn):
    conn.execute("SET dwh_etl.bronze_purge = 'bronze.sales_customers'")  # the test's own way to age rows
    conn.execute("""INSERT INTO bronze.sales_customers (customer_id, _batch_id, _source, _ingested_at)
                    SELECT g::text, gen_random_uuid(), 't', now() - make_interval(days => 10 * g)
                    FROM generate_series(1, 6) AS g""")
    conn.execute("RESET dwh_etl.bronze_purge")
    # silver has read up to 35 days ago: rows of 40, 50, 60 days ago are read, 10..30 days not
    conn.execute("CALL dwh_etl.set_watermark('silver.sales_customers', '_ingested_at', now() - interval '35 days')")
    conn.execute("INSERT INTO dwh_etl.settings (key, value) VALUES ('retention.bronze.sales_customers', '15 days') "
                 "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value")
    conn.execute("SET ROLE etl_service")
    try:
        conn.execute("CALL dwh_etl.op_retention(NULL, CURRENT_DATE)")
    finally:
        conn.execute("RESET ROLE")
    # 20 and 30 days old are past the horizon but unread: kept; 40..60 read and old: deleted
    assert sorted(r[0] for r in rows(conn, "SELECT customer_id FROM bronze.sales_customers")) == ["1", "2", "3"]
    # a cutoff is never past what silver has read, whatever the caller asks
    conn.execute("SET ROLE etl_service")
    try:
        assert scalar(conn, "SELECT dwh_etl.sec_purge_bronze('bronze.sales_customers', now())") == 0
    finally:
        conn.execute("RESET ROLE")
    assert scalar(conn, "SELECT count(*) FROM bronze.sales_customers") == 3


def test_purge_refuses_a_table_no_silver_load_reads_and_what_is_not_bronze(conn):
    conn.execute("CALL dwh_etl.create_bronze('bronze.t_orphan', ARRAY['a'])")
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState, match="no silver step reads bronze.t_orphan"):
        conn.execute("SELECT dwh_etl.sec_purge_bronze('bronze.t_orphan', now())")
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="is not a bronze table"):
        conn.execute("SELECT dwh_etl.sec_purge_bronze('silver.sales_customers', now())")
