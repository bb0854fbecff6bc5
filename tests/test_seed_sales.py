"""Seeds 002 and 004, what their users reach for (issue 18): tax_amount from the source to the aggregate,
the seed's indexes each used by its query, gold.dim_date's relative flags, the seed-name aliases of the
engine, the STG date parts, the first sp_aggregate_sales_report without a NOTICE, etl_service closing a
pipeline it started, and `dwh demo --from 2025-01-01` running seed 004's January-2025 examples."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import psycopg
import pytest
from click.testing import CliRunner

from dwh_cli.cli import cli

RUN_SQL = "CALL dwh_etl.run_pipeline(p_pipeline => 'daily', p_run_date => CURRENT_DATE, p_run_id => NULL)"
CLEAN_ENV = {name: None for name in ("DWH_DSN", "PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGSERVICE",
                                     "PGPASSWORD")}


def scalar(conn, sql, params=None):
    return conn.execute(sql, params).fetchone()[0]


def rows(conn, sql, params=None):
    return conn.execute(sql, params).fetchall()


@pytest.fixture
def loaded(sales_only_loaded_template, conn):
    """The sales area only, its demo source generated (scale 0.005) and loaded by `daily`."""
    return conn


# -- tax_amount ----------------------------------------------------------------------------------------
def test_tax_amount_flows_from_the_source_to_the_aggregate(loaded):
    conn = loaded
    source = scalar(conn, "SELECT sum(tax_amount) FROM sales_src.sales")
    assert source > 0
    # the demo's tax: 8% of the line's net amount
    assert scalar(conn, """SELECT count(*) FROM sales_src.sales
                           WHERE tax_amount <> round((quantity * unit_price - discount_amount) * 0.08, 2)""") == 0
    assert scalar(conn, "SELECT sum(tax_amount) FROM silver.sales_sales") == source
    assert scalar(conn, "SELECT sum(tax_amount) FROM sales.fact_sales") == source
    assert scalar(conn, "SELECT sum(tax_total) FROM sales.agg_daily_sales") == source
    # per day and segment/group, the aggregate's tax is the sum of its lines'
    assert rows(conn, """
        SELECT a.date_key, a.customer_segment, a.product_category, a.tax_total
        FROM sales.agg_daily_sales AS a
        EXCEPT
        SELECT f.date_key, COALESCE(c.customer_segment, 'Unknown'), COALESCE(p.product_group, 'Unknown'), sum(f.tax_amount)
        FROM sales.fact_sales AS f
        JOIN sales.dim_customer AS c ON c.customer_key = f.customer_key
        JOIN sales.dim_product AS p ON p.product_key = f.product_key
        GROUP BY 1, 2, 3""") == []
    # revenue stays net of tax
    assert scalar(conn, "SELECT count(*) FROM sales.fact_sales WHERE line_total <> quantity * unit_price - discount_amount") == 0


def test_a_negative_or_malformed_tax_is_quarantined_and_a_missing_one_is_no_tax(loaded):
    conn = loaded
    conn.execute("""
        INSERT INTO sales_src.sales (order_id, line_number, customer_id, product_id, quantity, unit_price,
                                     discount_amount, tax_amount, transaction_date)
        SELECT 900000001, 1, c.customer_id, p.product_id, 1, 10, 0, -1.5, now() - interval '1 hour'
        FROM (SELECT min(customer_id) AS customer_id FROM sales_src.customers) AS c,
             (SELECT min(product_id) AS product_id FROM sales_src.products) AS p""")
    conn.execute(RUN_SQL)
    assert scalar(conn, "SELECT count(*) FROM sales.fact_sales AS f JOIN sales_src.sales AS s USING (sale_id) WHERE s.order_id = 900000001") == 0
    assert rows(conn, """SELECT reasons FROM dwh_etl.quarantine
                         WHERE target_table = 'silver.sales_sales' AND payload->>'order_id' = '900000001'""") == [
        (["tax_amount -1.50 is negative"],)]
    # silver types bronze's text: a malformed value is a reason, a blank or missing one no tax
    assert rows(conn, """
        SELECT v.raw, dwh_etl.reason_numeric('tax_amount', v.raw, t.tax_amount, 10, 2), t.tax_amount
        FROM (VALUES ('abc'), (''), (NULL), ('1.234'), ('2.5')) AS v(raw)
        CROSS JOIN LATERAL (SELECT COALESCE(dwh_etl.try_numeric(v.raw),
                                            CASE WHEN dwh_etl.try_trim(v.raw) IS NULL THEN 0 END) AS tax_amount) AS t
        ORDER BY 1 NULLS LAST""") == [
        ("", None, 0), ("1.234", "tax_amount '1.234' has more than 2 decimal places (numeric(10,2); never rounded)", Decimal("1.234")),
        ("2.5", None, Decimal("2.5")), ("abc", "tax_amount 'abc' is not a number", None), (None, None, 0)]


def test_a_source_without_an_optional_bronze_column_still_extracts(conn):
    """A bronze column with a DEFAULT is optional in the source (tax_amount: a source attached before the
    column existed keeps loading); a column without one is still required."""
    conn.execute("""
        CREATE TABLE public.src_t (id integer, a text, _dwh_arrived_at timestamptz NOT NULL DEFAULT clock_timestamp());
        INSERT INTO public.src_t (id, a, _dwh_arrived_at) VALUES (1, 'x', now() - interval '1 minute');
        CREATE TABLE public.bronze_t (_bronze_id bigint GENERATED ALWAYS AS IDENTITY, id text, a text,
                                      opt text DEFAULT '', _batch_id uuid NOT NULL, _ingested_at timestamptz NOT NULL,
                                      _source text NOT NULL);""")
    assert scalar(conn, "SELECT dwh_etl.extract_incremental('public.src_t', 'public.bronze_t', '_dwh_arrived_at')") == 1
    assert rows(conn, "SELECT id, a, opt FROM public.bronze_t") == [("1", "x", "")]
    conn.execute("ALTER TABLE public.bronze_t ADD COLUMN required text")
    with pytest.raises(psycopg.errors.UndefinedColumn, match=r"lacks column\(s\) required"):
        conn.execute("SELECT dwh_etl.extract_incremental('public.src_t', 'public.bronze_t', '_dwh_arrived_at')")
    # the sales source's own tax column is such an optional one
    assert scalar(conn, """SELECT atthasdef FROM pg_attribute
                           WHERE attrelid = 'bronze.sales_sales'::regclass AND attname = 'tax_amount'""") is True


# -- the seed's indexes, each used by the query it is for -----------------------------------------------
def _indexes_used(conn, query, params=None, without=()):
    """The indexes a plan reads (for a partition's index: the partitioned index it belongs to), with
    sequential scans off: is the index usable for the query at all (the demo's tables are small).
    `without`: indexes dropped for the EXPLAIN only (rolled back), where another index is as cheap on the
    demo's few rows and the planner's choice between them flips with the statistics."""
    with conn.transaction(force_rollback=True):
        for name in without:
            conn.execute(f"DROP INDEX {name}")
        conn.execute("SET LOCAL enable_seqscan = off")
        plan = scalar(conn, "EXPLAIN (FORMAT JSON) " + query, params)
    names = set()

    def walk(node):
        if "Index Name" in node:
            names.add(node["Index Name"])
        for child in node.get("Plans", []):
            walk(child)
    walk(plan[0]["Plan"])
    parents = set()
    for name in names:
        parent = scalar(conn, """SELECT COALESCE((SELECT i.inhparent::regclass::text FROM pg_inherits AS i
                                                  WHERE i.inhrelid = to_regclass(%(n)s)), %(n)s)""",
                        {"n": name})
        parents.add(parent.split(".")[-1])
    return parents


def test_each_seed_index_serves_its_query(loaded):
    conn = loaded
    email = scalar(conn, "SELECT email FROM sales.dim_customer WHERE is_current AND email IS NOT NULL LIMIT 1")
    day = scalar(conn, "SELECT max(date_key) FROM sales.fact_sales")
    conn.execute("SET search_path = sales, gold")
    # find a customer by address (support, data-subject requests)
    assert "dim_customer_email_idx" in _indexes_used(
        conn, "SELECT customer_key FROM sales.dim_customer WHERE email = %s AND is_current", (email,))
    # what a customer bought on a day (support: "my order of the 3rd")
    customer = scalar(conn, "SELECT customer_key FROM sales.fact_sales WHERE date_key = %s LIMIT 1", (day,))
    assert "fact_sales_date_customer_idx" in _indexes_used(
        conn, "SELECT sale_id, product_key, quantity, line_total FROM sales.fact_sales "
              "WHERE date_key = %s AND customer_key = %s", (day, customer),
        without=("sales.fact_sales_customer_idx", "sales.fact_sales_date_covering_idx"))
    # the last hours' sales
    assert "fact_sales_transaction_brin" in _indexes_used(
        conn, "SELECT count(*) FROM sales.fact_sales WHERE transaction_at >= now() - interval '6 hours'")
    # daily totals without the heap
    assert "fact_sales_date_covering_idx" in _indexes_used(
        conn, "SELECT date_key, sum(quantity), sum(line_total), sum(tax_amount) FROM sales.fact_sales "
              "WHERE date_key BETWEEN %s AND %s GROUP BY date_key", (day - 6, day))


# -- gold.dim_date's relative flags ---------------------------------------------------------------------
def flags(conn):
    return rows(conn, """
        SELECT count(*) FILTER (WHERE is_current_day), count(*) FILTER (WHERE is_current_week),
               count(*) FILTER (WHERE is_current_month), count(*) FILTER (WHERE is_current_quarter),
               count(*) FILTER (WHERE is_current_year),
               min(full_date) FILTER (WHERE is_current_day), min(full_date) FILTER (WHERE is_current_week)
        FROM gold.dim_date""")[0]


def test_update_dim_date_flags_marks_today_its_iso_week_month_quarter_year(conn):
    conn.execute("SELECT dwh_etl.ensure_calendar(DATE '2024-01-01', DATE '2026-12-31')")
    assert flags(conn)[:5] == (0, 0, 0, 0, 0)  # false until the procedure runs

    conn.execute("CALL dwh_etl.update_dim_date_flags(DATE '2025-01-01')")
    # 2025-01-01 is in ISO week 1 of 2025, which starts on Monday 2024-12-30 (the seed's week test paired
    # the week number with the calendar year: 2024-12-30 was not "this week" on 2025-01-01)
    assert flags(conn) == (1, 7, 31, 90, 365, dt.date(2025, 1, 1), dt.date(2024, 12, 30))

    notices = []
    conn.add_notice_handler(lambda d: notices.append(d.message_primary))
    conn.execute("CALL dwh_etl.update_dim_date_flags(DATE '2025-05-20')")
    assert flags(conn) == (1, 7, 31, 91, 365, dt.date(2025, 5, 20), dt.date(2025, 5, 19))
    conn.execute("CALL dwh_etl.update_dim_date_flags(DATE '2025-05-20')")
    assert notices[-1] == "dim_date flags set for 2025-05-20 (0 days changed)"  # a rerun writes nothing


def test_update_dim_date_flags_reads_today_in_the_calendar_zone_not_the_session(conn):
    conn.execute("SELECT dwh_etl.ensure_calendar(CURRENT_DATE - 400, CURRENT_DATE + 400)")
    conn.execute("SET TimeZone = 'Pacific/Kiritimati'")  # UTC+14: its date is often UTC's tomorrow
    conn.execute("CALL dwh_etl.update_dim_date_flags()")
    assert scalar(conn, "SELECT full_date FROM gold.dim_date WHERE is_current_day") == scalar(
        conn, "SELECT (now() AT TIME ZONE 'UTC')::date")
    # the maintenance pipeline's step date_flags runs it
    run_id = scalar(conn, "CALL dwh_etl.run_pipeline(p_pipeline => 'maintenance', p_steps => ARRAY['date_flags'], p_run_id => NULL)")
    assert rows(conn, "SELECT step_name, status FROM dwh_lineage.step_runs WHERE run_id = %s AND status <> 'skipped'", (run_id,)) == [
        ("date_flags", "completed")]


# -- the seed-name aliases -----------------------------------------------------------------------------
def last_runs(conn, n):
    return rows(conn, """SELECT pipeline_name, status, run_date, parameters->'steps'
                         FROM dwh_lineage.pipeline_runs ORDER BY run_id DESC LIMIT %s""", (n,))


def test_refresh_agg_daily_sales_recomputes_a_date_or_every_date(loaded):
    conn = loaded
    day = scalar(conn, "SELECT max(date_key) FROM sales.agg_daily_sales")
    expected = rows(conn, "SELECT * FROM silver.sales_agg_daily_sales_rows ORDER BY 1, 2, 3")
    conn.execute("UPDATE sales.agg_daily_sales SET net_revenue = -1")

    conn.execute("CALL dwh_etl.refresh_agg_daily_sales(%s)", (day,))
    assert scalar(conn, "SELECT count(*) FROM sales.agg_daily_sales WHERE net_revenue = -1 AND date_key = %s", (day,)) == 0
    assert scalar(conn, "SELECT count(*) FROM sales.agg_daily_sales WHERE net_revenue = -1") > 0
    assert last_runs(conn, 1)[0][:2] == ("daily", "completed")
    assert last_runs(conn, 1)[0][3] == ["sales_agg_daily_sales"]

    conn.execute("INSERT INTO sales.agg_daily_sales SELECT 20000101, 'x', 'y', 1, 1, 1, 0, 0, 1, 1, gen_random_uuid() "
                 "WHERE EXISTS (SELECT 1 FROM gold.dim_date WHERE date_key = 20000101)")
    conn.execute("CALL dwh_etl.refresh_agg_daily_sales()")
    assert rows(conn, """SELECT date_key, customer_segment, product_category, order_count, item_count, gross_revenue,
                                discount_total, tax_total, net_revenue, avg_order_value
                         FROM sales.agg_daily_sales ORDER BY 1, 2, 3""") == expected

    with pytest.raises(psycopg.errors.InvalidParameterValue, match="date key 20250231 is not a date"):
        conn.execute("CALL dwh_etl.refresh_agg_daily_sales(20250231)")


def test_refresh_customer_ltv_and_run_pipeline_by_dependencies_run_the_engine_steps(loaded):
    conn = loaded
    conn.execute("CALL dwh_etl.refresh_customer_ltv()")
    assert last_runs(conn, 1)[0][3] == ["sales_customer_metrics", "sales_customer_ltv"]

    notices = []
    conn.add_notice_handler(lambda d: notices.append(d.message_primary))
    conn.execute("CALL dwh_etl.run_pipeline_by_dependencies('sales.agg_daily_sales', gen_random_uuid())")
    steps = last_runs(conn, 1)[0][3]
    assert steps[-1] == "sales_agg_daily_sales"
    assert {"sales_extract", "sales_silver_sales", "sales_dim_customer", "sales_fact_sales"} <= set(steps)
    assert "sales_customer_ltv" not in steps  # downstream of the fact, not upstream of the target
    assert any(n.startswith("in_batch_id") and "is not used" in n for n in notices)

    with pytest.raises(psycopg.Error) as exc:
        conn.execute("CALL dwh_etl.run_pipeline_by_dependencies('sales.no_such_table')")
    assert exc.value.sqlstate == "DW020"
    with pytest.raises(psycopg.errors.InvalidParameterValue):
        conn.execute("CALL dwh_etl.run_pipeline_by_dependencies('no dot')")


def test_run_daily_and_ecommerce_pipelines_are_runs_of_daily(loaded):
    conn = loaded
    conn.execute("CALL dwh_etl.run_daily_pipeline(CURRENT_DATE - 1)")
    run = last_runs(conn, 1)[0]
    assert run[:3] == ("daily", "completed", scalar(conn, "SELECT CURRENT_DATE - 1"))
    assert run[3] is None  # every step
    conn.execute("CALL dwh_etl.run_ecommerce_pipeline()")
    pipeline, status, run_date, steps = last_runs(conn, 1)[0]
    assert (pipeline, status, run_date) == ("daily", "completed", scalar(conn, "SELECT CURRENT_DATE - 1"))
    assert steps == [r[0] for r in rows(conn, "SELECT step_name FROM dwh_etl.select_steps('daily', ARRAY['+sales']) ORDER BY step_order")]
    assert all(s.startswith("sales_") or s in ("calendar", "sources") for s in steps)


def test_validate_customer_as_the_seed_defines_it(conn):
    check = lambda *args: rows(conn, "SELECT * FROM dwh_etl.validate_customer(%s, %s, %s)", args)[0]  # noqa: E731
    assert check("ann@example.com", "Ann Lee", "active") == (True, [])
    assert check(None, "A", "deleted") == (False, ["Email is required", "Name must be at least 2 characters",
                                                     "Invalid status value"])
    assert check("ann@example", "Ann", "inactive") == (False, ["Invalid email format"])
    assert check("ann lee@example.com", "  A  ", "suspended") == (False, ["Invalid email format",
                                                                      "Name must be at least 2 characters"])
    assert check("ann@example.com", "Ann", None) == (False, ["Invalid status value"])  # the seed let NULL pass


# -- seed 004: STG date parts, the report procedure's first call -------------------------------------------
def test_stg_fact_sales_has_the_date_parts_of_the_sale_in_the_shops_zone(loaded):
    conn = loaded
    conn.execute("UPDATE dwh_etl.settings SET value = 'Asia/Tokyo' WHERE key = 'sales.source_timezone'")
    conn.execute("SET TimeZone = 'America/Los_Angeles'")  # the session's zone changes nothing
    assert rows(conn, """
        SELECT count(*),
               count(*) FILTER (WHERE s.transaction_day = (s.transaction_at AT TIME ZONE 'Asia/Tokyo')::date
                                  AND s.transaction_year = extract(year FROM s.transaction_at AT TIME ZONE 'Asia/Tokyo')
                                  AND s.transaction_quarter = extract(quarter FROM s.transaction_at AT TIME ZONE 'Asia/Tokyo')
                                  AND s.transaction_month = extract(month FROM s.transaction_at AT TIME ZONE 'Asia/Tokyo')
                                  AND s.transaction_day_of_month = extract(day FROM s.transaction_at AT TIME ZONE 'Asia/Tokyo')
                                  AND s.transaction_day_of_week = extract(isodow FROM s.transaction_at AT TIME ZONE 'Asia/Tokyo')
                                  AND s.transaction_hour = extract(hour FROM s.transaction_at AT TIME ZONE 'Asia/Tokyo')
                                  AND s.transaction_date_key = to_char(s.transaction_at AT TIME ZONE 'Asia/Tokyo', 'YYYYMMDD')::integer)
        FROM sales.stg_fact_sales AS s""")[0] == (scalar(conn, "SELECT count(*) FROM silver.sales_sales"),) * 2


def test_the_first_sp_aggregate_sales_report_of_a_session_prints_no_notice(loaded, dsn):
    with psycopg.connect(dsn, autocommit=True) as fresh:  # a session that never had a temp table
        notices = []
        fresh.add_notice_handler(lambda d: notices.append(d.message_primary))
        fresh.execute("SET search_path = sales, gold")
        fresh.execute("CALL sp_aggregate_sales_report(CURRENT_DATE - 30, CURRENT_DATE)")
        fresh.execute("CALL sp_aggregate_sales_report(CURRENT_DATE - 30, CURRENT_DATE)")  # and the second
        assert notices == []
        assert scalar(fresh, "SELECT count(*) FROM temp_sales_report") > 0


# -- seed 002's grant bug: etl_service closes the pipeline it started ----------------------------------
def test_etl_service_can_complete_the_pipeline_it_started(conn):
    conn.execute("SET ROLE etl_service")
    batch = scalar(conn, "SELECT dwh_lineage.start_pipeline('seed_002_example', '{}'::jsonb)")
    conn.execute("CALL dwh_lineage.complete_pipeline(%s, 'completed')", (batch,))
    conn.execute("RESET ROLE")
    assert scalar(conn, "SELECT status FROM dwh_lineage.pipeline_runs WHERE batch_id = %s", (batch,)) == "completed"
    # the seed granted SELECT, INSERT only on its lineage tables; complete_pipeline UPDATEs pipeline_runs
    assert scalar(conn, "SELECT has_table_privilege('etl_service', 'dwh_lineage.pipeline_runs', 'UPDATE')") is True


# -- dwh demo --from: seed 004's January-2025 examples return rows ----------------------------------------
def test_demo_from_2025_runs_the_seeds_january_2025_examples(dsn, conn):
    result = CliRunner().invoke(cli, ["--dsn", dsn, "demo", "--scale", "0.002", "--from", "2025-01-01"],
                                env=CLEAN_ENV)
    assert result.exit_code == 0, result.output
    # sales from 2025-01-01 on (at this scale not every day has one)
    first = scalar(conn, "SELECT min(transaction_date AT TIME ZONE 'UTC')::date FROM sales_src.sales")
    assert dt.date(2025, 1, 1) <= first <= dt.date(2025, 1, 10)
    conn.execute("SET search_path = sales, gold")
    # seed 004's README, verbatim
    conn.execute("CALL sp_aggregate_sales_report('2025-01-01', '2025-01-31');")
    assert scalar(conn, "SELECT count(*) FROM temp_sales_report") > 0
    january = rows(conn, "SELECT fn_product_group_performance('Electronics', '2025-01-01', '2025-01-31');")
    assert len(january) == 1 and "Electronics" in january[0][0]
    assert scalar(conn, "SELECT count(*) FROM dwh_fact_sales WHERE date_key BETWEEN 20250101 AND 20250131") > 0
    # a date range that ends before it starts is refused by the generator with a clear error
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="invalid p_from"):
        conn.execute("CALL sales_src.generate(p_scale => 0.001, p_from => CURRENT_DATE + 1)")
