"""Library calls behind ``dwh schedule sync | list | remove``: pg_cron jobs of the warehouse's pipelines.

The work is done in SQL (``dwh_etl.schedule_sync``, ``schedule_jobs``, ``schedule_remove``), which reaches
pg_cron in its own database (``cron.database_name``) directly or through dblink; the CLI only connects to
the warehouse database."""

from __future__ import annotations

from typing import Any, Callable

import psycopg
from psycopg.rows import dict_row

from . import interrupt
from .config import connect
from .errors import from_psycopg

Log = Callable[[str], None]

LIST_SQL = """
    SELECT job_name, schedule AS schedule_utc, active, next_run_at, last_start, last_end, last_status,
           last_message, jobid, command
    FROM dwh_etl.sec_schedule_jobs()
    ORDER BY job_name, jobid
"""


def _noop(_msg: str) -> None:
    pass


def _query(conninfo: str, query: str, params: Any = None, on_notice: Log = _noop) -> list[dict]:
    with connect(conninfo, autocommit=True) as conn:
        conn.add_notice_handler(interrupt.notice_callback(lambda d: on_notice(d.message_primary or "")))
        try:
            with conn.cursor(row_factory=dict_row) as cur:
                cur.execute(query, params)
                return cur.fetchall()
        except psycopg.Error as exc:
            raise from_psycopg(exc) from exc


def sync(conninfo: str, on_notice: Log = _noop) -> list[dict]:
    """Make pg_cron's dwh:* jobs match the registry; one row per job: action, job_name, schedule."""
    return _query(conninfo, "SELECT action, job_name, schedule AS schedule_utc FROM dwh_etl.schedule_sync()",
                  on_notice=on_notice)


def list_jobs(conninfo: str) -> list[dict]:
    """The dwh:* jobs of the warehouse database with next run time and last run (cron.job_run_details)."""
    return _query(conninfo, LIST_SQL)


def remove(conninfo: str, pipeline: str | None = None) -> list[dict]:
    """Remove the jobs of ``pipeline`` (every dwh:* job of the database when None)."""
    return _query(conninfo, "SELECT action, job_name, schedule AS schedule_utc FROM dwh_etl.schedule_remove(%s)",
                  (pipeline,))


def counts(rows: list[dict]) -> dict[str, int]:
    out = {"created": 0, "updated": 0, "removed": 0, "unchanged": 0}
    for row in rows:
        out[row["action"]] = out.get(row["action"], 0) + 1
    return out
