"""Attack 9b: the warehouse's operations, as a demanding DBA, analyst or operator would use them: runs
cancelled, terminated or refused in the middle, concurrent runs and rebuilds, roles trying to do more
than they may, odd client settings and odd arguments on the CLI.

Expected everywhere: a clear error (never a traceback), no partial or silently changed data, the truth in
`dwh status` and dwh_lineage, a rerun that completes and equals an uninterrupted run, no escalation.
A test whose docstring says DEFECT exposed one (fixed unless marked xfail); the others are regression tests.
"""

from __future__ import annotations

import json
import threading
import time

import psycopg
import pytest
from click.testing import CliRunner

from conftest import RUN_DAILY_SQL, cloned_database
from dwh_cli.cli import cli


def dwh(dsn, *args, env=None):
    return CliRunner().invoke(cli, ["--dsn", dsn, *map(str, args)], env=env)


def rows(conn, sql, params=None):
    return conn.execute(sql, params).fetchall()


def scalar(conn, sql, params=None):
    return conn.execute(sql, params).fetchone()[0]


def lock_is_free(dsn, pipeline) -> bool:
    with psycopg.connect(dsn, autocommit=True) as other:
        got = scalar(other, "SELECT pg_try_advisory_lock(dwh_etl._run_lock_key(%s))", (pipeline,))
        other.execute("SELECT pg_advisory_unlock_all()")
        return got


