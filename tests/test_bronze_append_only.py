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


def test_bronze_is_partitioned_by_ingestion_month_and_retention_drops_whole_months(conn):
    """Extracted rows of ended months move into month partitions (bronze.<t>_pYYYYMM, inheritance
    children with a CHECK on the month) in the maintenance pipeline; readers see the same rows; a window
    skips the other months; retention drops a month whole once silver has read it."""
    conn.execute("SET dwh_etl.bronze_purge = 'bronze.sales_customers'")  # the test's way to age rows
    conn.execute("""INSERT INTO bronze.sales_customers (customer_id, _batch_id, _source, _ingested_at)
                    SELECT g::text, gen_random_uuid(), 't',
                           date_trunc('month', now(), 'UTC') - make_interval(months => g % 3) + make_interval(days => g % 20)
                    FROM generate_series(1, 30) AS g""")
    conn.execute("RESET dwh_etl.bronze_purge")
    snap = "SELECT _bronze_id, customer_id, _batch_id, _ingested_at FROM bronze.sales_customers ORDER BY 1"
    before = rows(conn, snap)
    conn.execute("SET ROLE etl_service")
    try:
        conn.execute("CALL dwh_etl.op_compact_bronze(NULL, CURRENT_DATE)")
        conn.execute("CALL dwh_etl.op_compact_bronze(NULL, CURRENT_DATE)")  # a rerun moves nothing more
    finally:
        conn.execute("RESET ROLE")
    assert rows(conn, snap) == before
    months = [r[0] for r in rows(conn, """SELECT c.relname FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid
                                          WHERE i.inhparent = 'bronze.sales_customers'::regclass ORDER BY 1""")]
    current = scalar(conn, "SELECT 'sales_customers_p' || to_char(now() AT TIME ZONE 'UTC', 'YYYYMM')")
    # the current month's partition is made ahead, empty until the month ends
    assert current in months and scalar(conn, f"SELECT count(*) FROM bronze.{current}") == 0
    months = [m for m in months if m != current]
    assert len(months) == 2 and all(m.startswith("sales_customers_p") for m in months), months
    # the current month stays in the table itself; each month partition holds only its month
    assert scalar(conn, "SELECT count(*) FROM ONLY bronze.sales_customers") == 10
    for m in months:
        assert scalar(conn, f"SELECT count(DISTINCT date_trunc('month', _ingested_at AT TIME ZONE 'UTC')) FROM bronze.{m}") == 1
        assert not scalar(conn, f"SELECT has_table_privilege('etl_service', 'bronze.{m}', 'DELETE')")
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="bronze is append-only"):
            conn.execute(f"DELETE FROM bronze.{m}")
    # a window on the current month reads no earlier month partition (constraint exclusion)
    # (a constant bound, as the engine's one-shot plans have)
    lo = scalar(conn, "SELECT (date_trunc('month', now(), 'UTC') + interval '1 day')::text")
    plan = "\n".join(r[0] for r in rows(conn, "EXPLAIN (COSTS OFF) SELECT * FROM bronze.sales_customers "
                                              f"WHERE _ingested_at >= '{lo}'::timestamptz"))
    assert not any(m in plan for m in months), plan
    # retention: silver has read everything; a horizon reaching past the oldest month drops it whole
    conn.execute("CALL dwh_etl.set_watermark('silver.sales_customers', '_ingested_at', now() + interval '1 day')")
    oldest = months[0]
    cutoff = scalar(conn, f"SELECT (to_date(right(%s, 6), 'YYYYMM') + interval '1 month')::timestamp AT TIME ZONE 'UTC'", (oldest,))
    n_oldest = scalar(conn, f"SELECT count(*) FROM bronze.{oldest}")
    conn.execute("SET ROLE etl_service")
    try:
        assert scalar(conn, "SELECT dwh_etl.sec_purge_bronze('bronze.sales_customers', %s)", (cutoff,)) == n_oldest
    finally:
        conn.execute("RESET ROLE")
    assert scalar(conn, "SELECT to_regclass(%s)", (f"bronze.{oldest}",)) is None
    assert scalar(conn, "SELECT count(*) FROM bronze.sales_customers") == 30 - n_oldest


def test_a_row_committed_during_the_move_is_moved_by_the_next_run_never_lost(dsn, conn):
    """A long transaction inserts a row with an ended month's ingestion time and commits after the move:
    the move's one snapshot did not see it, so it stays in the table (readers see it there) and the next
    run moves it."""
    conn.execute("SET dwh_etl.bronze_purge = 'bronze.sales_customers'")
    conn.execute("""INSERT INTO bronze.sales_customers (customer_id, _batch_id, _source, _ingested_at)
                    VALUES ('early', gen_random_uuid(), 't', date_trunc('month', now(), 'UTC') - interval '5 days')""")
    conn.execute("RESET dwh_etl.bronze_purge")
    late = psycopg.connect(dsn, autocommit=False)
    try:
        late.execute("""INSERT INTO bronze.sales_customers (customer_id, _batch_id, _source, _ingested_at)
                        VALUES ('late', gen_random_uuid(), 't', date_trunc('month', now(), 'UTC') - interval '4 days')""")
        conn.execute("CALL dwh_etl.op_compact_bronze(NULL, CURRENT_DATE)")
        late.commit()
    finally:
        late.close()
    where = "SELECT customer_id, tableoid::regclass::text ~ '_p[0-9]{6}$' FROM bronze.sales_customers ORDER BY 1"
    assert rows(conn, where) == [("early", True), ("late", False)]
    conn.execute("CALL dwh_etl.op_compact_bronze(NULL, CURRENT_DATE)")
    assert rows(conn, where) == [("early", True), ("late", True)]


def test_a_caller_who_moves_watermarks_still_cannot_empty_bronze(conn):
    """etl_service may move watermarks inside a run of its session (it runs the steps; migration 0066: a
    manual run recorded by start_pipeline will do), so the watermark alone does not bound a purge: the
    table's retention setting (the owner's) does; without one, bronze.min_retention (7 days)."""
    conn.execute("SET dwh_etl.bronze_purge = 'bronze.sales_customers'")
    conn.execute("""INSERT INTO bronze.sales_customers (customer_id, _batch_id, _source, _ingested_at)
                    VALUES ('new', gen_random_uuid(), 't', now() - interval '1 day'),
                           ('old', gen_random_uuid(), 't', now() - interval '30 days')""")
    conn.execute("RESET dwh_etl.bronze_purge")
    conn.execute("SET ROLE etl_service")
    try:
        conn.execute("SELECT dwh_lineage.start_pipeline('manual')")
        conn.execute("CALL dwh_etl.set_watermark('silver.sales_customers', '_ingested_at', 'infinity')")
        assert scalar(conn, "SELECT dwh_etl.sec_purge_bronze('bronze.sales_customers', 'infinity')") == 1
    finally:
        conn.execute("RESET ROLE")
    assert rows(conn, "SELECT customer_id FROM bronze.sales_customers") == [("new",)]
    # a retention that is not a positive interval is refused, not read as "everything"
    conn.execute("INSERT INTO dwh_etl.settings (key, value) VALUES ('retention.bronze.sales_customers', '-1 day') "
                 "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value")
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="not a positive interval"):
        conn.execute("SELECT dwh_etl.sec_purge_bronze('bronze.sales_customers', now())")
