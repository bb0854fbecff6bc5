"""`dwh run --select/--exclude/--dry-run`, `dwh ls`, `dwh test` (issue 14, "Choosing what runs"):
exit codes, --json, unknown selectors, and the database state they leave (checked with SQL).

Each test works on its own fresh database: the migrated template, or a clone of the sales warehouse
loaded once (tests/conftest.py sales_only_loaded_template).
"""

from __future__ import annotations

import json
import re

import pytest

from dwh_cli.cli import cli

COUNTS = """SELECT (SELECT count(*) FROM dwh_lineage.pipeline_runs), (SELECT count(*) FROM dwh_lineage.step_runs),
                   (SELECT count(*) FROM dwh_lineage.quality_metrics), (SELECT count(*) FROM dwh_lineage.table_lineage),
                   (SELECT count(*) FROM bronze.sales_sales), (SELECT count(*) FROM sales.fact_sales),
                   (SELECT json_agg(w ORDER BY w.table_name)::text FROM dwh_etl.watermarks AS w)"""


def invoke(runner, dsn, *args):
    return runner.invoke(cli, ["--dsn", dsn, *args])


def invoke_json(runner, dsn, *args, exit_code=0):
    result = invoke(runner, dsn, *args, "--json")
    assert result.exit_code == exit_code, result.output
    return json.loads(result.stdout)


@pytest.fixture
def loaded(sales_only_loaded_template, conn):
    """The sales area only, its source generated and `daily` run once."""
    return conn


# -- ls ------------------------------------------------------------------------------------------------
def test_ls_lists_pipelines_schedules_and_steps(conn, dsn, runner):
    result = invoke(runner, dsn, "ls")
    assert result.exit_code == 0, result.output
    assert "pipeline daily:" in result.stdout and "schedule (UTC) 0 2 * * *, active" in result.stdout
    assert "pipeline maintenance:" in result.stdout
    doc = invoke_json(runner, dsn, "ls")
    assert {p["pipeline"] for p in doc} == {r[0] for r in conn.execute("SELECT pipeline_name FROM dwh_etl.pipelines")}
    daily = next(p for p in doc if p["pipeline"] == "daily")
    assert [s["step"] for s in daily["steps"]] == [r[0] for r in conn.execute(
        "SELECT step_name FROM dwh_etl._ordered_steps('daily') ORDER BY depth, step_name")]


def test_ls_select_shows_only_the_chosen_steps_and_their_pipelines(dsn, runner):
    doc = invoke_json(runner, dsn, "ls", "--select", "+sales.fact_sales", "--exclude", "sources")
    assert [p["pipeline"] for p in doc] == ["daily", "incremental"]
    assert [s["step"] for s in doc[0]["steps"]] == [
        "sales_extract", "sales_silver_customers", "sales_silver_products", "sales_dim_customer",
        "sales_dim_product", "sales_silver_sales", "sales_fact_sales"]
    doc = invoke_json(runner, dsn, "ls", "-s", "area:devflow,kind:mart")
    assert "daily" in [p["pipeline"] for p in doc] and all(p["steps"] for p in doc)
    assert all(s["kind"] == "mart" and s["area"] == "devflow" for p in doc for s in p["steps"])


def test_an_unknown_selector_is_a_usage_error_with_close_matches(dsn, runner):
    for args in (["ls", "--select", "sales_fact_sale"], ["run", "daily", "--select", "sales_fact_sale"],
                 ["run", "daily", "--dry-run", "--exclude", "sales_fact_sale"], ["test", "--select", "sales_fact_sale"]):
        result = invoke(runner, dsn, *args)
        assert result.exit_code == 2, (args, result.output)
        assert result.stderr.splitlines()[0] == \
            "error: unknown selector: 'sales_fact_sale' (did you mean sales_fact_sales, sales.fact_sales?)", args
        assert result.stdout == ""
    result = invoke(runner, dsn, "ls", "--select", "tag:nightly")
    assert result.exit_code == 2
    assert "unknown selector method 'tag'" in result.stderr


