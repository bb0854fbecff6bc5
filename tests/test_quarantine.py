"""Quarantine: a quarantined sale re-validated after a fix at the source (`dwh quarantine retry`) loads
exactly once; a quarantined customer fixed at the source is superseded by the next run; `dwh quarantine
list | show` and their errors.

Each test works on its own fresh database (`conn`, `dsn` and `runner` of tests/conftest.py).
"""

from __future__ import annotations

import json

import pytest

from dwh_cli.cli import cli

RUN_SQL = "CALL dwh_etl.run_pipeline(p_pipeline => 'daily', p_run_date => CURRENT_DATE, p_run_id => NULL)"


def scalar(conn, sql, params=None):
    return conn.execute(sql, params).fetchone()[0]


def rows(conn, sql, params=None):
    return conn.execute(sql, params).fetchall()


def run(conn):
    return conn.execute(RUN_SQL).fetchone()[0]


@pytest.fixture
def next_day(sales_next_day_template, conn):
    """Generated, daily run, one more day in the source (its bad rows include a sale for an unknown
    customer and a customer with an empty last name), daily run again (conn: a clone of a database built
    so once: tests/conftest.py sales_next_day_template)."""
    return conn


def unknown_customer_sale(conn):
    """(quarantine_id, sale_id, customer_id) of the quarantined sale of an unknown customer."""
    return rows(conn, """
        SELECT quarantine_id, record_key::bigint, (payload->>'customer_id')::bigint
        FROM dwh_etl.quarantine
        WHERE target_table = 'silver.sales_sales' AND reasons[1] LIKE 'unknown customer_id %'
    """)[0]


def test_retry_loads_a_fixed_sale_exactly_once(next_day, dsn, runner):
    conn = next_day
    qid, sale_id, customer_id = unknown_customer_sale(conn)
    assert rows(conn, "SELECT reasons FROM dwh_etl.quarantine WHERE quarantine_id = %s", (qid,)) \
        == [([f"unknown customer_id {customer_id}"],)]
    # the fix at the source: the customer exists now
    conn.execute("""
        INSERT INTO sales_src.customers (customer_id, first_name, last_name, email, city, country, customer_segment)
        VALUES (%s, 'Late', 'Arrival', 'late@example.com', 'Oslo', 'Norway', 'Consumer')
    """, (customer_id,))
    # the next run replays the line by itself once its customer is loaded (attack 15b:
    # sales.requeue_waiting_sales); a retry by hand then finds nothing to do
    run(conn)
    assert scalar(conn, "SELECT count(*) FROM silver.sales_customers WHERE customer_id = %s AND is_current",
                  (customer_id,)) == 1
    assert scalar(conn, "SELECT count(*) FROM silver.sales_sales WHERE sale_id = %s", (sale_id,)) == 1
    assert scalar(conn, "SELECT count(*) FROM sales.fact_sales WHERE sale_id = %s", (sale_id,)) == 1
    assert rows(conn, """
        SELECT f.quantity, f.unit_price, c.customer_id
        FROM sales.fact_sales AS f JOIN sales.dim_customer AS c ON c.customer_key = f.customer_key
        WHERE f.sale_id = %s
    """, (sale_id,)) == rows(conn, "SELECT quantity, unit_price, customer_id FROM sales_src.sales WHERE sale_id = %s",
                             (sale_id,))
    resolved_at, resolution = rows(conn, "SELECT resolved_at, resolution FROM dwh_etl.quarantine WHERE quarantine_id = %s",
                                   (qid,))[0]
    assert resolved_at is not None
    assert resolution == "retried: replayed into bronze.sales_sales for the next run"
    # the replay was not quarantined again
    assert scalar(conn, "SELECT count(*) FROM dwh_etl.quarantine WHERE record_key = %s AND resolved_at IS NULL",
                  (str(sale_id),)) == 0

    # retrying again does nothing
    bronze = scalar(conn, "SELECT count(*) FROM bronze.sales_sales")
    again = runner.invoke(cli, ["--dsn", dsn, "quarantine", "retry", str(qid)])
    assert again.exit_code == 0, again.output
    assert again.stdout == "(nothing to retry)\n"
    assert scalar(conn, "SELECT count(*) FROM bronze.sales_sales") == bronze
    assert scalar(conn, "SELECT count(*) FROM sales.fact_sales WHERE sale_id = %s", (sale_id,)) == 1


