"""Roles (issue 9, items 2 and 3): etl_service runs every pipeline without owner rights, cannot change
the registry (what the pipeline executes), and the SECURITY DEFINER routines that do the owner-only work
refuse anything unregistered; analyst_role reads gold only, directly or through any view."""

from __future__ import annotations


import psycopg
import pytest
from psycopg import errors

from conftest import cloned_database

SCALE = 0.01
PIPELINES = ["daily", "incremental", "devflow_hourly", "devflow_5min", "devflow_weekly", "maintenance"]

# Every table of dwh_etl is one or the other; a new table must be classified here (and granted).
REGISTRY = ["dwh_etl.applied_code", "dwh_etl.dimension_specs", "dwh_etl.pipelines", "dwh_etl.quality_rules",
            "dwh_etl.settings", "dwh_etl.steps", "dwh_etl.table_registry",
            # the sources and their fdw pull positions: written by the owner's routines only
            "dwh_etl.sources", "dwh_etl.source_watermarks",
            # the Citus distribution plan (migration 0042, dwh_etl.apply_distribution_plan)
            "dwh_etl.distribution_plan",
            # the subject areas (register_area)
            "dwh_etl.areas"]
RUN_STATE = ["dwh_etl.archived_partitions", "dwh_etl.cdc_key_state", "dwh_etl.loaded_files", "dwh_etl.quarantine",
             "dwh_etl.watermarks"]

REGISTRY_ROUTINES = [
    "dwh_etl.register_area(text, jsonb)",
    "dwh_etl.register_dimension(text, text, text, text[], text[], text[], text, text, text, text, text)",
    "dwh_etl.register_pipeline(text, text, text[])",
    "dwh_etl.register_rules(text, jsonb)",
    "dwh_etl.register_steps(text, text, jsonb)",
    "dwh_etl.register_tables(text, jsonb)",
    "dwh_etl.sync_schedules(integer, integer, integer, integer)",
    "dwh_etl.schedule_sync()",
    "dwh_etl.schedule_remove(text)",
    "dwh_etl.enable_scd_triggers(text)",
]

# Schemas analysts must never reach, directly or through views: the lower layers, the sources, and the
# engine's tables (quarantine holds raw rows, run history holds error details with values).
LOWER_SCHEMAS_SQL = """
    SELECT unnest(ARRAY['bronze', 'silver', 'dwh_staging', 'dwh_etl', 'dwh_lineage', 'sales_src', 'devflow_src']::name[])
    UNION
    SELECT n.nspname FROM dwh_etl.table_registry AS tr
    JOIN pg_class AS c ON c.oid = to_regclass(tr.table_name)
    JOIN pg_namespace AS n ON n.oid = c.relnamespace
    WHERE tr.layer IN ('source', 'bronze', 'silver')
"""

ODD_NAMES = [
    "sales.fact_sales; DROP TABLE sales.dim_customer",
    "sales.fact_sales'); DROP TABLE sales.dim_customer; --",
    'sales."fact_sales',
    '"sales.fact_sales"',
    "sales.fact_sales--",
    "a.b.c.d",
    "sales.dim_customer",  # a real table, but not a registered mart / partitioned table
]


def rows(conn, sql, params=None):
    return conn.execute(sql, params).fetchall()


def scalar(conn, sql, params=None):
    return conn.execute(sql, params).fetchone()[0]


@pytest.fixture(scope="module")
def warehouse(postgresql_proc):
    """A database cloned from the migrated template, demo data generated (as the superuser), then every
    pipeline run once as etl_service. Yields (superuser connection, {pipeline: run_id})."""
    with cloned_database(postgresql_proc, postgresql_proc.template_dbname, "sec") as conn:
        conn.execute("CALL sales_src.generate(p_scale => %s::numeric, p_seed => 0.42)", (SCALE,))
        conn.execute("CALL devflow_src.generate(p_days => 2, p_seed => 0.42)")
        runs = {}
        conn.execute("SET ROLE etl_service")
        for pipeline in PIPELINES:
            try:
                runs[pipeline] = scalar(conn, "CALL dwh_etl.run_pipeline(p_pipeline => %s, p_run_id => NULL)",
                                        (pipeline,))
            except psycopg.Error as exc:  # the test below reports the failed step
                runs[pipeline] = int(exc.diag.message_detail.removeprefix("run_id=")) if exc.diag.message_detail else None
        conn.execute("RESET ROLE")
        yield conn, runs


