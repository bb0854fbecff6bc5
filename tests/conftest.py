"""One PostgreSQL 15 cluster per session (pg_cron preloaded), migrations + procedures applied once into
the template database, each test on a fresh clone of it, or of a loaded warehouse built once from it
(`database_template`: generated demo sources, `daily` runs)."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import subprocess
import tempfile
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


FAST_TMP = Path("/dev/shm")
FAST_TMP_MIN_FREE = 3 * 2**30


def _is_tmpfs(path: Path) -> bool:
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return False
    return any(m.split()[1:3] == [str(path), "tmpfs"] for m in mounts if len(m.split()) > 2)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    """pytest's temporary directory, and with it the test cluster's data directory, on tmpfs (/dev/shm)
    when there is one with room and no --basetemp was given: on a virtual disk every CREATE DATABASE of
    a clone took 1.5-2 s, in memory 0.1 s. DWH_TEST_TMPFS=0 turns it off."""
    if config.option.basetemp or os.environ.get("DWH_TEST_TMPFS", "1") == "0" or not _is_tmpfs(FAST_TMP):
        return
    stat = os.statvfs(FAST_TMP)
    if not os.access(FAST_TMP, os.W_OK) or stat.f_bavail * stat.f_frsize < FAST_TMP_MIN_FREE:
        return
    base = tempfile.mkdtemp(prefix="dwh-pytest-", dir=FAST_TMP)
    config.option.basetemp = base
    config.add_cleanup(lambda: shutil.rmtree(base, ignore_errors=True))


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
migrated_postgresql = factories.postgresql("postgresql_proc")

# Database templates: fixtures made by `database_template` (name -> its parent template fixture, or None)
TEMPLATE_FIXTURES: dict[str, str | None] = {}


@pytest.fixture
def postgresql(request, postgresql_proc):
    """This test's own database: a fresh clone of the migrated template, or, when the test's fixtures
    include a `database_template` fixture (e.g. `sales_loaded_template`), a fresh clone of that loaded
    database. `conn`, `dsn` and `cron_conn` all follow it."""
    templates = [n for n in request.fixturenames if n in TEMPLATE_FIXTURES]
    # a template built on another one is that one plus more: clone the most derived
    chosen = [n for n in templates if not any(n in _template_ancestors(o) for o in templates)]
    if len(chosen) > 1:
        raise pytest.UsageError(f"{request.node.nodeid}: fixtures from several database templates: {chosen}")
    if not chosen:
        yield request.getfixturevalue("migrated_postgresql")
        return
    template = request.getfixturevalue(chosen[0])
    with cloned_database(postgresql_proc, template.fresh_name(), "t") as conn:
        yield conn


def _template_ancestors(name: str) -> set[str]:
    found = set()
    while (name := TEMPLATE_FIXTURES.get(name)) is not None:
        found.add(name)
    return found


class DatabaseTemplate:
    """A database built once on the pytest-postgresql server (a clone of `base`, then `build(conn)`),
    cloned per test by the `postgresql` fixture. `extras` is what `build` returned (e.g. state recorded
    between two loads). Rebuilt if the date changed since the build (the loads ran for CURRENT_DATE)."""

    def __init__(self, proc, name: str, base, build):
        self.proc, self.name, self.base, self.build = proc, name, base, build
        self.built_on = None
        self.extras = None

    def _admin(self):
        return psycopg.connect(make_conninfo(self.proc.host, self.proc.port, self.proc.user, "postgres",
                                             self.proc.password), autocommit=True)

    @staticmethod
    def _today(admin):
        return admin.execute("SELECT CURRENT_DATE, (now() AT TIME ZONE 'UTC')::date").fetchone(), dt.date.today()

    def _build(self, admin):
        base = self.base.fresh_name() if isinstance(self.base, DatabaseTemplate) else self.base
        admin.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        today = self._today(admin)
        admin.execute(f'CREATE DATABASE "{self.name}" TEMPLATE "{base}"')
        info = make_conninfo(self.proc.host, self.proc.port, self.proc.user, self.name, self.proc.password)
        try:
            with psycopg.connect(info, autocommit=True) as c:
                self.extras = self.build(c)
        except BaseException:
            admin.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            raise
        self.built_on = today

    def fresh_name(self) -> str:
        """The template's name, (re)built first if it is missing or was built on another day."""
        with self._admin() as admin:
            if self.built_on != self._today(admin):
                self._build(admin)
        return self.name

    def drop(self):
        with self._admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def database_template(parent: str | None = None, scope: str = "session"):
    """Decorator: `build(conn)` becomes a fixture (named as the function) providing a DatabaseTemplate
    built from the migrated template, or from the template fixture `parent`. A test that uses it (directly
    or through another fixture) gets its database cloned from it: the expensive state (generated
    sources, `daily` runs) is built once instead of once per test, each test still writes to a database
    of its own."""

    def decorate(build):
        name = build.__name__
        if TEMPLATE_FIXTURES.get(name, parent) != parent:
            raise pytest.UsageError(f"two database templates are named {name}")
        TEMPLATE_FIXTURES[name] = parent

        @pytest.fixture(scope=scope, name=name)
        def template_fixture(request, postgresql_proc):
            base = request.getfixturevalue(parent) if parent else postgresql_proc.template_dbname
            template = DatabaseTemplate(postgresql_proc, name, base, build)
            template.fresh_name()
            yield template
            template.drop()

        template_fixture.__doc__ = build.__doc__
        return template_fixture

    return decorate


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