def start(dsn, sql, role="etl_service"):
    """Run `sql` in a thread on a connection of its own (as `role`); returns (thread, box)."""
    box = {}

    def go():
        with psycopg.connect(dsn, autocommit=True) as c:
            box["pid"] = c.info.backend_pid
            if role:
                c.execute(f"SET ROLE {role}")
            try:
                box["result"] = c.execute(sql).fetchone()
            except psycopg.Error as exc:
                box["error"] = exc
            try:
                box["advisory_locks_after"] = scalar(
                    c, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()")
            except psycopg.Error:
                pass

    t = threading.Thread(target=go)
    t.start()
    return t, box


def wait_for(conn, sql, params=None, timeout=60):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        row = conn.execute(sql, params).fetchone()
        if row and row[0]:
            return row[0]
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for: {sql}")


# ---------------------------------------------------------------------------------------------
# A cancel that lands between two steps
# ---------------------------------------------------------------------------------------------

@pytest.fixture
def two_naps(conn):
    """Pipeline nap: steps a then b, each sleeping 2 s (public.step_nap, executable by etl_service)."""
    conn.execute("""
        CREATE PROCEDURE public.step_nap(p_run_id bigint, p_run_date date) LANGUAGE plpgsql AS $$
        BEGIN PERFORM pg_sleep(2); END $$""")
    conn.execute("GRANT EXECUTE ON PROCEDURE public.step_nap(bigint, date) TO etl_service")
    conn.execute("CALL dwh_etl.register_pipeline(p_pipeline => 'nap', p_description => 'test', p_schedules => '{}')")
    conn.execute("""CALL dwh_etl.register_steps(p_pipeline => 'nap', p_area => 'test', p_steps => '[
                      {"step": "a", "procedure": "public.step_nap", "layer": "bronze"},
                      {"step": "b", "procedure": "public.step_nap", "layer": "bronze", "depends_on": ["a"]}]')""")
    return conn


def test_a_cancel_between_two_steps_is_recorded_and_frees_the_pipeline(two_naps, dsn):
    """Was a DEFECT (medium; fixed: dwh_etl._begin_step catches it, run_steps ends the run): a cancel
    (`dwh cancel`, pg_cancel_backend, Ctrl-C, statement_timeout) that reaches the runner between two steps
    (in dwh_etl._step_unchanged, whose lineage reads are most of a no-op run, or in the INSERT of the
    next step's row while a lock is held on the run tables) escaped dwh_etl.run_steps: the run stayed
    'running' with no step running, the session kept the pipeline's run lock (the next `dwh run` of
    another session got DW002), `dwh cancel` reported the run still 'running', and `dwh status` later
    called it a stale run whose session died. Expected: as for a cancel inside a step, the run recorded
    'cancelled' with the step it stopped at, the lock released, 57014 raised. Also (low; fixed in
    status_view.py): `dwh status` said a pipeline whose last run was cancelled "failed its last run"."""
    conn = two_naps
    t, box = start(dsn, "CALL dwh_etl.run_pipeline(p_pipeline => 'nap', p_run_id => NULL)")
    run_id = wait_for(conn, """SELECT r.run_id FROM dwh_lineage.pipeline_runs AS r JOIN dwh_lineage.step_runs AS s
                               USING (run_id) WHERE r.pipeline_name = 'nap' AND s.step_name = 'a' AND s.status = 'running'""")
    # a DBA holds dwh_etl.steps: when step a commits, the runner waits for it before step b
    dba = psycopg.connect(dsn)
    try:
        dba.execute("SET lock_timeout = '20s'")
        dba.execute("LOCK TABLE dwh_etl.steps IN ACCESS EXCLUSIVE MODE")
        wait_for(conn, """SELECT true FROM pg_stat_activity WHERE pid = %s AND wait_event_type = 'Lock'""", (box["pid"],))
        assert rows(conn, "SELECT step_name, status FROM dwh_lineage.step_runs WHERE run_id = %s", (run_id,)) == \
            [("a", "completed")]
        res = dwh(dsn, "cancel", run_id, "--json", "--wait", "10")
    finally:
        dba.rollback()
        dba.close()
    t.join(timeout=30)
    assert res.exit_code == 0, res.output
    [doc] = json.loads(res.stdout)
    assert doc["cancelled"] is True and doc["status"] == "cancelled", doc
    assert isinstance(box.get("error"), psycopg.errors.QueryCanceled), box
    assert box["advisory_locks_after"] == 0
    assert rows(conn, "SELECT step_name, status FROM dwh_lineage.step_runs WHERE run_id = %s ORDER BY step_order",
                (run_id,)) == [("a", "completed"), ("b", "cancelled")]
    status, message = rows(conn, "SELECT status, error_message FROM dwh_lineage.pipeline_runs WHERE run_id = %s",
                           (run_id,))[0]
    assert status == "cancelled" and "cancelled at step b" in message
    assert lock_is_free(dsn, "nap")
    first = dwh(dsn, "status").stdout.splitlines()[0]
    assert "stale run" not in first and "pipeline nap had its last run cancelled (run" in first, first
    # the next run completes
    assert scalar(conn, "CALL dwh_etl.run_pipeline(p_pipeline => 'nap', p_run_id => NULL)")


def test_dwh_cancel_reaches_a_run_that_waits_before_it_is_recorded(two_naps, dsn):
    """Was a DEFECT (low; fixed in sec_cancel_run and run_steps): a run that had taken its pipeline's
    lock but waited for a lock on the run history before writing its row (a DBA's LOCK, a VACUUM FULL)
    was invisible: `dwh cancel` said "no run is running" (exit 1) while `dwh run` hung, and a cancel
    from elsewhere left that session holding the run lock. Expected: cancelled, nothing recorded, the
    lock given back."""
    conn = two_naps
    dba = psycopg.connect(dsn)
    dba.execute("LOCK TABLE dwh_lineage.step_runs IN EXCLUSIVE MODE")
    try:
        t, box = start(dsn, "CALL dwh_etl.run_pipeline(p_pipeline => 'nap', p_run_id => NULL)")
        wait_for(conn, "SELECT true FROM pg_stat_activity WHERE pid = %s AND wait_event_type = 'Lock'",
                 (box_pid := wait_for(conn, "SELECT pid FROM pg_stat_activity WHERE query LIKE 'CALL dwh_etl.run_pipeline%%' "
                                            "AND pid <> pg_backend_pid()"),))
        started = time.monotonic()
        res = dwh(dsn, "cancel", "--pipeline", "nap", "--json")
        t.join(timeout=30)
    finally:
        dba.rollback()
        dba.close()
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout) == [{"run_id": None, "pipeline": "nap", "backend_pid": box_pid, "cancelled": True,
                                       "note": json.loads(res.stdout)[0]["note"], "status": "not started"}]
    assert time.monotonic() - started < 5
    assert isinstance(box.get("error"), psycopg.errors.QueryCanceled), box
    assert box["advisory_locks_after"] == 0
    assert scalar(conn, "SELECT count(*) FROM dwh_lineage.pipeline_runs") == 0
    assert lock_is_free(dsn, "nap")


def test_a_cancel_inside_a_step_still_lets_the_retry_finish(two_naps, dsn):
    """Held: pg_cancel_backend during step b records b cancelled, the run cancelled, the lock free;
    `dwh retry` reruns b only and completes."""
    conn = two_naps
    t, box = start(dsn, "CALL dwh_etl.run_pipeline(p_pipeline => 'nap', p_run_id => NULL)")
    run_id = wait_for(conn, """SELECT r.run_id FROM dwh_lineage.pipeline_runs AS r JOIN dwh_lineage.step_runs AS s
                               USING (run_id) WHERE s.step_name = 'b' AND s.status = 'running'""")
    time.sleep(0.3)
    conn.execute("SELECT pg_cancel_backend(%s)", (box["pid"],))
    t.join(timeout=30)
    assert isinstance(box.get("error"), psycopg.errors.QueryCanceled)
    assert scalar(conn, "SELECT status FROM dwh_lineage.pipeline_runs WHERE run_id = %s", (run_id,)) == "cancelled"
    res = dwh(dsn, "retry", run_id, "--json")
    assert res.exit_code == 0, res.output
    retried = scalar(conn, "SELECT max(run_id) FROM dwh_lineage.pipeline_runs")
    assert rows(conn, "SELECT step_name, status FROM dwh_lineage.step_runs WHERE run_id = %s", (retried,)) == \
        [("b", "completed")]


