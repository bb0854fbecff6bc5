"""Library call behind ``dwh info`` (like ``dbt debug``): where dwh is connected and what that server has.

Every section is read independently and never raises for a missing piece: a warehouse not migrated yet,
pg_cron not preloaded or a role without access each show up as a line saying so, with what to do."""

from __future__ import annotations

from typing import Any

import psycopg

from .config import Settings, connect
from .migrate import migrate

WANTED_EXTENSIONS = ("plpgsql", "pg_cron", "dblink", "postgres_fdw", "plpgsql_check")
ROLES = ("dwh_owner", "etl_service", "analyst_role")


def _rows(conn, query: str, params: Any = None) -> list[dict]:
    with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        cur.execute(query, params)
        return cur.fetchall()


def info(settings: Settings, log=lambda _m: None) -> dict:
    explicit = settings.explicit_conninfo()
    conninfo = settings.conninfo(log=log)
    doc: dict[str, Any] = {}
    with connect(conninfo, autocommit=True) as conn:
        pi = conn.info
        doc["connection"] = {
            "source": "option or environment (--dsn, DWH_DSN, PG*)" if explicit is not None
            else "embedded cluster (" + str(settings.cluster().data_dir) + ")",
            "host": pi.host, "port": pi.port, "database": pi.dbname, "user": pi.user,
            "server_version": pi.parameter_status("server_version"),
            "server_time_zone": conn.execute("SELECT current_setting('TimeZone')").fetchone()[0],
            "server_time_utc": conn.execute(
                "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS\"Z\"')").fetchone()[0],
        }
        doc["extensions"] = _rows(conn, """
            SELECT w.name, e.extversion AS installed, a.default_version AS available
            FROM unnest(%s::text[]) WITH ORDINALITY AS w(name, o)
            LEFT JOIN pg_extension AS e ON e.extname = w.name
            LEFT JOIN pg_available_extensions AS a ON a.name = w.name
            ORDER BY w.o""", (list(WANTED_EXTENSIONS),))
        doc["roles"] = _rows(conn, """
            SELECT w.name AS role, r.oid IS NOT NULL AS exists,
                   COALESCE(r.rolcanlogin, false) AS can_login,
                   r.oid IS NOT NULL AND pg_has_role(current_user, r.oid, 'MEMBER') AS current_user_member
            FROM unnest(%s::text[]) WITH ORDINALITY AS w(name, o)
            LEFT JOIN pg_roles AS r ON r.rolname = w.name
            ORDER BY w.o""", (list(ROLES),))
        migrated = conn.execute("SELECT to_regclass('dwh_etl.areas') IS NOT NULL").fetchone()[0]
        if conn.execute("SELECT to_regproc('dwh_etl._cron_health') IS NOT NULL").fetchone()[0]:
            try:
                doc["pg_cron"] = _rows(conn, "SELECT item, ok, detail FROM dwh_etl._cron_health()")
            except psycopg.Error as exc:
                doc["pg_cron"] = [{"item": "health", "ok": False, "detail": str(exc).splitlines()[0]}]
        else:
            doc["pg_cron"] = [{"item": "health", "ok": False, "detail": "not migrated yet: run dwh migrate"}]
        if migrated:
            try:
                doc["areas"] = _rows(conn, """
                    SELECT a.area, a.description,
                           (SELECT count(*) FROM dwh_etl.steps AS s WHERE s.area = a.area) AS steps,
                           (SELECT count(*) FROM dwh_etl.table_registry AS t WHERE t.area = a.area) AS tables
                    FROM dwh_etl.areas AS a ORDER BY a.area""")
            except psycopg.Error as exc:
                doc["areas"] = [{"area": None, "description": str(exc).splitlines()[0]}]
    try:
        pending = migrate(conninfo, dry_run=True)
        doc["migrations"] = {
            "applied": pending.migrations_total - len(pending.migrations_applied),
            "total": pending.migrations_total,
            "pending": pending.migrations_applied,
            "procedure_files_pending": len(pending.procedures_applied),
            "up_to_date": pending.up_to_date,
        }
    except Exception as exc:  # a role that may not read yoyo's tables still gets the rest of the report
        doc["migrations"] = {"error": str(exc).splitlines()[0] if str(exc) else type(exc).__name__}
    return doc