@database_template()
def devflow_generated_template(conn):
    """A generated devflow week (devflow_src.generate, 7 days, seed 0.42), nothing loaded."""
    conn.execute("CALL devflow_src.generate(p_days => 7, p_seed => 0.42)")


@database_template(parent="devflow_generated_template")
def devflow_week_template(conn):
    """A generated devflow week loaded by `daily`, built once per session (a week takes ~10 s to generate
    and load: per test it cost minutes of CI)."""
    conn.execute("CALL dwh_etl.run_pipeline(p_pipeline => 'daily', p_run_id => NULL)")


@pytest.fixture
def devflow_week(devflow_week_template, conn):
    """An autocommit connection to this test's own clone of the loaded devflow week."""
    return conn


# ---------------------------------------------------------------------------------------------------
# Loaded warehouses shared by several modules (each test still gets its own clone: see `postgresql`)
# ---------------------------------------------------------------------------------------------------

SALES_SCALE = 0.005  # 250 customers, ~141 products, ~5,000 sales lines
RUN_DAILY_SQL = "CALL dwh_etl.run_pipeline(p_pipeline => 'daily', p_run_date => CURRENT_DATE, p_run_id => NULL)"


def disable_other_areas(conn, area="sales"):
    """Switch the other areas' steps and rules off: the daily pipeline is the engine's and the area's
    steps (sales by default), the rules are the area's rules."""
    conn.execute("UPDATE dwh_etl.steps SET is_enabled = false WHERE area NOT IN (%s, 'engine')", (area,))
    conn.execute("UPDATE dwh_etl.quality_rules SET is_enabled = false WHERE area IS DISTINCT FROM %s", (area,))


@database_template()
def sales_loaded_template(conn):
    """The sales demo source generated (scale 0.005, seed 0.42), `daily` run once, every area enabled."""
    conn.execute("CALL sales_src.generate(p_scale => %s::numeric, p_seed => 0.42)", (SALES_SCALE,))
    conn.execute(RUN_DAILY_SQL)


@database_template(parent="sales_loaded_template")
def sales_next_day_template(conn):
    """sales_loaded_template, then one more day in the source (with its bad rows) and `daily` again."""
    conn.execute("CALL sales_src.generate_next_day()")
    conn.execute(RUN_DAILY_SQL)


@database_template()
def sales_only_generated_template(conn):
    """The sales area only (disable_other_areas), its demo source generated (scale 0.005, seed 0.42)."""
    disable_other_areas(conn)
    conn.execute("CALL sales_src.generate(p_scale => %s::numeric, p_seed => 0.42)", (SALES_SCALE,))


@database_template(parent="sales_only_generated_template")
def sales_only_loaded_template(conn):
    """sales_only_generated_template, `daily` run once."""
    conn.execute(RUN_DAILY_SQL)


def has_tool(name: str) -> bool:
    return (find_bindir() / name).exists() or shutil.which(name) is not None


def pg_tool(name: str) -> str:
    path = find_bindir() / name
    return str(path) if path.exists() else name


__all__ = ["ROOT", "pg_tool", "subprocess"]
