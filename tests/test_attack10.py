"""Attack 10: deletes, re-inserts, updates and redeliveries of the same records, in every order, within one
run's window and across runs, through the real source tables (sales_src with sales_src.deleted_records,
agents_src with agents_src.deleted_records) and `daily`; silver, the dimensions and the facts are compared
with the source's final state.

A test whose docstring says DEFECT exposed one; the others held and stay as regression tests. Each area's
warehouse is built once per module (attack10_sales_template, attack10_agents_template).
"""

from __future__ import annotations

import datetime as dt

import pytest

from conftest import cloned_database, database_template, disable_other_areas
from test_capture import add_customer

# the run date as the runner takes it, a UTC date: CURRENT_DATE is the session's (a test that sets TimeZone
# to America/St_Johns between 00:00 and 03:30 UTC ran for yesterday, whose window ends before its rows arrived)
RUN_DAILY = "CALL dwh_etl.run_pipeline(p_pipeline => 'daily', p_run_date => (now() AT TIME ZONE 'UTC')::date, p_run_id => NULL)"


def scalar(conn, sql, params=None):
    return conn.execute(sql, params).fetchone()[0]


def rows(conn, sql, params=None):
    return conn.execute(sql, params).fetchall()


def last_run(conn):
    run_id, status = rows(conn, "SELECT run_id, status FROM dwh_lineage.pipeline_runs ORDER BY run_id DESC LIMIT 1")[0]
    return status, dict(rows(conn, "SELECT step_name, status FROM dwh_lineage.step_runs WHERE run_id = %s", (run_id,)))


def run_daily(conn):
    conn.execute(RUN_DAILY)
    status, steps = last_run(conn)
    assert status == "completed", steps
    return steps


# =====================================================================================================
# sales
# =====================================================================================================

def add_sale(conn, sale_id, updated_at="now()", quantity=1, order_id=None, line_number=1):
    conn.execute(f"""
        INSERT INTO sales_src.sales (sale_id, order_id, line_number, customer_id, product_id, quantity, unit_price,
                                     discount_amount, transaction_date, created_at, updated_at)
        VALUES (%s, %s, %s, 1, 1, %s, 10.00, 0, now() - interval '1 hour', now(), {updated_at})
    """, (sale_id, sale_id if order_id is None else order_id, line_number, quantity))


def seed_two_sales(conn):
    """The sales area only: customers 1 and 2, product 1, sales 1 and 2, loaded by one `daily` (also the
    template of tests/test_attack13e.py)."""
    disable_other_areas(conn)
    add_customer(conn, 1)
    add_customer(conn, 2, last_name="Roe")
    conn.execute("""
        INSERT INTO sales_src.products (product_id, product_name, product_group, category, brand, unit_price, unit_cost)
        VALUES (1, 'Widget', 'Office Supplies', 'Pens', 'Penwick', 10.00, 5.00)
    """)
    add_sale(conn, 1, quantity=1)
    add_sale(conn, 2, quantity=2)
    conn.execute(RUN_DAILY)


@database_template(scope="module")
def attack10_sales_template(conn):
    """The sales area only: customers 1 and 2, product 1, sales 1 and 2, loaded by one `daily`."""
    seed_two_sales(conn)


@pytest.fixture
def sales(attack10_sales_template, conn):
    return conn


def old_ts(conn, table, key_column, key):
    return scalar(conn, f"SELECT updated_at FROM sales_src.{table} WHERE {key_column} = %s", (key,))


def sales_matches_source(conn):
    """silver.sales_sales (rows not deleted) and sales.fact_sales hold exactly the source's sales lines."""
    source = rows(conn, "SELECT sale_id, quantity FROM sales_src.sales ORDER BY 1")
    silver = rows(conn, "SELECT sale_id, quantity FROM silver.sales_sales WHERE NOT is_deleted ORDER BY 1")
    fact = rows(conn, "SELECT sale_id, quantity FROM sales.fact_sales ORDER BY 1")
    assert silver == source, (silver, source)
    assert fact == source, (fact, source)


def customers_match_source(conn):
    """The current, not deleted customers of silver and of sales.dim_customer are the source's."""
    source = rows(conn, "SELECT customer_id, last_name FROM sales_src.customers ORDER BY 1")
    silver = rows(conn, "SELECT customer_id, last_name FROM silver.sales_customers WHERE is_current AND NOT is_deleted ORDER BY 1")
    dim = rows(conn, """SELECT customer_id, split_part(full_name, ' ', 2) FROM sales.dim_customer
                        WHERE is_current AND NOT is_deleted ORDER BY 1""")
    assert silver == source, (silver, source)
    assert dim == source, (dim, source)


