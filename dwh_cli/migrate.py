"""``dwh migrate``: yoyo migrations from ``migrations/``, then changed files from ``procedures/``.

The whole operation holds a session-level advisory lock, so concurrent migrates run one after the other.
"""

from __future__ import annotations

import contextlib
import hashlib
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable
from urllib.parse import urlencode

import psycopg

from .config import connect, dwh_home, pin_session
from .errors import DwhError, from_psycopg

LOCK_KEY = "dwh:migrate"

# Both connections of a migrate resolve unqualified names in public only, whatever the client's
# PGOPTIONS ('-c search_path=...'), the role's or the database's default search_path, or a schema named
# after the user ("$user") say: yoyo's bookkeeping tables are found (and on a new database made) in
# public, so an existing warehouse is never taken for an empty one (migration 0001 applied again).
SEARCH_PATH = "public"

# yoyo's bookkeeping tables (_yoyo_migration, _yoyo_log, _yoyo_version, yoyo_lock) stay in the
# database's default schema (public). yoyo's postgres backend does support `?schema=`, but it
# implements it as `SET search_path TO <schema>` for the whole session, which would also change where
# every unqualified name inside the migrations resolves: not clean, so we don't use it.

ENSURE_APPLIED_CODE = """
CREATE SCHEMA IF NOT EXISTS dwh_etl;
CREATE TABLE IF NOT EXISTS dwh_etl.applied_code (
    path       text        PRIMARY KEY,
    sha256     text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
"""


@dataclass
class ProcedureFile:
    path: str  # relative to the dwh home, e.g. procedures/dwh_etl/runner/run_pipeline.sql
    file: Path
    sha256: str


@dataclass
class MigrateResult:
    migrations_applied: list[str] = field(default_factory=list)
    procedures_applied: list[str] = field(default_factory=list)
    migrations_total: int = 0
    procedures_total: int = 0
    dry_run: bool = False

    @property
    def up_to_date(self) -> bool:
        return not self.migrations_applied and not self.procedures_applied

    def as_dict(self) -> dict:
        return {"dry_run": self.dry_run, "migrations": self.migrations_applied,
                "procedures": self.procedures_applied, "migrations_total": self.migrations_total,
                "procedures_total": self.procedures_total, "up_to_date": self.up_to_date}


def _noop(_msg: str) -> None:
    pass


def read_procedure_files(home: Path | None = None, log: Callable[[str], None] = _noop) -> list[ProcedureFile]:
    """The files of ``procedures/`` in apply order: folders as listed in ``procedures/ORDER``; within a
    folder its own ``*.sql`` sorted by name, then those of its subfolders (any depth, e.g.
    ``dwh_etl/runner/``), sorted by path. A subfolder may also be listed on its own to apply it earlier."""
    home = home or dwh_home()
    proc_dir = home / "procedures"
    order_file = proc_dir / "ORDER"
    if not order_file.exists():
        if proc_dir.exists() and any(proc_dir.rglob("*.sql")):
            raise DwhError(f"{order_file} is missing",
                           hint="list the folders of procedures/ in apply order, one per line")
        return []
    folders: list[str] = []
    for raw in order_file.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            folders.append(line.strip("/"))
    files: list[ProcedureFile] = []
    seen: set[Path] = set()
    for folder in folders:
        fdir = proc_dir / folder
        if not fdir.is_dir():
            raise DwhError(f"procedures/ORDER lists {folder!r}, but {fdir} is not a folder")
        in_folder = sorted(fdir.rglob("*.sql"),
                           key=lambda p: (len(p.relative_to(fdir).parts) > 1, p.relative_to(fdir).as_posix()))
        for f in in_folder:
            if f in seen:
                continue
            seen.add(f)
            data = f.read_bytes()
            files.append(ProcedureFile(path=f.relative_to(home).as_posix(), file=f,
                                       sha256=hashlib.sha256(data).hexdigest()))
    listed = {f.split("/", 1)[0] for f in folders}
    for sub in sorted(p for p in proc_dir.iterdir() if p.is_dir()):
        if sub.name not in listed and any(sub.rglob("*.sql")):
            log(f"warning: procedures/{sub.name}/ is not listed in procedures/ORDER and is not applied")
    return files


