"""The embedded cluster accepts no connection from another OS user (issue 9, item 1): unix socket only,
in a directory only its owner can enter; TCP only with `dwh db start --listen`, scram passwords only,
never the superuser; the port is remembered with the data directory; `dwh db user add|list|remove`."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import port_for
import psycopg
import pytest
from click.testing import CliRunner

from dwh_cli.cli import cli
from dwh_cli.embedded import Cluster, Listen, parse_listen

CLEAN_ENV = {name: None for name in ("DWH_DSN", "DWH_PORT", "PGHOST", "PGPORT", "PGDATABASE", "PGUSER",
                                     "PGSERVICE", "PGPASSWORD", "PGOPTIONS")}


class Emb:
    """One embedded cluster in a short temp path (unix socket paths are limited to ~107 bytes)."""

    def __init__(self, port: int | None = None):
        self.base = Path(tempfile.mkdtemp(prefix="dwh-sec-"))
        self.data_dir = self.base / "pgdata"
        self.port = port or port_for.select_random()
        self.runner = CliRunner()

    def dwh(self, *args, port: int | None = None, input: str | None = None):
        env = {**CLEAN_ENV, "DWH_DATA_DIR": str(self.data_dir), "DWH_PORT": str(port or self.port)}
        return self.runner.invoke(cli, list(args), env=env, input=input)

    def sql(self, query, params=None):
        with psycopg.connect(Cluster(self.data_dir).conninfo(), autocommit=True) as conn:
            cur = conn.execute(query, params)
            return cur.fetchall() if cur.description else []

    def close(self):
        try:
            Cluster(self.data_dir).stop()
        finally:
            shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture(scope="module")
def emb():
    e = Emb()
    result = e.dwh("db", "start")
    assert result.exit_code == 0, result.output
    # the group roles migrations/0001_engine.sql creates (enough for `dwh db user`; no full migrate)
    e.sql("CREATE ROLE analyst_role NOLOGIN; CREATE ROLE etl_service NOLOGIN; CREATE ROLE dwh_owner NOLOGIN")
    yield e
    e.close()


def tcp(port, user, password=None, dbname="dwh"):
    return psycopg.connect(host="127.0.0.1", port=port, user=user, password=password, dbname=dbname,
                           connect_timeout=5, autocommit=True)


# -- socket only by default ------------------------------------------------------------------------
def test_default_cluster_has_no_tcp_listener_and_a_private_socket_dir(emb):
    [(listen, perms, sockdir, enc)] = emb.sql(
        "SELECT current_setting('listen_addresses'), current_setting('unix_socket_permissions'), "
        "current_setting('unix_socket_directories'), current_setting('password_encryption')")
    assert listen == ""
    assert perms == "0700"
    assert Path(sockdir) == emb.data_dir
    assert enc == "scram-sha-256"
    st = emb.data_dir.stat()
    assert stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == os.geteuid()
    assert (emb.data_dir / f".s.PGSQL.{emb.port}").is_socket()
    with pytest.raises(psycopg.OperationalError, match="refused|failed"):
        tcp(emb.port, "postgres")


def test_no_trust_rule_applies_to_tcp(emb):
    rules = emb.sql("SELECT type, database, user_name, auth_method, error FROM pg_hba_file_rules")
    assert all(r[4] is None for r in rules), rules
    host = [r for r in rules if r[0].startswith("host")]
    assert host and all(r[3] in ("scram-sha-256", "reject") for r in host), rules
    assert ("host", ["all"], ["postgres"], "reject", None) in rules


def _other_user_cmd() -> list[str] | None:
    """A way to run a command as `nobody`: runuser as root, else passwordless sudo."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "nobody", "--"]
    if shutil.which("sudo") and subprocess.run(["sudo", "-n", "-u", "nobody", "true"],
                                               capture_output=True).returncode == 0:
        return ["sudo", "-n", "-u", "nobody", "--"]
    return None