def restored_at(ts, restore_ts):
    """The updated_at a restored row carries: its old one, or the time of the restore."""
    return f"'{ts.isoformat()}'::timestamptz" if restore_ts == "old" else "clock_timestamp()"


def open_quarantine(conn):
    return {(t, k) for t, k in rows(conn, "SELECT target_table, record_key FROM dwh_etl.quarantine WHERE resolved_at IS NULL")}


# --- one window ------------------------------------------------------------------------------------

@pytest.mark.parametrize("restore_ts", ["old", "new"])
def test_sales_delete_reinsert_update_delete_again_in_one_window(sales, restore_ts):
    """Held: deleted, re-inserted (old or new updated_at), updated, deleted again before one run: deleted."""
    conn = sales
    ts = old_ts(conn, "sales", "sale_id", 1)
    conn.execute("DELETE FROM sales_src.sales WHERE sale_id = 1")
    add_sale(conn, 1, updated_at=restored_at(ts, restore_ts), quantity=5)
    conn.execute("UPDATE sales_src.sales SET quantity = 6 WHERE sale_id = 1")
    conn.execute("DELETE FROM sales_src.sales WHERE sale_id = 1")
    run_daily(conn)
    sales_matches_source(conn)


@pytest.mark.parametrize("restore_ts", ["old", "new"])
def test_sales_delete_reinsert_update_in_one_window(sales, restore_ts):
    """Held: deleted, re-inserted (old or new updated_at), updated before one run: the updated row."""
    conn = sales
    ts = old_ts(conn, "sales", "sale_id", 1)
    conn.execute("DELETE FROM sales_src.sales WHERE sale_id = 1")
    add_sale(conn, 1, updated_at=restored_at(ts, restore_ts), quantity=5)
    conn.execute("UPDATE sales_src.sales SET quantity = 6 WHERE sale_id = 1")
    run_daily(conn)
    sales_matches_source(conn)


@pytest.mark.parametrize("restore_ts", ["old", "new"])
def test_sales_delete_reinsert_update_delete_split_across_runs(sales, restore_ts):
    """Held: the same four changes with a run after each: the warehouse follows the source each time."""
    conn = sales
    ts = old_ts(conn, "sales", "sale_id", 1)
    conn.execute("DELETE FROM sales_src.sales WHERE sale_id = 1")
    run_daily(conn)
    sales_matches_source(conn)
    add_sale(conn, 1, updated_at=restored_at(ts, restore_ts), quantity=5)
    run_daily(conn)
    sales_matches_source(conn)
    conn.execute("UPDATE sales_src.sales SET quantity = 6 WHERE sale_id = 1")
    run_daily(conn)
    sales_matches_source(conn)
    conn.execute("DELETE FROM sales_src.sales WHERE sale_id = 1")
    run_daily(conn)
    sales_matches_source(conn)


def test_sales_all_in_one_source_transaction(sales):
    """Held: delete, re-insert with the old updated_at, update, in one source transaction (the tombstone's
    deleted_at and the update's updated_at are the same now()): the updated row."""
    conn = sales
    ts = old_ts(conn, "sales", "sale_id", 1)
    with conn.transaction():
        conn.execute("DELETE FROM sales_src.sales WHERE sale_id = 1")
        add_sale(conn, 1, updated_at=f"'{ts.isoformat()}'::timestamptz", quantity=5)
        conn.execute("UPDATE sales_src.sales SET quantity = 6 WHERE sale_id = 1")
    run_daily(conn)
    sales_matches_source(conn)
    with conn.transaction():
        conn.execute("DELETE FROM sales_src.sales WHERE sale_id = 1")
        add_sale(conn, 1, quantity=7)
    run_daily(conn)
    sales_matches_source(conn)


@pytest.mark.parametrize("split", [False, True])
def test_sales_two_keys_swap_values(sales, split):
    """Held: sales 1 and 2 deleted and re-inserted with each other's order line and quantity, keeping their
    old updated_at (a re-sync), in one window or across two runs."""
    conn = sales
    ts1, ts2 = old_ts(conn, "sales", "sale_id", 1), old_ts(conn, "sales", "sale_id", 2)
    conn.execute("DELETE FROM sales_src.sales WHERE sale_id IN (1, 2)")
    if split:
        run_daily(conn)
        sales_matches_source(conn)
    add_sale(conn, 1, updated_at=f"'{ts1.isoformat()}'::timestamptz", quantity=2, order_id=2)
    add_sale(conn, 2, updated_at=f"'{ts2.isoformat()}'::timestamptz", quantity=1, order_id=1)
    run_daily(conn)
    sales_matches_source(conn)
    assert rows(conn, "SELECT sale_id, order_id FROM sales.fact_sales ORDER BY 1") == [(1, 2), (2, 1)]


