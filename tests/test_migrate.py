from __future__ import annotations

import threading

from dwh_cli.cli import cli
from dwh_cli.migrate import migrate, read_procedure_files


def applied_code(conn) -> dict[str, str]:
    return dict(conn.execute("SELECT path, sha256 FROM dwh_etl.applied_code").fetchall())


def test_template_has_every_procedure_file_recorded(conn):
    files = read_procedure_files()
    assert applied_code(conn) == {f.path: f.sha256 for f in files}


def test_migrate_twice_applies_nothing_the_second_time(runner, dsn, conn):
    before = conn.execute("SELECT count(*) FROM _yoyo_migration").fetchone()[0]
    result = runner.invoke(cli, ["--dsn", dsn, "migrate"])
    assert result.exit_code == 0, result.output
    n_files = len(read_procedure_files())
    assert result.stdout == (f"Database is up to date ({before} migrations, {n_files} procedure files).\n")
    assert conn.execute("SELECT count(*) FROM _yoyo_migration").fetchone()[0] == before


def test_migrate_dry_run_lists_changed_procedure_file_and_applies_nothing(runner, dsn, conn):
    path = read_procedure_files()[0].path
    conn.execute("UPDATE dwh_etl.applied_code SET sha256 = 'stale' WHERE path = %s", (path,))
    result = runner.invoke(cli, ["--dsn", dsn, "migrate", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [f"pending {path}", "0 migrations, 1 procedure files pending."]
    assert applied_code(conn)[path] == "stale"


def test_migrate_reapplies_only_the_changed_file(runner, dsn, conn):
    files = read_procedure_files()
    conn.execute("UPDATE dwh_etl.applied_code SET sha256 = 'stale' WHERE path = %s", (files[0].path,))
    result = runner.invoke(cli, ["--dsn", dsn, "migrate"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == f"applied {files[0].path}"
    assert applied_code(conn) == {f.path: f.sha256 for f in files}


def test_migrate_force_reapplies_every_procedure_file(dsn):
    res = migrate(dsn, force=True)
    assert res.migrations_applied == []
    assert res.procedures_applied == [f.path for f in read_procedure_files()]


def test_migrate_json_output(runner, dsn):
    result = runner.invoke(cli, ["--dsn", dsn, "migrate", "--json"])
    assert result.exit_code == 0, result.output
    import json

    doc = json.loads(result.stdout)
    assert doc["up_to_date"] is True and doc["migrations"] == [] and doc["procedures"] == []


def test_concurrent_migrates_serialize_and_both_succeed(dsn, conn):
    conn.execute("UPDATE dwh_etl.applied_code SET sha256 = 'stale'")
    results, errors = [], []

    def worker():
        try:
            results.append(migrate(dsn))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    assert len(results) == 2
    files = read_procedure_files()
    # exactly one of them applied the files; the other found the database up to date
    assert sorted(len(r.procedures_applied) for r in results) == [0, len(files)]
    assert applied_code(conn) == {f.path: f.sha256 for f in files}
    assert conn.execute("SELECT count(*) FROM yoyo_lock").fetchone()[0] == 0


def test_migrate_waits_while_another_holds_the_lock(dsn, conn):
    import psycopg

    messages = []
    with psycopg.connect(dsn, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(hashtext('dwh:migrate'))")
        t = threading.Thread(target=lambda: migrate(dsn, log=messages.append))
        t.start()
        t.join(2)
        assert t.is_alive(), "migrate must wait for the lock"
        holder.execute("SELECT pg_advisory_unlock(hashtext('dwh:migrate'))")
    t.join(60)
    assert not t.is_alive()
    assert messages[0] == "waiting for another dwh migrate to finish ..."


def test_migrate_applies_a_new_migration_from_another_home(tmp_path, dsn, conn):
    from dwh_cli.config import dwh_home
    import shutil

    home = tmp_path / "home"
    shutil.copytree(dwh_home() / "migrations", home / "migrations")
    shutil.copytree(dwh_home() / "procedures", home / "procedures")
    (home / "migrations" / "9999_probe.sql").write_text(
        "CREATE TABLE public.probe (probe_id int PRIMARY KEY);\n")
    res = migrate(dsn, home=home)
    assert res.migrations_applied == ["9999_probe"]
    assert res.procedures_applied == []
    assert conn.execute("SELECT to_regclass('public.probe') IS NOT NULL").fetchone()[0]


def test_procedure_folders_may_nest_and_moved_files_are_forgotten(tmp_path, dsn, conn):
    """procedures/ORDER lists top folders; their subfolders (dwh_etl/runner/...) apply with them, own files
    first; a file that moved is recorded under its new path only."""
    from dwh_cli.config import dwh_home
    import shutil

    home = tmp_path / "home"
    (home / "procedures" / "a" / "sub").mkdir(parents=True)
    (home / "procedures" / "b").mkdir()
    (home / "procedures" / "ORDER").write_text("# test\nb\na\n")
    (home / "procedures" / "a" / "z.sql").write_text("SELECT 1;")
    (home / "procedures" / "a" / "sub" / "a.sql").write_text("SELECT 2;")
    (home / "procedures" / "b" / "y.sql").write_text("SELECT 3;")
    assert [f.path for f in read_procedure_files(home=home)] == [
        "procedures/b/y.sql", "procedures/a/z.sql", "procedures/a/sub/a.sql"]
    conn.execute("INSERT INTO dwh_etl.applied_code (path, sha256, applied_at) "
                 "VALUES ('procedures/a/moved_away.sql', 'x', now())")
    shutil.copytree(dwh_home() / "migrations", home / "migrations")
    migrate(dsn, home=home)
    paths = set(applied_code(conn))
    assert "procedures/a/moved_away.sql" not in paths
    assert {"procedures/b/y.sql", "procedures/a/z.sql", "procedures/a/sub/a.sql"} <= paths
