"""The sales subject area end to end: sales_src -> bronze -> silver -> sales star schema -> marts.

Every test works on its own fresh database (`conn` of tests/conftest.py: autocommit psycopg 3): a clone
of a database where the demo source was filled by sales_src.generate at a small scale and the registered
pipelines ran, built once (tests/conftest.py: database_template).
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

DAILY_STEPS = [
    "calendar",
    "sources",
    "sales_extract",
    "sales_silver_customers",
    "sales_silver_products",
    "sales_dim_customer",
    "sales_dim_product",
    "sales_silver_sales",
    "sales_fact_sales",
    "sales_agg_daily_sales",
    "sales_customer_metrics",
    "sales_customer_ltv",
]

# the valid sales lines of the source: what the fact table must hold
VALID_SOURCE_SALES_SQL = """
    SELECT s.sale_id, s.order_id, s.line_number, s.customer_id, s.product_id, s.quantity, s.unit_price,
           s.discount_amount, s.transaction_date
    FROM sales_src.sales AS s
    JOIN sales_src.customers AS c
      ON c.customer_id = s.customer_id
     AND c.last_name <> ''
    JOIN sales_src.products AS p
      ON p.product_id = s.product_id
    WHERE s.quantity > 0
"""

FACT_SALES_SQL = """
    SELECT f.sale_id, f.order_id, f.line_number, c.customer_id, p.product_id, f.quantity, f.unit_price,
           f.discount_amount, f.transaction_at
    FROM sales.fact_sales AS f
    JOIN sales.dim_customer AS c
      ON c.customer_key = f.customer_key
    JOIN sales.dim_product AS p
      ON p.product_key = f.product_key
"""

LAYER_STATE_SQL = """
    SELECT 'bronze.sales_customers' AS table_name, count(*), max(_ingested_at) FROM bronze.sales_customers
    UNION ALL SELECT 'bronze.sales_products', count(*), max(_ingested_at) FROM bronze.sales_products
    UNION ALL SELECT 'bronze.sales_sales', count(*), max(_ingested_at) FROM bronze.sales_sales
    UNION ALL SELECT 'bronze.sales_deleted_records', count(*), max(_ingested_at) FROM bronze.sales_deleted_records
    UNION ALL SELECT 'silver.sales_customers', count(*), max(_loaded_at) FROM silver.sales_customers
    UNION ALL SELECT 'silver.sales_products', count(*), max(_loaded_at) FROM silver.sales_products
    UNION ALL SELECT 'silver.sales_sales', count(*), max(_loaded_at) FROM silver.sales_sales
    UNION ALL SELECT 'sales.dim_customer', count(*), max(_loaded_at) FROM sales.dim_customer
    UNION ALL SELECT 'sales.dim_product', count(*), max(_loaded_at) FROM sales.dim_product
    UNION ALL SELECT 'sales.fact_sales', count(*), max(_loaded_at) FROM sales.fact_sales
    UNION ALL SELECT 'sales.agg_daily_sales', count(*), max(_loaded_at) FROM sales.agg_daily_sales
    UNION ALL SELECT 'sales.customer_metrics', count(*), max(refreshed_at) FROM sales.customer_metrics
    UNION ALL SELECT 'dwh_etl.quarantine', count(*), max(quarantined_at) FROM dwh_etl.quarantine
"""

# every row of the tables, as a checksum: "nothing changed" means exactly that
CONTENT_SQL = """
    SELECT md5(string_agg(t, '|' ORDER BY t))
    FROM (
        SELECT 'dc' || c::text AS t FROM sales.dim_customer AS c
        UNION ALL SELECT 'dp' || p::text FROM sales.dim_product AS p
        UNION ALL SELECT 'f' || f::text FROM sales.fact_sales AS f
        UNION ALL SELECT 'sc' || c::text FROM silver.sales_customers AS c
        UNION ALL SELECT 'sp' || p::text FROM silver.sales_products AS p
        UNION ALL SELECT 'ss' || s::text FROM silver.sales_sales AS s
        UNION ALL SELECT 'a' || a::text FROM sales.agg_daily_sales AS a
        UNION ALL SELECT 'm' || m::text FROM sales.customer_metrics AS m
        UNION ALL SELECT 'v' || v::text FROM sales.mv_customer_lifetime_value AS v
    ) AS x