@pytest.mark.parametrize("split", [False, True])
def test_sales_restore_of_an_older_state_after_an_update(sales, split):
    """DEFECT (high): a sale changed (quantity 1 -> 3, updated_at now), then deleted and restored from a
    backup taken before the change (quantity 1, its old updated_at). The source holds quantity 1; the
    warehouse kept quantity 3: in one window the latest state per key was the one with the latest
    updated_at (the deleted version), and across runs the upsert refused a state older than silver's."""
    conn = sales
    ts = old_ts(conn, "sales", "sale_id", 1)
    conn.execute("UPDATE sales_src.sales SET quantity = 3 WHERE sale_id = 1")
    run_daily(conn)
    conn.execute("DELETE FROM sales_src.sales WHERE sale_id = 1")
    if split:
        run_daily(conn)
        sales_matches_source(conn)
    add_sale(conn, 1, updated_at=f"'{ts.isoformat()}'::timestamptz", quantity=1)
    run_daily(conn)
    sales_matches_source(conn)


def test_sales_a_change_stamped_in_the_future_then_deleted_is_deleted(sales):
    """DEFECT (high): a writer whose clock runs ahead (or writes local time as UTC) stamps a new sale's
    updated_at an hour in the future (within the plausible range, so it loads); the sale is deleted a
    minute later. The tombstone's deleted_at is before that updated_at, so the deletion was never
    applied: the sale stayed in silver and gold for good. Both arrived at the source in order."""
    conn = sales
    add_sale(conn, 3, updated_at="now() + interval '1 hour'", quantity=4)
    run_daily(conn)
    sales_matches_source(conn)
    conn.execute("DELETE FROM sales_src.sales WHERE sale_id = 3")
    run_daily(conn)
    sales_matches_source(conn)


def test_sales_a_correction_stamped_before_a_future_stamp_is_loaded(sales):
    """DEFECT (medium): the same writer's clock corrected: a sale first stamped an hour ahead, then updated
    by an insert-or-replace that writes the real time (not the update trigger). The source holds the
    correction; silver refused it as older than the state it had."""
    conn = sales
    add_sale(conn, 3, updated_at="now() + interval '1 hour'", quantity=4)
    run_daily(conn)
    conn.execute("DELETE FROM sales_src.sales WHERE sale_id = 3")
    add_sale(conn, 3, updated_at="clock_timestamp()", quantity=8)
    run_daily(conn)
    sales_matches_source(conn)


def test_sales_reinsert_that_is_invalid_after_its_delete(sales):
    """Held: deleted, then re-inserted with a value silver refuses (an unknown customer): the row is
    quarantined with its reason and the sale is deleted in silver and gold (the source's valid state is
    gone), in one window and across runs."""
    conn = sales
    ts = old_ts(conn, "sales", "sale_id", 1)
    conn.execute("DELETE FROM sales_src.sales WHERE sale_id = 1")
    conn.execute("ALTER TABLE sales_src.sales DISABLE TRIGGER ALL")
    conn.execute(f"""INSERT INTO sales_src.sales (sale_id, order_id, line_number, customer_id, product_id, quantity, unit_price,
                                                 discount_amount, transaction_date, created_at, updated_at)
                     VALUES (1, 1, 1, 999, 1, 1, 10.00, 0, now() - interval '1 hour', now(), '{ts.isoformat()}')""")
    conn.execute("ALTER TABLE sales_src.sales ENABLE TRIGGER ALL")
    run_daily(conn)
    assert rows(conn, "SELECT is_deleted FROM silver.sales_sales WHERE sale_id = 1") == [(True,)]
    assert scalar(conn, "SELECT count(*) FROM sales.fact_sales WHERE sale_id = 1") == 0
    assert ("silver.sales_sales", "1") in open_quarantine(conn)


@pytest.mark.parametrize("deleted_at", ["now() + interval '3 days'", "'infinity'"])
def test_sales_a_tombstone_dated_in_the_future_with_a_reinsert(sales, deleted_at):
    """Held: a tombstone written by hand with a deletion time in the future (or infinity) and a re-insert
    of the key: the tombstone is quarantined, not applied; the re-inserted row is loaded."""
    conn = sales
    conn.execute(f"INSERT INTO sales_src.deleted_records (table_name, record_id, deleted_at) VALUES ('sales', 2, {deleted_at})")
    conn.execute("DELETE FROM sales_src.sales WHERE sale_id = 1")
    add_sale(conn, 1, quantity=9)
    run_daily(conn)
    assert rows(conn, "SELECT sale_id, quantity FROM sales.fact_sales ORDER BY 1") == [(1, 9), (2, 2)]
    assert ("silver.sales_sales", "2") in open_quarantine(conn)


# --- redeliveries ------------------------------------------------------------------------------------