def test_another_os_user_gets_no_connection(emb):
    prefix = _other_user_cmd()
    if prefix is None:
        pytest.skip("cannot switch to another OS user here (not root, no sudo); the permission bits and "
                    "the absence of a TCP listener are checked above")
    code = ("import psycopg, sys\n"
            "for kw in (dict(host=sys.argv[1]), dict(host='127.0.0.1')):\n"
            "    try:\n"
            "        psycopg.connect(port=sys.argv[2], user='postgres', dbname='dwh', connect_timeout=5, **kw)\n"
            "        print('CONNECTED', kw)\n"
            "    except psycopg.OperationalError as exc:\n"
            "        print('refused', kw, str(exc).strip().splitlines()[-1])\n")
    out = subprocess.run([*prefix, "env", f"PYTHONPATH={os.pathsep.join(os.sys.path)}", os.sys.executable,
                          "-c", code, str(emb.data_dir), str(emb.port)], capture_output=True, text=True,
                         cwd="/")
    assert "CONNECTED" not in out.stdout and out.stdout.count("refused") == 2, out.stdout + out.stderr


# -- the port is remembered with the data directory --------------------------------------------------
def test_port_is_remembered_and_another_dwh_port_is_ignored_with_a_warning(emb):
    other = port_for.select_random()
    result = emb.dwh("db", "start", port=other)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("already running: ")
    assert f"port={emb.port}" in result.stdout
    assert f"DWH_PORT={other} ignored" in result.stderr
    assert f"port = {emb.port}" in (emb.data_dir / "dwh.conf").read_text()
    status = json.loads(emb.dwh("db", "status", "--json", port=other).stdout)
    assert status["port"] == emb.port and status["listen"] is None


def test_two_socket_only_clusters_on_the_same_port_do_not_clash(emb):
    second = Emb(port=emb.port)
    try:
        result = second.dwh("db", "start")
        assert result.exit_code == 0, result.output
        assert second.sql("SELECT 1") == [(1,)]
    finally:
        second.close()


# -- --listen for BI tools, users -------------------------------------------------------------------
def test_listen_opens_tcp_with_scram_only_and_never_for_the_superuser(emb):
    port = port_for.select_random()
    result = emb.dwh("db", "start", "--listen", f"127.0.0.1:{port}")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("restarted: ") and f"port={port}" in result.stdout
    try:
        assert emb.sql("SELECT current_setting('listen_addresses')") == [("127.0.0.1",)]
        # a plain start keeps it (remembered with the data directory)
        result = emb.dwh("db", "start")
        assert result.stdout.startswith("already running: ") and f"port={port}" in result.stdout
        assert json.loads(emb.dwh("db", "status", "--json").stdout)["listen"] == f"127.0.0.1:{port}"

        with pytest.raises(psycopg.OperationalError, match="pg_hba.conf rejects|password"):
            tcp(port, "postgres")
        with pytest.raises(psycopg.OperationalError, match="pg_hba.conf rejects|password"):
            tcp(port, "postgres", "postgres")

        result = emb.dwh("db", "user", "add", "bi_tool", "--role", "analyst", "--json")
        assert result.exit_code == 0, result.output
        created = json.loads(result.stdout)
        assert created["member_of"] == "analyst_role" and len(created["password"]) >= 20
        with tcp(port, "bi_tool", created["password"]) as c:
            assert c.execute("SELECT current_user, pg_has_role('analyst_role', 'MEMBER'), "
                             "(SELECT rolsuper FROM pg_roles WHERE rolname = current_user)").fetchone() == (
                "bi_tool", True, False)
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            tcp(port, "bi_tool", "wrong")
        [(verifier,)] = emb.sql("SELECT rolpassword FROM pg_authid WHERE rolname = 'bi_tool'")
        assert verifier.startswith("SCRAM-SHA-256$")

        result = emb.dwh("db", "user", "add", "loader", "--role", "etl", "--password-stdin",
                         input="s3cret-Passw0rd\n")
        assert result.exit_code == 0, result.output
        assert "s3cret" not in result.output
        with tcp(port, "loader", "s3cret-Passw0rd") as c:
            assert c.execute("SELECT pg_has_role('etl_service', 'MEMBER')").fetchone() == (True,)

        rows = json.loads(emb.dwh("db", "user", "list", "--json").stdout)
        assert [(r["user"], r["role"]) for r in rows] == [("bi_tool", "analyst"), ("loader", "etl")]

        result = emb.dwh("db", "user", "remove", "bi_tool")
        assert result.exit_code == 0, result.output
        with pytest.raises(psycopg.OperationalError):
            tcp(port, "bi_tool", created["password"])
        assert [r["user"] for r in json.loads(emb.dwh("db", "user", "list", "--json").stdout)] == ["loader"]
    finally:
        result = emb.dwh("db", "start", "--listen", "none")
    assert result.exit_code == 0, result.output
    assert emb.sql("SELECT current_setting('listen_addresses')") == [("",)]
    with pytest.raises(psycopg.OperationalError):
        tcp(port, "loader", "s3cret-Passw0rd")


