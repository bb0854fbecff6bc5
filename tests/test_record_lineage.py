"""Per-record lineage (seed 002, issue 18): each silver row keeps the bronze row it was typed from, each
fact row and dimension version the bronze row behind the silver row it was built from
(`_source_bronze_id`), and `dwh_lineage.trace_record(table, key, column)` follows one value from gold back
to the raw row it came from: after changes, deletions, reruns and rebuilds, under any client settings."""

from __future__ import annotations

import json

import psycopg
import pytest

RUN_SQL = "CALL dwh_etl.run_pipeline(p_pipeline => 'daily', p_run_date => CURRENT_DATE, p_run_id => NULL)"


def scalar(conn, sql, params=None):
    return conn.execute(sql, params).fetchone()[0]


def rows(conn, sql, params=None):
    return conn.execute(sql, params).fetchall()


def trace(conn, table, key, column=None):
    return rows(conn, """SELECT trace, hop, layer, table_name, row_data, value, note
                         FROM dwh_lineage.trace_record(%s, %s::jsonb, %s)
                         ORDER BY trace, hop""", (table, json.dumps(key), column))


@pytest.fixture
def loaded(sales_only_loaded_template, conn):
    """The sales area only, its demo source generated and loaded by `daily`."""
    return conn


# -- every row names its bronze row -----------------------------------------------------------------------
def test_every_silver_row_names_the_bronze_row_it_was_typed_from(loaded):
    conn = loaded
    assert scalar(conn, "SELECT count(*) FROM silver.sales_sales") > 100
    assert scalar(conn, "SELECT count(*) FROM silver.sales_sales WHERE _source_bronze_id IS NULL") == 0
    # the bronze row is the same sale, and the latest delivery of it that silver holds
    assert scalar(conn, """
        SELECT count(*) FROM silver.sales_sales AS s
        LEFT JOIN bronze.sales_sales AS b ON b._bronze_id = s._source_bronze_id
        WHERE b.sale_id IS DISTINCT FROM s.sale_id::text
           OR b.quantity IS DISTINCT FROM s.quantity::text""") == 0
    # SCD2 silver: every live version names its own bronze row (one bronze row, one version)
    assert scalar(conn, """
        SELECT count(*) FROM silver.sales_customers AS c
        LEFT JOIN bronze.sales_customers AS b ON b._bronze_id = c._source_bronze_id
        WHERE NOT c.is_deleted AND (b.customer_id IS DISTINCT FROM c.customer_id::text OR b.city IS DISTINCT FROM c.city)""") == 0
    assert scalar(conn, """SELECT count(*) FROM (SELECT _source_bronze_id FROM silver.sales_customers
                                                WHERE _source_bronze_id IS NOT NULL
                                                GROUP BY 1 HAVING count(*) > 1) AS d""") == 0


def test_every_fact_row_and_dimension_version_names_the_row_behind_its_silver_row(loaded):
    conn = loaded
    assert scalar(conn, """
        SELECT count(*) FROM sales.fact_sales AS f
        LEFT JOIN silver.sales_sales AS s ON s.sale_id = f.sale_id
        WHERE f._source_bronze_id IS DISTINCT FROM s._source_bronze_id""") == 0
    assert scalar(conn, "SELECT count(*) FROM sales.fact_sales") > 100
    # each customer version comes from the silver version of the same bronze row, with its values
    assert scalar(conn, """
        SELECT count(*) FROM sales.dim_customer AS d
        LEFT JOIN silver.sales_customers AS s ON s._source_bronze_id = d._source_bronze_id
        WHERE NOT d.is_deleted
          AND (s.customer_id IS DISTINCT FROM d.customer_id OR s.city IS DISTINCT FROM d.city
               OR s.valid_from IS DISTINCT FROM d.valid_from)""") == 0
    assert scalar(conn, "SELECT count(*) FROM sales.dim_product WHERE _source_bronze_id IS NULL AND NOT is_deleted") == 0


# -- trace_record -----------------------------------------------------------------------------------------
def test_trace_record_follows_a_fact_value_back_to_its_raw_row(loaded):
    conn = loaded
    sale_id, quantity, price = rows(conn, "SELECT sale_id, quantity, unit_price FROM sales.fact_sales ORDER BY sale_id LIMIT 1")[0]
    hops = trace(conn, "sales.fact_sales", {"sale_id": sale_id}, "line_total")
    assert [(h[1], h[2], h[3]) for h in hops] == [(1, "gold", "sales.fact_sales"), (2, "silver", "silver.sales_sales"),
                                                  (3, "bronze", "bronze.sales_sales")]
    gold, silver, bronze = hops
    # line_total is generated: followed through quantity, unit_price and discount_amount
    assert set(gold[5]) == {"line_total", "quantity", "unit_price", "discount_amount"}
    assert set(silver[5]) == {"quantity", "unit_price", "discount_amount"}
    assert bronze[5]["quantity"] == str(quantity)
    assert bronze[5]["unit_price"] == f"{price}"
    assert bronze[4]["sale_id"] == str(sale_id)
    assert bronze[4]["_bronze_id"] == gold[4]["_source_bronze_id"] == silver[4]["_source_bronze_id"]
    assert all(h[0] == 1 for h in hops)


