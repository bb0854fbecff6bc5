"""``dwh cancel``: cancel running pipeline runs (dwh_etl.sec_cancel_run does the work in SQL)."""

from __future__ import annotations

import time

import click

from . import complete


@click.command("cancel")
@click.argument("run_id", required=False, type=click.IntRange(min=1, max=2**63 - 1))  # a bigint
@click.option("--pipeline", metavar="PIPELINE", shell_complete=complete.pipelines,
              help="Only the runs of this pipeline.")
@click.option("--wait", "wait_s", type=click.FloatRange(min=0), default=10, show_default=True, metavar="SECONDS",
              help="Wait up to this long for the cancelled runs to end (0: do not wait).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def cancel(ctx, run_id, pipeline, wait_s, as_json):
    """Cancel a running run (default: every running run, or those of --pipeline).

    The run's backend is sent a cancel: the runner records the running step and the run cancelled,
    the step's own writes roll back, steps already committed stay (dwh retry goes on from the
    cancelled step). Only a backend that still holds the pipeline's run lock is signalled.

    \b
    Example:
        dwh cancel 42
        dwh cancel --pipeline daily
    """
    from .cli import conninfo, emit_json
    from .config import connect
    from .errors import from_psycopg
    from .output import table
    import psycopg

    with connect(conninfo(ctx)) as conn:
        try:
            rows = conn.execute("SELECT run_id, pipeline_name, backend_pid, cancelled, note "
                                "FROM dwh_etl.sec_cancel_run(%s, %s)", (run_id, pipeline)).fetchall()
        except psycopg.Error as exc:
            raise from_psycopg(exc) from None
        docs = [dict(run_id=r[0], pipeline=r[1], backend_pid=r[2], cancelled=r[3], note=r[4]) for r in rows]
        waiting = [d["run_id"] for d in docs if d["cancelled"] and d["run_id"] is not None]
        deadline = time.monotonic() + wait_s
        while waiting and time.monotonic() < deadline:
            time.sleep(0.2)
            done = dict(conn.execute("SELECT run_id, status FROM dwh_lineage.pipeline_runs WHERE run_id = ANY(%s)",
                                     (waiting,)).fetchall())
            for d in docs:
                if d["run_id"] in done and done[d["run_id"]] != "running":
                    d["status"] = done[d["run_id"]]
            waiting = [r for r in waiting if done.get(r) == "running"]
        for d in docs:
            # a run not recorded yet (it waited before writing its row) records nothing when cancelled
            d.setdefault("status", "not started" if d["run_id"] is None and d["cancelled"] else "running")
    if as_json:
        emit_json(docs)
    else:
        click.echo(table(docs, ["run_id", "pipeline", "backend_pid", "cancelled", "status", "note"]))
    if not any(d["cancelled"] for d in docs):
        ctx.exit(1)
