"""Whole-table quality rules in a run where nothing changed (issue 15, no-op run under a second): a rule
whose inputs did not change since its latest result repeats that result (dwh_etl._rule_state) instead of
scanning; any write to what it reads (by the engine, or by hand from another session), a TRUNCATE, a
change of the rule, or the setting quality.reuse_unchanged = off makes it evaluate again; a rule whose
result depends on time or on functions that may read tables is always evaluated; `dwh test` always is."""

from __future__ import annotations

import psycopg
import pytest

RUN_SQL = "CALL dwh_etl.run_pipeline(p_pipeline => 'daily', p_run_date => CURRENT_DATE, p_run_id => NULL)"
RECONCILE = ("SELECT f.sale_id FROM sales.fact_sales AS f "
             "WHERE NOT EXISTS (SELECT 1 FROM silver.sales_sales AS s WHERE s.sale_id = f.sale_id)")


def scalar(conn, sql, params=None):
    return conn.execute(sql, params).fetchone()[0]


def latest(conn, rule):
    """(id, passed, failing, rows_checked, reused_from) of the rule's latest recorded result."""
    return conn.execute("""SELECT m.id, m.passed, (m.details->>'failing')::bigint, m.rows_checked,
                                  (m.details->>'reused_from')::bigint
                           FROM dwh_lineage.quality_metrics AS m
                           WHERE m.metric_name = %s
                           ORDER BY m.measured_at DESC, m.id DESC LIMIT 1""", (rule,)).fetchone()


@pytest.fixture
def loaded(sales_only_loaded_template, conn):
    """The sales area loaded by one `daily`, plus a whole-table reconciliation of the fact with silver and
    a rule calling a STABLE function (never reused)."""
    conn.execute("""
        INSERT INTO dwh_etl.quality_rules (rule_name, table_name, rule_type, params, severity, scope, area)
        VALUES ('test_fact_reconciles', 'sales.fact_sales', 'custom_sql', jsonb_build_object('sql', %s::text), 'warn', 'table', 'sales'),
               ('test_fact_opaque', 'sales.fact_sales', 'custom_sql',
                '{"sql": "SELECT 1 WHERE dwh_etl.get_setting(''nothing'', ''x'') IS NULL"}', 'warn', 'table', 'sales')""",
                 (RECONCILE,))
    conn.execute(RUN_SQL)
    return conn


def test_an_unchanged_whole_table_rule_repeats_its_result_without_scanning(loaded):
    conn = loaded
    first = latest(conn, "test_fact_reconciles")
    assert first[1] is True and first[4] is None and first[3] > 100
    conn.execute(RUN_SQL)
    again = latest(conn, "test_fact_reconciles")
    assert again[0] > first[0]
    assert again[1:4] == first[1:4] and again[4] == first[0]
    # a rule its table's primary key guarantees is neither scanned nor repeated: it cannot fail
    assert latest(conn, "customer_metrics_key_unique")[4] is None
    # a result repeated again names the result it repeats, and the chain stays correct
    conn.execute(RUN_SQL)
    assert latest(conn, "test_fact_reconciles")[4] == again[0]
    # time- or function-dependent rules never repeat
    assert latest(conn, "test_fact_opaque")[4] is None
    assert scalar(conn, """SELECT count(*) FROM dwh_lineage.quality_metrics
                           WHERE details->>'rule_type' = 'freshness' AND details ? 'reused_from'""") == 0


def test_a_write_by_hand_in_another_session_is_seen(loaded, dsn):
    conn = loaded
    conn.execute(RUN_SQL)
    assert latest(conn, "test_fact_reconciles")[4] is not None
    # a DBA deletes a silver row by hand: the fact row no longer reconciles
    with psycopg.connect(dsn, autocommit=True) as dba:
        sale_id = dba.execute("SELECT min(sale_id) FROM silver.sales_sales").fetchone()[0]
        dba.execute("DELETE FROM silver.sales_sales WHERE sale_id = %s", (sale_id,))
        dba.execute("SELECT pg_stat_force_next_flush()")
    # the other session's counters reach the shared statistics when it reports (at its next commit)
    with psycopg.connect(dsn, autocommit=True) as other:
        other.execute("SELECT 1")
    conn.execute(RUN_SQL)
    result = latest(conn, "test_fact_reconciles")
    assert result[4] is None and result[1] is False and result[2] == 1


