"""Attack 13d: the database roles. etl_service runs pipelines (pg_cron, `dwh run`, `dwh load`); it must not
rewrite the warehouse's bookkeeping or history at will. analyst_role reads gold and the star schemas.

Grants closed (each test below marked CLOSED failed before migration 0065 / the seed004 view revoke):
- etl_service deleted or rewrote the run history: DELETE of a recent pipeline run (its steps, lineage
  and quality results went with it), of step_runs, table_lineage, quality_metrics; UPDATE of a failed run
  to 'completed' with its error erased, of a finished step or lineage row;
- etl_service deleted quarantined rows, and entries of dwh_etl.loaded_files; it rewrote a finished
  load's sha256 or status (the same content then loaded again without --force) and its landed_in
  (pointing it at another load's child: the compaction folded and dropped that one), and inserted a
  forged 'loaded' entry;
- etl_service rewrote dwh_etl.archived_partitions (where archived data went), quality results,
  statement_stats, table_dependencies and the registered column lineage;
- etl_service wrote sales_src.sales (the source, read-only to it) through the view sales.sales, whose
  privileges the default privileges of schema sales granted and which is checked against its owner.

Held (already refused, kept so): TRUNCATE anywhere, CREATE in any schema, the registry, bronze (also
through the sales.mrr_* views), analyst_role reading anything below gold; and the engine still does its
job as etl_service under the new triggers (file load, quarantine of a line, purge of old history, a
retry's note on a finished run).
"""

from __future__ import annotations

import psycopg
import pytest
from psycopg import errors

from conftest import cloned_database

CUSTOMER_COLS = ["customer_id", "first_name", "last_name", "email", "phone", "city", "country",
                 "customer_segment", "signup_date", "created_at", "updated_at"]
TS = "2025-01-15 10:00:00+00"
SHA_A = "a" * 64
SHA_B = "b" * 64


def rows(conn, sql, params=None):
    return conn.execute(sql, params).fetchall()


def scalar(conn, sql, params=None):
    return conn.execute(sql, params).fetchone()[0]


def customers_csv(ids):
    lines = [",".join(CUSTOMER_COLS)] + [
        ",".join([str(i), f"First{i}", f"Last{i}", f"c{i}@example.com", "", "Lyon", "FR", "Consumer",
                  "2024-05-01", TS, TS]) for i in ids]
    return "\n".join(lines) + "\n"


def load_as_etl(etl, name, ids, sha, reject=False):
    """The psql recipe (file_begin, COPY into the landing table, file_end) in one transaction, as etl_service."""
    with etl.transaction():
        file_id = scalar(etl, "CALL dwh_etl.file_begin(p_target => 'bronze.sales_customers', p_file_name => %s, "
                              "p_sha256 => %s, p_file_id => NULL)", (name, sha))
        with etl.cursor().copy(f"COPY bronze.sales_customers_landing ({', '.join(CUSTOMER_COLS)}) FROM STDIN "
                               "WITH (FORMAT csv, HEADER)") as cp:
            cp.write(customers_csv(ids).encode())
        if reject:
            etl.execute("SELECT dwh_etl.file_reject(%s, ARRAY[9]::bigint[], ARRAY['too many fields'], ARRAY['9,x,y'])",
                        (file_id,))
        etl.execute("CALL dwh_etl.file_end()")
    return file_id


