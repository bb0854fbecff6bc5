"""Capture by arrival order (issue 9, item 5): no source row is skipped because its own change timestamp
(updated_at, deleted_at, received_at) lies. Every case writes through the real source tables and is read
back by a real pipeline run; what the silver loads make of a bad timestamp is not asserted here (they
quarantine it), only that the row reached bronze.

Uses the `conn` fixture of tests/conftest.py (autocommit psycopg connection to a fresh database).
"""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

ROOT = Path(__file__).resolve().parent.parent

RUN_SQL = "CALL dwh_etl.run_pipeline(p_pipeline => %s, p_run_date => CURRENT_DATE, p_run_id => NULL)"

SALES_TABLES = ["customers", "products", "sales", "deleted_records"]
DEVFLOW_TABLES = ["issues", "agents", "labels", "worktree_states", "infrastructure", "label_history",
                  "agent_execution_logs", "code_gen_tasks", "review_results", "deployment_pipelines",
                  "deleted_records"]  # devflow's tombstones (migration 0064)
AGENTS_TABLES = ["agents", "users", "conversations", "agent_queries", "agent_approvals", "agent_feedback",
                 "deleted_records"]
CITIZEN_TABLES = ["departments", "services", "users", "languages", "query_types", "content_types", "content_sources",
                  "content_syncs", "contents", "analytics_payloads", "deleted_records"]

# timestamps a writer may supply that a window on them would skip or never reach
LYING_TIMES = ["infinity", "-infinity", "0001-01-01 00:00:00+00", "two days ago"]


def scalar(conn, sql, params=None):
    return conn.execute(sql, params).fetchone()[0]


def rows(conn, sql, params=None):
    return conn.execute(sql, params).fetchall()


def ts_literal(value):
    return "now() - interval '2 days'" if value == "two days ago" else f"'{value}'::timestamptz"


def run(conn, pipeline="daily"):
    """Run a pipeline for today; returns (run_id, {step: status}). A later step may fail on a bad row
    (that is the silver loads' business): the run's steps are returned all the same."""
    try:
        run_id = scalar(conn, RUN_SQL, (pipeline,))
    except psycopg.Error as exc:
        assert exc.diag.sqlstate == "DW003", exc
        run_id = int(exc.diag.message_detail.removeprefix("run_id="))
    return run_id, dict(rows(conn, "SELECT step_name, status FROM dwh_lineage.step_runs WHERE run_id = %s", (run_id,)))


def other_connection(conn, autocommit=False):
    info = conn.info
    return psycopg.connect(host=info.host, port=info.port, user=info.user, dbname=info.dbname,
                           password=info.password or None, autocommit=autocommit)


def only_area(conn, area):
    conn.execute("UPDATE dwh_etl.steps SET is_enabled = false WHERE area NOT IN (%s, 'engine')", (area,))
    conn.execute("UPDATE dwh_etl.quality_rules SET is_enabled = false WHERE area IS DISTINCT FROM %s", (area,))


# ------------------------------------------------------------------------------------------------
# sales_src
# ------------------------------------------------------------------------------------------------

def add_customer(conn, customer_id, updated_at="now()", last_name="Doe"):
    conn.execute(f"""
        INSERT INTO sales_src.customers (customer_id, first_name, last_name, email, city, country, customer_segment,
                                         signup_date, created_at, updated_at)
        VALUES (%s, 'Jane', %s, 'jane@example.com', 'Berlin', 'Germany', 'Consumer', DATE '2024-01-01', now(),
                {updated_at})
    """, (customer_id, last_name))


def add_sale(conn, sale_id, updated_at="now()", quantity=1):
    conn.execute(f"""
        INSERT INTO sales_src.sales (sale_id, order_id, line_number, customer_id, product_id, quantity, unit_price,
                                     discount_amount, transaction_date, created_at, updated_at)
        VALUES (%s, %s, 1, 1, 1, %s, 10.00, 0, now() - interval '1 hour', now(), {updated_at})
    """, (sale_id, sale_id, quantity))


