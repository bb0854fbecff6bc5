"""Roles and grants of the warehouse, and plpgsql_check over every PL/pgSQL routine of its schemas.

The schemas are learned from the registry, not listed here (a list missed devflow and devflow_src, where
plpgsql_check found 12 errors): dwh_etl and dwh_lineage, every schema holding a table of
dwh_etl.table_registry or a landing/target schema of dwh_etl.sources, and every schema of a step's
procedure in dwh_etl.steps. System schemas, extension schemas and the routines of extensions (dblink and
postgres_fdw in dwh_remote, btree_gist and plpgsql_check in public) are not ours and are left out.

Uses the `conn` fixture of tests/conftest.py (autocommit psycopg connection to a fresh database).
"""

from __future__ import annotations

import pytest

# the schemas the warehouse knows, from its registry (dwh_etl.table_registry, dwh_etl.sources, dwh_etl.steps)
KNOWN_SCHEMAS_SQL = """
    WITH named (nspname) AS (
        SELECT 'dwh_etl'
        UNION SELECT 'dwh_lineage'
        UNION SELECT (parse_ident(r.table_name))[1] FROM dwh_etl.table_registry AS r
        UNION SELECT s.landing_schema FROM dwh_etl.sources AS s
        UNION SELECT s.into_schema FROM dwh_etl.sources AS s
        UNION SELECT (parse_ident(st.procedure_name))[1] FROM dwh_etl.steps AS st
    )
    SELECT n.nspname
    FROM named
    JOIN pg_catalog.pg_namespace AS n ON n.nspname = named.nspname
    WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND left(n.nspname, 3) <> 'pg_'
      AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend AS d
                      WHERE d.classid = 'pg_catalog.pg_namespace'::regclass AND d.objid = n.oid AND d.deptype = 'e')
    ORDER BY 1
"""

# a routine that belongs to an extension (dwh_remote's dblink and postgres_fdw, public's btree_gist, ...)
NOT_AN_EXTENSION_MEMBER = """NOT EXISTS (
          SELECT 1 FROM pg_catalog.pg_depend AS d
          WHERE d.classid = 'pg_catalog.pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')"""


def rows(conn, sql, params=None):
    return conn.execute(sql, params).fetchall()


@pytest.fixture
def our_schemas(conn) -> list[str]:
    return [r[0] for r in rows(conn, KNOWN_SCHEMAS_SQL)]


def checked(schemas) -> str:
    return "schemas checked (learned from the registry): " + ", ".join(schemas)


def test_the_checked_schemas_are_learned_from_the_registry(conn, our_schemas):
    # at least the engine and both areas with their sources; no system or extension schema
    assert {"dwh_etl", "dwh_lineage", "gold", "sales", "sales_src", "devflow", "devflow_src",
            "bronze", "silver"} <= set(our_schemas), checked(our_schemas)
    assert not {"pg_catalog", "information_schema", "public", "dwh_remote"} & set(our_schemas), checked(our_schemas)
    # no routine of ours lives in a schema the registry does not know (it would escape the checks below)
    unknown = rows(conn, f"""
        SELECT p.oid::regprocedure::text
        FROM pg_catalog.pg_proc AS p
        JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace
        WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND left(n.nspname, 3) <> 'pg_'
          AND n.nspname <> ALL (%s)
          AND {NOT_AN_EXTENSION_MEMBER}
        ORDER BY 1
    """, (our_schemas,))
    assert unknown == [], checked(our_schemas)


def test_a_newly_registered_area_is_checked(conn):
    conn.execute("CREATE EXTENSION IF NOT EXISTS plpgsql_check")
    conn.execute("CREATE SCHEMA toyarea")
    conn.execute("CREATE TABLE toyarea.dim_agent (agent_id bigint)")
    conn.execute("""
        CREATE FUNCTION toyarea.broken() RETURNS bigint LANGUAGE plpgsql AS $$
        BEGIN
            RETURN (SELECT count(*) FROM toyarea.no_such_table);
        END;
        $$""")
    assert "toyarea" not in [r[0] for r in rows(conn, KNOWN_SCHEMAS_SQL)]

    conn.execute("""CALL dwh_etl.register_tables(p_area => 'toyarea',
                                                 p_tables => '[{"table": "toyarea.dim_agent", "layer": "gold"}]')""")

    schemas = [r[0] for r in rows(conn, KNOWN_SCHEMAS_SQL)]
    assert "toyarea" in schemas
    assert [(r[0], r[3]) for r in rows(conn, PLPGSQL_CHECK_SQL, (schemas, ["error"]))
            if r[0].startswith("toyarea.")] == [("toyarea.broken()", "42P01")]