@pytest.fixture
def as_etl(warehouse):
    conn, _ = warehouse
    conn.execute("SET ROLE etl_service")
    yield conn
    conn.execute("RESET ROLE")


@pytest.fixture
def as_analyst(warehouse):
    conn, _ = warehouse
    conn.execute("SET ROLE analyst_role")
    yield conn
    conn.execute("RESET ROLE")


# ---------------------------------------------------------------------------------------------
# B. etl_service runs every pipeline
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("pipeline", PIPELINES)
def test_etl_service_runs_the_pipeline_to_completion(warehouse, pipeline):
    conn, runs = warehouse
    run_id = runs[pipeline]
    assert run_id is not None
    steps = rows(conn, """
        SELECT step_name, status, error_message FROM dwh_lineage.step_runs WHERE run_id = %s ORDER BY step_order
    """, (run_id,))
    assert [s for s in steps if s[1] != "completed"] == []
    assert [s[0] for s in steps] == [r[0] for r in rows(
        conn, "SELECT step_name FROM dwh_etl._ordered_steps(%s)", (pipeline,))]
    assert scalar(conn, "SELECT status FROM dwh_lineage.pipeline_runs WHERE run_id = %s", (run_id,)) == "completed"


def test_the_etl_runs_loaded_and_refreshed_what_needs_ownership(warehouse):
    conn, runs = warehouse
    # partitions created by the loads (sec_ensure_partitions) and facts in them
    assert scalar(conn, "SELECT count(*) FROM sales.fact_sales") > 0
    assert scalar(conn, "SELECT count(*) FROM devflow.fact_performance_metrics") > 0
    # marts refreshed by the steps and by maintenance (sec_refresh_mart)
    for mart in ("sales.mv_customer_lifetime_value", "devflow.mart_agent_performance",
                 "devflow.mart_development_performance", "devflow.mart_infrastructure_cost"):
        assert scalar(conn, f"SELECT relispopulated FROM pg_class WHERE oid = '{mart}'::regclass")
    assert scalar(conn, "SELECT count(*) FROM sales.mv_customer_lifetime_value") > 0
    notes = [r[0] for r in rows(conn, """
        SELECT notes FROM dwh_lineage.table_lineage WHERE run_id = %s AND step_name = 'refresh_marts'
    """, (runs["maintenance"],))]
    assert notes and set(notes) <= {"refreshed concurrently", "refreshed (no reader held it)", "refreshed"}
    # ANALYZE by sec_analyze: statistics exist for the facts
    assert scalar(conn, "SELECT count(*) FROM pg_stats WHERE schemaname = 'sales' AND tablename = 'fact_sales'") > 0


def test_etl_service_reads_the_status_report_and_quality(as_etl):
    # the pg_cron checks read shared_preload_libraries through dwh_etl.sec_preload_libraries
    doc = scalar(as_etl, "SELECT dwh_etl.status_report()")
    assert {p["pipeline"] for p in doc["pipelines"]} >= set(PIPELINES)
    assert doc["cron_health"]
    as_etl.execute("SELECT * FROM dwh_etl.quality_report()")


# ---------------------------------------------------------------------------------------------
# A. the registry is the owner's
# ---------------------------------------------------------------------------------------------

def test_every_dwh_etl_table_is_classified_registry_or_run_state(warehouse):
    conn, _ = warehouse
    tables = [r[0] for r in rows(conn, """
        SELECT c.oid::regclass::text FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
        WHERE n.nspname = 'dwh_etl' AND c.relkind IN ('r', 'p') ORDER BY 1
    """)]
    assert sorted(tables) == sorted(REGISTRY + RUN_STATE), "classify the new dwh_etl table as registry or run state"
    # SELECT, INSERT, UPDATE, DELETE: what the engine writes as etl_service (migration 0065 took the rest;
    # the rows it may change are narrowed by triggers, tests/test_attack13d.py)
    expected = {"dwh_etl.archived_partitions": (True, True, False, False),
                "dwh_etl.loaded_files": (True, True, True, False),
                "dwh_etl.quarantine": (True, True, True, False)}
    for table in RUN_STATE:
        assert rows(conn, """
            SELECT has_table_privilege('etl_service', %(t)s, 'SELECT'), has_table_privilege('etl_service', %(t)s, 'INSERT'),
                   has_table_privilege('etl_service', %(t)s, 'UPDATE'), has_table_privilege('etl_service', %(t)s, 'DELETE')
        """, {"t": table}) == [expected.get(table, (True, True, True, True))], table