"""


def scalar(conn, sql, params=None):
    return conn.execute(sql, params).fetchone()[0]


def rows(conn, sql, params=None):
    return conn.execute(sql, params).fetchall()


def run(conn, pipeline="daily"):
    """Run a pipeline for today; returns its run_id."""
    return conn.execute(RUN_SQL, (pipeline,)).fetchone()[0]


def layer_state(conn):
    return {r[0]: r[1:] for r in rows(conn, LAYER_STATE_SQL)}


def watermarks(conn):
    return dict(rows(conn, "SELECT table_name, watermark_value FROM dwh_etl.watermarks"))


def other_connection(conn):
    info = conn.info
    return psycopg.connect(host=info.host, port=info.port, user=info.user, dbname=info.dbname,
                           password=info.password or None, autocommit=True)


@pytest.fixture
def generated(sales_only_generated_template, conn):
    """The sales demo source generated (conn: a clone of a database built so once: tests/conftest.py)."""
    return conn


@pytest.fixture
def loaded(sales_only_loaded_template, conn):
    """Source generated, daily pipeline run once (conn: a clone of a database built so once)."""
    return conn


def state_before_next_day(conn):
    return {
        "watermarks": watermarks(conn),
        "layers": layer_state(conn),
        "max_bronze": dict(rows(conn, """
            SELECT 'customers', COALESCE(max(_bronze_id), 0) FROM bronze.sales_customers
            UNION ALL SELECT 'products', COALESCE(max(_bronze_id), 0) FROM bronze.sales_products
            UNION ALL SELECT 'sales', COALESCE(max(_bronze_id), 0) FROM bronze.sales_sales
            UNION ALL SELECT 'deleted_records', COALESCE(max(_bronze_id), 0) FROM bronze.sales_deleted_records
        """)),
        "dim_customer": rows(conn, "SELECT * FROM sales.dim_customer ORDER BY customer_key"),
        "max_customer_id": scalar(conn, "SELECT max(customer_id) FROM sales_src.customers"),
        "max_sale_id": scalar(conn, "SELECT max(sale_id) FROM sales_src.sales"),
        "load_finished": scalar(conn, "SELECT max(updated_at) FROM sales_src.customers"),
    }


@database_template(parent="sales_only_loaded_template", scope="module")
def sales_pipeline_next_day_template(conn):
    """After the first daily run: one more day in the source, then the daily pipeline again. Returns the
    state before the second run (with its run_id)."""
    before = state_before_next_day(conn)
    conn.execute("CALL sales_src.generate_next_day()")
    before["run_id"] = run(conn)
    return before


@pytest.fixture
def next_day(sales_pipeline_next_day_template, conn):
    """(conn, state before the second run) of sales_pipeline_next_day_template (conn: a clone of it)."""
    return conn, sales_pipeline_next_day_template.extras


# ---------------------------------------------------------------------------------------------
# first load
# ---------------------------------------------------------------------------------------------

def test_daily_run_loads_every_layer_with_matching_counts(loaded):
    conn = loaded
    source = scalar(conn, "SELECT count(*) FROM sales_src.sales")
    counts = dict(rows(conn, """
        SELECT 'bronze', count(*) FROM bronze.sales_sales
        UNION ALL SELECT 'silver', count(*) FROM silver.sales_sales WHERE NOT is_deleted
        UNION ALL SELECT 'silver_deleted', count(*) FROM silver.sales_sales WHERE is_deleted
        UNION ALL SELECT 'fact', count(*) FROM sales.fact_sales
        UNION ALL SELECT 'fact_distinct', count(DISTINCT sale_id) FROM sales.fact_sales
    """))
    assert source > 2000
    assert counts == {"bronze": source, "silver": source, "silver_deleted": 0, "fact": source,
                      "fact_distinct": source}
    # and the very same lines, value for value
    assert sorted(rows(conn, FACT_SALES_SQL)) == sorted(rows(conn, VALID_SOURCE_SALES_SQL))


def test_daily_run_puts_every_current_customer_and_product_in_the_dimensions(loaded):
    conn = loaded
    dim_customers = rows(conn, """
        SELECT customer_id, full_name, email, email_domain, phone, city, country, customer_segment, signup_date,
               valid_from, version, is_deleted
        FROM sales.dim_customer
        WHERE is_current
        ORDER BY customer_id
    """)
    source_customers = rows(conn, """
        SELECT customer_id, initcap(first_name) || ' ' || initcap(last_name), email, split_part(email, '@', 2),
               phone, city, country, customer_segment, signup_date, updated_at, 1, false
        FROM sales_src.customers
        ORDER BY customer_id
    """)
    assert dim_customers == source_customers
    assert scalar(conn, "SELECT count(*) FROM sales.dim_customer WHERE NOT is_current") == 0

    dim_products = rows(conn, """
        SELECT product_id, product_name, product_group, category, brand, list_price, unit_cost, is_active,
               valid_from, version, is_deleted
        FROM sales.dim_product
        WHERE is_current
        ORDER BY product_id
    """)
    source_products = rows(conn, """
        SELECT product_id, product_name, product_group, category, brand, unit_price, unit_cost, is_active,
               updated_at, 1, false
        FROM sales_src.products
        ORDER BY product_id
    """)
    assert dim_products == source_products


def test_daily_run_records_a_completed_run_with_every_step_completed(generated):
    conn = generated
    run_id = run(conn)
    status, error, n_steps = conn.execute(
        "SELECT status, error_message, (metrics->>'steps')::integer FROM dwh_lineage.pipeline_runs WHERE run_id = %s",
        (run_id,),
    ).fetchone()
    assert (status, error, n_steps) == ("completed", None, len(DAILY_STEPS))

    steps = rows(conn, """
        SELECT step_name, status, rows_written > 0, completed_at IS NOT NULL, sqlstate, error_message
        FROM dwh_lineage.step_runs
        WHERE run_id = %s
        ORDER BY step_order
    """, (run_id,))
    # every step writes rows, except `sources`: no fdw source is attached
    assert steps == [(s, "completed", s != "sources", True, None, None) for s in DAILY_STEPS]


def test_lineage_upstream_of_fact_sales_reaches_silver_bronze_and_source(loaded):
    conn = loaded
    upstream = rows(conn, "SELECT table_name FROM dwh_lineage.get_upstream('sales.fact_sales') ORDER BY table_name")
    assert [r[0] for r in upstream] == [
        "bronze.sales_customers",
        "bronze.sales_deleted_records",
        "bronze.sales_products",
        "bronze.sales_sales",
        "dwh_etl.settings",
        "gold.dim_date",
        "sales.dim_customer",
        "sales.dim_product",
        "sales_src.customers",
        "sales_src.deleted_records",
        "sales_src.products",
        "sales_src.sales",
        "silver.sales_customers",
        "silver.sales_products",
        "silver.sales_sales",
    ]
    # the direct feeds are level 1
    assert rows(conn, """
        SELECT table_name FROM dwh_lineage.get_upstream('sales.fact_sales') WHERE level = 1 ORDER BY table_name
    """) == [("gold.dim_date",), ("sales.dim_customer",), ("sales.dim_product",), ("silver.sales_sales",)]


def test_lineage_upstream_of_each_bronze_table_is_only_its_source_table(loaded):
    conn = loaded
    upstream = rows(conn, """
        SELECT b.bronze_table, u.level, u.table_name
        FROM unnest(ARRAY['bronze.sales_customers', 'bronze.sales_products', 'bronze.sales_sales',
                          'bronze.sales_deleted_records']) AS b(bronze_table)
        CROSS JOIN LATERAL dwh_lineage.get_upstream(b.bronze_table) AS u
        ORDER BY 1, 2, 3
    """)
    assert upstream == [
        ("bronze.sales_customers", 1, "sales_src.customers"),
        ("bronze.sales_deleted_records", 1, "sales_src.deleted_records"),
        ("bronze.sales_products", 1, "sales_src.products"),
        ("bronze.sales_sales", 1, "sales_src.sales"),
    ]


# ---------------------------------------------------------------------------------------------
# reruns
# ---------------------------------------------------------------------------------------------

def test_second_run_without_source_changes_writes_nothing(loaded):
    conn = loaded
    before_state = layer_state(conn)
    before_content = scalar(conn, CONTENT_SQL)
    run_id = run(conn)
    assert layer_state(conn) == before_state
    assert scalar(conn, CONTENT_SQL) == before_content
    assert scalar(conn, "SELECT status FROM dwh_lineage.pipeline_runs WHERE run_id = %s", (run_id,)) == "completed"
    # the loads report no rows written (the marts' refresh steps recount what they hold)
    written = dict(rows(conn, "SELECT step_name, rows_written FROM dwh_lineage.step_runs WHERE run_id = %s", (run_id,)))
    assert {k: v for k, v in written.items() if k not in ("calendar", "sales_customer_ltv")} == {
        "sources": 0,
        "sales_extract": 0,
        "sales_silver_customers": 0,
        "sales_silver_products": 0,
        "sales_silver_sales": 0,
        "sales_dim_customer": 0,
        "sales_dim_product": 0,
        "sales_fact_sales": 0,
        "sales_agg_daily_sales": 0,
        "sales_customer_metrics": 0,
    }


def test_incremental_pipeline_after_daily_loads_nothing_twice(loaded):
    conn = loaded
    before_state = layer_state(conn)
    before_content = scalar(conn, CONTENT_SQL)
    run(conn, "incremental")
    assert layer_state(conn) == before_state
    assert scalar(conn, CONTENT_SQL) == before_content

    # a new day picked up by the incremental run is not loaded again by the next daily run
    conn.execute("CALL sales_src.generate_next_day()")
    run(conn, "incremental")
    after_incremental = layer_state(conn)
    assert after_incremental["bronze.sales_sales"][0] > before_state["bronze.sales_sales"][0]
    content = scalar(conn, CONTENT_SQL)
    run(conn, "daily")
    assert layer_state(conn) == after_incremental
    assert scalar(conn, CONTENT_SQL) == content
    assert sorted(rows(conn, FACT_SALES_SQL)) == sorted(rows(conn, VALID_SOURCE_SALES_SQL))


# ---------------------------------------------------------------------------------------------
# the next day: delta, SCD2, deletes, quarantine
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "table, key, ts_column",
    [
        ("customers", "customer_id", "updated_at"),
        ("products", "product_id", "updated_at"),
        ("sales", "sale_id", "updated_at"),
        ("deleted_records", "record_id", "deleted_at"),
    ],
)
def test_next_day_extracts_only_the_changed_source_rows(next_day, table, key, ts_column):
    conn, before = next_day
    watermark = before["watermarks"][f"bronze.sales_{table}"]
    extracted = rows(conn, f"""
        SELECT {key}::bigint, _batch_id
        FROM bronze.sales_{table}
        WHERE _bronze_id > %s
        ORDER BY 1
    """, (before["max_bronze"][table],))
    changed = rows(conn, f"SELECT {key} FROM sales_src.{table} WHERE {ts_column} >= %s ORDER BY 1", (watermark,))
    batch = scalar(conn, "SELECT batch_id FROM dwh_lineage.pipeline_runs WHERE run_id = %s", (before["run_id"],))
    assert len(changed) > 0
    assert extracted == [(r[0], batch) for r in changed]


def test_next_day_changed_customers_get_a_new_dimension_version(next_day):
    conn, before = next_day
    changed = [r[0] for r in rows(conn, """
        SELECT customer_id FROM sales_src.customers
        WHERE updated_at > created_at AND customer_id <= %s
        ORDER BY customer_id
    """, (before["max_customer_id"],))]
    assert len(changed) == 3  # round(1% of 250)

    versions = rows(conn, """
        SELECT v1.customer_id, v1.is_current, v1.valid_to = v2.valid_from, v2.is_current, v2.version,
               v2.valid_from = s.updated_at, (v2.email, v2.city, v2.country, v2.customer_segment)
                                             IS NOT DISTINCT FROM (s.email, s.city, s.country, s.customer_segment)
        FROM sales.dim_customer AS v1
        JOIN sales.dim_customer AS v2
          ON v2.customer_id = v1.customer_id
         AND v2.version = 2
        JOIN sales_src.customers AS s
          ON s.customer_id = v1.customer_id
        WHERE v1.version = 1
        ORDER BY v1.customer_id
    """)
    assert versions == [(c, False, True, True, 2, True, True) for c in changed]
    # the old versions kept their attributes: only valid_to and is_current moved
    old = {r[0]: r for r in before["dim_customer"]}
    now_closed = rows(conn, """
        SELECT customer_key, customer_id, email, city, country, customer_segment, valid_from
        FROM sales.dim_customer WHERE version = 1 AND customer_id = ANY(%s) ORDER BY customer_key
    """, (changed,))
    cols = [d.name for d in conn.execute("SELECT * FROM sales.dim_customer LIMIT 0").description]
    pick = [cols.index(c) for c in ("customer_key", "customer_id", "email", "city", "country", "customer_segment",
                                    "valid_from")]
    assert now_closed == [tuple(old[r[0]][i] for i in pick) for r in now_closed]


def test_next_day_removes_deleted_sales_from_the_fact_table(next_day):
    conn, before = next_day
    deleted = [r[0] for r in rows(conn, """
        SELECT record_id FROM sales_src.deleted_records WHERE table_name = 'sales' ORDER BY record_id
    """)]
    assert len(deleted) == 5
    assert rows(conn, "SELECT sale_id FROM sales.fact_sales WHERE sale_id = ANY(%s)", (deleted,)) == []
    assert rows(conn, """
        SELECT sale_id, is_deleted FROM silver.sales_sales WHERE sale_id = ANY(%s) ORDER BY sale_id
    """, (deleted,)) == [(s, True) for s in deleted]


def test_next_day_deleted_customer_has_no_current_row(next_day):
    conn, before = next_day
    deleted = scalar(conn, "SELECT record_id FROM sales_src.deleted_records WHERE table_name = 'customers'")
    deleted_at = scalar(conn, "SELECT deleted_at FROM sales_src.deleted_records WHERE table_name = 'customers'")
    assert rows(conn, """
        SELECT version, is_current, valid_to = %s, is_deleted FROM sales.dim_customer WHERE customer_id = %s
    """, (deleted_at, deleted)) == [(1, False, True, False)]
    # silver keeps a deletion marker as its current version
    assert rows(conn, """
        SELECT version, is_current, is_deleted, valid_from = %s FROM silver.sales_customers
        WHERE customer_id = %s ORDER BY version
    """, (deleted_at, deleted)) == [(1, False, False, False), (2, True, True, True)]


def test_next_day_quarantines_the_six_bad_rows_with_their_reasons(next_day):
    conn, before = next_day
    bad_customer = scalar(conn, "SELECT customer_id FROM sales_src.customers WHERE last_name = ''")
    bad = {r[0]: r[1:] for r in rows(conn, """
        SELECT CASE WHEN s.quantity = -1 THEN 'neg1' WHEN s.quantity = -2 THEN 'neg2'
                    WHEN s.quantity IS NULL THEN 'null'
                    WHEN c.customer_id IS NULL THEN 'customer'
                    ELSE 'product' END,
               s.sale_id, s.customer_id, s.product_id
        FROM sales_src.sales AS s
        LEFT JOIN sales_src.customers AS c ON c.customer_id = s.customer_id
        LEFT JOIN sales_src.products AS p ON p.product_id = s.product_id
        WHERE s.quantity IS NULL OR s.quantity < 0 OR c.customer_id IS NULL OR p.product_id IS NULL
    """)}
    assert len(bad) == 5
    sale_id, customer_id, product_id = 0, 1, 2
    quarantined = rows(conn, """
        SELECT target_table, source_table, record_key, reasons, run_id, resolved_at
        FROM dwh_etl.quarantine
        ORDER BY target_table, record_key::bigint
    """)
    expected = sorted([
        ("silver.sales_customers", "bronze.sales_customers", str(bad_customer), ["last_name is empty"]),
        ("silver.sales_sales", "bronze.sales_sales", str(bad["neg1"][sale_id]), ["quantity -1 is not positive"]),
        ("silver.sales_sales", "bronze.sales_sales", str(bad["neg2"][sale_id]), ["quantity -2 is not positive"]),
        ("silver.sales_sales", "bronze.sales_sales", str(bad["null"][sale_id]), ["quantity NULL is not an integer"]),
        ("silver.sales_sales", "bronze.sales_sales", str(bad["customer"][sale_id]),
         [f"unknown customer_id {bad['customer'][customer_id]}"]),
        ("silver.sales_sales", "bronze.sales_sales", str(bad["product"][sale_id]),
         [f"unknown product_id {bad['product'][product_id]}"]),
    ], key=lambda r: (r[0], int(r[2])))
    assert quarantined == [r + (before["run_id"], None) for r in expected]
    # none of them reached silver or gold
    bad_sales = [b[sale_id] for b in bad.values()]
    assert rows(conn, "SELECT sale_id FROM silver.sales_sales WHERE sale_id = ANY(%s)", (bad_sales,)) == []
    assert rows(conn, "SELECT sale_id FROM sales.fact_sales WHERE sale_id = ANY(%s)", (bad_sales,)) == []
    assert rows(conn, "SELECT customer_id FROM silver.sales_customers WHERE customer_id = %s", (bad_customer,)) == []
    assert rows(conn, "SELECT customer_id FROM sales.dim_customer WHERE customer_id = %s", (bad_customer,)) == []


def test_next_day_loads_the_good_rows_and_changes_nothing_else(next_day):
    conn, before = next_day
    # facts: exactly the valid source lines, value for value
    assert sorted(rows(conn, FACT_SALES_SQL)) == sorted(rows(conn, VALID_SOURCE_SALES_SQL))
    # current customers: the source's, minus the quarantined one, deleted customer gone
    assert rows(conn, """
        SELECT customer_id, full_name, email, city, country, customer_segment
        FROM sales.dim_customer WHERE is_current ORDER BY customer_id
    """) == rows(conn, """
        SELECT customer_id, initcap(first_name) || ' ' || initcap(last_name), email, city, country, customer_segment
        FROM sales_src.customers WHERE last_name <> '' ORDER BY customer_id
    """)
    assert rows(conn, """
        SELECT product_id, product_name, product_group, list_price, unit_cost, is_active
        FROM sales.dim_product WHERE is_current ORDER BY product_id
    """) == rows(conn, """
        SELECT product_id, product_name, product_group, unit_price, unit_cost, is_active
        FROM sales_src.products ORDER BY product_id
    """)
    # untouched customers kept their single version, untouched
    unchanged_before = [r for r in before["dim_customer"]]
    cols = [d.name for d in conn.execute("SELECT * FROM sales.dim_customer LIMIT 0").description]
    key = cols.index("customer_key")
    now = {r[key]: r for r in rows(conn, "SELECT * FROM sales.dim_customer")}
    touched = {r[0] for r in rows(conn, """
        SELECT customer_id FROM sales_src.customers WHERE updated_at > %s
        UNION SELECT record_id FROM sales_src.deleted_records WHERE table_name = 'customers'
    """, (before["load_finished"],))}
    cid = cols.index("customer_id")
    assert [now[r[key]] for r in unchanged_before if r[cid] not in touched] == [
        r for r in unchanged_before if r[cid] not in touched]
    # silver sales: old lines not changed at the source were not rewritten
    assert scalar(conn, """
        SELECT count(*) FROM silver.sales_sales AS s
        JOIN sales_src.sales AS o ON o.sale_id = s.sale_id
        WHERE s._batch_id = (SELECT batch_id FROM dwh_lineage.pipeline_runs WHERE run_id = %s)
          AND o.updated_at < %s
    """, (before["run_id"], before["watermarks"]["bronze.sales_sales"])) == 0


def test_silver_sales_reconciles_with_the_bronze_batch(next_day):
    conn, before = next_day
    batch = scalar(conn, "SELECT batch_id FROM dwh_lineage.pipeline_runs WHERE run_id = %s", (before["run_id"],))
    bronze = scalar(conn, "SELECT count(*) FROM bronze.sales_sales WHERE _batch_id = %s", (batch,))
    accepted = scalar(conn, "SELECT count(*) FROM silver.sales_sales WHERE _batch_id = %s AND NOT is_deleted",
                      (batch,))
    quarantined = scalar(conn, """
        SELECT count(*) FROM dwh_etl.quarantine WHERE run_id = %s AND source_table = 'bronze.sales_sales'
    """, (before["run_id"],))
    duplicates = scalar(conn, """
        SELECT count(*) - count(DISTINCT sale_id) FROM bronze.sales_sales WHERE _batch_id = %s
    """, (batch,))
    assert (quarantined, duplicates) == (5, 0)
    assert bronze == accepted + quarantined + duplicates

    lineage = conn.execute("""
        SELECT rows_read, rows_inserted, rows_unchanged, rows_rejected, rows_deleted, notes
        FROM dwh_lineage.table_lineage
        WHERE run_id = %s AND target_table = 'silver.sales_sales'
    """, (before["run_id"],)).fetchall()
    assert lineage == [(
        bronze + 5, accepted, 0, 5, 5,
        f"{bronze} bronze rows = {accepted} upserted + 0 unchanged + 5 quarantined + 0 duplicates collapsed; 5 deleted",
    )]


# ---------------------------------------------------------------------------------------------
# failures and concurrency
# ---------------------------------------------------------------------------------------------

def test_failed_fact_step_raises_dw003_keeps_earlier_steps_and_rerun_completes(loaded):
    conn = loaded
    conn.execute("CALL sales_src.generate_next_day()")
    facts_before = sorted(rows(conn, "SELECT sale_id, customer_key, product_key FROM sales.fact_sales"))
    conn.execute("ALTER TABLE sales.fact_sales RENAME TO fact_sales_away")
    with pytest.raises(psycopg.Error) as excinfo:
        run(conn)
    diag = excinfo.value.diag
    assert diag.sqlstate == "DW003"
    run_id = int(diag.message_detail.removeprefix("run_id="))
    assert diag.message_primary.startswith(
        f"run {run_id} of pipeline daily failed at step sales_fact_sales: 'sales.fact_sales' is not a partitioned table"
    )
    steps = rows(conn, """
        SELECT step_name, status, sqlstate, error_message FROM dwh_lineage.step_runs WHERE run_id = %s ORDER BY step_order
    """, (run_id,))
    assert [s[:3] for s in steps[:9]] == [(s, "completed", None) for s in DAILY_STEPS[:8]] + [
        ("sales_fact_sales", "failed", "42809")]
    # the steps downstream of the fact are skipped with the reason (independent steps would still run)
    assert steps[9:] and all(st == "skipped" and "which did not complete" in msg for _, st, _, msg in steps[9:])
    assert scalar(conn, "SELECT status FROM dwh_lineage.pipeline_runs WHERE run_id = %s", (run_id,)) == "failed"
    # the earlier steps committed: silver has the new day
    assert scalar(conn, "SELECT count(*) FROM silver.sales_sales WHERE NOT is_deleted") == scalar(
        conn, f"SELECT count(*) FROM ({VALID_SOURCE_SALES_SQL}) AS v")
    conn.execute("ALTER TABLE sales.fact_sales_away RENAME TO fact_sales")
    assert sorted(rows(conn, "SELECT sale_id, customer_key, product_key FROM sales.fact_sales")) == facts_before

    run_id = run(conn)
    assert scalar(conn, "SELECT status FROM dwh_lineage.pipeline_runs WHERE run_id = %s", (run_id,)) == "completed"
    assert scalar(conn, "SELECT count(*) - count(DISTINCT sale_id) FROM sales.fact_sales") == 0
    assert sorted(rows(conn, FACT_SALES_SQL)) == sorted(rows(conn, VALID_SOURCE_SALES_SQL))
    assert rows(conn, AGG_DIFF_SQL) == []


def test_concurrent_run_is_refused_with_dw002(loaded):
    conn = loaded
    runs_before = scalar(conn, "SELECT count(*) FROM dwh_lineage.pipeline_runs")
    with other_connection(conn) as holder:
        holder.execute("SELECT pg_advisory_lock(hashtextextended('dwh_etl.run_pipeline:daily', 0))")
        with pytest.raises(psycopg.Error) as excinfo:
            run(conn)
        assert excinfo.value.diag.sqlstate == "DW002"
        assert excinfo.value.diag.message_primary == "pipeline daily is already running"
        assert scalar(conn, "SELECT count(*) FROM dwh_lineage.pipeline_runs") == runs_before
        # another pipeline is not blocked
        run(conn, "incremental")
        # release explicitly: closing the connection frees the lock only when its backend has exited
        holder.execute("SELECT pg_advisory_unlock_all()")
    run_id = run(conn)
    assert scalar(conn, "SELECT status FROM dwh_lineage.pipeline_runs WHERE run_id = %s", (run_id,)) == "completed"


# ---------------------------------------------------------------------------------------------
# star schema integrity and marts
# ---------------------------------------------------------------------------------------------

def test_fact_rows_point_at_the_dimension_versions_valid_at_the_sale(next_day):
    conn, before = next_day
    assert scalar(conn, "SELECT count(*) FROM sales.dim_customer WHERE version > 1") > 0
    # the version whose [valid_from, valid_to) holds transaction_at; a sale before the key's first
    # version (a customer created later that day) takes the first version, as load_fact_sales documents
    wrong = rows(conn, """
        WITH expected AS (
            SELECT f.sale_id,
                   COALESCE(
                       (SELECT c.customer_key FROM sales.dim_customer AS c
                        WHERE c.customer_id = fc.customer_id
                          AND f.transaction_at >= c.valid_from
                          AND (c.valid_to IS NULL OR f.transaction_at < c.valid_to)),
                       (SELECT c.customer_key FROM sales.dim_customer AS c
                        WHERE c.customer_id = fc.customer_id AND c.version = 1
                          AND f.transaction_at < c.valid_from)) AS customer_key,
                   COALESCE(
                       (SELECT p.product_key FROM sales.dim_product AS p
                        WHERE p.product_id = fp.product_id
                          AND f.transaction_at >= p.valid_from
                          AND (p.valid_to IS NULL OR f.transaction_at < p.valid_to)),
                       (SELECT p.product_key FROM sales.dim_product AS p
                        WHERE p.product_id = fp.product_id AND p.version = 1
                          AND f.transaction_at < p.valid_from)) AS product_key
            FROM sales.fact_sales AS f
            JOIN sales.dim_customer AS fc ON fc.customer_key = f.customer_key
            JOIN sales.dim_product AS fp ON fp.product_key = f.product_key
        )
        SELECT f.sale_id, f.customer_key, e.customer_key, f.product_key, e.product_key
        FROM sales.fact_sales AS f
        JOIN expected AS e ON e.sale_id = f.sale_id
        WHERE (f.customer_key, f.product_key) IS DISTINCT FROM (e.customer_key, e.product_key)
    """)
    assert wrong == []
    # and the keys match the source line's customer and product
    assert scalar(conn, f"""
        SELECT count(*) FROM ({FACT_SALES_SQL}) AS f
        JOIN sales_src.sales AS s ON s.sale_id = f.sale_id
        WHERE (f.customer_id, f.product_id) IS DISTINCT FROM (s.customer_id, s.product_id)
    """) == 0


def test_fact_partitions_exist_from_the_first_sale_to_three_months_ahead(loaded):
    conn = loaded
    first = scalar(conn, "SELECT min(transaction_date)::date FROM sales_src.sales")
    today = scalar(conn, "SELECT CURRENT_DATE")
    partitions = rows(conn, """
        SELECT c.relname, pg_get_expr(c.relpartbound, c.oid)
        FROM pg_inherits AS i
        JOIN pg_class AS c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'sales.fact_sales'::regclass
        ORDER BY c.relname
    """)
    expected = []
    month = first.replace(day=1)
    last = (today.replace(day=1) + dt.timedelta(days=32 * 3)).replace(day=1)
    while month <= last:
        following = (month + dt.timedelta(days=32)).replace(day=1)
        expected.append((f"fact_sales_p{month:%Y%m}",
                         f"FOR VALUES FROM ({month:%Y%m%d}) TO ({following:%Y%m%d})"))
        month = following
    assert partitions == expected


AGG_EXPECTED_SQL = """
    SELECT f.date_key,
           COALESCE(c.customer_segment, 'Unknown') AS customer_segment,
           COALESCE(p.product_group, 'Unknown') AS product_category,
           count(DISTINCT f.order_id)::integer AS order_count,
           sum(f.quantity)::integer AS item_count,
           sum(f.quantity * f.unit_price) AS gross_revenue,
           sum(f.discount_amount) AS discount_total,
           sum(f.tax_amount) AS tax_total,  -- issue 18: was 0 (the fact had no tax)
           sum(f.quantity * f.unit_price - f.discount_amount) AS net_revenue,
           round(sum(f.quantity * f.unit_price - f.discount_amount) / count(DISTINCT f.order_id), 2) AS avg_order_value
    FROM sales.fact_sales AS f
    JOIN sales.dim_customer AS c ON c.customer_key = f.customer_key
    JOIN sales.dim_product AS p ON p.product_key = f.product_key
    GROUP BY 1, 2, 3
