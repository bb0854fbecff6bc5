"""Choosing what runs, in SQL (issue 14): dwh_etl.select_steps (dbt's selectors over the step graph),
run_pipeline's p_steps, dwh_etl.select_plan (dry run), dwh_etl.select_list (ls) and dwh_etl.test_rules
(quality rules over whole tables).

Selector tests run on the migrated template (the steps are registered, no data); run and test tests on
a clone of the sales warehouse loaded once (tests/conftest.py sales_only_loaded_template).
"""

from __future__ import annotations

import psycopg
import pytest

SALES_UPSTREAM_OF_FACT = ["sources", "sales_extract", "sales_silver_customers", "sales_silver_products",
                          "sales_dim_customer", "sales_dim_product", "sales_silver_sales", "sales_fact_sales"]


def steps(conn, pipeline, select=None, exclude=None) -> list[str]:
    return [r[0] for r in conn.execute(
        "SELECT step_name FROM dwh_etl.select_steps(%s, %s, %s) ORDER BY pipeline_name, step_order",
        (pipeline, select, exclude))]


def sql_error(conn, query, params=None) -> psycopg.Error:
    with pytest.raises(psycopg.Error) as exc:
        conn.execute(query, params)
    return exc.value


# -- selectors ----------------------------------------------------------------------------------------
def test_no_selector_is_every_enabled_step_in_the_runners_order(conn):
    expected = [r[0] for r in conn.execute(
        "SELECT step_name FROM dwh_etl._ordered_steps('daily') ORDER BY depth, step_name")]
    assert steps(conn, "daily") == expected
    assert steps(conn, "daily", [], []) == expected
    assert steps(conn, "daily", ["  "]) == expected
    orders = [r[0] for r in conn.execute("SELECT step_order FROM dwh_etl.select_steps('daily')")]
    assert orders == list(range(1, len(expected) + 1))


def test_upstream_of_a_table_is_its_writer_and_everything_it_needs_on_sales(conn):
    assert steps(conn, "incremental", ["+sales.fact_sales"]) == SALES_UPSTREAM_OF_FACT
    assert steps(conn, "daily", ["+sales_fact_sales"]) == SALES_UPSTREAM_OF_FACT


def test_downstream_of_a_step_on_sales(conn):
    assert steps(conn, "daily", ["sales_fact_sales+"]) == [
        "sales_fact_sales", "sales_agg_daily_sales", "sales_customer_metrics", "sales_customer_ltv"]
    # a table downstream: its writer, then what depends on it
    assert steps(conn, "daily", ["sales.dim_product+"]) == [
        "sales_dim_product", "sales_fact_sales", "sales_agg_daily_sales", "sales_customer_metrics",
        "sales_customer_ltv"]


def test_both_directions_and_depth_limits_on_devflow(conn):
    assert steps(conn, "daily", ["+devflow_dimensions+"]) == [
        "devflow_extract_entities", "devflow_silver_entities", "devflow_dimensions",
        "devflow_fact_agent_execution", "devflow_fact_code_generation", "devflow_fact_deployment",
        "devflow_fact_issue_processing", "devflow_fact_performance_metrics", "devflow_mart_agent_performance",
        "devflow_mart_development_performance", "devflow_mart_infrastructure_cost"]
    # 1+x: x and the steps it depends on directly
    direct = conn.execute("""SELECT depends_on FROM dwh_etl.steps
                             WHERE pipeline_name = 'daily' AND step_name = 'devflow_fact_deployment'""").fetchone()[0]
    assert set(steps(conn, "daily", ["1+devflow_fact_deployment"])) == {"devflow_fact_deployment", *direct}
    assert set(steps(conn, "daily", ["+devflow_fact_deployment"])) > set(steps(conn, "daily", ["1+devflow_fact_deployment"]))
    assert steps(conn, "daily", ["devflow_dimensions+0"]) == ["devflow_dimensions"]


def test_at_is_the_descendants_and_everything_they_need(conn):
    # dbt's @x: x, its descendants, and the ancestors of those (the fact needs the customer dimension too)
    assert steps(conn, "incremental", ["@sales_dim_product"]) == SALES_UPSTREAM_OF_FACT + [
        "sales_agg_daily_sales", "sales_customer_metrics", "sales_customer_ltv"]
    assert "sales_dim_customer" not in steps(conn, "incremental", ["sales_dim_product+"])


