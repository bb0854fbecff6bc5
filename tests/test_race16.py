"""Race 16: `daily` failed beside `maintenance` (tests/test_attack9b.py::
test_daily_concurrent_with_another_pipeline_gives_the_same_tables[maintenance], once in a loaded full
suite): sales_fact_sales hit "null value in column customer_key of relation sales_affected_customers".

Each incremental load's window stops at the start of the oldest open transaction of the database
(dwh_etl.safe_upper_bound). A maintenance step whose transaction was open while `daily` loaded silver and
then the dimensions held the dimensions' windows back before the silver rows of the run (they loaded
nothing new); when it ended before the fact step, the fact's window was not held back: it read the run's
new sales, whose customers the dimension did not have yet, looked up NULL keys and failed. Fixed in
dwh_etl.step_fact: its window stops at the watermark of a looked-up dimension whose load has rows waiting
(dwh_etl._dimension_pending_since), as silver loads already stop at their reference tables' loads.

The window is made deterministic: maintenance's first step is held on the calendar's advisory lock (its
transaction open, waiting) while `daily` runs its silver and dimension steps, then released before the fact
step runs."""

from __future__ import annotations

import threading
import time

import psycopg

from conftest import RUN_DAILY_SQL

CALENDAR_LOCK = "SELECT pg_advisory_lock(hashtextextended('dwh_etl.calendar', 0))"
CALENDAR_UNLOCK = "SELECT pg_advisory_unlock(hashtextextended('dwh_etl.calendar', 0))"


def run_daily_steps(conn, steps):
    return conn.execute(
        "CALL dwh_etl.run_pipeline(p_pipeline => 'daily', p_steps => %s,"
        " p_run_date => (now() AT TIME ZONE 'UTC')::date, p_run_id => NULL)", (steps,)).fetchone()[0]


def wait_for(conn, sql, params=None, timeout=60):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        row = conn.execute(sql, params).fetchone()
        if row and row[0]:
            return row[0]
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for: {sql}")


def test_a_maintenance_step_open_while_the_dimensions_load_does_not_fail_the_fact(
        sales_only_generated_template, conn, dsn):
    """Held: maintenance's transaction open (waiting in extend_calendar) from before the silver loads of a
    `daily` run until after its dimension loads, then ended before its fact step: the dimensions load
    nothing new (held back), the fact step completes without reading the sales whose customers wait
    (it was failing: NULL customer_key), its window is recorded held back; the next `daily` loads
    every sale with its dimension keys."""
    run_daily_steps(conn, ["sales_extract"])
    holder = psycopg.connect(dsn, autocommit=True)
    box = {}

    def maintenance():
        with psycopg.connect(dsn, autocommit=True) as c:
            box["pid"] = c.info.backend_pid
            c.execute("SET ROLE etl_service")
            try:
                box["result"] = c.execute(
                    "CALL dwh_etl.run_pipeline(p_pipeline => 'maintenance',"
                    " p_run_date => (now() AT TIME ZONE 'UTC')::date, p_run_id => NULL)").fetchone()
            except psycopg.Error as exc:
                box["error"] = exc

    t = threading.Thread(target=maintenance)
    try:
        holder.execute(CALENDAR_LOCK)
        t.start()
        # maintenance's extend_calendar waits for the calendar lock, its transaction open
        wait_for(conn, """SELECT true FROM pg_stat_activity AS a
                          JOIN dwh_lineage.pipeline_runs AS r ON r.backend_pid = a.pid
                          JOIN dwh_lineage.step_runs AS s ON s.run_id = r.run_id
                          WHERE r.pipeline_name = 'maintenance' AND s.step_name = 'extend_calendar'
                            AND s.status = 'running' AND a.wait_event_type = 'Lock'""")
        run_daily_steps(conn, ["sales_silver_customers", "sales_silver_products", "sales_silver_sales",
                               "sales_dim_customer", "sales_dim_product"])
    finally:
        holder.execute(CALENDAR_UNLOCK)
        holder.close()
        t.join(timeout=120)
    assert "error" not in box, box
    # the dimensions' windows stopped at maintenance's start: their rows wait
    assert conn.execute("SELECT count(*) FROM sales.dim_customer").fetchone()[0] == 0
    fact_run = run_daily_steps(conn, ["sales_fact_sales"])
    status, error = conn.execute("SELECT status, error_message FROM dwh_lineage.step_runs"
                                 " WHERE run_id = %s AND step_name = 'sales_fact_sales'", (fact_run,)).fetchone()
    assert (status, error) == ("completed", None)
    assert conn.execute("SELECT count(*) FROM sales.fact_sales").fetchone()[0] == 0
    assert conn.execute("SELECT metrics->'windows_held_back' FROM dwh_lineage.pipeline_runs WHERE run_id = %s",
                        (fact_run,)).fetchone()[0] == ["sales_fact_sales"]
    # the next run loads the dimensions, then every sale
    conn.execute(RUN_DAILY_SQL)
    assert conn.execute("SELECT DISTINCT status FROM dwh_lineage.step_runs WHERE step_name LIKE 'sales%%'"
                        " AND status NOT IN ('completed', 'skipped')").fetchall() == []
    live, loaded = conn.execute("""SELECT (SELECT count(*) FROM silver.sales_sales WHERE is_deleted IS NOT TRUE),
                                          (SELECT count(*) FROM sales.fact_sales)""").fetchone()
    assert live > 0 and loaded == live
