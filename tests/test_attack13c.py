"""Attack 13c: the maintenance pipeline and bronze's file-load children under concurrency, cancels and
hostile arguments. `dwh load` lands each file in an inheritance child of its bronze table; the
maintenance step compact_bronze (dwh_etl.op_compact_bronze) folds old children into the table's month
partitions (INSERT the rows, DROP the child, one transaction) while `dwh run daily` reads bronze windows.
Expected: every row that reached bronze is read by silver exactly once, a step that fails or is killed
leaves things as they were, a rerun is safe, and the SECURITY DEFINER routines refuse what is not theirs.

Defects found (each test failed before its fix):
- a silver load that waited for a running compaction read the folded load's rows nowhere: a PL/pgSQL
  statement takes its snapshot before it locks what it reads, so after the compaction's commit the
  child was gone and its rows in the month partition were newer than the snapshot; the watermark passed
  them, no later run read them (50 of 50 sales of a file never reached silver nor the fact);
- etl_service could call dwh_etl.sec_seal_bronze_months on a load's landing table: it planted a month
  partition under it, which became a child of the load's child, and every later compaction failed
  ("cannot drop table bronze.sales_sales_f1 because other objects depend on it"), for every table;
- retention of partitioned facts read "today" in the caller's TimeZone (CURRENT_DATE) in
  op_retention and sec_archive_partition: by hand in a session at UTC+14 (or UTC-12) it archived a
  partition a day earlier (later) than the runner, pinned to UTC, would.
"""

from __future__ import annotations

import datetime as dt
import threading
import time

import psycopg
import pytest

from conftest import RUN_DAILY_SQL
from test_attack12 import attack12_sales_template, csv_text, ok, rows, sale, scalar, wait_for, write  # noqa: F401
from test_load_files import SALES_COLS, dwh


@pytest.fixture
def sales(attack12_sales_template, conn):
    """Sales area only, customers 1-3 and products 1-2 loaded by a first daily; no sale yet."""
    return conn


def _compact_after(conn, value="0 seconds"):
    conn.execute("INSERT INTO dwh_etl.settings (key, value) VALUES ('bronze.compact_after', %s) "
                 "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value", (value,))


def _lock_waiting(conn, pid):
    return scalar(conn, "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = %s", (pid,))


def _sales_file(tmp_path, name, ids, quantity="2"):
    data = csv_text(SALES_COLS, [sale(i, customer=1 + i % 3, product=1 + i % 2, quantity=quantity) for i in ids])
    return write(tmp_path / name, data)


def _children(conn, table="bronze.sales_sales"):
    return scalar(conn, "SELECT count(*) FROM pg_inherits WHERE inhparent = %s::regclass "
                        "AND inhrelid::regclass::text ~ '_f[0-9]+$'", (table,))


def _fact(conn):
    return rows(conn, "SELECT sale_id, quantity, unit_price FROM sales.fact_sales ORDER BY sale_id")


def _lines(conn):
    """Each bronze sale with its file line (dwh_etl.file_line), as quarantine would name it."""
    return rows(conn, """SELECT b.sale_id, b._batch_id, l.line
                         FROM bronze.sales_sales AS b
                         CROSS JOIN LATERAL dwh_etl.file_line(b._batch_id, b._bronze_id, b._source_line) AS l
                         ORDER BY b._bronze_id""")


def _registry_matches_bronze(conn):
    """Every 'loaded' file's rows are in bronze under its batch (in its child while landed_in names one),
    and bronze holds no file batch the registry does not know as loaded."""
    per_file = rows(conn, """SELECT f.file_id, f.rows_landed, f.landed_in,
                                    (SELECT count(*) FROM bronze.sales_sales AS b WHERE b._batch_id = f.batch_id)
                             FROM dwh_etl.loaded_files AS f
                             WHERE f.target_table = 'bronze.sales_sales' AND f.status = 'loaded'""")
    for file_id, landed, landed_in, in_bronze in per_file:
        assert landed == in_bronze, (file_id, landed, in_bronze)
        if landed_in is not None:
            assert scalar(conn, f"SELECT count(*) FROM ONLY {landed_in}") == landed
    assert scalar(conn, """SELECT count(*) FROM bronze.sales_sales AS b
                           WHERE b._source LIKE 'file:%%'
                             AND NOT EXISTS (SELECT 1 FROM dwh_etl.loaded_files AS f
                                             WHERE f.batch_id = b._batch_id AND f.status = 'loaded')""") == 0


