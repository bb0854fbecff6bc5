"""Review 8: attacks on c18b4d1 (file landing with its CHECKs made with the landing table), aa8ad32
(step_fact numbers identity-keyed facts in natural-key order) and 10c69fa (sales.mv_customer_lifetime_value
from sales.customer_metrics). A test that fails names a defect; the others record what held."""

from __future__ import annotations

import datetime as dt
import json
import re

import psycopg
import pytest

from tests.test_file_landing import CUSTOMER_COLS, customers_csv, dwh, ok
from tests.test_step_fact import SPEC as FACT_SPEC
from tests.test_step_fact import STEP_SQL as FACT_STEP_SQL
from tests.test_step_fact import thing, tiny  # noqa: F401  (fixture)
from tests.test_customer_metrics_incremental import LTV_FROM_FACTS

RUN_SQL = "CALL dwh_etl.run_pipeline(p_pipeline => 'daily', p_run_date => CURRENT_DATE, p_run_id => NULL)"
LTV = "SELECT * FROM sales.mv_customer_lifetime_value ORDER BY customer_id"


def rows(conn, q, params=None):
    return conn.execute(q, params).fetchall()


def scalar(conn, q, params=None):
    return conn.execute(q, params).fetchone()[0]


def child_checks(conn, child):
    return dict(rows(conn, "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                           "WHERE conrelid = %s::regclass AND contype = 'c' AND convalidated", (child,)))


def id_range(conn, child, file_id):
    d = child_checks(conn, child)[f"sales_customers_f{file_id}_ids"]
    lo, hi = re.findall(r"-?\d+", d)[:2]
    return int(lo), int(hi)


# ------------------------------------------------------------------------------------------------
# 1. c18b4d1: file landing
# ------------------------------------------------------------------------------------------------

def psql_recipe(dsn, ids, file_name, *, settings_begin=(), settings_end=(), late_seal=False):
    """file_begin, COPY into the landing table, file_end (one transaction, or the seal in a later one),
    with session settings changed between file_begin and the seal. Returns (file_id, seal's now())."""
    c = psycopg.connect(dsn, autocommit=False)
    try:
        for k, v in settings_begin:
            c.execute(f"SET {k} = '{v}'")
        file_id = c.execute("CALL dwh_etl.file_begin(p_target => 'bronze.sales_customers', p_file_name => %s, "
                            "p_force => true, p_file_id => NULL)", (file_name,)).fetchone()[0]
        with c.cursor().copy(f"COPY bronze.sales_customers_landing ({', '.join(CUSTOMER_COLS)}) FROM STDIN "
                             "WITH (FORMAT csv, HEADER)") as cp:
            cp.write(customers_csv(ids).encode())
        if late_seal:
            c.commit()
        for k, v in settings_end:
            c.execute(f"SET {k} = '{v}'")
        sealed_at = c.execute("SELECT extract(epoch FROM now())").fetchone()[0]
        c.execute("CALL dwh_etl.file_end(p_file_id => %s)", (file_id,))
        c.commit()
        return file_id, sealed_at
    finally:
        c.close()


@pytest.mark.parametrize("late_seal", [False, True])
def test_zone_and_datestyle_changing_between_file_begin_and_the_seal(dsn, conn, late_seal):
    file_id, sealed_at = psql_recipe(
        dsn, [1, 2, 3], "tz.csv", late_seal=late_seal,
        settings_begin=[("TimeZone", "Asia/Kolkata"), ("DateStyle", "SQL, DMY")],
        settings_end=[("TimeZone", "America/St_Johns"), ("DateStyle", "German, YMD")])
    child = f"bronze.sales_customers_f{file_id}"
    started = scalar(conn, "SELECT extract(epoch FROM started_at) FROM dwh_etl.loaded_files WHERE file_id = %s", (file_id,))
    stamp = scalar(conn, "SELECT to_timestamp(%s::numeric::float8)", (sealed_at if late_seal else started,))
    assert rows(conn, f"SELECT DISTINCT extract(epoch FROM _ingested_at) FROM {child}") == [(sealed_at if late_seal else started,)]
    assert set(child_checks(conn, child)) >= {f"sales_customers_f{file_id}_ingested", f"sales_customers_f{file_id}_ids"}
    # a one-shot window read on exactly that instant sees the 3 rows, one microsecond off sees none
    assert scalar(conn, "SELECT count(*) FROM bronze.sales_customers WHERE _ingested_at = %s", (stamp,)) == 3
    assert scalar(conn, "SELECT count(*) FROM bronze.sales_customers WHERE _ingested_at = %s",
                  (stamp + dt.timedelta(microseconds=1),)) == 0


def test_id_blocks_of_children_never_hold_other_rows_and_compaction_keeps_every_row(dsn, conn, tmp_path):
    """Loads made the new way (whole-block id checks), a late seal (tight check), rows ingested into the
    table itself between them, a parsing-path load: every child's id range holds exactly its own rows,
    constraint exclusion by id returns exactly them, and compaction folds all of them, ids unchanged."""
    ingest = ("INSERT INTO bronze.sales_customers (customer_id, _batch_id, _source) "
              "VALUES (%s, gen_random_uuid(), 'test')")
    f1 = tmp_path / "a.csv"
    f1.write_text(customers_csv([1, 2, 3]))
    a = json.loads(ok(dwh(dsn, "load", "bronze.sales_customers", f1, "--json")).stdout)
    conn.execute(ingest, ("100",))
    b, _ = psql_recipe(dsn, [4, 5], "b.csv", late_seal=True)
    conn.execute(ingest, ("101",))
    f3 = tmp_path / "c.csv"   # a quoted newline: the parsing path (recreates the landing table)
    f3.write_text(",".join(CUSTOMER_COLS) + '\n6,"Multi\nline",L,e@x,,Lyon,FR,Consumer,2024-05-01,' +
                  "2025-01-15 10:00:00+00,2025-01-15 10:00:00+00\n")
    c = json.loads(ok(dwh(dsn, "load", "bronze.sales_customers", f3, "--json")).stdout)
    assert c["path"] == "parsed"
    d, _ = psql_recipe(dsn, [7], "d.csv")
    conn.execute(ingest, ("102",))
    ids = {a["file_id"]: 3, b: 2, c["file_id"]: 1, d: 1}
    before = rows(conn, "SELECT _bronze_id, customer_id, _ingested_at, _batch_id FROM bronze.sales_customers ORDER BY 1")
    assert len(before) == 10 and len({r[0] for r in before}) == 10
    for file_id, n in ids.items():
        child = f"bronze.sales_customers_f{file_id}"
        lo, hi = id_range(conn, child, file_id)
        assert scalar(conn, f"SELECT count(*) FROM ONLY {child}") == n
        # every row of the table in the child's id range is the child's (no later id falls inside it)
        assert rows(conn, "SELECT DISTINCT tableoid::regclass::text FROM bronze.sales_customers "
                          f"WHERE _bronze_id BETWEEN {lo} AND {hi}") == [(child,)]
        assert scalar(conn, f"SELECT count(*) FROM bronze.sales_customers WHERE _bronze_id BETWEEN {lo} AND {hi}") == n
        plan = "\n".join(r[0] for r in rows(conn, "EXPLAIN SELECT * FROM bronze.sales_customers "
                                                  f"WHERE _bronze_id BETWEEN {lo} AND {hi}"))
        others = [f"sales_customers_f{o}" for o in ids if o != file_id]
        assert not any(re.search(rf"\b{o}\b", plan) for o in others), plan
    conn.execute("INSERT INTO dwh_etl.settings (key, value) VALUES ('bronze.compact_after', '0 seconds') "
                 "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value")
    conn.execute("CALL dwh_etl.op_compact_bronze(NULL, CURRENT_DATE)")
    assert scalar(conn, "SELECT count(*) FROM dwh_etl.loaded_files WHERE landed_in IS NOT NULL") == 0
    assert rows(conn, "SELECT _bronze_id, customer_id, _ingested_at, _batch_id FROM bronze.sales_customers ORDER BY 1") == before
    # after compaction, new loads and ingests still get ids above everything
    conn.execute(ingest, ("103",))
    assert scalar(conn, "SELECT count(DISTINCT _bronze_id) FROM bronze.sales_customers") == 11


def test_a_copy_listing_ingested_at_is_refused(dsn, conn):
    """The landing table now has an _ingested_at column: a \\copy naming it (an export of bronze loaded
    again) must not land rows with its own times."""
    c = psycopg.connect(dsn, autocommit=False)
    try:
        c.execute("CALL dwh_etl.file_begin(p_target => 'bronze.sales_customers', p_file_name => 'ts.csv', "
                  "p_force => true, p_file_id => NULL)")
        with pytest.raises(psycopg.Error):
            with c.cursor().copy(f"COPY bronze.sales_customers_landing ({', '.join(CUSTOMER_COLS)}, _ingested_at) "
                                 "FROM STDIN WITH (FORMAT csv)") as cp:
                cp.write((",".join(customers_csv([1]).splitlines()[1].split(",")) + ",2020-01-01 00:00:00+00\n").encode())
            c.execute("CALL dwh_etl.file_end()")
    finally:
        c.rollback()
        c.close()
    assert scalar(conn, "SELECT count(*) FROM bronze.sales_customers") == 0


# ------------------------------------------------------------------------------------------------
# 2. aa8ad32: step_fact, identity keys in natural-key order
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["upsert", "insert", "replace"])
def test_identity_keys_follow_the_natural_key_in_every_mode(tiny, mode):  # noqa: F811
    conn = tiny
    thing(conn, 1, "red", "2024-01-01T00:00:00Z")
    # physical order (and a likely seq scan) opposite to the natural key
    for eid in (9, 7, 5, 3, 1, 8, 6, 4, 2):
        conn.execute("INSERT INTO tfact.events (event_id, thing_id, happened_at, amount) "
                     "VALUES (%s, 1, '2024-03-01T12:00:00Z', %s)", (eid, eid))
    spec = dict(FACT_SPEC, mode=mode)
    conn.execute(FACT_STEP_SQL, (json.dumps(spec),))
    got = rows(conn, "SELECT event_id FROM tfact.fact_event ORDER BY event_key")
    assert [r[0] for r in got] == list(range(1, 10))
    # a redelivery of some plus new ones: the new ones numbered in key order after the others
    conn.execute("UPDATE tfact.events SET amount = amount + 1, _loaded_at = now() WHERE event_id IN (2, 7)")
    for eid in (13, 11, 12):
        conn.execute("INSERT INTO tfact.events (event_id, thing_id, happened_at, amount) "
                     "VALUES (%s, 1, '2024-03-02T12:00:00Z', %s)", (eid, eid))
    conn.execute(FACT_STEP_SQL, (json.dumps(spec),))
    new = [r[0] for r in rows(conn, "SELECT event_id FROM tfact.fact_event WHERE event_id > 9 ORDER BY event_key")]
    assert new == [11, 12, 13]


# ------------------------------------------------------------------------------------------------
# 3. 10c69fa: sales.mv_customer_lifetime_value from sales.customer_metrics
# ------------------------------------------------------------------------------------------------

@pytest.fixture
def loaded(sales_only_loaded_template, conn):
    return conn


def assert_ltv_is_the_fact_definition(conn):
    got = rows(conn, LTV)
    want = rows(conn, LTV_FROM_FACTS)
    assert len(got) > 10
    diff = sorted(set(got) ^ set(want), key=lambda r: r[1])
    assert got == want, f"{len(diff)} differing rows, e.g. {diff[:4]}"


def restate_after_a_source_change(conn, change):
    """The source changes a sale of the latest day (change(sale_id, owner, other customer)); the run that
    carries it to silver stops before the facts, and the operator restates the day (dwh restate)."""
    day = scalar(conn, "SELECT max(date_key) FROM sales.fact_sales")
    # a sale whose customer has no other sale that day (else the restated rows queue the customer anyway)
    sale, owner = rows(conn, """
        SELECT min(f.sale_id), c.customer_id FROM sales.fact_sales AS f JOIN sales.dim_customer AS c USING (customer_key)
        WHERE f.date_key = %s GROUP BY c.customer_id HAVING count(*) = 1 ORDER BY 1 LIMIT 1""", (day,))[0]
    other = scalar(conn, "SELECT min(customer_id) FROM sales_src.customers WHERE customer_id <> %s", (owner,))
    change(sale, owner, other)
    conn.execute("CALL dwh_etl.run_pipeline(p_pipeline => 'daily', p_steps => ARRAY['sales_extract', 'sales_silver_sales'], "
                 "p_run_id => NULL)")
    d = dt.datetime.strptime(str(day), "%Y%m%d").date()
    conn.execute("CALL dwh_etl.restate(p_pipeline => 'daily', p_from => %s, p_to => %s, p_run_id => NULL)", (d, d))
    return sale, owner, other


def test_ltv_after_a_restatement_of_a_sale_moved_to_another_customer(loaded):
    """The restatement deletes the day's facts itself, so step_fact's queue of touched customers
    (dwh_staging.sales_affected_customers: the old values by a join with the fact rows, the new values
    from the staged rows) never gets the old owner's key; its metrics, and so the view, keep the sale.
    The fact-based view (before 10c69fa) was recomputed over the facts and was right."""
    conn = loaded
    sale, owner, other = restate_after_a_source_change(conn, lambda sale, owner, other: conn.execute(
        "UPDATE sales_src.sales SET customer_id = %s WHERE sale_id = %s", (other, sale)))
    assert scalar(conn, "SELECT c.customer_id FROM sales.fact_sales AS f JOIN sales.dim_customer AS c "
                        "USING (customer_key) WHERE f.sale_id = %s", (sale,)) == other
    assert_ltv_is_the_fact_definition(conn)


def test_ltv_after_a_restatement_of_a_deleted_sale(loaded):
    """Same for a sale deleted in the source: the restatement's DELETE removed its fact row, the staged
    row is flagged deleted (not live): nobody queues its customer."""
    conn = loaded
    sale, owner, other = restate_after_a_source_change(conn, lambda sale, owner, other: conn.execute(
        "DELETE FROM sales_src.sales WHERE sale_id = %s", (sale,)))
    assert scalar(conn, "SELECT count(*) FROM sales.fact_sales WHERE sale_id = %s", (sale,)) == 0
    assert_ltv_is_the_fact_definition(conn)


def test_ltv_after_retention_archives_old_fact_partitions(loaded):
    """Retention (setting retention.sales.fact_sales) detaches the old months of the facts: the fact-based
    view no longer counted them at its next refresh; the metrics are not told, so the view keeps them, until
    the customer's next sale makes them drop all at once."""
    conn = loaded
    lo, hi = rows(conn, "SELECT min(date_key), max(date_key) FROM sales.fact_sales")[0]
    lo_d = dt.datetime.strptime(str(lo), "%Y%m%d").date()
    hi_d = dt.datetime.strptime(str(hi), "%Y%m%d").date()
    mid = lo_d + (hi_d - lo_d) / 2
    horizon = (dt.date.today() - mid).days
    conn.execute("INSERT INTO dwh_etl.settings (key, value) VALUES ('retention.sales.fact_sales', %s) "
                 "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                 (f"{horizon} days",))
    conn.execute("CALL dwh_etl.op_retention(NULL, CURRENT_DATE)")
    assert scalar(conn, "SELECT min(date_key) FROM sales.fact_sales") > lo
    conn.execute("CALL dwh_etl.refresh_customer_ltv()")
    assert_ltv_is_the_fact_definition(conn)


def test_ltv_when_the_metrics_step_fails_is_stale_but_consistent(loaded):
    conn = loaded
    before = rows(conn, LTV)
    conn.execute("CALL sales_src.generate_next_day()")
    conn.execute("ALTER TABLE sales.customer_metrics ADD CONSTRAINT test_no_update "
                 "CHECK (refreshed_at < '2000-01-01') NOT VALID")
    with pytest.raises(psycopg.DatabaseError, match="failed at step sales_customer_metrics"):
        conn.execute(RUN_SQL)
    status = scalar(conn, "SELECT status FROM dwh_lineage.step_runs WHERE step_name = 'sales_customer_ltv' "
                          "ORDER BY run_id DESC LIMIT 1")
    assert status != "completed"
    assert rows(conn, LTV) == before
    conn.execute("ALTER TABLE sales.customer_metrics DROP CONSTRAINT test_no_update")
    conn.execute(RUN_SQL)
    assert_ltv_is_the_fact_definition(conn)


def test_ltv_after_a_renamed_customer_and_a_next_day_and_a_rebuild(loaded):
    conn = loaded
    renamed = scalar(conn, "SELECT max(customer_id) FROM sales.customer_metrics")
    conn.execute("UPDATE sales_src.customers SET first_name = 'Renamed', city = 'Elsewhere' WHERE customer_id = %s",
                 (renamed,))
    conn.execute("CALL sales_src.generate_next_day()")
    conn.execute(RUN_SQL)
    assert_ltv_is_the_fact_definition(conn)
    assert scalar(conn, "SELECT name FROM sales.mv_customer_lifetime_value WHERE customer_id = %s",
                  (renamed,)).startswith("Renamed ")
    conn.execute("CALL dwh_etl.rebuild(p_target => 'sales', p_run_id => NULL)")
    assert_ltv_is_the_fact_definition(conn)


def test_ltv_privileges_and_the_alias_as_etl_service(loaded):
    conn = loaded
    v = "sales.mv_customer_lifetime_value"
    assert rows(conn, f"SELECT has_table_privilege('analyst_role', '{v}', 'SELECT'), "
                      f"has_table_privilege('analyst_role', '{v}', 'INSERT')") == [(True, False)]
    # as before the migration: the same grants as the table it replaced had
    assert scalar(conn, "SELECT relacl::text FROM pg_class WHERE oid = %s::regclass", (v,)) is not None
    conn.execute("CALL sales_src.generate_next_day()")
    conn.execute("CALL dwh_etl.run_pipeline(p_pipeline => 'daily', p_steps => ARRAY['sales_extract', "
                 "'sales_silver_sales', 'sales_silver_customers', 'sales_dim_customer', 'sales_fact_sales'], p_run_id => NULL)")
    conn.execute("SET ROLE etl_service")
    try:
        conn.execute("CALL dwh_etl.refresh_customer_ltv()")
    finally:
        conn.execute("RESET ROLE")
    assert_ltv_is_the_fact_definition(conn)


def test_ltv_after_the_seed_004_refresh_called_from_a_non_utc_session(loaded):
    """A DBA runs seed 004's CALL sales.sp_refresh_customer_metrics() from psql in a session whose TimeZone
    is not UTC: the purchase dates are cut at that zone's midnight (min(transaction_at)::date). The view
    computed from those metrics then differs from its definition as the runner computes it (UTC), and
    stays so for every customer without a later change (the pipeline's step recomputes only queued ones).
    Before 10c69fa the view was always computed by the runner (TimeZone pinned to UTC)."""
    conn = loaded
    conn.execute("SET TimeZone = 'Pacific/Kiritimati'")
    conn.execute("CALL sales.sp_refresh_customer_metrics()")
    conn.execute("RESET TimeZone")
    conn.execute("CALL dwh_etl.refresh_customer_ltv()")
    conn.execute("SET TimeZone = 'UTC'")
    assert_ltv_is_the_fact_definition(conn)


def test_two_loads_of_one_table_at_once_get_disjoint_blocks_and_their_own_stamps(dsn, conn):
    import threading
    c1 = psycopg.connect(dsn, autocommit=False)
    c2 = psycopg.connect(dsn, autocommit=False)
    out = {}
    try:
        f1 = c1.execute("CALL dwh_etl.file_begin(p_target => 'bronze.sales_customers', p_file_name => 'one.csv', "
                        "p_force => true, p_file_id => NULL)").fetchone()[0]
        c2.execute("SELECT 1")  # its transaction (and now()) starts before the first load commits

        def second():
            out["id"] = c2.execute("CALL dwh_etl.file_begin(p_target => 'bronze.sales_customers', p_file_name => 'two.csv', "
                                   "p_force => true, p_file_id => NULL)").fetchone()[0]
            with c2.cursor().copy(f"COPY bronze.sales_customers_landing ({', '.join(CUSTOMER_COLS)}) FROM STDIN "
                                  "WITH (FORMAT csv, HEADER)") as cp:
                cp.write(customers_csv([11, 12]).encode())
            c2.execute("CALL dwh_etl.file_end()")
            c2.commit()

        t = threading.Thread(target=second)
        t.start()
        with c1.cursor().copy(f"COPY bronze.sales_customers_landing ({', '.join(CUSTOMER_COLS)}) FROM STDIN "
                              "WITH (FORMAT csv, HEADER)") as cp:
            cp.write(customers_csv([1, 2, 3]).encode())
        c1.execute("CALL dwh_etl.file_end()")
        c1.commit()
        t.join(60)
        assert not t.is_alive()
    finally:
        c1.close()
        c2.close()
    f2 = out["id"]
    r1 = id_range(conn, f"bronze.sales_customers_f{f1}", f1)
    r2 = id_range(conn, f"bronze.sales_customers_f{f2}", f2)
    assert r1[1] < r2[0]
    assert rows(conn, "SELECT status, rows_landed FROM dwh_etl.loaded_files ORDER BY file_id") == [("loaded", 3), ("loaded", 2)]
    assert scalar(conn, f"SELECT count(*) FROM bronze.sales_customers WHERE _bronze_id BETWEEN {r2[0]} AND {r2[1]}") == 2
    # each child carries its own transaction's start, as its checks say
    assert scalar(conn, "SELECT count(*) FROM dwh_etl.loaded_files AS f JOIN bronze.sales_customers AS b "
                        "ON b._batch_id = f.batch_id WHERE b._ingested_at = f.started_at") == 5


def test_silver_reads_a_late_sealed_load_once_its_seal_commits(dsn, conn):
    """psql without -1: file_begin and the copy committed; the seal's transaction opens, a silver run
    passes (its window must stop at that transaction's start), the seal commits, the next silver run
    reads the rows."""
    step = ("CALL dwh_etl.run_pipeline(p_pipeline => 'daily', p_steps => ARRAY['sales_silver_customers'], "
            "p_run_id => NULL)")
    c = psycopg.connect(dsn, autocommit=False)
    try:
        file_id = c.execute("CALL dwh_etl.file_begin(p_target => 'bronze.sales_customers', p_file_name => 'late.csv', "
                            "p_force => true, p_file_id => NULL)").fetchone()[0]
        with c.cursor().copy(f"COPY bronze.sales_customers_landing ({', '.join(CUSTOMER_COLS)}) FROM STDIN "
                             "WITH (FORMAT csv, HEADER)") as cp:
            cp.write(customers_csv([1, 2, 3]).encode())
        c.commit()
        c.execute("SELECT 1")          # the seal's transaction is open
        conn.execute(step)
        assert scalar(conn, "SELECT count(*) FROM silver.sales_customers") == 0
        c.execute("CALL dwh_etl.file_end(p_file_id => %s)", (file_id,))
        c.commit()
    finally:
        c.close()
    conn.execute(step)
    assert scalar(conn, "SELECT count(*) FROM silver.sales_customers") == 3
    conn.execute(step)
    assert scalar(conn, "SELECT count(*) FROM silver.sales_customers") == 3


def test_psql_without_one_transaction_a_cancelled_copy_then_the_copy_again(dsn, conn):
    """psql without -1: file_begin commits; the \\copy is cancelled mid-way (pg_cancel_backend), run again,
    then file_end: the rows of the second copy only, their lines right, the checks tight."""
    c = psycopg.connect(dsn, autocommit=True)
    try:
        file_id = c.execute("CALL dwh_etl.file_begin(p_target => 'bronze.sales_customers', p_file_name => 'cx.csv', "
                            "p_force => true, p_file_id => NULL)").fetchone()[0]
        pg = c.pgconn
        pg.send_query(f"COPY bronze.sales_customers_landing ({', '.join(CUSTOMER_COLS)}) FROM STDIN "
                      "WITH (FORMAT csv, HEADER)".encode())
        assert pg.get_result().status == psycopg.pq.ExecStatus.COPY_IN
        pg.put_copy_data(customers_csv([1, 2, 3, 4]).encode())
        pg.flush()
        import time
        time.sleep(0.5)
        conn.execute("SELECT pg_cancel_backend(%s)", (c.info.backend_pid,))
        time.sleep(0.5)
        pg.put_copy_end()
        res = pg.get_result()
        while pg.get_result() is not None:
            pass
        assert res.status == psycopg.pq.ExecStatus.FATAL_ERROR
        with c.cursor().copy(f"COPY bronze.sales_customers_landing ({', '.join(CUSTOMER_COLS)}) FROM STDIN "
                             "WITH (FORMAT csv, HEADER)") as cp:
            cp.write(customers_csv([5, 6]).encode())
        c.execute("CALL dwh_etl.file_end(p_file_id => %s)", (file_id,))
    finally:
        c.close()
    child = f"bronze.sales_customers_f{file_id}"
    assert rows(conn, "SELECT b.customer_id, l.line FROM bronze.sales_customers AS b "
                      "CROSS JOIN LATERAL dwh_etl.file_line(b._batch_id, b._bronze_id, b._source_line) AS l "
                      "ORDER BY b._bronze_id") == [("5", 2), ("6", 3)]
    lo, hi = id_range(conn, child, file_id)
    assert (lo, hi) == tuple(rows(conn, f"SELECT min(_bronze_id), max(_bronze_id) FROM {child}")[0]) or hi - lo < 10


def test_gzip_bom_crlf_on_stdin_then_jsonl_then_the_same_again(dsn, conn, tmp_path):
    import gzip
    data = gzip.compress("\ufeffcustomer_id,first_name\r\n1,Ann\r\n2,Bo\r\n".encode())
    out = json.loads(ok(dwh(dsn, "load", "bronze.sales_customers", "-", "--json", input=data)).stdout)
    assert out["rows_landed"] == 2
    j = tmp_path / "c.jsonl"
    j.write_text('{"customer_id": "3", "first_name": "Cy"}\n{"customer_id": "4", "first_name": "Di"}\n')
    out2 = json.loads(ok(dwh(dsn, "load", "bronze.sales_customers", j, "--json")).stdout)
    assert out2["rows_landed"] == 2
    assert rows(conn, "SELECT customer_id, first_name FROM bronze.sales_customers ORDER BY _bronze_id") == [
        ("1", "Ann"), ("2", "Bo"), ("3", "Cy"), ("4", "Di")]
    for res in (out, out2):
        child = f"bronze.sales_customers_f{res['file_id']}"
        assert len(child_checks(conn, child)) == 2
        assert scalar(conn, f"SELECT count(DISTINCT _ingested_at) FROM {child}") == 1
    assert ok(dwh(dsn, "load", "bronze.sales_customers", "-", input=data)).stdout.startswith("skipped")
    ok(dwh(dsn, "load", "bronze.sales_customers", "-", "--force", input=data))
    assert scalar(conn, "SELECT count(*) FROM bronze.sales_customers") == 6
    assert scalar(conn, "SELECT count(DISTINCT _bronze_id) FROM bronze.sales_customers") == 6
