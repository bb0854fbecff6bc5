from __future__ import annotations

import json

import pytest

from dwh_cli import __version__
from dwh_cli.cli import cli

COMMANDS = [[], ["migrate"], ["run"], ["status"], ["lineage"], ["demo"], ["db"], ["db", "start"],
            ["db", "stop"], ["db", "status"], ["db", "url"]]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "dwh")
def test_every_command_has_help_with_an_example(runner, command):
    result = runner.invoke(cli, [*command, "-h"])
    assert result.exit_code == 0
    assert "Example:" in result.stdout


def test_version(runner):
    result = runner.invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.stdout == f"dwh, version {__version__}\n"


def test_unreachable_server_exits_3_with_one_error_message(runner):
    result = runner.invoke(cli, ["--dsn", "host=127.0.0.1 port=1 dbname=dwh connect_timeout=3", "status"])
    assert result.exit_code == 3
    lines = result.stderr.splitlines()
    assert lines[0].startswith("error: cannot connect to PostgreSQL: ")
    assert all(line.startswith(("error: ", "detail: ", "hint: ")) for line in lines)
    assert "Traceback" not in result.output
    assert result.stdout == ""


def test_dwh_dsn_variable_is_used_when_no_option(runner, monkeypatch):
    monkeypatch.setenv("DWH_DSN", "host=127.0.0.1 port=1 connect_timeout=3")
    result = runner.invoke(cli, ["migrate"])
    assert result.exit_code == 3
    assert 'port 1 failed' in result.stderr


@pytest.mark.parametrize("args", [
    ["run", "daily", "--date", "2025-02-30"],
    ["run", "daily", "--date", "2025-01-01", "--from", "2025-01-01", "--to", "2025-01-02"],
    ["run", "daily", "--from", "2025-01-02"],
    ["run", "daily", "--from", "2025-01-02", "--to", "2025-01-01"],
])
def test_bad_dates_are_usage_errors(runner, args):
    result = runner.invoke(cli, ["--dsn", "host=127.0.0.1 port=1", *args])
    assert result.exit_code == 2
    assert "Usage: " in result.stderr


def pipeline_run_count(conn) -> int:
    return conn.execute("SELECT count(*) FROM dwh_lineage.pipeline_runs").fetchone()[0]


def test_unknown_pipeline_exits_4_with_hint(runner, dsn, conn):
    before = pipeline_run_count(conn)
    result = runner.invoke(cli, ["--dsn", dsn, "run", "no_such_pipeline", "--date", "2025-01-31"])
    assert result.exit_code == 4, result.output
    lines = result.stderr.splitlines()
    assert lines[0].startswith("error: ") and "no_such_pipeline" in lines[0]
    assert any(line.startswith("hint: ") for line in lines)
    assert "Traceback" not in result.output
    assert pipeline_run_count(conn) == before


def test_run_prints_run_id_and_records_it(runner, dsn, conn):
    result = runner.invoke(cli, ["--dsn", dsn, "run", "daily", "--date", "2025-01-31", "--json"])
    assert result.exit_code in (0, 1), result.output
    runs = json.loads(result.stdout)
    assert [(r["pipeline"], r["run_date"]) for r in runs] == [("daily", "2025-01-31")]
    run_id = runs[0]["run_id"]
    assert run_id is not None
    row = conn.execute("SELECT status FROM dwh_lineage.pipeline_runs WHERE run_id = %s", (run_id,)).fetchone()
    assert row is not None and row[0] == runs[0]["status"]


def test_status_json_is_the_status_report_document(runner, dsn, conn):
    result = runner.invoke(cli, ["--dsn", dsn, "status", "--json"])
    assert result.exit_code == 0, result.output
    expected = conn.execute("SELECT dwh_etl.status_report(p_runs => 5)").fetchone()[0]
    assert json.loads(result.stdout) == json.loads(json.dumps(expected, default=str))


def test_lineage_json_matches_get_upstream(runner, dsn, conn):
    table = "sales.fact_sales"
    result = runner.invoke(cli, ["--dsn", dsn, "lineage", table, "--json"])
    assert result.exit_code == 0, result.output
    rows = conn.execute("SELECT level, table_name, dependency_type FROM dwh_lineage.get_upstream(%s)",
                        (table,)).fetchall()
    got = [(r["level"], r["table_name"], r["dependency_type"]) for r in json.loads(result.stdout)]
    assert got == [tuple(r) for r in rows]


def test_document_printer_turns_lists_of_objects_into_tables():
    from dwh_cli.output import document

    doc = {"pipelines": [{"name": "daily", "runs": 3}, {"name": "hourly", "runs": 12}],
           "generated_at": "2025-01-31"}
    assert document(doc) == (
        "generated_at  2025-01-31\n"
        "\n"
        "pipelines\n"
        "name    runs\n"
        "------  ----\n"
        "daily      3\n"
        "hourly    12"
    )
