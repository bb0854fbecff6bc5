"""`dwh quality` and `dwh status` after a quality gate failure, and the freshness SLAs.

Each test works on its own fresh database (`conn`, `dsn` and `runner` of tests/conftest.py).
"""

from __future__ import annotations

import json

import psycopg
import pytest
from psycopg.types.json import Jsonb

from dwh_cli.cli import cli


@pytest.fixture(autouse=True)
def sales_area_only(conn):
    """This module tests the sales area on its own: other areas' steps and rules are switched off, so
    the daily pipeline is the engine's and sales' steps and the rules are the sales rules."""
    conn.execute("UPDATE dwh_etl.steps SET is_enabled = false WHERE area NOT IN ('sales', 'engine')")
    conn.execute("UPDATE dwh_etl.quality_rules SET is_enabled = false WHERE area IS DISTINCT FROM 'sales'")


RUN_SQL = "CALL dwh_etl.run_pipeline(p_pipeline => 'daily', p_run_date => CURRENT_DATE, p_run_id => NULL)"
RULE = {"name": "test_fact_quantity_max_1", "table": "sales.fact_sales", "type": "range",
        "columns": ["quantity"], "params": {"max": 1}}


def invoke_json(runner, dsn, *args):
    result = runner.invoke(cli, ["--dsn", dsn, *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture
def loaded(sales_only_loaded_template, conn):
    """The sales source generated (scale 0.005), `daily` run once (conn: a clone of a database built so
    once: tests/conftest.py sales_only_loaded_template)."""
    return conn


@pytest.fixture
def gate_failed(loaded):
    """A test rule (quantity <= 1 on the facts) fails the next day's fact step. Returns (conn, run_id)."""
    conn = loaded
    conn.execute("CALL dwh_etl.register_rules(p_area => 'test', p_rules => %s)", (Jsonb([RULE]),))
    conn.execute("CALL sales_src.generate_next_day()")
    with pytest.raises(psycopg.Error) as exc:
        conn.execute(RUN_SQL)
    assert exc.value.sqlstate == "DW003"
    return conn, conn.execute("SELECT max(run_id) FROM dwh_lineage.pipeline_runs").fetchone()[0]


def test_status_json_lists_the_failing_rule(gate_failed, dsn, runner):
    conn, run_id = gate_failed
    doc = invoke_json(runner, dsn, "status")
    failing = conn.execute("""
        SELECT metric_value FROM dwh_lineage.quality_metrics WHERE run_id = %s AND metric_name = %s
    """, (run_id, RULE["name"])).fetchone()[0]
    checks = [(c["table"], c["check"], c["value"], c["run_id"]) for c in doc["failed_checks"]]
    assert checks == [("sales.fact_sales", RULE["name"], float(failing), run_id)]
    steps = {s["step"]: s for s in doc["last_run_steps"]} if doc["last_run_steps"] and "step" in doc["last_run_steps"][0] else {}
    if steps:
        assert steps["sales_fact_sales"]["status"] == "failed"


def test_quality_failed_json_lists_the_rule_with_its_sample(gate_failed, dsn, runner):
    conn, run_id = gate_failed
    report = invoke_json(runner, dsn, "quality", "--failed")
    assert [(r["table"], r["rule"], r["severity"], r["passed"], r["run_id"]) for r in report["rules"]] \
        == [("sales.fact_sales", RULE["name"], "error", False, run_id)]
    sample = report["rules"][0]["sample"]
    assert 0 < len(sample) <= 10
    assert all(s["quantity"] > 1 and "sale_id" in s for s in sample)
    assert report["rules"][0]["value"] > 0
    # --table filters; a table without failures has none
    assert invoke_json(runner, dsn, "quality", "--failed", "--table", "silver.sales_sales")["rules"] == []
    # the failed evaluation stays in the history after the rule is fixed and the run passes
    conn.execute("CALL dwh_etl.register_rules(p_area => 'test', p_rules => '[]')")
    conn.execute(RUN_SQL)
    assert conn.execute("SELECT count(*) FROM dwh_lineage.quality_metrics WHERE metric_name = %s AND NOT passed",
                        (RULE["name"],)).fetchone()[0] == 1


def test_quality_json_has_the_freshness_slas_of_the_sales_rules(loaded, dsn, runner):
    report = invoke_json(runner, dsn, "quality")
    sla = {s["rule"]: s for s in report["freshness_sla"]}
    assert sorted(sla) == ["fact_sales_fresh", "ltv_fresh", "source_sales_fresh"]
    assert {r: (s["table"], s["severity"], s["max_age"], s["passed"]) for r, s in sla.items()} == {
        "fact_sales_fresh": ("sales.fact_sales", "warn", "26 hours", True),
        "ltv_fresh": ("sales.mv_customer_lifetime_value", "warn", "26 hours", True),
        "source_sales_fresh": ("sales_src.sales", "warn", "26 hours", True),
    }
    assert sla["fact_sales_fresh"]["description"] == "SLA: the sales facts are loaded at least daily"
    # every rule of every sales table has a latest result, all passed after a clean run
    rules = {(r["table"], r["rule"]): r["passed"] for r in report["rules"]}
    assert all(rules.values()), [k for k, v in rules.items() if not v]
    tables = {t for t, _ in rules}
    assert {"silver.sales_customers", "silver.sales_products", "silver.sales_sales", "sales.dim_customer",
            "sales.dim_product", "sales.fact_sales", "sales.agg_daily_sales", "sales.customer_metrics",
            "sales.mv_customer_lifetime_value"} <= tables


def test_quality_json_of_an_empty_warehouse(conn, dsn, runner):
    report = invoke_json(runner, dsn, "quality", "--failed")
    assert report["rules"] == []
    # nothing was ever loaded: the lineage-based SLAs fail (no load), the source one too (no rows)
    assert sorted(s["rule"] for s in report["freshness_sla"]) == ["fact_sales_fresh", "ltv_fresh", "source_sales_fresh"]