@pytest.fixture
def sales(conn):
    """The sales area on its own, with a customer, a product and a sale already loaded by a first run:
    the watermarks have moved past everything written so far."""
    only_area(conn, "sales")
    add_customer(conn, 1)
    conn.execute("""
        INSERT INTO sales_src.products (product_id, product_name, product_group, category, brand, unit_price, unit_cost)
        VALUES (1, 'Widget', 'Office Supplies', 'Pens', 'Penwick', 10.00, 5.00)
    """)
    add_sale(conn, 1)
    _, steps = run(conn)
    assert steps["sales_extract"] == "completed"
    assert scalar(conn, "SELECT count(*) FROM bronze.sales_sales") == 1
    return conn


def bronze_sales(conn, sale_id):
    return rows(conn, "SELECT quantity, updated_at FROM bronze.sales_sales WHERE sale_id = %s ORDER BY _bronze_id",
                (str(sale_id),))


def test_every_tracked_source_table_has_an_always_enabled_arrival_trigger(conn):
    tracked = rows(conn, """
        SELECT c.relnamespace::regnamespace::text, c.relname, t.tgenabled, a.attnotnull,
               pg_get_expr(d.adbin, d.adrelid)
        FROM pg_trigger AS t
        JOIN pg_class AS c ON c.oid = t.tgrelid
        LEFT JOIN pg_attribute AS a ON a.attrelid = c.oid AND a.attname = '_dwh_arrived_at'
        LEFT JOIN pg_attrdef AS d ON d.adrelid = c.oid AND d.adnum = a.attnum
        WHERE t.tgname = 'zz_dwh_arrival' AND t.tgfoid = 'dwh_etl.trg_stamp_arrival'::regproc
        ORDER BY 1, 2
    """)
    expected = ([("devflow_src", "api_payloads", "A", None, None)]
                + [("devflow_src", t, "A", True, "clock_timestamp()") for t in DEVFLOW_TABLES]
                + [("sales_src", t, "A", True, "clock_timestamp()") for t in SALES_TABLES]
                + [("agents_src", t, "A", True, "clock_timestamp()") for t in AGENTS_TABLES]
                + [("citizen_src", t, "A", True, "clock_timestamp()") for t in CITIZEN_TABLES])
    assert tracked == sorted(expected)
    # every tracked column is indexed (api_payloads: by (feed, received_at))
    assert scalar(conn, """
        SELECT count(*) FROM pg_index AS i JOIN pg_attribute AS a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
        WHERE a.attname = '_dwh_arrived_at'
    """) == len(SALES_TABLES) + len(DEVFLOW_TABLES) + len(AGENTS_TABLES) + len(CITIZEN_TABLES)


def test_the_arrival_stamp_overrides_the_writer_and_survives_no_op_updates(sales):
    conn = sales
    conn.execute("""
        INSERT INTO sales_src.customers (customer_id, first_name, last_name, updated_at, _dwh_arrived_at)
        VALUES (2, 'Max', 'Mustermann', '2000-01-01', '2000-01-01')
    """)
    stamp, updated_at = rows(conn, "SELECT _dwh_arrived_at, updated_at::text FROM sales_src.customers WHERE customer_id = 2")[0]
    assert stamp > scalar(conn, "SELECT now() - interval '1 minute'")
    assert updated_at == "2000-01-01 00:00:00+00"  # the writer's value stays: it is data
    # a stamp the writer puts in the future is replaced too
    conn.execute("INSERT INTO sales_src.customers (customer_id, first_name, last_name, _dwh_arrived_at) "
                 "VALUES (3, 'Erika', 'Mustermann', 'infinity')")
    assert scalar(conn, "SELECT _dwh_arrived_at <= clock_timestamp() FROM sales_src.customers WHERE customer_id = 3") is True
    # a no-op UPDATE keeps both stamps
    conn.execute("UPDATE sales_src.customers SET first_name = first_name WHERE customer_id = 2")
    assert rows(conn, "SELECT _dwh_arrived_at, updated_at::text FROM sales_src.customers WHERE customer_id = 2") == [
        (stamp, "2000-01-01 00:00:00+00")]
    # a real change moves it
    conn.execute("UPDATE sales_src.customers SET city = 'Bonn' WHERE customer_id = 2")
    assert scalar(conn, "SELECT _dwh_arrived_at > %s FROM sales_src.customers WHERE customer_id = 2", (stamp,)) is True


