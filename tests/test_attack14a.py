"""Attack 14a: upgrades, the operator surface and the lineage/docs API, as a demanding stranger would use them.

- Upgrades: a warehouse built and loaded by an older release (commit 23243f0: migrations up to 0049, the
  procedures of that day; its migrations/ and procedures/ are the committed fixture
  tests/data/release_23243f0.tar.xz, so no .git is needed), then `dwh migrate` to this code, `daily` and
  the next day: it must equal a warehouse built fresh (scripts/table_fingerprint.py's reproducible demo,
  tests/data/fingerprint_baseline.json, unchanged since 23243f0). Also a migrate killed (SIGKILL of the
  client, pg_terminate_backend of its backend) in the middle and run again, migrate while `daily` runs,
  migrate by etl_service / analyst_role, `--dry-run`, and odd client settings.
- Scheduling through pg_cron in another database (the test cluster's cron.database_name is `postgres`).
- The lineage and docs API with hostile names and values, and as roles that may not read the rows.
- Operator commands under odd client settings; `dwh quarantine retry` after a rebuild.

A test whose docstring says DEFECT exposed one (fixed unless marked xfail); the others held and stay as
regression tests. Defects found (each test failed before its fix):
- medium: `dwh migrate` with a search_path of the client (PGOPTIONS='-c search_path=x', a role's or the
  database's default, a schema named after the user) looked for yoyo's bookkeeping there: on an existing
  warehouse it made new empty bookkeeping tables in that schema and applied migration 0001 again (it
  failed only because 0001 does not use IF NOT EXISTS); a bare `search_path` to a missing schema failed
  with 'relation "yoyo_lock" does not exist';
- medium: `dwh migrate` while `daily` ran: migration 0065's CREATE TRIGGER deadlocked with the run's writes
  (one of the two aborted), and procedure files replaced mid-run left a run half on old routines; migrate
  now takes every pipeline's run lock first (polled: a statement waiting all along would have held the
  run's windows back, dwh_etl.safe_upper_bound);
- low: `dwh migrate --dry-run` on a new database created yoyo's four tables in public;
- low: `dwh migrate` (and --dry-run) as etl_service or analyst_role: 'permission denied for table
  yoyo_lock' instead of one refusal naming who may migrate;
- low: `dwh docs generate` gave relations whose names differ only outside [A-Za-z0-9_.-] one page
  (gold."ñ" and gold."ü" were both t/gold._.html): one table's page was silently lost;
- low: `dwh lineage T --key c=1 --key c=2` traced c=2 silently (the last --key won).
The old release and its first day are built once per module (a14a_old_release); each test gets a clone.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

import psycopg
import pytest

from conftest import RUN_DAILY_SQL, cloned_database, make_conninfo
from dwh_cli.cli import cli
from dwh_cli.migrate import migrate
from test_fingerprint_golden import BASELINE, tf

ROOT = Path(__file__).resolve().parent.parent
RELEASE = "23243f0"
RELEASE_TAR = ROOT / "tests" / "data" / f"release_{RELEASE}.tar.xz"
# what this code adds to release 23243f0 (its newest migration is 0049): every later one, in any order
# yoyo's dependencies give
ALL_MIGRATIONS = sorted(p.stem for p in (ROOT / "migrations").glob("[0-9]*.sql") if not p.stem.endswith(".rollback"))
NEW_MIGRATIONS = sorted(m for m in ALL_MIGRATIONS if m[:4] > "0049")
DAY = tf.DEMO_DAY


def scalar(conn, sql, params=None):
    return conn.execute(sql, params).fetchone()[0]


def rows(conn, sql, params=None):
    return conn.execute(sql, params).fetchall()


def dwh_command() -> list[str]:
    return [sys.executable, "-c", "from dwh_cli.cli import main; main()"]


def cli_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "DWH_"))}
    env.update(extra)
    return env


# ---------------------------------------------------------------------------------------------------
# the older release and its first day, once per module
# ---------------------------------------------------------------------------------------------------

def first_day(conninfo: str) -> None:
    """Day one of scripts/table_fingerprint.py's build_demo, with the code of the database (the old
    release's SQL: the runner, the steps, the generators)."""
    import datetime as dt
    from decimal import Decimal

    from dwh_cli.ops import run_pipeline

    with psycopg.connect(conninfo, autocommit=True) as c:
        c.execute("UPDATE dwh_etl.settings SET value = %s WHERE key = 'partitions.max_months_ahead'",
                  (str(tf.DEMO_MONTHS_AHEAD),))
        c.execute("CALL sales_src.generate(p_scale => %s, p_seed => %s, p_today => %s)",
                  (Decimal(str(tf.DEMO_SCALE)), tf.DEMO_SEED, DAY))
        c.execute("CALL devflow_src.generate(p_days => %s, p_seed => %s, p_to => %s)",
                  (tf.DEMO_DEVFLOW_DAYS, tf.DEMO_SEED, dt.datetime.combine(DAY, dt.time(0), dt.timezone.utc)))
    run_daily(conninfo)


