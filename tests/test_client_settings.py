"""The warehouse computes the same thing whatever the caller's session settings.

One source is generated once (sales and devflow, under UTC/ISO) and cloned into databases that are then
loaded by `daily` from sessions with other TimeZone / DateStyle / IntervalStyle / search_path: every fact,
dimension, aggregate, mart and quarantine entry must equal the load done under UTC/ISO.
"""

from __future__ import annotations

import psycopg
import pytest

from tests.conftest import make_conninfo

SETTINGS = {
    "utc": {},
    "tokyo_dmy": {"TimeZone": "Asia/Tokyo", "DateStyle": "SQL, DMY", "IntervalStyle": "sql_standard"},
    "newyork_german": {"TimeZone": "America/New_York", "DateStyle": "German", "IntervalStyle": "iso_8601",
                       "search_path": "pg_temp, sales, public", "extra_float_digits": "-3"},
}

# business content of each table: no load timestamps, no batch ids
CONTENT = {
    "sales.fact_sales": "SELECT sale_id, order_id, line_number, date_key, time_key, quantity, unit_price, "
                        "discount_amount, line_total, transaction_at FROM sales.fact_sales",
    "sales.dim_customer": "SELECT customer_id, version, valid_from, valid_to, is_current FROM sales.dim_customer",
    "sales.agg_daily_sales": "SELECT * FROM sales.agg_daily_sales",
    "devflow.fact_issue_processing": "SELECT * FROM devflow.fact_issue_processing",
    "devflow.fact_deployment": "SELECT * FROM devflow.fact_deployment",
    "devflow.fact_agent_execution": "SELECT * FROM devflow.fact_agent_execution",
    "devflow.fact_performance_metrics": "SELECT * FROM devflow.fact_performance_metrics",
    "devflow.mart_development_performance": "SELECT * FROM devflow.mart_development_performance",
    "devflow.mart_infrastructure_cost": "SELECT * FROM devflow.mart_infrastructure_cost",
    "quarantine": "SELECT target_table, record_key, reasons FROM dwh_etl.quarantine",
}
TECHNICAL = ("_batch_id", "_loaded_at", "_run_id", "_ingested_at", "loaded_at", "updated_at", "created_at")


def fingerprint(conn, sql):
    """Order-independent digest of a query's rows, without technical columns."""
    return conn.execute(f"""
        SELECT count(*), md5(COALESCE(string_agg(r, '|' ORDER BY r), ''))
        FROM (SELECT (to_jsonb(t) - %s::text[])::text AS r FROM ({sql}) AS t) AS x
    """, (list(TECHNICAL),)).fetchone()


@pytest.fixture(scope="module")
def loads(postgresql_proc):
    proc = postgresql_proc
    admin_info = make_conninfo(proc.host, proc.port, proc.user, "postgres", proc.password)
    with psycopg.connect(admin_info, autocommit=True) as admin:
        template = admin.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE '%\\_tmpl' ORDER BY datname LIMIT 1").fetchone()[0]
        admin.execute("DROP DATABASE IF EXISTS settings_src")
        admin.execute(f'CREATE DATABASE settings_src TEMPLATE "{template}"')
        with psycopg.connect(make_conninfo(proc.host, proc.port, proc.user, "settings_src", proc.password),
                             autocommit=True) as src:
            src.execute("CALL sales_src.generate(p_scale => 0.002::numeric, p_seed => 0.42)")
            src.execute("CALL devflow_src.generate(p_days => 2)")
            run_date = src.execute("SELECT (now() AT TIME ZONE 'UTC')::date").fetchone()[0]
        results = {}
        for name, settings in SETTINGS.items():
            db = f"settings_{name}"
            admin.execute(f"DROP DATABASE IF EXISTS {db}")
            admin.execute(f"CREATE DATABASE {db} TEMPLATE settings_src")
            with psycopg.connect(make_conninfo(proc.host, proc.port, proc.user, db, proc.password),
                                 autocommit=True) as conn:
                for key, value in settings.items():
                    conn.execute(f"SET {key} = '{value}'")
                error = None
                try:
                    conn.execute("CALL dwh_etl.run_pipeline(p_pipeline => 'daily', p_run_date => %s)", (run_date,))
                except psycopg.Error as exc:  # recorded; the comparison below shows what differs
                    error = exc.diag.message_primary
                conn.execute("RESET ALL")
                results[name] = {
                    "error": error,
                    "steps": conn.execute("""
                        SELECT step_name, status, error_message FROM dwh_lineage.step_runs
                        WHERE status <> 'completed' ORDER BY step_name""").fetchall(),
                    "content": {table: fingerprint(conn, sql) for table, sql in CONTENT.items()},
                }
        yield results
        for name in SETTINGS:
            admin.execute(f"DROP DATABASE IF EXISTS settings_{name}")
        admin.execute("DROP DATABASE IF EXISTS settings_src")


def test_the_utc_load_completes(loads):
    assert loads["utc"]["error"] is None
    assert loads["utc"]["steps"] == []
    assert loads["utc"]["content"]["sales.fact_sales"][0] > 0
    assert loads["utc"]["content"]["devflow.fact_performance_metrics"][0] > 0


@pytest.mark.parametrize("name", [n for n in SETTINGS if n != "utc"])
def test_other_session_settings_load_exactly_the_same(loads, name):
    assert loads[name]["error"] is None
    assert loads[name]["steps"] == []
    assert loads[name]["content"] == loads["utc"]["content"]