# -- run --select / --dry-run -----------------------------------------------------------------------------
def test_run_select_runs_only_the_chosen_steps(loaded, dsn, runner):
    conn = loaded
    conn.execute("CALL sales_src.generate_next_day()")
    fact_mark = conn.execute("SELECT watermark_value FROM dwh_etl.watermarks WHERE table_name = 'sales.fact_sales'").fetchone()[0]
    runs = invoke_json(runner, dsn, "run", "daily", "--select", "sales_extract+1", "--exclude", "sales_silver_sales")
    assert len(runs) == 1 and runs[0]["status"] == "completed"
    ran = [s["step_name"] for s in runs[0]["steps"] if s["status"] == "completed"]
    assert ran == ["sales_extract", "sales_silver_customers", "sales_silver_products"]
    skipped = {s["error_message"] for s in runs[0]["steps"] if s["status"] != "completed"}
    assert skipped == {"not selected"}
    assert conn.execute("SELECT watermark_value FROM dwh_etl.watermarks WHERE table_name = 'sales.fact_sales'").fetchone()[0] == fact_mark
    assert conn.execute("SELECT parameters->'steps' FROM dwh_lineage.pipeline_runs WHERE run_id = %s",
                        (runs[0]["run_id"],)).fetchone()[0] == ran


def test_run_select_prints_the_chosen_steps_and_counts_the_others(loaded, dsn, runner):
    result = invoke(runner, dsn, "run", "daily", "--select", "sales_customer_ltv")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert ": completed" in lines[0]
    assert [line.split()[0] for line in lines[3:-1]] == ["sales_customer_ltv"]
    total = loaded.execute("SELECT count(*) FROM dwh_etl.select_steps('daily')").fetchone()[0]
    assert lines[-1] == f"{total - 1} other step(s) of daily not selected (recorded as skipped)"


def test_run_select_that_chooses_nothing_in_the_pipeline_is_a_usage_error(conn, dsn, runner):
    before = conn.execute(COUNTS).fetchone()
    result = invoke(runner, dsn, "run", "maintenance", "--select", "sales_fact_sales")
    assert result.exit_code == 2, result.output
    assert "error: the selection chooses no step of pipeline maintenance" in result.stderr
    assert conn.execute(COUNTS).fetchone() == before


def test_dry_run_prints_steps_order_and_windows_and_writes_nothing(loaded, dsn, runner):
    conn = loaded
    conn.execute("CALL sales_src.generate_next_day()")
    before = conn.execute(COUNTS).fetchone()
    doc = invoke_json(runner, dsn, "run", "daily", "--dry-run", "--select", "+sales.fact_sales")
    assert doc["dry_run"] is True and doc["pipeline"] == "daily"
    assert [s["step"] for s in doc["steps"]] == [
        "sources", "sales_extract", "sales_silver_customers", "sales_silver_products", "sales_dim_customer",
        "sales_dim_product", "sales_silver_sales", "sales_fact_sales"]
    assert [s["order"] for s in doc["steps"]] == list(range(1, 9))
    extract = {t["table"]: t for t in doc["steps"][1]["tables"]}
    mark = conn.execute("SELECT watermark_value FROM dwh_etl.watermarks WHERE table_name = 'bronze.sales_sales'").fetchone()[0]
    assert extract["bronze.sales_sales"]["watermark_column"] == "_dwh_arrived_at"
    assert extract["bronze.sales_sales"]["window_from"].replace("T", " ")[:19] == mark.isoformat(sep=" ")[:19]
    assert extract["bronze.sales_sales"]["window_to"] > extract["bronze.sales_sales"]["window_from"]
    assert doc["steps"][0]["tables"][0]["note"].startswith("custom step")

    result = invoke(runner, dsn, "run", "daily", "--dry-run", "--from", "2025-01-01", "--to", "2025-01-02")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("dry run of pipeline daily for 2025-01-01: ")
    assert "sales_fact_sales" in result.stdout and "window" in result.stdout
    # windows in the human style of timestamps (README: 2026-12-02 17:03:14Z; it printed "... UTC")
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ\)", result.stdout) and " UTC" not in result.stdout, result.stdout
    assert conn.execute(COUNTS).fetchone() == before