def test_areas_methods_wildcards_and_intersection(conn):
    silver = ["sales_silver_customers", "sales_silver_products", "sales_silver_sales"]
    assert steps(conn, "daily", ["area:sales,layer:silver"]) == silver
    assert steps(conn, "daily", ["sales_silver_*"]) == silver
    assert steps(conn, "daily", ["step:sales_silver_*"]) == silver
    assert steps(conn, "daily", ["sales,kind:silver"]) == silver  # a bare area name
    assert set(steps(conn, "daily", ["sales"])) == {
        r[0] for r in conn.execute("SELECT step_name FROM dwh_etl.steps WHERE pipeline_name = 'daily' AND area = 'sales'")}
    assert steps(conn, "daily", ["silver.sales_*,kind:silver"]) == silver  # tables by wildcard
    # '_' is not a wildcard: step names are full of it
    assert sql_error(conn, "SELECT * FROM dwh_etl.select_steps('daily', ARRAY['sales_silver_sale_'])").sqlstate == "DW020"


def test_several_selectors_are_a_union_and_exclude_removes(conn):
    assert steps(conn, "daily", ["sales_dim_customer", "sales_dim_product"]) == ["sales_dim_customer", "sales_dim_product"]
    assert steps(conn, "daily", ["sales_dim_customer sales_dim_product"]) == ["sales_dim_customer", "sales_dim_product"]
    assert steps(conn, "daily", ["+sales.fact_sales"], ["sources", "sales_extract"]) == SALES_UPSTREAM_OF_FACT[2:]
    assert steps(conn, "daily", None, ["area:devflow", "area:agents", "area:sales", "area:citizen"]) == [
        r[0] for r in conn.execute("""SELECT o.step_name FROM dwh_etl._ordered_steps('daily') AS o
                                      JOIN dwh_etl.steps AS s ON s.pipeline_name = 'daily' AND s.step_name = o.step_name
                                      WHERE s.area = 'engine' ORDER BY o.depth, o.step_name""")]


def test_a_table_no_step_writes_selects_the_steps_that_read_it(conn):
    assert steps(conn, "daily", ["sales_src.sales"]) == ["sales_extract"]
    assert steps(conn, "daily", ["sales_src.sales+1"]) == ["sales_extract", "sales_silver_customers",
                                                           "sales_silver_products", "sales_silver_sales"]


def test_a_known_name_absent_from_the_pipeline_selects_nothing(conn):
    assert steps(conn, "maintenance", ["sales_fact_sales"]) == []


def test_every_pipeline_when_none_is_named(conn):
    rows = conn.execute("SELECT pipeline_name, step_name, step_order FROM dwh_etl.select_steps(NULL, ARRAY['sales_dim_customer'])").fetchall()
    assert rows == [("daily", "sales_dim_customer", 1), ("incremental", "sales_dim_customer", 1)]


def test_unknown_selectors_are_named_with_close_matches(conn):
    e = sql_error(conn, "SELECT * FROM dwh_etl.select_steps('daily', ARRAY['+sales_fact_sale', 'salse', 'sales'])")
    assert e.sqlstate == "DW020"
    assert e.diag.message_primary == ("unknown selectors: '+sales_fact_sale' (did you mean sales_fact_sales, sales.fact_sales?); "
                                      "'salse' (did you mean sales?)")
    assert "dwh ls" in e.diag.message_hint
    e = sql_error(conn, "SELECT * FROM dwh_etl.select_steps('daily', NULL, ARRAY['table:sales.fact_sale'])")
    assert e.sqlstate == "DW020"
    assert e.diag.message_primary.startswith("unknown selector: 'table:sales.fact_sale' (did you mean sales.fact_sales")
    assert "in exclude" in e.diag.message_detail


@pytest.mark.parametrize("selector, message", [
    ("tag:nightly", "unknown selector method 'tag'"),
    ("a,,b", "invalid selector 'a,,b'"),
    ("@+sales", "invalid selector '@+sales'"),
    ("sales'; DROP TABLE dwh_etl.steps; --", "invalid selector 'sales'';'"),
    ("x%", "invalid selector 'x%'"),
])
def test_malformed_selectors_are_refused_and_never_run(conn, selector, message):
    e = sql_error(conn, "SELECT * FROM dwh_etl.select_steps('daily', %s)", ([selector],))
    assert e.sqlstate == "DW020"
    assert e.diag.message_primary.startswith(message)
    assert conn.execute("SELECT to_regclass('dwh_etl.steps') IS NOT NULL").fetchone()[0]


