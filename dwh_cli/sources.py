"""``dwh source add | list | status | remove | pull``: operational PostgreSQL databases attached as
sources. Each command is one call of a SQL routine (procedures/dwh_etl/source_*.sql), which a DBA can
make from psql as well; this module only connects, passes the arguments and prints.

The source's connection string is passed as a bound parameter (never inlined in SQL text, so it is not
in pg_stat_activity or the server log) and is never printed: the warehouse keeps it only in the
subscription or the user mapping."""

from __future__ import annotations

import psycopg
from psycopg.rows import dict_row

from .config import connect
from .errors import DwhError, from_psycopg


def with_password(dsn: str, password: str | None) -> str:
    """``dsn`` with ``password`` added (for --password-stdin: no password on the command line)."""
    if not password:
        return dsn
    try:
        params = psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError as exc:
        raise DwhError("the source's connection string is not valid",
                       hint="keyword=value pairs (host=... dbname=... user=...) or a postgresql:// URI") from exc
    params["password"] = password
    return psycopg.conninfo.make_conninfo(**params)


def check_dsn(dsn: str) -> None:
    try:
        psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        # libpq's message may quote the string, password and all: say what is wrong without it
        raise DwhError("the source's connection string is not valid",
                       hint="keyword=value pairs (host=... dbname=... user=...) or a postgresql:// URI") from None


def add_source(conninfo: str, name: str, dsn: str, into: str, schema: str, tables: list[str] | None,
               mode: str, area: str | None, change_column: str, notice=None) -> dict:
    check_dsn(dsn)
    with connect(conninfo) as conn:
        if notice:
            conn.add_notice_handler(lambda d: notice(f"{d.severity.lower()}: {d.message_primary}"))
        try:
            conn.execute("CALL dwh_etl.source_add(p_name => %s, p_conninfo => %s, p_into => %s, p_schema => %s, "
                         "p_tables => %s, p_mode => %s, p_area => %s, p_change_column => %s)",
                         (name, dsn, into, schema, tables, mode, area, change_column))
        except psycopg.Error as exc:
            raise from_psycopg(exc, prefix=None) from None
    return {"source": name, "mode": mode, "into": into, "schema": schema, "area": area}


def list_sources(conninfo: str) -> list[dict]:
    with connect(conninfo) as conn, conn.cursor(row_factory=dict_row) as cur:
        try:
            cur.execute("""
                SELECT s.source_name AS source, s.mode, s.remote, s.remote_schema AS schema,
                       array_to_string(s.tables, ',') AS tables, s.into_schema AS into, s.area,
                       s.landing_schema AS landing, s.created_at
                FROM dwh_etl.sources AS s
                ORDER BY s.source_name""")
            return cur.fetchall()
        except psycopg.Error as exc:
            raise from_psycopg(exc) from None


def source_status(conninfo: str, check_remote: bool = True) -> list[dict]:
    with connect(conninfo) as conn, conn.cursor(row_factory=dict_row) as cur:
        try:
            cur.execute("SELECT * FROM dwh_etl.source_status(p_check_remote => %s)", (check_remote,))
            return cur.fetchall()
        except psycopg.Error as exc:
            raise from_psycopg(exc) from None


def remove_source(conninfo: str, name: str, drop_tables: bool, notice=None) -> None:
    with connect(conninfo) as conn:
        if notice:
            conn.add_notice_handler(lambda d: notice(f"{d.severity.lower()}: {d.message_primary}"
                                                     + (f"\nhint: {d.message_hint}" if d.message_hint else "")))
        try:
            conn.execute("CALL dwh_etl.source_remove(%s, %s)", (name, drop_tables))
        except psycopg.Error as exc:
            raise from_psycopg(exc) from None


def pull_source(conninfo: str, name: str) -> int:
    with connect(conninfo) as conn:
        try:
            return conn.execute("SELECT dwh_etl.sec_source_pull(%s)", (name,)).fetchone()[0]
        except psycopg.Error as exc:
            raise from_psycopg(exc) from None
