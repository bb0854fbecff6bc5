"""Roles and grants of the warehouse, and plpgsql_check over every PL/pgSQL routine of our schemas.

Uses the `conn` fixture of tests/conftest.py (autocommit psycopg connection to a fresh database).
"""

from __future__ import annotations

OUR_SCHEMAS = ("dwh_etl", "dwh_lineage", "sales", "sales_src", "gold")


def rows(conn, sql, params=None):
    return conn.execute(sql, params).fetchall()


def test_warehouse_roles_exist(conn):
    assert rows(conn, """
        SELECT rolname FROM pg_roles WHERE rolname IN ('dwh_owner', 'etl_service', 'analyst_role') ORDER BY 1
    """) == [("analyst_role",), ("dwh_owner",), ("etl_service",)]


def test_no_routine_of_our_schemas_is_executable_by_public(conn):
    # proacl NULL means the default privileges, which include EXECUTE for PUBLIC (grantee 0)
    executable = rows(conn, """
        SELECT p.oid::regprocedure::text
        FROM pg_catalog.pg_proc AS p
        JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace
        WHERE n.nspname = ANY (%s)
          AND (p.proacl IS NULL
               OR EXISTS (SELECT 1 FROM aclexplode(p.proacl) AS a
                          WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE'))
        ORDER BY 1
    """, (list(OUR_SCHEMAS),))
    assert executable == []
    assert rows(conn, """
        SELECT count(*) > 0 FROM pg_catalog.pg_proc AS p
        JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace
        WHERE n.nspname = ANY (%s)
    """, (list(OUR_SCHEMAS),)) == [(True,)]


def test_etl_service_can_execute_the_engine(conn):
    assert rows(conn, """
        SELECT has_function_privilege('etl_service', 'dwh_etl.run_pipeline(text, date, bigint, text)', 'EXECUTE'),
               has_function_privilege('etl_service', 'dwh_lineage.get_upstream(text)', 'EXECUTE'),
               has_function_privilege('analyst_role', 'dwh_etl.run_pipeline(text, date, bigint, text)', 'EXECUTE')
    """) == [(True, True, False)]


def test_analyst_reads_the_star_schema_but_not_the_technical_layers(conn):
    assert rows(conn, """
        SELECT has_schema_privilege('analyst_role', 'sales', 'USAGE'),
               has_table_privilege('analyst_role', 'sales.fact_sales', 'SELECT'),
               has_table_privilege('analyst_role', 'sales.dim_customer', 'SELECT'),
               has_table_privilege('analyst_role', 'gold.dim_date', 'SELECT'),
               has_table_privilege('analyst_role', 'sales.fact_sales', 'INSERT')
    """) == [(True, True, True, True, False)]
    technical = rows(conn, """
        SELECT c.oid::regclass::text
        FROM pg_catalog.pg_class AS c
        JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
        WHERE n.nspname IN ('bronze', 'silver', 'dwh_staging', 'dwh_etl', 'dwh_lineage')
          AND c.relkind IN ('r', 'p', 'v', 'm')
          AND has_table_privilege('analyst_role', c.oid, 'SELECT')
        ORDER BY 1
    """)
    assert technical == []
    assert rows(conn, """
        SELECT has_schema_privilege('analyst_role', 'bronze', 'USAGE'),
               has_schema_privilege('analyst_role', 'silver', 'USAGE'),
               has_table_privilege('analyst_role', 'bronze.sales_customers', 'SELECT'),
               has_table_privilege('analyst_role', 'silver.sales_customers', 'SELECT')
    """) == [(False, False, False, False)]


PLPGSQL_CHECK_SQL = """
    SELECT p.oid::regprocedure::text AS routine, c.lineno, c.statement, c.sqlstate, c.message
    FROM pg_catalog.pg_proc AS p
    JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace
    JOIN pg_catalog.pg_language AS l ON l.oid = p.prolang
    -- a trigger function is checked against (one of) the tables it is attached to
    LEFT JOIN LATERAL (
        SELECT min(t.tgrelid::oid) AS relid FROM pg_catalog.pg_trigger AS t WHERE t.tgfoid = p.oid
    ) AS trg ON true
    CROSS JOIN LATERAL plpgsql_check_function_tb(p.oid, COALESCE(trg.relid, 0), fatal_errors => false) AS c
    WHERE n.nspname = ANY (%s)
      AND l.lanname = 'plpgsql'
      AND (p.prorettype <> 'trigger'::regtype OR trg.relid IS NOT NULL)
      AND c.level = 'error'
    ORDER BY 1, 2
"""


def test_plpgsql_check_finds_no_errors(conn):
    conn.execute("CREATE EXTENSION IF NOT EXISTS plpgsql_check")
    errors = rows(conn, PLPGSQL_CHECK_SQL, (list(OUR_SCHEMAS),))
    message = "\n".join(f"{r[0]} line {r[1]} ({r[2]}) [{r[3]}]: {r[4]}" for r in errors)
    assert errors == [], "plpgsql_check errors:\n" + message


def test_plpgsql_check_finds_no_errors_besides_unknown_temp_tables(conn):
    """Static SQL on a temp table created at run time is reported by plpgsql_check (the table does not
    exist when it checks); every other error is a real defect."""
    conn.execute("CREATE EXTENSION IF NOT EXISTS plpgsql_check")
    errors = [r for r in rows(conn, PLPGSQL_CHECK_SQL, (list(OUR_SCHEMAS),))
              if not (r[3] == "42P01" and r[4].startswith(('relation "_', 'relation "pg_temp._')))]
    message = "\n".join(f"{r[0]} line {r[1]} ({r[2]}) [{r[3]}]: {r[4]}" for r in errors)
    assert errors == [], "plpgsql_check errors:\n" + message