@pytest.mark.parametrize("table", REGISTRY)
def test_etl_service_and_analyst_cannot_write_the_registry(warehouse, table):
    conn, _ = warehouse
    for role in ("etl_service", "analyst_role"):
        assert rows(conn, f"""
            SELECT has_table_privilege('{role}', %(t)s, 'INSERT'), has_table_privilege('{role}', %(t)s, 'UPDATE'),
                   has_table_privilege('{role}', %(t)s, 'DELETE'), has_table_privilege('{role}', %(t)s, 'TRUNCATE'),
                   has_table_privilege('{role}', %(t)s, 'TRIGGER'), has_table_privilege('{role}', %(t)s, 'REFERENCES')
        """, {"t": table}) == [(False,) * 6], role
    # the runner reads it
    assert scalar(conn, "SELECT has_table_privilege('etl_service', %s, 'SELECT')", (table,))
    assert not scalar(conn, "SELECT has_table_privilege('analyst_role', %s, 'SELECT')", (table,))
    column = scalar(conn, """
        SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 AND attidentity = ''
          AND attgenerated = '' AND NOT attisdropped ORDER BY attnum LIMIT 1""", (table,))
    before = scalar(conn, f"SELECT count(*) FROM {table}")
    conn.execute("SET ROLE etl_service")
    try:
        for statement in (f"INSERT INTO {table} DEFAULT VALUES",
                          f'UPDATE {table} SET "{column}" = "{column}"',
                          f"DELETE FROM {table}",
                          f"TRUNCATE {table}"):
            with pytest.raises(errors.InsufficientPrivilege):
                conn.execute(statement)
    finally:
        conn.execute("RESET ROLE")
    assert scalar(conn, f"SELECT count(*) FROM {table}") == before


def test_the_rule_injection_is_impossible(warehouse):
    """The issue's attack: a custom_sql rule written by etl_service, run by the superuser's pipeline."""
    conn, _ = warehouse
    evil = "SELECT current_user, rolsuper, pg_read_file('PG_VERSION') FROM pg_roles WHERE rolname = current_user"
    conn.execute("SET ROLE etl_service")
    try:
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("""
                INSERT INTO dwh_etl.quality_rules (rule_name, table_name, rule_type, params)
                VALUES ('evil', 'sales.fact_sales', 'custom_sql', jsonb_build_object('sql', %s::text))
            """, (evil,))
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("UPDATE dwh_etl.quality_rules SET params = params || jsonb_build_object('where', %s::text)",
                         ("pg_read_file('PG_VERSION') IS NOT NULL",))
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("""CALL dwh_etl.register_rules('sales', jsonb_build_array(jsonb_build_object(
                'rule', 'evil', 'table', 'sales.fact_sales', 'type', 'custom_sql', 'params', jsonb_build_object('sql', %s::text))))""",
                         (evil,))
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("UPDATE dwh_etl.steps SET procedure_name = 'pg_catalog.pg_terminate_backend'")
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("UPDATE dwh_etl.settings SET value = 'pg_catalog' WHERE key = 'sales.source_schema'")
    finally:
        conn.execute("RESET ROLE")
    assert scalar(conn, "SELECT count(*) FROM dwh_etl.quality_rules WHERE rule_name = 'evil' OR params::text ~ 'pg_read_file'") == 0
    assert scalar(conn, "SELECT count(*) FROM dwh_lineage.quality_metrics WHERE details::text ~ 'PG_VERSION|rolsuper'") == 0