@pytest.fixture(scope="module")
def wh(postgresql_proc):
    """One database: two customer files loaded by etl_service (the second with a quarantined line), the
    sales `daily` run by etl_service, a failed run of today and one of 200 days ago (written by the owner).
    Yields (owner connection, etl_service connection, facts)."""
    with cloned_database(postgresql_proc, postgresql_proc.template_dbname, "a13d") as conn:
        conn.execute("UPDATE dwh_etl.steps SET is_enabled = false WHERE area NOT IN ('sales', 'engine')")
        conn.execute("UPDATE dwh_etl.quality_rules SET is_enabled = false WHERE area IS DISTINCT FROM 'sales'")
        info = conn.info
        etl = psycopg.connect(host=info.host, port=info.port, user=info.user, dbname=info.dbname,
                              password=info.password, autocommit=True)
        etl.execute("SET ROLE etl_service")
        facts = {"file1": load_as_etl(etl, "c1.csv", [1, 2, 3], SHA_A),
                 "file2": load_as_etl(etl, "c2.csv", [4, 5], SHA_B, reject=True)}
        facts["daily"] = scalar(etl, "CALL dwh_etl.run_pipeline(p_pipeline => 'daily', p_run_id => NULL)")
        for key, age in (("failed", "0 days"), ("old", "200 days")):
            facts[key] = scalar(conn, """
                INSERT INTO dwh_lineage.pipeline_runs (pipeline_name, started_at, completed_at, status, error_message)
                VALUES ('daily', now() - %(age)s::interval, now() - %(age)s::interval, 'failed', 'step x failed: boom')
                RETURNING run_id""", {"age": age})
            conn.execute("""INSERT INTO dwh_lineage.step_runs (run_id, step_name, procedure_name, step_order, status, error_message)
                            VALUES (%s, 'x', 'dwh_etl.x', 1, 'failed', 'boom')""", (facts[key],))
            conn.execute("""INSERT INTO dwh_lineage.table_lineage (run_id, batch_id, step_name, source_table, target_table, operation)
                            VALUES (%s, gen_random_uuid(), 'x', 'silver.sales_sales', 'sales.fact_sales', 'transform')""", (facts[key],))
        try:
            yield conn, etl, facts
        finally:
            etl.close()


def refused(etl, sql, params=None, match=None):
    """The statement fails with insufficient_privilege (a revoked privilege or a guard trigger)."""
    with pytest.raises(errors.InsufficientPrivilege, match=match):
        etl.execute(sql, params)


# ===================================================================================================
# the engine still works as etl_service
# ===================================================================================================
def test_the_engine_loads_files_and_runs_daily_as_etl_service(wh):
    conn, _, facts = wh
    got = rows(conn, "SELECT file_id, status, rows_landed, rows_rejected, landed_in IS NOT NULL, sha256 "
                     "FROM dwh_etl.loaded_files ORDER BY file_id")
    assert got == [(facts["file1"], "loaded", 3, 0, True, SHA_A), (facts["file2"], "loaded", 2, 1, True, SHA_B)]
    assert scalar(conn, "SELECT count(*) FROM dwh_etl.quarantine WHERE source_table = 'dwh_etl.file_reject'") == 1
    assert scalar(conn, "SELECT status FROM dwh_lineage.pipeline_runs WHERE run_id = %s", (facts["daily"],)) == "completed"
    assert scalar(conn, "SELECT count(*) FROM dwh_lineage.step_runs WHERE run_id = %s AND status <> 'completed'",
                  (facts["daily"],)) == 0
    assert scalar(conn, "SELECT count(*) FROM silver.sales_customers") == 5


def test_purge_history_as_etl_service_deletes_old_runs_only(wh):
    conn, etl, facts = wh
    etl.execute("BEGIN")
    try:
        etl.execute("CALL dwh_etl.op_purge_history(NULL, CURRENT_DATE)")
        left = {r[0] for r in rows(etl, "SELECT run_id FROM dwh_lineage.pipeline_runs")}
    finally:
        etl.execute("ROLLBACK")
    assert facts["old"] not in left and {facts["failed"], facts["daily"]} <= left


def test_a_retry_may_note_itself_on_a_finished_run(wh):
    _, etl, facts = wh
    etl.execute("BEGIN")
    try:
        etl.execute("UPDATE dwh_lineage.pipeline_runs SET parameters = parameters || '{\"retry_of\": 1}' WHERE run_id = %s",
                    (facts["daily"],))
    finally:
        etl.execute("ROLLBACK")


# ===================================================================================================
# CLOSED: the run history
# ===================================================================================================
def test_closed_etl_service_cannot_delete_a_recent_run(wh):
    conn, etl, facts = wh
    for run in (facts["failed"], facts["daily"]):
        refused(etl, "DELETE FROM dwh_lineage.pipeline_runs WHERE run_id = %s", (run,), match="history.keep")
    assert scalar(conn, "SELECT count(*) FROM dwh_lineage.step_runs WHERE run_id = %s", (facts["failed"],)) == 1