def test_sales_tombstones_extracted_again_after_a_restore(sales):
    """DEFECT (high): a sale deleted (run) and restored with its old updated_at (run): correct. Then the
    operator re-extracts the tombstones (dwh_etl.set_watermark of bronze.sales_deleted_records back a day):
    the old tombstone, redelivered alone, deleted the restored sale again: its updated_at is before the
    deletion, and the row that came back after it was in an earlier window."""
    conn = sales
    ts = old_ts(conn, "sales", "sale_id", 1)
    conn.execute("DELETE FROM sales_src.sales WHERE sale_id = 1")
    run_daily(conn)
    add_sale(conn, 1, updated_at=f"'{ts.isoformat()}'::timestamptz", quantity=5)
    run_daily(conn)
    sales_matches_source(conn)
    conn.execute("CALL dwh_etl.set_watermark('bronze.sales_deleted_records', '_dwh_arrived_at', now() - interval '1 day')")
    run_daily(conn)
    assert scalar(conn, "SELECT count(*) FROM bronze.sales_deleted_records WHERE record_id = '1'") == 2
    sales_matches_source(conn)


def test_sales_everything_extracted_again(sales):
    """Held: every extraction watermark of sales set back a day after deletes, restores and updates: the
    whole batch is delivered again and nothing changes."""
    conn = sales
    ts = old_ts(conn, "sales", "sale_id", 1)
    conn.execute("DELETE FROM sales_src.sales WHERE sale_id = 1")
    run_daily(conn)
    add_sale(conn, 1, updated_at=f"'{ts.isoformat()}'::timestamptz", quantity=5)
    conn.execute("DELETE FROM sales_src.sales WHERE sale_id = 2")
    run_daily(conn)
    sales_matches_source(conn)
    for table in ("customers", "products", "sales", "deleted_records"):
        conn.execute(f"CALL dwh_etl.set_watermark('bronze.sales_{table}', '_dwh_arrived_at', now() - interval '1 day')")
    run_daily(conn)
    sales_matches_source(conn)
    customers_match_source(conn)


def test_sales_rebuild_after_deletes_and_restores(sales):
    """Held: after a delete, a restore and a delete of another sale across runs, a rebuild of the area
    replays bronze and ends in the source's state."""
    conn = sales
    ts = old_ts(conn, "sales", "sale_id", 1)
    conn.execute("DELETE FROM sales_src.sales WHERE sale_id = 1")
    run_daily(conn)
    add_sale(conn, 1, updated_at=f"'{ts.isoformat()}'::timestamptz", quantity=5)
    conn.execute("DELETE FROM sales_src.sales WHERE sale_id = 2")
    run_daily(conn)
    conn.execute("CALL dwh_etl.rebuild(p_target => 'sales')")
    sales_matches_source(conn)
    customers_match_source(conn)


def test_sales_restatement_after_deletes_and_restores(sales):
    """Held: a restatement of today after a delete and a restore changes nothing."""
    conn = sales
    ts = old_ts(conn, "sales", "sale_id", 1)
    conn.execute("DELETE FROM sales_src.sales WHERE sale_id = 1")
    run_daily(conn)
    add_sale(conn, 1, updated_at=f"'{ts.isoformat()}'::timestamptz", quantity=5)
    run_daily(conn)
    conn.execute("CALL dwh_etl.restate(p_pipeline => 'daily', p_from => CURRENT_DATE, p_to => CURRENT_DATE)")
    sales_matches_source(conn)


def test_sales_run_failing_mid_way_then_rerun(sales):
    """Held: a run whose sales silver step fails (its target locked away by a lock_timeout) after the
    extraction committed: the rerun loads the delete and the restore of the window once, as the source."""
    conn = sales
    ts = old_ts(conn, "sales", "sale_id", 1)
    conn.execute("DELETE FROM sales_src.sales WHERE sale_id = 1")
    add_sale(conn, 1, updated_at=f"'{ts.isoformat()}'::timestamptz", quantity=5)
    conn.execute("DELETE FROM sales_src.sales WHERE sale_id = 2")
    info = conn.info
    import psycopg
    with psycopg.connect(host=info.host, port=info.port, user=info.user, dbname=info.dbname) as other:
        other.execute("LOCK TABLE silver.sales_sales IN ACCESS EXCLUSIVE MODE")
        conn.execute("SET lock_timeout = '1s'")
        try:
            conn.execute(RUN_DAILY)
        except psycopg.Error:
            pass
        conn.execute("RESET lock_timeout")
        other.rollback()
    assert last_run(conn)[0] != "completed"
    run_daily(conn)
    sales_matches_source(conn)


# --- file loads mixing with extracted rows --------------------------------------------------------------

