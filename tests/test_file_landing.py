"""Issue 13, Performance: a file load lands in a table of its own (migration 0027). file_begin creates
bronze.<table>_landing (no index), the COPY writes there, file_end seals it into bronze.<table>_f<file id>,
an inheritance child of the bronze table with two CHECK constraints (its ingestion time, its id block) and
no index. These tests check the shape, that nothing of a load is visible before file_end commits, that a
failed load leaves nothing, that window reads over many loads return exactly the right rows (and skip the
other loads' children by constraint exclusion in one-shot plans),
and that quarantine and retry keep working on rows of children.

Uses the per-test `conn`/`dsn` fixtures of tests/conftest.py.
"""

from __future__ import annotations

import json
import os
import subprocess

import psycopg
import pytest
from psycopg import sql
from click.testing import CliRunner

from dwh_cli.cli import cli
from tests.conftest import has_tool, pg_tool

CUSTOMER_COLS = ["customer_id", "first_name", "last_name", "email", "phone", "city", "country",
                 "customer_segment", "signup_date", "created_at", "updated_at"]
TS = "2025-01-15 10:00:00+00"


def dwh(dsn, *args, input=None):
    return CliRunner().invoke(cli, ["--dsn", dsn, *map(str, args)], input=input)


def ok(res):
    assert res.exit_code == 0, f"exit {res.exit_code}\nstdout: {res.stdout}\nstderr: {res.stderr}\n{res.exception!r}"
    return res


def rows(conn, sql, params=None):
    return conn.execute(sql, params).fetchall()


def scalar(conn, sql, params=None):
    return conn.execute(sql, params).fetchone()[0]


def customer(i, name=None):
    return [str(i), f"First{i}" if name is None else name, f"Last{i}", f"c{i}@example.com", "", "Lyon", "FR", "Consumer",
            "2024-05-01", TS, TS]


def customers_csv(ids, name=None):
    return ",".join(CUSTOMER_COLS) + "\n" + "".join(",".join(customer(i, name)) + "\n" for i in ids)


def load_in_session(dsn, text, file_name, commit=True):
    """file_begin, COPY into the landing table, file_end in one transaction of a session of its own
    (the psql recipe, from Python); returns the connection (open) and the file id."""
    c = psycopg.connect(dsn, autocommit=False)
    file_id = c.execute("CALL dwh_etl.file_begin(p_target => 'bronze.sales_customers', p_file_name => %s, "
                        "p_force => true, p_file_id => NULL)", (file_name,)).fetchone()[0]
    with c.cursor().copy(f"COPY bronze.sales_customers_landing ({', '.join(CUSTOMER_COLS)}) FROM STDIN "
                         "WITH (FORMAT csv, HEADER)") as cp:
        cp.write(text.encode())
    c.execute("CALL dwh_etl.file_end()")
    if commit:
        c.commit()
    return c, file_id


