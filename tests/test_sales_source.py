"""The demo operational source sales_src: initial load, one more day of changes, tombstones, bad rows.

Uses the `conn` fixture of tests/conftest.py: an autocommit psycopg 3 connection to a fresh database
with all migrations and procedures applied.
"""

import datetime as dt

import psycopg
import pytest

SCALE = 0.01  # 500 customers, 200 products, ~10,000 sales lines

# every bad row generate_next_day writes, one defect each
BAD_ROWS_SQL = """
    SELECT 'sales' AS table_name, s.sale_id AS record_id, 'negative quantity' AS defect
    FROM sales_src.sales AS s
    WHERE s.quantity < 0
    UNION ALL
    SELECT 'sales', s.sale_id, 'quantity is null'
    FROM sales_src.sales AS s
    WHERE s.quantity IS NULL
    UNION ALL
    SELECT 'sales', s.sale_id, 'unknown customer'
    FROM sales_src.sales AS s
    WHERE NOT EXISTS (SELECT 1 FROM sales_src.customers AS c WHERE c.customer_id = s.customer_id)
    UNION ALL
    SELECT 'sales', s.sale_id, 'unknown product'
    FROM sales_src.sales AS s
    WHERE NOT EXISTS (SELECT 1 FROM sales_src.products AS p WHERE p.product_id = s.product_id)
    UNION ALL
    SELECT 'customers', c.customer_id, 'empty last name'
    FROM sales_src.customers AS c
    WHERE c.last_name = ''
"""

# every column but the arrival stamp (_dwh_arrived_at: when the row was written, not generated data)
CUSTOMERS_CHECKSUM_SQL = """
    SELECT md5(string_agg((to_jsonb(c) - '_dwh_arrived_at')::text, '|' ORDER BY c.customer_id))
    FROM sales_src.customers AS c
"""

SALES_CHECKSUM_SQL = """
    SELECT md5(string_agg((to_jsonb(s) - '_dwh_arrived_at')::text, '|' ORDER BY s.sale_id))
    FROM sales_src.sales AS s
"""


def scalar(conn, sql, params=None):
    return conn.execute(sql, params).fetchone()[0]


def counts(conn):
    return dict(conn.execute("SELECT table_name, row_count FROM sales_src.summary()").fetchall())


@pytest.fixture
def source(conn):
    """The connection, with sales_src emptied (in case the database is shared between tests)."""
    conn.execute(
        "TRUNCATE sales_src.sales, sales_src.customers, sales_src.products, sales_src.deleted_records "
        "RESTART IDENTITY"
    )
    return conn


@pytest.fixture
def generated(source):
    source.execute("CALL sales_src.generate(p_scale => %s::numeric, p_seed => 0.42)", (SCALE,))
    return source


@pytest.fixture
def next_day(generated):
    """Runs generate_next_day once; returns (conn, the day, state before)."""
    conn = generated
    before = {
        "counts": counts(conn),
        "latest_day": scalar(conn, "SELECT max(transaction_date)::date FROM sales_src.sales"),
        "max_sale_id": scalar(conn, "SELECT max(sale_id) FROM sales_src.sales"),
        "max_customer_id": scalar(conn, "SELECT max(customer_id) FROM sales_src.customers"),
        "load_finished": scalar(conn, "SELECT max(updated_at) FROM sales_src.sales"),
    }
    conn.execute("CALL sales_src.generate_next_day()")
    return conn, before["latest_day"] + dt.timedelta(days=1), before


def test_generate_small_scale_gives_expected_counts(generated):
    conn = generated
    c = counts(conn)
    assert c["customers"] == 500
    assert c["products"] == 200
    assert 9500 <= c["sales"] <= 10500
    assert c["deleted_records"] == 0

    orders = conn.execute(
        """
        SELECT count(*), min(n), max(n), min(max_line), max(max_line)
        FROM (
            SELECT order_id, count(*) AS n, max(line_number) AS max_line
            FROM sales_src.sales
            GROUP BY order_id
        ) AS o
        """
    ).fetchone()
    assert orders[0] == round(1_000_000 * SCALE / 2.21)
    assert orders[1:] == (1, 5, 1, 5)

    # one customer and one instant per order
    assert scalar(
        conn,
        """
        SELECT count(*) FROM (
            SELECT order_id FROM sales_src.sales
            GROUP BY order_id
            HAVING count(DISTINCT customer_id) > 1 OR count(DISTINCT transaction_date) > 1
        ) AS o
        """,
    ) == 0