def test_unknown_pipeline_is_dw001(conn):
    e = sql_error(conn, "SELECT * FROM dwh_etl.select_steps('nosuch', ARRAY['sales'])")
    assert e.sqlstate == "DW001"


def test_disabled_steps_are_not_chosen(conn):
    conn.execute("UPDATE dwh_etl.steps SET is_enabled = false WHERE step_name = 'sales_customer_ltv'")
    assert "sales_customer_ltv" not in steps(conn, "daily", ["sales_fact_sales+"])


def test_ls_document_lists_pipelines_schedules_and_chosen_steps(conn):
    doc = conn.execute("SELECT dwh_etl.select_list(ARRAY['sales_fact_sales+1'])").fetchone()[0]
    assert [p["pipeline"] for p in doc] == ["daily", "incremental"]
    assert doc[0]["schedules_utc"] == ["0 2 * * *"]
    # one step downstream: the lifetime-value view is two (it reads sales.customer_metrics)
    assert [s["step"] for s in doc[0]["steps"]] == ["sales_fact_sales", "sales_agg_daily_sales",
                                                  "sales_customer_metrics"]
    assert doc[0]["steps"][0]["writes"] == ["sales.fact_sales"]
    everything = conn.execute("SELECT dwh_etl.select_list()").fetchone()[0]
    assert {p["pipeline"] for p in everything} == {r[0] for r in conn.execute("SELECT pipeline_name FROM dwh_etl.pipelines")}


# -- runs of chosen steps ------------------------------------------------------------------------------
@pytest.fixture
def loaded(sales_only_loaded_template, conn):
    """The sales area only, its source generated and `daily` run once."""
    return conn


def watermarks(conn) -> dict[str, object]:
    return dict(conn.execute("SELECT table_name, watermark_value FROM dwh_etl.watermarks").fetchall())


def test_a_run_of_chosen_steps_runs_only_them_and_leaves_the_others_watermarks(loaded):
    conn = loaded
    conn.execute("CALL sales_src.generate_next_day()")
    before = watermarks(conn)
    bronze_before = conn.execute("SELECT count(*) FROM bronze.sales_sales").fetchone()[0]
    run_id = conn.execute("""CALL dwh_etl.run_pipeline(p_pipeline => 'daily', p_steps => ARRAY['sales_extract'],
                                                       p_run_id => NULL)""").fetchone()[0]
    statuses = dict(conn.execute("SELECT step_name, status FROM dwh_lineage.step_runs WHERE run_id = %s", (run_id,)).fetchall())
    assert statuses.pop("sales_extract") == "completed"
    assert set(statuses.values()) == {"skipped"}
    assert {r[0] for r in conn.execute("SELECT DISTINCT error_message FROM dwh_lineage.step_runs WHERE run_id = %s AND status = 'skipped'",
                                       (run_id,))} == {"not selected"}
    run = conn.execute("SELECT status, parameters->'steps', metrics->>'unselected_steps' FROM dwh_lineage.pipeline_runs WHERE run_id = %s",
                       (run_id,)).fetchone()
    assert run == ("completed", ["sales_extract"], str(len(statuses)))
    after = watermarks(conn)
    moved = {t for t in after if after[t] != before.get(t)}
    assert moved and all(t.startswith("bronze.sales_") for t in moved)
    assert conn.execute("SELECT count(*) FROM bronze.sales_sales").fetchone()[0] > bronze_before

    # the rest of the pipeline picks up from there: silver reads what the extraction landed
    silver_before = conn.execute("SELECT count(*) FROM silver.sales_sales").fetchone()[0]
    run_id = conn.execute("""CALL dwh_etl.run_pipeline(p_pipeline => 'daily', p_steps => ARRAY['sales_silver_customers',
                             'sales_silver_products', 'sales_silver_sales'], p_run_id => NULL)""").fetchone()[0]
    assert conn.execute("SELECT count(*) FROM silver.sales_sales").fetchone()[0] > silver_before
    assert conn.execute("SELECT count(*) FROM dwh_lineage.step_runs WHERE run_id = %s AND status = 'completed'",
                        (run_id,)).fetchone()[0] == 3
    assert watermarks(conn)["sales.fact_sales"] == before["sales.fact_sales"]


