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


def connect(conninfo: str, *, autocommit: bool = True, **kwargs) -> psycopg.Connection:
    """Connect, turning every connection failure into ConnectError (exit code 3)."""
    kwargs.setdefault("connect_timeout", CONNECT_TIMEOUT)
    kwargs.setdefault("application_name", "dwh")
    try:
        return psycopg.connect(conninfo, autocommit=autocommit, **kwargs)
    except psycopg.OperationalError as exc:
        msg = str(exc).strip().splitlines()
        # libpq's message may span several lines ("connection to server ... failed: ...").
        text = " ".join(line.strip() for line in msg if line.strip()) or "connection failed"
        raise ConnectError(f"cannot connect to PostgreSQL: {text}",
                           hint="check --dsn / DWH_DSN / PG* variables, or unset them to use "
                                "the embedded cluster (dwh db start)") from None
