"""``dwh run --restate``, ``dwh rebuild`` and ``dwh retry``: each makes one CALL (dwh_etl.restate,
dwh_etl.rebuild, dwh_etl.retry) and prints the run it recorded. The logic is in SQL."""

from __future__ import annotations

import datetime as dt
import re
from typing import Callable

import click
import psycopg

from . import interrupt
from .config import connect
from .errors import from_psycopg
from .ops import RunResult, fetch_run, utc_today
from .output import table

Log = Callable[[str], None]

_RUN_ID = re.compile(r"run_id=(\d+)")


def _call(conninfo: str, query: str, params: dict, pipeline: str, on_notice: Log) -> RunResult:
    """CALL a procedure whose INOUT run id is its only result; a recorded failure (DW003, 57014) names
    the run in its DETAIL (``run_id=N``), which is then read back like a success."""
    res = RunResult(pipeline=pipeline, run_date=utc_today(), run_id=None, status=None)
    with connect(conninfo, autocommit=True) as conn:
        conn.add_notice_handler(interrupt.notice_callback(lambda d: on_notice(d.message_primary or "")))
        try:
            row = conn.execute(query, params).fetchone()
            res.run_id = row[0] if row else None
        except psycopg.Error as exc:
            interrupt.check()  # cancelled by Ctrl-C: an interrupt, not a failure
            res.error = from_psycopg(exc)
            found = _RUN_ID.search(exc.diag.message_detail or "") if exc.sqlstate in ("DW003", "57014") else None
            res.run_id = int(found.group(1)) if found else None
        if res.run_id is not None:
            try:
                res.run, res.steps = fetch_run(conn, res.run_id)
            except psycopg.Error:
                pass
    interrupt.check()
    if res.run:
        res.pipeline = res.run.get("pipeline_name") or pipeline
        res.run_date = res.run.get("run_date") or res.run_date
    res.status = res.run.get("status") or ("failed" if res.error else "completed")
    return res


def restate(conninfo: str, pipeline: str, start: dt.date, end: dt.date, *, reextract: bool = False,
            allow_future: bool = False, steps: list[str] | None = None, on_notice: Log = lambda _m: None) -> RunResult:
    return _call(conninfo,
                 "CALL dwh_etl.restate(p_pipeline => %(p)s, p_from => %(f)s, p_to => %(t)s, p_steps => %(s)s,"
                 " p_reextract => %(r)s, p_allow_future => %(a)s, p_run_id => NULL)",
                 {"p": pipeline, "f": start, "t": end, "s": steps, "r": reextract, "a": allow_future},
                 pipeline, on_notice)


def rebuild(conninfo: str, target: str, *, pipeline: str = "daily", steps: list[str] | None = None,
            on_notice: Log = lambda _m: None) -> RunResult:
    return _call(conninfo,
                 "CALL dwh_etl.rebuild(p_target => %(t)s, p_pipeline => %(p)s, p_steps => %(s)s, p_run_id => NULL)",
                 {"t": target, "p": pipeline, "s": steps}, pipeline, on_notice)


def retry(conninfo: str, run_id: int | None, *, on_notice: Log = lambda _m: None) -> RunResult:
    return _call(conninfo, "CALL dwh_etl.retry(p_run_id => %(r)s, p_new_run_id => NULL)", {"r": run_id},
                 "?", on_notice)


def result_dict(res: RunResult) -> dict:
    out = res.as_dict()
    params = res.run.get("parameters") or {}
    for key in ("mode", "from", "to", "target", "retry_of"):
        if key in params:
            out[key] = params[key]
    if "steps" in params:  # a selection (--select) or a retry: the steps it was limited to
        out["selected_steps"] = params["steps"]
    out["replaced"] = (res.run.get("metrics") or {}).get("replaced", [])
    return out


def print_result(res: RunResult) -> None:
    from .cli import _print_run

    _print_run(res)
    replaced = (res.run.get("metrics") or {}).get("replaced") or []
    if replaced:
        shown = ("table", "scope", "rows_deleted", "rows_inserted", "rows_after")
        click.echo("replaced:")
        click.echo(table([{k: r.get(k) for k in shown} for r in replaced]))


def finish(res: RunResult, as_json: bool) -> None:
    """Print the run (or its JSON), then fail with its error's exit code when it has one."""
    from .cli import emit_json

    if res.error and res.run_id is None:
        # refused before any run was recorded (nothing to retry, a run holds the pipeline, a bad target):
        # the error alone, not a run document of pipeline "?" (readme17)
        raise res.error
    if as_json:
        emit_json(result_dict(res))
    else:
        print_result(res)
    if res.error:
        raise res.error


def _conninfo(ctx: click.Context) -> str:
    from .cli import conninfo

    return conninfo(ctx)


def _err(msg: str) -> None:
    click.echo(msg, err=True)


def _select_options(f):
    from .select import select_options

    return select_options(f)


@click.command()
@click.argument("target")
@click.option("--pipeline", default="daily", show_default=True, help="The pipeline whose steps rebuild it.")
@click.option("--json", "as_json", is_flag=True, help="Print the run as JSON.")
@_select_options
@click.pass_context
def rebuild_cmd(ctx, target: str, pipeline: str, as_json: bool, select=(), exclude=()):
    """Rebuild TARGET (a table, schema.name, or an area) from the layer below, like a first load.

    The steps writing it, the silver steps a dimension is replayed from and every step downstream are
    rerun in dependency order, in ONE transaction (a failure or Ctrl-C changes nothing). A rebuilt SCD2
    dimension has the versions the day-by-day runs gave it (its surrogate keys are new, so the facts
    are rebuilt with it). Bronze is never rebuilt. Refused (exit 5) while a run holds the pipeline.
    With --select/--exclude, exactly the chosen steps are rerun.

    \b
    Example:
        dwh rebuild sales.dim_customer
        dwh rebuild devflow --json
        dwh rebuild sales --select sales.dim_customer+
    """
    from .select import run_steps, selectors

    steps = run_steps(_conninfo(ctx), pipeline, selectors(select), selectors(exclude))
    res = rebuild(_conninfo(ctx), target, pipeline=pipeline, steps=steps, on_notice=_err)
    finish(res, as_json)


rebuild_cmd.name = "rebuild"


@click.command()
@click.argument("run_id", required=False, type=click.IntRange(min=1, max=2**63 - 1))  # a bigint
@click.option("--json", "as_json", is_flag=True, help="Print the new run as JSON.")
@click.pass_context
def retry_cmd(ctx, run_id: int | None, as_json: bool):
    """Rerun a failed run from its failed step (default: the latest failed run).

    The steps of that run that did not complete run again for the same run date; the completed ones
    are not rerun. A restatement or rebuild is retried whole. A run that did not fail is refused.

    \b
    Example:
        dwh retry
        dwh retry 42 --json
    """
    res = retry(_conninfo(ctx), run_id, on_notice=_err)
    finish(res, as_json)


retry_cmd.name = "retry"