@pytest.mark.parametrize("updated_at", LYING_TIMES)
def test_sale_with_a_lying_change_time_is_extracted(sales, updated_at):
    conn = sales
    add_sale(conn, 2, updated_at=ts_literal(updated_at))
    _, steps = run(conn)
    assert steps["sales_extract"] == "completed"
    expected = scalar(conn, "SELECT updated_at::text FROM sales_src.sales WHERE sale_id = 2")
    assert [(q, u is not None) for q, u in bronze_sales(conn, 2)] == [("1", True)]
    assert scalar(conn, "SELECT updated_at::timestamptz::text FROM bronze.sales_sales WHERE sale_id = '2'") == expected
    # and only once
    _, steps = run(conn)
    assert len(bronze_sales(conn, 2)) == 1


@pytest.mark.parametrize("updated_at", LYING_TIMES)
def test_customer_with_a_lying_change_time_is_extracted(sales, updated_at):
    conn = sales
    add_customer(conn, 2, updated_at=ts_literal(updated_at))
    _, steps = run(conn)
    assert steps["sales_extract"] == "completed"
    assert scalar(conn, "SELECT count(*) FROM bronze.sales_customers WHERE customer_id = '2'") == 1


def test_tombstone_with_a_lying_delete_time_is_extracted(sales):
    conn = sales
    conn.execute("INSERT INTO sales_src.deleted_records (table_name, record_id, deleted_at) "
                 "VALUES ('sales', 1, now() - interval '2 days'), ('sales', 1, 'infinity')")
    _, steps = run(conn)
    assert steps["sales_extract"] == "completed"
    assert sorted(r[0] for r in rows(conn, "SELECT deleted_at FROM bronze.sales_deleted_records")) == sorted(
        r[0] for r in rows(conn, "SELECT deleted_at::text FROM sales_src.deleted_records"))


def test_row_updated_in_place_with_an_older_change_time_is_re_extracted(sales):
    """As a logical replication apply worker writes it: session_replication_role = replica, so the
    source's own touch trigger does not fire and updated_at goes back in time; the arrival trigger
    (ENABLE ALWAYS) still stamps the change."""
    conn = sales
    before = scalar(conn, "SELECT updated_at FROM sales_src.sales WHERE sale_id = 1")
    with other_connection(conn, autocommit=True) as replica:
        replica.execute("SET session_replication_role = replica")
        replica.execute("UPDATE sales_src.sales SET quantity = 7, updated_at = updated_at - interval '3 days' "
                        "WHERE sale_id = 1")
    assert scalar(conn, "SELECT updated_at FROM sales_src.sales WHERE sale_id = 1") < before
    _, steps = run(conn)
    assert steps["sales_extract"] == "completed"
    assert [q for q, _ in bronze_sales(conn, 1)] == ["1", "7"]
    # and an ordinary application UPDATE that sets an older updated_at is re-extracted too
    conn.execute("UPDATE sales_src.customers SET city = 'Paris', updated_at = '2001-01-01' WHERE customer_id = 1")
    run(conn)
    assert [r[0] for r in rows(conn, "SELECT city FROM bronze.sales_customers WHERE customer_id = '1' ORDER BY _bronze_id")] == [
        "Berlin", "Paris"]


def test_replicated_insert_is_stamped(sales):
    conn = sales
    with other_connection(conn, autocommit=True) as replica:
        replica.execute("SET session_replication_role = replica")
        add_sale(replica, 3, updated_at="'2020-01-01'")
    run(conn)
    assert len(bronze_sales(conn, 3)) == 1


