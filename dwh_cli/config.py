"""Where things are and how to connect.

Connection precedence: ``--dsn`` > ``DWH_DSN`` > libpq environment (PGHOST, PGPORT, PGDATABASE, PGUSER,
PGSERVICE: an empty conninfo lets libpq read them) > the embedded cluster (started on demand).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import psycopg

from .errors import ConnectError

LIBPQ_ENV = ("PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGSERVICE")
DEFAULT_PORT = 54329
CONNECT_TIMEOUT = 10


def dwh_home() -> Path:
    """The folder holding ``migrations/`` and ``procedures/`` (``DWH_HOME`` overrides the checkout)."""
    env = os.environ.get("DWH_HOME")
    if env:
        return Path(env).resolve()
    return Path(__file__).resolve().parent.parent


@dataclass
class Settings:
    dsn: str | None = None  # --dsn
    data_dir: str | None = None  # --data-dir

    def explicit_conninfo(self) -> str | None:
        """The conninfo configured by option or environment, or None when the embedded cluster applies."""
        if self.dsn:
            return self.dsn
        env = os.environ.get("DWH_DSN")
        if env:
            return env
        if any(os.environ.get(name) for name in LIBPQ_ENV):
            return ""
        return None

    def cluster(self):
        from .embedded import Cluster

        return Cluster.from_env(self.data_dir)

    def conninfo(self, log: Callable[[str], None] = lambda _m: None) -> str:
        """Resolve the conninfo, starting the embedded cluster when nothing else is configured."""
        explicit = self.explicit_conninfo()
        if explicit is not None:
            return explicit
        cluster = self.cluster()
        cluster.ensure_running(log=log)
        return cluster.conninfo()


# Session settings every CLI connection pins, whatever PGDATESTYLE, PGTZ, PGCLIENTENCODING, PGOPTIONS or a
# service file say (issue 9: under PGDATESTYLE='SQL, DMY' psycopg could not parse the dates of
# `dwh run --json` and crashed with a traceback; under PGTZ the CLI printed local times). libpq sends
# PGDATESTYLE/PGTZ as startup parameters, which override an `options` conninfo, so they are SET right after
# connecting. Other settings from PGOPTIONS (statement_timeout, ...) are left alone.
SESSION_SETTINGS = {
    "DateStyle": "ISO, MDY",
    "IntervalStyle": "postgres",
    "TimeZone": "UTC",
    "extra_float_digits": "3",
}
PIN_SQL = "SELECT " + ", ".join(f"set_config('{k}', '{v}', false)" for k, v in SESSION_SETTINGS.items())


def pin_session(conn: psycopg.Connection) -> None:
    """Apply SESSION_SETTINGS on an open connection (kept across transactions)."""
    autocommit = conn.autocommit
    if not autocommit:
        conn.commit()
        conn.autocommit = True
    try:
        conn.execute(PIN_SQL)
    finally:
        conn.autocommit = autocommit


def describe_target(conninfo: str) -> tuple[str, str]:
    """(detail, hint) for a failed connection: the server that was tried (host, port, database, user:
    never a password) and where each came from, then how to fix it or use the embedded cluster."""
    try:
        given = psycopg.conninfo.conninfo_to_dict(conninfo)
    except psycopg.Error:
        given = {}
    defaults = {o.keyword.decode(): (o.val or o.compiled or b"").decode(errors="replace")
                for o in psycopg.pq.Conninfo.get_defaults()}
    env = {"host": "PGHOST", "port": "PGPORT", "dbname": "PGDATABASE", "user": "PGUSER"}
    parts = []
    for key in ("host", "port", "dbname", "user"):
        value = given.get(key) or defaults.get(key) or ""
        if key == "host" and not value:
            value = "(libpq's default unix socket directory)"
        if key == "dbname" and not value:
            value = given.get("user") or defaults.get("user") or "(your user name)"
        parts.append(f"{key}={value}")
    env_set = [name for name in LIBPQ_ENV if os.environ.get(name)]
    sources = []
    if os.environ.get("DWH_DSN") and conninfo == os.environ["DWH_DSN"]:
        sources.append("DWH_DSN")
    elif conninfo:
        sources.append("--dsn")
    sources += env_set
    detail = "tried " + " ".join(parts) + (" (from " + ", ".join(sources) + ")" if sources else "")
    if env_set and not conninfo:
        unset = " ".join(env_set)
        hint = (f"{', '.join(env_set)} {'is' if len(env_set) == 1 else 'are'} set, so dwh connects to that "
                f"server instead of its embedded cluster: start that server (or fix the variables), or "
                f"run `unset {unset}` to use the embedded cluster (dwh db start; dwh info shows the connection)")
    else:
        hint = ("check --dsn / DWH_DSN / PG* variables, or unset them to use the embedded cluster "
                "(dwh db start; dwh info shows the connection)")
    return detail, hint


def connect(conninfo: str, *, autocommit: bool = True, **kwargs) -> psycopg.Connection:
    """Connect with pinned session settings, turning every connection failure into ConnectError (exit
    code 3). The connection's running query is cancelled on Ctrl-C (interrupt.py)."""
    from . import interrupt

    kwargs.setdefault("connect_timeout", CONNECT_TIMEOUT)
    kwargs.setdefault("application_name", "dwh")
    # an explicit conninfo parameter beats PGCLIENTENCODING: psycopg decodes what the server sends in it
    kwargs.setdefault("client_encoding", "UTF8")
    try:
        conn = psycopg.connect(conninfo, autocommit=autocommit, **kwargs)
    except psycopg.OperationalError as exc:
        interrupt.check()  # Ctrl-C while connecting is an interrupt, not a connection error
        msg = str(exc).strip().splitlines()
        # libpq's message may span several lines ("connection to server ... failed: ...").
        text = " ".join(line.strip() for line in msg if line.strip()) or "connection failed"
        detail, hint = describe_target(conninfo)
        raise ConnectError(f"cannot connect to PostgreSQL: {text}", detail=detail, hint=hint) from None
    try:
        interrupt.register(conn)
        interrupt.check()
        pin_session(conn)
    except BaseException:
        conn.close()
        raise
    return conn