# ===================================================================================================
# 1. daily reading bronze while compaction folds a child
# ===================================================================================================
def test_a_daily_that_waits_for_a_compaction_reads_the_folded_load_exactly_once(sales, dsn, tmp_path):
    """DEFECT (fixed): `dwh run daily`'s silver load of sales waits for a compaction folding the file's
    child (the step's window opens after the compaction began); when the compaction commits, silver must
    read the file's 50 rows (now in the month partition) once: before the fix it read none and moved its
    watermark past them."""
    conn = sales
    ok(dwh(dsn, "load", "bronze.sales_sales", _sales_file(tmp_path, "s.csv", range(1, 51))))
    before = _lines(conn)
    _compact_after(conn)
    # hold the silver load at its step lock (window_bounds) until the compaction holds the child
    dba = psycopg.connect(dsn, autocommit=False)
    dba.execute("SELECT pg_advisory_xact_lock(hashtextextended('dwh_etl.step:silver.sales_sales', 0))")
    runner = psycopg.connect(dsn, autocommit=True)
    pid, errors = runner.info.backend_pid, []

    def run():
        try:
            runner.execute(RUN_DAILY_SQL)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    comp = None
    try:
        wait_for(lambda: _lock_waiting(conn, pid), timeout=60)
        comp = psycopg.connect(dsn, autocommit=False)
        comp.execute("SET lock_timeout = '10s'")
        comp.execute("CALL dwh_etl.op_compact_bronze(NULL, CURRENT_DATE)")   # folded, not committed
        dba.commit()
        time.sleep(0.3)
        wait_for(lambda: _lock_waiting(conn, pid), timeout=30)              # the silver load waits for it
        comp.commit()
    finally:
        if comp is not None:
            comp.close()
        dba.close()
        thread.join(120)
        runner.close()
    assert not errors, errors
    assert _children(conn) == 0
    assert _lines(conn) == before
    expected = [(i, 2, 10) for i in range(1, 51)]
    assert scalar(conn, "SELECT count(*) FROM silver.sales_sales") == 50
    assert _fact(conn) == expected
    # a rerun of maintenance and of daily changes nothing; the same file is still a duplicate
    conn.execute("CALL dwh_etl.op_compact_bronze(NULL, CURRENT_DATE)")
    conn.execute(RUN_DAILY_SQL)
    assert _fact(conn) == expected
    res = ok(dwh(dsn, "load", "bronze.sales_sales", tmp_path / "s.csv"))
    assert res.stdout.startswith("skipped: s.csv was already loaded"), res.stdout
    _registry_matches_bronze(conn)


