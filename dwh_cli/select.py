"""Choosing what runs (issue 14): ``--select`` / ``--exclude``, ``dwh run --dry-run``, ``dwh ls`` and
``dwh test``.

The selector grammar and the step graph live in SQL (``dwh_etl.select_steps``); this module only passes
the selectors on, turns an unknown selector (SQLSTATE DW020) into a usage error (exit 2) and prints."""

from __future__ import annotations

import datetime as dt
from contextlib import contextmanager
from typing import Any, Iterator

import click
import psycopg
from psycopg.rows import dict_row

from .config import connect
from .errors import EXIT_USAGE, DwhError, from_psycopg
from .output import table

SELECTOR_HELP = ("Selectors: a step, a table (schema.table), an area, or method:pattern (step, table, area, "
                 "layer, kind, pipeline); * matches anything; +x adds everything upstream of x, x+ everything "
                 "downstream (N+x, x+N: N levels), @x also what x's descendants need; a,b selects what both "
                 "select. Repeat the option or separate selectors with spaces for their union.")


def select_options(f):
    """--select / --exclude (repeatable; a value may hold several selectors separated by spaces)."""
    from . import complete

    f = click.option("--exclude", "exclude", multiple=True, metavar="SELECTOR", shell_complete=complete.selectors,
                     help="Leave out the steps these selectors choose.")(f)
    f = click.option("--select", "-s", "select", multiple=True, metavar="SELECTOR", shell_complete=complete.selectors,
                     help="Only the steps these selectors choose (default: every step). " + SELECTOR_HELP)(f)
    return f


def selectors(values: tuple[str, ...] | list[str] | None) -> list[str] | None:
    """The selectors of repeated options, split on blanks; None when there are none."""
    out = [part for value in values or () for part in value.split()]
    return out or None


@contextmanager
def _selecting() -> Iterator[None]:
    """An unknown or malformed selector is a usage error (exit 2), with its close matches as the hint."""
    try:
        yield
    except psycopg.Error as exc:
        err = from_psycopg(exc)
        if exc.sqlstate == "DW020":
            err.exit_code = EXIT_USAGE
        raise err from None


def _rows(conn, query: str, params: dict) -> list[dict]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query, params)
        return cur.fetchall()


# -- library calls ---------------------------------------------------------------------------------
def select_steps(conninfo: str, pipeline: str | None, select: list[str] | None,
                 exclude: list[str] | None) -> list[dict]:
    """The chosen steps (dwh_etl.select_steps) in run order."""
    with connect(conninfo) as conn, _selecting():
        return _rows(conn, "SELECT * FROM dwh_etl.select_steps(%(p)s, %(s)s, %(e)s)",
                     {"p": pipeline, "s": select, "e": exclude})


def run_steps(conninfo: str, pipeline: str, select: list[str] | None, exclude: list[str] | None) -> list[str] | None:
    """The step names a selective run passes as p_steps (None: no selection, every step).

    A selection that chooses no step of the pipeline is a usage error: a run that runs nothing is not
    what was asked for."""
    if not select and not exclude:
        return None
    steps = [r["step_name"] for r in select_steps(conninfo, pipeline, select, exclude)]
    if not steps:
        raise DwhError(f"the selection chooses no step of pipeline {pipeline}",
                       hint=f"dwh ls --select ... shows what a selector chooses; dwh ls lists {pipeline}'s steps",
                       exit_code=EXIT_USAGE)
    return steps


def plan(conninfo: str, pipeline: str, run_date: dt.date, select: list[str] | None,
         exclude: list[str] | None) -> dict:
    """The dry-run plan (dwh_etl.select_plan), one entry per step with its tables' windows. Read-only
    connection: whatever the SQL did, it could not write."""
    with connect(conninfo, autocommit=False) as conn, _selecting():
        conn.read_only = True
        rows = _rows(conn, "SELECT * FROM dwh_etl.select_plan(%(p)s, %(d)s, %(s)s, %(e)s)",
                     {"p": pipeline, "d": run_date, "s": select, "e": exclude})
        total = conn.execute("SELECT count(*) FROM dwh_etl.select_steps(%s)", (pipeline,)).fetchone()[0]
        conn.rollback()
    steps: list[dict] = []
    for r in rows:
        if not steps or steps[-1]["order"] != r["step_order"]:
            steps.append({"order": r["step_order"], "step": r["step_name"], "kind": r["kind"], "area": r["area"],
                          "tables": []})
        if r["table_name"] is not None or r["note"] is not None:
            steps[-1]["tables"].append({"table": r["table_name"], "watermark_column": r["watermark_column"],
                                        "window_from": r["window_from"], "window_to": r["window_to"],
                                        "note": r["note"]})
    return {"pipeline": pipeline, "run_date": run_date.isoformat(), "dry_run": True,
            "steps_selected": len(steps), "steps_total": total, "steps": steps}


def list_pipelines(conninfo: str, select: list[str] | None, exclude: list[str] | None) -> list[dict]:
    with connect(conninfo) as conn, _selecting():
        return conn.execute("SELECT dwh_etl.select_list(%s, %s)", (select, exclude)).fetchone()[0]