# ---------------------------------------------------------------------------------------------
# A sales step cancelled or terminated while it waits: nothing partial, the truth, the same result
# ---------------------------------------------------------------------------------------------

COMPARE = {
    "sales.fact_sales": """SELECT f.sale_id, f.order_id, f.line_number, f.date_key, f.time_key, c.customer_id,
                                  p.product_id, f.quantity, f.unit_price, f.discount_amount, f.tax_amount, f.line_total,
                                  f.transaction_at
                           FROM sales.fact_sales AS f
                           JOIN sales.dim_customer AS c USING (customer_key)
                           JOIN sales.dim_product AS p USING (product_key) ORDER BY f.sale_id""",
    "sales.dim_customer": """SELECT customer_id, full_name, email, city, customer_segment, signup_date, is_current,
                                    version, is_deleted FROM sales.dim_customer ORDER BY customer_id, version""",
    "sales.agg_daily_sales": """SELECT date_key, customer_segment, product_category, order_count, item_count,
                                       gross_revenue, discount_total, tax_total, net_revenue, avg_order_value
                                FROM sales.agg_daily_sales ORDER BY 1, 2, 3""",
    "sales.customer_metrics": """SELECT customer_id, customer_name, customer_segment, total_orders, total_quantity,
                                        total_spent, first_purchase_date, last_purchase_date, customer_tier
                                 FROM sales.customer_metrics ORDER BY 1""",
}


def snapshot(conn):
    return {name: rows(conn, sql) for name, sql in COMPARE.items()}


@pytest.fixture(scope="module")
def uninterrupted(postgresql_proc, sales_only_generated_template):
    """The sales tables after one uninterrupted `daily` run of the generated sales source."""
    with cloned_database(postgresql_proc, sales_only_generated_template.fresh_name(), "ref") as c:
        c.execute(RUN_DAILY_SQL)
        return snapshot(c)


