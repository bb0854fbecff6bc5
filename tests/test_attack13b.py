"""Attack 13b: the machine and the operator surface. Two OS users (and root) beside each other on one
machine, the embedded cluster's files and its start/stop, the CLI's errors, and the roles of README
"Roles" through the CLI.

Defects found (each test failed before its fix):
- two dwh commands started at once on a new data directory both ran initdb and pg_ctl start: the others
  failed ("could not find the database system", "single-user server is running", a reload into a
  half-made data directory);
- as root, an existing parent of the data directory (``--data-dir /srv/pgdata``: /srv; /tmp; a user's
  home) was chowned to the postgres OS user;
- as root, dwh.conf / pg_hba.conf / postgresql.conf were written through symbolic links the postgres OS
  user (who owns the data directory) could plant: root truncated, wrote and chowned any file;
- etl_service could not run ``dwh status`` (nor ``dwh schedule list``) on a cluster with pg_cron:
  "permission denied for schema cron" (README: etl_service reads status);
- a HOME dwh may not write gave "Permission denied: /.local", with nothing on what to set; the folder dwh
  creates for the data directory followed the umask (world-writable under umask 000).

The tests that need another OS user (tests/test_embedded_security.py) skip without root; these reproduce
each defect as the suite's own user (a second data directory, a monkeypatched root, planted links).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import port_for
import psycopg
import pytest
from click.testing import CliRunner

from dwh_cli import embedded
from dwh_cli.cli import cli
from dwh_cli.embedded import Cluster

CLEAN_ENV = {name: None for name in ("DWH_DSN", "DWH_PORT", "PGHOST", "PGPORT", "PGDATABASE", "PGUSER",
                                     "PGSERVICE", "PGPASSWORD", "PGOPTIONS", "DWH_DATA_DIR")}
DWH = [sys.executable, "-c", "import sys; from dwh_cli.cli import cli; sys.exit(cli())"]


def _subprocess_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in CLEAN_ENV}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)
    env.update(extra)
    return env


class Emb:
    """An embedded cluster in a short temp path (unix socket paths are limited to ~107 bytes)."""

    def __init__(self):
        self.base = Path(tempfile.mkdtemp(prefix="dwh-13b-"))
        self.data_dir = self.base / "pgdata"
        self.port = port_for.select_random()
        self.runner = CliRunner()

    def env(self) -> dict:
        return {**CLEAN_ENV, "DWH_DATA_DIR": str(self.data_dir), "DWH_PORT": str(self.port)}

    def dwh(self, *args, input: str | None = None):
        return self.runner.invoke(cli, list(args), env=self.env(), input=input)

    def url(self, user: str = "postgres") -> str:
        return psycopg.conninfo.make_conninfo(Cluster(self.data_dir).conninfo(), user=user)

    def close(self):
        try:
            Cluster(self.data_dir).stop()
        finally:
            shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture(scope="module")
def racing():
    """A new data directory started by three `dwh db start` at once (separate processes); the cluster
    then serves the other tests of the module (started plainly if the race left it down)."""
    e = Emb()
    env = _subprocess_env(DWH_DATA_DIR=str(e.data_dir), DWH_PORT=str(e.port))
    procs = [subprocess.Popen([*DWH, "db", "start"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, cwd=e.base) for _ in range(3)]
    results = [(p.wait(timeout=240), *p.communicate()) for p in procs]
    if not Cluster(e.data_dir).running():
        e.dwh("db", "start")
    yield e, results
    e.close()


@pytest.fixture(scope="module")
def migrated(racing):
    """The racing cluster migrated, its schedules synced to pg_cron (removed afterwards), and a login of
    etl_service (socket connections are trust: the data directory is the gate)."""
    e, _ = racing
    result = e.dwh("migrate")
    assert result.exit_code == 0, result.output
    result = e.dwh("schedule", "sync")
    assert result.exit_code == 0, result.output
    result = e.dwh("db", "user", "add", "ed13b", "--role", "etl")
    assert result.exit_code == 0, result.output
    yield e
    e.dwh("schedule", "remove")


# -- one data directory, two dwh at once ------------------------------------------------------------
def test_three_dwh_starting_a_new_cluster_at_once_all_succeed(racing):
    e, results = racing
    assert [code for code, _out, _err in results] == [0, 0, 0], results
    outs = sorted(out.split(":")[0] for _code, out, _err in results)
    assert outs == ["already running", "already running", "started"], results
    # the cluster is the one dwh made: socket only, its managed settings in force
    with psycopg.connect(e.url(), autocommit=True) as conn:
        assert conn.execute("SELECT current_setting('listen_addresses'), current_setting('port')::int"
                            ).fetchone() == ("", e.port)
        assert conn.execute("SELECT count(*) FROM pg_hba_file_rules WHERE auth_method = 'trust' "
                            "AND type <> 'local'").fetchone() == (0,)


def test_files_dwh_makes_are_private(racing):
    """Held: nothing under the cluster's folder is readable by another user (log 0600, lock 0600, data
    directory 0700), and the folder dwh made is 0700."""
    e, _ = racing
    assert stat.S_IMODE(e.base.stat().st_mode) == 0o700  # mkdtemp's
    paths = [*e.base.iterdir(), e.data_dir / "dwh.conf", e.data_dir / "pg_hba.conf", e.data_dir / "postgresql.conf"]
    assert {p.name for p in paths} >= {"pgdata", "postgres.log"}
    for path in paths:
        assert stat.S_IMODE(path.lstat().st_mode) & 0o077 == 0, path


def test_the_folder_made_for_the_data_directory_is_private_whatever_the_umask(monkeypatch, tmp_path):
    data_dir = tmp_path / "share" / "dwh" / "pgdata"
    cluster = Cluster(data_dir, 54329)
    monkeypatch.setattr(cluster, "_run", _fake_initdb(data_dir))
    old = os.umask(0)
    try:
        cluster.init()
    finally:
        os.umask(old)
    # others cannot rename the data directory away and put their own cluster in its place
    assert stat.S_IMODE(data_dir.parent.stat().st_mode) & 0o022 == 0, oct(data_dir.parent.stat().st_mode)


def test_a_home_dwh_may_not_write_is_one_error_with_what_to_set(tmp_path):
    home = tmp_path / "home"
    home.mkdir(mode=0o500)
    try:
        env = {**CLEAN_ENV, "HOME": str(home), "XDG_DATA_HOME": None}
        for args in (["db", "start"], ["status", "--json"]):
            result = CliRunner().invoke(cli, args, env=env)
            assert result.exit_code == 1, result.output
            assert result.exception is None or isinstance(result.exception, SystemExit)
            text = result.stderr
            if "--json" in args:
                doc = json.loads(text)
                text = doc["error"] + "\n" + doc.get("hint", "")
            assert f"cannot create {home}/.local/share/dwh for the embedded cluster: Permission denied" in text
            assert "DWH_DATA_DIR" in text and "--dsn" in text, text
    finally:
        home.chmod(0o700)


# -- root: what dwh gives the postgres OS user --------------------------------------------------------
def _fake_initdb(data_dir: Path):
    def fake_run(tool, *args, check=True):
        if tool == "initdb":
            data_dir.mkdir(mode=0o700, exist_ok=True)
            for name in ("PG_VERSION", "postgresql.conf", "pg_hba.conf"):
                (data_dir / name).write_text("15\n" if name == "PG_VERSION" else "# initdb\n")
        return subprocess.CompletedProcess([tool], 0, "", "")
    return fake_run


class _FakeRoot:
    """Cluster as root without being root: initdb faked, chown calls recorded."""

    def __init__(self, monkeypatch, data_dir: Path):
        self.chowned: list[str] = []
        monkeypatch.setattr(embedded, "_is_root", lambda: True)
        monkeypatch.setattr(os, "chown", lambda path, uid, gid, **kw: self.chowned.append(str(path)))
        monkeypatch.setattr(os, "fchown", lambda fd, uid, gid: self.chowned.append(os.readlink(f"/proc/self/fd/{fd}")))
        self.cluster = Cluster(data_dir, 54329)
        monkeypatch.setattr(self.cluster, "_run", _fake_initdb(data_dir))


def test_as_root_an_existing_parent_of_the_data_directory_keeps_its_owner(monkeypatch, tmp_path):
    parent = tmp_path / "srv"
    parent.mkdir()
    root = _FakeRoot(monkeypatch, parent / "pgdata")
    root.cluster.init()
    assert str(parent) not in root.chowned, root.chowned  # was: chowned to postgres
    assert str(parent / "pgdata") in root.chowned  # the data directory dwh made is the service user's
    assert str(parent / "postgres.log") in root.chowned  # pg_ctl -l writes it as postgres
    assert (parent / "pgdata" / "dwh.conf").exists()


def test_as_root_a_parent_dwh_creates_is_the_service_users(monkeypatch, tmp_path):
    """Held: /var/lib/dwh (the default as root) is created for postgres, who must write its log there."""
    root = _FakeRoot(monkeypatch, tmp_path / "new" / "pgdata")
    root.cluster.init()
    assert str(tmp_path / "new") in root.chowned, root.chowned


def test_config_files_are_never_written_through_a_planted_link(tmp_path):
    """The data directory is the cluster's OS user's (as root: postgres, which its superuser reaches
    through COPY ... TO PROGRAM): a link planted there must not make root write elsewhere."""
    data_dir = tmp_path / "pgdata"
    data_dir.mkdir(mode=0o700)
    (data_dir / "PG_VERSION").write_text("15\n")
    (data_dir / "postgresql.conf").write_text("# initdb\n")
    victim = tmp_path / "shadow"
    victim.write_text("precious\n")
    (data_dir / "dwh.conf.dwh-tmp").symlink_to(victim)
    (data_dir / "pg_hba.conf.dwh-tmp").symlink_to(victim)
    Cluster(data_dir, 54329)._write_config(54329, None)
    assert victim.read_text() == "precious\n"
    assert not (data_dir / "dwh.conf").is_symlink() and "port = 54329" in (data_dir / "dwh.conf").read_text()
    assert not (data_dir / "pg_hba.conf").is_symlink()

    # postgresql.conf replaced by a link: refused, the target untouched
    (data_dir / "postgresql.conf").unlink()
    (data_dir / "postgresql.conf").symlink_to(victim)
    with pytest.raises(embedded.DwhError, match="is a symbolic link"):
        Cluster(data_dir, 54329)._write_config(54329, None)
    assert victim.read_text() == "precious\n"


# -- roles through the CLI ----------------------------------------------------------------------------
def test_etl_service_reads_dwh_status_and_the_schedule_on_a_cluster_with_pg_cron(migrated):
    e = migrated
    owner = json.loads(e.dwh("status", "--json").stdout)
    jobs = {s["job_name"] for s in owner["schedule"] if s["job_exists"]}
    assert "dwh:daily" in jobs, owner["schedule"]

    result = e.dwh("--dsn", e.url("ed13b"), "status", "--json")
    assert result.exit_code == 0, result.output  # was: permission denied for schema cron
    doc = json.loads(result.stdout)
    assert {s["job_name"] for s in doc["schedule"] if s["job_exists"]} == jobs
    assert [h for h in doc["cron_health"] if h["item"] == "jobs"][0]["ok"] is True

    result = e.dwh("--dsn", e.url("ed13b"), "schedule", "list", "--json")
    assert result.exit_code == 0, result.output
    assert {j["job_name"] for j in json.loads(result.stdout)} == jobs

    result = e.dwh("--dsn", e.url("ed13b"), "status")
    assert result.exit_code == 0, result.output
    assert "no job" not in result.stdout


def test_etl_service_still_cannot_change_the_schedule(migrated):
    """Held: sync and remove stay the owner's, refused with one message, nothing changed."""
    e = migrated
    before = json.loads(e.dwh("schedule", "list", "--json").stdout)
    for args in (["schedule", "sync"], ["schedule", "remove"], ["schedule", "remove", "daily"]):
        result = e.dwh("--dsn", e.url("ed13b"), *args)
        assert result.exit_code == 1, result.output
        assert "permission denied for function schedule_" in result.stderr, result.stderr
    assert json.loads(e.dwh("schedule", "list", "--json").stdout) == before
    with psycopg.connect(e.url("ed13b"), autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT * FROM cron.job")


# -- a listen setting the server cannot start with ------------------------------------------------------
def test_a_listen_port_in_use_leaves_the_cluster_running_as_it_was(racing):
    """Another user's cluster (here a plain socket) holds the port: `dwh db start --listen` fails with the
    cause, and the cluster runs again with its previous setting. It used to stay stopped with the new
    setting remembered, so every later command of that user failed until `dwh db start --listen none`."""
    import socket

    e, _ = racing
    before = (e.data_dir / "dwh.conf").read_text()
    blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    blocker.bind(("127.0.0.1", 0))
    blocker.listen(1)
    try:
        port = blocker.getsockname()[1]
        result = e.dwh("db", "start", "--listen", f"127.0.0.1:{port}")
        assert result.exit_code == 1, result.output
        assert "Address already in use" in result.stderr, result.stderr
        assert "runs again with its previous setting (unix socket only" in result.stderr, result.stderr
    finally:
        blocker.close()
    assert (e.data_dir / "dwh.conf").read_text() == before
    result = e.dwh("db", "status", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) | {"data_dir": None} == {"data_dir": None, "port": e.port, "initialized": True,
                                                              "running": True, "listen": None}
    with psycopg.connect(e.url(), autocommit=True) as conn:
        assert conn.execute("SELECT current_setting('listen_addresses')").fetchone() == ("",)


def test_a_cluster_that_runs_but_does_not_answer_is_a_connection_error_with_a_hint(monkeypatch, tmp_path):
    """kill -9 of the server: until its process is reaped pg_ctl still says it runs, and every command
    said only "connection is bad: ... Connection refused"."""
    data_dir = tmp_path / "pgdata"
    data_dir.mkdir(mode=0o700)
    (data_dir / "PG_VERSION").write_text("15\n")
    (data_dir / "postgresql.conf").write_text("# initdb\n")
    Cluster(data_dir, 54329)._write_config(port_for.select_random(), None)
    monkeypatch.setattr(Cluster, "running", lambda self: True)
    result = CliRunner().invoke(cli, ["status", "--json"], env={**CLEAN_ENV, "DWH_DATA_DIR": str(data_dir)})
    assert result.exit_code == 3, result.output
    doc = json.loads(result.stderr)
    assert doc["error"].startswith(f"the embedded cluster in {data_dir} does not answer: "), doc
    assert "dwh db stop && dwh db start" in doc["hint"], doc