def test(conninfo: str, select: list[str] | None, exclude: list[str] | None) -> dict:
    """Evaluate the quality rules of the selected tables (dwh_etl.select_tables: a table selector its
    tables, a step selector the tables its steps write; every rule without a selection) over whole tables
    (dwh_etl.test_rules), recorded with scope 'table'."""
    with connect(conninfo) as conn:
        with _selecting():
            tables = conn.execute("SELECT dwh_etl.select_tables(%s, %s)", (select, exclude)).fetchone()[0]
        results = [] if tables == [] else _rows(conn, "SELECT * FROM dwh_etl.test_rules(%(t)s)", {"t": tables})
    failed = [r for r in results if not r["passed"]]
    errors = [r for r in failed if r["severity"] == "error"]
    return {
        "ok": not errors,
        "summary": {"rules": len(results), "tables": len({r["table_name"] for r in results}),
                    "passed": len(results) - len(failed), "failed": len(failed), "failed_errors": len(errors),
                    "failed_warnings": len(failed) - len(errors)},
        "results": results,
    }


# -- printing --------------------------------------------------------------------------------------
def _ts(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")  # the human style (README)
    if value is None:
        return ""
    return str(value)


def print_plan(doc: dict) -> None:
    click.echo(f"dry run of pipeline {doc['pipeline']} for {doc['run_date']}: {doc['steps_selected']} of "
               f"{doc['steps_total']} steps would run, in this order (nothing is run or written)")
    rows = []
    for step in doc["steps"]:
        for i, t in enumerate(step["tables"] or [{}]):
            window = ""
            if t.get("window_to") is not None:
                window = f"[{_ts(t['window_from']) or '-infinity'}, {_ts(t['window_to'])})"
            rows.append({"order": step["order"] if i == 0 else None, "step": step["step"] if i == 0 else "",
                         "kind": step["kind"] if i == 0 else "", "table": t.get("table"),
                         "window (watermark .. upper bound)": window, "note": t.get("note")})
    click.echo(table(rows))


def print_selected_run(res, print_run) -> None:
    """A run of chosen steps: the per-step table shows the steps that were chosen, then how many were not."""
    import dataclasses

    shown = [step for step in res.steps if not (step.get("status") == "skipped"
                                                 and step.get("error_message") == "not selected")]
    print_run(dataclasses.replace(res, steps=shown))
    if len(shown) < len(res.steps):
        click.echo(f"{len(res.steps) - len(shown)} other step(s) of {res.pipeline} not selected (recorded as skipped)")


def print_pipelines(doc: list[dict]) -> None:
    if not doc:
        click.echo("(no pipelines)")
        return
    for i, p in enumerate(doc):
        if i:
            click.echo()
        schedules = ", ".join(p["schedules_utc"] or []) or "none"
        click.echo(f"pipeline {p['pipeline']}: {len(p['steps'])} step(s), schedule (UTC) {schedules}, "
                   f"{'active' if p['active'] else 'inactive'}" + (f", area {p['area']}" if p["area"] else ""))
        if p["steps"]:
            rows = [{"order": s["order"], "step": s["step"], "kind": s["kind"], "area": s["area"],
                     "layer": s["layer"], "depends_on": ", ".join(s["depends_on"]),
                     "writes": ", ".join(s["writes"])} for s in p["steps"]]
            click.echo("\n".join("  " + line for line in table(rows).splitlines()))


def print_test(doc: dict) -> None:
    rows = []
    for r in doc["results"]:
        outcome = ("pass" if r["passed"] else "ERROR" if r["error"] else
                   "FAIL" if r["severity"] == "error" else "warn")
        rows.append({"result": outcome, "table": r["table_name"], "rule": r["rule_name"], "severity": r["severity"],
                     "scope": "whole table" if r["scope"] == "table" else r["scope"],
                     "rows_checked": r["rows_checked"], "failing": r["failing"],
                     "error": r["error"]})
    s = doc["summary"]
    if not rows:
        click.echo("no quality rules on the selected tables")
        return
    columns = ["result", "table", "rule", "severity", "scope", "rows_checked", "failing"]
    if any(r["error"] for r in rows):
        columns.append("error")
    click.echo(table(rows, columns))
    click.echo(f"{s['rules']} rule(s) on {s['tables']} table(s), evaluated over whole tables: {s['passed']} passed, "
               f"{s['failed']} failed ({s['failed_errors']} error, {s['failed_warnings']} warning)")


# -- commands --------------------------------------------------------------------------------------
def _conninfo(ctx: click.Context) -> str:
    from .cli import conninfo

    return conninfo(ctx)


def _emit_json(value) -> None:
    from .cli import emit_json

    emit_json(value)


@click.command("ls")
@select_options
@click.option("--json", "as_json", is_flag=True, help="Print the pipelines and steps as JSON.")
@click.pass_context
def ls(ctx, select, exclude, as_json: bool):
    """List pipelines with their schedules, and their steps in run order with the tables they write.

    With --select/--exclude, only the chosen steps (and the pipelines that have one).

    \b
    Example:
        dwh ls
        dwh ls --select +sales.fact_sales
        dwh ls --select area:devflow,kind:fact --json
    """
    doc = list_pipelines(_conninfo(ctx), selectors(select), selectors(exclude))
    if as_json:
        _emit_json(doc)
    else:
        print_pipelines(doc)


@click.command("test")
@select_options
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.pass_context
def test_cmd(ctx, select, exclude, as_json: bool):
    """Evaluate quality rules now, over WHOLE tables, and record the results (scope: whole table).

    A run's gate checks only the rows of its batch; this checks every row. With --select, the rules of
    the selected tables: a table selector (sales.fact_sales, table:silver.devflow_*) means those tables,
    any other selector the tables its steps write. Exit 1 when an error-severity rule fails (warnings do
    not).

    \b
    Example:
        dwh test
        dwh test --select sales.fact_sales
        dwh test --select area:devflow --json
    """
    doc = test(_conninfo(ctx), selectors(select), selectors(exclude))
    if as_json:
        _emit_json(doc)
    else:
        print_test(doc)
    if not doc["ok"]:
        ctx.exit(1)
