"""Output people can read (issue 14, "Progress and the connection" and "Output"): one timestamp style,
human durations, yes/no, tables that fit the terminal (--wide shows them whole), quarantine show as
indented JSON, dwh status's summary line and compact view, run progress and heartbeat, demo's one-line
migration, errors in one style (JSON with --json, usage errors exit 2), the connection tried when
PGDATABASE alone is set, and shell completion of pipeline, step and table names."""

from __future__ import annotations

import datetime as dt
import json
import re

import psycopg
import pytest

from dwh_cli.cli import cli

ISO_T = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")  # the old style: 2026-12-02T17:00:25.239776+00:00
OUR_TS = re.compile(r"\b\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}Z\b")


def json_error(stderr: str) -> dict:
    """The --json error: the last line of stderr."""
    return json.loads(stderr.strip().splitlines()[-1])


# -- formats ----------------------------------------------------------------------------------------
def test_value_formats():
    from dwh_cli.output import cell, duration, timestamp

    tokyo = dt.timezone(dt.timedelta(hours=9))
    assert timestamp(dt.datetime(2026, 12, 3, 2, 3, 14, 239776, tzinfo=tokyo)) == "2026-12-02 17:03:14Z"
    assert cell("2026-12-02T17:00:25.239776+00:00") == "2026-12-02 17:00:25Z"
    assert cell("2026-12-02 17:03:14+00") == "2026-12-02 17:03:14Z" == cell("2026-12-02 17:03:14 UTC")
    assert [duration(s) for s in (0, 0.35, 1.234, 42.4, 184, 7500, 277200)] == [
        "0 ms", "350 ms", "1.2 s", "42 s", "3 min 4 s", "2 h 5 min", "3 d 5 h"]
    assert cell(dt.timedelta(minutes=3, seconds=4)) == "3 min 4 s"
    assert cell("00:05:24.856314") == "5 min 25 s" and cell("1 day 02:00:00") == "1 d 2 h"
    assert cell(1234, "duration_ms") == "1.2 s" and cell(14.7, "duration_s") == "15 s"
    assert cell(True) == "yes" and cell(False) == "no" and cell(None) == ""
    assert cell("2025-01-31") == "2025-01-31" and cell("0 2 * * *") == "0 2 * * *"