@pytest.mark.parametrize("routine", REGISTRY_ROUTINES)
def test_registry_routines_are_not_executable_by_etl_service(warehouse, routine):
    conn, _ = warehouse
    assert rows(conn, "SELECT has_function_privilege('etl_service', %(r)s, 'EXECUTE'), "
                      "has_function_privilege('analyst_role', %(r)s, 'EXECUTE')", {"r": routine}) == [(False, False)]


def test_etl_service_cannot_register_a_pipeline(as_etl):
    with pytest.raises(errors.InsufficientPrivilege):
        as_etl.execute("CALL dwh_etl.register_pipeline(p_pipeline => 'evil', p_description => 'x', p_schedules => '{}')")


# ---------------------------------------------------------------------------------------------
# SECURITY DEFINER routines
# ---------------------------------------------------------------------------------------------

def test_security_definer_routines_are_pinned_and_granted_to_etl_service_only(warehouse):
    conn, _ = warehouse
    definers = rows(conn, """
        SELECT p.oid::regprocedure::text, p.proconfig, pg_get_userbyid(p.proowner),
               ARRAY(SELECT pg_get_userbyid(a.grantee) FROM aclexplode(p.proacl) AS a
                     WHERE a.privilege_type = 'EXECUTE' AND a.grantee <> p.proowner ORDER BY 1),
               EXISTS (SELECT 1 FROM aclexplode(p.proacl) AS a WHERE a.grantee = 0)
        FROM pg_proc AS p JOIN pg_namespace AS n ON n.oid = p.pronamespace
        WHERE p.prosecdef AND n.nspname NOT IN ('pg_catalog', 'information_schema')
          AND NOT EXISTS (SELECT 1 FROM pg_depend AS d  -- extension members (dblink_connect_u: owner only)
                          WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
        ORDER BY 1
    """)
    names = [d[0].split("(")[0] for d in definers]
    assert names == ["dwh_etl.sec_analyze", "dwh_etl.sec_archive_partition", "dwh_etl.sec_cancel_run", "dwh_etl.sec_cdc_apply", "dwh_etl.sec_compact_file_load",
                     "dwh_etl.sec_ensure_partitions", "dwh_etl.sec_file_landing", "dwh_etl.sec_file_seal",
                     "dwh_etl.sec_index_density",  # issue 18: monthly maintenance (pgstatindex)
                     "dwh_etl.sec_purge_bronze", "dwh_etl.sec_purge_cron_history", "dwh_etl.sec_refresh_mart",
                     "dwh_etl.sec_schedule_jobs",  # attack 13b: dwh status / schedule list as etl_service
                     "dwh_etl.sec_seal_bronze_months",
                     "dwh_etl.sec_server_setting", "dwh_etl.sec_source_pull",
                     "dwh_etl.sec_vacuum",  # issue 18: monthly maintenance (VACUUM through dblink, REINDEX)
                     "dwh_etl.source_status"]
    for name, config, _owner, grantees, public in definers:
        assert config == ["search_path=pg_catalog, pg_temp"], name
        assert grantees == ["etl_service"], name
        assert not public, name


@pytest.mark.parametrize("name", ODD_NAMES)
def test_definer_routines_refuse_odd_identifiers_and_unregistered_targets(warehouse, name):
    conn, _ = warehouse
    conn.execute("SET ROLE etl_service")
    try:
        for sql in ("SELECT dwh_etl.sec_refresh_mart(%s)",
                    "SELECT dwh_etl.sec_analyze(%s)",
                    "SELECT dwh_etl.sec_ensure_partitions(%s, CURRENT_DATE, CURRENT_DATE, 0)",
                    "SELECT * FROM dwh_etl.sec_archive_partition(%s, CURRENT_DATE)",
                    "SELECT * FROM dwh_etl.sec_cdc_apply(%s, '[]')",
                    "SELECT dwh_etl.ensure_partitions(%s, CURRENT_DATE, CURRENT_DATE, 0)"):
            if name == "sales.dim_customer" and "sec_analyze" in sql:
                continue  # a registered table: analyzing it is allowed
            with pytest.raises(psycopg.Error) as excinfo:
                conn.execute(sql, (name,))
            assert excinfo.value.sqlstate in ("42501", "42601", "42602", "42P01", "3F000", "42809", "22023"), (sql, name)
    finally:
        conn.execute("RESET ROLE")
    assert scalar(conn, "SELECT to_regclass('sales.dim_customer') IS NOT NULL")