@pytest.mark.parametrize("write_before_the_run", [True, False], ids=["written-before", "written-after"])
def test_late_committing_writer_is_picked_up_by_the_next_run(sales, write_before_the_run):
    """A transaction open across the run (started before it) commits afterwards, with a change time
    two days in the past: the run does not see it, the next one extracts it."""
    conn = sales
    with other_connection(conn) as late:
        late.execute("SELECT 1")  # its transaction starts now
        if write_before_the_run:
            add_sale(late, 4, updated_at="now() - interval '2 days'")
        _, steps = run(conn)
        assert steps["sales_extract"] == "completed"
        assert bronze_sales(conn, 4) == []
        if not write_before_the_run:
            add_sale(late, 4, updated_at="now() - interval '2 days'")
        late.commit()
    run(conn)
    assert len(bronze_sales(conn, 4)) == 1


def test_status_and_quality_reports_work_with_infinite_source_times(sales):
    conn = sales
    add_sale(conn, 5, updated_at="'infinity'")
    add_customer(conn, 5, updated_at="'-infinity'")
    run(conn)
    report = scalar(conn, "SELECT dwh_etl.status_report()")
    sla = {r["rule"]: r for r in report["freshness_sla"]}
    # the source freshness SLA ignores the infinite stamp: its age is that of the newest real change
    assert sla["source_sales_fresh"]["passed"] is True
    assert sla["source_sales_fresh"]["age"] is not None
    quality = scalar(conn, "SELECT dwh_etl.quality_report()")
    assert "source_sales_fresh" in {r["rule"] for r in quality["freshness_sla"]}
    # the freshness rule alone: every source row infinite -> no age, failed, not an error
    conn.execute("DELETE FROM sales_src.sales WHERE updated_at <> 'infinity'")
    assert rows(conn, """
        SELECT passed, age FROM dwh_etl.freshness_sla('sales_src.sales') WHERE rule = 'source_sales_fresh'
    """) == [(False, None)]


def test_cli_status_quality_and_demo_work_with_infinite_source_times(sales, dsn, runner):
    from dwh_cli.cli import cli

    conn = sales
    add_sale(conn, 6, updated_at="'infinity'")
    for args in (["status", "--json"], ["quality", "--json"], ["status"], ["quality"]):
        result = runner.invoke(cli, ["--dsn", dsn, *args])
        assert result.exit_code == 0, (args, result.output)
        assert "infinite" not in result.output
        if "--json" in args:
            json.loads(result.stdout)
    result = runner.invoke(cli, ["--dsn", dsn, "demo", "--scale", "0.0005"])
    assert "cannot subtract infinite" not in result.output
    assert len(bronze_sales(conn, 6)) == 1


# ------------------------------------------------------------------------------------------------
# devflow_src
# ------------------------------------------------------------------------------------------------

def add_issue(conn, number, updated_at="now()"):
    conn.execute(f"""
        INSERT INTO devflow_src.issues (id, number, title, priority, state, created_at, updated_at)
        VALUES (%s, %s, 'Fix it', 'P2', 'open', now() - interval '1 hour', {updated_at})
    """, (f"I_{number}", number))


def add_execution(conn, exec_id, updated_at="now()"):
    conn.execute(f"""
        INSERT INTO devflow_src.agent_execution_logs (id, issue_id, agent_id, started_at, completed_at, exit_code,
                                                      llm_cost_usd, created_at, updated_at)
        VALUES (%s, 'I_1', 'agent-codegen', now() - interval '1 hour', now() - interval '30 minutes', 0, 0.5,
                now(), {updated_at})
    """, (exec_id,))


METRIC_PAYLOAD = json.dumps([{
    "resource_id": "ec2-prod-api-1", "namespace": "Miyabi/Production", "timestamp": "2025-01-01T00:00:00Z",
    "period": 300, "metrics": {"cpu_utilization_percent": 12.5}}])