def test_warehouse_roles_exist(conn):
    assert rows(conn, """
        SELECT rolname FROM pg_roles WHERE rolname IN ('dwh_owner', 'etl_service', 'analyst_role') ORDER BY 1
    """) == [("analyst_role",), ("dwh_owner",), ("etl_service",)]


def test_no_routine_of_our_schemas_is_executable_by_public(conn, our_schemas):
    # proacl NULL means the default privileges, which include EXECUTE for PUBLIC (grantee 0)
    executable = rows(conn, f"""
        SELECT p.oid::regprocedure::text
        FROM pg_catalog.pg_proc AS p
        JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace
        WHERE n.nspname = ANY (%s)
          AND {NOT_AN_EXTENSION_MEMBER}
          AND (p.proacl IS NULL
               OR EXISTS (SELECT 1 FROM aclexplode(p.proacl) AS a
                          WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE'))
        ORDER BY 1
    """, (our_schemas,))
    assert executable == [], checked(our_schemas)
    # every schema that holds routines has them checked: the engine's and both areas' and their sources'
    assert {r[0] for r in rows(conn, """
        SELECT DISTINCT n.nspname FROM pg_catalog.pg_proc AS p
        JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace
        WHERE n.nspname = ANY (%s)
    """, (our_schemas,))} >= {"dwh_etl", "dwh_lineage", "sales", "sales_src", "devflow", "devflow_src"}


def test_etl_service_can_execute_the_engine(conn):
    assert rows(conn, """
        SELECT has_function_privilege('etl_service', 'dwh_etl.run_pipeline(text, date, bigint, text)', 'EXECUTE'),
               has_function_privilege('etl_service', 'dwh_lineage.get_upstream(text)', 'EXECUTE'),
               has_function_privilege('analyst_role', 'dwh_etl.run_pipeline(text, date, bigint, text)', 'EXECUTE')
    """) == [(True, True, False)]


def test_analyst_reads_the_star_schema_but_not_the_technical_layers(conn, our_schemas):
    assert rows(conn, """
        SELECT has_schema_privilege('analyst_role', 'sales', 'USAGE'),
               has_table_privilege('analyst_role', 'sales.fact_sales', 'SELECT'),
               has_table_privilege('analyst_role', 'sales.dim_customer', 'SELECT'),
               has_table_privilege('analyst_role', 'gold.dim_date', 'SELECT'),
               has_table_privilege('analyst_role', 'sales.fact_sales', 'INSERT')
    """) == [(True, True, True, True, False)]
    # technical: the engine's schemas and every schema holding a registered source, bronze or silver table
    technical_schemas = [r[0] for r in rows(conn, """
        SELECT 'dwh_staging' UNION SELECT 'dwh_etl' UNION SELECT 'dwh_lineage'
        UNION SELECT (parse_ident(r.table_name))[1] FROM dwh_etl.table_registry AS r
        WHERE r.layer IN ('source', 'bronze', 'silver')
        ORDER BY 1
    """)]
    assert {"bronze", "silver", "sales_src", "devflow_src"} <= set(technical_schemas)
    assert set(technical_schemas) <= set(our_schemas) | {"dwh_staging"}, checked(our_schemas)
    technical = rows(conn, """
        SELECT c.oid::regclass::text
        FROM pg_catalog.pg_class AS c
        JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
        WHERE n.nspname = ANY (%s)
          AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
          AND has_table_privilege('analyst_role', c.oid, 'SELECT')
        ORDER BY 1
    """, (technical_schemas,))
    assert technical == [], "technical schemas: " + ", ".join(technical_schemas)
    # and every registered gold or mart table is readable
    assert rows(conn, """
        SELECT r.table_name FROM dwh_etl.table_registry AS r
        WHERE r.layer IN ('gold', 'mart') AND NOT has_table_privilege('analyst_role', r.table_name, 'SELECT')
        ORDER BY 1
    """) == []
    assert rows(conn, """
        SELECT has_schema_privilege('analyst_role', 'bronze', 'USAGE'),
               has_schema_privilege('analyst_role', 'silver', 'USAGE'),
               has_table_privilege('analyst_role', 'bronze.sales_customers', 'SELECT'),
               has_table_privilege('analyst_role', 'silver.sales_customers', 'SELECT')
    """) == [(False, False, False, False)]