def test_sales_a_file_row_of_a_key_deleted_in_the_source(sales):
    """Held: a file load (no arrival at the source: NULL) delivers sale 1 with a later updated_at while the
    source deletes it before the run: the tombstone's deletion time is before the file row's change time,
    so the file's state stands (times decide when the arrival is unknown)."""
    conn = sales
    conn.execute("DELETE FROM sales_src.sales WHERE sale_id = 1")
    later = scalar(conn, "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC' + interval '1 minute', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')")
    conn.execute("CALL dwh_etl.file_begin(p_target => 'bronze.sales_sales', p_file_name => 'sales-a10.csv')")
    conn.execute("""INSERT INTO bronze.sales_sales_landing (sale_id, order_id, line_number, customer_id, product_id, quantity,
                                                           unit_price, discount_amount, transaction_date, created_at, updated_at)
                    SELECT '1', '1', '1', '1', '1', '7', '10.00', '0', %s, %s, %s""", (later, later, later))
    conn.execute("CALL dwh_etl.file_end()")
    run_daily(conn)
    assert rows(conn, "SELECT quantity, is_deleted FROM silver.sales_sales WHERE sale_id = 1") == [(7, False)]


# --- sessions ------------------------------------------------------------------------------------------

def test_sales_restore_in_one_window_under_odd_session_settings(sales):
    """Held: the delete and restore of one window with TimeZone Asia/Tokyo and DateStyle 'SQL, DMY' in the
    session writing the source and running: kept."""
    conn = sales
    ts = old_ts(conn, "sales", "sale_id", 1)
    conn.execute("SET TimeZone = 'Asia/Tokyo'")
    conn.execute("SET DateStyle = 'SQL, DMY'")
    conn.execute("DELETE FROM sales_src.sales WHERE sale_id = 1")
    add_sale(conn, 1, updated_at=f"'{ts.isoformat()}'::timestamptz", quantity=5)
    conn.execute("DELETE FROM sales_src.sales WHERE sale_id = 2")
    run_daily(conn)
    conn.execute("RESET TimeZone")
    conn.execute("RESET DateStyle")
    sales_matches_source(conn)


# --- customers (SCD2) ----------------------------------------------------------------------------------

@pytest.mark.parametrize("split", [False, True])
def test_customers_delete_reinsert_new_then_delete_again(sales, split):
    """Held: a customer deleted, re-inserted (new updated_at), deleted again: deleted in silver and the
    dimension, in one window or a run after each change."""
    conn = sales
    conn.execute("DELETE FROM sales_src.customers WHERE customer_id = 2")
    if split:
        run_daily(conn)
        customers_match_source(conn)
    add_customer(conn, 2, updated_at="clock_timestamp()", last_name="Poe")
    if split:
        run_daily(conn)
        customers_match_source(conn)
    conn.execute("DELETE FROM sales_src.customers WHERE customer_id = 2")
    run_daily(conn)
    customers_match_source(conn)


def test_customers_a_change_stamped_in_the_future_then_deleted(sales):
    """DEFECT (high; fixed in dwh_etl._load_silver, the SCD2 stage): the customer's updated_at an hour ahead
    (a writer's clock), then deleted: the deletion was dated before the current version, a late deletion
    that apply_dimension does not apply, and the customer stayed current in silver and the dimension."""
    conn = sales
    add_customer(conn, 3, updated_at="now() + interval '1 hour'", last_name="Ahead")
    run_daily(conn)
    customers_match_source(conn)
    conn.execute("DELETE FROM sales_src.customers WHERE customer_id = 3")
    run_daily(conn)
    customers_match_source(conn)


def test_customers_restore_of_an_older_state(sales):
    """DEFECT (medium; fixed in dwh_etl._load_silver, the SCD2 stage): a customer renamed (run), deleted and
    restored from a backup (its old name and updated_at) before the next run: the restored row was a late
    version inside the history, the source held the old name, silver and the dimension the new one."""
    conn = sales
    ts = old_ts(conn, "customers", "customer_id", 2)
    conn.execute("UPDATE sales_src.customers SET last_name = 'Renamed' WHERE customer_id = 2")
    run_daily(conn)
    conn.execute("DELETE FROM sales_src.customers WHERE customer_id = 2")
    add_customer(conn, 2, updated_at=f"'{ts.isoformat()}'::timestamptz", last_name="Roe")
    run_daily(conn)
    customers_match_source(conn)


# =====================================================================================================
# agents (silver upserts with a deletion flag; dim_agent SCD2 in gold)
# =====================================================================================================

@database_template(scope="module")
def attack10_agents_template(conn):
    """Only the agents area: its demo source generated (scale 0.005, seed 0.42), `daily` run once."""
    disable_other_areas(conn, "agents")
    conn.execute("CALL agents_src.generate(p_scale => 0.005, p_seed => 0.42)")
    conn.execute(RUN_DAILY)