@pytest.mark.parametrize("table", ["dwh_lineage.step_runs", "dwh_lineage.table_lineage", "dwh_lineage.quality_metrics",
                                   "dwh_lineage.statement_stats", "dwh_lineage.table_dependencies",
                                   "dwh_lineage.column_lineage"])
def test_closed_etl_service_cannot_delete_lineage_rows(wh, table):
    conn, etl, _ = wh
    before = scalar(conn, f"SELECT count(*) FROM {table}")
    refused(etl, f"DELETE FROM {table}")
    assert scalar(conn, f"SELECT count(*) FROM {table}") == before


def test_closed_etl_service_cannot_rewrite_a_failed_run(wh):
    conn, etl, facts = wh
    refused(etl, "UPDATE dwh_lineage.pipeline_runs SET status = 'completed', error_message = NULL WHERE run_id = %s",
            (facts["failed"],), match="finished run is final")
    refused(etl, "UPDATE dwh_lineage.pipeline_runs SET metrics = '{}' WHERE run_id = %s", (facts["daily"],),
            match="finished run is final")
    refused(etl, "UPDATE dwh_lineage.step_runs SET status = 'completed', error_message = NULL WHERE run_id = %s",
            (facts["failed"],), match="finished run is final")
    refused(etl, "UPDATE dwh_lineage.table_lineage SET rows_inserted = 0 WHERE run_id = %s", (facts["daily"],),
            match="finished run is final")
    assert rows(conn, "SELECT status, error_message FROM dwh_lineage.pipeline_runs WHERE run_id = %s",
                (facts["failed"],)) == [("failed", "step x failed: boom")]


@pytest.mark.parametrize("statement", [
    "UPDATE dwh_lineage.quality_metrics SET passed = true",
    "UPDATE dwh_lineage.statement_stats SET calls = 0",
    "UPDATE dwh_lineage.table_dependencies SET upstream_table = upstream_table",
    "INSERT INTO dwh_lineage.column_lineage (target_table, target_column, source_table, source_column) "
    "VALUES ('sales.fact_sales', 'x', 'sales_src.sales', 'y')",
    "UPDATE dwh_lineage.column_lineage SET transformation = 'x'",
    "UPDATE dwh_etl.archived_partitions SET archived_at = now()",
    "DELETE FROM dwh_etl.archived_partitions",
])
def test_closed_etl_service_cannot_rewrite_results_and_archives(wh, statement):
    _, etl, _ = wh
    refused(etl, statement)


# ===================================================================================================
# CLOSED: quarantine and the file-load registry
# ===================================================================================================
def test_closed_etl_service_cannot_delete_quarantined_rows(wh):
    conn, etl, _ = wh
    refused(etl, "DELETE FROM dwh_etl.quarantine")
    assert scalar(conn, "SELECT count(*) FROM dwh_etl.quarantine") >= 1


def test_closed_etl_service_cannot_delete_a_file_load_entry(wh):
    conn, etl, facts = wh
    refused(etl, "DELETE FROM dwh_etl.loaded_files WHERE file_id = %s", (facts["file1"],))
    assert scalar(conn, "SELECT count(*) FROM dwh_etl.loaded_files") == 2


@pytest.mark.parametrize("assignment", ["sha256 = 'c' || substr(sha256, 2)", "status = 'failed'", "is_forced = true",
                                        "rows_landed = 0", "batch_id = gen_random_uuid()"])
def test_closed_etl_service_cannot_rewrite_a_finished_load(wh, assignment):
    conn, etl, facts = wh
    refused(etl, f"UPDATE dwh_etl.loaded_files SET {assignment} WHERE file_id = %s", (facts["file1"],),
            match="finished load is final")