# c.level: 'error', 'warning' (unused variable, implicit cast on assignment, ...), 'warning extra'
# (never read variable, unused parameter), 'performance'. Parameters (p_run_id, p_run_date) are the
# step contract and may go unused; every other warning is a defect like an error.
PLPGSQL_CHECK_SQL = f"""
    SELECT p.oid::regprocedure::text AS routine, c.lineno, c.statement, c.sqlstate, c.message, c.level
    FROM pg_catalog.pg_proc AS p
    JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace
    JOIN pg_catalog.pg_language AS l ON l.oid = p.prolang
    -- a trigger function is checked against (one of) the tables it is attached to; one attached only at
    -- run time (the SCD trigger API of enable_scd_triggers, source_add's tombstones) against the first
    -- registered dimension table
    LEFT JOIN LATERAL (
        SELECT COALESCE(
            (SELECT min(t.tgrelid::oid) FROM pg_catalog.pg_trigger AS t WHERE t.tgfoid = p.oid),
            (SELECT to_regclass(d.target_table)::oid FROM dwh_etl.dimension_specs AS d
             ORDER BY d.dimension_name LIMIT 1)) AS relid
        WHERE p.prorettype = 'trigger'::regtype
    ) AS trg ON true
    CROSS JOIN LATERAL plpgsql_check_function_tb(p.oid, COALESCE(trg.relid, 0), fatal_errors => false,
                                                 extra_warnings => true) AS c
    WHERE n.nspname = ANY (%s)
      AND l.lanname = 'plpgsql'
      AND {NOT_AN_EXTENSION_MEMBER}
      AND c.level = ANY (%s)
      AND c.message NOT LIKE 'unused parameter %%'
    ORDER BY 1, 2
"""


def report(findings, schemas) -> str:
    return "\n".join([checked(schemas)] + [f"{r[0]} line {r[1]} ({r[2]}) [{r[3]}] {r[5]}: {r[4]}" for r in findings])


def test_no_parallel_safe_routine_has_an_exception_block(conn, our_schemas):
    """A PL/pgSQL routine with an EXCEPTION block starts a subtransaction; a parallel query cannot, and
    fails with "cannot start subtransactions during a parallel operation" once the planner picks a
    parallel plan (large data only: the citizen demo at its default scale hit it with citizen._ip_network).
    Such routines must be PARALLEL UNSAFE."""
    assert rows(conn, f"""
        SELECT p.oid::regprocedure::text
        FROM pg_catalog.pg_proc AS p
        JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace
        JOIN pg_catalog.pg_language AS l ON l.oid = p.prolang
        WHERE n.nspname = ANY (%s)
          AND {NOT_AN_EXTENSION_MEMBER}
          AND l.lanname = 'plpgsql'
          AND p.proparallel IN ('s', 'r')
          AND p.prosrc ~* '\\mexception\\M'
        ORDER BY 1
    """, (our_schemas,)) == [], checked(our_schemas)


def test_plpgsql_check_finds_no_errors(conn, our_schemas):
    conn.execute("CREATE EXTENSION IF NOT EXISTS plpgsql_check")
    errors = rows(conn, PLPGSQL_CHECK_SQL, (our_schemas, ["error"]))
    assert errors == [], "plpgsql_check errors:\n" + report(errors, our_schemas)


def test_plpgsql_check_finds_no_errors_besides_unknown_temp_tables(conn, our_schemas):
    """Static SQL on a temp table created at run time is reported by plpgsql_check (the table does not
    exist when it checks) unless a PRAGMA:TABLE declares it; every other error is a real defect."""
    conn.execute("CREATE EXTENSION IF NOT EXISTS plpgsql_check")
    errors = [r for r in rows(conn, PLPGSQL_CHECK_SQL, (our_schemas, ["error"]))
              if not (r[3] == "42P01" and r[4].startswith(('relation "_', 'relation "pg_temp._')))]
    assert errors == [], "plpgsql_check errors:\n" + report(errors, our_schemas)


def test_plpgsql_check_finds_no_warnings(conn, our_schemas):
    """Unused and never-read variables, assignments converted through text: dead code or a slip."""
    conn.execute("CREATE EXTENSION IF NOT EXISTS plpgsql_check")
    warnings = rows(conn, PLPGSQL_CHECK_SQL, (our_schemas, ["warning", "warning extra"]))
    assert warnings == [], "plpgsql_check warnings:\n" + report(warnings, our_schemas)