def test_definer_routines_refuse_unregistered_relations(conn):
    conn.execute("""
        CREATE MATERIALIZED VIEW public.unregistered_mv AS SELECT 1 AS x;
        CREATE TABLE public.unregistered_parts (d date NOT NULL) PARTITION BY RANGE (d);
        CREATE TABLE public.unregistered_parts_p1 PARTITION OF public.unregistered_parts
            FOR VALUES FROM ('2001-01-01') TO ('2001-02-01');
        CREATE TABLE public.plain (x int);
    """)
    conn.execute("SET ROLE etl_service")
    refused = {
        "SELECT dwh_etl.sec_refresh_mart('public.unregistered_mv')": "42501",
        "SELECT dwh_etl.sec_refresh_mart('sales.fact_sales')": "42501",  # registered, but not a mart view
        "SELECT dwh_etl.sec_analyze('public.plain')": "42501",
        "SELECT dwh_etl.sec_analyze('dwh_etl.settings')": "42501",
        "SELECT dwh_etl.sec_ensure_partitions('public.unregistered_parts', CURRENT_DATE, CURRENT_DATE, 0)": "42501",
        "SELECT dwh_etl.sec_ensure_partitions('sales.dim_customer', CURRENT_DATE, CURRENT_DATE, 0)": "42501",
        "SELECT * FROM dwh_etl.sec_archive_partition('public.unregistered_parts_p1', CURRENT_DATE)": "42501",
        "SELECT * FROM dwh_etl.sec_archive_partition('sales.fact_sales', CURRENT_DATE)": "42501",
        "SELECT dwh_etl.sec_refresh_mart(NULL)": "42501",
    }
    try:
        for sql, state in refused.items():
            with pytest.raises(psycopg.Error) as excinfo:
                conn.execute(sql)
            assert excinfo.value.sqlstate == state, sql
        # a temp table of the caller's is never a target, whatever its name
        conn.execute("CREATE TEMP TABLE fact_sales (x int)")
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("SELECT dwh_etl.sec_analyze('pg_temp.fact_sales')")
        # a recent partition of a registered table is not archived
        conn.execute("RESET ROLE")
        conn.execute("SELECT dwh_etl.ensure_partitions('sales.fact_sales', CURRENT_DATE, CURRENT_DATE, 0)")
        conn.execute("SET ROLE etl_service")
        month = scalar(conn, "SELECT to_char(CURRENT_DATE, 'YYYYMM')")
        recent = f"sales.fact_sales_p{month}"
        with pytest.raises(errors.InvalidParameterValue):
            conn.execute("SELECT * FROM dwh_etl.sec_archive_partition(%s, CURRENT_DATE)", (recent,))
        assert scalar(conn, "SELECT to_regclass(%s) IS NOT NULL", (recent,))
    finally:
        conn.execute("RESET ROLE")


def test_definer_routines_quote_odd_but_registered_names(conn):
    """Names are quoted from the catalog: a registered mart and partitioned table with quotes, dots and
    semicolons in their names work, and nothing else happens."""
    conn.execute("""
        CREATE MATERIALIZED VIEW sales."odd; mart.""x" AS SELECT 1 AS id;
        CREATE UNIQUE INDEX ON sales."odd; mart.""x" (id);
        CREATE TABLE sales."odd'parts; x" (d integer NOT NULL) PARTITION BY RANGE (d);
        INSERT INTO dwh_etl.table_registry (table_name, layer, area) VALUES
            ('sales."odd; mart.""x"', 'mart', 'sales'), ('sales."odd''parts; x"', 'gold', 'sales');
    """)
    conn.execute("SET ROLE etl_service")
    try:
        assert scalar(conn, """SELECT dwh_etl.sec_refresh_mart('sales."odd; mart.""x"')""") == "refreshed (no reader held it)"
        assert scalar(conn, """SELECT dwh_etl.ensure_partitions('sales."odd''parts; x"', CURRENT_DATE, CURRENT_DATE, 1)""") == 2
        conn.execute("""SELECT dwh_etl.sec_analyze('sales."odd''parts; x"')""")
    finally:
        conn.execute("RESET ROLE")
    assert scalar(conn, """SELECT count(*) FROM pg_inherits WHERE inhparent = 'sales."odd''parts; x"'::regclass""") == 2
    assert scalar(conn, "SELECT to_regclass('sales.dim_customer') IS NOT NULL")