def test_a_truncate_a_rule_change_and_the_setting_force_an_evaluation(loaded):
    conn = loaded
    conn.execute(RUN_SQL)
    assert latest(conn, "test_fact_reconciles")[4] is not None
    conn.execute("UPDATE dwh_etl.quality_rules SET threshold = 1 WHERE rule_name = 'test_fact_reconciles'")
    conn.execute(RUN_SQL)
    assert latest(conn, "test_fact_reconciles")[4] is None
    conn.execute(RUN_SQL)
    assert latest(conn, "test_fact_reconciles")[4] is not None
    conn.execute("INSERT INTO dwh_etl.settings (key, value) VALUES ('quality.reuse_unchanged', 'off') "
                 "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value")
    conn.execute(RUN_SQL)
    assert latest(conn, "test_fact_reconciles")[4] is None
    conn.execute("UPDATE dwh_etl.settings SET value = 'on' WHERE key = 'quality.reuse_unchanged'")
    conn.execute(RUN_SQL)
    assert latest(conn, "test_fact_reconciles")[4] is not None
    # a TRUNCATE of a table the rule reads (its file changes)
    conn.execute("INSERT INTO dwh_etl.quality_rules (rule_name, table_name, rule_type, params, severity, scope) "
                 "VALUES ('test_metrics_count', 'sales.customer_metrics', 'custom_sql', "
                 "'{\"sql\": \"SELECT 1 FROM sales.customer_metrics HAVING count(*) = 0\"}', 'warn', 'table')")
    conn.execute(RUN_SQL)
    conn.execute(RUN_SQL)
    assert latest(conn, "test_metrics_count")[1:] == (True, 0, latest(conn, "test_metrics_count")[3],
                                                       latest(conn, "test_metrics_count")[4])
    assert latest(conn, "test_metrics_count")[4] is not None
    conn.execute("TRUNCATE sales.customer_metrics")
    conn.execute(RUN_SQL)
    result = latest(conn, "test_metrics_count")
    assert result[4] is None and result[1] is False and result[2] == 1


def test_dwh_test_always_evaluates(loaded):
    conn = loaded
    conn.execute(RUN_SQL)
    conn.execute("SELECT * FROM dwh_etl.test_rules(ARRAY['sales.fact_sales'])")
    assert latest(conn, "test_fact_reconciles")[4] is None


def test_the_engine_writing_a_table_re_evaluates_its_rules(loaded):
    conn = loaded
    conn.execute(RUN_SQL)
    before = latest(conn, "test_fact_reconciles")
    assert before[4] is not None
    conn.execute("UPDATE sales_src.sales SET quantity = quantity + 1 WHERE sale_id = (SELECT min(sale_id) FROM sales_src.sales)")
    conn.execute(RUN_SQL)
    after = latest(conn, "test_fact_reconciles")
    assert after[4] is None and after[1] is True


# -- rules the database already guarantees ------------------------------------------------------------------
def enforced(conn, table, batch=None):
    """{rule_name: (enforced_by, rows_checked, failing, passed)} of quality_check_table."""
    results = scalar(conn, "SELECT dwh_etl.quality_check_table(%s, %s)", (table, batch))
    return {r["rule_name"]: (r["enforced_by"], r["rows_checked"], r["failing"], r["passed"]) for r in results}


def test_rules_a_constraint_guarantees_pass_without_a_scan_and_say_which(loaded):
    conn = loaded
    batch = scalar(conn, "SELECT batch_id FROM dwh_lineage.pipeline_runs ORDER BY run_id LIMIT 1")
    total = scalar(conn, "SELECT count(*) FROM sales.fact_sales WHERE _batch_id = %s", (batch,))
    assert total > 100
    fact = enforced(conn, "sales.fact_sales", batch)
    assert fact["fact_sales_customer_fk"] == ("foreign key fact_sales_customer_fk", total, 0, True)
    assert fact["fact_sales_date_fk"][0] == "foreign key fact_sales_date_fk"
    assert fact["fact_sales_keys_not_null"] == ("NOT NULL", total, 0, True)
    # sale_id alone is not unique by any index of the partitioned fact (its key has date_key): evaluated
    assert fact["fact_sales_sale_unique"][0] is None and fact["fact_sales_sale_unique"][3] is True
    assert fact["fact_sales_price_range"][0] is None
    assert enforced(conn, "silver.sales_sales", batch)["silver_sales_key_unique"][0] == "unique index silver.sales_sales_pk"
    # recorded by the run with the constraint's name
    assert scalar(conn, """SELECT details->>'enforced_by' FROM dwh_lineage.quality_metrics
                           WHERE metric_name = 'fact_sales_customer_fk' ORDER BY id DESC LIMIT 1""") == "foreign key fact_sales_customer_fk"