@pytest.fixture
def devflow(conn):
    only_area(conn, "devflow")
    add_issue(conn, 1)
    add_execution(conn, 1)
    conn.execute("INSERT INTO devflow_src.api_payloads (feed, source, payload) VALUES ('metrics', 'prometheus', %s)",
                 (METRIC_PAYLOAD,))
    _, steps = run(conn)
    assert (steps["devflow_extract_entities"], steps["devflow_extract_events"], steps["devflow_ingest_metrics"]) == (
        "completed", "completed", "completed")
    assert scalar(conn, "SELECT count(*) FROM bronze.devflow_issues") == 1
    assert scalar(conn, "SELECT count(*) FROM bronze.devflow_metric_samples") == 1
    return conn


@pytest.mark.parametrize("updated_at", LYING_TIMES)
def test_devflow_rows_with_a_lying_change_time_are_extracted(devflow, updated_at):
    conn = devflow
    add_issue(conn, 2, updated_at=ts_literal(updated_at))
    add_execution(conn, 2, updated_at=ts_literal(updated_at))
    _, steps = run(conn)
    assert (steps["devflow_extract_entities"], steps["devflow_extract_events"]) == ("completed", "completed")
    assert scalar(conn, "SELECT count(*) FROM bronze.devflow_issues WHERE number = '2'") == 1
    assert scalar(conn, "SELECT count(*) FROM bronze.devflow_agent_execution_logs WHERE id = '2'") == 1


def test_devflow_row_updated_in_place_with_an_older_change_time_is_re_extracted(devflow):
    conn = devflow
    # an UPDATE that only tries to move the stamp changes nothing (devflow_src has no touch trigger)
    stamp = scalar(conn, "SELECT _dwh_arrived_at FROM devflow_src.issues WHERE number = 1")
    conn.execute("UPDATE devflow_src.issues SET _dwh_arrived_at = 'infinity' WHERE number = 1")
    assert scalar(conn, "SELECT _dwh_arrived_at FROM devflow_src.issues WHERE number = 1") == stamp
    conn.execute("UPDATE devflow_src.issues SET priority = 'P0', updated_at = updated_at - interval '2 days' WHERE number = 1")
    run(conn)
    assert [r[0] for r in rows(conn, "SELECT priority FROM bronze.devflow_issues ORDER BY _bronze_id")] == ["P2", "P0"]


def test_devflow_late_committing_writer_is_picked_up_by_the_next_run(devflow):
    conn = devflow
    with other_connection(conn) as late:
        late.execute("SELECT 1")
        add_execution(late, 3, updated_at="now() - interval '2 days'")
        run(conn)
        assert scalar(conn, "SELECT count(*) FROM bronze.devflow_agent_execution_logs WHERE id = '3'") == 0
        late.commit()
    run(conn)
    assert scalar(conn, "SELECT count(*) FROM bronze.devflow_agent_execution_logs WHERE id = '3'") == 1


@pytest.mark.parametrize("received_at", ["now() - interval '10 days'", "'-infinity'", "'infinity'"])
def test_payload_received_with_a_lying_time_is_ingested(devflow, received_at):
    conn = devflow
    conn.execute(f"INSERT INTO devflow_src.api_payloads (feed, source, payload, received_at) "
                 f"VALUES ('metrics', 'prometheus', %s, {received_at})",
                 (METRIC_PAYLOAD.replace("2025-01-01T00:00:00Z", "2025-01-01T00:05:00Z"),))
    # the inbox's receive time is the inbox's own clock
    assert scalar(conn, "SELECT max(received_at) > now() - interval '1 minute' FROM devflow_src.api_payloads") is True
    _, steps = run(conn, "devflow_5min")
    assert steps["devflow_ingest_metrics"] == "completed"
    assert [r[0] for r in rows(conn, "SELECT timestamp FROM bronze.devflow_metric_samples ORDER BY _bronze_id")] == [
        "2025-01-01T00:00:00Z", "2025-01-01T00:05:00Z"]


# ------------------------------------------------------------------------------------------------
# dwh_etl.track_arrival: any other source, and the migration's continuity
# ------------------------------------------------------------------------------------------------