@pytest.fixture
def agents(attack10_agents_template, conn):
    return conn


def queries_match_source(conn, low=900100000):
    source = rows(conn, "SELECT query_id, latency_ms FROM agents_src.agent_queries WHERE query_id >= %s ORDER BY 1", (low,))
    silver = rows(conn, "SELECT query_id, latency_ms FROM silver.agents_agent_queries WHERE query_id >= %s AND NOT is_deleted ORDER BY 1", (low,))
    fact = rows(conn, "SELECT query_id, latency_ms FROM agents.fact_agent_query WHERE query_id >= %s ORDER BY 1", (low,))
    assert silver == source, (silver, source)
    assert fact == source, (fact, source)


def agents_match_source(conn, prefix="a10-"):
    source = rows(conn, "SELECT agent_name, sla_target_seconds FROM agents_src.agents WHERE agent_name LIKE %s ORDER BY 1", (prefix + "%",))
    silver = rows(conn, """SELECT agent_name, sla_target_seconds FROM silver.agents_agents
                           WHERE agent_name LIKE %s AND NOT is_deleted ORDER BY 1""", (prefix + "%",))
    dim = rows(conn, """SELECT agent_name, sla_target_seconds FROM agents.dim_agent
                        WHERE agent_name LIKE %s AND is_current AND NOT is_deleted ORDER BY 1""", (prefix + "%",))
    assert silver == source, (silver, source)
    assert dim == source, (dim, source)


def a_query(conn, query_id, latency_ms, updated_at, created_at=None):
    from test_attack9a import an_agent, insert_query

    agent, conv = an_agent(conn)
    created = created_at or scalar(conn, "SELECT date_trunc('hour', now()) - interval '6 hours'")
    insert_query(conn, query_id, agent, conv, created, latency_ms=latency_ms, updated_at=updated_at)


def add_agent(conn, name, sla, updated_at="now()"):
    conn.execute(f"""INSERT INTO agents_src.agents (agent_name, agent_type, capabilities, sla_target_seconds, cost_per_query_usd,
                                                   created_at, updated_at)
                     VALUES (%s, 'qa', '["query"]', %s, 0.1, now() - interval '1 day', {updated_at})""", (name, sla))


@pytest.mark.parametrize("split", [False, True])
def test_agents_query_restored_to_an_older_state(agents, split):
    """DEFECT (high; fixed with the sales one): a query changed (latency 10 -> 20), deleted and restored
    from a backup (latency 10, its old updated_at): silver and the fact kept 20 (or nothing)."""
    conn = agents
    first = scalar(conn, "SELECT now() - interval '5 hours'")
    a_query(conn, 900100001, 10, first)
    run_daily(conn)
    conn.execute("UPDATE agents_src.agent_queries SET latency_ms = 20, updated_at = now() WHERE query_id = 900100001")
    run_daily(conn)
    conn.execute("DELETE FROM agents_src.agent_queries WHERE query_id = 900100001")
    if split:
        run_daily(conn)
        queries_match_source(conn)
    a_query(conn, 900100001, 10, first)
    run_daily(conn)
    queries_match_source(conn)


def test_agents_query_stamped_ahead_then_deleted(agents):
    """DEFECT (high; fixed with the sales one): a query stamped an hour ahead, deleted after it loaded: it
    stayed in the fact."""
    conn = agents
    a_query(conn, 900100002, 10, scalar(conn, "SELECT now() + interval '1 hour'"))
    run_daily(conn)
    queries_match_source(conn)
    conn.execute("DELETE FROM agents_src.agent_queries WHERE query_id = 900100002")
    run_daily(conn)
    queries_match_source(conn)


def test_agents_old_tombstones_extracted_again(agents):
    """DEFECT (high; fixed with the sales one): a query deleted and restored (two runs), then the agents
    tombstones extracted again (set_watermark back a day): the old tombstone deleted it again."""
    conn = agents
    first = scalar(conn, "SELECT now() - interval '5 hours'")
    a_query(conn, 900100003, 10, first)
    run_daily(conn)
    conn.execute("DELETE FROM agents_src.agent_queries WHERE query_id = 900100003")
    run_daily(conn)
    a_query(conn, 900100003, 10, first)
    run_daily(conn)
    queries_match_source(conn)
    conn.execute("CALL dwh_etl.set_watermark('bronze.agents_deleted_records', '_dwh_arrived_at', now() - interval '1 day')")
    run_daily(conn)
    queries_match_source(conn)


