"""The ``dwh`` command line: each command parses options, makes one library call, prints.

Progress and NOTICEs go to stderr; stdout holds the result (``--json`` keeps it parseable)."""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import os
import sys

import click
import psycopg

from . import __version__, complete, interrupt
from .config import Settings
from .errors import EXIT_BROKEN_PIPE, EXIT_INTERRUPTED, EXIT_USAGE, DwhError, UsageFailure, from_psycopg
from .output import document, duration, set_wide, table
from .select import select_options

# psycopg logs what it ignores while it cleans up after an error (a COPY whose connection was lost:
# "error ignored terminating <psycopg.Copy [BAD]>: the connection is lost"); without a handler Python
# printed that on stderr above dwh's own one error (and broke --json's one JSON line there)
logging.getLogger("psycopg").addHandler(logging.NullHandler())

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def err(msg: str) -> None:
    click.echo(msg, err=True)


def emit_json(value) -> None:
    click.echo(json.dumps(value, indent=2, default=str))


# --json anywhere on the command line: errors are printed as one JSON object too (stderr)
_json_errors: contextvars.ContextVar[bool] = contextvars.ContextVar("dwh_json_errors", default=False)


def report_error(exc: DwhError) -> None:
    """Every error the CLI prints, in one style: ``error:``/``detail:``/``hint:`` lines on stderr, or with
    --json one line ``{"error": ..., "code": <exit code>, ...}`` on stderr (stdout keeps the result)."""
    if _json_errors.get():
        err(json.dumps(exc.as_dict(), default=str, ensure_ascii=False))
    else:
        for line in exc.lines():
            err(line)


def _usage_failure(exc: click.UsageError) -> UsageFailure:
    ctx = exc.ctx
    usage = ctx.get_usage() if ctx is not None else None
    help_hint = None
    if ctx is not None and ctx.command.get_help_option(ctx) is not None:
        help_hint = f"{ctx.command_path} -h shows the options and examples"
    return UsageFailure(exc.format_message(), usage=usage, help_hint=help_hint)


_NoArgsIsHelp = getattr(click.exceptions, "NoArgsIsHelpError", ())


def wide_option(f):
    """--wide: print tables whole (not cut to the terminal's width)."""
    return click.option("--wide", is_flag=True, expose_value=False, is_eager=True,
                        callback=lambda _c, _p, value: set_wide(value),
                        help="Do not cut tables to the terminal's width.")(f)


