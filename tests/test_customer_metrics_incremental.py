"""sales.customer_metrics recomputed for the customers whose facts changed (issue 15): the fact step queues
the customer keys it touches (dwh_staging.sales_affected_customers), the metrics step aggregates only those
customers again and refreshes name, segment and recency of the others; after any change the table equals
the seed's full refresh (sales.sp_refresh_customer_metrics())."""

from __future__ import annotations

import psycopg
import pytest

RUN_SQL = "CALL dwh_etl.run_pipeline(p_pipeline => 'daily', p_run_date => CURRENT_DATE, p_run_id => NULL)"
COLUMNS = ("customer_id, customer_name, customer_segment, total_orders, total_quantity, total_spent, avg_order_value, "
           "first_purchase_date, last_purchase_date, days_since_last_purchase, customer_tier")


def scalar(conn, sql, params=None):
    return conn.execute(sql, params).fetchone()[0]


def assert_equals_full_refresh(conn):
    incremental = conn.execute(f"SELECT {COLUMNS} FROM sales.customer_metrics ORDER BY customer_id").fetchall()
    conn.execute("BEGIN") if conn.autocommit else None
    try:
        conn.execute("CALL sales.sp_refresh_customer_metrics()")
        full = conn.execute(f"SELECT {COLUMNS} FROM sales.customer_metrics ORDER BY customer_id").fetchall()
    finally:
        conn.execute("ROLLBACK") if conn.autocommit else conn.rollback()
    assert len(full) > 10
    assert incremental == full


@pytest.fixture
def loaded(sales_only_loaded_template, conn):
    return conn


def test_the_first_load_is_whole_and_the_queue_is_consumed(loaded):
    conn = loaded
    assert_equals_full_refresh(conn)
    assert scalar(conn, "SELECT count(*) FROM dwh_staging.sales_affected_customers") == 0


def test_a_next_day_recomputes_the_changed_customers_only_and_equals_the_full_refresh(loaded):
    conn = loaded
    conn.execute("CALL sales_src.generate_next_day()")
    conn.execute(RUN_SQL)
    assert_equals_full_refresh(conn)
    run_id = scalar(conn, "SELECT max(run_id) FROM dwh_lineage.pipeline_runs")
    changed = scalar(conn, """SELECT count(*) FROM sales.customer_metrics
                              WHERE refreshed_at >= (SELECT started_at FROM dwh_lineage.pipeline_runs WHERE run_id = %s)""",
                     (run_id,))
    assert 0 < changed < scalar(conn, "SELECT count(*) FROM sales.customer_metrics")
    assert scalar(conn, "SELECT count(*) FROM dwh_staging.sales_affected_customers") == 0


def test_deleted_sales_a_renamed_customer_and_a_moved_sale_are_followed(loaded):
    conn = loaded
    # a customer loses every sale: the metrics row goes
    gone = scalar(conn, """SELECT customer_id FROM sales_src.sales GROUP BY customer_id
                           ORDER BY count(*), customer_id LIMIT 1""")
    conn.execute("DELETE FROM sales_src.sales WHERE customer_id = %s", (gone,))
    # a name correction (Type 1 in the dimension) with no new sale
    renamed = scalar(conn, "SELECT max(customer_id) FROM sales.customer_metrics")
    conn.execute("UPDATE sales_src.customers SET first_name = 'Renamed' WHERE customer_id = %s", (renamed,))
    # a sale moved to another customer: both customers' totals change
    sale_id, old_customer = conn.execute("SELECT sale_id, customer_id FROM sales_src.sales WHERE customer_id <> %s "
                                         "ORDER BY sale_id LIMIT 1", (gone,)).fetchone()
    new_customer = scalar(conn, "SELECT min(customer_id) FROM sales_src.customers WHERE customer_id NOT IN (%s, %s)",
                          (gone, old_customer))
    conn.execute("UPDATE sales_src.sales SET customer_id = %s WHERE sale_id = %s", (new_customer, sale_id))
    conn.execute(RUN_SQL)
    assert scalar(conn, "SELECT count(*) FROM sales.customer_metrics WHERE customer_id = %s", (gone,)) == 0
    assert scalar(conn, "SELECT customer_name FROM sales.customer_metrics WHERE customer_id = %s", (renamed,)).startswith("Renamed ")
    assert_equals_full_refresh(conn)