@pytest.fixture
def shop(conn):
    """A source that was extracted on updated_at so far, with a trigger that bumps updated_at on UPDATE."""
    conn.execute("""
        CREATE TABLE public.shop_orders (id integer PRIMARY KEY, note text, updated_at timestamptz NOT NULL);
        CREATE TABLE public.bronze_shop_orders (_bronze_id bigint GENERATED ALWAYS AS IDENTITY, id text, note text,
                                                updated_at text, _batch_id uuid NOT NULL,
                                                _ingested_at timestamptz NOT NULL, _source text NOT NULL);
        CREATE FUNCTION public.touch() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN NEW.updated_at := now(); RETURN NEW; END $$;
        CREATE TRIGGER a_touch BEFORE UPDATE ON public.shop_orders FOR EACH ROW
            WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION public.touch();
        INSERT INTO public.shop_orders VALUES
            (1, 'extracted', now() - interval '3 days'),
            (2, 'pending', now() - interval '1 hour'),
            (3, 'future', 'infinity');
    """)
    # the old way: watermark on updated_at, two hours ago
    conn.execute("CALL dwh_etl.set_watermark('public.bronze_shop_orders', 'updated_at', now() - interval '2 hours')")
    return conn


def extract_shop(conn):
    return scalar(conn, "SELECT dwh_etl.extract_incremental('public.shop_orders', 'public.bronze_shop_orders', "
                        "'_dwh_arrived_at')")


def test_track_arrival_backfills_without_firing_update_triggers_and_continues_the_watermark(shop):
    conn = shop
    before = rows(conn, "SELECT id, updated_at::text FROM public.shop_orders ORDER BY id")
    conn.execute("CALL dwh_etl.track_arrival('public.shop_orders', p_backfill_from => 'updated_at')")
    conn.execute("CALL dwh_etl.track_arrival('public.shop_orders', p_backfill_from => 'updated_at')")  # idempotent
    assert rows(conn, "SELECT id, updated_at::text FROM public.shop_orders ORDER BY id") == before
    assert rows(conn, """
        SELECT id, _dwh_arrived_at = LEAST(updated_at, %s) FROM public.shop_orders ORDER BY id
    """, (scalar(conn, "SELECT max(_dwh_arrived_at) FROM public.shop_orders"),)) == [(1, True), (2, True), (3, True)]
    assert scalar(conn, "SELECT tgenabled FROM pg_trigger WHERE tgname = 'zz_dwh_arrival' "
                        "AND tgrelid = 'public.shop_orders'::regclass") == "A"
    assert scalar(conn, "SELECT count(*) FROM pg_indexes WHERE tablename = 'shop_orders' "
                        "AND indexdef LIKE '%(_dwh_arrived_at)'") == 1
    # the watermark moves to the arrival column as migration 0011 moves the demo sources'
    conn.execute("UPDATE dwh_etl.watermarks SET watermark_column = '_dwh_arrived_at' "
                 "WHERE table_name = 'public.bronze_shop_orders'")
    assert extract_shop(conn) == 2
    assert rows(conn, "SELECT id FROM public.bronze_shop_orders ORDER BY id") == [("2",), ("3",)]
    conn.execute("INSERT INTO public.shop_orders VALUES (4, 'late stamp', now() - interval '2 days')")
    conn.execute("UPDATE public.shop_orders SET note = 'changed' WHERE id = 1")
    assert extract_shop(conn) == 2
    assert extract_shop(conn) == 0
    assert rows(conn, "SELECT id, note FROM public.bronze_shop_orders ORDER BY _bronze_id") == [
        ("2", "pending"), ("3", "future"), ("4", "late stamp"), ("1", "changed")]


def test_extraction_on_an_untracked_source_says_how_to_track_it(shop):
    conn = shop
    with pytest.raises(psycopg.errors.UndefinedColumn) as excinfo:
        extract_shop(conn)
    assert excinfo.value.diag.message_hint == (
        "Track arrivals of the source first (as its owner): "
        "CALL dwh_etl.track_arrival('public.shop_orders', p_backfill_from => 'updated_at');")