def test_a_load_lands_in_a_sealed_child_with_checks_for_constraint_exclusion(dsn, conn, tmp_path):
    f = tmp_path / "customers.csv"
    f.write_text(customers_csv([1, 2, 3]))
    res = json.loads(ok(dwh(dsn, "load", "bronze.sales_customers", f, "--json")).stdout)
    child = f"bronze.sales_customers_f{res['file_id']}"
    assert rows(conn, "SELECT landed_in, rows_landed, first_bronze_id IS NOT NULL FROM dwh_etl.loaded_files") == [
        (child, 3, True)]
    assert scalar(conn, "SELECT inhparent::regclass::text FROM pg_inherits WHERE inhrelid = %s::regclass",
                  (child,)) == "bronze.sales_customers"
    # no index; two validated CHECKs: the load's one ingestion time and its block of ids
    assert scalar(conn, "SELECT count(*) FROM pg_index WHERE indrelid = %s::regclass", (child,)) == 0
    checks = dict(rows(conn, "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                             "WHERE conrelid = %s::regclass AND contype = 'c' AND convalidated", (child,)))
    assert set(checks) == {f"sales_customers_f{res['file_id']}_ingested", f"sales_customers_f{res['file_id']}_ids"}
    # the id check covers the block the load reserved (made with the empty landing table, before its size
    # was known; the COPY checked each row): the block stays the load's, ids of later rows are above it
    lo, hi = rows(conn, f"SELECT min(_bronze_id), max(_bronze_id) FROM {child}")[0]
    assert hi - lo == 2
    assert checks[f"sales_customers_f{res['file_id']}_ids"] == (
        f"CHECK (((_bronze_id >= {lo}) AND (_bronze_id <= '{lo + 2**32 - 1}'::bigint)))")
    assert checks[f"sales_customers_f{res['file_id']}_ingested"].startswith("CHECK ((_ingested_at = ")
    # the landing columns are constants of the load; ids consecutive; lines known; no landing table left
    assert rows(conn, f"""
        SELECT b.customer_id, b._batch_id::text = %s, b._source, b._source_line, l.line,
               b._ingested_at = (SELECT f.started_at FROM dwh_etl.loaded_files AS f)
        FROM bronze.sales_customers AS b
        CROSS JOIN LATERAL dwh_etl.file_line(b._batch_id, b._bronze_id, b._source_line) AS l
        ORDER BY b._bronze_id""", (res["batch_id"],)) == [
        ("1", True, "file:customers.csv", None, 2, True), ("2", True, "file:customers.csv", None, 3, True),
        ("3", True, "file:customers.csv", None, 4, True)]
    assert scalar(conn, "SELECT to_regclass('bronze.sales_customers_landing')") is None
    # read-only for etl_service, invisible to analysts; bronze ids stay unique and increasing
    assert rows(conn, f"SELECT has_table_privilege('etl_service', '{child}', 'SELECT'), "
                      f"has_table_privilege('etl_service', '{child}', 'INSERT'), "
                      f"has_table_privilege('analyst_role', '{child}', 'SELECT')") == [(True, False, False)]
    conn.execute("INSERT INTO bronze.sales_customers (customer_id, _batch_id, _source) "
                 "VALUES ('9', gen_random_uuid(), 'test')")
    assert scalar(conn, "SELECT max(_bronze_id) FROM ONLY bronze.sales_customers") == lo + 2**32


def test_rows_of_a_load_are_visible_only_after_file_end_commits(dsn, conn):
    c, file_id = load_in_session(dsn, customers_csv([1, 2]), "a.csv", commit=False)
    try:
        # file_end ran, not committed: other sessions see no child, no row, no landing table
        assert scalar(conn, "SELECT count(*) FROM bronze.sales_customers") == 0
        assert scalar(conn, "SELECT count(*) FROM pg_inherits WHERE inhparent = 'bronze.sales_customers'::regclass") == 0
        # readers are not blocked meanwhile (SELECT returned above); the commit publishes
        c.commit()
    finally:
        c.close()
    assert scalar(conn, "SELECT count(*) FROM bronze.sales_customers") == 2
    assert scalar(conn, "SELECT status FROM dwh_etl.loaded_files WHERE file_id = %s", (file_id,)) == "loaded"


def test_a_failed_load_leaves_nothing_and_the_file_loads_again(dsn, conn, tmp_path):
    # killed mid-COPY: the session dies with its transaction open (its COPY never ends)
    c = psycopg.connect(dsn, autocommit=False)
    c.execute("CALL dwh_etl.file_begin(p_target => 'bronze.sales_customers', p_file_name => 'k.csv', "
              "p_sha256 => %s, p_file_id => NULL)", ("a" * 64,))
    pg = c.pgconn
    pg.send_query(f"COPY bronze.sales_customers_landing ({', '.join(CUSTOMER_COLS)}) FROM STDIN "
                  "WITH (FORMAT csv)".encode())
    assert pg.get_result().status == psycopg.pq.ExecStatus.COPY_IN
    pg.put_copy_data(",".join(customer(1)).encode() + b"\n")
    pg.flush()
    conn.execute("SELECT pg_terminate_backend(%s, 10000)", (c.info.backend_pid,))
    c.pgconn.finish()  # the client's end: the copy is never finished
    assert scalar(conn, "SELECT count(*) FROM bronze.sales_customers") == 0
    assert scalar(conn, "SELECT count(*) FROM dwh_etl.loaded_files") == 0
    assert scalar(conn, "SELECT count(*) FROM pg_class WHERE relname ~ '^sales_customers_(landing|f[0-9])' "
                        "AND relnamespace = 'bronze'::regnamespace") == 0
    # a COPY error rolls everything back too, then the same file loads
    f = tmp_path / "c.csv"
    f.write_text(customers_csv([1, 2]))
    ok(dwh(dsn, "load", "bronze.sales_customers", f))
    assert scalar(conn, "SELECT count(*) FROM bronze.sales_customers") == 2


def test_a_recipe_that_did_not_run_in_one_transaction_is_recorded_failed_by_the_next_load(dsn, conn):
    c = psycopg.connect(dsn, autocommit=True)
    first = c.execute("CALL dwh_etl.file_begin(p_target => 'bronze.sales_customers', p_file_name => 'x.csv', "
                      "p_file_id => NULL)").fetchone()[0]
    with c.cursor().copy(f"COPY bronze.sales_customers_landing ({', '.join(CUSTOMER_COLS)}) FROM STDIN "
                         "WITH (FORMAT csv, HEADER)") as cp:
        cp.write(customers_csv([1]).encode())
    c.close()  # no file_end: its rows never became visible
    assert scalar(conn, "SELECT count(*) FROM bronze.sales_customers") == 0
    c2, second = load_in_session(dsn, customers_csv([2]), "y.csv")
    c2.close()
    assert rows(conn, "SELECT file_id, status, error LIKE 'abandoned:%%' FROM dwh_etl.loaded_files ORDER BY 1") == [
        (first, "failed", True), (second, "loaded", None)]
    assert rows(conn, "SELECT customer_id FROM bronze.sales_customers") == [("2",)]


def test_a_copy_into_the_bronze_table_itself_still_works(dsn, conn):
    c = psycopg.connect(dsn, autocommit=False)
    c.execute("CALL dwh_etl.file_begin(p_target => 'bronze.sales_customers', p_file_name => 'p.csv', p_file_id => NULL)")
    with c.cursor().copy(f"COPY bronze.sales_customers ({', '.join(CUSTOMER_COLS)}) FROM STDIN "
                         "WITH (FORMAT csv, HEADER)") as cp:
        cp.write(customers_csv([1, 2]).encode())
    c.execute("CALL dwh_etl.file_end()")
    c.commit()
    c.close()
    assert rows(conn, "SELECT landed_in, rows_landed FROM dwh_etl.loaded_files") == [(None, 2)]
    assert rows(conn, "SELECT b.customer_id, l.line, b.tableoid::regclass::text FROM bronze.sales_customers AS b "
                      "CROSS JOIN LATERAL dwh_etl.file_line(b._batch_id, b._bronze_id, b._source_line) AS l "
                      "ORDER BY 1") == [("1", 2, "bronze.sales_customers"), ("2", 3, "bronze.sales_customers")]
    assert scalar(conn, "SELECT count(*) FROM pg_inherits WHERE inhparent = 'bronze.sales_customers'::regclass") == 0


def test_many_loads_then_window_reads_return_exactly_their_rows(dsn, conn):
    """40 loads, interleaved with extracted rows in the table itself; every window [t_i, t_j) on
    _ingested_at returns exactly the rows ingested in it, in generic and custom plans; custom (one-shot) plans exclude the other loads'
    children by their CHECK constraints."""
    stamps = []
    for n in range(40):
        c, _ = load_in_session(dsn, customers_csv(range(n * 10, n * 10 + 10)), f"f{n}.csv")
        c.close()
        conn.execute("INSERT INTO bronze.sales_customers (customer_id, _batch_id, _source) "
                     "VALUES (%s, gen_random_uuid(), 'extract')", (f"x{n}",))
        stamps.append(scalar(conn, "SELECT max(_ingested_at) FROM bronze.sales_customers"))
    # 40 file-load children, and the month partition the first load made (attack 13c)
    assert children(conn) == 40
    assert scalar(conn, "SELECT count(*) FROM pg_inherits WHERE inhparent = 'bronze.sales_customers'::regclass") == 41
    conn.execute("ANALYZE bronze.sales_customers")
    conn.execute("SET plan_cache_mode = force_generic_plan")
    conn.execute("PREPARE w(timestamptz, timestamptz) AS SELECT b.customer_id FROM bronze.sales_customers AS b "
                 "WHERE b._ingested_at >= $1 AND b._ingested_at < $2")
    for lo, hi in [(0, 1), (5, 9), (0, 39), (38, 39)]:
        got = sorted(r[0] for r in rows(conn, sql.SQL("EXECUTE w({}, {})").format(stamps[lo], stamps[hi])))
        want = sorted([str(i) for n in range(lo + 1, hi + 1) for i in range(n * 10, n * 10 + 10)]
                      + [f"x{n}" for n in range(lo, hi)])  # stamps[n] is the time of extracted row x<n>
        assert got == want, (lo, hi)
    # the engine reads windows in one-shot plans (EXECUTE ... USING: the bounds are constants): the
    # plan names only the children whose CHECK admits the window (constraint exclusion); a generic plan
    # (above) reads them all and still returns exactly the window
    plan = "\n".join(r[0] for r in rows(conn, sql.SQL(
        "EXPLAIN (COSTS OFF) SELECT b.customer_id FROM bronze.sales_customers AS b "
        "WHERE b._ingested_at >= {} AND b._ingested_at < {}").format(stamps[5], stamps[6])))
    assert plan.count("on sales_customers_f") == 1, plan
    plan = "\n".join(r[0] for r in rows(conn, sql.SQL(
        "EXPLAIN (COSTS OFF) SELECT b.customer_id FROM bronze.sales_customers AS b "
        "WHERE b._ingested_at >= {} AND b._ingested_at < {}").format(stamps[0], stamps[39])))
    assert plan.count("on sales_customers_f") == 39, plan


def test_rows_carrying_their_own_ids_are_refused_with_a_clear_error(dsn, conn):
    """A \\copy that lists _bronze_id with ids of its own is stopped by the COPY itself: the landing
    table's check on the load's block of ids names the column and the load's child."""
    c = psycopg.connect(dsn, autocommit=False)
    try:
        file_id = c.execute("CALL dwh_etl.file_begin(p_target => 'bronze.sales_customers', p_file_name => 'ids.csv', "
                            "p_force => true, p_file_id => NULL)").fetchone()[0]
        with pytest.raises(psycopg.errors.CheckViolation, match=f"sales_customers_f{file_id}_ids"):
            with c.cursor().copy("COPY bronze.sales_customers_landing (_bronze_id, " + ", ".join(CUSTOMER_COLS)
                                 + ") FROM STDIN WITH (FORMAT csv)") as cp:
                cp.write(("-5," + ",".join(customer(1)) + "\n").encode())
    finally:
        c.rollback()
        c.close()
    assert scalar(conn, "SELECT count(*) FROM bronze.sales_customers") == 0


def test_a_seal_in_a_later_transaction_stamps_the_rows_with_it(dsn, conn):
    """file_begin and the copy committed, file_end in a transaction of its own: the rows become visible at
    that commit, so they carry its start as _ingested_at (not file_begin's), the checks are made again
    over them (the id check tight), ids given back, and lines, batch and exclusion are as usual."""
    c = psycopg.connect(dsn, autocommit=False)
    try:
        file_id = c.execute("CALL dwh_etl.file_begin(p_target => 'bronze.sales_customers', p_file_name => 'late.csv', "
                            "p_force => true, p_file_id => NULL)").fetchone()[0]
        with c.cursor().copy(f"COPY bronze.sales_customers_landing ({', '.join(CUSTOMER_COLS)}) FROM STDIN "
                             "WITH (FORMAT csv)") as cp:
            cp.write(customers_csv([1, 2]).split("\n", 1)[1].encode())
        c.commit()
        sealed_at = c.execute("SELECT now()").fetchone()[0]
        c.execute("CALL dwh_etl.file_end(p_file_id => %s)", (file_id,))
        c.commit()
    finally:
        c.close()
    child = f"bronze.sales_customers_f{file_id}"
    assert rows(conn, f"SELECT DISTINCT _ingested_at = %s, _ingested_at > f.started_at FROM {child} "
                      "CROSS JOIN dwh_etl.loaded_files AS f WHERE f.file_id = %s", (sealed_at, file_id)) == [(True, True)]
    lo, hi = rows(conn, f"SELECT min(_bronze_id), max(_bronze_id) FROM {child}")[0]
    checks = dict(rows(conn, "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                             "WHERE conrelid = %s::regclass AND contype = 'c' AND convalidated", (child,)))
    assert checks[f"sales_customers_f{file_id}_ids"] == f"CHECK (((_bronze_id >= {lo}) AND (_bronze_id <= {hi})))"
    assert rows(conn, f"SELECT b.customer_id, l.line FROM bronze.sales_customers AS b "
                      "CROSS JOIN LATERAL dwh_etl.file_line(b._batch_id, b._bronze_id, b._source_line) AS l "
                      "ORDER BY b._bronze_id") == [("1", 2), ("2", 3)]  # file_begin said: a header line
    conn.execute("INSERT INTO bronze.sales_customers (customer_id, _batch_id, _source) VALUES ('9', gen_random_uuid(), 'test')")
    assert scalar(conn, "SELECT max(_bronze_id) FROM ONLY bronze.sales_customers") == hi + 1


def test_bad_values_of_a_child_are_quarantined_with_their_line_and_retried(dsn, conn, tmp_path):
    conn.execute("UPDATE dwh_etl.steps SET is_enabled = false WHERE area NOT IN ('sales', 'engine')")
    conn.execute("UPDATE dwh_etl.quality_rules SET is_enabled = false WHERE area IS DISTINCT FROM 'sales'")
    f = tmp_path / "customers.csv"
    f.write_text(customers_csv([1, 2]) + ",".join(customer(3, name="")) + "\n")
    ok(dwh(dsn, "load", "bronze.sales_customers", f))
    ok(dwh(dsn, "run", "daily"))
    assert rows(conn, "SELECT record_key, reasons FROM dwh_etl.quarantine WHERE resolved_at IS NULL") == [
        ("3", ["file customers.csv line 4: first_name is empty"])]
    assert scalar(conn, "SELECT count(*) FROM silver.sales_customers") == 2
    # retry replays the row into the bronze table itself (children are read-only), for the next run
    ok(dwh(dsn, "quarantine", "retry", "--no-run"))
    assert rows(conn, "SELECT customer_id, tableoid::regclass::text FROM bronze.sales_customers "
                      "WHERE _source LIKE 'quarantine retry%%'") == [("3", "bronze.sales_customers")]


@pytest.mark.skipif(not has_tool("psql"), reason="psql not installed")
def test_psql_recipe_into_the_landing_table(dsn, conn, tmp_path):
    f = tmp_path / "c.csv"
    f.write_text(customers_csv([1, 2]))
    script = tmp_path / "recipe.sql"
    script.write_text(f"""
CALL dwh_etl.file_begin(p_target => 'bronze.sales_customers', p_file_name => 'c.csv');
\\copy bronze.sales_customers_landing ({', '.join(CUSTOMER_COLS)}) FROM '{f}' WITH (FORMAT csv, HEADER)
CALL dwh_etl.file_end();
""")
    env = {**os.environ, "PGTZ": "Pacific/Auckland", "PGDATESTYLE": "SQL, DMY"}
    res = subprocess.run([pg_tool("psql"), "-X", "-v", "ON_ERROR_STOP=1", "-1", "-d", dsn, "-f", str(script)],
                         capture_output=True, text=True, env=env)
    assert res.returncode == 0, res.stderr
    assert "file 1: 2 row(s) of c.csv landed in bronze.sales_customers" in res.stderr
    assert rows(conn, "SELECT b.customer_id, l.line, b._ingested_at = f.started_at "
                      "FROM bronze.sales_customers AS b JOIN dwh_etl.loaded_files AS f ON f.batch_id = b._batch_id "
                      "CROSS JOIN LATERAL dwh_etl.file_line(b._batch_id, b._bronze_id, b._source_line) AS l "
                      "ORDER BY 1") == [("1", 2, True), ("2", 3, True)]


def children(conn):
    """File-load children (bronze.<t>_f<file id>); month partitions (_pYYYYMM) are not counted."""
    return scalar(conn, "SELECT count(*) FROM pg_inherits WHERE inhparent = 'bronze.sales_customers'::regclass "
                        "AND inhrelid::regclass::text ~ '_f[0-9]+$'")


def snapshot(conn):
    return rows(conn, """
        SELECT b._bronze_id, b.customer_id, b.first_name, b._batch_id, b._ingested_at, b._source, b._source_line, l.line
        FROM bronze.sales_customers AS b
        CROSS JOIN LATERAL dwh_etl.file_line(b._batch_id, b._bronze_id, b._source_line) AS l
        ORDER BY b._bronze_id""")


def test_compaction_folds_old_loads_into_the_table_with_the_same_rows_ids_and_lines(dsn, conn, tmp_path):
    for n in range(3):
        c, _ = load_in_session(dsn, customers_csv(range(n * 5, n * 5 + 5)), f"f{n}.csv")
        c.close()
    # the parsing path (rows carry _source_line) folds too
    f = tmp_path / "quoted.csv"
    f.write_text(",".join(CUSTOMER_COLS) + "\n" + ",".join(customer(100, name='"Multi\nline"')) + "\n")
    ok(dwh(dsn, "load", "bronze.sales_customers", f))
    assert children(conn) == 4
    before = snapshot(conn)
    assert len(before) == 16 and any(r[6] is not None for r in before)
    # younger than bronze.compact_after (default 1 day): left alone
    conn.execute("CALL dwh_etl.op_compact_bronze(NULL, CURRENT_DATE)")
    assert children(conn) == 4
    # the first two loads are old: folded, the others stay children; readers see the same rows
    conn.execute("UPDATE dwh_etl.loaded_files SET loaded_at = loaded_at - interval '2 days' "
                 "WHERE file_name IN ('f0.csv', 'f1.csv')")
    conn.execute("CALL dwh_etl.op_compact_bronze(NULL, CURRENT_DATE)")
    assert children(conn) == 2
    assert snapshot(conn) == before
    # folded into the month partition of their ingestion time (bronze is partitioned by ingestion time)
    month = scalar(conn, "SELECT 'bronze.sales_customers_p' || to_char(now() AT TIME ZONE 'UTC', 'YYYYMM')")
    assert scalar(conn, f"SELECT count(*) FROM ONLY {month}") == 10
    assert scalar(conn, "SELECT count(*) FROM ONLY bronze.sales_customers") == 0
    assert rows(conn, "SELECT file_name, landed_in IS NULL FROM dwh_etl.loaded_files ORDER BY file_id") == [
        ("f0.csv", True), ("f1.csv", True), ("f2.csv", False), ("quoted.csv", False)]
    assert scalar(conn, "SELECT rows_inserted FROM dwh_lineage.table_lineage "
                        "WHERE target_table = 'bronze.sales_customers' AND notes LIKE 'compaction: 2 file load(s)%%'") == 10
    # compact_after 0: everything folds; a rerun has nothing to do; the same file is still known as loaded
    conn.execute("INSERT INTO dwh_etl.settings (key, value) VALUES ('bronze.compact_after', '0 seconds') "
                 "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value")
    conn.execute("CALL dwh_etl.op_compact_bronze(NULL, CURRENT_DATE)")
    conn.execute("CALL dwh_etl.op_compact_bronze(NULL, CURRENT_DATE)")
    assert children(conn) == 0
    assert snapshot(conn) == before
    res = dwh(dsn, "load", "bronze.sales_customers", f)
    assert res.exit_code != 0 or "skipped" in res.stdout + res.stderr, res.stdout + res.stderr
    assert scalar(conn, "SELECT count(*) FROM bronze.sales_customers") == 16


def test_compaction_skips_a_table_held_by_a_load_and_refuses_a_bad_setting(dsn, conn):
    c, _ = load_in_session(dsn, customers_csv([1, 2]), "old.csv")
    c.close()
    conn.execute("UPDATE dwh_etl.loaded_files SET loaded_at = loaded_at - interval '2 days'")
    holder = psycopg.connect(dsn, autocommit=False)
    try:
        holder.execute("LOCK TABLE ONLY bronze.sales_customers IN SHARE ROW EXCLUSIVE MODE")
        conn.execute("SET lock_timeout = '200ms'")
        warnings = []
        conn.add_notice_handler(lambda d: warnings.append(d.message_primary))
        conn.execute("CALL dwh_etl.op_compact_bronze(NULL, CURRENT_DATE)")
        assert any("not folded" in w for w in warnings), warnings
        assert children(conn) == 1
    finally:
        holder.close()
    conn.execute("RESET lock_timeout")
    conn.execute("CALL dwh_etl.op_compact_bronze(NULL, CURRENT_DATE)")
    assert children(conn) == 0
    conn.execute("INSERT INTO dwh_etl.settings (key, value) VALUES ('bronze.compact_after', 'soon') "
                 "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value")
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="bronze.compact_after"):
        conn.execute("CALL dwh_etl.op_compact_bronze(NULL, CURRENT_DATE)")


def test_compaction_is_refused_to_analysts_and_moves_nothing_for_a_load_without_child(dsn, conn):
    c, file_id = load_in_session(dsn, customers_csv([1]), "one.csv")
    c.close()
    assert rows(conn, "SELECT has_function_privilege('analyst_role', 'dwh_etl.sec_compact_file_load(bigint)', 'EXECUTE')") == [(False,)]
    assert scalar(conn, "SELECT dwh_etl.sec_compact_file_load(%s)", (file_id,)) == 1
    assert scalar(conn, "SELECT dwh_etl.sec_compact_file_load(%s)", (file_id,)) is None
    with pytest.raises(psycopg.errors.NoDataFound):
        conn.execute("SELECT dwh_etl.sec_compact_file_load(-1)")