def test_a_failed_refresh_leaves_the_queue_for_the_next_run(loaded):
    conn = loaded
    conn.execute("CALL sales_src.generate_next_day()")
    # the metrics step fails (its table is locked out by a constraint the new rows break)
    conn.execute("ALTER TABLE sales.customer_metrics ADD CONSTRAINT test_no_update CHECK (refreshed_at < '2000-01-01') NOT VALID")
    with pytest.raises(psycopg.DatabaseError, match="failed at step sales_customer_metrics"):
        conn.execute(RUN_SQL)
    status = scalar(conn, """SELECT status FROM dwh_lineage.step_runs WHERE step_name = 'sales_customer_metrics'
                             ORDER BY run_id DESC LIMIT 1""")
    assert status == "failed"
    queued = scalar(conn, "SELECT count(*) FROM dwh_staging.sales_affected_customers")
    assert queued > 0
    conn.execute("ALTER TABLE sales.customer_metrics DROP CONSTRAINT test_no_update")
    conn.execute(RUN_SQL)
    assert scalar(conn, "SELECT count(*) FROM dwh_staging.sales_affected_customers") == 0
    assert_equals_full_refresh(conn)


# the lifetime-value view as seed 002 defines it over the facts (what migration 0045 replaced)
LTV_FROM_FACTS = """
    WITH sales_by_customer AS (
        SELECT v.customer_id, count(DISTINCT f.order_id) AS total_orders, sum(f.line_total) AS lifetime_value,
               min(f.transaction_at)::date AS first_order_date, max(f.transaction_at)::date AS last_order_date
        FROM sales.fact_sales AS f JOIN sales.dim_customer AS v ON v.customer_key = f.customer_key
        GROUP BY v.customer_id)
    SELECT c.customer_key, c.customer_id, c.email, c.full_name, c.customer_segment,
           COALESCE(s.total_orders, 0), COALESCE(s.lifetime_value, 0),
           CASE WHEN s.total_orders > 0 THEN round(s.lifetime_value / s.total_orders, 2) ELSE 0 END,
           s.first_order_date, s.last_order_date, s.last_order_date - s.first_order_date
    FROM sales.dim_customer AS c LEFT JOIN sales_by_customer AS s ON s.customer_id = c.customer_id
    WHERE c.is_current ORDER BY c.customer_id"""


def test_the_lifetime_value_view_equals_its_definition_over_the_facts(loaded):
    conn = loaded
    ltv = "SELECT * FROM sales.mv_customer_lifetime_value ORDER BY customer_id"
    assert conn.execute(ltv).fetchall() == conn.execute(LTV_FROM_FACTS).fetchall()
    conn.execute("CALL sales_src.generate_next_day()")
    conn.execute("DELETE FROM sales_src.sales WHERE sale_id = (SELECT min(sale_id) FROM sales_src.sales)")
    conn.execute(RUN_SQL)
    rows = conn.execute(ltv).fetchall()
    assert len(rows) > 10 and rows == conn.execute(LTV_FROM_FACTS).fetchall()
    # the seed's alias refreshes what the view is computed from first
    conn.execute("UPDATE sales_src.sales SET quantity = quantity + 3 WHERE sale_id = (SELECT max(sale_id) FROM sales_src.sales)")
    conn.execute("CALL dwh_etl.run_pipeline(p_pipeline => 'daily', p_steps => ARRAY['sales_extract', 'sales_silver_sales', 'sales_fact_sales'], p_run_id => NULL)")
    conn.execute("CALL dwh_etl.refresh_customer_ltv()")
    assert conn.execute(ltv).fetchall() == conn.execute(LTV_FROM_FACTS).fetchall()