def run_daily(conninfo: str) -> None:
    from dwh_cli.ops import run_pipeline

    for res in run_pipeline(conninfo, "daily", [DAY], allow_future=True):
        assert res.error is None and res.status == "completed", (res.status, res.error)


def next_day(conninfo: str) -> None:
    """Day two of build_demo (one more day of both sources, seeded and stamped), then `daily`."""
    import datetime as dt

    stamp = dt.datetime.combine(DAY, tf.DEMO_STAMP_TIME, dt.timezone.utc)
    with psycopg.connect(conninfo, autocommit=True) as c:
        c.execute("SELECT setseed(%s)", (tf._seed_fraction(tf.DEMO_SEED),))
        c.execute("CALL sales_src.generate_next_day(p_day => %s, p_stamp => %s)", (DAY, stamp))
        c.execute("SELECT setseed(%s)", (tf._seed_fraction(tf.DEMO_SEED),))
        c.execute("CALL devflow_src.generate_next_day(p_stamp => %s)", (stamp,))
    run_daily(conninfo)


@pytest.fixture(scope="module")
def old_release_home(tmp_path_factory) -> Path:
    """migrations/ and procedures/ of release 23243f0 (the committed fixture)."""
    target = tmp_path_factory.mktemp("release")
    with tarfile.open(RELEASE_TAR) as tar:
        tar.extractall(target)
    return target / "release"


@pytest.fixture(scope="module")
def a14a_old_release(postgresql_proc, old_release_home):
    """A database migrated by release 23243f0 from nothing, its first day generated and loaded by it."""
    proc = postgresql_proc
    name = "a14a_old_release"
    admin = make_conninfo(proc.host, proc.port, proc.user, "postgres", proc.password)
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        c.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
    info = make_conninfo(proc.host, proc.port, proc.user, name, proc.password)
    result = migrate(info, home=old_release_home)
    assert len(result.migrations_applied) == 46 and "0049_bronze_source_arrival" in result.migrations_applied
    first_day(info)
    yield name
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def old(a14a_old_release, postgresql_proc):
    """(conn, conninfo) of this test's clone of the old release's warehouse."""
    proc = postgresql_proc
    with cloned_database(proc, a14a_old_release, "a14a") as conn:
        yield conn, make_conninfo(proc.host, proc.port, proc.user, conn.info.dbname, proc.password)


def applied_state(conn):
    return (rows(conn, "SELECT migration_id FROM public._yoyo_migration ORDER BY 1"),
            rows(conn, "SELECT path, sha256 FROM dwh_etl.applied_code ORDER BY 1"))


def login(conn, name, group):
    conn.execute(f'DROP ROLE IF EXISTS "{name}"')
    conn.execute(f'CREATE ROLE "{name}" LOGIN IN ROLE {group}')
    info = conn.info
    return make_conninfo(info.host, info.port, name, info.dbname)


# ---------------------------------------------------------------------------------------------------
# upgrades
# ---------------------------------------------------------------------------------------------------

def equals_a_fresh_build(info):
    """Every table equals the warehouse this code builds fresh (tests/data/fingerprint_baseline.json), but
    dwh_lineage.quality_metrics may hold fewer rows: it records the checks each run made, and the runs of
    the old release had no agents_approval_sla step (attack 15d), so fact_approval's batch rules were
    checked once fewer per run there. Everything else, data and bookkeeping, must be equal."""
    found = tf.diff(json.loads(BASELINE.read_text()), tf.fingerprint(info))
    qm = [d for d in found if d.startswith("dwh_lineage.quality_metrics:")]
    assert [d for d in found if d not in qm] == []
    counts = [re.match(r"dwh_lineage\.quality_metrics: rows (\d+) -> (\d+);", d) for d in qm]
    assert all(m and int(m.group(2)) < int(m.group(1)) for m in counts), qm