@pytest.mark.parametrize("split", [False, True])
def test_agents_agent_deleted_recreated_deleted(agents, split):
    """Held: an agent deleted, re-created (new SLA), deleted again, in one window or a run after each:
    silver and dim_agent follow the source."""
    conn = agents
    add_agent(conn, "a10-bot", 60)
    run_daily(conn)
    agents_match_source(conn)
    conn.execute("DELETE FROM agents_src.agents WHERE agent_name = 'a10-bot'")
    if split:
        run_daily(conn)
        agents_match_source(conn)
    add_agent(conn, "a10-bot", 90, updated_at="clock_timestamp()")
    if split:
        run_daily(conn)
        agents_match_source(conn)
    conn.execute("DELETE FROM agents_src.agents WHERE agent_name = 'a10-bot'")
    run_daily(conn)
    agents_match_source(conn)


def test_agents_agent_restored_with_its_old_updated_at(agents):
    """DEFECT (high; fixed in silver.agents_dim_agent_source / agents_dim_user_source): an agent deleted
    (run) and restored as it was (its old updated_at, run): silver had it again, but its change time was
    before the deletion that closed its dim_agent version, a late change: no current version in gold."""
    conn = agents
    add_agent(conn, "a10-old", 60, updated_at="now() - interval '3 hours'")
    run_daily(conn)
    ts = scalar(conn, "SELECT updated_at FROM agents_src.agents WHERE agent_name = 'a10-old'")
    conn.execute("DELETE FROM agents_src.agents WHERE agent_name = 'a10-old'")
    run_daily(conn)
    agents_match_source(conn)
    add_agent(conn, "a10-old", 60, updated_at=f"'{ts.isoformat()}'::timestamptz")
    run_daily(conn)
    agents_match_source(conn)


def test_agents_change_events_delete_and_recreate_an_extracted_query(agents):
    """Held: a query extracted, then change events delete it and create it again with its old updated_at
    (one batch): the events are applied to the source, whose arrivals order them: the query is loaded."""
    from psycopg.types.json import Jsonb
    from test_cdc import ev

    conn = agents
    first = scalar(conn, "SELECT now() - interval '5 hours'")
    a_query(conn, 900100004, 10, first)
    run_daily(conn)
    agent, conv = rows(conn, "SELECT agent, conversation_id FROM agents_src.agent_queries WHERE query_id = 900100004")[0]
    at = first.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    row = {"query_id": 900100004, "conversation_id": conv, "agent": agent, "query": "q", "latency_ms": 30,
           "created_at": at, "updated_at": at}
    conn.execute("SELECT * FROM dwh_etl.ingest_cdc_events(%s, 'agents_src')",
                 (Jsonb([ev("d", "agent_queries", 11, before={"query_id": 900100004}),
                         ev("c", "agent_queries", 12, after=row)]),))
    run_daily(conn)
    queries_match_source(conn)


def test_customers_old_tombstone_extracted_again_after_a_restore(sales):
    """Held: a customer deleted (run), restored with its old updated_at (run), then the tombstones extracted
    again (set_watermark back a day): the old deletion, dated before the restored version, is a late
    deletion and not applied; silver and the dimension keep the customer."""
    conn = sales
    ts = old_ts(conn, "customers", "customer_id", 2)
    conn.execute("DELETE FROM sales_src.customers WHERE customer_id = 2")
    run_daily(conn)
    customers_match_source(conn)
    add_customer(conn, 2, updated_at=f"'{ts.isoformat()}'::timestamptz", last_name="Roe")
    run_daily(conn)
    customers_match_source(conn)
    conn.execute("CALL dwh_etl.set_watermark('bronze.sales_deleted_records', '_dwh_arrived_at', now() - interval '1 day')")
    run_daily(conn)
    customers_match_source(conn)


def test_agents_agent_renamed_then_restored_to_an_older_state_in_one_window(agents):
    """Held (after the fixes above): an agent's SLA changed (run), then the agent deleted and restored from a
    backup (the old SLA, its old updated_at) before the next run: silver and dim_agent have the old SLA."""
    conn = agents
    add_agent(conn, "a10-sla", 60, updated_at="now() - interval '3 hours'")
    run_daily(conn)
    ts = scalar(conn, "SELECT updated_at FROM agents_src.agents WHERE agent_name = 'a10-sla'")
    conn.execute("UPDATE agents_src.agents SET sla_target_seconds = 120, updated_at = now() WHERE agent_name = 'a10-sla'")
    run_daily(conn)
    agents_match_source(conn)
    conn.execute("DELETE FROM agents_src.agents WHERE agent_name = 'a10-sla'")
    add_agent(conn, "a10-sla", 60, updated_at=f"'{ts.isoformat()}'::timestamptz")
    run_daily(conn)
    agents_match_source(conn)