def yoyo_uri(conn: psycopg.Connection) -> str:
    """A ``postgresql+psycopg://`` URI for yoyo with the parameters of an open connection.

    Everything goes into the query string (yoyo passes it to psycopg.connect as keywords), which also
    covers unix-socket hosts (``host=/path``) and whatever libpq took from the environment."""
    info = conn.info
    params = {k: v for k, v in info.get_parameters().items() if v}
    params["host"] = info.host
    params["port"] = str(info.port)
    params["dbname"] = info.dbname
    params["user"] = info.user
    if info.password:
        params["password"] = info.password
    params.pop("application_name", None)
    # last -c wins: the pinned search_path overrides one from PGOPTIONS
    params["options"] = (params.get("options", "") + f" -c search_path={SEARCH_PATH}").strip()
    return "postgresql+psycopg://?" + urlencode(params)


def _check_may_migrate(conn: psycopg.Connection) -> None:
    """README "Roles": a superuser or the owner of the database migrates. Anyone else gets one clear
    refusal (instead of yoyo's "permission denied for table yoyo_lock"), for a dry run too."""
    user, db, may = conn.execute(
        "SELECT current_user, current_database(),"
        "       (SELECT r.rolsuper FROM pg_catalog.pg_roles AS r WHERE r.rolname = current_user)"
        "       OR pg_catalog.pg_has_role(current_user, d.datdba, 'MEMBER')"
        " FROM pg_catalog.pg_database AS d WHERE d.datname = current_database()").fetchone()
    if not may:
        raise DwhError(f"dwh migrate needs a superuser or the owner of database {db}; connected as {user}",
                       hint="connect as the warehouse's owner (--dsn '... user=<owner>'); etl_service and "
                            "analyst_role logins run and read the warehouse, they do not migrate it "
                            "(dwh info lists pending migrations)")


@contextlib.contextmanager
def advisory_lock(conn: psycopg.Connection, log: Callable[[str], None]):
    got = conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (LOCK_KEY,)).fetchone()[0]
    if not got:
        log("waiting for another dwh migrate to finish ...")
        conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (LOCK_KEY,))
    try:
        yield
    finally:
        if not conn.closed:
            conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (LOCK_KEY,))


RUN_WAIT = 600.0  # seconds a migrate waits for a running run (dwh migrate --wait)


def _lock_holder(conn: psycopg.Connection, key: int) -> str:
    """Who holds the session-level advisory lock `key` (a bigint key: classid = high, objid = low half)."""
    row = conn.execute(
        "SELECT a.pid, a.usename, a.application_name, a.state, a.state_change"
        " FROM pg_catalog.pg_locks AS l JOIN pg_catalog.pg_stat_activity AS a ON a.pid = l.pid"
        " WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM pg_catalog.pg_database"
        "       WHERE datname = current_database())"
        "   AND l.objsubid = 1 AND l.classid = ((%(k)s::bigint >> 32) & 4294967295)::bigint::oid"
        "   AND l.objid = (%(k)s::bigint & 4294967295)::bigint::oid AND l.pid <> pg_backend_pid() LIMIT 1",
        {"k": key}).fetchone()
    if row is None:
        return "a session"
    pid, user, app, state, since = row
    return f"pid {pid} ({user}{', ' + app if app else ''}, {state} since {since:%Y-%m-%d %H:%M:%S %Z})"