def test_p_steps_naming_a_step_the_pipeline_lacks_is_refused_before_anything_is_recorded(loaded):
    conn = loaded
    runs = conn.execute("SELECT count(*) FROM dwh_lineage.pipeline_runs").fetchone()[0]
    for steps_arg, message in ((["sales_extract", "nosuch"], "p_steps: pipeline maintenance has no step 'nosuch', 'sales_extract'"),
                               ([], "p_steps: no step selected")):
        e = sql_error(conn, "CALL dwh_etl.run_pipeline(p_pipeline => 'maintenance', p_steps => %s::text[], p_run_id => NULL)",
                      (steps_arg,))
        assert (e.sqlstate, e.diag.message_primary) == ("22023", message)
    assert conn.execute("SELECT count(*) FROM dwh_lineage.pipeline_runs").fetchone()[0] == runs


def test_the_plan_shows_each_chosen_steps_window_and_writes_nothing(loaded):
    conn = loaded
    conn.execute("CALL sales_src.generate_next_day()")
    counts = "SELECT (SELECT count(*) FROM dwh_lineage.pipeline_runs), (SELECT count(*) FROM dwh_lineage.step_runs), (SELECT count(*) FROM bronze.sales_sales)"
    before, marks = conn.execute(counts).fetchone(), watermarks(conn)
    rows = conn.execute("""SELECT step_order, step_name, table_name, window_from, window_to, note
                           FROM dwh_etl.select_plan('daily', NULL, ARRAY['+sales.fact_sales'], ARRAY['sources'])""").fetchall()
    assert [r[1] for r in rows if r[0] == 1] == ["sales_extract"] * 4
    assert [r[1] for r in rows][-1] == "sales_fact_sales"
    by_table = {r[2]: r for r in rows}
    assert by_table["bronze.sales_sales"][3] == marks["bronze.sales_sales"]
    assert by_table["bronze.sales_sales"][4] > by_table["bronze.sales_sales"][3]
    assert by_table["sales.fact_sales"][3] == marks["sales.fact_sales"]
    assert conn.execute(counts).fetchone() == before and watermarks(conn) == marks


# -- dwh test: rules over whole tables ------------------------------------------------------------------
def test_whole_table_test_finds_a_bad_row_an_incremental_run_did_not_look_at(loaded):
    conn = loaded
    # a bad row loaded earlier (or written by hand): its batch is an old one; quantity above the rule's max
    sale_id = conn.execute("UPDATE sales.fact_sales SET quantity = 20000 WHERE sale_id = (SELECT min(sale_id) FROM sales.fact_sales) RETURNING sale_id").fetchone()[0]
    conn.execute("CALL sales_src.generate_next_day()")
    run_id = conn.execute("CALL dwh_etl.run_pipeline(p_pipeline => 'daily', p_run_id => NULL)").fetchone()[0]
    gate = conn.execute("""SELECT passed, scope, rows_checked FROM dwh_lineage.quality_metrics
                           WHERE run_id = %s AND metric_name = 'fact_sales_quantity_range'""", (run_id,)).fetchone()
    total = conn.execute("SELECT count(*) FROM sales.fact_sales").fetchone()[0]
    assert gate[0] is True and gate[1] == "batch" and gate[2] < total  # the run's gate did not see it

    rows = conn.execute("""SELECT rule_name, scope, rows_checked, failing, passed, failing_sample
                           FROM dwh_etl.test_rules(ARRAY['sales.fact_sales'])""").fetchall()
    result = {r[0]: r for r in rows}
    bad = result["fact_sales_quantity_range"]
    assert bad[1:5] == ("table", total, 1, False)
    assert bad[5][0]["sale_id"] == sale_id
    assert all(r[1] == "table" for r in rows)
    # failures first
    assert rows[0][0] == "fact_sales_quantity_range"
    recorded = conn.execute("""SELECT run_id, scope, rows_checked, passed FROM dwh_lineage.quality_metrics
                               WHERE metric_name = 'fact_sales_quantity_range' ORDER BY id DESC LIMIT 1""").fetchone()
    assert recorded == (None, "table", total, False)
    report = conn.execute("SELECT dwh_etl.quality_report('sales.fact_sales')").fetchone()[0]
    assert {r["rule"]: r["scope"] for r in report["rules"]}["fact_sales_quantity_range"] == "table"


