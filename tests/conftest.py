"""One PostgreSQL 15 cluster per session (pg_cron preloaded), migrations + procedures applied once into
the template database, each test on a fresh clone of it."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import psycopg
import pytest
from pytest_postgresql import factories

from dwh_cli.embedded import find_bindir
from dwh_cli.migrate import migrate

ROOT = Path(__file__).resolve().parent.parent

if os.geteuid() == 0:  # PostgreSQL refuses to run as root: scripts/test.sh re-runs as `postgres`
    raise pytest.UsageError("the test suite cannot run as root (PostgreSQL refuses to): use scripts/test.sh")


def make_conninfo(host, port, user, dbname, password=None) -> str:
    return psycopg.conninfo.make_conninfo(host=host, port=str(port), user=user, dbname=dbname,
                                          password=password or None)


def load_dwh(host, port, user, dbname, password=None, **_kwargs):
    """pytest-postgresql loader: migrate the template database. Any failure errors every test."""
    migrate(make_conninfo(host, port, user, dbname, password))


PG_CTL = str(find_bindir() / "pg_ctl")

postgresql_proc = factories.postgresql_proc(
    executable=PG_CTL,
    port=None,
    postgres_options=(
        "-c shared_preload_libraries=pg_cron -c cron.database_name=postgres "
        "-c cron.use_background_workers=on -c max_worker_processes=16"
    ),
    load=[load_dwh],
)
postgresql = factories.postgresql("postgresql_proc")


@pytest.fixture
def conn(postgresql):
    """An autocommit psycopg connection to this test's fresh database."""
    postgresql.autocommit = True
    return postgresql


@pytest.fixture
def dsn(postgresql) -> str:
    """The conninfo of this test's database (pass it to the CLI with --dsn)."""
    info = postgresql.info
    return make_conninfo(info.host, info.port, info.user, info.dbname, info.password)


@pytest.fixture
def cli_env(monkeypatch, tmp_path):
    """No DWH_*/PG* variables leak into the CLI under test; the embedded cluster would live in tmp."""
    for name in ("DWH_DSN", "PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGSERVICE", "PGPASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DWH_DATA_DIR", str(tmp_path / "pgdata"))
    return tmp_path


@pytest.fixture
def runner(cli_env):
    from click.testing import CliRunner

    return CliRunner()


@pytest.fixture(scope="session")
def cron_dsn(postgresql_proc) -> str:
    """The conninfo of pg_cron's database (cron.database_name = postgres), with CREATE EXTENSION pg_cron
    done once per session. Test databases are other databases: jobs go through cron.schedule_in_database."""
    proc = postgresql_proc
    info = make_conninfo(proc.host, proc.port, proc.user, "postgres", proc.password)
    with psycopg.connect(info, autocommit=True) as c:
        c.execute("CREATE EXTENSION IF NOT EXISTS pg_cron")
    return info


@pytest.fixture
def cron_conn(cron_dsn, postgresql):
    """An autocommit connection to pg_cron's database; removes this test database's jobs afterwards."""
    with psycopg.connect(cron_dsn, autocommit=True) as c:
        yield c
        c.execute("SELECT cron.unschedule(jobid) FROM cron.job WHERE database = %s", (postgresql.info.dbname,))
        c.execute("DELETE FROM cron.job_run_details WHERE database = %s", (postgresql.info.dbname,))


@contextlib.contextmanager
def cloned_database(proc, template: str, prefix: str = "clone"):
    """An autocommit connection to a new database cloned from `template` (on the pytest-postgresql
    server `proc`), dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = make_conninfo(proc.host, proc.port, proc.user, "postgres", proc.password)
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    conn = psycopg.connect(make_conninfo(proc.host, proc.port, proc.user, name, proc.password), autocommit=True)
    try:
        yield conn
    finally:
        conn.close()
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def devflow_week_template(postgresql_proc):
    """Name of a database holding a generated devflow week loaded by `daily`, built once per session from
    the migrated template (a week takes ~10 s to generate and load: per test it cost minutes of CI)."""
    proc = postgresql_proc
    name = "devflow_week_tmpl"
    admin = make_conninfo(proc.host, proc.port, proc.user, "postgres", proc.password)
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        c.execute(f'CREATE DATABASE "{name}" TEMPLATE "{proc.template_dbname}"')
    with psycopg.connect(make_conninfo(proc.host, proc.port, proc.user, name, proc.password), autocommit=True) as c:
        c.execute("CALL devflow_src.generate(p_days => 7, p_seed => 0.42)")
        c.execute("CALL dwh_etl.run_pipeline(p_pipeline => 'daily', p_run_id => NULL)")
    yield name
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def devflow_week(postgresql_proc, devflow_week_template):
    """An autocommit connection to this test's own clone of the loaded devflow week."""
    with cloned_database(postgresql_proc, devflow_week_template, "dfw") as conn:
        yield conn


def has_tool(name: str) -> bool:
    return (find_bindir() / name).exists() or shutil.which(name) is not None


def pg_tool(name: str) -> str:
    path = find_bindir() / name
    return str(path) if path.exists() else name


__all__ = ["ROOT", "pg_tool", "subprocess"]