def test_tables_fit_the_terminal_and_wide_shows_everything(runner, dsn, monkeypatch):
    monkeypatch.setenv("COLUMNS", "72")
    result = runner.invoke(cli, ["--dsn", dsn, "run", "daily", "--date", "2025-01-31"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert all(len(line) <= 72 for line in lines), max(lines, key=len)
    assert "…" in result.stdout and "--wide or --json shows all" in result.stdout
    assert "devflow_fact_performance_metrics" not in result.stdout
    assert "duration_ms" not in lines[1] and re.search(r"\d+ ms\b", result.stdout)

    wide = runner.invoke(cli, ["--dsn", dsn, "run", "daily", "--date", "2025-01-31", "--wide"])
    assert wide.exit_code == 0, wide.output
    assert "devflow_fact_performance_metrics" in wide.stdout and "…" not in wide.stdout
    assert max(len(line) for line in wide.stdout.splitlines()) > 72


def test_one_timestamp_style_and_yes_no(runner, dsn, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    assert runner.invoke(cli, ["--dsn", dsn, "run", "daily", "--date", "2025-01-31"]).exit_code == 0
    for args in (["status", "--verbose"], ["status"], ["quality"]):
        result = runner.invoke(cli, ["--dsn", dsn, *args])
        assert result.exit_code == 0, (args, result.output)
        assert not ISO_T.search(result.stdout), (args, ISO_T.search(result.stdout))
        assert "+00:00" not in result.stdout and "+00 " not in result.stdout
        assert OUR_TS.search(result.stdout), args
        assert not re.search(r"\b(True|False)\b", result.stdout), args
    quality = runner.invoke(cli, ["--dsn", dsn, "quality"]).stdout
    assert re.search(r"\byes\b", quality)
    # the rules grouped under their table: a title line, then its rules indented
    lines = quality.splitlines()
    assert re.match(r"^rules \(\d+, \d+ failing\)$", lines[0]) and lines[1].startswith("rule ")
    assert "sales.fact_sales" in lines and any(line.startswith("  fact_sales_") for line in lines)


def test_quarantine_show_prints_indented_json(runner, dsn, conn):
    qid = conn.execute("""
        INSERT INTO dwh_etl.quarantine (source_table, target_table, record_key, payload, reasons)
        VALUES ('bronze.sales_sales', 'silver.sales_sales', '42', %s, ARRAY['quantity -2 is not positive', 'unknown product 9'])
        RETURNING quarantine_id""", (json.dumps({"sale_id": "42", "quantity": "-2", "note": "日本"}),)).fetchone()[0]
    result = runner.invoke(cli, ["--dsn", dsn, "quarantine", "show", str(qid)])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "payload:\n  {\n" in out and '    "quantity": "-2"' in out and '"note": "日本"' in out
    assert "reasons:\n  - quantity -2 is not positive\n  - unknown product 9\n" in out
    assert "{'" not in out and "['" not in out  # no Python reprs
    assert OUR_TS.search(out)
    listed = runner.invoke(cli, ["--dsn", dsn, "quarantine", "list"], env={"COLUMNS": "100"})
    assert listed.exit_code == 0, listed.output
    lines = listed.stdout.splitlines()
    assert "silver.sales_sales" in lines  # grouped under the target table
    assert any(line.startswith(f"  {qid} ") and "quantity -2 is not positive" in line for line in lines)
    as_json = runner.invoke(cli, ["--dsn", dsn, "quarantine", "show", str(qid), "--json"])
    assert json.loads(as_json.stdout)["payload"]["quantity"] == "-2"


# -- status -----------------------------------------------------------------------------------------
def test_status_starts_with_one_summary_line(runner, dsn, conn, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    assert runner.invoke(cli, ["--dsn", dsn, "run", "daily", "--date", "2025-01-31"]).exit_code == 0
    result = runner.invoke(cli, ["--dsn", dsn, "status"])
    assert result.exit_code == 0, result.output
    first = result.stdout.splitlines()[0]
    assert first == "healthy" or first.startswith(("healthy (warnings: ", "not healthy: ")), first
    # compact: a screenful, not every step and watermark
    lines = result.stdout.splitlines()
    assert len(lines) <= 50, len(lines)
    assert len(first) <= 160, first
    assert all(len(line) <= 100 for line in lines[1:]), max(lines[1:], key=len)
    assert "last_run_steps: 39 completed" in result.stdout or "last_run_steps: " in result.stdout
    assert "--verbose" in result.stdout
    verbose = runner.invoke(cli, ["--dsn", dsn, "status", "--verbose"])
    assert verbose.stdout.splitlines()[0] == first
    assert len(verbose.stdout.splitlines()) > len(lines) and "watermarks" in verbose.stdout

    # open quarantine and a failed run make it "not healthy", saying why
    conn.execute("""INSERT INTO dwh_etl.quarantine (source_table, target_table, record_key, payload, reasons)
                    VALUES ('bronze.x', 'silver.x', '1', '{"a": 1}', ARRAY['bad'])""")
    conn.execute("""
        CREATE PROCEDURE public.always_fails(p_run_id bigint, p_run_date date) LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'boom'; END $$""")
    conn.execute("CALL dwh_etl.register_pipeline(p_pipeline => 'flaky')")
    conn.execute("""CALL dwh_etl.register_steps('flaky', 'test', '[{"step": "only", "procedure": "public.always_fails", "layer": "ops"}]')""")
    assert runner.invoke(cli, ["--dsn", dsn, "run", "flaky", "--date", "2025-01-31"]).exit_code == 1
    again = runner.invoke(cli, ["--dsn", dsn, "status"])
    first = again.stdout.splitlines()[0]
    assert first.startswith("not healthy: "), first
    assert "pipeline flaky failed its last run" in first and "1 quarantined row open" in first
    assert "only" in again.stdout and "boom" in again.stdout  # the failed step is listed


def test_status_does_not_list_the_steps_a_selection_left_out(runner, dsn):
    assert runner.invoke(cli, ["--dsn", dsn, "run", "daily", "--date", "2025-01-31",
                               "--select", "sales_silver_products"]).exit_code == 0
    result = runner.invoke(cli, ["--dsn", dsn, "status"])
    assert result.exit_code == 0, result.output
    line = next(ln for ln in result.stdout.splitlines() if ln.startswith("last_run_steps"))
    assert "skipped" in line and "completed" in line, line  # counted ...
    assert "not selected" not in result.stdout  # ... not listed as needing attention


# -- progress ---------------------------------------------------------------------------------------
def test_run_prints_step_n_of_n_and_elapsed_time(runner, dsn, conn):
    total = conn.execute("SELECT count(*) FROM dwh_etl.steps WHERE pipeline_name = 'daily' AND is_enabled").fetchone()[0]
    result = runner.invoke(cli, ["--dsn", dsn, "run", "daily", "--date", "2025-01-31", "--json"])
    assert result.exit_code == 0, result.output
    json.loads(result.stdout)  # progress stays off stdout
    steps = [line for line in result.stderr.splitlines() if re.match(r"^\[\s*\d+/\d+\] ", line)]
    assert len(steps) == total
    assert re.match(rf"^\[\s*1/{total}\] \S+: done, \d+ rows read, \d+ written, [\d.]+ m?s \(elapsed [\d.]+ m?s\)$",
                    steps[0]), steps[0]
    assert steps[-1].startswith(f"[{total}/{total}] ")
    assert re.search(r"^run \d+: pipeline daily for 2025-01-31, \d+ steps$", result.stderr, re.M)
    assert re.search(r"^run \d+: completed in ", result.stderr, re.M)
    assert "does not exist, skipping" not in result.stderr


def test_a_long_step_gets_a_heartbeat(runner, dsn, conn, monkeypatch):
    conn.execute("""
        CREATE PROCEDURE public.step_nap(p_run_id bigint, p_run_date date) LANGUAGE plpgsql AS $$
        BEGIN PERFORM pg_sleep(2.6); END $$""")
    conn.execute("CALL dwh_etl.register_pipeline(p_pipeline => 'nap', p_description => 'test', p_schedules => '{}')")
    conn.execute("""CALL dwh_etl.register_steps(p_pipeline => 'nap', p_area => 'test',
                    p_steps => '[{"step": "nap", "procedure": "public.step_nap", "layer": "bronze"}]')""")
    monkeypatch.setenv("DWH_HEARTBEAT", "1")
    result = runner.invoke(cli, ["--dsn", dsn, "run", "nap"])
    assert result.exit_code == 0, result.output
    beats = [line for line in result.stderr.splitlines() if "still running step nap" in line]
    assert len(beats) >= 2, result.stderr
    assert re.match(r"^  still running step nap \(1/1\): [\d.]+ s, elapsed [\d.]+ s$", beats[0]), beats[0]
    assert re.search(r"^\[1/1\] nap: done, .* \(elapsed 2\.\d s\)$", result.stderr, re.M)


def test_demo_prints_one_line_for_the_migration(runner, dsn, conn):
    # every procedure file is re-applied (as on a fresh database): one line says so, not one per file
    n_files = conn.execute("SELECT count(*) FROM dwh_etl.applied_code").fetchone()[0]
    conn.execute("DELETE FROM dwh_etl.applied_code")
    result = runner.invoke(cli, ["--dsn", dsn, "demo", "--scale", "0.005"])
    assert result.exit_code == 0, result.output
    assert "applying " not in result.stderr
    [line] = [ln for ln in result.stderr.splitlines() if ln.startswith("migrated: ")]
    assert re.match(rf"^migrated: 0 migrations, {n_files} procedure files applied in [\d.]+ m?s$", line), line
    assert re.search(r"^\[\s*1/\d+\] ", result.stderr, re.M)  # the run's progress
    assert result.stdout.strip().splitlines()[-1].startswith("dwh status --verbose")


# -- errors -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("args, message", [
    (["run"], "error: Missing argument 'PIPELINE'."),
    (["run", "daily", "--date", "2025-02-30"], "error: Invalid value for '--date'"),
    (["quarantine", "list", "--limit", "-5"], "error: Invalid value for '--limit'"),
    (["nosuch"], "error: No such command 'nosuch'."),
])
def test_usage_errors_exit_2_in_dwh_style(runner, args, message):
    result = runner.invoke(cli, ["--dsn", "host=127.0.0.1 port=1", *args])
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert lines[0].startswith(message), lines
    assert lines[1].startswith("Usage: ")
    assert lines[-1].startswith("hint: ") and "-h shows the options" in lines[-1]
    assert "Error:" not in result.stderr and result.stdout == ""


def test_a_closed_stdout_ends_quietly_with_141(runner, monkeypatch, tmp_path):
    # `dwh ... | head`: the reader left; no "error: [Errno 32] Broken pipe"
    import click

    import dwh_cli.cli as cli_module

    def closed(*args, **kwargs):
        raise BrokenPipeError(32, "Broken pipe")

    gone = []
    monkeypatch.setattr(click, "echo", closed)
    monkeypatch.setattr(cli_module, "stdout_gone", lambda: gone.append(True))
    result = runner.invoke(cli, ["--data-dir", str(tmp_path / "pgdata"), "db", "url"])
    assert result.exit_code == 141 and gone, result.output
    assert "error" not in result.output and "Broken pipe" not in result.output


def test_a_database_without_the_warehouse_says_to_migrate():
    from dwh_cli.errors import from_psycopg

    exc = from_psycopg(psycopg.errors.InvalidSchemaName('schema "dwh_etl" does not exist'))
    assert exc.exit_code == 1 and "dwh migrate" in exc.hint
    other = from_psycopg(psycopg.errors.InvalidSchemaName('schema "mine" does not exist'))
    assert other.hint is None


def test_click_errors_and_dwh_errors_share_one_style(runner, dsn):
    missing = runner.invoke(cli, ["--dsn", dsn, "quarantine", "show", "999999"])
    assert missing.exit_code == 1
    assert missing.stderr.splitlines() == ["error: no quarantined row 999999 (dwh quarantine list shows them)"]


@pytest.mark.parametrize("args, code", [
    (["lineage", "no.such_table", "--json"], 1),
    (["run", "no_such_pipeline", "--json"], 4),
    (["run", "--json"], 2),
    (["quarantine", "list", "--limit", "-5", "--json"], 2),
    (["quarantine", "show", "999999", "--json"], 1),
])
def test_errors_are_json_with_json(runner, dsn, args, code):
    result = runner.invoke(cli, ["--dsn", dsn, *args])
    assert result.exit_code == code, result.output
    doc = json_error(result.stderr)
    assert doc["code"] == code and doc["error"]
    assert "Traceback" not in result.output
    if code == 4:
        assert "no_such_pipeline" in doc["error"] and doc["sqlstate"] == "DW001" and doc["hint"]
    if code == 2:
        assert doc["usage"].startswith("Usage: ")


def test_connection_errors_are_json_with_json(runner):
    result = runner.invoke(cli, ["--dsn", "host=127.0.0.1 port=1 dbname=dwh connect_timeout=3", "status", "--json"])
    assert result.exit_code == 3
    doc = json_error(result.stderr)
    assert doc["code"] == 3 and doc["error"].startswith("cannot connect to PostgreSQL: ")
    assert doc["detail"].startswith("tried host=127.0.0.1 port=1 dbname=dwh ")
    assert result.stdout == ""


def test_pgdatabase_alone_says_what_was_tried_and_how_to_use_the_embedded_cluster(runner, monkeypatch):
    monkeypatch.setenv("PGDATABASE", "nosuch_dwh")
    monkeypatch.setenv("PGCONNECT_TIMEOUT", "3")
    monkeypatch.setenv("PGPASSWORD", "s3cret-pw")
    result = runner.invoke(cli, ["status"])
    assert result.exit_code == 3, result.output
    lines = result.stderr.splitlines()
    assert lines[0].startswith("error: cannot connect to PostgreSQL: ")
    [detail] = [ln for ln in lines if ln.startswith("detail: ")]
    assert "dbname=nosuch_dwh" in detail and "port=" in detail and "host=" in detail
    assert "(from PGDATABASE)" in detail
    [hint] = [ln for ln in lines if ln.startswith("hint: ")]
    assert "unset PGDATABASE" in hint and "embedded cluster" in hint
    assert "s3cret-pw" not in result.output


# -- completion -------------------------------------------------------------------------------------
def complete(runner, words: str, env: dict) -> list[str]:
    cword = len(words.split()) - (0 if words.endswith(" ") else 1)
    result = runner.invoke(cli, [], prog_name="dwh", env={
        "_DWH_COMPLETE": "bash_complete", "COMP_WORDS": words, "COMP_CWORD": str(cword), **env})
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    return [line.split(",", 1)[1] for line in result.stdout.splitlines() if line]


def test_completion_offers_pipeline_step_and_table_names(runner, dsn, conn):
    pipelines = [r[0] for r in conn.execute("SELECT pipeline_name FROM dwh_etl.pipelines ORDER BY 1")]
    assert complete(runner, "dwh run ", {"DWH_DSN": dsn}) == pipelines
    assert complete(runner, "dwh run dev", {"DWH_DSN": dsn}) == [p for p in pipelines if p.startswith("dev")]
    assert "sales.fact_sales" in complete(runner, "dwh lineage sales.", {"DWH_DSN": dsn})
    assert "silver.sales_sales" in complete(runner, "dwh quarantine list --table sil", {"DWH_DSN": dsn})
    assert "daily" in complete(runner, "dwh schedule remove da", {"DWH_DSN": dsn})

    from dwh_cli import complete as comp

    ctx = cli.make_context("dwh", ["--dsn", dsn], resilient_parsing=True)
    steps = [c.value for c in comp.steps(ctx, None, "sales_")]
    assert "sales_fact_sales" in steps and all(s.startswith("sales_") for s in steps)
    assert "+sales_fact_sales" in [c.value for c in comp.selectors(ctx, None, "+sales_fact")]


def test_completion_is_quiet_without_a_server(runner):
    assert complete(runner, "dwh run ", {"DWH_DSN": "host=127.0.0.1 port=1 connect_timeout=1"}) == []


def test_a_group_without_its_command_prints_its_help(runner):
    result = runner.invoke(cli, ["db"])
    assert result.exit_code == 2
    assert "Commands:" in result.stderr and "start" in result.stderr and "error:" not in result.stderr


def test_a_failed_run_with_json_keeps_stdout_parseable_and_the_error_as_json(runner, dsn, conn):
    conn.execute("""
        CREATE PROCEDURE public.always_fails(p_run_id bigint, p_run_date date) LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'boom'; END $$""")
    conn.execute("CALL dwh_etl.register_pipeline(p_pipeline => 'flaky')")
    conn.execute("""CALL dwh_etl.register_steps('flaky', 'test', '[{"step": "only", "procedure": "public.always_fails", "layer": "ops"}]')""")
    result = runner.invoke(cli, ["--dsn", dsn, "run", "flaky", "--date", "2025-01-31", "--json"])
    assert result.exit_code == 1
    [run] = json.loads(result.stdout)
    assert run["status"] == "failed"
    doc = json_error(result.stderr)
    assert doc["code"] == 1 and doc["sqlstate"] == "DW003" and "failed at step only: boom" in doc["error"]
    assert re.search(r"^\[1/1\] only: FAILED after [\d.]+ m?s: boom", result.stderr, re.M)