def test_trace_record_of_a_dimension_walks_each_version(loaded):
    conn = loaded
    customer_id = scalar(conn, """SELECT customer_id FROM sales.dim_customer
                                  GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1""")
    versions = scalar(conn, "SELECT count(*) FROM sales.dim_customer WHERE customer_id = %s", (customer_id,))
    hops = trace(conn, "sales.dim_customer", {"customer_id": customer_id}, "city")
    assert max(h[0] for h in hops) == versions
    for n in range(1, versions + 1):
        chain = [h for h in hops if h[0] == n]
        assert [h[2] for h in chain] == ["gold", "silver", "bronze"], chain
        assert chain[0][5] == {"city": chain[0][4]["city"]}
        assert chain[2][5] == {"city": chain[0][4]["city"]}


def test_a_change_moves_the_lineage_to_the_new_delivery_and_a_rerun_keeps_it(loaded):
    conn = loaded
    sale_id = scalar(conn, "SELECT min(sale_id) FROM sales_src.sales")
    before = scalar(conn, "SELECT _source_bronze_id FROM sales.fact_sales WHERE sale_id = %s", (sale_id,))
    conn.execute("UPDATE sales_src.sales SET quantity = quantity + 5 WHERE sale_id = %s", (sale_id,))
    conn.execute(RUN_SQL)
    after = scalar(conn, "SELECT _source_bronze_id FROM sales.fact_sales WHERE sale_id = %s", (sale_id,))
    newest = scalar(conn, "SELECT max(_bronze_id) FROM bronze.sales_sales WHERE sale_id = %s", (str(sale_id),))
    assert after == newest and after > before
    hops = trace(conn, "sales.fact_sales", {"sale_id": sale_id}, "quantity")
    quantity = scalar(conn, "SELECT quantity FROM sales_src.sales WHERE sale_id = %s", (sale_id,))
    assert hops[-1][5] == {"quantity": str(quantity)}
    # nothing new: the rerun changes no lineage
    snapshot = rows(conn, "SELECT sale_id, _source_bronze_id FROM silver.sales_sales ORDER BY 1")
    conn.execute(RUN_SQL)
    assert rows(conn, "SELECT sale_id, _source_bronze_id FROM silver.sales_sales ORDER BY 1") == snapshot


def test_a_deleted_customer_marker_says_it_has_no_bronze_row(loaded):
    conn = loaded
    customer_id = scalar(conn, "SELECT min(customer_id) FROM sales_src.customers")
    conn.execute("DELETE FROM sales_src.customers WHERE customer_id = %s", (customer_id,))
    conn.execute(RUN_SQL)
    marker = rows(conn, """SELECT _source_bronze_id FROM silver.sales_customers
                           WHERE customer_id = %s AND is_deleted""", (customer_id,))
    assert marker == [(None,)]
    hops = trace(conn, "silver.sales_customers", {"customer_id": customer_id, "is_deleted": True})
    assert len(hops) == 1 and "deletion marker" in hops[0][6]


def test_a_rebuild_keeps_every_row_lineage(loaded):
    conn = loaded
    before = rows(conn, "SELECT sale_id, _source_bronze_id FROM sales.fact_sales ORDER BY 1")
    silver = rows(conn, "SELECT customer_id, valid_from, _source_bronze_id FROM silver.sales_customers ORDER BY 1, 2")
    conn.execute("CALL dwh_etl.rebuild(p_target => 'sales', p_run_id => NULL)")
    assert rows(conn, "SELECT sale_id, _source_bronze_id FROM sales.fact_sales ORDER BY 1") == before
    assert rows(conn, "SELECT customer_id, valid_from, _source_bronze_id FROM silver.sales_customers ORDER BY 1, 2") == silver


def test_trace_record_under_other_client_settings(loaded):
    conn = loaded
    conn.execute("SET TimeZone = 'Asia/Kolkata'")
    conn.execute("SET DateStyle = 'SQL, DMY'")
    customer_id, valid_from = rows(conn, """SELECT customer_id, to_char(valid_from AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
                                           FROM silver.sales_customers WHERE NOT is_deleted ORDER BY 1 LIMIT 1""")[0]
    hops = rows(conn, """SELECT hop, layer FROM dwh_lineage.trace_record('silver.sales_customers', %s::jsonb, 'email')
                         ORDER BY trace, hop""", (json.dumps({"customer_id": customer_id, "valid_from": valid_from}),))
    assert hops == [(1, "silver"), (2, "bronze")]