def test_track_arrival_is_not_for_the_etl_role(conn):
    assert scalar(conn, "SELECT has_function_privilege('etl_service', "
                        "'dwh_etl.track_arrival(regclass, text, text, boolean)', 'EXECUTE')") is False


def test_migration_0011_continues_the_old_watermarks_without_a_gap_or_a_reload(sales):
    """An installation extracted on updated_at before migration 0011: rewind it to that state (no
    arrival column, no trigger, watermarks on the change columns), write what was pending then, apply
    the migration and the trigger files, and run."""
    conn = sales
    for schema, tables in (("sales_src", SALES_TABLES), ("devflow_src", DEVFLOW_TABLES)):
        for table in tables:
            conn.execute(f"DROP TRIGGER zz_dwh_arrival ON {schema}.{table}")
            # CASCADE: the view sales.sales (SELECT * FROM sales_src.sales) was built with the column
            conn.execute(f"ALTER TABLE {schema}.{table} DROP COLUMN _dwh_arrived_at CASCADE")
    conn.execute("DROP TRIGGER zz_dwh_arrival ON devflow_src.api_payloads")
    conn.execute("""UPDATE dwh_etl.watermarks SET watermark_column = CASE table_name
                        WHEN 'bronze.sales_deleted_records' THEN 'deleted_at' ELSE 'updated_at' END
                    WHERE table_name LIKE 'bronze.sales%%'""")
    add_sale(conn, 2)                              # pending: not extracted yet
    add_sale(conn, 3, updated_at="'infinity'")     # never due on updated_at
    conn.execute("INSERT INTO sales_src.deleted_records (table_name, record_id) VALUES ('sales', 99)")
    conn.execute("UPDATE sales_src.customers SET city = 'Bonn' WHERE customer_id = 1")
    before = rows(conn, "SELECT sale_id, updated_at::text FROM sales_src.sales ORDER BY sale_id")
    customer_before = rows(conn, "SELECT updated_at FROM sales_src.customers")

    with conn.transaction():
        conn.execute((ROOT / "migrations" / "0011_capture.sql").read_text())
    conn.execute((ROOT / "procedures" / "sales_src" / "arrival_triggers.sql").read_text())
    conn.execute((ROOT / "procedures" / "devflow_src" / "arrival_triggers.sql").read_text())
    for view in ("seed004_compat_views.sql", "vw_row_counts_by_layer.sql"):
        conn.execute((ROOT / "procedures" / "sales" / view).read_text())

    # the rewrite fired no UPDATE trigger: the change times are untouched
    assert rows(conn, "SELECT sale_id, updated_at::text FROM sales_src.sales ORDER BY sale_id") == before
    assert rows(conn, "SELECT updated_at FROM sales_src.customers") == customer_before
    assert rows(conn, """SELECT DISTINCT watermark_column FROM dwh_etl.watermarks
                         WHERE table_name LIKE 'bronze.sales%%'""") == [("_dwh_arrived_at",)]
    _, steps = run(conn)
    assert steps["sales_extract"] == "completed"
    # sale 1 was extracted before and is not again; 2 and 3 arrive once; the changed customer and the
    # tombstone too
    assert [(r[0], len(bronze_sales(conn, r[0]))) for r in before] == [(1, 1), (2, 1), (3, 1)]
    assert [r[0] for r in rows(conn, "SELECT city FROM bronze.sales_customers ORDER BY _bronze_id")] == ["Berlin", "Bonn"]
    assert rows(conn, "SELECT record_id FROM bronze.sales_deleted_records") == [("99",)]
    run(conn)
    assert scalar(conn, "SELECT count(*) FROM bronze.sales_sales") == 3


# ------------------------------------------------------------------------------------------------
# a delete and a re-insert of one record within one extraction window (migration 0049)
# ------------------------------------------------------------------------------------------------