@contextlib.contextmanager
def run_locks(conn: psycopg.Connection, log: Callable[[str], None], wanted: bool = True,
              wait: float = RUN_WAIT):
    """While something is to apply: the run lock of every registered pipeline (the session-level advisory
    lock dwh_etl.run_steps takes for a run, and rebuild and restate for theirs), taken in name order,
    waiting for a running run to end. A migration's DDL on the tables a run writes deadlocked with it
    (one of them was aborted: "migration 0065_run_records_guard failed: deadlock detected"), and a run
    went on half on the old routines, half on the new; a run that starts meanwhile is refused (DW002,
    exit 5; a scheduled one records `skipped`)."""
    keys: list[tuple[str, int]] = []
    if wanted and conn.execute("SELECT to_regprocedure('dwh_etl._run_lock_key(text)') IS NOT NULL"
                               " AND to_regclass('dwh_etl.pipelines') IS NOT NULL").fetchone()[0]:
        keys = conn.execute("SELECT pipeline_name, dwh_etl._run_lock_key(pipeline_name) FROM dwh_etl.pipelines"
                            " ORDER BY pipeline_name").fetchall()
    taken: list[int] = []
    try:
        for name, key in keys:
            if not conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0]:
                log(f"waiting for the running {name} run to end ({_lock_holder(conn, key)}; up to {wait:g} s) ...")
                # polled, not pg_advisory_lock: a statement waiting all along would be an open transaction
                # of this database, and dwh_etl.safe_upper_bound would end the run's windows at its start
                # (the rows after it deferred to the next run). Bounded: a session that keeps the lock
                # (a run called in a transaction left open) would keep `dwh migrate` and `dwh demo` waiting.
                deadline = time.monotonic() + wait
                while not conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0]:
                    if time.monotonic() >= deadline:
                        raise DwhError(
                            f"a {name} run is still running after {wait:g} s: nothing was migrated "
                            f"(its run lock is held by {_lock_holder(conn, key)})",
                            hint="wait for it to end and migrate again, or dwh cancel; a session left idle in "
                                 "a transaction keeps the lock until it ends (pg_terminate_backend(pid)); "
                                 "dwh migrate --wait SECONDS waits longer")
                    time.sleep(0.2)
            taken.append(key)
        yield
    finally:
        if not conn.closed:
            for key in taken:
                with contextlib.suppress(psycopg.Error):
                    conn.execute("SELECT pg_advisory_unlock(%s)", (key,))


def migrate(conninfo: str, dry_run: bool = False, force: bool = False,
            log: Callable[[str], None] = _noop, home: Path | None = None,
            wait: float = RUN_WAIT) -> MigrateResult:
    """Apply pending migrations, then the procedure files whose hash changed (all with ``force``).

    ``log`` receives progress lines (the CLI sends them to stderr)."""
    home = home or dwh_home()
    mig_dir = home / "migrations"
    if not mig_dir.is_dir():
        raise DwhError(f"migrations folder not found: {mig_dir}", hint="set DWH_HOME to the dwh checkout")
    proc_files = read_procedure_files(home, log)
    result = MigrateResult(dry_run=dry_run, procedures_total=len(proc_files))
    conn = connect(conninfo, autocommit=True, application_name="dwh migrate")
    try:
        conn.execute("SELECT pg_catalog.set_config('search_path', %s, false)", (SEARCH_PATH,))
        _check_may_migrate(conn)
        with advisory_lock(conn, log):
            if dry_run:
                _apply_migrations(conn, mig_dir, True, log, result)
                _apply_procedures(conn, proc_files, True, force, log, result)
                return result
            probe = MigrateResult(dry_run=True)
            _apply_migrations(conn, mig_dir, True, log, probe)
            _apply_procedures(conn, proc_files, True, force, log, probe)
            with run_locks(conn, log, wanted=not probe.up_to_date, wait=wait):
                _apply_migrations(conn, mig_dir, False, log, result)
                _apply_procedures(conn, proc_files, False, force, log, result)
    except psycopg.Error as exc:
        raise from_psycopg(exc) from exc
    finally:
        conn.close()
    return result