def test_closed_etl_service_cannot_point_landed_in_at_another_load(wh):
    conn, etl, facts = wh
    other = scalar(conn, "SELECT landed_in FROM dwh_etl.loaded_files WHERE file_id = %s", (facts["file2"],))
    refused(etl, "UPDATE dwh_etl.loaded_files SET landed_in = %s WHERE file_id = %s", (other, facts["file1"]))
    # nor through a forged entry the compaction would then fold (and drop the other load's child with)
    refused(etl, """INSERT INTO dwh_etl.loaded_files (target_table, file_name, source, format, sha256, batch_id,
                                                      status, rows_landed, landed_in)
                    VALUES ('bronze.sales_customers', 'forged.csv', 'file:forged.csv', 'csv', %s, gen_random_uuid(),
                            'loaded', 2, %s)""", ("d" * 64, other), match="file_begin")
    # nor by leaving a load in progress and pointing it there
    etl.execute("BEGIN")
    try:
        file_id = scalar(etl, "CALL dwh_etl.file_begin(p_target => 'bronze.sales_customers', p_file_name => 'c3.csv', "
                              "p_file_id => NULL)")
        refused(etl, "UPDATE dwh_etl.loaded_files SET landed_in = %s WHERE file_id = %s", (other, file_id),
                match="identity")
    finally:
        etl.execute("ROLLBACK")
    assert scalar(conn, "SELECT landed_in FROM dwh_etl.loaded_files WHERE file_id = %s", (facts["file2"],)) == other


def test_closed_a_load_is_marked_loaded_only_once_sealed(wh):
    _, etl, _ = wh
    etl.execute("BEGIN")
    try:
        file_id = scalar(etl, "CALL dwh_etl.file_begin(p_target => 'bronze.sales_customers', p_file_name => 'c4.csv', "
                              "p_file_id => NULL)")
        refused(etl, "UPDATE dwh_etl.loaded_files SET status = 'loaded', sha256 = %s WHERE file_id = %s",
                ("e" * 64, file_id), match="not sealed")
    finally:
        etl.execute("ROLLBACK")


def test_closed_the_same_content_is_still_refused_after_an_attempt_to_unregister_it(wh, tmp_path):
    """The reviewer's case end to end: with the entry gone or its sha256 changed, the content loads twice."""
    conn, etl, _ = wh
    for sql in ("DELETE FROM dwh_etl.loaded_files WHERE sha256 = %s",
                "UPDATE dwh_etl.loaded_files SET sha256 = 'f' || substr(sha256, 2) WHERE sha256 = %s"):
        refused(etl, sql, (SHA_A,))
    with pytest.raises(psycopg.Error, match="already loaded|same content"):
        load_as_etl(etl, "c1-again.csv", [1, 2, 3], SHA_A)
    assert scalar(conn, "SELECT count(*) FROM dwh_etl.loaded_files WHERE sha256 = %s", (SHA_A,)) == 1


# ===================================================================================================
# CLOSED: the source through a view
# ===================================================================================================
def test_closed_etl_service_cannot_write_the_source_through_sales_sales(wh):
    conn, etl, _ = wh
    before = rows(conn, "SELECT * FROM sales_src.sales ORDER BY sale_id")
    refused(etl, "UPDATE sales.sales SET quantity = quantity + 1")
    refused(etl, "DELETE FROM sales.sales")
    refused(etl, "UPDATE sales_src.sales SET quantity = quantity + 1")
    assert rows(conn, "SELECT * FROM sales_src.sales ORDER BY sale_id") == before


# ===================================================================================================
# HELD: what was refused already
# ===================================================================================================
def test_held_etl_service_truncates_nothing_and_creates_nowhere(wh):
    conn, etl, _ = wh
    assert rows(conn, """
        SELECT c.oid::regclass::text FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p', 'v', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
          AND has_table_privilege('etl_service', c.oid, 'TRUNCATE')""") == []
    assert rows(conn, """SELECT nspname FROM pg_namespace WHERE has_schema_privilege('etl_service', oid, 'CREATE')""") == []
    for table in ("dwh_lineage.pipeline_runs", "dwh_etl.loaded_files", "dwh_etl.quarantine", "bronze.sales_customers",
                  "silver.sales_customers", "sales.fact_sales"):
        refused(etl, f"TRUNCATE {table}")
    refused(etl, "CREATE TABLE dwh_etl.evil (x int)")


