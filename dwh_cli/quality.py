"""``dwh quality`` and ``dwh quarantine``: each command makes one SQL call and prints."""

from __future__ import annotations

import click
from psycopg.rows import dict_row

from . import complete
from .config import connect
from .output import document, record, table


def _wide(f):
    from .cli import wide_option

    return wide_option(f)


def _conninfo(ctx: click.Context) -> str:
    from .cli import conninfo

    return conninfo(ctx)


def _emit_json(value) -> None:
    from .cli import emit_json

    emit_json(value)


def _rows(conninfo: str, query: str, params: tuple) -> list[dict]:
    with connect(conninfo) as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query, params)
        return cur.fetchall()


@click.command()
@click.option("--table", "table_name", metavar="TABLE", shell_complete=complete.tables,
              help="Only the rules of this table.")
@click.option("--failed", is_flag=True, help="Only rules whose latest evaluation failed.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@_wide
@click.pass_context
def quality(ctx, table_name: str | None, failed: bool, as_json: bool):
    """Show the latest result of every quality rule and the freshness SLAs.

    \b
    Example:
        dwh quality --failed --table sales.fact_sales
    """
    from .ops import _known_table

    with connect(_conninfo(ctx)) as conn:
        if table_name is not None:
            _known_table(conn, table_name)
        report = conn.execute("SELECT dwh_etl.quality_report(p_table => %s, p_failed_only => %s)",
                              (table_name, failed)).fetchone()[0]
    if as_json:
        _emit_json(report)
    else:
        click.echo(_quality_text(report))


def _quality_text(report) -> str:
    """The rules grouped under their table (run_id and the table column left out: --json has them), then
    the rest of the report as usual."""
    from .output import CUT_NOTE, grouped_table, width_limit

    if not isinstance(report, dict) or not isinstance(report.get("rules"), list):
        return document(report)
    rules = report["rules"]
    failing = sum(1 for r in rules if r.get("passed") is False)
    columns = [c for c in ("rule", "severity", "passed", "value", "threshold", "rows_checked", "measured_at",
                           "sample") if any(c in r for r in rules)]
    extra = [k for r in rules for k in r if k not in columns and k not in ("table", "run_id")]
    columns += list(dict.fromkeys(extra))
    text, cut = grouped_table(rules, "table", columns) if rules else ("(no rules)", False)
    blocks = [f"rules ({len(rules)}, {failing} failing)\n{text}"]
    rest = {k: v for k, v in report.items() if k != "rules"}
    if rest:
        blocks.append(document(rest))
    if cut and CUT_NOTE.format(width=width_limit()) not in blocks[-1]:
        blocks.append(CUT_NOTE.format(width=width_limit()))
    return "\n\n".join(blocks)


@click.group()
def quarantine():
    """Rows a load rejected: list, show, retry.

    \b
    Example:
        dwh quarantine list --table silver.sales_sales
    """


@quarantine.command("list")
@click.option("--table", "table_name", metavar="TABLE", shell_complete=complete.tables,
              help="Only rows rejected for this target table.")
@click.option("--all", "show_all", is_flag=True, help="Include resolved rows.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(min=1), help="At most this many rows.")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
@_wide
@click.pass_context
def quarantine_list(ctx, table_name: str | None, show_all: bool, limit: int, as_json: bool):
    """List quarantined rows, newest first (open ones unless --all).

    \b
    Example:
        dwh quarantine list --all --json
    """
    rows = _rows(_conninfo(ctx), "SELECT * FROM dwh_etl.quarantine_list(p_table => %s, p_all => %s, p_limit => %s)",
                 (table_name, show_all, limit))
    if as_json:
        _emit_json(rows)
    elif not rows:
        click.echo("(no quarantined rows)")
    else:  # grouped under their target table: the reasons get the width
        from .output import CUT_NOTE, grouped_table, width_limit

        ordered = sorted(rows, key=lambda r: str(r.get("target_table")))  # stable: newest first per table
        text, cut = grouped_table(ordered, "target_table")
        click.echo(text + ("\n" + CUT_NOTE.format(width=width_limit()) if cut else ""))
        click.echo("dwh quarantine show ID shows a row with its payload")


@quarantine.command("show")
@click.argument("quarantine_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print the row as JSON.")
@click.pass_context
def quarantine_show(ctx, quarantine_id: int, as_json: bool):
    """Show one quarantined row: its raw payload (indented JSON) and every reason.

    \b
    Example:
        dwh quarantine show 42
    """
    rows = _rows(_conninfo(ctx), "SELECT * FROM dwh_etl.quarantine WHERE quarantine_id = %s", (quarantine_id,))
    if not rows:
        raise click.ClickException(f"no quarantined row {quarantine_id} (dwh quarantine list shows them)")
    if as_json:
        _emit_json(rows[0])
    else:
        click.echo(record(rows[0]))


@quarantine.command("retry")
@click.argument("ids", nargs=-1, type=click.IntRange(min=1, max=2**63 - 1))  # bigints
@click.option("--table", "table_name", metavar="TABLE", shell_complete=complete.tables,
              help="Retry every open row of this target table.")
@click.option("--run", "pipeline", default="daily", show_default=True, shell_complete=complete.pipelines,
              help="Pipeline to run afterwards so the rows are re-validated now.")
@click.option("--no-run", is_flag=True, help="Only replay; the next scheduled run re-validates.")
@click.pass_context
def quarantine_retry(ctx, ids: tuple[int, ...], table_name: str | None, pipeline: str, no_run: bool):
    """Replay quarantined rows into bronze (after a fix at the source or in the rules) and re-validate.

    With no IDS and no --table, every open row is retried. A row that passes loads exactly once; one that
    fails again is quarantined again with its new reasons.

    \b
    Example:
        dwh quarantine retry 17 18
        dwh quarantine retry --table silver.sales_sales --no-run
    """
    from .ops import run_pipeline, utc_today

    conninfo = _conninfo(ctx)
    rows = _rows(conninfo, "SELECT * FROM dwh_etl.retry_quarantine(p_ids => %s, p_table => %s)",
                 (list(ids) or None, table_name))
    click.echo(table(rows) if rows else "(nothing to retry)")
    if rows and not no_run:
        from .cli import _print_run, err
        from .progress import Progress

        with Progress(err) as progress:
            results = run_pipeline(conninfo, pipeline, [utc_today()], on_notice=progress,
                                   on_start=progress.begin, on_result=_print_run)
        failed = next((r for r in results if r.error), None)
        if failed:
            raise failed.error
