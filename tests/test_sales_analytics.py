"""Seed 004's manual (README) SQL, as written, on the loaded warehouse with `SET search_path = sales, gold`,
and every analytical function / procedure checked against an independent computation over the
operational source sales_src.

Uses the `conn` fixture of tests/conftest.py (autocommit psycopg 3, fresh database per test: a clone of
a warehouse loaded once, see tests/conftest.py database_template).
"""

import datetime as dt

import psycopg
import pytest

from conftest import database_template


@pytest.fixture(autouse=True)
def sales_area_only(conn):
    """This module tests the sales area on its own: other areas' steps and rules are switched off, so
    the daily pipeline is the engine's and sales' steps and the rules are the sales rules."""
    conn.execute("UPDATE dwh_etl.steps SET is_enabled = false WHERE area NOT IN ('sales', 'engine')")
    conn.execute("UPDATE dwh_etl.quality_rules SET is_enabled = false WHERE area IS DISTINCT FROM 'sales'")


RUN_SQL = "CALL dwh_etl.run_pipeline(p_pipeline => %s, p_run_date => CURRENT_DATE, p_run_id => NULL)"

# the source's sales lines the warehouse must hold (the next day's bad rows excluded)
VALID_SOURCE_SALES_SQL = """
    SELECT s.*, s.quantity * s.unit_price - s.discount_amount AS line_total
    FROM sales_src.sales AS s
    JOIN sales_src.customers AS c
      ON c.customer_id = s.customer_id
     AND c.last_name <> ''
    JOIN sales_src.products AS p
      ON p.product_id = s.product_id
    WHERE s.quantity > 0
"""


def scalar(conn, sql, params=None):
    return conn.execute(sql, params).fetchone()[0]


def rows(conn, sql, params=None):
    return conn.execute(sql, params).fetchall()


@database_template(parent="sales_only_loaded_template", scope="module")
def sales_analytics_template(conn):
    """The sales area only, source generated and loaded, one more day generated and loaded (so some
    customers have two versions, some sales were deleted, six rows were quarantined)."""
    conn.execute("CALL sales_src.generate_next_day()")
    conn.execute(RUN_SQL, ("daily",))


@pytest.fixture
def warehouse(sales_analytics_template, conn):
    """This test's clone of sales_analytics_template; search_path as the seed's manual says."""
    conn.execute("SET search_path = sales, gold")
    return conn


