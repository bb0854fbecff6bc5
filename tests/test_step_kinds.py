"""Typed steps (issue 10, first slice): extraction and mart refreshes are data (kind + spec) run by the
engine's dwh_etl.step_<kind>; only `custom` steps name an area procedure."""

from __future__ import annotations

import psycopg
import pytest

RUN_SQL = "CALL dwh_etl.run_pipeline(p_pipeline => %s, p_run_date => CURRENT_DATE, p_run_id => NULL)"


def scalar(conn, sql, params=None):
    return conn.execute(sql, params).fetchone()[0]


def test_no_typed_step_names_an_area_procedure(conn):
    assert scalar(conn, """
        SELECT count(*) FROM dwh_etl.steps
        WHERE kind <> 'custom' AND procedure_name <> 'dwh_etl.step_' || kind""") == 0
    with pytest.raises(psycopg.errors.CheckViolation):
        conn.execute("UPDATE dwh_etl.steps SET procedure_name = 'sales.load_dim_customer' "
                     "WHERE step_name = 'sales_extract'")


def test_extraction_and_mart_refreshes_are_data(conn):
    kinds = dict(conn.execute("SELECT step_name, kind FROM dwh_etl.steps WHERE pipeline_name = 'daily'").fetchall())
    for step in ("sales_extract", "devflow_extract_entities", "devflow_extract_events"):
        assert kinds[step] == "extract"
    for step in ("sales_customer_ltv", "devflow_mart_development_performance", "devflow_mart_agent_performance",
                 "devflow_mart_infrastructure_cost"):
        assert kinds[step] == "mart"
    for proc in ("sales.extract_source", "sales.refresh_customer_ltv", "devflow.extract_entities",
                 "devflow.extract_events", "devflow.refresh_mart_agent_performance"):
        assert scalar(conn, "SELECT to_regprocedure(%s)", (proc + "(bigint, date)",)) is None, proc
    # every custom step's procedure exists with the step signature
    assert conn.execute("""
        SELECT step_name, procedure_name FROM dwh_etl.steps
        WHERE kind = 'custom' AND to_regprocedure(procedure_name || '(bigint, date)') IS NULL""").fetchall() == []


def test_a_typed_step_registers_without_a_procedure_and_runs(conn):
    conn.execute("CALL dwh_etl.register_pipeline(p_pipeline => 'kinds', p_description => 'test')")
    conn.execute("""CALL dwh_etl.register_steps(p_pipeline => 'kinds', p_area => 'sales', p_steps => '[
        {"step": "k_extract", "kind": "extract", "layer": "bronze",
         "spec": {"schema_setting": "sales.source_schema", "default_schema": "sales_src",
                  "tables": [["customers", "bronze.sales_customers"]]}},
        {"step": "k_mart", "kind": "mart", "layer": "mart", "depends_on": ["k_extract"],
         "spec": {"view": "sales.mv_customer_lifetime_value", "lineage_source": "sales.fact_sales"}}]')""")
    assert conn.execute("SELECT step_name, procedure_name FROM dwh_etl.steps WHERE pipeline_name = 'kinds' "
                        "ORDER BY 1").fetchall() == [("k_extract", "dwh_etl.step_extract"), ("k_mart", "dwh_etl.step_mart")]
    conn.execute("INSERT INTO sales_src.customers (first_name, last_name) VALUES ('Ada', 'Lovelace')")
    conn.execute(RUN_SQL, ("kinds",))
    assert scalar(conn, "SELECT count(*) FROM bronze.sales_customers WHERE last_name = 'Lovelace'") == 1
    assert scalar(conn, """SELECT count(*) FROM dwh_lineage.step_runs AS s
                           JOIN dwh_lineage.pipeline_runs AS r USING (run_id)
                           WHERE r.pipeline_name = 'kinds' AND s.status = 'completed'""") == 2


@pytest.mark.parametrize("spec", ['{}', '{"schema_setting": "sales.source_schema", "tables": []}'])
def test_a_bad_extract_spec_fails_the_step_clearly(conn, spec):
    conn.execute("CALL dwh_etl.register_pipeline(p_pipeline => 'kinds', p_description => 'test')")
    conn.execute("CALL dwh_etl.register_steps(p_pipeline => 'kinds', p_area => 'sales', p_steps => "
                 "jsonb_build_array(jsonb_build_object('step', 'k_extract', 'kind', 'extract', 'layer', 'bronze', "
                 "'spec', %s::jsonb)))", (spec,))
    with pytest.raises(psycopg.Error):
        conn.execute(RUN_SQL, ("kinds",))
    state, msg = conn.execute("""SELECT s.sqlstate, s.error_message FROM dwh_lineage.step_runs AS s
                                 JOIN dwh_lineage.pipeline_runs AS r USING (run_id)
                                 WHERE r.pipeline_name = 'kinds'""").fetchone()
    assert state == "22023" and "extract step spec" in msg