def test_a_compaction_killed_midway_changes_nothing_and_its_rerun_folds(sales, dsn, tmp_path):
    """Held: a reader holds both children; the compaction of the first waits for its DROP (its rows already
    in the month partition, uncommitted) and is cancelled (pg_cancel_backend): the cancel ends the
    compaction (session 12: it was a warning and the compaction went on with the next load; a
    statement_timeout still is); a second compaction waits likewise and its backend is terminated
    (pg_terminate_backend): both children, the registry and bronze are as before, lines are found; the
    next compaction folds both, `daily` reads each row once, a file loaded again is still a duplicate."""
    conn = sales
    ok(dwh(dsn, "load", "bronze.sales_sales", _sales_file(tmp_path, "a.csv", range(1, 21))))
    ok(dwh(dsn, "load", "bronze.sales_sales", _sales_file(tmp_path, "b.csv", range(21, 31))))
    before = _lines(conn)
    _compact_after(conn)
    reader = psycopg.connect(dsn, autocommit=False)
    reader.execute("SELECT count(*) FROM bronze.sales_sales")          # holds every child

    def attempt(stop):
        comp = psycopg.connect(dsn, autocommit=True)
        pid, errors, warnings = comp.info.backend_pid, [], []
        comp.add_notice_handler(lambda d: warnings.append(d.message_primary))

        def compact():
            try:
                comp.execute("CALL dwh_etl.op_compact_bronze(NULL, CURRENT_DATE)")
            except Exception as exc:  # noqa: BLE001
                errors.append(exc)

        thread = threading.Thread(target=compact)
        thread.start()
        try:
            wait_for(lambda: _lock_waiting(conn, pid), timeout=30)
            assert scalar(conn, f"SELECT {stop}(%s)", (pid,))
            thread.join(30)
        finally:
            comp.close()
        return errors, warnings

    try:
        errors, warnings = attempt("pg_cancel_backend")
        assert errors and isinstance(errors[0], psycopg.errors.QueryCanceled), (errors, warnings)
        assert not any("not folded" in w for w in warnings), warnings
        assert _children(conn) == 2
        errors, warnings = attempt("pg_terminate_backend")
        assert errors and isinstance(errors[0], psycopg.OperationalError), errors
    finally:
        reader.close()
    assert _children(conn) == 2
    assert _lines(conn) == before
    assert rows(conn, "SELECT file_name, status, landed_in IS NOT NULL FROM dwh_etl.loaded_files ORDER BY file_id") == [
        ("a.csv", "loaded", True), ("b.csv", "loaded", True)]
    _registry_matches_bronze(conn)
    # a statement_timeout is still a warning: that load is left for the next run, the next one folded
    reader = psycopg.connect(dsn, autocommit=False)
    reader.execute("SELECT count(*) FROM %s" % scalar(conn, "SELECT landed_in FROM dwh_etl.loaded_files ORDER BY file_id LIMIT 1"))
    try:
        warnings = []
        conn.add_notice_handler(lambda d: warnings.append(d.message_primary))
        conn.execute("SET statement_timeout = '1s'")
        conn.execute("CALL dwh_etl.op_compact_bronze(NULL, CURRENT_DATE)")
        conn.execute("RESET statement_timeout")
        assert any("not folded" in w for w in warnings), warnings
        assert _children(conn) == 1
    finally:
        reader.close()
    conn.execute("CALL dwh_etl.op_compact_bronze(NULL, CURRENT_DATE)")
    assert _children(conn) == 0
    assert _lines(conn) == before
    _registry_matches_bronze(conn)
    conn.execute(RUN_DAILY_SQL)
    conn.execute("CALL dwh_etl.op_compact_bronze(NULL, CURRENT_DATE)")
    conn.execute(RUN_DAILY_SQL)
    assert _fact(conn) == [(i, 2, 10) for i in range(1, 31)]
    assert ok(dwh(dsn, "load", "bronze.sales_sales", tmp_path / "b.csv")).stdout.startswith("skipped: ")


def test_a_query_that_waits_for_a_compaction_sees_the_folded_rows(sales, dsn, tmp_path):
    """DEFECT (fixed): the first compaction of a month created the month partition in its own
    transaction; a plain query on the table (psql, a report) planned while the compaction held the child
    and run after its commit saw neither the dropped child nor the new partition: 0 of 40 rows. The load
    now makes its month partition (committed with it)."""
    conn = sales
    ok(dwh(dsn, "load", "bronze.sales_sales", _sales_file(tmp_path, "s.csv", range(1, 41))))
    _compact_after(conn)
    comp = psycopg.connect(dsn, autocommit=False)
    comp.execute("CALL dwh_etl.op_compact_bronze(NULL, CURRENT_DATE)")
    reader = psycopg.connect(dsn, autocommit=True)
    pid, counts = reader.info.backend_pid, []
    thread = threading.Thread(target=lambda: counts.append(
        reader.execute("SELECT count(*), count(DISTINCT _bronze_id) FROM bronze.sales_sales").fetchone()))
    thread.start()
    try:
        wait_for(lambda: _lock_waiting(conn, pid), timeout=30)
        comp.commit()
        thread.join(30)
    finally:
        comp.close()
        reader.close()
    assert counts == [(40, 40)]
    assert _children(conn) == 0