def test_an_old_release_migrated_then_the_next_day_equals_a_fresh_build(old, runner):
    """Release 23243f0 built and loaded day one; `dwh migrate` to this code applies the four migrations
    since and the changed procedure files; the next day by this code: every table equals the warehouse
    this code builds fresh (tests/data/fingerprint_baseline.json): nothing lost, nothing loaded twice."""
    conn, info = old
    result = runner.invoke(cli, ["--dsn", info, "migrate", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert sorted(doc["migrations"]) == NEW_MIGRATIONS and doc["procedures"]
    again = runner.invoke(cli, ["--dsn", info, "migrate", "--dry-run", "--json"])
    assert json.loads(again.stdout)["up_to_date"] is True

    next_day(info)

    equals_a_fresh_build(info)


def test_after_the_upgrade_a_rerun_of_daily_loads_nothing_again(old, runner):
    """The day already loaded by the old release, run again by this code: no step of sales or devflow
    writes a row (the watermarks and loads of the old release carry on), silver and the facts unchanged."""
    conn, info = old
    counts = "SELECT (SELECT count(*) FROM silver.sales_sales), (SELECT count(*) FROM sales.fact_sales), " \
             "(SELECT count(*) FROM sales.dim_customer), (SELECT count(*) FROM devflow.fact_agent_execution)"
    before = rows(conn, counts)
    assert runner.invoke(cli, ["--dsn", info, "migrate"]).exit_code == 0

    run_daily(info)

    assert rows(conn, counts) == before
    written = rows(conn, """
        SELECT s.step_name, s.rows_written FROM dwh_lineage.step_runs AS s
        WHERE s.run_id = (SELECT max(run_id) FROM dwh_lineage.pipeline_runs) AND s.rows_written > 0
          AND (s.step_name LIKE 'sales%%' OR s.step_name LIKE 'devflow%%')""")
    assert written == []


def test_migrate_dry_run_writes_nothing_on_an_old_warehouse_nor_on_a_new_database(old, runner, postgresql_proc):
    """DEFECT (low, fixed): `--dry-run` on a new database created yoyo's bookkeeping tables in public.
    On the old warehouse it lists the four pending migrations and applies nothing."""
    conn, info = old
    before = applied_state(conn)
    result = runner.invoke(cli, ["--dsn", info, "migrate", "--dry-run", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["dry_run"] is True and sorted(doc["migrations"]) == NEW_MIGRATIONS and doc["procedures"]
    assert applied_state(conn) == before

    with cloned_database(postgresql_proc, "template0", "a14a_empty") as empty:
        info2 = make_conninfo(empty.info.host, empty.info.port, empty.info.user, empty.info.dbname)
        result = runner.invoke(cli, ["--dsn", info2, "migrate", "--dry-run", "--json"])
        assert result.exit_code == 0, result.output
        assert len(json.loads(result.stdout)["migrations"]) == len(ALL_MIGRATIONS)
        assert rows(empty, "SELECT relname FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace "
                           "WHERE n.nspname = 'public'") == []


def test_migrate_under_a_client_search_path_keeps_yoyos_bookkeeping_in_public(old, runner, monkeypatch):
    """DEFECT (medium, fixed): with PGOPTIONS='-c search_path=evil' (or a role's / database's default
    search_path, or a schema named after the user) yoyo looked for its tables there: with no schema evil
    'relation "yoyo_lock" does not exist'; with one, it made empty bookkeeping tables in it and applied
    migration 0001 again over the existing warehouse. README "Client session settings": the client's
    settings change nothing."""
    conn, info = old
    monkeypatch.setenv("PGOPTIONS", "-c search_path=evil")
    missing = runner.invoke(cli, ["--dsn", info, "migrate", "--dry-run", "--json"])
    assert missing.exit_code == 0, missing.output
    assert sorted(json.loads(missing.stdout)["migrations"]) == NEW_MIGRATIONS

    conn.execute("CREATE SCHEMA evil")
    conn.execute(f'ALTER DATABASE "{conn.info.dbname}" SET search_path = evil')
    result = runner.invoke(cli, ["--dsn", info, "migrate", "--json"])
    assert result.exit_code == 0, result.output
    assert sorted(json.loads(result.stdout)["migrations"]) == NEW_MIGRATIONS
    assert rows(conn, "SELECT relname FROM pg_class WHERE relnamespace = 'evil'::regnamespace") == []
    assert scalar(conn, "SELECT count(*) FROM public._yoyo_migration") == len(ALL_MIGRATIONS)


def test_migrate_by_etl_service_or_analyst_is_one_clear_refusal(old, runner):
    """DEFECT (low, fixed): `dwh migrate` (and --dry-run) as a login of etl_service or analyst_role failed
    with 'permission denied for table yoyo_lock'. README "Roles": a superuser or the owner migrates."""
    conn, info = old
    before = applied_state(conn)
    for name, group in (("a14a_etl", "etl_service"), ("a14a_analyst", "analyst_role")):
        dsn = login(conn, name, group)
        for args in (["migrate"], ["migrate", "--dry-run"]):
            result = runner.invoke(cli, ["--dsn", dsn, *args])
            assert result.exit_code == 1, result.output
            assert result.stderr.splitlines()[0] == (
                f"error: dwh migrate needs a superuser or the owner of database {conn.info.dbname}; "
                f"connected as {name}"), result.stderr
            assert "Traceback" not in result.output
    assert applied_state(conn) == before
    # dwh info still reports, with the refusal in its migrations section
    info_doc = runner.invoke(cli, ["--dsn", login(conn, "a14a_etl", "etl_service"), "info", "--json"])
    assert "needs a superuser" in json.loads(info_doc.stdout)["migrations"]["error"]


def _wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")


@pytest.mark.parametrize("how", ["sigkill_client", "terminate_backend"])
def test_migrate_killed_in_the_middle_then_run_again(old, how):
    """`dwh migrate` stopped while it applies the procedure files (blocked on a lock a reader holds on a
    view it replaces): the migrations committed stay, the procedure files roll back whole; the CLI says so
    in one error (terminate), and the next migrate applies the rest; the next day equals a fresh build."""
    conn, info = old
    shas = dict(rows(conn, "SELECT path, sha256 FROM dwh_etl.applied_code"))
    with psycopg.connect(info) as reader:
        # a view the procedure files replace over a table no pending migration rewrites (a LOCK on a view
        # locks the tables it reads too: sales.dwh_fact_sales held sales.fact_sales, whose DROP INDEX in
        # migration 0075 then blocked the migrations, not the procedure files)
        reader.execute("LOCK TABLE sales.dwh_dim_date IN ACCESS SHARE MODE")
        proc = subprocess.Popen([*dwh_command(), "--dsn", info, "migrate"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=cli_env(), cwd=ROOT)
        pid = _wait_for(lambda: scalar(conn, """
            SELECT (SELECT pid FROM pg_stat_activity
                    WHERE datname = current_database() AND application_name = 'dwh migrate'
                      AND wait_event_type = 'Lock' LIMIT 1)"""))
        if how == "sigkill_client":
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
        else:
            conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
            out, err = proc.communicate(timeout=30)
            assert proc.returncode == 1 and "Traceback" not in err, err
            assert err.splitlines()[-1].startswith("error: procedures/") and "terminating connection" in err, err
        reader.rollback()
    _wait_for(lambda: scalar(conn, "SELECT NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = %s)", (pid,)))
    # the migrations committed one by one; the procedure files are one transaction: none of them applied
    assert scalar(conn, "SELECT count(*) FROM public._yoyo_migration") == len(ALL_MIGRATIONS)
    assert dict(rows(conn, "SELECT path, sha256 FROM dwh_etl.applied_code")) == shas
    assert scalar(conn, "SELECT count(*) FROM public.yoyo_lock") == 0

    again = migrate(info)
    assert again.migrations_applied == [] and again.procedures_applied
    assert migrate(info, dry_run=True).up_to_date
    next_day(info)
    equals_a_fresh_build(info)


def test_migrate_while_daily_runs_waits_for_the_run(old):
    """DEFECT (medium, fixed): `dwh migrate` to this code while the old release's `daily` of the next day
    ran: migration 0065's CREATE TRIGGER on the run-record tables deadlocked with the run's writes ("migration
    0065_run_records_guard failed: deadlock detected"; the run's step could as well have been the victim),
    and procedure files replaced mid-run left a run half on the old routines, half on the new. Now migrate
    takes every pipeline's run lock first, waiting for the running run to end: the run completes on the
    code it started with, the migration applies after it, the warehouse equals a fresh build."""
    conn, info = old
    import datetime as dt

    stamp = dt.datetime.combine(DAY, tf.DEMO_STAMP_TIME, dt.timezone.utc)
    conn.execute("SELECT setseed(%s)", (tf._seed_fraction(tf.DEMO_SEED),))
    conn.execute("CALL sales_src.generate_next_day(p_day => %s, p_stamp => %s)", (DAY, stamp))
    conn.execute("SELECT setseed(%s)", (tf._seed_fraction(tf.DEMO_SEED),))
    conn.execute("CALL devflow_src.generate_next_day(p_stamp => %s)", (stamp,))
    outcome = {}

    def run():
        from dwh_cli.ops import run_pipeline
        try:
            outcome["runs"] = [(r.status, r.error) for r in run_pipeline(info, "daily", [DAY], allow_future=True)]
        except Exception as exc:  # noqa: BLE001 - recorded for the assertion
            outcome["error"] = exc

    t = threading.Thread(target=run)
    t.start()
    _wait_for(lambda: scalar(conn, "SELECT count(*) FROM dwh_lineage.pipeline_runs WHERE status = 'running'"))
    log: list[str] = []
    result = migrate(info, log=log.append)
    t.join(300)
    assert not t.is_alive()
    assert outcome.get("runs") == [("completed", None)], outcome
    assert sorted(result.migrations_applied) == NEW_MIGRATIONS
    assert any(line.startswith("waiting for the running daily run to end") for line in log) or \
        scalar(conn, "SELECT max(ended_at) FROM dwh_lineage.pipeline_runs") < scalar(
            conn, "SELECT min(applied_at) FROM dwh_etl.applied_code WHERE path LIKE 'procedures/sales/%%'"), log
    assert rows(conn, "SELECT DISTINCT status FROM dwh_lineage.pipeline_runs") == [("completed",)]
    equals_a_fresh_build(info)


def test_migrate_waits_a_bounded_time_for_a_session_that_keeps_the_run_lock(old, runner):
    """A session that took daily's run lock and stays (a run called in a transaction left open, a DBA's
    psql) kept `dwh migrate` (and `dwh demo`, which migrates first) waiting for ever: now it waits --wait
    seconds, then exits 1 naming the session, nothing applied; once the session ends it migrates."""
    conn, info = old
    holder = psycopg.connect(info, autocommit=True, application_name="a14a holder")
    try:
        holder.execute("SELECT pg_advisory_lock(dwh_etl._run_lock_key('daily'))")
        pid = holder.info.backend_pid
        before = scalar(conn, "SELECT count(*) FROM public._yoyo_migration")
        result = runner.invoke(cli, ["--dsn", info, "migrate", "--wait", "1"])
        assert result.exit_code == 1, result.output
        assert "a daily run is still running after 1 s: nothing was migrated" in result.stderr, result.stderr
        assert f"pid {pid}" in result.stderr and "a14a holder" in result.stderr, result.stderr
        assert scalar(conn, "SELECT count(*) FROM public._yoyo_migration") == before
        assert scalar(conn, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid <> %s", (pid,)) == 0
    finally:
        holder.close()
    result = runner.invoke(cli, ["--dsn", info, "migrate", "--wait", "5"])
    assert result.exit_code == 0, result.output
    assert scalar(conn, "SELECT count(*) FROM public._yoyo_migration") == len(ALL_MIGRATIONS)


# ---------------------------------------------------------------------------------------------------
# the docs site and the lineage API with hostile names and values
# ---------------------------------------------------------------------------------------------------

EVIL_TABLE = 'evil <img src=x onerror=alert(1)> "q"'
EVIL_COLUMN = 'col "q" <script>alert(2)</script>'


@pytest.fixture
def hostile_tables(conn):
    conn.execute(f"""
        CREATE TABLE gold.{psycopg.sql.Identifier(EVIL_TABLE).as_string(conn)}
            ({psycopg.sql.Identifier(EVIL_COLUMN).as_string(conn)} int, "é" text);
        COMMENT ON TABLE gold.{psycopg.sql.Identifier(EVIL_TABLE).as_string(conn)}
            IS '</script><script>alert(3)</script>';
        COMMENT ON COLUMN gold.{psycopg.sql.Identifier(EVIL_TABLE).as_string(conn)}."é"
            IS '<iframe src=javascript:alert(4)></iframe>';
        CREATE TABLE gold."ñ" (a int); COMMENT ON TABLE gold."ñ" IS 'the enye table';
        CREATE TABLE gold."ü" (b int); COMMENT ON TABLE gold."ü" IS 'the umlaut table';
        CREATE TABLE gold."a b" (c int); COMMENT ON TABLE gold."a b" IS 'the spaced table';
        CREATE TABLE gold.a_b (d int); COMMENT ON TABLE gold.a_b IS 'the underscored table';
    """)
    return conn


def test_docs_site_escapes_html_and_script_in_names_and_comments(hostile_tables, dsn, runner, tmp_path):
    """Table and column names and comments carrying HTML/JS: every page of the generated site shows them as
    text (escaped), never as markup; the search index is a JSON value in a script file of its own."""
    out = tmp_path / "site"
    result = runner.invoke(cli, ["--dsn", dsn, "docs", "generate", "--out", str(out)])
    assert result.exit_code == 0, result.output
    for page in out.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        for raw in ("<img src=x", "<script>alert", "<iframe", "alert(3)</script>"):
            assert raw not in text, (page, raw)
    tables = (out / "tables.html").read_text(encoding="utf-8")
    assert "&lt;/script&gt;&lt;script&gt;alert(3)&lt;/script&gt;" in tables
    index = (out / "search-index.js").read_text(encoding="utf-8")
    assert index.startswith("window.DWH_INDEX=") and index.endswith(";\n")
    entries = json.loads(index[len("window.DWH_INDEX="):-2])
    assert f"gold.{EVIL_TABLE}" in [e[0] for e in entries]


def test_docs_site_gives_every_relation_its_own_page(hostile_tables, dsn, runner, tmp_path):
    """DEFECT (low, fixed): gold."ñ" and gold."ü" (and gold."a b" / gold.a_b) were written to one page
    each pair (t/gold._.html, t/gold.a_b.html): the last written replaced the other, both tables' links
    led to it."""
    out = tmp_path / "site"
    result = runner.invoke(cli, ["--dsn", dsn, "docs", "generate", "--out", str(out)])
    assert result.exit_code == 0, result.output
    for comment in ("the enye table", "the umlaut table", "the spaced table", "the underscored table"):
        pages = [p for p in (out / "t").glob("gold.*.html") if f"<p>{comment}</p>" in p.read_text(encoding="utf-8")
                 or comment in p.read_text(encoding="utf-8").split("<main>", 1)[1].split("<table", 1)[0]]
        assert len(pages) == 1, (comment, pages)
    # the plain names keep their plain page
    assert (out / "t" / "sales.fact_sales.html").exists() and (out / "t" / "gold.a_b.html").exists()


@pytest.fixture
def loaded(sales_only_loaded_template, conn):
    return conn


def test_lineage_key_with_hostile_names_and_values_is_one_clear_error(loaded, dsn, runner):
    """`dwh lineage TABLE --key ...` with quotes, semicolons, NUL, unicode, very long values, unknown
    tables and columns: one `error:` line (exit 1 or 2), no traceback, nothing executed."""
    sale = scalar(loaded, "SELECT min(sale_id) FROM sales.fact_sales")
    cases = [
        (["sales.fact_sales", "--key", "sale_id=1; DROP TABLE sales.fact_sales"], 1, "invalid input syntax for type bigint"),
        (["sales.fact_sales", "--key", "sale_id=1'--"], 1, "invalid input syntax"),
        (["sales.fact_sales", "--key", "sale_id=1\x00"], 1, "error:"),
        (["sales.fact_sales\x00; DROP TABLE x", "--key", "sale_id=1"], 1, "error:"),
        (["sales.fact_sales", "--key", 'sale_id") OR true --=1'], 1, "has no column"),
        (["sales.fact_sales", "--key", f"sale_id={sale}", "--column", "line_total; DROP"], 1, "has no column"),
        (["sales.fact_sales", "--key", "sale_id=" + "9" * 20000], 1, "out of range"),
        (["gold.\"nope'; --\"", "--key", "a=1"], 1, "does not exist"),
        (["sales.fact_sales", "--key", "ñ€😀=1"], 1, "has no column"),
        (["x" * 100000, "--key", "a=1"], 1, "does not exist"),
        (["sales.fact_sales", "--key", "sale_id=1", "--key", "sale_id=2"], 2, "given twice"),
    ]
    for args, code, message in cases:
        result = runner.invoke(cli, ["--dsn", dsn, "lineage", *args])
        assert result.exit_code == code, (args[:2], result.output[:300])
        assert "Traceback" not in result.output and result.stderr.startswith("error: "), result.output[:300]
        assert message in result.stderr, (args[:2], result.stderr[:300])
    assert scalar(loaded, "SELECT to_regclass('sales.fact_sales') IS NOT NULL")
    ok = runner.invoke(cli, ["--dsn", dsn, "lineage", "sales.fact_sales", "--key", f"sale_id={sale}",
                             "--key", f"sale_id={sale}", "--json"])
    assert ok.exit_code == 0 and [h["layer"] for h in json.loads(ok.stdout)] == ["gold", "silver", "bronze"]


def test_lineage_as_analyst_or_of_a_table_the_caller_cannot_read_leaks_no_row(loaded, dsn, runner):
    """analyst_role traces nothing (README: tracing reads silver and bronze); etl_service tracing a table
    it may not SELECT gets permission denied, not its rows; the graph functions refuse an unknown table."""
    loaded.execute("CREATE TABLE public.a14a_secret (id int, secret text)")
    loaded.execute("INSERT INTO public.a14a_secret VALUES (1, 'the-secret-value')")
    sale = scalar(loaded, "SELECT min(sale_id) FROM sales.fact_sales")
    analyst = login(loaded, "a14a_an", "analyst_role")
    etl = login(loaded, "a14a_etl2", "etl_service")
    for who, table, key in ((analyst, "sales.fact_sales", f"sale_id={sale}"), (analyst, "public.a14a_secret", "id=1"),
                            (etl, "public.a14a_secret", "id=1")):
        result = runner.invoke(cli, ["--dsn", who, "lineage", table, "--key", key, "--json"])
        assert result.exit_code == 1, result.output
        assert "permission denied" in result.stderr and "the-secret-value" not in result.output
        assert result.stdout == ""
    with psycopg.connect(etl, autocommit=True) as c:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("SELECT * FROM dwh_lineage.trace_record('public.a14a_secret', '{\"id\": 1}', 'secret')")
        assert c.execute("SELECT count(*) FROM dwh_lineage.get_upstream('x''; DROP TABLE y; --')").fetchone()[0] == 0
        assert c.execute("SELECT count(*) FROM dwh_lineage.column_upstream('sales.fact_sales', 'nope\"')").fetchone()[0] == 0
        assert c.execute("SELECT count(*) FROM dwh_lineage.lineage_graph('sales.fact_sales', 'both')").fetchone()[0] > 0


# ---------------------------------------------------------------------------------------------------
# operator commands
# ---------------------------------------------------------------------------------------------------

ODD = {"PGTZ": "Pacific/Kiritimati", "PGDATESTYLE": "SQL, DMY",
       "PGOPTIONS": "-c search_path=evil -c IntervalStyle=sql_standard -c extra_float_digits=-3 -c lc_monetary=C"}


def test_operator_commands_under_odd_client_settings_print_the_same_json(loaded, dsn, runner, monkeypatch):
    """`dwh status|info|quality|quarantine list|ls|lineage --json` under PGTZ, PGDATESTYLE and PGOPTIONS with
    a search_path to a schema that shadows the registry's names: parseable JSON, equal to the plain
    session's (status: but for its clock)."""
    loaded.execute("CREATE SCHEMA evil; CREATE TABLE evil.pipelines (x int); CREATE TABLE evil.steps (x int)")
    commands = [["quality", "--json"], ["quarantine", "list", "--json", "--all"], ["ls", "--json"],
                ["lineage", "sales.fact_sales", "--format", "json"], ["status", "--json"]]
    plain = {tuple(c): runner.invoke(cli, ["--dsn", dsn, *c]) for c in commands}
    for name, value in ODD.items():
        monkeypatch.setenv(name, value)
    for c in commands:
        odd = runner.invoke(cli, ["--dsn", dsn, *c])
        assert odd.exit_code == plain[tuple(c)].exit_code == 0, odd.output
        a, b = json.loads(plain[tuple(c)].stdout), json.loads(odd.stdout)
        for doc in (a, b):  # a freshness age is measured at the call
            for f in (doc.get("freshness_sla") or []) if isinstance(doc, dict) else []:
                f.pop("age", None)
        if c[0] == "status":
            assert a.keys() == b.keys() and a["recent_runs"] == b["recent_runs"] and a["pipelines"] == b["pipelines"]
            assert a["watermarks"] == b["watermarks"] and a["last_run_steps"] == b["last_run_steps"]
        else:
            assert a == b, c


def test_quarantine_retry_after_the_tables_were_rebuilt_loads_once(sales_next_day_template, conn, dsn, runner):
    """A sale quarantined for an unknown customer; the customer arrives; `dwh rebuild sales` (new surrogate
    keys for every dimension version) before `dwh quarantine retry`: the sale loads once, pointing at
    its customer's version, and a second retry does nothing."""
    qid, sale_id, customer_id = rows(conn, """
        SELECT quarantine_id, record_key::bigint, (payload->>'customer_id')::bigint FROM dwh_etl.quarantine
        WHERE target_table = 'silver.sales_sales' AND reasons[1] LIKE 'unknown customer_id %'""")[0]
    conn.execute("""
        INSERT INTO sales_src.customers (customer_id, first_name, last_name, email, city, country, customer_segment)
        VALUES (%s, 'Late', 'Arrival', 'late@example.com', 'Oslo', 'Norway', 'Consumer')""", (customer_id,))
    conn.execute(RUN_DAILY_SQL)
    rebuilt = runner.invoke(cli, ["--dsn", dsn, "rebuild", "sales", "--json"])
    assert rebuilt.exit_code == 0, rebuilt.output

    result = runner.invoke(cli, ["--dsn", dsn, "quarantine", "retry", str(qid)])
    assert result.exit_code == 0, result.output
    assert rows(conn, """
        SELECT c.customer_id, c.full_name FROM sales.fact_sales AS f
        JOIN sales.dim_customer AS c ON c.customer_key = f.customer_key WHERE f.sale_id = %s""", (sale_id,)) \
        == [(customer_id, "Late Arrival")]
    assert scalar(conn, "SELECT count(*) FROM silver.sales_sales WHERE sale_id = %s", (sale_id,)) == 1
    again = runner.invoke(cli, ["--dsn", dsn, "quarantine", "retry", str(qid)])
    assert again.exit_code == 0 and again.stdout == "(nothing to retry)\n"


def test_rebuild_of_an_area_while_a_run_holds_its_lock_is_refused_with_exit_5(loaded, dsn, runner):
    """`dwh rebuild sales` while a `daily` run holds the pipeline's run lock (a session holding the run's
    advisory lock as the runner does): exit 5, DW002, nothing emptied."""
    before = scalar(loaded, "SELECT count(*) FROM sales.fact_sales")
    holder = psycopg.connect(dsn, autocommit=True)
    try:
        key = scalar(loaded, "SELECT dwh_etl._run_lock_key('daily')") if scalar(
            loaded, "SELECT to_regproc('dwh_etl._run_lock_key') IS NOT NULL") else None
        if key is None:
            pytest.skip("the run lock's key function is not dwh_etl._run_lock_key")
        holder.execute("SELECT pg_advisory_lock(%s)", (key,))
        result = runner.invoke(cli, ["--dsn", dsn, "rebuild", "sales", "--json"])
        assert result.exit_code == 5, result.output
        assert json.loads(result.stderr)["sqlstate"] == "DW002"
    finally:
        holder.close()
    assert scalar(loaded, "SELECT count(*) FROM sales.fact_sales") == before


# ---------------------------------------------------------------------------------------------------
# scheduling (pg_cron's database is `postgres`, the warehouse another one)
# ---------------------------------------------------------------------------------------------------

def test_a_scheduled_run_that_fails_shows_in_schedule_list_and_status(conn, cron_conn, dsn, runner):
    """A pipeline whose step fails, scheduled every minute and synced through dblink into pg_cron's
    database: the job's run is recorded (a failed run in dwh_lineage), `dwh status` is not healthy and
    names it, `dwh schedule list --json` shows the job; etl_service reads both and cannot sync."""
    from psycopg.types.json import Jsonb

    conn.execute("UPDATE dwh_etl.pipelines SET is_active = false")
    conn.execute("""CREATE PROCEDURE public.step_a14a_boom(p_run_id bigint, p_run_date date) LANGUAGE plpgsql
                    AS $$ BEGIN RAISE EXCEPTION 'boom <b>"quoted"</b>'; END $$""")
    conn.execute("CALL dwh_etl.register_pipeline(p_pipeline => 'a14a_boom', p_schedules => %s)", (["* * * * *"],))
    conn.execute("CALL dwh_etl.register_steps(p_pipeline => 'a14a_boom', p_area => 'test', p_steps => %s)",
                 (Jsonb([{"step": "a14a_boom", "procedure": "public.step_a14a_boom", "layer": "ops"}]),))
    synced = runner.invoke(cli, ["--dsn", dsn, "schedule", "sync"])
    assert synced.exit_code == 0, synced.output
    try:
        found = _wait_for(lambda: rows(conn, """
            SELECT status, error_message FROM dwh_lineage.pipeline_runs
            WHERE pipeline_name = 'a14a_boom' AND parameters->>'trigger' = 'cron' AND status <> 'running'"""), 80)
    finally:
        conn.execute("SELECT * FROM dwh_etl.schedule_remove('a14a_boom')")
        conn.execute("CALL dwh_etl.sync_schedules()")
    assert found[0][0] == "failed" and "boom" in found[0][1]
    status = runner.invoke(cli, ["--dsn", dsn, "status", "--json"])
    doc = json.loads(status.stdout)
    assert any(r.get("pipeline") == "a14a_boom" and r.get("status") == "failed" for r in doc["recent_runs"]), doc["recent_runs"]
    text = runner.invoke(cli, ["--dsn", dsn, "status"])
    assert text.stdout.startswith("not healthy") and "a14a_boom" in text.stdout.splitlines()[0]
    etl = login(conn, "a14a_etl3", "etl_service")
    listed = runner.invoke(cli, ["--dsn", etl, "schedule", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    json.loads(listed.stdout)
    refused = runner.invoke(cli, ["--dsn", etl, "schedule", "sync"])
    assert refused.exit_code == 1 and "Traceback" not in refused.output