@pytest.mark.parametrize("how", ["cancel", "terminate"])
def test_a_fact_step_interrupted_while_waiting_leaves_nothing_partial_and_the_rerun_equals_an_uninterrupted_run(
        sales_only_generated_template, uninterrupted, conn, dsn, how):
    """Held: `daily` blocked in sales_fact_sales by a DBA's lock on the fact table; meanwhile a second
    `dwh run daily` and a `dwh rebuild` are refused (DW002, exit 5). The run is then cancelled or its
    backend terminated: the fact table holds nothing of that run, the run is recorded cancelled (or
    shown stale, then closed as abandoned), and the next `dwh run daily` completes with the same tables
    as an uninterrupted run."""
    dba = psycopg.connect(dsn)
    dba.execute("LOCK TABLE sales.fact_sales IN ACCESS EXCLUSIVE MODE")
    t, box = start(dsn, RUN_DAILY_SQL)
    try:
        run_id = wait_for(conn, """SELECT r.run_id FROM dwh_lineage.pipeline_runs AS r
                                   JOIN dwh_lineage.step_runs AS s USING (run_id)
                                   WHERE s.step_name = 'sales_fact_sales' AND s.status = 'running'""")
        wait_for(conn, "SELECT true FROM pg_stat_activity WHERE pid = %s AND wait_event_type = 'Lock'", (box["pid"],))
        second = dwh(dsn, "run", "daily")
        assert second.exit_code == 5 and "already running" in second.stderr, second.output
        rebuild = dwh(dsn, "rebuild", "sales.dim_customer")
        assert rebuild.exit_code == 5 and "already running" in rebuild.stderr, rebuild.output
        restate = dwh(dsn, "run", "daily", "--date", scalar(conn, "SELECT CURRENT_DATE"), "--restate")
        assert restate.exit_code == 5 and "already running" in restate.stderr, restate.output
        # pg_cron firing meanwhile records a skipped run and returns quietly
        with psycopg.connect(dsn, autocommit=True) as cron:
            skipped = scalar(cron, "CALL dwh_etl.run_pipeline(p_pipeline => 'daily', p_run_id => NULL, p_trigger => 'cron')")
        assert scalar(conn, "SELECT status FROM dwh_lineage.pipeline_runs WHERE run_id = %s", (skipped,)) == "skipped"
        conn.execute(f"SELECT pg_{how}_backend(%s)", (box["pid"],))
        t.join(timeout=30)
    finally:
        dba.rollback()
        dba.close()
    assert scalar(conn, "SELECT count(*) FROM sales.fact_sales") == 0
    if how == "cancel":
        assert scalar(conn, "SELECT status FROM dwh_lineage.pipeline_runs WHERE run_id = %s", (run_id,)) == "cancelled"
        assert scalar(conn, "SELECT status FROM dwh_lineage.step_runs WHERE run_id = %s AND step_name = 'sales_fact_sales'",
                      (run_id,)) == "cancelled"
    else:
        doc = json.loads(dwh(dsn, "status", "--json").stdout)
        assert run_id in [r["run_id"] for r in doc["stale_runs"]], doc["stale_runs"]
    res = dwh(dsn, "run", "daily", "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)[0]["status"] == "completed"
    if how == "terminate":
        assert scalar(conn, "SELECT error_message FROM dwh_lineage.pipeline_runs WHERE run_id = %s",
                      (run_id,)).startswith("abandoned")
    assert snapshot(conn) == uninterrupted


# ---------------------------------------------------------------------------------------------
# Odd client settings
# ---------------------------------------------------------------------------------------------

def test_a_read_only_session_is_refused_clearly_and_keeps_no_run_lock(conn, dsn, monkeypatch):
    """Was a DEFECT (low; fixed in run_steps and _restate_run): with default_transaction_read_only = on
    (PGOPTIONS, a role or database setting, a pooler's read-only port), `dwh run daily` failed with
    "cannot execute UPDATE in a read-only transaction" from deep in the runner, after the session had
    taken the pipeline's run lock: a psql or pooled session kept the lock, and every other session's run
    was refused (DW002, "run ? started at ? by backend ?"). Expected: refused first, with what to do,
    no lock kept; rebuilds and restatements too."""
    monkeypatch.setenv("PGOPTIONS", "-c default_transaction_read_only=on")
    res = dwh(dsn, "run", "daily")
    assert res.exit_code == 1
    assert "error: cannot run pipeline daily in a read-only transaction" in res.stderr
    assert "default_transaction_read_only = off" in res.stderr and "Traceback" not in res.output
    res = dwh(dsn, "rebuild", "sales.dim_customer")
    assert res.exit_code == 1 and "read-only transaction" in res.stderr, res.output
    monkeypatch.delenv("PGOPTIONS")
    with psycopg.connect(dsn, autocommit=True, options="-c default_transaction_read_only=on") as ro:
        for sql in ("CALL dwh_etl.run_pipeline(p_pipeline => 'daily', p_run_id => NULL)",
                    "CALL dwh_etl.rebuild(p_target => 'sales.dim_customer')"):
            with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
                ro.execute(sql)
        assert scalar(ro, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()") == 0
        assert lock_is_free(dsn, "daily")
    assert scalar(conn, "SELECT count(*) FROM dwh_lineage.pipeline_runs") == 0


def test_a_run_refused_before_it_is_recorded_keeps_no_run_lock(two_naps, dsn):
    """Was a DEFECT (low; fixed in run_steps: until the run is recorded an error gives the lock back): a
    psql or pooled session whose run stopped between taking the pipeline's lock and recording the run
    (its lock_timeout, or a cancel, while a DBA holds the run history tables; a refused write) kept the
    session-level lock; every other session's run was then refused with DW002 "run ? started at ? by
    backend ?" until that session ended or ran the pipeline again."""
    conn = two_naps
    dba = psycopg.connect(dsn)
    dba.execute("LOCK TABLE dwh_lineage.step_runs IN EXCLUSIVE MODE")
    try:
        with psycopg.connect(dsn, autocommit=True, options="-c lock_timeout=200ms") as s:
            with pytest.raises(psycopg.errors.LockNotAvailable):
                s.execute("CALL dwh_etl.run_pipeline(p_pipeline => 'nap', p_run_id => NULL)")
            assert scalar(s, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()") == 0
            assert scalar(s, "SHOW TimeZone") == scalar(conn, "SHOW TimeZone")
            dba.rollback()
            # another session runs the pipeline at once (the first one is still connected)
            assert scalar(conn, "CALL dwh_etl.run_pipeline(p_pipeline => 'nap', p_run_id => NULL)")
    finally:
        dba.rollback()
        dba.close()


@pytest.mark.parametrize("options", ["-c search_path=evil", "-c lock_timeout=1ms -c TimeZone=Pacific/Kiritimati",
                                     "-c DateStyle=SQL,DMY -c IntervalStyle=iso_8601"])
def test_odd_client_settings_give_the_same_run(sales_only_loaded_template, conn, dsn, monkeypatch, options):
    """Held: a CLI run under odd PGOPTIONS (a search_path naming a schema holding a planted table and
    function, a 1 ms lock_timeout, another zone and date styles) completes and changes nothing the
    next run would not."""
    conn.execute("CREATE SCHEMA evil")
    conn.execute("CREATE TABLE evil.steps (x int)")
    conn.execute("CREATE FUNCTION evil.now() RETURNS timestamptz LANGUAGE sql AS $$ SELECT '2099-01-01'::timestamptz $$")
    before = snapshot(conn)
    monkeypatch.setenv("PGOPTIONS", options)
    res = dwh(dsn, "run", "daily", "--json")
    assert res.exit_code == 0, res.output
    [doc] = json.loads(res.stdout)
    assert doc["status"] == "completed"
    assert snapshot(conn) == before


# ---------------------------------------------------------------------------------------------
# Roles
# ---------------------------------------------------------------------------------------------

def test_no_dwh_role_may_create_objects_in_a_warehouse_schema(conn):
    """Held: neither etl_service nor analyst_role may CREATE in any schema of the database (a function
    or operator planted in a schema on a routine's search_path would run with its caller's rights)."""
    assert rows(conn, """
        SELECT r.role, n.nspname FROM pg_namespace AS n
        CROSS JOIN unnest(ARRAY['etl_service', 'analyst_role']) AS r (role)
        WHERE n.nspname !~ '^pg_' AND has_schema_privilege(r.role, n.oid, 'CREATE')""") == []


def test_the_analyst_reads_no_quarantine_no_run_history_and_runs_no_definer_routine(sales_only_loaded_template, conn):
    """Held: analyst_role cannot read the quarantine's raw rows, the run history or the sources, cannot
    write gold, and may execute no SECURITY DEFINER routine of the database."""
    assert rows(conn, """SELECT p.oid::regprocedure::text FROM pg_proc AS p
                         WHERE p.prosecdef AND has_function_privilege('analyst_role', p.oid, 'EXECUTE')""") == []
    conn.execute("SET ROLE analyst_role")
    try:
        for sql in ("SELECT payload FROM dwh_etl.quarantine", "SELECT * FROM dwh_lineage.step_runs",
                    "SELECT * FROM dwh_etl.sources", "SELECT * FROM dwh_etl.sec_cancel_run()",
                    "SELECT dwh_etl.sec_server_setting('port')",
                    "INSERT INTO sales.fact_sales (sale_id) VALUES (1)", "DELETE FROM sales.dim_customer",
                    "CREATE TABLE sales.mine (x int)", "CALL dwh_etl.run_pipeline(p_pipeline => 'daily')"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(sql)
    finally:
        conn.execute("RESET ROLE")


def test_a_temp_table_planted_by_etl_service_does_not_feed_a_definer_routine(sales_only_generated_template, conn):
    """Held: etl_service plants pg_temp._cdc_apply (the work table dwh_etl.sec_cdc_apply creates) holding a
    change of its own, then sends a change through dwh_etl.ingest_cdc_events: the definer routine refuses
    to work (its table exists) rather than apply the planted change; the source table is unchanged."""
    before = rows(conn, "SELECT * FROM sales_src.customers ORDER BY 1")
    conn.execute("SET ROLE etl_service")
    try:
        with pytest.raises(psycopg.errors.DuplicateTable, match="_cdc_apply"):
            with conn.transaction():
                conn.execute("""CREATE TEMP TABLE _cdc_apply AS
                                SELECT 1::bigint AS ord, 1 AS n, 'd'::text AS op, '{}'::jsonb AS img,
                                       '{"customer_id": 1}'::jsonb AS rec_key""")
                conn.execute("""SELECT * FROM dwh_etl.ingest_cdc_events(
                                  '[{"op": "d", "source": {"table": "customers", "lsn": 1},
                                     "before": {"customer_id": 2}}]'::jsonb, 'sales_src')""")
    finally:
        conn.execute("RESET ROLE")
    assert before and rows(conn, "SELECT * FROM sales_src.customers ORDER BY 1") == before


def test_etl_service_definer_routines_refuse_crafted_arguments(conn):
    """Held: etl_service calling the definer routines with NULLs, another schema's table, an unregistered
    setting name: refused with an error, nothing signalled or changed."""
    conn.execute("SET ROLE etl_service")
    try:
        for sql in ("SELECT dwh_etl.sec_server_setting('primary_conninfo')",
                    "SELECT dwh_etl.sec_server_setting(NULL)",
                    "SELECT dwh_etl.sec_vacuum('dwh_etl.steps'::regclass, 'full')",
                    "SELECT dwh_etl.sec_refresh_mart('dwh_etl.steps'::regclass)",
                    "SELECT dwh_etl.sec_purge_bronze('dwh_etl.steps'::regclass, now(), NULL)"):
            with pytest.raises(psycopg.Error):
                conn.execute(sql)
        with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState):
            conn.execute("SELECT * FROM dwh_etl.sec_cancel_run(NULL, NULL)")
    finally:
        conn.execute("RESET ROLE")
    assert scalar(conn, "SELECT count(*) FROM dwh_etl.steps") > 0


# ---------------------------------------------------------------------------------------------
# Odd arguments on the CLI
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("args", [
    ["cancel", "99999999999999999999"],
    ["retry", "99999999999999999999"],
    ["status", "--runs", "99999999999"],
    ["quarantine", "retry", "--no-run", "99999999999999999999"],
], ids=["cancel", "retry", "status", "quarantine_retry"])
def test_numbers_beyond_the_database_types_are_usage_errors(conn, dsn, args):
    """Was a DEFECT (low; fixed with IntRange bounds): a run id beyond bigint (or --runs beyond integer)
    reached PostgreSQL as numeric and failed with "function dwh_etl.sec_cancel_run(numeric, unknown) does
    not exist" and a hint about explicit casts: a usage error, exit 2, naming the range."""
    res = dwh(dsn, *args)
    assert res.exit_code == 2, res.output
    assert "is not in the range" in res.stderr and "does not exist" not in res.stderr


@pytest.mark.parametrize("args, code, message", [
    (["schedule", "remove", "x'; DROP TABLE dwh_etl.steps; --"], 4, "unknown pipeline"),
    (["run", "da'ily"], 4, "unknown pipeline"),
    (["cancel", "--pipeline", "nope"], 1, "no run is running for pipeline nope"),
    (["db", "user", "add", "bad name", "--role", "analyst"], 1, "invalid user name"),
    (["db", "user", "add", "pg_evil", "--role", "etl"], 1, "reserved"),
    (["db", "user", "remove", "postgres"], 1, "reserved"),
    (["db", "user", "remove", "nobody"], 1, "no user 'nobody'"),
    (["rebuild", "nope.nope"], 1, "nothing to rebuild"),
], ids=["schedule_remove", "run", "cancel", "user_add", "user_add_pg", "user_remove_postgres",
        "user_remove_unknown", "rebuild"])
def test_odd_names_are_clear_errors(conn, dsn, args, code, message):
    """Held: odd names on the operations commands give one clear error and the documented exit code."""
    res = dwh(dsn, *args)
    assert res.exit_code == code, res.output
    assert message in res.stderr and "Traceback" not in res.output
    assert scalar(conn, "SELECT count(*) FROM dwh_etl.steps") > 0


# ---------------------------------------------------------------------------------------------
# Concurrent pipelines, a client killed mid-run
# ---------------------------------------------------------------------------------------------

def _at_once(dsn, sqls):
    """Run each statement in a thread of its own on its own connection, released together; their errors."""
    barrier = threading.Barrier(len(sqls))
    errors = []

    def go(sql):
        with psycopg.connect(dsn, autocommit=True) as c:
            c.execute("SET ROLE etl_service")
            barrier.wait()
            try:
                c.execute(sql)
            except psycopg.Error as exc:
                errors.append(exc)

    threads = [threading.Thread(target=go, args=(sql,)) for sql in sqls]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return errors


def test_two_sessions_extending_the_calendar_at_once_both_succeed(conn, dsn):
    """Was a DEFECT (medium; fixed: dwh_etl.generate_dim_date and generate_dim_time_of_day take a
    transaction-level advisory lock): the daily calendar step, maintenance's extend_calendar and a fact
    load's ensure_calendar all insert the missing days with ON CONFLICT (date_key), which guards its
    arbiter only: two sessions inserting the same new days at the same moment failed the later one on
    dim_date_full_date_uq ("duplicate key value"): `daily` and `maintenance` started together (pg_cron
    schedules them 02:00 and 03:00; a late or long run overlaps) failed daily's calendar step and skipped
    every step depending on it."""
    for year in (1991, 1993, 1995, 1997):
        sql = f"CALL dwh_etl.generate_dim_date(in_start_date => DATE '{year}-01-01', in_end_date => DATE '{year + 1}-12-31')"
        assert _at_once(dsn, [sql, sql, sql]) == []
    assert scalar(conn, "SELECT count(*) FROM gold.dim_date WHERE full_date < '1999-01-01'") == \
        scalar(conn, "SELECT count(*) FROM generate_series(DATE '1991-01-01', DATE '1998-12-31', interval '1 day') AS g "
                     "WHERE extract(year FROM g)::int % 2 = 1 OR extract(year FROM g)::int IN (1992, 1994, 1996, 1998)")
    conn.execute("TRUNCATE gold.dim_time_of_day CASCADE")
    assert _at_once(dsn, ["CALL dwh_etl.generate_dim_time_of_day()"] * 3) == []


def test_two_sessions_creating_the_same_partition_at_once_both_succeed(conn, dsn):
    """Was a DEFECT (medium; fixed: dwh_etl.sec_ensure_partitions takes a transaction-level advisory lock
    per table before it looks for missing months): a fact load's ensure_partitions and maintenance's
    partitions_ahead (or daily and incremental, which share the sales fact step's table) creating the
    same missing month at the same moment both saw it missing; the later CREATE TABLE ... PARTITION OF
    failed with "relation already exists" and failed its step."""
    sql = "SELECT dwh_etl.ensure_partitions('sales.fact_sales', DATE '2021-03-01', DATE '2021-03-31', 0)"
    errors = _at_once(dsn, [sql, sql, sql])
    assert errors == []
    assert scalar(conn, "SELECT count(*) FROM pg_inherits WHERE inhrelid = 'sales.fact_sales_p202103'::regclass") == 1


def test_a_transaction_that_ends_between_the_customers_and_the_sales_loads_quarantines_no_sale(
        sales_only_generated_template, uninterrupted, conn, dsn):
    """Was a DEFECT (high: data missing from gold until someone replays the quarantine; fixed in
    dwh_etl._load_silver, which reads a load's window only up to the watermarks of the silver tables its
    step declares as sources, while rows wait for their loads). Each silver load's window stops at the start of the oldest open
    transaction of the database when it runs (any session: an analyst's query, a concurrent maintenance
    run). When such a transaction was open while silver customers and products loaded and ended before
    silver sales loaded, the sales window reached past the reference data's: every new line was
    quarantined "unknown customer_id", for good (the next runs found nothing new), and gold stayed
    without them (fixed: capped while rows wait for the referenced load, dwh_etl._silver_pending_since).
    Seen in a plain `daily` beside `maintenance` (test below); reproduced here step by
    step: an analyst's transaction open across the extraction and the customers' load, closed before
    the sales' load."""
    analyst = psycopg.connect(dsn)
    analyst.execute("SELECT 1")  # a transaction left open (a dashboard's query, a psql session)
    time.sleep(0.05)

    def run_steps(names):
        conn.execute("CALL dwh_etl.run_steps(p_pipeline => 'daily', p_steps => %s, p_run_date => CURRENT_DATE)",
                     (names,))

    run_steps(["sources", "sales_extract"])
    run_steps(["sales_silver_customers", "sales_silver_products"])
    analyst.rollback()
    analyst.close()
    assert scalar(conn, "SELECT count(*) FROM silver.sales_customers") == 0  # held back, as designed
    run_steps(["sales_silver_sales"])
    assert rows(conn, """SELECT DISTINCT r FROM dwh_etl.quarantine CROSS JOIN unnest(reasons) AS r
                         WHERE resolved_at IS NULL AND r LIKE 'unknown customer_id%%'""") == []
    conn.execute(RUN_DAILY_SQL)
    assert snapshot(conn) == uninterrupted


@pytest.mark.parametrize("other", ["incremental", "maintenance"])
def test_daily_concurrent_with_another_pipeline_gives_the_same_tables(
        sales_only_generated_template, uninterrupted, conn, dsn, other):
    """Held: `daily` and `incremental` (which share the sales steps, each its own run lock) or
    `maintenance` started at the same moment both complete, and a `daily` afterwards leaves the same
    tables as one uninterrupted run."""
    conn.execute("UPDATE dwh_etl.steps SET is_enabled = true WHERE pipeline_name = 'maintenance'")
    t1, b1 = start(dsn, RUN_DAILY_SQL)
    t2, b2 = start(dsn, f"CALL dwh_etl.run_pipeline(p_pipeline => '{other}', p_run_date => CURRENT_DATE, p_run_id => NULL)")
    t1.join(timeout=300)
    t2.join(timeout=300)
    assert "error" not in b1 and "error" not in b2, (b1, b2)
    assert rows(conn, "SELECT DISTINCT status FROM dwh_lineage.pipeline_runs") == [("completed",)]
    conn.execute(RUN_DAILY_SQL)
    assert snapshot(conn) == uninterrupted


def test_a_killed_cli_leaves_a_stale_run_that_the_next_run_closes(sales_only_generated_template, uninterrupted,
                                                                    conn, dsn, tmp_path):
    """Held: the `dwh run daily` process SIGKILLed while a step waits: the server rolls the step back when
    it finds the client gone, `dwh status` shows the run stale (session gone), the next `dwh run daily`
    closes it as abandoned and completes with the tables of an uninterrupted run."""
    import os
    import signal
    import subprocess
    import sys

    dba = psycopg.connect(dsn)
    dba.execute("LOCK TABLE sales.fact_sales IN ACCESS EXCLUSIVE MODE")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "DWH_"))}
    proc = subprocess.Popen([sys.executable, "-c", "from dwh_cli.cli import main; main()", "--dsn", dsn, "run", "daily"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        run_id = wait_for(conn, """SELECT r.run_id FROM dwh_lineage.pipeline_runs AS r
                                   JOIN dwh_lineage.step_runs AS s USING (run_id)
                                   WHERE s.step_name = 'sales_fact_sales' AND s.status = 'running'""")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        dba.rollback()
        dba.close()
    # the backend notices the lost client at its next message to it and ends
    wait_for(conn, """SELECT NOT EXISTS (SELECT 1 FROM pg_stat_activity AS a JOIN dwh_lineage.pipeline_runs AS r
                                         ON r.backend_pid = a.pid WHERE r.run_id = %s)""", (run_id,))
    doc = json.loads(dwh(dsn, "status", "--json").stdout)
    assert run_id in [r["run_id"] for r in doc["stale_runs"]], doc["stale_runs"]
    res = dwh(dsn, "run", "daily", "--json")
    assert res.exit_code == 0, res.output
    assert scalar(conn, "SELECT status FROM dwh_lineage.pipeline_runs WHERE run_id = %s", (run_id,)) == "failed"
    assert snapshot(conn) == uninterrupted


# ---------------------------------------------------------------------------------------------
# dwh db user remove
# ---------------------------------------------------------------------------------------------

@pytest.fixture
def role_name(conn):
    """A role name of this test's own (roles are cluster-wide), dropped afterwards."""
    import uuid

    name = f"u_{uuid.uuid4().hex[:10]}"
    yield name
    if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone():
        conn.execute(f"REASSIGN OWNED BY {name} TO CURRENT_USER")
        conn.execute(f"DROP OWNED BY {name}")
        conn.execute(f"DROP ROLE {name}")


@pytest.mark.parametrize("setup, says", [
    (["ALTER SCHEMA sales OWNER TO {r}", "ALTER TABLE sales.fact_sales OWNER TO {r}"], "owns schema(s) sales"),
    (["ALTER TABLE sales.dim_customer OWNER TO {r}"], "relation(s) or routine(s) in the warehouse's schemas"),
    (["ALTER ROLE {r} CREATEROLE"], "has CREATEROLE"),
], ids=["schema_owner", "table_owner", "createrole"])
def test_user_remove_refuses_a_role_that_dwh_did_not_make(conn, dsn, role_name, setup, says):
    """Was a DEFECT (medium; fixed in dwh_cli/users.py): `dwh db user remove` checked only that the role
    was a member of etl_service or analyst_role and no superuser. An owner or admin that had been given
    etl_service too (a common shortcut) was removed: its sessions terminated, REASSIGN OWNED handed the
    warehouse's schemas and tables to whoever ran the command, the role dropped; silently, exit 0. The
    README promises it "only removes such logins" (made by dwh db user add: no CREATEROLE, CREATEDB,
    REPLICATION, BYPASSRLS, owning nothing in the warehouse)."""
    r = role_name
    conn.execute(f"CREATE ROLE {r} LOGIN IN ROLE etl_service")
    for sql in setup:
        conn.execute(sql.format(r=r))
    res = dwh(dsn, "db", "user", "remove", r)
    assert res.exit_code == 1, res.output
    assert f"error: '{r}' was not made by dwh db user add" in res.stderr and says in res.stderr, res.stderr
    assert f'REASSIGN OWNED BY "{r}"' in res.stderr
    assert rows(conn, "SELECT rolcanlogin FROM pg_roles WHERE rolname = %s", (r,)) == [(True,)]
    if setup[0].startswith("ALTER SCHEMA"):
        assert scalar(conn, "SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'sales'") == r


def test_user_add_then_remove_round_trip(conn, dsn, role_name):
    """Held: a login made by `dwh db user add` is listed and removed (its sessions ended, gone)."""
    res = CliRunner().invoke(cli, ["--dsn", dsn, "db", "user", "add", role_name, "--role", "analyst",
                                   "--password-stdin"], input="s3cret\n")
    assert res.exit_code == 0, res.output
    assert role_name in dwh(dsn, "db", "user", "list").stdout
    res = dwh(dsn, "db", "user", "remove", role_name)
    assert res.exit_code == 0 and res.stdout == f"removed user {role_name}\n", res.output
    assert rows(conn, "SELECT 1 FROM pg_roles WHERE rolname = %s", (role_name,)) == []
