"""Issue 16: the data catalog. Comments on every gold-facing column, column lineage derived from the
registry, `dwh lineage --format`, `dwh docs generate | serve` (a static site from dwh_lineage.catalog()),
and the site rendered in headless Chromium."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
import urllib.request
from pathlib import Path

import psycopg
import pytest

from dwh_cli.cli import cli

GOLD_FACING = ("gold", "sales", "devflow", "agents", "citizen")


def rows(conn, sql, params=None):
    return conn.execute(sql, params).fetchall()


# -- comments --------------------------------------------------------------------------------------------
def test_every_table_and_column_of_the_gold_facing_schemas_has_a_comment(conn):
    """gold and each area's star schema: every table, partitioned table, materialized view and view has a
    COMMENT, and every column of the tables and materialized views (what analysts query)."""
    missing_tables = rows(conn, """
        SELECT n.nspname || '.' || c.relname
        FROM pg_class AS c
        JOIN pg_namespace AS n ON n.oid = c.relnamespace
        WHERE n.nspname = ANY (%s) AND c.relkind IN ('r', 'p', 'm', 'v') AND NOT c.relispartition
          AND NULLIF(btrim(obj_description(c.oid, 'pg_class')), '') IS NULL
        ORDER BY 1""", (list(GOLD_FACING),))
    assert missing_tables == []
    missing_columns = rows(conn, """
        SELECT n.nspname || '.' || c.relname || '.' || a.attname
        FROM pg_class AS c
        JOIN pg_namespace AS n ON n.oid = c.relnamespace
        JOIN pg_attribute AS a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
        WHERE n.nspname = ANY (%s) AND c.relkind IN ('r', 'p', 'm') AND NOT c.relispartition
          AND NULLIF(btrim(col_description(c.oid, a.attnum)), '') IS NULL
        ORDER BY 1""", (list(GOLD_FACING),))
    assert missing_columns == []


# -- column lineage --------------------------------------------------------------------------------------
def test_column_lineage_is_registered_for_every_typed_step(conn):
    steps = rows(conn, """
        SELECT DISTINCT s.step_name
        FROM dwh_etl.steps AS s
        WHERE s.kind <> 'custom'
          AND NOT EXISTS (SELECT 1 FROM dwh_lineage.column_lineage AS l
                          WHERE l.lineage_id IS NULL AND l.step_name = s.step_name)
        ORDER BY 1""")
    assert steps == []
    # what migrate stored is what the registry derives now
    stored = rows(conn, """
        SELECT step_name, source_table, source_column, target_table, target_column, transformation, is_key
        FROM dwh_lineage.column_lineage WHERE lineage_id IS NULL ORDER BY 2, 3, 4, 5, 1""")
    derived = rows(conn, """
        SELECT step_name, source_table, source_column, target_table, target_column, transformation, is_key
        FROM dwh_lineage.derive_column_lineage() ORDER BY 2, 3, 4, 5, 1""")
    assert stored == derived and len(stored) > 500


def test_column_upstream_answers_where_a_fact_column_comes_from(conn):
    up = rows(conn, """SELECT level, source_table, source_column, target_table, target_column, transformation, step_name
                       FROM dwh_lineage.column_upstream('sales.fact_sales', 'quantity')""")
    assert up[0] == (1, "silver.sales_fact_sales_rows", "quantity", "sales.fact_sales", "quantity", "same name",
                     "sales_fact_sales")
    edges = {(s, sc, t, tc) for _, s, sc, t, tc, _, _ in up}
    # the source column, through bronze, the typing view, silver and the fact's view
    assert ("sales_src.sales", "quantity", "bronze.sales_sales", "quantity") in edges
    assert ("bronze.sales_sales", "quantity", "sales._typed_sales", "quantity") in edges
    assert ("sales._typed_sales", "quantity", "silver.sales_sales", "quantity") in edges
    # a surrogate key: looked up in its dimension by the natural key
    key = rows(conn, """SELECT source_table, source_column, transformation
                        FROM dwh_lineage.column_upstream('sales.fact_sales', 'customer_key') WHERE level = 1
                        ORDER BY 1""")
    assert key == [("sales.dim_customer", "customer_key", "lookup by customer_id in sales.dim_customer"),
                   ("silver.sales_fact_sales_rows", "customer_id", "lookup key of customer_key in sales.dim_customer")]
    # the date key from the event time
    assert ("silver.sales_fact_sales_rows", "transaction_at", "date key of transaction_at") in rows(conn, """
        SELECT source_table, source_column, transformation
        FROM dwh_lineage.column_upstream('sales.fact_sales', 'date_key') WHERE level = 1""")
    # a dimension version starts at its change time
    assert ("sales.dim_customer_changes", "change_ts") in rows(conn, """
        SELECT source_table, source_column FROM dwh_lineage.column_upstream('sales.dim_customer', 'valid_from')""")


def test_a_computed_mart_column_is_traced_through_the_views_query(conn):
    """mv_customer_lifetime_value.lifetime_value is COALESCE(m.total_spent, 0) over sales.customer_metrics
    (migration 0045), whose total_spent is the step's sum(f.line_total): its lineage goes on through the
    metrics table to fact_sales.line_total, not a dead end at the view."""
    got = rows(conn, """SELECT target_column, source_table, source_column, transformation FROM dwh_lineage.column_lineage
                        WHERE lineage_id IS NULL AND target_table = 'sales.mv_customer_lifetime_value'
                          AND target_column IN ('lifetime_value', 'name', 'avg_order_value') ORDER BY 1, 2, 3""")
    assert got == [("avg_order_value", "sales.customer_metrics", "total_orders", "computed"),
                   ("avg_order_value", "sales.customer_metrics", "total_spent", "computed"),
                   ("lifetime_value", "sales.customer_metrics", "total_spent", "computed"),
                   ("name", "sales.dim_customer", "full_name", "renamed")]
    assert ("sales.fact_sales", "line_total") in {(t, c) for t, c in rows(conn, """
        SELECT source_table, source_column FROM dwh_lineage.column_upstream('sales.mv_customer_lifetime_value', 'lifetime_value')""")}


def test_view_column_sources_follow_ctes_subselects_and_joins(conn):
    conn.execute("""
        CREATE SCHEMA toy;
        CREATE TABLE toy.a (id int, x int, y int);
        CREATE TABLE toy.b (id int, z int);
        CREATE VIEW toy.v AS
        WITH c AS (SELECT a.id, sum(a.x) AS sx FROM toy.a AS a GROUP BY a.id)
        SELECT c.id, c.sx + s.zz AS total, s.zz AS double_z, c.sx AS "odd name (1)",
               (SELECT max(b2.z) FROM toy.b AS b2) AS top_z
        FROM c
        JOIN (SELECT b.id, b.z * 2 AS zz FROM toy.b AS b) AS s ON s.id = c.id;
    """)
    got = rows(conn, "SELECT target_column, source_table, source_column, transformation "
                     "FROM dwh_lineage._view_column_sources('toy.v'::regclass) ORDER BY 1, 2, 3")
    assert got == [("double_z", "toy.b", "z", "computed"),
                   ("id", "toy.a", "id", "same name"),
                   ("odd name (1)", "toy.a", "x", "computed"),
                   ("total", "toy.a", "x", "computed"),
                   ("total", "toy.b", "z", "computed")]  # top_z: a sub-select in the target list, not followed


def test_column_downstream_lists_what_a_source_column_feeds(conn):
    down = {(t, c) for t, c in rows(conn, """
        SELECT target_table, target_column FROM dwh_lineage.column_downstream('sales_src.customers', 'customer_segment')""")}
    assert {("bronze.sales_customers", "customer_segment"), ("silver.sales_customers", "customer_segment"),
            ("sales.dim_customer", "customer_segment"), ("sales.agg_daily_sales", "customer_segment")} <= down


def test_a_custom_step_declares_its_column_lineage(conn):
    assert rows(conn, """
        SELECT source_table, source_column, transformation FROM dwh_lineage.column_lineage
        WHERE lineage_id IS NULL AND target_table = 'sales.customer_metrics' AND target_column = 'total_spent'""") \
        == [("sales.fact_sales", "line_total", "sum")]


def test_register_area_derives_the_column_lineage_of_a_new_area(conn):
    conn.execute("""
        CREATE SCHEMA toy;
        CREATE TABLE toy.src (id int PRIMARY KEY, v text, w int);
        CREATE TABLE toy.out (id int PRIMARY KEY, v text, total int);
        CREATE PROCEDURE toy.step_copy(p_run_id bigint, p_run_date date) LANGUAGE sql AS 'SELECT 1';
    """)
    spec = {"tables": [{"table": "toy.src", "layer": "source"}, {"table": "toy.out", "layer": "gold"}],
            "pipelines": [{"pipeline": "toy_p"}],
            "steps": [{"step": "toy_copy", "procedure": "toy.step_copy", "layer": "gold",
                       "sources": ["toy.src"], "targets": ["toy.out"],
                       "columns": {"toy.out.total": {"from": ["toy.src.w"], "how": "sum"}}}]}
    conn.execute("CALL dwh_etl.register_area('toy', %s::jsonb)", (json.dumps(spec),))
    lineage = rows(conn, """SELECT source_column, target_column, transformation, is_key FROM dwh_lineage.column_lineage
                            WHERE area = 'toy' AND lineage_id IS NULL ORDER BY 2""")
    assert lineage == [("id", "id", "same name", True), ("w", "total", "sum", False), ("v", "v", "same name", False)]
    # a second registration replaces, not adds
    spec["steps"][0]["columns"] = {}
    conn.execute("CALL dwh_etl.register_area('toy', %s::jsonb)", (json.dumps(spec),))
    assert rows(conn, "SELECT target_column FROM dwh_lineage.column_lineage WHERE area = 'toy' ORDER BY 1") \
        == [("id",), ("v",)]


def test_a_declaration_naming_a_missing_column_is_refused(conn):
    conn.execute("""
        CREATE SCHEMA toy;
        CREATE TABLE toy.src (id int PRIMARY KEY, w int);
        CREATE TABLE toy.out (id int PRIMARY KEY, total int);
        CREATE PROCEDURE toy.step_copy(p_run_id bigint, p_run_date date) LANGUAGE sql AS 'SELECT 1';
    """)
    spec = {"pipelines": [{"pipeline": "toy_p"}],
            "steps": [{"step": "toy_copy", "procedure": "toy.step_copy", "layer": "gold",
                       "sources": ["toy.src"], "targets": ["toy.out"],
                       "columns": {"toy.out.total": ["toy.src.ww"]}}]}
    with pytest.raises(psycopg.errors.InvalidParameterValue) as exc:
        conn.execute("CALL dwh_etl.register_area('toy', %s::jsonb)", (json.dumps(spec),))
    assert str(exc.value).startswith(
        "column lineage: step toy_copy declares toy.out.total <- toy.src.ww but that column does not exist")
    assert exc.value.diag.message_hint == 'keys and sources are "<schema>.<table>.<column>" of existing columns'
    assert rows(conn, "SELECT 1 FROM dwh_etl.areas WHERE area = 'toy'") == []  # nothing registered


# -- dwh lineage --format ----------------------------------------------------------------------------------
def test_lineage_format_json_carries_the_nodes_and_edges_of_lineage_graph(runner, dsn, conn):
    result = runner.invoke(cli, ["--dsn", dsn, "lineage", "sales.fact_sales", "--format", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    expected = {(s, t) for s, t in rows(conn, "SELECT source, target FROM dwh_lineage.lineage_graph('sales.fact_sales')")}
    assert {(e["source"], e["target"]) for e in doc["edges"]} == expected
    nodes = {n["name"]: n for n in doc["nodes"]}
    assert set(nodes) == {x for e in expected for x in e} | {"sales.fact_sales"}
    assert nodes["sales.fact_sales"]["level"] == 0 and nodes["silver.sales_sales"]["level"] < 0
    # every edge points from a lower level to a higher one (the picture's columns)
    assert all(nodes[s]["level"] < nodes[t]["level"] for s, t in expected)


def test_lineage_format_text_lists_each_tables_parents(runner, dsn):
    result = runner.invoke(cli, ["--dsn", dsn, "lineage", "sales.fact_sales", "--format", "text"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("sales.fact_sales (upstream: ")
    i = lines.index("  silver.sales_sales  [silver]")
    assert lines[i + 1] == ("    <- bronze.sales_deleted_records, bronze.sales_sales, silver.sales_customers, "
                            "silver.sales_products")
    assert "  sales.fact_sales  [gold]" in lines
    assert lines[lines.index("  sales.fact_sales  [gold]") + 1] == \
        "    <- gold.dim_date, sales.dim_customer, sales.dim_product, silver.sales_sales"


def test_lineage_format_mermaid_and_dot(runner, dsn):
    mermaid = runner.invoke(cli, ["--dsn", dsn, "lineage", "sales.dim_customer", "--downstream", "--format", "mermaid"])
    assert mermaid.exit_code == 0, mermaid.output
    assert mermaid.stdout.startswith("flowchart LR\n")
    assert "    n_sales_dim_customer --> n_sales_fact_sales" in mermaid.stdout.splitlines()
    dot = runner.invoke(cli, ["--dsn", dsn, "lineage", "sales.fact_sales", "--both", "--format", "dot"])
    assert dot.exit_code == 0, dot.output
    assert dot.stdout.startswith("digraph lineage {") and dot.stdout.rstrip().endswith("}")
    assert '    "silver.sales_sales" -> "sales.fact_sales";' in dot.stdout.splitlines()
    assert '    "sales.fact_sales" -> "sales.agg_daily_sales";' in dot.stdout.splitlines()


def test_lineage_format_refuses_an_unknown_table(runner, dsn):
    result = runner.invoke(cli, ["--dsn", dsn, "lineage", "sales.fact_sale", "--format", "text"])
    assert result.exit_code == 1
    assert "unknown table 'sales.fact_sale'" in result.stderr


# -- the site ----------------------------------------------------------------------------------------------
@pytest.fixture
def site(runner, dsn, sales_loaded_template, tmp_path) -> Path:
    out = tmp_path / "site"
    result = runner.invoke(cli, ["--dsn", dsn, "docs", "generate", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    counts = json.loads(result.stdout)
    assert counts["relations"] > 100 and counts["areas"] == 4 and counts["column_lineage"] > 500
    return out


def test_catalog_document_has_every_section(conn):
    doc = conn.execute("SELECT dwh_lineage.catalog()").fetchone()[0]
    assert {"areas", "schemas", "relations", "dimensions", "table_edges", "column_lineage", "pipelines",
            "quality", "freshness"} <= set(doc)
    fact = next(r for r in doc["relations"] if r["name"] == "sales.fact_sales")
    assert fact["kind"] == "partitioned table" and fact["primary_key"] == ["sale_id", "date_key"]
    assert {fk["references"] for fk in fact["foreign_keys"]} >= {"sales.dim_customer", "gold.dim_date"}
    assert all(c["comment"] for c in fact["columns"])
    dim = next(d for d in doc["dimensions"] if d["target"] == "sales.dim_customer")
    assert dim["surrogate_key"] == "customer_key" and "customer_segment" in dim["type2_columns"]
    daily = next(p for p in doc["pipelines"] if p["pipeline"] == "daily")
    assert any(s["step"] == "sales_fact_sales" for s in daily["steps"])


def test_docs_generate_writes_a_page_per_relation_with_its_lineage_picture(site, conn):
    fact = (site / "t" / "sales.fact_sales.html").read_text()
    for upstream in ("silver.sales_sales", "sales.dim_customer", "sales.dim_product", "gold.dim_date"):
        assert f'data-table="{upstream}"' in fact
        assert f'href="../t/{upstream}.html"' in fact  # clickable to the next table
    assert 'data-table="sales.agg_daily_sales"' in fact  # downstream too
    assert "lookup by customer_id in sales.dim_customer" in fact  # column lineage
    assert "<h2>SCD spec</h2>" in (site / "t" / "sales.dim_customer.html").read_text()
    pipelines = (site / "pipelines.html").read_text()
    assert 'id="p-daily"' in pipelines and 'class="durations"' in pipelines
    assert "fact_sales_customer_fk" in (site / "quality.html").read_text()
    assert (site / "freshness.html").exists() and (site / "a" / "sales.html").exists()
    index = (site / "search-index.js").read_text()
    assert index.startswith("window.DWH_INDEX=") and '"sales.fact_sales.customer_key"' in index
    # offline: nothing is fetched from elsewhere
    for page in [site / "index.html", site / "t" / "sales.fact_sales.html", site / "pipelines.html"]:
        assert not re.search(r"""(src|href)=["']https?://""", page.read_text())
    assert len(list((site / "t").glob("*.html"))) == conn.execute("""
        SELECT count(*) FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND NOT c.relispartition
          AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'public', 'cron') AND n.nspname !~ '^pg_'
    """).fetchone()[0]