@pytest.mark.parametrize("split", [False, True])
def test_agents_queries_truncated_and_reloaded_from_a_backup(agents, split):
    """Held: agent_queries truncated (a tombstone per row, BEFORE TRUNCATE) and reloaded from a copy taken
    before (every row with its old updated_at), in one window or with a run between: the fact is as it was."""
    conn = agents
    before = rows(conn, "SELECT query_id, latency_ms FROM agents.fact_agent_query ORDER BY 1")
    assert before
    conn.execute("CREATE TABLE public.a10_backup AS SELECT * FROM agents_src.agent_queries")
    conn.execute("TRUNCATE agents_src.agent_queries")
    if split:
        run_daily(conn)
        assert scalar(conn, "SELECT count(*) FROM agents.fact_agent_query") == 0
    conn.execute("INSERT INTO agents_src.agent_queries SELECT * FROM public.a10_backup")
    run_daily(conn)
    assert rows(conn, "SELECT query_id, latency_ms FROM agents.fact_agent_query ORDER BY 1") == before
    queries_match_source(conn, low=0)


@pytest.mark.parametrize("deleted_at", ["not a date", "31/31/2026", ""])
def test_sales_a_file_tombstone_with_a_garbage_time_and_a_reinsert(sales, deleted_at):
    """Held: a tombstone file (no arrival at the source) with a deletion time that is no date-time, for a
    sale the source deletes and re-inserts in the same window: the file's tombstone is quarantined with
    its reason (and closed as superseded by the source's tombstone of the key), the source's own pair is
    ordered by arrival; the sale is loaded with its new values."""
    conn = sales
    conn.execute("CALL dwh_etl.file_begin(p_target => 'bronze.sales_deleted_records', p_file_name => 'tomb-a10.csv')")
    conn.execute("INSERT INTO bronze.sales_deleted_records_landing (table_name, record_id, deleted_at) VALUES ('sales', '1', %s)",
                 (deleted_at,))
    conn.execute("CALL dwh_etl.file_end()")
    ts = old_ts(conn, "sales", "sale_id", 1)
    conn.execute("DELETE FROM sales_src.sales WHERE sale_id = 1")
    add_sale(conn, 1, updated_at=f"'{ts.isoformat()}'::timestamptz", quantity=4)
    run_daily(conn)
    sales_matches_source(conn)
    # recorded, then closed as superseded by the source's own tombstone of the key in the same window
    entries = rows(conn, """SELECT reasons, resolution FROM dwh_etl.quarantine
                            WHERE target_table = 'silver.sales_sales' AND record_key = '1'""")
    assert len(entries) == 1 and "is not a date-time" in entries[0][0][0] and entries[0][1].startswith("superseded"), entries


def test_sales_a_new_sale_of_a_customer_deleted_and_restored_in_the_same_window(sales):
    """Held: customer 2 deleted and restored with its old updated_at, and a new sale of customer 2, all
    before one run: the customer is current (not deleted), the sale is loaded, not quarantined as an
    unknown customer."""
    conn = sales
    ts = old_ts(conn, "customers", "customer_id", 2)
    conn.execute("DELETE FROM sales_src.customers WHERE customer_id = 2")
    add_customer(conn, 2, updated_at=f"'{ts.isoformat()}'::timestamptz", last_name="Roe")
    conn.execute("""INSERT INTO sales_src.sales (sale_id, order_id, line_number, customer_id, product_id, quantity, unit_price,
                                                discount_amount, transaction_date, created_at, updated_at)
                    VALUES (5, 5, 1, 2, 1, 3, 10.00, 0, now() - interval '1 hour', now(), now())""")
    run_daily(conn)
    customers_match_source(conn)
    sales_matches_source(conn)
    assert open_quarantine(conn) == set()


def test_customers_stamped_ahead_deleted_and_reinserted_in_one_window(sales):
    """DEFECT (low, fixed in session 11): a customer stamped an hour ahead (run), then deleted and re-inserted
    with the real time before the next run: the deletion marker is dated after the future version, the
    re-insert (dated now) fell before it, and the marker stayed current while the source held the customer.
    The re-insert now starts just after the deletion's date as staged."""
    conn = sales
    add_customer(conn, 3, updated_at="now() + interval '1 hour'", last_name="Ahead")
    run_daily(conn)
    conn.execute("DELETE FROM sales_src.customers WHERE customer_id = 3")
    add_customer(conn, 3, updated_at="clock_timestamp()", last_name="Back")
    run_daily(conn)
    customers_match_source(conn)
    # the history keeps the deletion between the two versions, in arrival order
    hist = rows(conn, "SELECT last_name, is_deleted, is_current FROM silver.sales_customers "
                      "WHERE customer_id = 3 ORDER BY valid_from")
    assert [(d, c) for _, d, c in hist] == [(False, False), (True, False), (False, True)], hist
    assert hist[-1][0] == "Back"
