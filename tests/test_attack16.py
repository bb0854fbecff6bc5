"""Attack 16: the failure paths a stranger has, through the real commands: a `dwh run daily` whose backend is
terminated or whose client is SIGKILLed, followed by what an operator types next (`dwh retry`, `dwh status`,
`dwh rebuild` again, `dwh cancel` of the orphaned backend); a `dwh rebuild` terminated mid-way; a `dwh load` whose backend is cancelled or
terminated in the middle of its COPY, then loaded again without --force; `dwh cdc ingest` killed between
its batches and redelivered whole; the same change batch delivered twice at once.

Not repeated here (covered elsewhere): cancels between and inside steps (test_cancel, test_attack9b,
test_runner_robustness), a run blocked in the fact step cancelled or terminated then rerun with `dwh run`
(test_attack9b), a killed CLI then `dwh run` (test_attack9b), a killed or SIGINTed `dwh load` client and the
psql recipe killed (test_attack12), the server crash (`pg_ctl stop -m immediate`) mid-run and mid-load and a
pg_cron run killed (test_attack12: its own cluster), a cron run overlapping a manual one (test_attack9b,
test_schedule; a real pg_cron tick is a minute away, too slow here: the runner's cron path is called
directly there), the same CDC batch delivered twice in sequence (test_cdc).

A test whose docstring says DEFECT exposed one (fixed unless marked xfail); the others held and stay as
regression tests. Defects found (each test failed before its fix):
- medium: after a run whose session died (backend terminated, client killed, server crash), `dwh retry`
  did not retry it: it is still marked `running` until the next run of its pipeline closes it, so
  `dwh retry` took an older failed run (of another date or pipeline) or said "no failed run to retry",
  and `dwh retry RUN_ID` refused it as "still running" although `dwh status` listed it as stale.
  dwh_etl.retry now closes the abandoned runs first (dwh_etl._close_abandoned_runs, under the pipeline's
  run lock, as the runner does), then retries;
- low: a `dwh rebuild` (or restatement) whose backend was terminated stayed `running` (a stale run in
  `dwh status`, not healthy) after a later rebuild of the same pipeline had completed: only `dwh run`
  closed abandoned runs. A restatement or rebuild now closes those of the pipelines it locks;
- low: a `dwh load` whose backend was terminated mid-COPY (pg_terminate_backend, an admin's shutdown)
  left no record: the CLI recorded the failed attempt on the dead connection. It now records it on a new
  connection (`failed`, with the client's message), and psycopg's own cleanup warning ("error ignored
  terminating <psycopg.Copy [BAD]>") no longer precedes the one error line on stderr (--json's one JSON line).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from conftest import RUN_DAILY_SQL, cloned_database
from dwh_cli.cli import cli

ROOT = Path(__file__).resolve().parent.parent


def dwh(dsn, *args, input=None):
    return CliRunner().invoke(cli, ["--dsn", dsn, *map(str, args)], input=input)


def rows(conn, sql, params=None):
    return conn.execute(sql, params).fetchall()


def scalar(conn, sql, params=None):
    return conn.execute(sql, params).fetchone()[0]


def wait_for(conn, sql, params=None, timeout=60):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        row = conn.execute(sql, params).fetchone()
        if row and row[0]:
            return row[0]
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for: {sql}")


def no_traceback(res):
    assert "Traceback" not in (res.output or ""), res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    return res


def cli_command() -> list[str]:
    script = Path(sys.executable).parent / "dwh"
    return [str(script)] if script.exists() else [sys.executable, "-c", "from dwh_cli.cli import main; main()"]


def cli_env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "DWH_"))}
    env["PYTHONPATH"] = str(ROOT)
    return env


def start_sql(dsn, sql):
    """Run `sql` in a thread on a connection of its own; returns (thread, box with pid / error)."""
    box = {}

    def go():
        with psycopg.connect(dsn, autocommit=True) as c:
            box["pid"] = c.info.backend_pid
            try:
                c.execute(sql)
            except psycopg.Error as exc:
                box["error"] = exc

    t = threading.Thread(target=go)
    t.start()
    return t, box


def waiting_on_lock(conn, pid):
    wait_for(conn, "SELECT true FROM pg_stat_activity WHERE pid = %s AND wait_event_type = 'Lock'", (pid,))


# ---------------------------------------------------------------------------------------------------
# the sales tables an uninterrupted run gives (test_attack9b's comparison)
# ---------------------------------------------------------------------------------------------------

COMPARE = {
    "sales.fact_sales": """SELECT f.sale_id, f.order_id, f.line_number, f.date_key, c.customer_id, c.version,
                                  p.product_id, p.version, f.quantity, f.unit_price, f.discount_amount,
                                  f.tax_amount, f.line_total, f.transaction_at
                           FROM sales.fact_sales AS f
                           JOIN sales.dim_customer AS c USING (customer_key)
                           JOIN sales.dim_product AS p USING (product_key) ORDER BY f.sale_id""",
    "sales.dim_customer": """SELECT customer_id, full_name, email, city, customer_segment, is_current, version,
                                    is_deleted FROM sales.dim_customer ORDER BY customer_id, version""",
    "sales.agg_daily_sales": """SELECT date_key, customer_segment, product_category, order_count, item_count,
                                       net_revenue FROM sales.agg_daily_sales ORDER BY 1, 2, 3""",
    "sales.customer_metrics": """SELECT customer_id, total_orders, total_spent, customer_tier
                                 FROM sales.customer_metrics ORDER BY 1""",
}


def snapshot(conn):
    return {name: rows(conn, sql) for name, sql in COMPARE.items()}


@pytest.fixture(scope="module")
def uninterrupted(postgresql_proc, sales_only_generated_template):
    """The sales tables after one uninterrupted `daily` of the generated sales source."""
    with cloned_database(postgresql_proc, sales_only_generated_template.fresh_name(), "ref16") as c:
        c.execute(RUN_DAILY_SQL)
        return snapshot(c)


# ---------------------------------------------------------------------------------------------------
# 1. a run whose session died, then `dwh retry`
# ---------------------------------------------------------------------------------------------------

STEP_LOCK = "hashtextextended('dwh_etl.step:sales.customer_metrics', 0)"  # dwh_etl.lock_step's key


# (the backend terminated while its step waits: test_retry_of_a_terminated_run_by_id_..., cheaper, below)
@pytest.mark.parametrize("how", ["sigkill_client"])
def test_retry_right_after_a_run_whose_session_died_retries_that_run(sales_only_generated_template, uninterrupted,
                                                                     conn, dsn, how):
    """DEFECT (medium, fixed): `dwh run daily` waits in sales_customer_metrics (a DBA's session holds that
    step's lock, dwh_etl.lock_step, with no transaction open, so no load window is held back); its backend
    is terminated (or its client SIGKILLed: the backend ends at its next message, after the step). `dwh
    status` shows the run stale, and the operator types `dwh retry`: it must retry THAT run (not report "no
    failed run", nor pick an older failed run), run only what did not complete, and leave the tables of an
    uninterrupted run. Before the fix the run stayed `running` until the next `dwh run`, so `dwh retry`
    said "no failed run to retry" here (and retried an older failed run where there was one)."""
    dba = psycopg.connect(dsn, autocommit=True)
    dba.execute(f"SELECT pg_advisory_lock({STEP_LOCK})")
    proc = subprocess.Popen([*cli_command(), "--dsn", dsn, "run", "daily"], env=cli_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        run_id = wait_for(conn, """SELECT r.run_id FROM dwh_lineage.pipeline_runs AS r
                                   JOIN dwh_lineage.step_runs AS s USING (run_id)
                                   WHERE s.step_name = 'sales_customer_metrics' AND s.status = 'running'""")
        pid = scalar(conn, "SELECT backend_pid FROM dwh_lineage.pipeline_runs WHERE run_id = %s", (run_id,))
        waiting_on_lock(conn, pid)
        if how == "terminate_backend":
            conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
            assert proc.wait(timeout=30) != 0
        else:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
    finally:
        dba.execute(f"SELECT pg_advisory_unlock({STEP_LOCK})")
        dba.close()
    wait_for(conn, "SELECT NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = %s)", (pid,))
    status = no_traceback(dwh(dsn, "status", "--json"))
    assert run_id in [r["run_id"] for r in json.loads(status.stdout)["stale_runs"]]
    assert scalar(conn, "SELECT status FROM dwh_lineage.pipeline_runs WHERE run_id = %s", (run_id,)) == "running"
    done_before = {r[0] for r in rows(conn, """SELECT step_name FROM dwh_lineage.step_runs
                                               WHERE run_id = %s AND status = 'completed'""", (run_id,))}
    assert "sales_fact_sales" in done_before
    assert ("sales_customer_metrics" in done_before) == (how == "sigkill_client")

    res = no_traceback(dwh(dsn, "retry", "--json"))
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["retry_of"] == run_id and out["status"] == "completed", out
    assert rows(conn, "SELECT status, left(error_message, 10) FROM dwh_lineage.pipeline_runs WHERE run_id = %s",
                (run_id,)) == [("failed", "abandoned:")]
    # the retry reran what did not complete, and only that
    assert "sales_customer_ltv" in out["selected_steps"] and set(out["selected_steps"]).isdisjoint(done_before)
    assert json.loads(no_traceback(dwh(dsn, "status", "--json")).stdout)["stale_runs"] == []
    assert snapshot(conn) == uninterrupted
    # and a plain rerun changes nothing
    conn.execute(RUN_DAILY_SQL)
    assert snapshot(conn) == uninterrupted


@pytest.fixture
def blocked_pipeline(conn):
    """Pipeline p16: step a inserts a row into public.a16, step b (after a) one into public.b16; b fails
    while public.fail16 holds a row. A lock on public.b16 makes b wait."""
    conn.execute("""
        CREATE TABLE public.a16 (run_id bigint, at timestamptz DEFAULT clock_timestamp());
        CREATE TABLE public.b16 (run_id bigint, at timestamptz DEFAULT clock_timestamp());
        CREATE TABLE public.fail16 (x int);
        CREATE PROCEDURE public.step_a16(p_run_id bigint, p_run_date date) LANGUAGE sql
            AS $$ INSERT INTO public.a16 (run_id) VALUES (p_run_id) $$;
        CREATE PROCEDURE public.step_b16(p_run_id bigint, p_run_date date) LANGUAGE plpgsql AS $$
        BEGIN
            IF EXISTS (SELECT 1 FROM public.fail16) THEN RAISE EXCEPTION 'b16 refuses'; END IF;
            INSERT INTO public.b16 (run_id) VALUES (p_run_id);
        END $$;
        GRANT ALL ON public.a16, public.b16, public.fail16 TO etl_service;
        GRANT EXECUTE ON PROCEDURE public.step_a16(bigint, date), public.step_b16(bigint, date) TO etl_service;
    """)
    conn.execute("CALL dwh_etl.register_pipeline(p_pipeline => 'p16', p_description => 'test', p_schedules => '{}')")
    conn.execute("""CALL dwh_etl.register_steps(p_pipeline => 'p16', p_area => 'test', p_steps => '[
                      {"step": "a", "procedure": "public.step_a16", "layer": "bronze"},
                      {"step": "b", "procedure": "public.step_b16", "layer": "bronze", "depends_on": ["a"]}]')""")
    return conn


P16 = "CALL dwh_etl.run_pipeline(p_pipeline => 'p16', p_run_date => %s, p_run_id => NULL)"


def test_retry_of_a_terminated_run_by_id_and_not_an_older_failed_one(blocked_pipeline, dsn):
    """DEFECT (medium, fixed): an older run failed at b (2025-01-30), a later one was terminated while b
    waited (2025-01-31). `dwh retry RUN_ID` of the terminated run was refused "did not fail (status
    running): it is still running" although no session ran it; `dwh retry` retried the OLDER failed run
    (its date, 2025-01-30). Both now close the abandoned run and retry it; a run that really is running
    is still refused, naming it so."""
    conn = blocked_pipeline
    conn.execute("INSERT INTO public.fail16 VALUES (1)")
    with pytest.raises(psycopg.Error, match="b16 refuses"):
        conn.execute(P16, ("2025-01-30",))
    old = scalar(conn, "SELECT max(run_id) FROM dwh_lineage.pipeline_runs")
    conn.execute("DELETE FROM public.fail16")

    dba = psycopg.connect(dsn)
    dba.execute("LOCK TABLE public.b16 IN ACCESS EXCLUSIVE MODE")
    t, box = start_sql(dsn, P16.replace("%s", "'2025-01-31'"))
    try:
        killed = wait_for(conn, """SELECT run_id FROM dwh_lineage.step_runs WHERE step_name = 'b' AND status = 'running'
                                   AND run_id > %s""", (old,))
        waiting_on_lock(conn, scalar(conn, "SELECT backend_pid FROM dwh_lineage.pipeline_runs WHERE run_id = %s",
                                     (killed,)))
        # while it really runs, a retry of it is refused as running
        res = no_traceback(dwh(dsn, "retry", killed))
        assert res.exit_code == 1 and "still running" in res.stderr, res.output
        conn.execute("SELECT pg_terminate_backend(%s)", (box["pid"],))
        t.join(timeout=30)
    finally:
        dba.rollback()
        dba.close()
    wait_for(conn, "SELECT NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = %s)", (box["pid"],))

    res = no_traceback(dwh(dsn, "retry", "--json"))
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["retry_of"] == killed, out
    assert out["run_date"] == "2025-01-31" and out["selected_steps"] == ["b"], out
    assert rows(conn, "SELECT status FROM dwh_lineage.pipeline_runs WHERE run_id = %s", (killed,)) == [("failed",)]
    # each step's work once per completed run: a of the killed run (committed), b of its retry
    assert scalar(conn, "SELECT count(*) FROM public.a16") == 2  # the old failed run's a, the killed run's a
    assert scalar(conn, "SELECT count(*) FROM public.b16") == 1
    # the older failed run is still there to retry, by id
    res = no_traceback(dwh(dsn, "retry", old, "--json"))
    assert res.exit_code == 0 and json.loads(res.stdout)["run_date"] == "2025-01-30", res.output


def test_dwh_cancel_of_a_run_whose_client_was_killed_ends_it(blocked_pipeline, dsn):
    """Held: `dwh run p16` SIGKILLed while its step b waits on a DBA's lock: the backend lives on (it has
    not written to its client since), so `dwh status` still shows the run running, not stale. The operator
    types `dwh cancel --pipeline p16`: the orphan's step is cancelled (rolled back, nothing of b), the run
    does not stay `running`, the pipeline is free, and `dwh retry` completes it."""
    conn = blocked_pipeline
    dba = psycopg.connect(dsn)
    dba.execute("LOCK TABLE public.b16 IN ACCESS EXCLUSIVE MODE")
    proc = subprocess.Popen([*cli_command(), "--dsn", dsn, "run", "p16", "--date", "2025-01-31"], env=cli_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        run_id = wait_for(conn, "SELECT run_id FROM dwh_lineage.step_runs WHERE step_name = 'b' AND status = 'running'")
        pid = scalar(conn, "SELECT backend_pid FROM dwh_lineage.pipeline_runs WHERE run_id = %s", (run_id,))
        waiting_on_lock(conn, pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        doc = json.loads(no_traceback(dwh(dsn, "status", "--json")).stdout)
        assert doc["stale_runs"] == []  # its backend still runs it
        res = no_traceback(dwh(dsn, "cancel", "--pipeline", "p16", "--json"))
        assert res.exit_code == 0, res.output
    finally:
        dba.rollback()
        dba.close()
    wait_for(conn, "SELECT NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = %s)", (pid,))
    assert scalar(conn, "SELECT count(*) FROM public.b16") == 0
    # cancelled, or (when the cancel's record could not reach the dead client first) closed as abandoned
    res = no_traceback(dwh(dsn, "retry", "--json"))
    assert res.exit_code == 0 and json.loads(res.stdout)["retry_of"] == run_id, res.output
    assert scalar(conn, "SELECT status FROM dwh_lineage.pipeline_runs WHERE run_id = %s", (run_id,)) \
        in ("cancelled", "failed")
    assert scalar(conn, "SELECT count(*) FROM public.b16") == 1
    assert json.loads(no_traceback(dwh(dsn, "status", "--json")).stdout)["stale_runs"] == []


# ---------------------------------------------------------------------------------------------------
# 2. a rebuild whose backend was terminated
# ---------------------------------------------------------------------------------------------------

def test_a_terminated_rebuild_changes_nothing_and_the_next_rebuild_closes_it(sales_only_loaded_template, conn, dsn):
    """DEFECT (low, fixed): `dwh rebuild sales.dim_customer` blocked on a DBA's lock of the fact table it
    rebuilds too, its backend terminated: nothing changed (one transaction), `dwh status` shows the run
    stale. A second `dwh rebuild` completes with the same tables; before the fix the terminated one stayed
    `running` (and `dwh status` not healthy) until the next `dwh run daily`."""
    before = snapshot(conn)
    dba = psycopg.connect(dsn)
    dba.execute("LOCK TABLE sales.fact_sales IN ACCESS EXCLUSIVE MODE")
    t, box = start_sql(dsn, "CALL dwh_etl.rebuild(p_target => 'sales.dim_customer')")
    try:
        run_id = wait_for(conn, """SELECT run_id FROM dwh_lineage.pipeline_runs
                                   WHERE status = 'running' AND parameters->>'mode' = 'rebuild'""")
        waiting_on_lock(conn, box["pid"])
        conn.execute("SELECT pg_terminate_backend(%s)", (box["pid"],))
        t.join(timeout=30)
    finally:
        dba.rollback()
        dba.close()
    wait_for(conn, "SELECT NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = %s)", (box["pid"],))
    assert snapshot(conn) == before
    doc = json.loads(no_traceback(dwh(dsn, "status", "--json")).stdout)
    assert run_id in [r["run_id"] for r in doc["stale_runs"]]

    res = no_traceback(dwh(dsn, "rebuild", "sales.dim_customer", "--json"))
    assert res.exit_code == 0, res.output
    assert rows(conn, "SELECT status, left(error_message, 10) FROM dwh_lineage.pipeline_runs WHERE run_id = %s",
                (run_id,)) == [("failed", "abandoned:")]
    assert json.loads(no_traceback(dwh(dsn, "status", "--json")).stdout)["stale_runs"] == []
    assert snapshot(conn) == before


# ---------------------------------------------------------------------------------------------------
# 3. `dwh load` whose backend is cancelled or terminated mid-COPY
# ---------------------------------------------------------------------------------------------------

CUSTOMER_COLS = ["customer_id", "first_name", "last_name", "email", "phone", "city", "country",
                 "customer_segment", "signup_date", "created_at", "updated_at"]


def customers_csv(n):
    lines = [",".join(CUSTOMER_COLS)]
    lines += [f"{i},Ann{i},Lee,c{i}@example.org,555-{i},Lyon,France,Consumer,2024-03-01,"
              f"2024-03-01 09:00:00+00,2024-03-01 09:00:00+00" for i in range(1, n + 1)]
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.parametrize("how", ["cancel", "terminate"])
def test_a_load_whose_backend_is_stopped_mid_copy_is_recorded_failed_and_loads_again(conn, dsn, how):
    """DEFECT (low, fixed for terminate): `producer | dwh load bronze.sales_customers -` whose backend is
    cancelled (pg_cancel_backend) or terminated (pg_terminate_backend) while its COPY runs: exit 1 with
    the server's message (no traceback), nothing lands, the attempt is recorded `failed` with the reason,
    and the same content then loads without --force, once. Before the fix a terminated load left no
    record at all (the CLI wrote it on the dead connection)."""
    data = customers_csv(60_000)
    proc = subprocess.Popen([*cli_command(), "--dsn", dsn, "load", "bronze.sales_customers", "-", "--json"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env())
    half = len(data) // 2
    proc.stdin.write(data[:half])
    proc.stdin.flush()
    pid = wait_for(conn, """SELECT pid FROM pg_stat_activity WHERE datname = current_database()
                            AND query LIKE 'COPY%%' AND state = 'active'""")
    conn.execute(f"SELECT pg_{how}_backend(%s)", (pid,))
    try:
        proc.stdin.write(data[half:])
        proc.stdin.close()
    except (BrokenPipeError, OSError):
        pass
    proc.stdin = None
    out, err = proc.communicate(timeout=60)
    err = err.decode()
    assert "Traceback" not in err, err
    assert proc.returncode in (1, 3), (proc.returncode, err)
    reason = "canceling statement" if how == "cancel" else "connection"
    assert "error ignored" not in err, err  # psycopg's own cleanup warning is not printed
    doc = json.loads(err.splitlines()[-1])  # one JSON error line
    assert reason in doc["error"] and doc["code"] == proc.returncode, err
    assert scalar(conn, "SELECT count(*) FROM bronze.sales_customers") == 0
    assert scalar(conn, "SELECT count(*) FROM pg_class WHERE relname LIKE 'sales_customers_landing%%'") == 0
    assert [(s, reason in (e or "")) for s, e in rows(conn, "SELECT status, error FROM dwh_etl.loaded_files")] \
        == [("failed", True)]

    res = no_traceback(dwh(dsn, "load", "bronze.sales_customers", "-", "--json", input=data))
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["rows_landed"] == 60_000
    again = no_traceback(dwh(dsn, "load", "bronze.sales_customers", "-", input=data))
    assert again.exit_code == 0 and again.stdout.startswith("skipped: "), again.output
    assert scalar(conn, "SELECT count(*) FROM bronze.sales_customers") == 60_000


# ---------------------------------------------------------------------------------------------------
# 4. change events: killed between batches and redelivered; the same batch twice at once
# ---------------------------------------------------------------------------------------------------

BASE_MS = 1_735_725_600_000


def ev(op, table, lsn, after=None, before=None):
    return {"before": before, "after": after, "op": op, "ts_ms": BASE_MS + 999_999,
            "source": {"schema": "public", "table": table, "lsn": lsn, "ts_ms": BASE_MS + lsn}}


def product(pid, price="19.99"):
    return {"product_id": pid, "product_name": f"Product {pid}", "product_group": "Toys", "category": "Puzzles",
            "brand": "Acme", "unit_price": price, "unit_cost": "7.50", "is_active": True}


def customer(cid, city="Lyon"):
    return {"customer_id": cid, "first_name": "Ann", "last_name": "Lee", "email": f"c{cid}@example.org",
            "city": city, "country": "France", "customer_segment": "Consumer", "signup_date": 19800}


def cdc_events():
    """Batch 1 (2 events): products only; batch 2: customers (a create, an update, a delete of another)."""
    return [ev("c", "products", 100, after=product(7001)),
            ev("u", "products", 101, after=product(7001, price="21.50")),
            ev("c", "customers", 102, after=customer(8001)),
            ev("u", "customers", 103, after=customer(8001, city="Paris")),
            ev("c", "customers", 104, after=customer(8002)),
            ev("d", "customers", 105, before={"customer_id": 8002})]


def mirror(conn):
    return (rows(conn, "SELECT product_id, unit_price FROM sales_src.products WHERE product_id >= 7000 ORDER BY 1"),
            rows(conn, "SELECT customer_id, city FROM sales_src.customers WHERE customer_id >= 8000 ORDER BY 1"))


EXPECTED_MIRROR = ([(7001, 21.50)], [(8001, "Paris")])


def test_cdc_ingest_killed_between_batches_then_redelivered_whole_applies_each_change_once(conn, dsn, tmp_path):
    """Held: `dwh cdc ingest events.jsonl --batch-size 2` whose second batch waits on a DBA's lock of
    sales_src.customers and whose backend is then terminated: a clear error (no traceback), the first
    batch stays applied (it committed), nothing of the second is landed or applied. The whole file
    delivered again: the first batch's events are duplicates, the rest apply, and the mirror ends as one
    clean delivery leaves it; each change applied once in bronze.cdc_events."""
    f = tmp_path / "events.jsonl"
    f.write_text("".join(json.dumps(e) + "\n" for e in cdc_events()))
    dba = psycopg.connect(dsn)
    dba.execute("LOCK TABLE sales_src.customers IN ACCESS EXCLUSIVE MODE")
    proc = subprocess.Popen([*cli_command(), "--dsn", dsn, "cdc", "ingest", str(f), "--into", "sales_src",
                             "--batch-size", "2", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env())
    try:
        pid = wait_for(conn, """SELECT pid FROM pg_stat_activity WHERE datname = current_database()
                                AND query LIKE '%%ingest_cdc_events%%' AND wait_event_type = 'Lock'
                                AND pid <> pg_backend_pid()""")
        assert scalar(conn, "SELECT count(*) FROM bronze.cdc_events") == 2  # batch 1 committed
        conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
        out, err = proc.communicate(timeout=60)
    finally:
        dba.rollback()
        dba.close()
    err = err.decode()
    assert proc.returncode in (1, 3) and "Traceback" not in err, (proc.returncode, err)
    # (of two changes of one key in a batch only the newer applies: the other is stale)
    assert rows(conn, "SELECT status, count(*) FROM bronze.cdc_events GROUP BY 1 ORDER BY 1") == [
        ("applied", 1), ("stale", 1)]
    assert mirror(conn) == ([(7001, 21.50)], [])

    res = no_traceback(dwh(dsn, "cdc", "ingest", str(f), "--into", "sales_src", "--batch-size", "2", "--json"))
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert (out["events"], out["duplicate"], out["quarantined"]) == (6, 2, 0), out
    assert out["applied"] + out["stale"] == 4, out
    assert mirror(conn) == EXPECTED_MIRROR
    # a third delivery changes nothing
    res = no_traceback(dwh(dsn, "cdc", "ingest", str(f), "--into", "sales_src", "--json"))
    assert json.loads(res.stdout)["duplicate"] == 6, res.output
    assert mirror(conn) == EXPECTED_MIRROR
    assert scalar(conn, "SELECT count(*) FROM dwh_etl.quarantine") == 0


def test_the_same_cdc_batch_delivered_twice_at_once_is_applied_once(conn, dsn):
    """Held: the same batch delivered by two sessions at the same moment (a consumer's redelivery racing
    the first delivery; both wait on a DBA's lock of the mirror): one applies it, the other finds every
    event a duplicate; the mirror ends as one delivery leaves it, and the tombstone of the delete (of a
    customer an earlier batch created) is written once."""
    conn.execute("SELECT * FROM dwh_etl.ingest_cdc_events(%s::jsonb, 'sales_src')",
                 (json.dumps([ev("c", "customers", 90, after=customer(8002))]),))
    batch = json.dumps(cdc_events())
    sql = f"SELECT * FROM dwh_etl.ingest_cdc_events('{batch}'::jsonb, 'sales_src')"
    results = []

    def go():
        with psycopg.connect(dsn, autocommit=True) as c:
            results.append(c.execute(sql).fetchone())

    dba = psycopg.connect(dsn)
    dba.execute("LOCK TABLE sales_src.customers IN ACCESS EXCLUSIVE MODE")
    threads = [threading.Thread(target=go) for _ in range(2)]
    try:
        for t in threads:
            t.start()
        wait_for(conn, """SELECT count(*) = 2 FROM pg_stat_activity WHERE datname = current_database()
                          AND query LIKE '%%ingest_cdc_events%%' AND wait_event_type = 'Lock'
                          AND pid <> pg_backend_pid()""")
    finally:
        dba.rollback()
        dba.close()
    for t in threads:
        t.join(timeout=60)
    counts = sorted((r[2], r[3], r[4]) for r in results)  # applied, stale, duplicate
    assert counts == [(0, 0, 6), (3, 3, 0)], results
    assert mirror(conn) == EXPECTED_MIRROR
    assert scalar(conn, """SELECT count(*) FROM sales_src.deleted_records
                           WHERE table_name = 'customers' AND record_id = 8002""") == 1
