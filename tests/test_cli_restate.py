"""The CLI of issue 14's first part: `dwh run --restate [--reextract]`, `--allow-future`, `dwh rebuild`,
`dwh retry`: exit codes, --json, messages; the database state is checked with SQL."""

from __future__ import annotations

import json

import psycopg
import pytest

from dwh_cli.cli import cli
from dwh_cli.ops import utc_today


def scalar(conn, sql, params=None):
    return conn.execute(sql, params).fetchone()[0]


def fact_range(conn):
    lo, hi = conn.execute("""SELECT to_date(min(k)::text, 'YYYYMMDD'), to_date(max(k)::text, 'YYYYMMDD')
                             FROM (SELECT DISTINCT date_key AS k FROM sales.fact_sales ORDER BY 1 DESC LIMIT 3) AS d""").fetchone()
    return lo.isoformat(), hi.isoformat()


@pytest.fixture
def loaded(sales_only_loaded_template, conn):
    return conn


@pytest.mark.parametrize("command", [["rebuild"], ["retry"], ["run"]], ids=" ".join)
def test_help_has_an_example(runner, command):
    result = runner.invoke(cli, [*command, "-h"])
    assert result.exit_code == 0
    assert "Example:" in result.stdout


@pytest.mark.parametrize("args", [
    ["run", "daily", "--restate"],
    ["run", "daily", "--date", "2025-01-01", "--reextract"],
    ["retry", "0"],
    ["retry", "abc"],
])
def test_bad_options_are_usage_errors(runner, args):
    result = runner.invoke(cli, ["--dsn", "host=127.0.0.1 port=1", *args])
    assert result.exit_code == 2, result.output
    assert "Usage: " in result.stderr