def test_generate_writes_no_orphans_and_no_bad_rows(generated):
    conn = generated
    assert conn.execute(BAD_ROWS_SQL).fetchall() == []
    # every sale at its product's price, quantity 1-20, discount never above the line amount
    assert scalar(
        conn,
        """
        SELECT count(*)
        FROM sales_src.sales AS s
        JOIN sales_src.products AS p ON p.product_id = s.product_id
        WHERE s.unit_price <> p.unit_price
           OR s.quantity NOT BETWEEN 1 AND 20
           OR s.discount_amount NOT BETWEEN 0 AND s.quantity * s.unit_price
        """,
    ) == 0
    # customers buy only after they signed up
    assert scalar(
        conn,
        """
        SELECT count(*)
        FROM sales_src.sales AS s
        JOIN sales_src.customers AS c ON c.customer_id = s.customer_id
        WHERE s.transaction_date < c.created_at
        """,
    ) == 0


def test_generate_spreads_sales_over_the_last_365_days(generated):
    conn = generated
    first, last, stamped_when_sold, no_discount = conn.execute(
        """
        SELECT min(transaction_date)::date - current_date,
               max(transaction_date)::date - current_date,
               bool_and(created_at = transaction_date AND updated_at = transaction_date),
               avg((discount_amount = 0)::integer)
        FROM sales_src.sales
        """
    ).fetchone()
    assert (first, last) == (-365, -1)
    assert stamped_when_sold is True
    assert 0.75 <= no_discount <= 0.85


def test_generate_twice_is_refused(generated):
    conn = generated
    before = counts(conn)
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState) as excinfo:
        conn.execute("CALL sales_src.generate(p_scale => %s::numeric)", (SCALE,))
    diag = excinfo.value.diag
    assert diag.sqlstate == "55000"
    assert diag.message_primary == (
        "sales_src already holds data (rows in sales_src.customers, sales_src.products, sales_src.sales)"
    )
    assert "generate_next_day" in diag.message_hint
    assert counts(conn) == before


@pytest.mark.parametrize("scale", [0, -1, None])
def test_generate_rejects_invalid_scale(source, scale):
    with pytest.raises(psycopg.errors.InvalidParameterValue) as excinfo:
        source.execute("CALL sales_src.generate(p_scale => %s::numeric)", (scale,))
    assert excinfo.value.diag.message_primary == f"invalid scale {'<NULL>' if scale is None else scale}"
    assert counts(source)["customers"] == 0


def test_generate_is_reproducible_with_the_same_seed(source):
    conn = source
    conn.execute("CALL sales_src.generate(p_scale => %s::numeric, p_seed => 0.42)", (SCALE,))
    first = (scalar(conn, CUSTOMERS_CHECKSUM_SQL), scalar(conn, SALES_CHECKSUM_SQL))

    conn.execute(
        "TRUNCATE sales_src.sales, sales_src.customers, sales_src.products, sales_src.deleted_records"
    )  # sequences not reset on purpose: keys do not depend on them
    conn.execute("CALL sales_src.generate(p_scale => %s::numeric, p_seed => 0.42)", (SCALE,))
    again = (scalar(conn, CUSTOMERS_CHECKSUM_SQL), scalar(conn, SALES_CHECKSUM_SQL))
    assert again == first

    conn.execute(
        "TRUNCATE sales_src.sales, sales_src.customers, sales_src.products, sales_src.deleted_records"
    )
    conn.execute("CALL sales_src.generate(p_scale => %s::numeric, p_seed => 42)", (SCALE,))  # mapped into [-1, 1]
    other = (scalar(conn, CUSTOMERS_CHECKSUM_SQL), scalar(conn, SALES_CHECKSUM_SQL))
    assert other[0] != first[0]
    assert other[1] != first[1]


def test_generate_next_day_refuses_an_empty_source(source):
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState) as excinfo:
        source.execute("CALL sales_src.generate_next_day()")
    assert excinfo.value.diag.message_primary == "sales_src.sales is empty: there is no day to continue from"


def test_generate_next_day_adds_sales_of_the_next_day_stamped_now(next_day):
    conn, day, before = next_day
    new_lines, new_days, stamped_now = conn.execute(
        """
        SELECT count(*),
               array_agg(DISTINCT transaction_date::date),
               bool_and(created_at = updated_at AND created_at > %s)
        FROM sales_src.sales
        WHERE sale_id > %s
        """,
        (before["load_finished"], before["max_sale_id"]),
    ).fetchone()
    daily = before["counts"]["sales"] / 365
    assert 0.4 * daily <= new_lines <= 2.5 * daily
    assert new_days == [day]
    assert stamped_now is True
    changed = scalar(conn, "SELECT count(*) FROM sales_src.sales WHERE updated_at > %s", (before["load_finished"],))
    assert changed == new_lines