def test_bronze_rows_keep_their_arrival_at_the_source(sales):
    conn = sales
    assert rows(conn, """
        SELECT b._source_arrived_at = s._dwh_arrived_at
        FROM bronze.sales_sales AS b JOIN sales_src.sales AS s ON s.sale_id::text = b.sale_id
    """) == [(True,)]
    # a file load does not know it: NULL (a tombstone then applies by its times alone)
    conn.execute("CALL dwh_etl.file_begin(p_target => 'bronze.sales_customers', p_file_name => 'c.csv')")
    conn.execute("INSERT INTO bronze.sales_customers_landing (customer_id, first_name, last_name) VALUES ('7', 'A', 'B')")
    conn.execute("CALL dwh_etl.file_end()")
    assert rows(conn, "SELECT _source_arrived_at FROM bronze.sales_customers WHERE customer_id = '7'") == [(None,)]


def test_a_sale_deleted_and_reinserted_with_its_old_updated_at_in_one_window_is_kept(sales):
    """A restore (the same sale_id, its old updated_at, other values) between two runs: the tombstone and
    the row reach one window, the tombstone's deleted_at after the row's updated_at. It was deleted in
    silver and gold while the source held it; the row arrived after the tombstone, so the row stands."""
    conn = sales
    old = scalar(conn, "SELECT updated_at FROM sales_src.sales WHERE sale_id = 1")
    conn.execute("DELETE FROM sales_src.sales WHERE sale_id = 1")
    add_sale(conn, 1, updated_at=f"'{old.isoformat()}'::timestamptz", quantity=5)
    _, steps = run(conn)
    assert set(steps.values()) == {"completed"}, steps
    assert rows(conn, "SELECT quantity, is_deleted FROM silver.sales_sales WHERE sale_id = 1") == [(5, False)]
    assert rows(conn, "SELECT quantity FROM sales.fact_sales WHERE sale_id = 1") == [(5,)]


def test_a_sale_restored_then_deleted_again_in_one_window_is_deleted(sales):
    """The other order: deleted, re-inserted, deleted again before the run. The last tombstone arrived
    after the row: the sale is deleted."""
    conn = sales
    old = scalar(conn, "SELECT updated_at FROM sales_src.sales WHERE sale_id = 1")
    conn.execute("DELETE FROM sales_src.sales WHERE sale_id = 1")
    add_sale(conn, 1, updated_at=f"'{old.isoformat()}'::timestamptz", quantity=5)
    conn.execute("DELETE FROM sales_src.sales WHERE sale_id = 1")
    _, steps = run(conn)
    assert set(steps.values()) == {"completed"}, steps
    assert rows(conn, "SELECT is_deleted FROM silver.sales_sales WHERE sale_id = 1") == [(True,)]
    assert rows(conn, "SELECT quantity FROM sales.fact_sales WHERE sale_id = 1") == []


def test_a_customer_deleted_and_reinserted_with_its_old_updated_at_in_one_window_is_kept(sales):
    """The same for an SCD2 dimension (its tombstones are versions of the stage): the restored customer
    stays current and not deleted, in silver and in the gold dimension."""
    conn = sales
    old = scalar(conn, "SELECT updated_at FROM sales_src.customers WHERE customer_id = 1")
    conn.execute("DELETE FROM sales_src.customers WHERE customer_id = 1")
    add_customer(conn, 1, updated_at=f"'{old.isoformat()}'::timestamptz")
    _, steps = run(conn)
    assert set(steps.values()) == {"completed"}, steps
    assert rows(conn, "SELECT is_deleted FROM silver.sales_customers WHERE customer_id = 1 AND is_current") == [(False,)]
    assert scalar(conn, "SELECT count(*) FROM silver.sales_customers WHERE customer_id = 1 AND is_deleted") == 0


def test_a_customer_deleted_for_good_in_the_window_of_its_last_change_is_deleted(sales):
    conn = sales
    conn.execute("UPDATE sales_src.customers SET last_name = 'Roe', updated_at = now() WHERE customer_id = 1")
    conn.execute("DELETE FROM sales_src.customers WHERE customer_id = 1")
    _, steps = run(conn)
    assert set(steps.values()) == {"completed"}, steps
    assert rows(conn, "SELECT is_deleted FROM silver.sales_customers WHERE customer_id = 1 AND is_current") == [(True,)]