def test_run_restate_json(runner, dsn, loaded):
    start, end = fact_range(loaded)
    before = scalar(loaded, "SELECT count(*) FROM sales.fact_sales")
    result = runner.invoke(cli, ["--dsn", dsn, "run", "daily", "--from", start, "--to", end, "--restate", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert (doc["mode"], doc["from"], doc["to"], doc["status"]) == ("restate", start, end, "completed")
    fact = next(r for r in doc["replaced"] if r["table"] == "sales.fact_sales")
    assert fact["rows_deleted"] == fact["rows_after"] > 0
    assert {s["step_name"]: s["status"] for s in doc["steps"]}["sales_extract"] == "skipped"
    assert scalar(loaded, "SELECT parameters->>'mode' FROM dwh_lineage.pipeline_runs WHERE run_id = %s",
                  (doc["run_id"],)) == "restate"
    assert scalar(loaded, "SELECT count(*) FROM sales.fact_sales") == before
    assert "step sales_fact_sales started" in result.stderr  # progress on stderr


def test_run_restate_prints_what_it_replaced(runner, dsn, loaded):
    start, end = fact_range(loaded)
    result = runner.invoke(cli, ["--dsn", dsn, "run", "daily", "--date", end, "--restate", "--reextract"])
    assert result.exit_code == 0, result.output
    first = result.stdout.splitlines()[0]
    assert first.startswith("run ") and f"daily {end}: completed" in first
    assert "replaced:" in result.stdout and "sales.fact_sales" in result.stdout
    run_id = int(first.split()[1])
    # --reextract: the extraction ran too
    assert scalar(loaded, "SELECT status FROM dwh_lineage.step_runs WHERE run_id = %s AND step_name = 'sales_extract'",
                  (run_id,)) == "completed"


def test_a_far_future_date_is_refused_unless_allow_future(runner, dsn, conn):
    result = runner.invoke(cli, ["--dsn", dsn, "run", "daily", "--date", "2999-01-01"])
    assert result.exit_code == 1, result.output
    assert result.stderr.splitlines()[0].startswith("error: run date 2999-01-01 is beyond today (UTC) + the calendar horizon")
    assert "--allow-future" in result.stderr
    assert scalar(conn, "SELECT count(*) FROM dwh_lineage.pipeline_runs") == 0
    result = runner.invoke(cli, ["--dsn", dsn, "run", "daily", "--from", "2999-01-01", "--to", "2999-01-02", "--restate"])
    assert result.exit_code == 1 and "calendar horizon" in result.stderr
    # allowed: a toy pipeline (the real one would grow gold.dim_date by centuries)
    conn.execute("CREATE PROCEDURE public.step_noop(p_run_id bigint, p_run_date date) LANGUAGE plpgsql AS $$ BEGIN END $$")
    conn.execute("CALL dwh_etl.register_pipeline(p_pipeline => 'toy', p_description => 'test', p_schedules => '{}')")
    conn.execute("""CALL dwh_etl.register_steps(p_pipeline => 'toy', p_area => 'test',
                    p_steps => '[{"step": "noop", "procedure": "public.step_noop", "layer": "ops"}]')""")
    result = runner.invoke(cli, ["--dsn", dsn, "run", "toy", "--date", "2999-01-01", "--allow-future", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["run_date"] == "2999-01-01"


def test_rebuild_json_and_errors(runner, dsn, loaded):
    versions = scalar(loaded, "SELECT count(*) FROM sales.dim_customer")
    result = runner.invoke(cli, ["--dsn", dsn, "rebuild", "sales.dim_customer", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert (doc["mode"], doc["target"], doc["status"]) == ("rebuild", "sales.dim_customer", "completed")
    dim = next(r for r in doc["replaced"] if r["table"] == "sales.dim_customer")
    assert dim["rows_deleted"] == dim["rows_after"] == versions

    # a rebuild empties silver by DELETE in its one transaction: readers keep the old rows until it
    # commits, so silver's bulk path (indexes dropped, which locks readers out) is not taken there, even
    # for a batch above silver.bulk_rows (review 17): the same index objects after it
    idx = "SELECT array_agg(indexrelid ORDER BY indexrelid) FROM pg_index WHERE indrelid = 'silver.sales_sales'::regclass"
    before = scalar(loaded, idx)
    loaded.execute("INSERT INTO dwh_etl.settings (key, value) VALUES ('silver.bulk_rows', '1')")
    try:
        result = runner.invoke(cli, ["--dsn", dsn, "rebuild", "silver.sales_sales"])
        assert result.exit_code == 0, result.output
    finally:
        loaded.execute("DELETE FROM dwh_etl.settings WHERE key = 'silver.bulk_rows'")
    assert scalar(loaded, idx) == before

    result = runner.invoke(cli, ["--dsn", dsn, "rebuild", "bronze.sales_sales"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: bronze.sales_sales is loaded by extraction (sales_extract): bronze is not rebuilt\n")
    assert "Traceback" not in result.output
    result = runner.invoke(cli, ["--dsn", dsn, "rebuild", "nothing.here"])
    assert result.exit_code == 1 and "nothing to rebuild" in result.stderr


def test_rebuild_and_restate_take_a_selection(runner, dsn, loaded):
    """--select/--exclude on rebuild and run --restate: exactly the chosen steps are rerun (dbt's graph operators)."""
    facts = scalar(loaded, "SELECT count(*) FROM sales.fact_sales")
    # the dimension alone cannot be emptied under its facts: refused up front, before any run is recorded
    # (review 17: it failed inside the run on the foreign key, the warehouse was "not healthy" and dwh
    # retry repeated the failure), naming the key and the step to add; nothing changed
    runs = scalar(loaded, "SELECT count(*) FROM dwh_lineage.pipeline_runs")
    result = runner.invoke(cli, ["--dsn", dsn, "rebuild", "sales", "--select", "sales_dim_product"])
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith(
        "error: cannot rebuild sales: tables outside the rebuild point at rows it would replace: "
        "sales.fact_sales references sales.dim_product (fact_sales_product_fk)\n"), result.stderr
    assert "add them to the selection (sales_fact_sales)" in result.stderr, result.stderr
    assert scalar(loaded, "SELECT count(*) FROM sales.fact_sales") == facts
    assert scalar(loaded, "SELECT count(*) FROM dwh_lineage.pipeline_runs") == runs
    # the dimension and what is built from it
    result = runner.invoke(cli, ["--dsn", dsn, "rebuild", "sales", "--select", "sales_dim_product+", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["status"] == "completed" and {"sales_dim_product", "sales_fact_sales"} <= set(doc["selected_steps"]), doc
    assert "sales_dim_customer" not in doc["selected_steps"]
    assert {"sales.dim_product", "sales.fact_sales"} <= {r["table"] for r in doc["replaced"]}
    assert scalar(loaded, "SELECT count(*) FROM sales.fact_sales") == facts
    result = runner.invoke(cli, ["--dsn", dsn, "run", "daily", "--date", str(utc_today()), "--restate",
                                 "--select", "sales_fact_sales+", "--exclude", "sales_customer_ltv", "--json"])
    assert result.exit_code == 0, result.output
    steps = json.loads(result.stdout).get("selected_steps")
    assert "sales_fact_sales" in steps and "sales_customer_ltv" not in steps and "sales_dim_customer" not in steps, steps
    result = runner.invoke(cli, ["--dsn", dsn, "rebuild", "sales", "--select", "no_such_step"])
    assert result.exit_code == 2 and "unknown selector" in result.stderr


@pytest.mark.parametrize("args", [["rebuild", "sales"], ["run", "daily", "--date", "2025-01-31", "--restate"]])
def test_refused_with_exit_5_while_a_run_holds_the_pipeline(runner, dsn, conn, args):
    holder = scalar(conn, "INSERT INTO dwh_lineage.pipeline_runs (pipeline_name, run_date) VALUES ('daily', CURRENT_DATE) RETURNING run_id")
    with psycopg.connect(dsn, autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(hashtextextended('dwh_etl.run_pipeline:daily', 0))")
        result = runner.invoke(cli, ["--dsn", dsn, *args])
    assert result.exit_code == 5, result.output
    assert result.stderr.startswith("error: pipeline daily is already running: ")
    assert f"detail: run {holder} started at" in result.stderr


def test_retry(runner, dsn, loaded):
    result = runner.invoke(cli, ["--dsn", dsn, "retry"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: no failed run to retry\n")
    # --json: the error as one JSON line on stderr, no run document (it printed pipeline "?", status failed)
    result = runner.invoke(cli, ["--dsn", dsn, "retry", "--json"])
    assert result.exit_code == 1 and result.stdout == "", result.stdout
    assert json.loads(result.stderr.splitlines()[-1])["error"] == "no failed run to retry", result.stderr

    loaded.execute("ALTER TABLE sales.customer_metrics RENAME TO customer_metrics_away")
    result = runner.invoke(cli, ["--dsn", dsn, "run", "daily", "--json"])
    assert result.exit_code == 1
    failed = json.loads(result.stdout)[0]["run_id"]
    loaded.execute("ALTER TABLE sales.customer_metrics_away RENAME TO customer_metrics")

    result = runner.invoke(cli, ["--dsn", dsn, "retry", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert (doc["retry_of"], doc["status"], doc["pipeline"]) == (failed, "completed", "daily")
    # the failed step and the one after it that the failure held back (the lifetime value reads the metrics)
    assert [(s["step_name"], s["status"]) for s in doc["steps"]] == [("sales_customer_metrics", "completed"),
                                                                     ("sales_customer_ltv", "completed")]

    result = runner.invoke(cli, ["--dsn", dsn, "retry", str(doc["run_id"])])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: run {doc['run_id']} of pipeline daily did not fail (status completed): nothing to retry\n")


def test_a_failed_restate_exits_1_and_shows_the_rolled_back_steps(runner, dsn, loaded):
    start, end = fact_range(loaded)
    before = scalar(loaded, "SELECT count(*) FROM sales.fact_sales")
    loaded.execute("ALTER TABLE sales.customer_metrics RENAME TO customer_metrics_away")
    result = runner.invoke(cli, ["--dsn", dsn, "run", "daily", "--from", start, "--to", end, "--restate", "--json"])
    assert result.exit_code == 1, result.output
    doc = json.loads(result.stdout)
    assert doc["status"] == "failed"
    steps = {s["step_name"]: s["status"] for s in doc["steps"]}
    assert steps["sales_fact_sales"] == "rolled_back" and steps["sales_customer_metrics"] == "failed"
    assert "nothing was changed" in result.stderr
    assert scalar(loaded, "SELECT count(*) FROM sales.fact_sales") == before