def test_trace_record_errors_are_clear(loaded):
    conn = loaded
    cases = [
        (("sales.no_such_table", {"sale_id": 1}), psycopg.errors.UndefinedTable, "does not exist"),
        (("sales.fact_sales", {"no_such_column": 1}), psycopg.errors.UndefinedColumn, "no_such_column"),
        (("sales.fact_sales", [1]), psycopg.errors.InvalidParameterValue, "JSON object"),
        (("sales.fact_sales", {}), psycopg.errors.InvalidParameterValue, "JSON object"),
        (("sales.fact_sales", {"date_key": None}), None, None),  # matches nothing: no rows, no error
        (("sales.dim_customer", {"is_deleted": False}), psycopg.errors.InvalidParameterValue, "more than 100 rows"),
    ]
    for (table, key), error, text in cases:
        if error is None:
            assert trace(conn, table, key) == []
            continue
        with pytest.raises(error, match=text):
            trace(conn, table, key)
        conn.rollback() if not conn.autocommit else None
    with pytest.raises(psycopg.errors.UndefinedColumn, match="no column"):
        trace(conn, "sales.fact_sales", {"sale_id": 1}, "nope")


def test_a_mart_has_no_per_record_lineage_and_says_so(loaded):
    conn = loaded
    date_key = scalar(conn, "SELECT min(date_key) FROM sales.agg_daily_sales")
    hops = trace(conn, "sales.agg_daily_sales", {"date_key": date_key})
    assert hops and all(h[1] == 1 for h in hops)
    assert "no per-record lineage" in hops[0][6]


def test_only_the_etl_role_traces(loaded):
    conn = loaded
    conn.execute("SET ROLE analyst_role")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        trace(conn, "sales.fact_sales", {"sale_id": 1})
    conn.rollback() if not conn.autocommit else None
    conn.execute("RESET ROLE")
    conn.execute("SET ROLE etl_service")
    sale_id = scalar(conn, "SELECT min(sale_id) FROM sales.fact_sales")
    assert [h[2] for h in trace(conn, "sales.fact_sales", {"sale_id": sale_id})] == ["gold", "silver", "bronze"]


# -- devflow (seed 000) -----------------------------------------------------------------------------------
def test_devflow_facts_and_dimensions_trace_to_their_raw_rows(devflow_week):
    conn = devflow_week
    for table in ("devflow.fact_deployment", "devflow.fact_agent_execution", "devflow.fact_code_generation",
                  "devflow.fact_performance_metrics", "devflow.dim_issue", "devflow.dim_agent"):
        missing = scalar(conn, f"SELECT count(*) FROM {table} WHERE _source_bronze_id IS NULL")
        assert missing == 0, table
        assert scalar(conn, f"SELECT count(*) FROM {table}") > 0, table
    deployment_id = scalar(conn, "SELECT min(deployment_id) FROM devflow.fact_deployment")
    hops = trace(conn, "devflow.fact_deployment", {"deployment_id": deployment_id}, "environment")
    assert [h[2] for h in hops] == ["gold", "silver", "bronze"]
    assert hops[0][5] == hops[1][5] == hops[2][5] == {"environment": hops[0][4]["environment"]}


# -- the CLI ----------------------------------------------------------------------------------------------
def test_dwh_lineage_key_prints_the_way_back(loaded, dsn):
    from click.testing import CliRunner

    from dwh_cli.cli import cli

    conn = loaded
    sale_id, price = rows(conn, "SELECT sale_id, unit_price FROM sales.fact_sales ORDER BY sale_id LIMIT 1")[0]
    result = CliRunner().invoke(cli, ["--dsn", dsn, "lineage", "sales.fact_sales", "--key", f"sale_id={sale_id}",
                                      "--column", "unit_price"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == f'sales.fact_sales {{"sale_id": "{sale_id}"}}, following unit_price'
    assert lines[2].split() == ["1", "gold", "sales.fact_sales", f"unit_price={price}"]
    assert lines[3].split() == ["2", "silver", "silver.sales_sales", f"unit_price={price}"]
    assert lines[4].split() == ["3", "bronze", "bronze.sales_sales", f'unit_price="{price}"']
    result = CliRunner().invoke(cli, ["--dsn", dsn, "lineage", "sales.fact_sales", "--key", f"sale_id={sale_id}", "--json"])
    assert result.exit_code == 0, result.output
    assert [h["layer"] for h in json.loads(result.output)] == ["gold", "silver", "bronze"]
    for args, text in ((["--key", "sale_id"], "COLUMN=VALUE"), (["--column", "unit_price"], "needs --key"),
                       (["--key", "sale_id=1", "--downstream"], "no --format")):
        result = CliRunner().invoke(cli, ["--dsn", dsn, "lineage", "sales.fact_sales", *args])
        assert result.exit_code == 2 and text in result.output, result.output
    result = CliRunner().invoke(cli, ["--dsn", dsn, "lineage", "sales.fact_sales", "--key", "nope=1"])
    assert result.exit_code != 0 and "has no column(s) nope" in result.output