def test_the_same_file_twice_forced_a_rolled_back_load_then_compaction(sales, dsn, tmp_path):
    """Held: a file, the same file again (skipped), forced (a second batch of the same rows), a load rolled
    back after its COPY (the psql recipe, ROLLBACK): compaction folds the two loads, the rolled-back one
    left nothing; the registry matches bronze; silver reads each bronze row once (the fact has each sale
    once); after compaction the duplicate is still detected and --force still loads."""
    conn = sales
    f = _sales_file(tmp_path, "s.csv", range(1, 11))
    ok(dwh(dsn, "load", "bronze.sales_sales", f))
    assert ok(dwh(dsn, "load", "bronze.sales_sales", f)).stdout.startswith("skipped: ")
    ok(dwh(dsn, "load", "bronze.sales_sales", f, "--force"))
    rb = psycopg.connect(dsn, autocommit=False)
    rb.execute("CALL dwh_etl.file_begin(p_target => 'bronze.sales_sales', p_file_name => 'rb.csv', p_file_id => NULL)")
    with rb.cursor().copy(f"COPY bronze.sales_sales_landing ({', '.join(SALES_COLS)}) FROM STDIN WITH (FORMAT csv)") as cp:
        cp.write("".join(",".join(sale(i)) + "\n" for i in range(100, 110)).encode())
    rb.execute("CALL dwh_etl.file_end()")
    rb.rollback()
    rb.close()
    assert scalar(conn, "SELECT count(*) FROM bronze.sales_sales") == 20
    conn.execute(RUN_DAILY_SQL)        # reads the two children
    _compact_after(conn)
    conn.execute("CALL dwh_etl.op_compact_bronze(NULL, CURRENT_DATE)")
    assert _children(conn) == 0
    _registry_matches_bronze(conn)
    assert rows(conn, "SELECT file_name, status FROM dwh_etl.loaded_files ORDER BY file_id") == [
        ("s.csv", "loaded"), ("s.csv", "skipped"), ("s.csv", "loaded")]
    conn.execute(RUN_DAILY_SQL)        # reads nothing again
    assert _fact(conn) == [(i, 2, 10) for i in range(1, 11)]
    assert scalar(conn, "SELECT count(*) FROM bronze.sales_sales") == 20
    assert ok(dwh(dsn, "load", "bronze.sales_sales", f)).stdout.startswith("skipped: ")
    ok(dwh(dsn, "load", "bronze.sales_sales", f, "--force"))
    assert scalar(conn, "SELECT count(*) FROM bronze.sales_sales") == 30
    assert [r[2] for r in _lines(conn)] == list(range(2, 12)) * 3


# ===================================================================================================
# 2. the SECURITY DEFINER routines of maintenance, called by etl_service / analyst_role
# ===================================================================================================
def test_etl_service_cannot_seal_a_landing_table_and_a_child_under_a_load_does_not_stop_compaction(sales, dsn):
    """DEFECT (fixed): etl_service's dwh_etl.sec_seal_bronze_months on the landing table of a load in
    progress (psql recipe without -1) planted bronze.sales_sales_landing_pYYYYMM under it; after file_end
    it was a child of the load's child, and every compaction failed on its DROP. Now refused, nothing made;
    and a table made to inherit from a child by other means leaves that load unfolded with a warning, the
    other loads are folded, the step does not fail."""
    conn = sales
    etl = psycopg.connect(dsn, autocommit=True)
    etl.execute("SET ROLE etl_service")
    etl.execute("CALL dwh_etl.file_begin(p_target => 'bronze.sales_sales', p_file_name => 'x.csv', p_file_id => NULL)")
    tables_before = scalar(conn, "SELECT count(*) FROM pg_class WHERE relnamespace = 'bronze'::regnamespace")
    for target in ("bronze.sales_sales_landing", "pg_catalog.pg_class", "sales.fact_sales", "bronze.cdc_events"):
        with pytest.raises(psycopg.errors.InvalidParameterValue, match="is not a bronze table"):
            etl.execute("SELECT dwh_etl.sec_seal_bronze_months(%s)", (target,))
    assert scalar(conn, "SELECT count(*) FROM pg_class WHERE relnamespace = 'bronze'::regnamespace") == tables_before
    with etl.cursor().copy(f"COPY bronze.sales_sales_landing ({', '.join(SALES_COLS)}) FROM STDIN WITH (FORMAT csv)") as cp:
        cp.write(",".join(sale(1)).encode() + b"\n")
    etl.execute("CALL dwh_etl.file_end()")
    etl.execute("CALL dwh_etl.file_begin(p_target => 'bronze.sales_sales', p_file_name => 'y.csv', p_file_id => NULL)")
    with etl.cursor().copy(f"COPY bronze.sales_sales_landing ({', '.join(SALES_COLS)}) FROM STDIN WITH (FORMAT csv)") as cp:
        cp.write(",".join(sale(2)).encode() + b"\n")
    etl.execute("CALL dwh_etl.file_end()")
    etl.close()
    # the owner (or a migration gone wrong) makes a table inherit from the first load's child
    first = scalar(conn, "SELECT landed_in FROM dwh_etl.loaded_files WHERE file_name = 'x.csv'")
    conn.execute(f"CREATE TABLE bronze.planted () INHERITS ({first})")
    _compact_after(conn)
    warnings = []
    conn.add_notice_handler(lambda d: warnings.append(d.message_primary))
    conn.execute("CALL dwh_etl.op_compact_bronze(NULL, CURRENT_DATE)")
    assert any("not folded" in w and "depend" in w for w in warnings), warnings
    assert rows(conn, "SELECT file_name, landed_in IS NULL FROM dwh_etl.loaded_files ORDER BY file_id") == [
        ("x.csv", False), ("y.csv", True)]
    assert scalar(conn, "SELECT count(*) FROM bronze.sales_sales") == 2
    _registry_matches_bronze(conn)


