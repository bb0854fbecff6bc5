from __future__ import annotations

import json
from pathlib import Path

import pytest

from dwh_cli import __version__
from dwh_cli.cli import cli

COMMANDS = [[], ["migrate"], ["run"], ["status"], ["lineage"], ["demo"], ["db"], ["db", "start"],
            ["db", "stop"], ["db", "status"], ["db", "url"], ["db", "user"], ["db", "user", "add"],
            ["db", "user", "list"], ["db", "user", "remove"]]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "dwh")
def test_every_command_has_help_with_an_example(runner, command):
    result = runner.invoke(cli, [*command, "-h"])
    assert result.exit_code == 0
    assert "Example:" in result.stdout


def test_version(runner):
    result = runner.invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.stdout == f"dwh, version {__version__}\n"
    pyproject = (Path(__file__).resolve().parent.parent / "pyproject.toml").read_text()
    assert f'\nversion = "{__version__}"\n' in pyproject


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


# -- the client's environment does not change what the CLI reads (issue 9, item 6) ---------------------
HOSTILE_ENVS = {
    "tokyo": {"PGTZ": "Asia/Tokyo"},
    "sql-dmy": {"PGDATESTYLE": "SQL, DMY"},
    "german": {"PGDATESTYLE": "German"},
    "latin1": {"PGCLIENTENCODING": "LATIN1"},
    "all": {"PGTZ": "America/New_York", "PGDATESTYLE": "Postgres, DMY", "PGCLIENTENCODING": "LATIN1",
            "PGOPTIONS": "-c IntervalStyle=sql_standard -c extra_float_digits=-3"},
}


@pytest.mark.parametrize("env", HOSTILE_ENVS.values(), ids=HOSTILE_ENVS.keys())
def test_json_commands_work_whatever_the_client_session_settings(runner, dsn, conn, env):
    # a non-ASCII, non-LATIN1 value the commands must carry through
    if _quarantine_insertable(conn):
        conn.execute("INSERT INTO dwh_etl.quarantine (source_table, target_table, payload, reasons) "
                     "VALUES ('t.src', 't.dst', %s, ARRAY['bad ✓ 日本'])", ('{"name": "日本 ✓"}',))
    run = runner.invoke(cli, ["--dsn", dsn, "run", "daily", "--date", "2025-01-31", "--json"], env=env)
    assert run.exception is None or isinstance(run.exception, SystemExit), run.output
    assert run.exit_code in (0, 1), run.output
    runs = json.loads(run.stdout)
    assert [(r["pipeline"], r["run_date"]) for r in runs] == [("daily", "2025-01-31")]
    outputs = {"run": run.stdout}
    for args in (["status", "--json"], ["quality", "--json"], ["quarantine", "list", "--all", "--json"]):
        result = runner.invoke(cli, ["--dsn", dsn, *args], env=env)
        assert result.exit_code == 0, (args, result.output)
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
        json.loads(result.stdout)
        outputs[args[0]] = result.stdout
    if _quarantine_insertable(conn):
        assert "bad ✓ 日本" in json.dumps(json.loads(outputs["quarantine"]), ensure_ascii=False)
    # timestamps come out in UTC, never in the client's zone
    assert "+09:00" not in outputs["status"] and "-05:00" not in outputs["status"]
    assert "-04:00" not in outputs["status"]


def _quarantine_insertable(conn) -> bool:
    cols = {r[0] for r in conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'dwh_etl' "
        "AND table_name = 'quarantine' AND is_nullable = 'NO' AND column_default IS NULL "
        "AND is_identity = 'NO' AND is_generated = 'NEVER'")}
    return cols <= {"source_table", "target_table", "payload", "reasons"}


def test_every_cli_connection_pins_its_session_settings_but_keeps_pgoptions(dsn, monkeypatch):
    from dwh_cli.config import connect

    monkeypatch.setenv("PGTZ", "Asia/Tokyo")
    monkeypatch.setenv("PGDATESTYLE", "SQL, DMY")
    monkeypatch.setenv("PGCLIENTENCODING", "LATIN1")
    monkeypatch.setenv("PGOPTIONS", "-c statement_timeout=4321 -c intervalstyle=iso_8601")
    for autocommit in (True, False):
        with connect(dsn, autocommit=autocommit) as c:
            got = c.execute("SELECT current_setting('DateStyle'), current_setting('TimeZone'), "
                            "current_setting('IntervalStyle'), current_setting('client_encoding'), "
                            "current_setting('extra_float_digits'), current_setting('statement_timeout'), "
                            "'2025-01-31 23:30:00+00'::timestamptz::text").fetchone()
            assert got == ("ISO, MDY", "UTC", "postgres", "UTF8", "3", "4321ms", "2025-01-31 23:30:00+00")
            assert c.autocommit is autocommit