"""

AGG_ACTUAL_SQL = """
    SELECT date_key, customer_segment, product_category, order_count, item_count, gross_revenue, discount_total,
           tax_total, net_revenue, avg_order_value
    FROM sales.agg_daily_sales
"""

AGG_DIFF_SQL = f"""
    (({AGG_EXPECTED_SQL}) EXCEPT ({AGG_ACTUAL_SQL}))
    UNION ALL
    (({AGG_ACTUAL_SQL}) EXCEPT ({AGG_EXPECTED_SQL}))
"""


def test_agg_daily_sales_equals_a_group_by_over_facts_and_dimensions(next_day):
    conn, before = next_day
    assert scalar(conn, "SELECT count(DISTINCT date_key) FROM sales.agg_daily_sales") == scalar(
        conn, "SELECT count(DISTINCT transaction_date::date) FROM sales_src.sales WHERE quantity > 0")
    assert sorted(rows(conn, AGG_ACTUAL_SQL)) == sorted(rows(conn, AGG_EXPECTED_SQL))
    # and its totals are the source's
    assert rows(conn, "SELECT sum(item_count), sum(net_revenue) FROM sales.agg_daily_sales") == rows(
        conn, f"SELECT sum(quantity), sum(quantity * unit_price - discount_amount) FROM ({VALID_SOURCE_SALES_SQL}) AS v")


def test_customer_lifetime_value_sums_every_version_of_each_customer(next_day):
    conn, before = next_day
    actual = rows(conn, """
        SELECT customer_id, name, customer_segment, total_orders, lifetime_value, avg_order_value,
               first_order_date, last_order_date, customer_tenure_days
        FROM sales.mv_customer_lifetime_value
        ORDER BY customer_id
    """)
    expected = rows(conn, f"""
        WITH s AS (
            SELECT v.customer_id, count(DISTINCT v.order_id) AS orders,
                   sum(v.quantity * v.unit_price - v.discount_amount) AS value,
                   min(v.transaction_date)::date AS first_date, max(v.transaction_date)::date AS last_date
            FROM ({VALID_SOURCE_SALES_SQL}) AS v
            GROUP BY v.customer_id
        )
        SELECT c.customer_id, initcap(c.first_name) || ' ' || initcap(c.last_name), c.customer_segment,
               COALESCE(s.orders, 0), COALESCE(s.value, 0),
               CASE WHEN s.orders > 0 THEN round(s.value / s.orders, 2) ELSE 0 END,
               s.first_date, s.last_date, s.last_date - s.first_date
        FROM sales_src.customers AS c
        LEFT JOIN s ON s.customer_id = c.customer_id
        WHERE c.last_name <> ''
        ORDER BY c.customer_id
    """)
    assert actual == expected
    # the changed customers' sales under their first version are counted
    assert scalar(conn, """
        SELECT count(*) FROM sales.fact_sales AS f
        JOIN sales.dim_customer AS c ON c.customer_key = f.customer_key
        WHERE NOT c.is_current
    """) > 0


def test_customer_metrics_equal_an_independent_computation(next_day):
    conn, before = next_day
    actual = rows(conn, """
        SELECT customer_id, customer_name, customer_segment, total_orders, total_quantity, total_spent,
               avg_order_value, first_purchase_date, last_purchase_date, days_since_last_purchase, customer_tier
        FROM sales.customer_metrics
        ORDER BY customer_id
    """)
    expected = rows(conn, f"""
        WITH s AS (
            SELECT v.customer_id, count(DISTINCT v.order_id) AS orders, sum(v.quantity) AS quantity,
                   sum(v.quantity * v.unit_price - v.discount_amount) AS spent,
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
    assert len(actual) > 100
    assert actual == expected
