"""The embedded cluster: start, status, url, stop in a private data dir on a free port."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import port_for
import psycopg
import pytest

from dwh_cli.cli import cli


@pytest.fixture
def embedded(cli_env, monkeypatch):
    # a short path: the unix socket lives in the data dir (socket paths are limited to ~107 bytes)
    base = Path(tempfile.mkdtemp(prefix="dwh-emb-"))
    data_dir = base / "pgdata"
    port = port_for.select_random()
    monkeypatch.setenv("DWH_DATA_DIR", str(data_dir))
    monkeypatch.setenv("DWH_PORT", str(port))
    yield data_dir, port
    from dwh_cli.embedded import Cluster

    try:
        Cluster(data_dir, port).stop()
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_embedded_cluster_start_status_url_stop(runner, embedded):
    data_dir, port = embedded
    result = runner.invoke(cli, ["db", "status"])
    assert result.exit_code == 3
    assert result.stdout == f"not initialized: data {data_dir}, port {port}, unix socket only\n"

    result = runner.invoke(cli, ["db", "start"])
    assert result.exit_code == 0, result.output
    url = f"host={data_dir} port={port} user=postgres dbname=dwh"
    assert result.stdout == f"started: {url}\n"

    result = runner.invoke(cli, ["db", "start"])
    assert result.stdout == f"already running: {url}\n"

    result = runner.invoke(cli, ["db", "status", "--json"])
    assert result.exit_code == 0
    assert '"running": true' in result.stdout

    result = runner.invoke(cli, ["db", "url"])
    assert result.stdout == url + "\n"
    with psycopg.connect(result.stdout.strip()) as conn:
        assert conn.execute("SELECT current_database(), current_setting('listen_addresses')").fetchone() == (
            "dwh", "")  # unix socket only

    result = runner.invoke(cli, ["db", "stop"])
    assert result.exit_code == 0 and result.stdout == "stopped\n"
    result = runner.invoke(cli, ["db", "status"])
    assert result.exit_code == 3
    assert result.stdout == f"stopped: data {data_dir}, port {port}, unix socket only\n"
    assert runner.invoke(cli, ["db", "stop"]).stdout == "not running\n"


def test_commands_start_the_embedded_cluster_when_nothing_is_configured(runner, embedded):
    data_dir, port = embedded
    result = runner.invoke(cli, ["migrate", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "starting embedded PostgreSQL" in result.stderr
    assert runner.invoke(cli, ["db", "status"]).exit_code == 0