# ---------------------------------------------------------------------------------------------
# The partition window (a bad row dated 0001-01-01 made ensure_partitions run out of shared memory)
# ---------------------------------------------------------------------------------------------

def test_ensure_partitions_refuses_a_range_outside_the_window_and_creates_nothing(conn):
    def count():
        return scalar(conn, "SELECT count(*) FROM pg_inherits WHERE inhparent = 'sales.fact_sales'::regclass")

    before = count()
    for sql in ("SELECT dwh_etl.ensure_partitions('sales.fact_sales', DATE '0001-01-01', CURRENT_DATE, 3)",
                "SELECT dwh_etl.ensure_partitions('sales.fact_sales', DATE '1999-12-31', DATE '2000-01-31', 0)",
                "SELECT dwh_etl.ensure_partitions('sales.fact_sales', CURRENT_DATE, DATE '9999-01-01', 3)",
                "SELECT dwh_etl.ensure_partitions('sales.fact_sales', CURRENT_DATE, CURRENT_DATE + 365 * 2, 3)",
                "SELECT dwh_etl.ensure_partitions('sales.fact_sales', CURRENT_DATE, CURRENT_DATE, 100)",
                "SELECT dwh_etl.ensure_partitions('devflow.fact_performance_metrics', DATE '0001-01-01', CURRENT_DATE, 3)"):
        with pytest.raises(errors.InvalidParameterValue) as excinfo:
            conn.execute(sql)
        assert "outside the allowed window" in excinfo.value.diag.message_primary
        assert "quarantine" in excinfo.value.diag.message_hint
    assert count() == before
    # the window is the owner's setting
    conn.execute("UPDATE dwh_etl.settings SET value = '1999-01-01' WHERE key = 'partitions.min_date'")
    assert scalar(conn, "SELECT dwh_etl.ensure_partitions('sales.fact_sales', DATE '1999-12-31', DATE '2000-01-31', 0)") == 2
    conn.execute("UPDATE dwh_etl.settings SET value = 'soon' WHERE key = 'partitions.max_months_ahead'")
    with pytest.raises(errors.InvalidParameterValue):
        conn.execute("SELECT dwh_etl.ensure_partitions('sales.fact_sales', CURRENT_DATE, CURRENT_DATE, 0)")


# ---------------------------------------------------------------------------------------------
# C. analysts read gold only
# ---------------------------------------------------------------------------------------------

def test_no_relation_the_analyst_can_read_reaches_a_lower_layer(warehouse):
    conn, _ = warehouse
    leaks = rows(conn, f"""
        WITH RECURSIVE lower_schemas (nspname) AS ({LOWER_SCHEMAS_SQL}),
        readable AS (
            SELECT c.oid
            FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
            WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'
              AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
              AND (has_table_privilege('analyst_role', c.oid, 'SELECT')
                   OR has_any_column_privilege('analyst_role', c.oid, 'SELECT'))
        ),
        reads (relid, base, path) AS (
            SELECT r.oid, r.oid, ARRAY[r.oid::regclass::text] FROM readable AS r
            UNION
            SELECT rd.relid, d.refobjid, rd.path || d.refobjid::regclass::text
            FROM reads AS rd
            JOIN pg_rewrite AS rw ON rw.ev_class = rd.base
            JOIN pg_depend AS d ON d.classid = 'pg_rewrite'::regclass AND d.objid = rw.oid
             AND d.refclassid = 'pg_class'::regclass AND d.refobjid <> rd.base
        )
        SELECT array_to_string(r.path, ' -> ')
        FROM reads AS r
        JOIN pg_class AS b ON b.oid = r.base
        JOIN pg_namespace AS bn ON bn.oid = b.relnamespace
        WHERE bn.nspname IN (SELECT nspname FROM lower_schemas)
        ORDER BY 1
    """)
    assert leaks == []
    for schema in [r[0] for r in rows(conn, LOWER_SCHEMAS_SQL)]:
        assert not scalar(conn, "SELECT has_schema_privilege('analyst_role', %s, 'USAGE')", (schema,)), schema