@pytest.mark.parametrize("args, message", [
    (["db", "user", "add", "loader2", "--role", "admin"], "Invalid value for '--role'"),
    (["db", "user", "add", "x'; DROP ROLE postgres; --", "--role", "analyst"], "invalid user name"),
    (["db", "user", "add", "postgres", "--role", "analyst"], "reserved"),
    (["db", "user", "add", "pg_reader", "--role", "analyst"], "reserved"),
    (["db", "user", "remove", "postgres"], "reserved"),
    (["db", "user", "remove", "nobody_here"], "no user 'nobody_here'"),
    (["db", "start", "--listen", "127.0.0.1"], "is not ADDR:PORT"),
    (["db", "start", "--listen", "1.2.3.4:70000"], "out of range"),
    (["db", "start", "--listen", "a'b:5433"], "is not an IP address"),
])
def test_bad_user_and_listen_arguments_are_clear_errors(emb, args, message):
    result = emb.dwh(*args)
    assert result.exit_code in (1, 2), result.output
    assert message in result.stderr, result.stderr
    assert "Traceback" not in result.output


def test_adding_an_existing_user_is_a_clear_error(emb):
    emb.sql("CREATE ROLE somebody LOGIN")
    result = emb.dwh("db", "user", "add", "somebody", "--role", "analyst")
    assert result.exit_code == 1
    assert "error: role 'somebody' already exists" in result.stderr
    result = emb.dwh("db", "user", "remove", "somebody")
    assert result.exit_code == 1 and "is not a dwh user" in result.stderr


def test_parse_listen():
    assert parse_listen("0.0.0.0:5433") == Listen("0.0.0.0", 5433)
    assert parse_listen("[::1]:5433") == Listen("::1", 5433)
    assert parse_listen("*:5433") == Listen("*", 5433)
    assert parse_listen("none") is None
    assert str(Listen("::1", 5)) == "[::1]:5"


# -- failures say why -------------------------------------------------------------------------------
def test_a_port_clash_over_tcp_reports_the_cause_from_the_server_log(emb):
    blocker = Emb()
    try:
        assert blocker.dwh("db", "start", "--listen", f"127.0.0.1:{blocker.port}").exit_code == 0
        other = Emb()
        try:
            result = other.dwh("db", "start", "--listen", f"127.0.0.1:{blocker.port}")
            assert result.exit_code == 1, result.output
            assert "error: pg_ctl failed" in result.stderr
            assert "Address already in use" in result.stderr, result.stderr
        finally:
            other.close()
    finally:
        blocker.close()


def test_a_cluster_made_by_an_older_dwh_is_secured_on_start():
    e = Emb()
    try:
        cluster = Cluster(e.data_dir, e.port)
        cluster.init()
        # what an older dwh wrote: trust everywhere, listening on localhost
        (e.data_dir / "dwh.conf").unlink()
        conf = e.data_dir / "postgresql.conf"
        conf.write_text(conf.read_text().replace("include_if_exists = 'dwh.conf'", "")
                        + f"\nlisten_addresses = 'localhost'\nport = {e.port}\n")
        (e.data_dir / "pg_hba.conf").write_text("local all all trust\nhost all all 127.0.0.1/32 trust\n")
        result = e.dwh("db", "start", port=port_for.select_random())
        assert result.exit_code == 0, result.output
        assert "securing the embedded cluster" in result.stderr
        assert f"port={e.port}" in result.stdout
        assert e.sql("SELECT current_setting('listen_addresses')") == [("",)]
        assert not [r for r in e.sql("SELECT type, auth_method FROM pg_hba_file_rules") if r[1] == "trust"
                    and r[0] != "local"]
    finally:
        e.close()


def test_a_data_directory_we_may_not_enter_is_an_error_message_not_a_traceback():
    e = Emb()
    try:
        e.data_dir.mkdir(mode=0o700)
        e.base.chmod(0o000)
        result = e.dwh("db", "status")
        assert result.exit_code == 1, result.output
        assert result.stderr.startswith("error: Permission denied: "), result.stderr
        assert result.exception is None or isinstance(result.exception, SystemExit)
    finally:
        e.base.chmod(0o700)
        e.close()