def test_hostile_arguments_to_the_maintenance_definers_are_refused_and_change_nothing(sales, dsn, tmp_path):
    """Held: etl_service pointing a load's landed_in at a month partition (sec_compact_file_load would
    copy it into itself and drop it) is refused by the partition's unique ids, nothing dropped; the purge,
    vacuum, analyze, archive and index routines refuse system catalogs, other schemas and names that
    try injection; analyst_role may call none of them."""
    conn = sales
    ok(dwh(dsn, "load", "bronze.sales_sales", _sales_file(tmp_path, "s.csv", range(1, 11))))
    _compact_after(conn)
    conn.execute("CALL dwh_etl.op_compact_bronze(NULL, CURRENT_DATE)")
    ok(dwh(dsn, "load", "bronze.sales_sales", _sales_file(tmp_path, "t.csv", range(11, 14))))
    part = scalar(conn, "SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = 'bronze.sales_sales'::regclass "
                        "AND inhrelid::regclass::text ~ '_p[0-9]{6}$'")
    etl = psycopg.connect(dsn, autocommit=True)
    etl.execute("SET ROLE etl_service")
    # etl_service may no longer point landed_in anywhere (migration 0065, tests/test_attack13d.py); the
    # definer's own refusal is still checked, with the entry rewritten by the owner
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="finished load is final"):
        etl.execute("UPDATE dwh_etl.loaded_files SET landed_in = %s WHERE file_name = 't.csv'", (part,))
    conn.execute("UPDATE dwh_etl.loaded_files SET landed_in = %s WHERE file_name = 't.csv'", (part,))
    file_id = scalar(conn, "SELECT file_id FROM dwh_etl.loaded_files WHERE file_name = 't.csv'")
    with pytest.raises(psycopg.errors.UniqueViolation):
        etl.execute("SELECT dwh_etl.sec_compact_file_load(%s)", (file_id,))
    assert scalar(conn, "SELECT to_regclass(%s) IS NOT NULL", (part,))
    assert scalar(conn, "SELECT count(*) FROM bronze.sales_sales") == 13
    hostile = [
        ("SELECT dwh_etl.sec_purge_bronze('pg_catalog.pg_class', now())", psycopg.errors.InvalidParameterValue),
        ("SELECT dwh_etl.sec_purge_bronze('sales.fact_sales', now())", psycopg.errors.InvalidParameterValue),
        ("SELECT dwh_etl.sec_purge_bronze(%s, now())", psycopg.errors.InvalidParameterValue),
        ("SELECT dwh_etl.sec_seal_bronze_months(%s)", psycopg.errors.InvalidParameterValue),
        ("SELECT dwh_etl.sec_archive_partition('pg_catalog.pg_class', CURRENT_DATE + 100000)", psycopg.errors.InsufficientPrivilege),
        ("SELECT dwh_etl.sec_archive_partition(%s, CURRENT_DATE + 100000)", psycopg.errors.InsufficientPrivilege),
        ("SELECT dwh_etl.sec_purge_bronze('bronze.sales_sales; DROP TABLE bronze.sales_sales', now())", psycopg.errors.InvalidName),
        ("SELECT dwh_etl.sec_vacuum('bronze.sales_sales', 'FULL; DROP TABLE bronze.sales_sales')", psycopg.Error),
        ("SELECT dwh_etl.sec_vacuum('pg_catalog.pg_authid', 'table')", psycopg.Error),
        ("SELECT dwh_etl.sec_analyze('pg_catalog.pg_authid')", psycopg.Error),
        ("SELECT dwh_etl.sec_index_density('pg_catalog.pg_authid_rolname_index')", psycopg.Error),
    ]
    for sql, err in hostile:
        params = (part,) if "%s" in sql else None
        with pytest.raises(err):
            etl.execute(sql, params)
    assert scalar(conn, "SELECT count(*) FROM bronze.sales_sales") == 13
    assert scalar(conn, "SELECT to_regclass(%s) IS NOT NULL", (part,))
    analyst = psycopg.connect(dsn, autocommit=True)
    analyst.execute("SET ROLE analyst_role")
    for fn in ("sec_compact_file_load(1)", "sec_seal_bronze_months('bronze.sales_sales')",
               f"sec_purge_bronze('bronze.sales_sales', now())", "sec_vacuum('bronze.sales_sales', 'table')"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            analyst.execute(f"SELECT dwh_etl.{fn}")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        analyst.execute("CALL dwh_etl.op_compact_bronze(NULL, CURRENT_DATE)")
    etl.close()
    analyst.close()


# ===================================================================================================
# 3. retention and the session's time zone
# ===================================================================================================
def test_retention_of_fact_partitions_does_not_depend_on_the_session_time_zone(sales, dsn):
    """DEFECT (fixed): op_retention and sec_archive_partition took "today" from CURRENT_DATE, the date in
    the caller's TimeZone. With a horizon that puts the 2020-01 partition's end exactly at the UTC cutoff
    (or a day past it): before 12:00 UTC a session at UTC-12 (yesterday there) running op_retention for
    today (UTC) kept it (a day behind the runner); from 10:00 UTC etl_service in a session at UTC+14
    (tomorrow there) archived it a day early through sec_archive_partition, whose guard is that day."""
    conn = sales
    now_utc = scalar(conn, "SELECT now() AT TIME ZONE 'UTC'")
    today = now_utc.date()
    conn.execute("SELECT dwh_etl.ensure_partitions('sales.fact_sales', DATE '2020-01-01', DATE '2020-03-01', 0)")
    bound = dt.date(2020, 2, 1)  # the upper bound of the 2020-01 partition
    part = scalar(conn, """SELECT c.oid::regclass::text FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid
                           WHERE i.inhparent = 'sales.fact_sales'::regclass
                             AND pg_get_expr(c.relpartbound, c.oid) LIKE '%%TO (20200201)'""")
    assert part, "no partition of 2020-01"

    def horizon(days):
        conn.execute("UPDATE dwh_etl.settings SET value = %s WHERE key = 'retention.sales.fact_sales'", (f"{days} days",))

    checked = 0
    if now_utc.hour < 12:
        # UTC cutoff = the bound: the runner archives it; so must a session a day behind
        horizon((today - bound).days)
        conn.execute("SET TimeZone = 'Etc/GMT+12'")
        conn.execute("CALL dwh_etl.op_retention(NULL, (now() AT TIME ZONE 'UTC')::date)")
        conn.execute("RESET TimeZone")
        assert scalar(conn, "SELECT count(*) FROM dwh_etl.archived_partitions WHERE partition_name = %s", (part,)) == 1
        conn.execute(f"ALTER TABLE archive.{part.split('.')[1]} SET SCHEMA sales")
        conn.execute(f"ALTER TABLE sales.fact_sales ATTACH PARTITION {part} FOR VALUES FROM (20200101) TO (20200201)")
        checked += 1
    if now_utc.hour >= 10:
        # UTC cutoff = the bound - 1 day: not entirely older, refused whatever the caller's zone
        horizon((today - bound).days + 1)
        etl = psycopg.connect(dsn, autocommit=True)
        etl.execute("SET ROLE etl_service")
        etl.execute("SET TimeZone = 'Etc/GMT-14'")
        with pytest.raises(psycopg.errors.InvalidParameterValue, match="not entirely older"):
            etl.execute("SELECT * FROM dwh_etl.sec_archive_partition(%s, DATE '9999-12-31')", (part,))
        etl.close()
        assert scalar(conn, "SELECT to_regclass(%s) IS NOT NULL", (part,))
        checked += 1
    assert checked