def test_without_the_constraint_the_rule_scans_and_fails(loaded):
    conn = loaded
    conn.execute("ALTER TABLE sales.fact_sales DROP CONSTRAINT fact_sales_customer_fk")
    conn.execute("UPDATE sales.fact_sales SET customer_key = -42 WHERE sale_id = (SELECT min(sale_id) FROM sales.fact_sales)")
    rule = enforced(conn, "sales.fact_sales")["fact_sales_customer_fk"]
    assert rule[0] is None and rule[2] == 1 and rule[3] is False


def test_a_disabled_foreign_key_or_a_nullable_unique_key_guarantees_nothing(loaded):
    conn = loaded
    conn.execute("ALTER TABLE sales.fact_sales DISABLE TRIGGER ALL")
    assert enforced(conn, "sales.fact_sales")["fact_sales_product_fk"][0] is None
    conn.execute("ALTER TABLE sales.fact_sales ENABLE TRIGGER ALL")
    conn.execute("""CREATE TABLE public.qr_keys (k int, j int, v text);
                    CREATE INDEX qr_keys_k ON public.qr_keys (k);
                    CREATE UNIQUE INDEX qr_keys_kj_part ON public.qr_keys (k, j) WHERE v <> 'x';
                    INSERT INTO public.qr_keys VALUES (1, 1, 'a'), (1, 1, 'x'), (NULL, 2, 'b'), (NULL, 2, 'c');
                    INSERT INTO dwh_etl.quality_rules (rule_name, table_name, rule_type, column_names, scope)
                    VALUES ('qr_keys_unique', 'public.qr_keys', 'unique', '{k,j}', 'table')""")
    # a plain index and a partial unique index guarantee nothing: evaluated, the duplicate found (keys
    # with a NULL part are not compared, as in a unique index)
    rule = enforced(conn, "public.qr_keys")["qr_keys_unique"]
    assert rule[0] is None and rule[2] == 1 and rule[3] is False
    conn.execute("DELETE FROM public.qr_keys WHERE v = 'x'")
    conn.execute("CREATE UNIQUE INDEX qr_keys_k_uq ON public.qr_keys (k)")
    # a unique index on part of the rule's columns guarantees the whole key
    assert enforced(conn, "public.qr_keys")["qr_keys_unique"] == ("unique index public.qr_keys_k_uq", 3, 0, True)


def test_rules_reading_the_clock_or_opaque_functions_are_never_reused(loaded):
    conn = loaded
    sqls = {"now": "SELECT 1 FROM sales.fact_sales WHERE transaction_at > now() + interval '1 day'",
            "keyword": "SELECT 1 FROM sales.fact_sales WHERE transaction_at > CURRENT_TIMESTAMP",
            "to_char": "SELECT 1 FROM sales.fact_sales WHERE to_char(transaction_at, 'YYYY') = '1900'",
            "plain": "SELECT 1 FROM sales.fact_sales WHERE quantity < 0 AND lower('X') = 'y'"}
    for name, sql in sqls.items():
        conn.execute("INSERT INTO dwh_etl.quality_rules (rule_name, table_name, rule_type, params, scope) "
                     "VALUES (%s, 'sales.fact_sales', 'custom_sql', jsonb_build_object('sql', %s::text), 'table')",
                     (f"test_clock_{name}", sql))
    states = dict(conn.execute("SELECT rule_name, dwh_etl._rule_state(r) FROM dwh_etl.quality_rules AS r "
                               "WHERE rule_name LIKE 'test_clock_%'").fetchall())
    assert states["test_clock_plain"] is not None
    assert [n for n, s in states.items() if s is not None] == ["test_clock_plain"]