def test_docs_serve_serves_the_site_on_localhost(site, runner):
    from dwh_cli.docs import serve

    server = serve(site, 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        assert host == "127.0.0.1"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/t/sales.fact_sales.html", timeout=10) as resp:
            assert resp.status == 200 and b'data-table="silver.sales_sales"' in resp.read()
        # the port taken: one error naming it and what to do (it was "error: [Errno 98] Address already in use")
        result = runner.invoke(cli, ["--dsn", "host=/nonexistent", "docs", "serve", "--out", str(site),
                                     "--port", str(port)])
        assert result.exit_code == 1, result.output
        assert result.stderr.startswith(f"error: cannot serve on 127.0.0.1:{port}: Address already in use\n"), result.stderr
        assert "--port N" in result.stderr and "Traceback" not in result.stderr
    finally:
        server.shutdown()
        server.server_close()


CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1400,900"]


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def test_the_site_renders_in_headless_chromium_with_the_lineage_of_fact_sales(site, tmp_path):
    browser = _chromium()
    if browser is None:
        pytest.skip("chromium is not installed (Debian: apt-get install chromium); the docs site was not rendered")
    page = (site / "t" / "sales.fact_sales.html").resolve().as_uri()
    profile = tmp_path / "chromium-profile"
    shot = tmp_path / "fact_sales.png"
    run = subprocess.run([browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--screenshot={shot}", page],
                         capture_output=True, text=True, timeout=120)
    assert shot.exists() and shot.stat().st_size > 10_000, run.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("DWH_DOCS_SCREENSHOT"):  # e.g. docs/img/docs-fact-sales.png, shown in the README
        shutil.copyfile(shot, os.environ["DWH_DOCS_SCREENSHOT"])
    dom = subprocess.run([browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", page],
                         capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    # the lineage picture, as the browser built it, shows the sources of sales.fact_sales
    svg = html[html.index('<svg xmlns="http://www.w3.org/2000/svg" class="lineage"'):]
    svg = svg[:svg.index("</svg>")]
    for source in ("silver.sales_sales", "sales.dim_customer", "sales.dim_product", "gold.dim_date",
                   "bronze.sales_sales", "sales_src.sales"):
        assert f'data-table="{source}"' in svg, source
    assert 'class="node focus" data-table="sales.fact_sales"' in svg
    assert 'data-source="silver.sales_sales" data-target="sales.fact_sales"' in svg
    # the inline script ran and loaded the local search index (offline, from the file system)
    indexed = re.search(r'data-indexed="(\d+)"', html)
    assert indexed and int(indexed.group(1)) > 1000


def test_custom_steps_that_write_from_their_sources_have_column_lineage(conn):
    """Every custom step with sources and target tables has column lineage, declared or matched by name;
    a "<table>.*" declaration covers each of the table's own columns (JSON feeds into bronze)."""
    missing = rows(conn, """
        SELECT s.step_name FROM dwh_etl.steps AS s
        WHERE s.kind = 'custom' AND cardinality(s.source_tables) > 0 AND cardinality(s.target_tables) > 0
          -- the engine's own steps generate their rows (the calendar from dates and settings): no source column
          AND s.area <> 'engine'
          AND NOT EXISTS (SELECT 1 FROM dwh_lineage.column_lineage AS l
                          WHERE l.lineage_id IS NULL AND l.step_name = s.step_name)
        ORDER BY 1""")
    assert missing == []
    declared = rows(conn, """
        SELECT l.target_column FROM dwh_lineage.column_lineage AS l
        WHERE l.lineage_id IS NULL AND l.step_name = 'devflow_ingest_metrics'
          AND l.source_table = 'devflow_src.api_payloads' AND l.source_column = 'payload'
        ORDER BY 1""")
    own = rows(conn, """
        SELECT a.attname::text FROM pg_attribute AS a
        WHERE a.attrelid = 'bronze.devflow_metric_samples'::regclass AND a.attnum > 0 AND NOT a.attisdropped
          AND a.attname !~ '^_' ORDER BY 1""")
    assert declared == own and len(own) > 3