class DwhGroup(click.Group):
    """Turns every expected error into one readable message and a documented exit code.

    Click's own errors (usage: exit 2; ClickException: its exit code) are printed in the same style as
    dwh's (report_error). Ctrl-C (interrupt.py): the running query is cancelled; whatever the command then
    raises or returns, a recorded interrupt ends it with one line "interrupted" and exit 130."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        argv = list(sys.argv[1:] if args is None else args)
        options = argv[: argv.index("--")] if "--" in argv else argv
        token = _json_errors.set("--json" in options)
        set_wide(False)
        try:
            if not standalone_mode:
                return super().main(argv, prog_name, complete_var, standalone_mode=False, **extra)
            try:
                rv = super().main(argv, prog_name, complete_var, standalone_mode=False, **extra)
            except _NoArgsIsHelp as exc:  # `dwh`, `dwh db`: the help, as click prints it (exit 2)
                exc.show()
                sys.exit(exc.exit_code)
            except click.UsageError as exc:
                failure: DwhError = _usage_failure(exc)
            except click.exceptions.Abort:
                failure = DwhError("aborted")
            except click.ClickException as exc:
                failure = DwhError(exc.format_message(), exit_code=exc.exit_code)
            else:  # non-standalone click returns ctx.exit()'s code, or the command's value (None)
                sys.exit(rv if isinstance(rv, int) and not isinstance(rv, bool) else 0)
            report_error(failure)
            sys.exit(failure.exit_code)
        finally:
            _json_errors.reset(token)

    def invoke(self, ctx: click.Context):
        with interrupt.handling():
            failure: DwhError | None = None
            try:
                interrupt.check()  # Ctrl-C while the arguments were parsed
                rv = super().invoke(ctx)
                interrupt.check()
                return rv
            except KeyboardInterrupt:
                pass
            except DwhError as exc:
                failure = exc
            except psycopg.Error as exc:
                failure = from_psycopg(exc)
            except BrokenPipeError:  # `dwh ... | head`: the reader has what it wanted
                interrupt.disarm()
                stdout_gone()
                ctx.exit(EXIT_BROKEN_PIPE)
            except OSError as exc:  # e.g. a data directory we may not enter: a message, not a traceback
                failure = DwhError(f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc))
            interrupt.disarm()
            if interrupt.requested() or failure is None:
                if _json_errors.get():
                    report_error(DwhError("interrupted", exit_code=EXIT_INTERRUPTED))
                else:
                    err("interrupted")
                ctx.exit(EXIT_INTERRUPTED)
            self._fail(ctx, failure)

    @staticmethod
    def _fail(ctx: click.Context, exc: DwhError):
        report_error(exc)
        ctx.exit(exc.exit_code)


def settings(ctx: click.Context) -> Settings:
    return ctx.find_object(Settings)


def conninfo(ctx: click.Context) -> str:
    return settings(ctx).conninfo(log=err)


def parse_date(ctx, param, value):
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from None


@click.group(cls=DwhGroup, context_settings=CONTEXT_SETTINGS)
@click.option("--dsn", metavar="CONNINFO", help="PostgreSQL conninfo or URI (default: $DWH_DSN, then the "
              "PG* variables, then the embedded cluster).")
@click.option("--data-dir", type=click.Path(file_okay=False), metavar="DIR",
              help="Embedded cluster data directory (default: $DWH_DATA_DIR, "
                   "~/.local/share/dwh/pgdata, /var/lib/dwh/pgdata as root).")
@click.version_option(__version__, "--version", prog_name="dwh")
@click.pass_context
def cli(ctx: click.Context, dsn: str | None, data_dir: str | None):
    """dwh: a data warehouse that lives inside PostgreSQL.

    With no connection configured, commands start an embedded PostgreSQL cluster on demand.

    \b
    Example:
        dwh demo
        dwh --dsn 'host=db.example dbname=dwh' migrate
    """
    ctx.obj = Settings(dsn=dsn, data_dir=data_dir)


# -- migrate ---------------------------------------------------------------------------------------
@cli.command()
@click.option("--dry-run", is_flag=True, help="List pending migrations and changed procedure files; apply nothing.")
@click.option("--force", is_flag=True, help="Re-apply every procedure file, changed or not.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--wait", "wait", type=click.FloatRange(min=0), default=600, show_default=True,
              help="Seconds to wait for running pipeline runs to end before applying; then exit 1, nothing applied.")
@click.pass_context
def migrate(ctx, dry_run: bool, force: bool, as_json: bool, wait: float):
    """Apply migrations/ (yoyo), then the changed files of procedures/.

    Concurrent runs wait for each other.

    \b
    Example:
        dwh migrate --dry-run
    """
    from .migrate import migrate as do_migrate

    # Per-file progress only for migrations: procedure files are many and each applies in milliseconds.
    res = do_migrate(conninfo(ctx), dry_run=dry_run, force=force, wait=wait,
                     log=lambda line: None if line.startswith("applying procedures/") else err(line))
    if as_json:
        emit_json(res.as_dict())
        return
    if res.up_to_date:
        click.echo(f"Database is up to date ({res.migrations_total} migrations, "
                   f"{res.procedures_total} procedure files).")
        return
    verb = "pending" if dry_run else "applied"
    for mid in res.migrations_applied:
        click.echo(f"{verb} migration {mid}")
    if dry_run or len(res.procedures_applied) <= 10:  # a fresh database applies them all: just count
        for path in res.procedures_applied:
            click.echo(f"{verb} {path}")
    click.echo(f"{len(res.migrations_applied)} migrations, {len(res.procedures_applied)} procedure files "
               f"{verb}.")


# -- run -----------------------------------------------------------------------------------------
def _print_run(res, steps: bool = True) -> None:
    if res.run_id is None:  # nothing was recorded (e.g. unknown pipeline): the error says it all
        return
    took = ""
    if res.run.get("started_at") and res.run.get("completed_at"):
        took = f" in {duration((res.run['completed_at'] - res.run['started_at']).total_seconds())}"
    click.echo(f"run {res.run_id} {res.pipeline} {res.run_date}: {res.status}{took}")
    if res.steps and steps:
        shown = ("step_name", "status", "rows_read", "rows_written", "duration_ms", "error_message")
        click.echo(table([{k: step.get(k) for k in shown} for step in res.steps]))


@cli.command()
@click.argument("pipeline", shell_complete=complete.pipelines)
@click.option("--date", "day", callback=parse_date, metavar="DATE", help="Run date (default: today).")
@click.option("--from", "start", callback=parse_date, metavar="DATE", help="Backfill from this date ...")
@click.option("--to", "end", callback=parse_date, metavar="DATE", help="... to this date, inclusive, in order.")
@click.option("--restate", is_flag=True, help="Recompute what is loaded for those dates from the layer below "
              "(one transaction; see dwh_etl.restate).")
@click.option("--reextract", is_flag=True, help="With --restate: also run the extraction steps.")
@click.option("--allow-future", is_flag=True, help="Accept dates beyond today (UTC) + the calendar horizon.")
@click.option("--json", "as_json", is_flag=True, help="Print the runs as JSON.")
@select_options
@click.option("--dry-run", is_flag=True, help="Print the steps, their order and the window each would read; "
              "run and write nothing.")
@wide_option
@click.pass_context
def run(ctx, pipeline: str, day, start, end, restate: bool, reextract: bool, allow_future: bool, as_json: bool,
        select=(), exclude=(), dry_run: bool = False):
    """Run PIPELINE for a date, or backfill a date range (stops at the first failure).

    Progress goes to stderr: one line per step ([n/N], rows, time, elapsed) and, while a step runs
    longer than 10 s, "still running step X" every 10 s ($DWH_HEARTBEAT seconds; 0: none). The run id,
    status and per-step table go to stdout. With --select/--exclude only the chosen steps run (the others
    are recorded as skipped, their watermarks untouched). --restate recomputes the loaded rows of the
    dates (facts replaced, marts refreshed, silver and dimensions re-applied; watermarks stay) in one
    recorded run, all or nothing (with --select: only the chosen steps).

    \b
    Example:
        dwh run daily --date 2025-01-31
        dwh run daily --from 2025-01-01 --to 2025-01-31
        dwh run daily --select +sales.fact_sales --exclude sources
        dwh run daily --select sales+ --dry-run
        dwh run daily --from 2025-01-01 --to 2025-01-31 --restate
    """
    from .ops import date_range, run_pipeline, utc_today
    from .select import plan, print_plan, print_selected_run, run_steps, selectors

    if day and (start or end):
        raise click.UsageError("use either --date or --from/--to")
    if bool(start) != bool(end):
        raise click.UsageError("--from and --to go together")
    if reextract and not restate:
        raise click.UsageError("--reextract goes with --restate")
    try:
        dates = date_range(start, end) if start else [day or utc_today()]
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    if dry_run and restate:
        raise click.UsageError("--dry-run does not apply to --restate")
    if dry_run:
        doc = plan(conninfo(ctx), pipeline, dates[0], selectors(select), selectors(exclude))
        if len(dates) > 1:  # later dates read from where the earlier ones will have moved the watermarks
            doc["then_dates"] = [d.isoformat() for d in dates[1:]]
        emit_json(doc) if as_json else print_plan(doc)
        return
    steps = run_steps(conninfo(ctx), pipeline, selectors(select), selectors(exclude))
    if restate:
        if not (day or start):
            raise click.UsageError("--restate needs --date or --from/--to")
        from .restate import finish, restate as do_restate

        finish(do_restate(conninfo(ctx), pipeline, dates[0], dates[-1], reextract=reextract,
                          allow_future=allow_future, steps=steps, on_notice=err), as_json)
        return
    from .progress import Progress

    with Progress(err) as progress:
        results = run_pipeline(conninfo(ctx), pipeline, dates, on_notice=progress, on_start=progress.begin,
                               on_result=(lambda _r: None) if as_json else
                               _print_run if steps is None else (lambda r: print_selected_run(r, _print_run)),
                               allow_future=allow_future,
                               **({"steps": steps} if steps is not None else {}))
    if as_json:
        emit_json([r.as_dict() for r in results])
    failed = next((r for r in results if r.error), None)
    if failed:
        raise failed.error


# -- ls, test (dwh_cli/select.py) ------------------------------------------------------------------
from .select import ls, test_cmd  # noqa: E402

cli.add_command(ls)
cli.add_command(test_cmd)

from .cancel import cancel  # noqa: E402

cli.add_command(cancel)


# -- status --------------------------------------------------------------------------------------
@cli.command()
@click.option("--runs", default=5, show_default=True, type=click.IntRange(min=1, max=2**31 - 1),
              help="Last runs to show per pipeline.")
@click.option("--verbose", "-v", is_flag=True, help="Every section in full (watermarks, freshness, every step).")
@click.option("--json", "as_json", is_flag=True, help="Print the status document as JSON.")
@wide_option
@click.pass_context
def status(ctx, runs: int, verbose: bool, as_json: bool):
    """Show whether the warehouse is healthy, then pipelines, runs, failures and freshness.

    The first line says "healthy" or "not healthy: " and why (failed runs, failing rules, stale tables,
    missed schedules, open quarantine, source warnings, stale runs); then what needs attention, the rest
    summed up in one line each. --verbose prints every section in full.

    \b
    Example:
        dwh status
        dwh status --verbose --wide
        dwh status --json
    """
    from .ops import open_quarantine, status_report
    from .status_view import status_text

    info = conninfo(ctx)
    doc = status_report(info, runs=runs)
    if as_json:
        emit_json(doc)
    else:
        click.echo(status_text(doc, open_quarantine(info), verbose=verbose))


# -- info ----------------------------------------------------------------------------------------
def info_problems(doc: dict) -> list[str]:
    """What in a ``dwh info`` document needs attention, one short phrase each."""
    problems = []
    ext = {e["name"]: e for e in doc.get("extensions", [])}
    for name in ("plpgsql", "dblink"):
        if not (ext.get(name) or {}).get("installed"):
            problems.append(f"extension {name} not installed")
    for role in doc.get("roles", []):
        if not role["exists"]:
            problems.append(f"role {role['role']} missing")
    # pg_cron is optional (README, "Using an existing server"): without it, a note (info_notes), not a
    # problem; installed, its health counts
    if (ext.get("pg_cron") or {}).get("installed"):
        for item in doc.get("pg_cron", []):
            if not item["ok"]:
                problems.append(f"pg_cron {item['item']}: {item['detail']}")
    mig = doc.get("migrations", {})
    if "error" in mig:
        problems.append(f"migrations unknown: {mig['error']}")
    elif not mig.get("up_to_date"):
        problems.append(f"{len(mig.get('pending', []))} migration(s) and "
                        f"{mig.get('procedure_files_pending', 0)} procedure file(s) pending: run dwh migrate")
    return problems


def info_notes(doc: dict) -> list[str]:
    """What a ``dwh info`` document lacks that dwh works without."""
    ext = {e["name"]: e for e in doc.get("extensions", [])}
    if not (ext.get("pg_cron") or {}).get("installed"):
        return ["pg_cron is not installed here: pipelines run with dwh run (or any scheduler); dwh schedule "
                "needs pg_cron (README, Scheduling and operations)"]
    return []


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def info(ctx, as_json: bool):
    """Where dwh is connected and what that server has (like dbt debug).

    Connection (and whether it is the embedded cluster), server version and time zone, the extensions dwh
    uses, pg_cron's health, the dwh roles, migrations applied and pending, the registered areas. The first
    line says whether everything is ready, and if not, why. Exit code 0 either way.

    \b
    Example:
        dwh info
        dwh --dsn 'host=db.example dbname=dwh' info --json
    """
    from .info import info as info_report

    doc = info_report(settings(ctx), log=err)
    problems = info_problems(doc)
    notes = info_notes(doc)
    doc = {"ready": not problems, "problems": problems, "notes": notes, **doc}
    if as_json:
        emit_json(doc)
        return
    click.echo("ready" if not problems else "not ready: " + "; ".join(problems))
    for note in notes:
        click.echo(f"note: {note}")
    rest = {k: v for k, v in doc.items() if k not in ("ready", "problems", "notes")}
    click.echo(document(rest))


# -- sources -------------------------------------------------------------------------------------
@cli.group()
def source():
    """Operational PostgreSQL databases attached as sources (logical replication or postgres_fdw).

    \b
    Example:
        dwh source add shop --dsn "host=db1 dbname=shop user=dwh" --schema public --into shop --area sales
        dwh source status
    """


@source.command("add")
@click.argument("name")
@click.option("--dsn", "source_dsn", required=True, metavar="CONNINFO",
              help="The source's conninfo or URI, as the warehouse server reaches it (never printed or stored in a table).")
@click.option("--password-stdin", is_flag=True, help="Read the source's password from stdin (keeps it off the command line).")
@click.option("--schema", default="public", show_default=True, help="The source's schema.")
@click.option("--tables", metavar="T,...", help="Tables to attach (default: every table of the schema).")
@click.option("--into", "into", required=True, metavar="SCHEMA", help="Local schema the area reads (created).")
@click.option("--mode", type=click.Choice(["replicate", "fdw"]), default="replicate", show_default=True,
              help="replicate: logical replication (continuous); fdw: postgres_fdw, pulled by each run.")
@click.option("--area", metavar="AREA", help="Point this area at the source (its <area>.source_schema setting).")
@click.option("--change-column", default="updated_at", show_default=True,
              help="fdw mode: the source's change timestamp the pull window runs on.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def source_add(ctx, name, source_dsn, password_stdin, schema, tables, into, mode, area, change_column, as_json):
    """Attach an operational PostgreSQL as source NAME."""
    from .sources import add_source, with_password

    if password_stdin:
        source_dsn = with_password(source_dsn, sys.stdin.readline().rstrip("\r\n"))
    table_list = [t.strip() for t in tables.split(",") if t.strip()] if tables else None
    res = add_source(conninfo(ctx), name, source_dsn, into, schema, table_list, mode, area, change_column, notice=err)
    if as_json:
        emit_json(res)
    else:
        click.echo(f"source {name} attached ({mode}) into {into}" + (f"; area {area} reads it" if area else ""))


@source.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
@wide_option
@click.pass_context
def source_list(ctx, as_json):
    """List the attached sources (where they are, never their passwords)."""
    from .sources import list_sources

    rows = list_sources(conninfo(ctx))
    if as_json:
        emit_json(rows)
    else:
        click.echo(table(rows, ["source", "mode", "remote", "schema", "tables", "into", "area"]) if rows else "no sources")


@source.command("status")
@click.option("--no-remote", is_flag=True, help="Do not connect to the sources (no WAL figure for their slots).")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
@wide_option
@click.pass_context
def source_status_cmd(ctx, no_remote, as_json):
    """State, lag and warnings of every source; exits 1 when one has a warning."""
    from .sources import source_status

    rows = source_status(conninfo(ctx), check_remote=not no_remote)
    if as_json:
        emit_json(rows)
    elif not rows:
        click.echo("no sources")
    else:
        click.echo(table(rows, ["source_name", "mode", "state", "tables_ready", "tables_total", "lag",
                                "retained_wal_bytes", "last_sync_at", "last_sync_rows"]))
        for row in rows:
            for warning in row["warnings"] or []:
                click.echo(f"warning: source {row['source_name']}: {warning}")
    if any(row["warnings"] for row in rows):
        ctx.exit(1)


@source.command("remove")
@click.argument("name")
@click.option("--drop-tables", is_flag=True, help="Drop the local copies too (default: keep the data).")
@click.pass_context
def source_remove(ctx, name, drop_tables):
    """Detach source NAME (its slot and publication on the source are dropped)."""
    from .sources import remove_source

    remove_source(conninfo(ctx), name, drop_tables, notice=err)
    click.echo(f"source {name} removed")


@source.command("pull")
@click.argument("name")
@click.pass_context
def source_pull(ctx, name):
    """Pull an fdw source now (the pipeline step `sources` does it on every run)."""
    from .sources import pull_source

    click.echo(f"source {name}: {pull_source(conninfo(ctx), name)} row(s) pulled")


# -- lineage -------------------------------------------------------------------------------------
@cli.command()
@click.argument("table_name", metavar="TABLE", shell_complete=complete.tables)
@click.option("--upstream", "direction", flag_value="upstream", default=True, help="What TABLE is built from (default).")
@click.option("--downstream", "direction", flag_value="downstream", help="What is built from TABLE.")
@click.option("--both", "direction", flag_value="both", help="Both (with --format).")
@click.option("--format", "fmt", type=click.Choice(["text", "mermaid", "dot", "json"]),
              help="The graph: text (each table with its parents, or children), mermaid, dot (Graphviz), "
                   "json (nodes and edges). Without it: the tables by level.")
@click.option("--key", "keys", multiple=True, metavar="COLUMN=VALUE",
              help="Per-record lineage: follow the rows of TABLE with these values back to the raw rows they "
                   "came from (dwh_lineage.trace_record); repeat for several columns.")
@click.option("--column", metavar="COLUMN", help="With --key: the value to follow (each hop shows its sources).")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
@click.pass_context
def lineage(ctx, table_name: str, direction: str, fmt: str | None, keys: tuple[str, ...], column: str | None,
            as_json: bool):
    """Show the tables upstream (or downstream) of TABLE, by level, or its lineage graph (--format), or
    one row's way back to its raw payload (--key).

    \b
    Example:
        dwh lineage sales.fact_sales --upstream
        dwh lineage sales.fact_sales --format text
        dwh lineage sales.fact_sales --both --format mermaid
        dwh lineage sales.fact_sales --key sale_id=42 --column line_total
    """
    if column and not keys:
        raise click.UsageError("--column needs --key (the row to trace)")
    if keys:
        if fmt or direction != "upstream":
            raise click.UsageError("--key traces one row back to its source: it takes no --format/--downstream/--both")
        key = {}
        for item in keys:
            name, sep, value = item.partition("=")
            if not sep or not name.strip():
                raise click.UsageError(f"--key {item!r}: expected COLUMN=VALUE, e.g. --key sale_id=42")
            if name.strip() in key and key[name.strip()] != value:
                # a row has one value per column: the last --key silently won, tracing another row
                raise click.UsageError(f"--key {name.strip()} is given twice ({key[name.strip()]!r}, {value!r}): "
                                       "a row has one value per column")
            key[name.strip()] = value
        from .ops import trace

        hops = trace(conninfo(ctx), table_name, key, column)
        if as_json:
            emit_json([{k: v for k, v in h.items() if k != "value_text"} for h in hops])
            return
        click.echo(f"{table_name} {json.dumps(key)}" + (f", following {column}" if column else ""))
        if not hops:
            click.echo("  (no row matches)")
        for hop in hops:
            if hop["hop"] == 1:
                click.echo(f"row {hop['trace']}")
            values = (hop.pop("value_text") or "") if column else ""
            if not column and hop["row_data"] is not None:
                ident = hop["row_data"].get("_bronze_id") or hop["row_data"].get("_source_bronze_id")
                values = f"_bronze_id={ident}" if ident is not None else ""
            click.echo(f"  {hop['hop']} {hop['layer']:<7} {hop['table_name']}  {values}".rstrip())
            if hop["note"]:
                click.echo(f"      {hop['note']}")
        return
    if fmt or direction == "both":
        from .docs_graph import fetch_graph, render

        if as_json and fmt not in (None, "json"):
            raise click.UsageError("--json and --format are exclusive (use --format json)")
        click.echo(render(fetch_graph(conninfo(ctx), table_name, direction), "json" if as_json else fmt or "text"))
        return
    from .ops import lineage as get_lineage

    rows = get_lineage(conninfo(ctx), table_name, downstream=direction == "downstream")
    if as_json:
        emit_json(rows)
        return
    click.echo(f"{table_name} ({direction})")
    if not rows:
        click.echo("  (none)")
    for row in rows:
        level = int(row.get("level") or 1)
        dep = row.get("dependency_type")
        click.echo(f"{'  ' * level}{'<- ' if direction == 'upstream' else '-> '}{row.get('table_name')}"
                   + (f"  [{dep}]" if dep else ""))


# -- docs (dwh_cli/docs.py) ----------------------------------------------------------------------
@cli.group()
def docs():
    """The data catalog as a static site: areas, tables, columns, lineage, pipelines, quality.

    \b
    Example:
        dwh docs generate && dwh docs serve
    """


@docs.command("generate")
@click.option("--out", default="dwh-docs", show_default=True, metavar="DIR", help="Directory to write the site to.")
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
@click.pass_context
def docs_generate(ctx, out: str, as_json: bool):
    """Write the site (from dwh_lineage.catalog()) to DIR; it reads offline: open DIR/index.html.

    \b
    Example:
        dwh docs generate --out /tmp/site
    """
    from .docs import generate

    counts = generate(conninfo(ctx), out)
    if as_json:
        emit_json(counts)
        return
    click.echo(f"wrote {counts['out']}/index.html: {counts['areas']} areas, {counts['relations']} relations, "
               f"{counts['pipelines']} pipelines, {counts['rules']} quality rules, "
               f"{counts['column_lineage']} column lineage edges")


@docs.command("serve")
@click.option("--out", default="dwh-docs", show_default=True, metavar="DIR", help="Directory of the site "
              "(generated first when it holds none).")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535), help="Port on localhost.")
@click.pass_context
def docs_serve(ctx, out: str, port: int):
    """Serve the site on http://127.0.0.1:PORT/ until Ctrl-C.

    \b
    Example:
        dwh docs serve --port 8080
    """
    from pathlib import Path

    from .docs import ensure_site, serve

    ensure_site(lambda: conninfo(ctx), Path(out))
    try:
        server = serve(out, port)
    except OSError as exc:  # a port in use (or not ours to take): say which, and what to do
        raise DwhError(f"cannot serve on 127.0.0.1:{port}: {exc.strerror or exc}",
                       hint="choose another port: dwh docs serve --port N (0 picks a free one)") from exc
    err(f"serving {out} on http://127.0.0.1:{server.server_address[1]}/ (Ctrl-C stops)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


# -- demo ----------------------------------------------------------------------------------------
@cli.command()
@click.option("--scale", default=0.1, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="Demo source size (1.0 ≈ 1M sales rows).")
@click.option("--seed", default=42, show_default=True, type=int, help="Random seed of the generator.")
@click.option("--next-day", is_flag=True, help="Add one day of changes to the source instead, then run.")
@click.option("--date", "day", callback=parse_date, metavar="DATE", help="Run date (default: today).")
@click.option("--from", "from_day", callback=parse_date, metavar="DATE",
              help="First day of the generated sales (default: a year before today), e.g. 2025-01-01 "
              "for seed 004's January-2025 examples.")
@click.option("--verbose", "-v", is_flag=True, help="List every migration and procedure file applied, and "
              "the whole status.")
@wide_option
@click.pass_context
def demo(ctx, scale: float, seed: int, next_day: bool, day, verbose: bool, from_day=None):
    """Migrate, generate the demo source, run the daily pipeline and show the status.

    Uses the embedded cluster unless a server is configured. Progress (one line for the migration,
    phase timings, one line per step) goes to stderr.

    \b
    Example:
        dwh demo --scale 0.1
        dwh demo --next-day
        dwh demo --from 2025-01-01
    """
    from .ops import demo as do_demo

    from .ops import open_quarantine
    from .progress import Progress
    from .status_view import status_text

    info = conninfo(ctx)
    with Progress(err) as progress:
        res = do_demo(info, scale=scale, seed=seed, next_day=next_day, run_date=day,
                      log=err, on_notice=progress, on_start=progress.begin, verbose=verbose,
                      from_day=from_day)
    for r in res.runs:  # each step was on stderr already: the table only with --verbose (or on failure)
        _print_run(r, steps=verbose or r.error is not None)
    failed = next((r for r in res.runs if r.error), None)
    if failed:
        raise failed.error
    click.echo()
    click.echo(status_text(res.status, open_quarantine(info), verbose=verbose))


# -- db ------------------------------------------------------------------------------------------
@cli.group()
def db():
    """Manage the embedded PostgreSQL cluster.

    \b
    Example:
        dwh db start && psql "$(dwh db url)"
    """


def parse_listen(ctx, param, value):
    if value is None:
        return None
    from .embedded import parse_listen as parse

    try:
        return parse(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _listen_text(listen) -> str:
    return f"TCP {listen} (scram-sha-256 passwords; see dwh db user add)" if listen else "unix socket only"


@db.command("start")
@click.option("--listen", "listen", metavar="ADDR:PORT", callback=parse_listen,
              help="Also accept TCP connections on ADDR:PORT (e.g. 127.0.0.1:54329, 0.0.0.0:5433), with "
                   "scram-sha-256 passwords only; 'none' goes back to the unix socket only. Remembered "
                   "with the data directory: a later plain `dwh db start` keeps it.")
@click.pass_context
def db_start(ctx, listen):
    """Start the embedded cluster (creating it on first use).

    By default it accepts no TCP connection: only its owner reaches it, through the unix socket in its
    data directory. DWH_PORT chooses the port when the cluster is created; the port is then remembered
    with the data directory (--listen changes it).

    \b
    Example:
        dwh db start
        dwh db start --listen 127.0.0.1:5433   # for a BI tool
        dwh db start --listen none             # back to socket only
    """
    from .embedded import UNCHANGED

    cluster = settings(ctx).cluster()
    state = cluster.start(log=err, listen=UNCHANGED if ctx.get_parameter_source("listen").name == "DEFAULT"
                          else listen)
    word = {"started": "started", "restarted": "restarted", "running": "already running"}[state]
    click.echo(f"{word}: {cluster.conninfo()}")
    if cluster.listen:
        err(f"listening on {_listen_text(cluster.listen)}")


@db.command("stop")
@click.pass_context
def db_stop(ctx):
    """Stop the embedded cluster.

    \b
    Example:
        dwh db stop
    """
    cluster = settings(ctx).cluster()
    click.echo("stopped" if cluster.stop() else "not running")


@db.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@click.pass_context
def db_status(ctx, as_json: bool):
    """Show whether the embedded cluster exists and runs (exit 3 when it is not running).

    \b
    Example:
        dwh db status --json
    """
    st = settings(ctx).cluster().status()
    if as_json:
        emit_json(st.as_dict())
    else:
        state = "running" if st.running else ("stopped" if st.initialized else "not initialized")
        click.echo(f"{state}: data {st.data_dir}, port {st.port}, {_listen_text(st.listen)}")
    if not st.running:
        ctx.exit(3)


@db.command("url")
@click.pass_context
def db_url(ctx):
    """Print the embedded cluster's connection string (conninfo).

    \b
    Example:
        psql "$(dwh db url)"
    """
    click.echo(settings(ctx).cluster().conninfo())



@db.group("user")
def db_user():
    """Logins for people and BI tools: members of analyst_role (reads gold) or etl_service (runs
    pipelines). They connect over TCP (dwh db start --listen) with their scram password.

    Works on the configured connection (the embedded cluster by default; --dsn for another server).

    \b
    Example:
        dwh db user add metabase --role analyst
    """


@db_user.command("add")
@click.argument("name")
@click.option("--role", "kind", required=True, type=click.Choice(["analyst", "etl"]),
              help="analyst: member of analyst_role (gold and area star schemas, read only); etl: member "
                   "of etl_service (runs pipelines).")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin (one line) instead of "
              "generating one.")
@click.option("--json", "as_json", is_flag=True, help="Print user, role and password as JSON.")
@click.pass_context
def db_user_add(ctx, name: str, kind: str, password_stdin: bool, as_json: bool):
    """Create login NAME with a scram-sha-256 password, member of the role of --role.

    Without --password-stdin a password is generated and printed once (stdout): store it now.

    \b
    Example:
        dwh db user add metabase --role analyst
        printf '%s\\n' "$PW" | dwh db user add loader --role etl --password-stdin
    """
    from .users import add_user, generate_password, validate_name

    validate_name(name)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise click.UsageError("--password-stdin: stdin holds no password")
        generated = False
    else:
        password, generated = generate_password(), True
    res = add_user(conninfo(ctx), name, kind, password)
    if as_json:
        emit_json({**res, **({"password": password} if generated else {})})
        return
    click.echo(f"created user {name} (member of {res['member_of']})")
    if generated:
        click.echo(f"password: {password}")
        err("the password is shown only this once: store it now")


@db_user.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the users as JSON.")
@click.pass_context
def db_user_list(ctx, as_json: bool):
    """List the logins that are members of analyst_role or etl_service.

    \b
    Example:
        dwh db user list
    """
    from .users import list_users

    rows = list_users(conninfo(ctx))
    if as_json:
        emit_json(rows)
    else:
        click.echo(table(rows, ["user", "role", "member_of", "valid_until"]) if rows else "(no users)")


@db_user.command("remove")
@click.argument("name")
@click.pass_context
def db_user_remove(ctx, name: str):
    """Remove login NAME (made by dwh db user add) and end its sessions.

    \b
    Example:
        dwh db user remove metabase
    """
    from .users import remove_user

    remove_user(conninfo(ctx), name)
    click.echo(f"removed user {name}")


# -- quality, quarantine (dwh_cli/quality.py) ----------------------------------------------------
from .quality import quality, quarantine  # noqa: E402  (registered after cli exists)

cli.add_command(quality)
cli.add_command(quarantine)

# -- cdc (dwh_cli/cdc.py) --------------------------------------------------------------------------
from .cdc import cdc  # noqa: E402  (registered after cli exists)

cli.add_command(cdc)

# -- load (dwh_cli/load.py) ----------------------------------------------------------------------
from .load import load  # noqa: E402

cli.add_command(load)

# -- rebuild, retry (dwh_cli/restate.py; run --restate too) ---------------------------------------
from .restate import rebuild_cmd, retry_cmd  # noqa: E402

cli.add_command(rebuild_cmd)
cli.add_command(retry_cmd)


# -- schedule ------------------------------------------------------------------------------------
@cli.group()
def schedule():
    """Schedule the pipelines with pg_cron (jobs dwh:<pipeline>, in UTC).

    pg_cron runs inside PostgreSQL: no process outside it is needed.

    \b
    Example:
        dwh schedule sync && dwh schedule list
    """


def _print_actions(rows: list[dict]) -> None:
    from .schedule import counts

    changed = [r for r in rows if r["action"] != "unchanged"]
    if changed:
        click.echo(table(changed, ["action", "job_name", "schedule_utc"]))
    c = counts(rows)
    click.echo(f"{c['created']} created, {c['updated']} updated, {c['removed']} removed, "
               f"{c['unchanged']} unchanged.")


@schedule.command("sync")
@click.option("--json", "as_json", is_flag=True, help="Print one row per job (action, job_name, schedule_utc) as JSON.")
@click.pass_context
def schedule_sync(ctx, as_json: bool):
    """Create, update and remove pg_cron jobs so they match the registry (idempotent).

    One job per pipeline and cron expression (dwh_etl.pipelines.schedules); inactive pipelines have none.

    \b
    Example:
        dwh schedule sync
    """
    from .schedule import sync

    rows = sync(conninfo(ctx), on_notice=lambda _m: None)
    if as_json:
        emit_json(rows)
    else:
        _print_actions(rows)


@schedule.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the jobs as JSON.")
@wide_option
@click.pass_context
def schedule_list(ctx, as_json: bool):
    """Show each job: schedule (UTC), active, next run, last run's start, end and status.

    \b
    Example:
        dwh schedule list --json
    """
    from .schedule import list_jobs

    rows = list_jobs(conninfo(ctx))
    if as_json:
        emit_json(rows)
        return
    click.echo(table(rows, ["job_name", "schedule_utc", "active", "next_run_at", "last_start", "last_end",
                            "last_status"]))


@schedule.command("remove")
@click.argument("pipeline", required=False, shell_complete=complete.pipelines)
@click.option("--json", "as_json", is_flag=True, help="Print the removed jobs as JSON.")
@click.pass_context
def schedule_remove(ctx, pipeline: str | None, as_json: bool):
    """Remove the jobs of PIPELINE (default: every dwh job of this database).

    The registry is unchanged: the next sync creates the jobs again. To stop scheduling a pipeline for
    good, empty its schedules or set it inactive, then sync.

    \b
    Example:
        dwh schedule remove incremental
    """
    from .schedule import remove

    rows = remove(conninfo(ctx), pipeline)
    if as_json:
        emit_json(rows)
    else:
        _print_actions(rows)


def stdout_gone() -> None:
    """stdout's reader left (a pipe to `head`): print nothing more, also not when Python flushes stdout
    at exit (which would report the broken pipe again)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def main(argv: list[str] | None = None) -> None:
    try:
        # Record Ctrl-C from now on (DwhGroup.invoke turns it into exit 130); before a command runs
        # it must not raise into click, which would print "Aborted!" and exit 1.
        with interrupt.handling(arm=False):
            cli.main(args=argv, prog_name="dwh")
    except KeyboardInterrupt:  # outside a command
        err("interrupted")
        sys.exit(EXIT_INTERRUPTED)
    except BrokenPipeError:  # outside a command (click's help into `| head`)
        stdout_gone()
        sys.exit(EXIT_BROKEN_PIPE)


__all__ = ["cli", "main", "EXIT_USAGE"]