@pytest.fixture
def report_range(warehouse):
    """A month inside the generated range, as the seed's 'YYYY-MM-DD' literals."""
    today = scalar(warehouse, "SELECT CURRENT_DATE")
    start = (today - dt.timedelta(days=100)).replace(day=1)
    end = (start + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    return start.isoformat(), end.isoformat()


# ---------------------------------------------------------------------------------------------
# "Verify Results" and "Monitoring" queries
# ---------------------------------------------------------------------------------------------

def test_readme_verification_counts_match_the_source(warehouse):
    conn = warehouse
    assert rows(conn, "SELECT COUNT(*) FROM dwh_fact_sales;") == rows(
        conn, f"SELECT count(*) FROM ({VALID_SOURCE_SALES_SQL}) AS v")
    assert rows(conn, "SELECT COUNT(*) FROM dwh_dim_customers WHERE is_current = TRUE;") == rows(
        conn, "SELECT count(*) FROM sales_src.customers WHERE last_name <> ''")
    assert rows(conn, "SELECT COUNT(*) FROM dwh_dim_products WHERE is_current = TRUE;") == rows(
        conn, "SELECT count(*) FROM sales_src.products")


def test_readme_row_counts_by_layer(warehouse):
    conn = warehouse
    by_layer = rows(conn, """
SELECT 'operational' as layer, COUNT(*) FROM sales
UNION ALL
SELECT 'mrr', COUNT(*) FROM mrr_fact_sales
UNION ALL
SELECT 'stg', COUNT(*) FROM stg_fact_sales
UNION ALL
SELECT 'dwh', COUNT(*) FROM dwh_fact_sales;
""")
    source = scalar(conn, "SELECT count(*) FROM sales_src.sales")
    valid = scalar(conn, f"SELECT count(*) FROM ({VALID_SOURCE_SALES_SQL}) AS v")
    extracted = scalar(conn, """
        SELECT (SELECT count(*) FROM sales_src.sales) + (SELECT count(*) FROM sales_src.deleted_records
                                                         WHERE table_name = 'sales')
    """)  # bronze is append-only: every line once, plus the 5 deleted lines extracted the first day
    silver = scalar(conn, "SELECT count(*) FROM silver.sales_sales")
    assert by_layer == [("operational", source), ("mrr", extracted), ("stg", silver), ("dwh", valid)]
    assert silver == valid + 5  # deleted lines are kept, flagged


def test_readme_recent_etl_runs_lists_every_step_run_newest_first(warehouse):
    conn = warehouse
    recent = rows(conn, "SELECT * FROM vw_recent_etl_runs;")
    expected = rows(conn, """
        SELECT sr.step_run_id, pr.pipeline_name, sr.step_name, 'SUCCESS', sr.started_at, sr.completed_at,
               round(sr.duration_ms / 1000.0, 3), sr.rows_written, NULL::text
        FROM dwh_lineage.step_runs AS sr
        JOIN dwh_lineage.pipeline_runs AS pr ON pr.run_id = sr.run_id
        ORDER BY sr.started_at DESC, sr.step_run_id DESC
    """)
    assert len(recent) == 24  # two daily runs of 12 steps
    assert recent == expected


def test_readme_etl_performance_summary_aggregates_the_step_runs(warehouse):
    conn = warehouse
    assert rows(conn, "SELECT * FROM vw_etl_performance_summary;") == rows(conn, """
        SELECT step_name, count(*), count(*) FILTER (WHERE status = 'completed'),
               count(*) FILTER (WHERE status = 'failed'), round(avg(duration_ms / 1000.0), 3),
               max(round(duration_ms / 1000.0, 3)), sum(rows_written), max(started_at)
        FROM dwh_lineage.step_runs
        GROUP BY step_name
        ORDER BY step_name
    """)


def test_readme_failed_processes_lists_the_failed_step(warehouse):
    conn = warehouse
    assert rows(conn, "SELECT * FROM etl_logs WHERE status = 'FAILED' ORDER BY start_time DESC;") == []

    conn.execute("ALTER TABLE sales.dim_product RENAME TO dim_product_away")
    with pytest.raises(psycopg.Error) as excinfo:
        conn.execute(RUN_SQL, ("daily",))
    assert excinfo.value.diag.sqlstate == "DW003"
    conn.execute("ALTER TABLE sales.dim_product_away RENAME TO dim_product")

    failed = rows(conn, """
        SELECT pipeline_name, process_name, procedure_name, status, records_processed, error_message
        FROM (SELECT * FROM etl_logs WHERE status = 'FAILED' ORDER BY start_time DESC) AS l
    """)
    assert failed == [("daily", "sales_dim_product", "dwh_etl.step_dimension", "FAILED", None,
                       "target table 'sales.dim_product' of dimension sales.dim_product does not exist")]


def test_readme_data_freshness_lists_every_watermark(warehouse):
    conn = warehouse
    freshness = rows(conn, """
SELECT table_name, last_updated 
FROM high_water_mark 
ORDER BY last_updated DESC;
""")
    expected = rows(conn, """
        SELECT table_name, watermark_value FROM dwh_etl.watermarks ORDER BY watermark_value DESC
    """)
    assert sorted(freshness) == sorted(expected)
    assert [r[1] for r in freshness] == sorted((r[1] for r in freshness), reverse=True)
    assert {r[0] for r in freshness} >= {
        "bronze.sales_customers", "bronze.sales_products", "bronze.sales_sales", "bronze.sales_deleted_records",
        "silver.sales_customers", "silver.sales_products", "silver.sales_sales",
        "sales.dim_customer", "sales.dim_product", "sales.fact_sales",
    }


# ---------------------------------------------------------------------------------------------
# stored procedures
# ---------------------------------------------------------------------------------------------

def test_readme_aggregate_sales_report_equals_the_source_per_day_and_group(warehouse, report_range):
    conn = warehouse
    start, end = report_range
    conn.execute(f"CALL sp_aggregate_sales_report('{start}', '{end}');")
    report = rows(conn, "SELECT * FROM temp_sales_report;")
    expected = rows(conn, f"""
        SELECT v.transaction_date::date, p.product_group, count(DISTINCT v.order_id), count(DISTINCT v.customer_id),
               sum(v.quantity), sum(v.line_total), round(sum(v.line_total) / count(DISTINCT v.order_id), 2)
        FROM ({VALID_SOURCE_SALES_SQL}) AS v
        JOIN sales_src.products AS p ON p.product_id = v.product_id
        WHERE v.transaction_date::date BETWEEN %s AND %s
        GROUP BY 1, 2
        ORDER BY 1, 2
    """, (start, end))
    assert len(expected) > 50
    assert report == expected


def test_aggregate_sales_report_rejects_a_reversed_range(warehouse):
    conn = warehouse
    with pytest.raises(psycopg.errors.InvalidParameterValue) as excinfo:
        conn.execute("CALL sp_aggregate_sales_report('2025-01-31', '2025-01-01')")
    assert excinfo.value.diag.message_primary == "invalid report range 2025-01-31 .. 2025-01-01"


def test_readme_refresh_customer_metrics_equals_the_source(warehouse):
    conn = warehouse
    conn.execute("CALL sp_refresh_customer_metrics();")
    first_ten = rows(conn, "SELECT * FROM customer_metrics LIMIT 10;")
    assert len(first_ten) == 10

    metrics = rows(conn, """
        SELECT customer_id, customer_name, customer_segment, total_orders, total_quantity, total_spent,
               avg_order_value, first_purchase_date, last_purchase_date, days_since_last_purchase, customer_tier
        FROM customer_metrics
        ORDER BY customer_id
    """)
    expected = rows(conn, f"""
        WITH s AS (
            SELECT v.customer_id, count(DISTINCT v.order_id) AS orders, sum(v.quantity) AS quantity,
                   sum(v.line_total) AS spent,
                   min(v.transaction_date)::date AS first_date, max(v.transaction_date)::date AS last_date
            FROM ({VALID_SOURCE_SALES_SQL}) AS v
            GROUP BY v.customer_id
        )
        SELECT c.customer_id, initcap(c.first_name) || ' ' || initcap(c.last_name), c.customer_segment,
               s.orders, s.quantity, s.spent, round(s.spent / s.orders, 2), s.first_date, s.last_date,
               GREATEST(CURRENT_DATE - s.last_date, 0),
               CASE WHEN s.spent >= 10000 THEN 'platinum' WHEN s.spent >= 5000 THEN 'gold'
                    WHEN s.spent >= 1000 THEN 'silver' ELSE 'bronze' END
        FROM s
        JOIN sales_src.customers AS c ON c.customer_id = s.customer_id
        ORDER BY c.customer_id
    """)
    assert metrics == expected
    # a second refresh with nothing changed rewrites nothing
    stamps = rows(conn, "SELECT customer_id, refreshed_at FROM customer_metrics ORDER BY customer_id")
    conn.execute("CALL sp_refresh_customer_metrics();")
    assert rows(conn, "SELECT customer_id, refreshed_at FROM customer_metrics ORDER BY customer_id") == stamps


# ---------------------------------------------------------------------------------------------
# analytical functions
# ---------------------------------------------------------------------------------------------

def test_readme_avg_quantity_per_customer_equals_the_source(warehouse):
    conn = warehouse
    assert rows(conn, "SELECT fn_avg_quantity_per_customer(5);") == rows(
        conn, f"SELECT round(avg(v.quantity), 2) FROM ({VALID_SOURCE_SALES_SQL}) AS v WHERE v.customer_id = 5")
    # every customer, including those with two versions
    assert rows(conn, """
        SELECT c.customer_id, fn_avg_quantity_per_customer(c.customer_id)
        FROM sales_src.customers AS c
        ORDER BY c.customer_id
    """) == rows(conn, f"""
        SELECT c.customer_id, round(avg(v.quantity), 2)
        FROM sales_src.customers AS c
        LEFT JOIN ({VALID_SOURCE_SALES_SQL}) AS v ON v.customer_id = c.customer_id
        GROUP BY c.customer_id
        ORDER BY c.customer_id
    """)


def test_readme_product_sales_velocity_equals_the_source(warehouse):
    conn = warehouse
    velocity_sql = f"""
        SELECT round(COALESCE(sum(v.quantity), 0)::numeric / %(days)s, 4)
        FROM ({VALID_SOURCE_SALES_SQL}) AS v
        WHERE v.product_id = %(product)s
          AND v.transaction_date::date > CURRENT_DATE - %(days)s
          AND v.transaction_date::date <= CURRENT_DATE
    """
    assert rows(conn, "SELECT fn_product_sales_velocity(10, 30);") == rows(
        conn, velocity_sql, {"product": 10, "days": 30})
    for product, days in [(1, 1), (1, 7), (2, 90), (3, 365), (10, 400)]:
        assert scalar(conn, "SELECT fn_product_sales_velocity(%s, %s)", (product, days)) == scalar(
            conn, velocity_sql, {"product": product, "days": days}), (product, days)


def test_product_sales_velocity_rejects_a_period_under_one_day(warehouse):
    conn = warehouse
    with pytest.raises(psycopg.errors.InvalidParameterValue) as excinfo:
        conn.execute("SELECT fn_product_sales_velocity(10, 0)")
    assert excinfo.value.diag.message_primary == "p_days must be at least 1, got 0"


def test_readme_top_customers_equal_the_source_ranking(warehouse):
    conn = warehouse
    top = rows(conn, "SELECT * FROM fn_top_customers(10);")
    expected = rows(conn, f"""
        SELECT c.customer_id, initcap(c.first_name) || ' ' || initcap(c.last_name), c.customer_segment,
               count(DISTINCT v.order_id), sum(v.quantity * v.unit_price - v.discount_amount)
        FROM ({VALID_SOURCE_SALES_SQL}) AS v
        JOIN sales_src.customers AS c ON c.customer_id = v.customer_id
        GROUP BY c.customer_id
        ORDER BY 5 DESC, 1
        LIMIT 10
    """)
    assert len(top) == 10
    assert top == expected


def test_readme_product_group_performance_equals_the_source(warehouse, report_range):
    conn = warehouse
    start, end = report_range
    seed_form = rows(conn, f"SELECT fn_product_group_performance('Electronics', '{start}', '{end}');")
    assert len(seed_form) == 1

    expected_sql = f"""
        SELECT %(group)s::text, count(DISTINCT v.order_id), count(DISTINCT v.customer_id),
               COALESCE(sum(v.quantity), 0), COALESCE(sum(v.line_total), 0),
               COALESCE(round(sum(v.line_total) / NULLIF(count(DISTINCT v.order_id), 0), 2), 0)
        FROM ({VALID_SOURCE_SALES_SQL}) AS v
        JOIN sales_src.products AS p ON p.product_id = v.product_id
        WHERE p.product_group = %(group)s
          AND v.transaction_date::date BETWEEN %(start)s AND %(end)s
    """
    params = {"group": "Electronics", "start": start, "end": end}
    performance = rows(conn, "SELECT * FROM fn_product_group_performance(%(group)s, %(start)s, %(end)s)", params)
    assert performance == rows(conn, expected_sql, params)
    assert performance[0][1] > 0
    # every group over the whole year
    groups = [r[0] for r in rows(conn, "SELECT DISTINCT product_group FROM sales_src.products ORDER BY 1")]
    assert len(groups) == 8
    for group in groups:
        params = {"group": group, "start": "2000-01-01", "end": "2100-12-31"}
        assert rows(conn, "SELECT * FROM fn_product_group_performance(%(group)s, %(start)s, %(end)s)", params) == rows(
            conn, expected_sql, params), group