def test_generate_next_day_changes_customers_and_products(next_day):
    conn, day, before = next_day
    n_customers = before["counts"]["customers"]
    changed = scalar(
        conn,
        "SELECT count(*) FROM sales_src.customers WHERE updated_at > created_at AND customer_id <= %s",
        (before["max_customer_id"],),
    )
    assert changed == round(0.01 * n_customers)

    new_customers = conn.execute(
        "SELECT signup_date, created_at = updated_at FROM sales_src.customers WHERE customer_id > %s",
        (before["max_customer_id"],),
    ).fetchall()
    assert len(new_customers) >= 2  # at least 1 good one + the bad one
    assert set(new_customers) == {(day, True)}

    products = conn.execute(
        """
        SELECT count(*) FILTER (WHERE updated_at > created_at),
               count(*) FILTER (WHERE NOT is_active)
        FROM sales_src.products
        """
    ).fetchone()
    assert products == (round(0.01 * 200) + 2, 2)


def test_generate_next_day_writes_tombstones_for_its_deletes(next_day):
    conn, day, before = next_day
    tombstones = conn.execute(
        "SELECT table_name, count(*) FROM sales_src.deleted_records GROUP BY table_name ORDER BY table_name"
    ).fetchall()
    assert tombstones == [("customers", 1), ("sales", 5)]
    # the rows are gone, and the deleted customer had no sales
    assert scalar(
        conn,
        """
        SELECT count(*)
        FROM sales_src.deleted_records AS d
        WHERE EXISTS (SELECT 1 FROM sales_src.sales AS s WHERE d.table_name = 'sales' AND s.sale_id = d.record_id)
           OR EXISTS (SELECT 1 FROM sales_src.customers AS c
                      WHERE d.table_name = 'customers' AND c.customer_id = d.record_id)
           OR EXISTS (SELECT 1 FROM sales_src.sales AS s
                      WHERE d.table_name = 'customers' AND s.customer_id = d.record_id)
        """,
    ) == 0
    assert counts(conn)["deleted_records"] == 6


def test_generate_next_day_writes_exactly_the_listed_bad_rows(next_day):
    conn, day, before = next_day
    bad = conn.execute(f"SELECT table_name, defect FROM ({BAD_ROWS_SQL}) AS b ORDER BY 1, 2").fetchall()
    assert bad == [
        ("customers", "empty last name"),
        ("sales", "negative quantity"),
        ("sales", "negative quantity"),
        ("sales", "quantity is null"),
        ("sales", "unknown customer"),
        ("sales", "unknown product"),
    ]
    # one defect per row, all written today for that business day
    bad_sales = conn.execute(
        f"""
        SELECT count(DISTINCT b.record_id), array_agg(DISTINCT s.transaction_date::date)
        FROM ({BAD_ROWS_SQL}) AS b
        JOIN sales_src.sales AS s ON s.sale_id = b.record_id
        WHERE b.table_name = 'sales'
        """
    ).fetchone()
    assert bad_sales == (5, [day])


def test_generate_next_day_twice_continues_with_the_following_day(next_day):
    conn, day, before = next_day
    conn.execute("CALL sales_src.generate_next_day()")
    assert scalar(conn, "SELECT max(transaction_date)::date FROM sales_src.sales") == day + dt.timedelta(days=1)
    assert scalar(conn, f"SELECT count(*) FROM ({BAD_ROWS_SQL}) AS b") == 12
    assert counts(conn)["deleted_records"] == 12


def test_delete_writes_one_tombstone_per_row(generated):
    conn = generated
    order_lines = [r[0] for r in conn.execute(
        "SELECT sale_id FROM sales_src.sales WHERE order_id = 1 ORDER BY sale_id"
    ).fetchall()]
    conn.execute("DELETE FROM sales_src.products WHERE product_id IN (3, 1, 2)")
    conn.execute("DELETE FROM sales_src.sales WHERE order_id = 1")
    rows = conn.execute(
        "SELECT table_name, record_id FROM sales_src.deleted_records ORDER BY table_name, record_id"
    ).fetchall()
    assert rows == [("products", 1), ("products", 2), ("products", 3)] + [("sales", i) for i in order_lines]
    # one deleted_at per statement: the deleting transaction's now()
    assert scalar(conn, "SELECT count(DISTINCT deleted_at) FROM sales_src.deleted_records") == 2


def test_update_bumps_updated_at_only_when_the_row_changes(generated):
    conn = generated
    before = scalar(conn, "SELECT updated_at FROM sales_src.customers WHERE customer_id = 1")
    conn.execute("UPDATE sales_src.customers SET city = city WHERE customer_id = 1")
    assert scalar(conn, "SELECT updated_at FROM sales_src.customers WHERE customer_id = 1") == before
    conn.execute("UPDATE sales_src.customers SET city = 'Oslo', country = 'Norway' WHERE customer_id = 1")
    assert scalar(conn, "SELECT updated_at > created_at FROM sales_src.customers WHERE customer_id = 1") is True