def test_test_rules_keeps_going_past_a_rule_that_cannot_be_evaluated(loaded):
    conn = loaded
    conn.execute("UPDATE dwh_etl.quality_rules SET column_names = '{no_such_column}' WHERE rule_name = 'fact_sales_price_range'")
    rows = {r[0]: r[1:] for r in conn.execute(
        "SELECT rule_name, passed, error FROM dwh_etl.test_rules(ARRAY['sales.fact_sales'], p_record => false)")}
    assert rows["fact_sales_price_range"][0] is False
    assert "no column no_such_column" in rows["fact_sales_price_range"][1]
    assert rows["fact_sales_sale_unique"] == (True, None)


def test_test_rules_refuses_an_unknown_table_and_records_nothing_without_p_record(loaded):
    conn = loaded
    e = sql_error(conn, "SELECT * FROM dwh_etl.test_rules(ARRAY['sales.fact_sales', 'nosuch.t'])")
    assert e.sqlstate == "42P01" and "'nosuch.t'" in e.diag.message_primary
    for name in ("sales.fact_sales; DROP TABLE sales.fact_sales", "a.b.c.d", '"unterminated'):
        e = sql_error(conn, "SELECT * FROM dwh_etl.test_rules(%s)", ([name],))
        assert e.sqlstate == "42P01" and e.diag.message_primary.startswith("unknown table(s) ")
    assert conn.execute("SELECT to_regclass('sales.fact_sales') IS NOT NULL").fetchone()[0]
    n = conn.execute("SELECT count(*) FROM dwh_lineage.quality_metrics").fetchone()[0]
    conn.execute("SELECT * FROM dwh_etl.test_rules(ARRAY['sales.dim_customer'], p_record => false)")
    assert conn.execute("SELECT count(*) FROM dwh_lineage.quality_metrics").fetchone()[0] == n


def test_the_tables_a_selection_means(conn):
    def tables(select, exclude=None):
        return conn.execute("SELECT dwh_etl.select_tables(%s, %s)", (select, exclude)).fetchone()[0]

    assert tables(None) is None
    # a plain table selector: that table, also one no step writes
    assert tables(["silver.devflow_issues"]) == ["silver.devflow_issues"]
    assert tables(["sales_src.sales"]) == ["sales_src.sales"]
    assert tables(["table:sales.dim_*"]) == ["sales.dim_customer", "sales.dim_product"]
    # a step selector, or a table with a graph operator: what the chosen steps write
    assert tables(["devflow_silver_entities"]) == sorted(conn.execute(
        "SELECT target_tables FROM dwh_etl.steps WHERE pipeline_name = 'daily' AND step_name = 'devflow_silver_entities'").fetchone()[0])
    assert tables(["sales.fact_sales+1"]) == ["sales.agg_daily_sales", "sales.customer_metrics", "sales.fact_sales"]
    assert tables(["sales.fact_sales+2"]) == ["sales.agg_daily_sales", "sales.customer_metrics", "sales.fact_sales",
                                             "sales.mv_customer_lifetime_value"]
    assert tables(["sales.fact_sales+2"], ["sales.customer_metrics", "sales_customer_ltv"]) == [
        "sales.agg_daily_sales", "sales.fact_sales"]
    assert sql_error(conn, "SELECT dwh_etl.select_tables(ARRAY['sales.fact_sale'])").sqlstate == "DW020"


def test_etl_service_may_select_plan_and_test(conn):
    assert conn.execute("""
        SELECT has_function_privilege('etl_service', 'dwh_etl.select_steps(text, text[], text[])', 'EXECUTE'),
               has_function_privilege('etl_service', 'dwh_etl.test_rules(text[], boolean)', 'EXECUTE'),
               has_function_privilege('etl_service', 'dwh_etl.run_pipeline(text, text[], date, bigint, text)', 'EXECUTE'),
               has_function_privilege('analyst_role', 'dwh_etl.select_steps(text, text[], text[])', 'EXECUTE')
    """).fetchone() == (True, True, True, False)