@pytest.mark.parametrize("statement", [
    "UPDATE dwh_etl.quality_rules SET is_enabled = false",
    "UPDATE dwh_etl.steps SET is_enabled = false",
    "UPDATE dwh_etl.settings SET value = '1 day' WHERE key = 'history.keep'",
    "DELETE FROM bronze.sales_customers",
    "UPDATE bronze.sales_customers SET first_name = 'x'",
    "DELETE FROM sales.mrr_dim_customers",
    "UPDATE sales.mrr_dim_customers SET first_name = 'x'",
])
def test_held_etl_service_cannot_turn_checks_off_or_touch_bronze(wh, statement):
    _, etl, _ = wh
    refused(etl, statement)


def test_held_analyst_reads_gold_and_the_star_schemas_only(wh):
    conn, _, _ = wh
    readable = [r[0] for r in rows(conn, """
        SELECT n.nspname FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND has_table_privilege('analyst_role', c.oid, 'SELECT')
          AND n.nspname NOT IN ('pg_catalog', 'information_schema')
        GROUP BY 1 ORDER BY 1""")]
    assert set(readable) <= {"gold", "sales", "devflow", "agents", "citizen"}, readable
    assert rows(conn, """SELECT c.oid::regclass::text FROM pg_class AS c
                         WHERE c.relnamespace::regnamespace::text IN ('gold', 'sales', 'devflow', 'agents', 'citizen')
                           AND (has_table_privilege('analyst_role', c.oid, 'INSERT') OR has_table_privilege('analyst_role', c.oid, 'UPDATE')
                                OR has_table_privilege('analyst_role', c.oid, 'DELETE'))""") == []
    conn.execute("SET ROLE analyst_role")
    try:
        assert scalar(conn, "SELECT count(*) FROM gold.dim_date") > 0
        for table in ("bronze.sales_customers", "silver.sales_customers", "dwh_etl.quarantine",
                      "dwh_lineage.pipeline_runs", "sales_src.customers", "sales.mrr_dim_customers", "sales.sales"):
            with pytest.raises(errors.InsufficientPrivilege):
                conn.execute(f"SELECT 1 FROM {table} LIMIT 1")
    finally:
        conn.execute("RESET ROLE")


# ===================================================================================================
# watermarks (migration 0066)
# ===================================================================================================
@pytest.mark.parametrize("statement", [
    "CALL dwh_etl.set_watermark('silver.sales_customers', '_ingested_at', now() + interval '1 day')",
    "UPDATE dwh_etl.watermarks SET watermark_value = now() + interval '1 day' WHERE table_name = 'silver.sales_customers'",
    "DELETE FROM dwh_etl.watermarks WHERE table_name = 'silver.sales_customers'",
    "INSERT INTO dwh_etl.watermarks (table_name, watermark_column, watermark_value) VALUES ('x.y', 'z', now())",
])
def test_closed_etl_service_moves_no_watermark_outside_a_run(wh, statement):
    """CLOSED (medium): etl_service moved silver.sales_customers' watermark a day ahead from a session of its
    own; the next run skipped every row behind it, for good, with nothing recording that they were never
    loaded (or deleted it: everything loaded again). Now refused outside a run of its session."""
    conn, etl, _ = wh
    before = rows(conn, "SELECT table_name, watermark_value FROM dwh_etl.watermarks ORDER BY 1")
    refused(etl, statement, match="moves watermarks only inside a pipeline run")
    assert rows(conn, "SELECT table_name, watermark_value FROM dwh_etl.watermarks ORDER BY 1") == before


def test_etl_service_moves_watermarks_inside_its_runs(wh):
    """Held: the runs of the fixture (daily as etl_service) moved the watermarks; a DBA's manual run as
    etl_service (seed 002's start_pipeline, recorded) may set one; the owner may set one anywhere."""
    conn, etl, facts = wh
    assert scalar(conn, "SELECT count(*) FROM dwh_etl.watermarks WHERE table_name = 'silver.sales_customers' "
                        "AND watermark_value > now() - interval '1 hour'") == 1
    etl.execute("BEGIN")
    try:
        etl.execute("SELECT dwh_lineage.start_pipeline('manual')")
        etl.execute("CALL dwh_etl.set_watermark('silver.sales_customers', '_ingested_at', now())")
    finally:
        etl.execute("ROLLBACK")
    conn.execute("BEGIN")
    try:
        conn.execute("CALL dwh_etl.set_watermark('silver.sales_customers', '_ingested_at', now())")
    finally:
        conn.execute("ROLLBACK")
