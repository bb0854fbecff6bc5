"""`dwh demo` and `dwh run` end to end through CliRunner against the test database: the demo loads the
warehouse and prints the status (the tests of a second demo start from a clone of a database the demo
loaded once: demo_done_template), --next-day loads only the delta, a backfill runs each date in order and
stops at the first failure, a concurrent run is refused with its exit code."""

from __future__ import annotations

import datetime as dt
import json

import psycopg

from click.testing import CliRunner

from conftest import database_template
from dwh_cli.cli import cli

CLEAN_ENV = {name: None for name in ("DWH_DSN", "PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGSERVICE",
                                     "PGPASSWORD")}


def scalar(conn, sql, params=None):
    return conn.execute(sql, params).fetchone()[0]


@database_template(scope="module")
def demo_done_template(conn):
    """A database where `dwh demo --scale 0.005` ran once (through the CLI, as the tests below would)."""
    info = conn.info
    dsn = psycopg.conninfo.make_conninfo(host=info.host, port=str(info.port), user=info.user, dbname=info.dbname,
                                         password=info.password or None)
    result = CliRunner().invoke(cli, ["--dsn", dsn, "demo", "--scale", "0.005"], env=CLEAN_ENV)
    assert result.exit_code == 0, result.output


def test_demo_loads_the_warehouse_and_prints_the_status(runner, dsn, conn):
    result = runner.invoke(cli, ["--dsn", dsn, "demo", "--scale", "0.005"])

    assert result.exit_code == 0, result.output
    # one generate phase per registered area with a demo source (dwh_etl.areas), in their declared order
    assert "[generate (sales)]" in result.stderr and "[generate (devflow)]" in result.stderr
    assert result.stderr.index("[generate (sales)]") < result.stderr.index("[generate (devflow)]") < result.stderr.index("[run daily]")
    assert "pipelines" in result.stdout and "recent_runs" in result.stdout
    assert scalar(conn, "SELECT count(*) FROM sales.fact_sales") == scalar(conn, "SELECT count(*) FROM sales_src.sales")
    assert scalar(conn, "SELECT status FROM dwh_lineage.pipeline_runs ORDER BY run_id DESC LIMIT 1") == "completed"


def test_demo_again_does_not_generate_twice(demo_done_template, runner, dsn, conn):
    sales = scalar(conn, "SELECT count(*) FROM sales_src.sales")

    result = runner.invoke(cli, ["--dsn", dsn, "demo", "--scale", "0.005"])

    assert result.exit_code == 0, result.output
    assert "already generated" in result.stderr
    assert scalar(conn, "SELECT count(*) FROM sales_src.sales") == sales


def test_demo_next_day_loads_only_the_delta(demo_done_template, runner, dsn, conn):
    bronze_before = scalar(conn, "SELECT count(*) FROM bronze.sales_sales")
    watermark = scalar(conn, "SELECT watermark_value FROM dwh_etl.watermarks WHERE table_name = 'bronze.sales_sales'")

    result = runner.invoke(cli, ["--dsn", dsn, "demo", "--next-day"])

    assert result.exit_code == 0, result.output
    changed = scalar(conn, "SELECT count(*) FROM sales_src.sales WHERE updated_at >= %s", (watermark,))
    assert changed > 0
    assert scalar(conn, "SELECT count(*) FROM bronze.sales_sales") == bronze_before + changed
    # every valid source line is in the fact, the 5 bad lines are in quarantine
    assert scalar(conn, "SELECT count(*) FROM dwh_etl.quarantine WHERE target_table = 'silver.sales_sales'") == 5
    assert scalar(conn, "SELECT count(*) FROM sales.fact_sales") == scalar(conn, """
        SELECT count(*) FROM sales_src.sales AS s
        WHERE s.quantity > 0
          AND EXISTS (SELECT 1 FROM sales_src.customers AS c WHERE c.customer_id = s.customer_id)
          AND EXISTS (SELECT 1 FROM sales_src.products AS p WHERE p.product_id = s.product_id)
    """)