def test_dry_run_before_the_first_load_shows_open_windows(conn, dsn, runner):
    before = conn.execute(COUNTS).fetchone()
    doc = invoke_json(runner, dsn, "run", "daily", "--dry-run", "--select", "sales_extract")
    tables = doc["steps"][0]["tables"]
    assert [t["table"] for t in tables] == ["bronze.sales_customers", "bronze.sales_products", "bronze.sales_sales",
                                           "bronze.sales_deleted_records"]
    assert all(t["window_from"] is None and t["window_to"] and t["note"].startswith("first load") for t in tables)
    result = invoke(runner, dsn, "run", "daily", "--dry-run", "--select", "sales_extract")
    assert result.exit_code == 0, result.output
    assert "[-infinity, " in result.stdout
    assert conn.execute(COUNTS).fetchone() == before


def test_dry_run_of_an_unknown_pipeline_exits_4(conn, dsn, runner):
    result = invoke(runner, dsn, "run", "nosuch", "--dry-run")
    assert result.exit_code == 4, result.output
    assert "unknown pipeline 'nosuch'" in result.stderr


# -- test ---------------------------------------------------------------------------------------------
def test_test_passes_on_a_clean_warehouse_and_says_the_scope(loaded, dsn, runner):
    result = invoke(runner, dsn, "test", "--select", "sales.dim_customer")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["result", "table", "rule", "severity", "scope", "rows_checked", "failing"]
    assert all(" whole table " in line for line in lines[2:-1])
    assert lines[-1].startswith("3 rule(s) on 1 table(s), evaluated over whole tables: 3 passed, 0 failed")


def test_test_fails_on_a_bad_row_the_incremental_gate_did_not_see(loaded, dsn, runner):
    conn = loaded
    conn.execute("UPDATE sales.fact_sales SET quantity = 20000 WHERE sale_id = (SELECT min(sale_id) FROM sales.fact_sales)")
    conn.execute("CALL sales_src.generate_next_day()")
    runs = invoke_json(runner, dsn, "run", "daily")
    assert runs[0]["status"] == "completed"  # the gate looked at the new batch only

    doc = invoke_json(runner, dsn, "test", "--select", "sales_fact_sales", exit_code=1)
    assert doc["ok"] is False
    failed = [r for r in doc["results"] if not r["passed"]]
    total = conn.execute("SELECT count(*) FROM sales.fact_sales").fetchone()[0]
    assert [(r["rule_name"], r["scope"], r["rows_checked"], r["failing"]) for r in failed] == [
        ("fact_sales_quantity_range", "table", total, 1)]
    assert doc["summary"]["failed_errors"] == 1

    result = invoke(runner, dsn, "test", "--select", "sales.fact_sales")
    assert result.exit_code == 1
    assert result.stdout.splitlines()[2].split()[:5] == ["FAIL", "sales.fact_sales", "fact_sales_quantity_range", "error", "whole"]
    # a warning alone does not fail the command
    conn.execute("UPDATE dwh_etl.quality_rules SET severity = 'warn' WHERE rule_name = 'fact_sales_quantity_range'")
    result = invoke(runner, dsn, "test", "--select", "sales.fact_sales")
    assert result.exit_code == 0, result.output
    assert "1 failed (0 error, 1 warning)" in result.stdout


def test_test_of_a_table_no_step_writes(loaded, dsn, runner):
    doc = invoke_json(runner, dsn, "test", "--select", "sales_src.sales")
    assert {r["table_name"] for r in doc["results"]} == {"sales_src.sales"}
    assert doc["ok"] is True


def test_test_without_rules_on_the_selection(conn, dsn, runner):
    result = invoke(runner, dsn, "test", "--select", "kind:extract")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "no quality rules on the selected tables"