def test_run_cut_by_statement_timeout_is_recorded_cancelled_and_shown(runner, conn, dsn, monkeypatch):
    conn.execute("""
        CREATE PROCEDURE public.step_nap(p_run_id bigint, p_run_date date) LANGUAGE plpgsql AS $$
        BEGIN PERFORM pg_sleep(20); END $$
    """)
    conn.execute("CALL dwh_etl.register_pipeline(p_pipeline => 'nap', p_description => 'test', p_schedules => '{}')")
    conn.execute("""CALL dwh_etl.register_steps(p_pipeline => 'nap', p_area => 'test',
                    p_steps => '[{"step": "nap", "procedure": "public.step_nap", "layer": "bronze"}]')""")
    monkeypatch.setenv("PGOPTIONS", "-c statement_timeout=1500")

    result = runner.invoke(cli, ["--dsn", dsn, "run", "nap", "--json"])

    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert "cancelled at step nap: canceling statement due to statement timeout" in result.stderr
    [run] = json.loads(result.stdout)
    assert run["status"] == "cancelled"
    assert [(s["step_name"], s["status"]) for s in run["steps"]] == [("nap", "cancelled")]
    # the pipeline is not left locked: it runs again at once (and is cut again)
    again = runner.invoke(cli, ["--dsn", dsn, "run", "nap"])
    assert again.exit_code == 1
    assert "already running" not in again.output


def test_info_reports_connection_extensions_roles_and_migrations(runner, dsn):
    """dwh info (issue 14): like dbt debug, one readiness line first, then the details; --json parses."""
    result = runner.invoke(cli, ["--dsn", dsn, "info", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["connection"]["database"] and doc["connection"]["server_version"].startswith("15")
    assert doc["connection"]["source"].startswith("option or environment")
    assert {e["name"]: bool(e["installed"]) for e in doc["extensions"]}["plpgsql"] is True
    assert [r["role"] for r in doc["roles"] if r["exists"]] == ["dwh_owner", "etl_service", "analyst_role"]
    assert doc["migrations"]["up_to_date"] is True and doc["migrations"]["pending"] == []
    assert doc["migrations"]["applied"] == doc["migrations"]["total"] > 0
    assert {"sales", "devflow"} <= {a["area"] for a in doc["areas"]}
    assert doc["ready"] is (not doc["problems"])
    text = runner.invoke(cli, ["--dsn", dsn, "info"])
    assert text.exit_code == 0, text.output
    first = text.stdout.splitlines()[0]
    assert first == "ready" or first.startswith("not ready: ")
    assert "server_version" in text.stdout


def test_info_on_an_empty_database_says_to_migrate(runner, postgresql_proc, conn):
    conn.execute("CREATE DATABASE info_empty")
    try:
        empty = f"host={postgresql_proc.host} port={postgresql_proc.port} user={postgresql_proc.user} dbname=info_empty"
        result = runner.invoke(cli, ["--dsn", empty, "info", "--json"])
        assert result.exit_code == 0, result.output
        doc = json.loads(result.stdout)
        assert doc["ready"] is False
        assert any("run dwh migrate" in p for p in doc["problems"])
        # pg_cron (loaded for another database of this cluster) is optional: a note, not a problem
        assert not any("pg_cron" in p for p in doc["problems"]), doc["problems"]
        assert doc["notes"] and doc["notes"][0].startswith("pg_cron is not installed here"), doc["notes"]
        assert "areas" not in doc
    finally:
        conn.execute("DROP DATABASE info_empty")


@pytest.mark.parametrize("args", [["lineage", "no.such_table"], ["lineage", "sales.fact_sale", "--downstream"],
                                  ["quality", "--table", "nosuch"]])
def test_an_unknown_table_is_an_error_not_an_empty_success(runner, dsn, args):
    """issue 14: `dwh lineage no.such_table` and `dwh quality --table nosuch` fail, naming close matches."""
    result = runner.invoke(cli, ["--dsn", dsn, *args])
    assert result.exit_code == 1, result.output
    assert "unknown table" in result.stderr
    if args[1] == "sales.fact_sale":
        assert "did you mean: sales.fact_sales" in result.stderr


@pytest.mark.parametrize("args", [["quarantine", "list", "--limit", "-5"], ["status", "--runs", "0"]])
def test_a_negative_limit_is_a_usage_error(runner, dsn, args):
    result = runner.invoke(cli, ["--dsn", dsn, *args])
    assert result.exit_code == 2, result.output