def test_retry_of_a_row_still_invalid_quarantines_it_again(next_day, dsn, runner):
    conn = next_day
    qid, sale_id, customer_id = unknown_customer_sale(conn)
    result = runner.invoke(cli, ["--dsn", dsn, "quarantine", "retry", str(qid)])
    assert result.exit_code == 0, result.output
    assert rows(conn, """
        SELECT reasons, resolved_at IS NULL FROM dwh_etl.quarantine WHERE record_key = %s ORDER BY quarantine_id
    """, (str(sale_id),)) == [([f"unknown customer_id {customer_id}"], False), ([f"unknown customer_id {customer_id}"], True)]
    assert scalar(conn, "SELECT count(*) FROM silver.sales_sales WHERE sale_id = %s", (sale_id,)) == 0


def test_quarantined_customer_fixed_at_the_source_is_superseded(next_day):
    conn = next_day
    qid, customer_id = rows(conn, """
        SELECT quarantine_id, record_key::bigint FROM dwh_etl.quarantine
        WHERE target_table = 'silver.sales_customers' AND reasons = ARRAY['last_name is empty']
    """)[0]
    conn.execute("UPDATE sales_src.customers SET last_name = 'Fixed' WHERE customer_id = %s", (customer_id,))
    run_id = run(conn)
    assert rows(conn, "SELECT resolution FROM dwh_etl.quarantine WHERE quarantine_id = %s", (qid,)) \
        == [(f"superseded: a valid version of the record loaded in run {run_id}",)]
    assert rows(conn, "SELECT last_name FROM silver.sales_customers WHERE customer_id = %s AND is_current",
                (customer_id,)) == [("Fixed",)]
    assert scalar(conn, "SELECT count(*) FROM sales.dim_customer WHERE customer_id = %s AND is_current",
                  (customer_id,)) == 1


def test_quarantine_list_json_shows_the_open_rows(next_day, dsn, runner):
    conn = next_day
    result = runner.invoke(cli, ["--dsn", dsn, "quarantine", "list", "--json"])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    expected = rows(conn, """
        SELECT quarantine_id, target_table, record_key, array_to_string(reasons, '; '), run_id
        FROM dwh_etl.quarantine WHERE resolved_at IS NULL ORDER BY quarantine_id DESC
    """)
    assert len(expected) == 6
    assert [(r["quarantine_id"], r["target_table"], r["record_key"], r["reasons"], r["run_id"]) for r in listed] \
        == [tuple(e) for e in expected]
    assert all(r["resolution"] is None for r in listed)

    only_customers = json.loads(runner.invoke(cli, ["--dsn", dsn, "quarantine", "list", "--json",
                                                    "--table", "silver.sales_customers"]).stdout)
    assert [r["reasons"] for r in only_customers] == ["last_name is empty"]


def test_quarantine_show_prints_the_payload_and_reasons(next_day, dsn, runner):
    conn = next_day
    qid, sale_id, customer_id = unknown_customer_sale(conn)
    result = runner.invoke(cli, ["--dsn", dsn, "quarantine", "show", str(qid), "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown["quarantine_id"] == qid
    assert shown["reasons"] == [f"unknown customer_id {customer_id}"]
    assert shown["payload"]["sale_id"] == str(sale_id)
    assert shown["source_table"] == "bronze.sales_sales"
    plain = runner.invoke(cli, ["--dsn", dsn, "quarantine", "show", str(qid)])
    assert plain.exit_code == 0
    # issue 14: reasons one per line (was the Python repr "reasons: ['...']"), the payload as indented JSON
    lines = plain.stdout.splitlines()
    assert lines[lines.index("reasons:") + 1] == f"  - unknown customer_id {customer_id}"
    assert any(line.startswith(f'    "sale_id": "{sale_id}"') for line in lines)


def test_quarantine_show_of_an_unknown_id_is_one_error_line(conn, dsn, runner):
    result = runner.invoke(cli, ["--dsn", dsn, "quarantine", "show", "999999"])
    assert result.exit_code == 1
    assert result.stdout == ""
    # issue 14: click's errors in dwh's style (was "Error: ...")
    assert result.stderr == "error: no quarantined row 999999 (dwh quarantine list shows them)\n"


def test_quarantine_retry_of_an_unknown_id_does_nothing(conn, dsn, runner):
    result = runner.invoke(cli, ["--dsn", dsn, "quarantine", "retry", "999999"])
    assert result.exit_code == 0
    assert result.stdout == "(nothing to retry)\n"
    assert scalar(conn, "SELECT count(*) FROM dwh_lineage.pipeline_runs") == 0