def test_no_routine_the_analyst_can_execute_runs_with_other_rights(warehouse):
    """An invoker routine runs with the analyst's own rights (bounded by the test above); a SECURITY
    DEFINER one could reach any layer, so none may be executable by analyst_role."""
    conn, _ = warehouse
    assert rows(conn, """
        SELECT p.oid::regprocedure::text
        FROM pg_proc AS p JOIN pg_namespace AS n ON n.oid = p.pronamespace
        WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
          AND p.prosecdef
          AND has_function_privilege('analyst_role', p.oid, 'EXECUTE')
    """) == []
    # and the engine's routines are not the analyst's at all
    assert rows(conn, """
        SELECT p.oid::regprocedure::text
        FROM pg_proc AS p JOIN pg_namespace AS n ON n.oid = p.pronamespace
        WHERE n.nspname IN ('dwh_etl', 'dwh_lineage', 'bronze', 'silver', 'dwh_staging', 'sales_src', 'devflow_src')
          AND has_function_privilege('analyst_role', p.oid, 'EXECUTE')
    """) == []


def test_the_analyst_reads_the_star_schemas_and_not_the_lower_layer_views(warehouse, as_analyst):
    conn, _ = warehouse
    conn.execute("RESET ROLE")
    registered = [r[0] for r in rows(conn, """
        SELECT tr.table_name FROM dwh_etl.table_registry AS tr
        WHERE tr.layer IN ('gold', 'mart') AND to_regclass(tr.table_name) IS NOT NULL ORDER BY 1
    """)]
    conn.execute("SET ROLE analyst_role")
    assert {"sales.fact_sales", "sales.dim_customer", "gold.dim_date", "devflow.fact_deployment",
            "devflow.mart_agent_performance", "sales.mv_customer_lifetime_value"} <= set(registered)
    for relation in registered + ["devflow.dim_time", "sales.dwh_fact_sales", "sales.dwh_dim_customers",
                                  "sales.dwh_dim_products", "sales.dwh_dim_date"]:
        conn.execute(f"SELECT count(*) FROM {relation}").fetchone()
    assert scalar(conn, "SELECT count(*) FROM sales.fact_sales") > 0
    for relation in ("sales.mrr_fact_sales", "sales.mrr_dim_customers", "sales.stg_dim_customers",
                     "sales.stg_fact_sales", "sales.sales", "sales.vw_row_counts_by_layer", "sales.etl_logs",
                     "sales.high_water_mark", "devflow._bronze_metric_samples", "devflow._bronze_pull_requests",
                     "bronze.sales_customers", "silver.sales_customers", "sales_src.customers", "dwh_etl.quarantine"):
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute(f"SELECT 1 FROM {relation} LIMIT 1")


def test_the_etl_role_still_reads_the_lower_layer_views(as_etl):
    for relation in ("sales.mrr_fact_sales", "sales.stg_dim_customers", "devflow._bronze_metric_samples",
                     "devflow._bronze_pull_requests"):
        as_etl.execute(f"SELECT 1 FROM {relation} LIMIT 1")


def test_a_new_view_in_an_area_schema_is_not_granted_to_analysts(conn):
    """Default privileges no longer grant analyst_role every new relation of sales / devflow: a view
    created later (as procedures/ files do) is not readable until granted on purpose."""
    conn.execute("CREATE VIEW sales.new_bronze_peek AS SELECT * FROM bronze.sales_customers")
    conn.execute("CREATE VIEW devflow.new_peek AS SELECT * FROM silver.devflow_issues")
    conn.execute("CREATE OR REPLACE VIEW sales.mrr_fact_sales AS SELECT b.* FROM bronze.sales_sales AS b")
    assert rows(conn, """
        SELECT has_table_privilege('analyst_role', 'sales.new_bronze_peek', 'SELECT'),
               has_table_privilege('analyst_role', 'devflow.new_peek', 'SELECT'),
               has_table_privilege('analyst_role', 'sales.mrr_fact_sales', 'SELECT'),
               has_table_privilege('etl_service', 'sales.new_bronze_peek', 'SELECT')
    """) == [(False, False, False, True)]