def test_backfill_runs_each_date_in_order(runner, dsn, conn):
    result = runner.invoke(cli, ["--dsn", dsn, "run", "daily", "--from", "2025-01-01", "--to", "2025-01-03", "--json"])

    assert result.exit_code == 0, result.output
    runs = json.loads(result.stdout)
    assert [(r["run_date"], r["status"]) for r in runs] == [
        ("2025-01-01", "completed"), ("2025-01-02", "completed"), ("2025-01-03", "completed")]
    assert [r[0] for r in conn.execute(
        "SELECT run_date FROM dwh_lineage.pipeline_runs WHERE pipeline_name = 'daily' ORDER BY run_id").fetchall()
    ] == [dt.date(2025, 1, 1), dt.date(2025, 1, 2), dt.date(2025, 1, 3)]


def test_backfill_stops_at_the_first_failed_date(runner, dsn, conn):
    # a step that fails for one date only
    conn.execute("""
        CREATE PROCEDURE public.fail_on_jan_2(p_run_id bigint, p_run_date date) LANGUAGE plpgsql AS $$
        BEGIN
            IF p_run_date = DATE '2025-01-02' THEN
                RAISE EXCEPTION 'no data for %', p_run_date USING HINT = 'fix the feed';
            END IF;
        END $$
    """)
    conn.execute("CALL dwh_etl.register_pipeline(p_pipeline => 'flaky')")
    conn.execute("""CALL dwh_etl.register_steps('flaky', 'test', '[{"step": "only", "procedure": "public.fail_on_jan_2", "layer": "ops"}]')""")

    result = runner.invoke(cli, ["--dsn", dsn, "run", "flaky", "--from", "2025-01-01", "--to", "2025-01-03"])

    assert result.exit_code == 1
    assert "failed at step only: no data for 2025-01-02" in result.stderr
    assert "Traceback" not in result.output
    assert conn.execute("""
        SELECT run_date, status FROM dwh_lineage.pipeline_runs WHERE pipeline_name = 'flaky' ORDER BY run_id
    """).fetchall() == [(dt.date(2025, 1, 1), "completed"), (dt.date(2025, 1, 2), "failed")]


def test_run_refused_while_the_pipeline_runs_elsewhere(runner, dsn, conn):
    with psycopg.connect(dsn, autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(hashtextextended('dwh_etl.run_pipeline:daily', 0))")
        result = runner.invoke(cli, ["--dsn", dsn, "run", "daily"])

    assert result.exit_code == 5
    assert result.stderr.splitlines()[0] == "error: pipeline daily is already running"
    assert any(line.startswith("hint: ") for line in result.stderr.splitlines())


def test_demo_loads_the_agents_area_too(demo_done_template, conn):
    # issue 11: the third area's steps run in daily; every one of its tables has rows
    for table in ("agents.dim_agent", "agents.dim_user", "agents.dim_conversation", "agents.fact_agent_query",
                  "agents.fact_approval", "agents.fact_training", "agents.agg_agent_daily_performance"):
        assert scalar(conn, f"SELECT count(*) FROM {table}") > 0, table
    assert scalar(conn, """SELECT count(*) FROM dwh_lineage.step_runs AS s
                           JOIN dwh_etl.steps AS st ON st.step_name = s.step_name AND st.pipeline_name = 'daily'
                           WHERE st.area = 'agents' AND s.status <> 'completed'""") == 0


def test_demo_loads_the_citizen_area_too(demo_done_template, conn):
    # issue 12: the citizen area is generated after agents and its steps run in daily
    for table in ("citizen.dim_service", "citizen.dim_user", "citizen.dim_content", "citizen.dim_language",
                  "citizen.fct_service_queries", "citizen.fct_content_usage"):
        assert scalar(conn, f"SELECT count(*) FROM {table}") > 0, table
    assert scalar(conn, """SELECT count(*) FROM dwh_lineage.step_runs AS s
                           JOIN dwh_etl.steps AS st ON st.step_name = s.step_name AND st.pipeline_name = 'daily'
                           WHERE st.area = 'citizen' AND s.status <> 'completed'""") == 0
    assert conn.execute("SELECT area FROM dwh_etl.areas WHERE demo ? 'generate' "
                        "ORDER BY (demo->>'order')::int").fetchall()[-2:] == [("agents",), ("citizen",)]