def _apply_migrations(conn, mig_dir: Path, dry_run: bool, log, result: MigrateResult) -> None:
    from yoyo import get_backend, read_migrations
    from yoyo.exceptions import LockTimeout

    if dry_run and conn.execute("SELECT to_regclass('public._yoyo_migration') IS NULL").fetchone()[0]:
        # a new database: every migration is pending. yoyo's backend would create its bookkeeping tables
        # first, and a dry run writes nothing.
        migrations = read_migrations(str(mig_dir))
        result.migrations_total = len(migrations)
        result.migrations_applied = [m.id for m in migrations]
        return
    # yoyo prints the result of any SELECT in a migration to stdout: keep stdout for our output.
    with contextlib.redirect_stdout(sys.stderr):
        backend = get_backend(yoyo_uri(conn))
        try:
            # yoyo's own connection: same pinned session settings as ours (PGTZ/PGDATESTYLE must not
            # change how a migration's literals are read)
            pin_session(backend.connection)
            migrations = read_migrations(str(mig_dir))
            result.migrations_total = len(migrations)
            pending = backend.to_apply(migrations)
            if dry_run:
                result.migrations_applied = [m.id for m in pending]
                return
            if not pending:
                return
            try:
                lock_cm = backend.lock(timeout=5)
                lock_cm.__enter__()
            except LockTimeout:
                # We hold the dwh:migrate advisory lock, so no other dwh migrate is running: the
                # yoyo_lock row was left by a killed process.
                log("removing a stale yoyo lock")
                backend.break_lock()
                lock_cm = backend.lock(timeout=5)
                lock_cm.__enter__()
            try:
                for m in pending:
                    log(f"applying migration {m.id}")
                    try:
                        backend.apply_one(m)
                    except psycopg.Error as exc:
                        raise from_psycopg(exc, prefix=f"migration {m.id} failed") from exc
                    result.migrations_applied.append(m.id)
                backend.run_post_apply(pending)
            finally:
                lock_cm.__exit__(None, None, None)
        finally:
            with contextlib.suppress(Exception):
                backend.connection.close()


def _apply_procedures(conn, files: list[ProcedureFile], dry_run: bool, force: bool, log,
                      result: MigrateResult) -> None:
    have_table = conn.execute("SELECT to_regclass('dwh_etl.applied_code') IS NOT NULL").fetchone()[0]
    applied: dict[str, str] = {}
    if have_table:
        applied = dict(conn.execute("SELECT path, sha256 FROM dwh_etl.applied_code").fetchall())
    changed = [f for f in files if force or applied.get(f.path) != f.sha256]
    # files moved or deleted since (e.g. procedures/dwh_etl/x.sql -> dwh_etl/runner/x.sql): forget them
    gone = sorted(set(applied) - {f.path for f in files})
    if gone and not dry_run:
        with conn.transaction():
            conn.execute("DELETE FROM dwh_etl.applied_code WHERE path = ANY(%s)", (gone,))
    if dry_run or not changed:
        result.procedures_applied = [f.path for f in changed] if dry_run else []
        return
    with conn.transaction():
        conn.execute("SET LOCAL check_function_bodies = off")
        if not have_table:
            conn.execute(ENSURE_APPLIED_CODE)
        with conn.cursor() as cur:
            for f in changed:
                log(f"applying {f.path}")
                try:
                    # no parameters: psycopg sends the text through the simple query protocol,
                    # so a file may hold several statements.
                    cur.execute(f.file.read_text())
                except psycopg.Error as exc:
                    raise from_psycopg(exc, prefix=f"{f.path} failed") from exc
                cur.execute(
                    "INSERT INTO dwh_etl.applied_code (path, sha256, applied_at) VALUES (%s, %s, now())"
                    " ON CONFLICT (path) DO UPDATE SET sha256 = EXCLUDED.sha256, applied_at = now()",
                    (f.path, f.sha256))
    result.procedures_applied = [f.path for f in changed]
