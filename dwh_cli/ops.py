"""Library calls behind ``dwh run``, ``dwh status``, ``dwh lineage`` and ``dwh demo``."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from . import interrupt
from .config import connect
from .errors import DwhError, from_psycopg

Log = Callable[[str], None]


def _noop(_msg: str) -> None:
    pass


@dataclass
class RunResult:
    pipeline: str
    run_date: dt.date
    run_id: int | None
    status: str | None
    run: dict[str, Any] = field(default_factory=dict)
    steps: list[dict[str, Any]] = field(default_factory=list)
    error: DwhError | None = None

    def as_dict(self) -> dict:
        out = {"pipeline": self.pipeline, "run_date": self.run_date.isoformat(), "run_id": self.run_id,
               "status": self.status, "steps": self.steps}
        if self.error:
            out["error"] = {"message": self.error.message, "detail": self.error.detail,
                            "hint": self.error.hint, "sqlstate": self.error.sqlstate}
        return out


def date_range(start: dt.date, end: dt.date) -> list[dt.date]:
    if end < start:
        raise ValueError(f"--to {end} is before --from {start}")
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


def fetch_run(conn, run_id: int) -> tuple[dict, list[dict]]:
    """The run's row in dwh_lineage.pipeline_runs and its steps from dwh_lineage.step_runs, in order."""
    with conn.cursor(row_factory=dict_row) as cur:
        run = cur.execute("SELECT * FROM dwh_lineage.pipeline_runs WHERE run_id = %s", (run_id,)).fetchone() or {}
        steps = cur.execute("SELECT * FROM dwh_lineage.step_runs WHERE run_id = %s ORDER BY step_order",
                            (run_id,)).fetchall()
    return run, steps


def _latest_run_id(conn, pipeline: str, run_date: dt.date) -> int | None:
    """The id of the newest run of pipeline/date (after a DW003 the CALL returns no row)."""
    row = conn.execute("SELECT max(run_id) FROM dwh_lineage.pipeline_runs WHERE pipeline_name = %s AND run_date = %s",
                       (pipeline, run_date)).fetchone()
    return row[0] if row else None


def utc_today() -> dt.date:
    """The default run date: today in UTC, the server's and pg_cron's calendar, not the client's zone."""
    return dt.datetime.now(dt.timezone.utc).date()


def step_count(conn, pipeline: str) -> int | None:
    """How many steps a run of ``pipeline`` has (enabled ones), or None when the registry is not readable."""
    try:
        with conn.transaction():
            return conn.execute("SELECT count(*) FROM dwh_etl.steps WHERE pipeline_name = %s AND is_enabled",
                                (pipeline,)).fetchone()[0] or None
    except psycopg.Error:
        return None


def run_pipeline(conninfo: str, pipeline: str, dates: list[dt.date], on_notice: Log = _noop,
                 on_result: Callable[[RunResult], None] = lambda _r: None,
                 steps: list[str] | None = None,
                 on_start: Callable[[str, dt.date, int | None], None] | None = None,
                 allow_future: bool = False) -> list[RunResult]:
    """Run ``pipeline`` for each date in order, stopping at the first failure.

    ``steps``: only these steps (dwh_etl.run_pipeline's p_steps; the others are recorded skipped).
    ``allow_future``: accept a date beyond today + the calendar horizon (dwh_etl.run_steps;
    dwh_etl.run_pipeline refuses it). NOTICEs stream to ``on_notice`` as they arrive; ``on_start``
    (progress.Progress.begin) is told each run's date and number of steps before it starts; ``on_result``
    sees each run as it finishes. The last result carries ``error`` when a run failed."""
    results: list[RunResult] = []
    with connect(conninfo, autocommit=True) as conn:
        conn.add_notice_handler(interrupt.notice_callback(lambda d: on_notice(d.message_primary or "")))
        for day in dates:
            res = RunResult(pipeline=pipeline, run_date=day, run_id=None, status=None)
            # Ctrl-C cancels the running CALL; between statements this is where the run stops
            # (never start the next date's run after an interrupt).
            interrupt.check()
            if on_start is not None:
                on_start(pipeline, day, len(steps) if steps is not None else step_count(conn, pipeline))
            try:
                if steps is None and not allow_future:
                    row = conn.execute(
                        "CALL dwh_etl.run_pipeline(p_pipeline => %s, p_run_date => %s, p_run_id => NULL)",
                        (pipeline, day)).fetchone()
                else:  # chosen steps (dwh run --select) and/or a far-future date (--allow-future)
                    row = conn.execute(
                        "CALL dwh_etl.run_steps(p_pipeline => %s, p_steps => %s, p_run_date => %s, "
                        "p_run_id => NULL, p_allow_future => %s)", (pipeline, steps, day, allow_future)).fetchone()
                res.run_id = row[0] if row else None
            except psycopg.Error as exc:
                interrupt.check()  # the CALL was cancelled by Ctrl-C: an interrupt, not a failure
                res.error = from_psycopg(exc)
                # DW003 failed, 57014 cancelled (statement_timeout): the run is recorded; anything else
                # (unknown pipeline, already running, ...) recorded none
                if exc.sqlstate not in ("DW003", "57014"):
                    results.append(res)
                    return results
                try:  # the failure is committed; show it
                    res.run_id = _latest_run_id(conn, pipeline, day)
                except psycopg.Error:
                    res.run_id = None
            if res.run_id is not None:
                try:
                    res.run, res.steps = fetch_run(conn, res.run_id)
                except psycopg.Error:
                    pass
            interrupt.check()
            res.status = res.run.get("status") or ("failed" if res.error else "succeeded")
            results.append(res)
            on_result(res)
            if res.error:
                break
    return results


def open_quarantine(conninfo: str) -> dict[str, Any]:
    """Open quarantined rows and the tables they were meant for ({"open": None} when not readable)."""
    with connect(conninfo) as conn:
        try:
            n, tables = conn.execute("SELECT count(*), count(DISTINCT target_table) FROM dwh_etl.quarantine "
                                     "WHERE resolved_at IS NULL").fetchone()
            return {"open": n, "tables": tables}
        except psycopg.Error:
            return {"open": None, "tables": None}


def status_report(conninfo: str, runs: int = 5) -> Any:
    with connect(conninfo) as conn:
        try:
            return conn.execute("SELECT dwh_etl.status_report(p_runs => %s)", (runs,)).fetchone()[0]
        except psycopg.Error as exc:
            raise from_psycopg(exc) from exc


def _known_table(conn, table: str) -> None:
    """A table the warehouse knows (registry, lineage graph or catalog), or a DwhError naming close matches."""
    try:
        with conn.transaction():
            known = conn.execute("""
                SELECT EXISTS (SELECT 1 FROM dwh_etl.table_registry WHERE table_name = %(t)s)
                    OR EXISTS (SELECT 1 FROM dwh_lineage.table_dependencies WHERE %(t)s IN (upstream_table, downstream_table))
                    OR to_regclass(%(t)s) IS NOT NULL""", {"t": table}).fetchone()[0]
    except psycopg.errors.InsufficientPrivilege:
        return  # a role that may not read the registry (an analyst): the lineage query itself decides
    if known:
        return
    close = [r[0] for r in conn.execute("""
        SELECT table_name FROM dwh_etl.table_registry
        WHERE table_name ILIKE '%%' || split_part(%s, '.', -1) || '%%' ORDER BY 1 LIMIT 3""", (table,))]
    raise DwhError(f"unknown table {table!r}: not in the registry, the lineage graph or the catalog",
                   hint=("did you mean: " + ", ".join(close)) if close else
                   "dwh info lists the areas; tables are named schema.table")


def lineage(conninfo: str, table: str, downstream: bool = False) -> list[dict]:
    fn = "get_downstream" if downstream else "get_upstream"
    with connect(conninfo) as conn:
        try:
            _known_table(conn, table)
            with conn.cursor(row_factory=dict_row) as cur:
                cur.execute(sql.SQL("SELECT * FROM dwh_lineage.{}(%s)").format(sql.Identifier(fn)), (table,))
                return cur.fetchall()
        except psycopg.Error as exc:
            raise from_psycopg(exc) from exc


def trace(conninfo: str, table: str, key: dict[str, str], column: str | None = None) -> list[dict]:
    """Per-record lineage: the rows of TABLE matching KEY, each followed back to its bronze row
    (dwh_lineage.trace_record)."""
    with connect(conninfo) as conn:
        try:
            with conn.cursor(row_factory=dict_row) as cur:
                cur.execute("""SELECT t.trace, t.hop, t.layer, t.table_name, t.value, t.note, t.row_data,
                                      (SELECT string_agg(format('%%s=%%s', v.key, v.value), ' ' ORDER BY v.key)
                                       FROM jsonb_each(t.value) AS v) AS value_text
                               FROM dwh_lineage.trace_record(%s, %s::jsonb, %s) AS t
                               ORDER BY t.trace, t.hop""", (table, json.dumps(key), column))
                return cur.fetchall()
        except psycopg.Error as exc:
            raise from_psycopg(exc) from exc


@dataclass
class DemoResult:
    generated: bool
    runs: list[RunResult]
    status: Any
    timings: dict[str, float]


def _qualified(name: str) -> sql.Composable:
    return sql.SQL(".").join(sql.Identifier(part) for part in name.split(".", 1))


def _demo_areas(conn) -> list[tuple[str, dict]]:
    """The registered areas with a demo source, in their declared order (dwh_etl.areas.demo)."""
    rows = conn.execute(
        "SELECT area, demo FROM dwh_etl.areas WHERE demo ? 'generate' "
        "ORDER BY COALESCE((demo->>'order')::int, 1000), area").fetchall()
    return [(area, demo) for area, demo in rows]


def _call_declared(conn, procedure: str, args: dict[str, Any]) -> None:
    """CALL an area's declared demo procedure with the arguments it declares (named; others are left out)."""
    names = conn.execute(
        "SELECT COALESCE(p.proargnames, '{}') FROM pg_proc AS p "
        "WHERE p.oid = to_regproc(%s) AND p.prokind = 'p'", (procedure,)).fetchone()
    if names is None:
        raise DwhError(f"the demo procedure {procedure} declared in dwh_etl.areas does not exist (or is not unique)")
    given = {k: v for k, v in args.items() if k in names[0]}
    conn.execute(sql.SQL("CALL {}({})").format(
        _qualified(procedure),
        sql.SQL(", ").join(sql.SQL("{} => {}").format(sql.Identifier(k), sql.Placeholder(k)) for k in given)),
        given)


def _demo_clock(conn, spec: dict) -> dt.date | None:
    clock = spec.get("clock")
    if not clock:
        return None
    table, _, column = clock.rpartition(".")
    return conn.execute(sql.SQL("SELECT max({})::date FROM {}").format(
        sql.Identifier(column), _qualified(table))).fetchone()[0]


def demo(conninfo: str, scale: float = 0.1, seed: int = 42, next_day: bool = False,
         run_date: dt.date | None = None, log: Log = _noop, on_notice: Log = _noop,
         verbose: bool = False, on_start=None, from_day: dt.date | None = None) -> DemoResult:
    """migrate -> generate the demo sources of sales and devflow (or one more day) -> run ``daily`` -> status.

    The migration is one line ("migrated: ...") unless ``verbose`` (then one line per file applied).
    ``from_day``: the first day of generated history, passed as ``p_from`` to the areas whose generator
    declares it (sales_src.generate: its sales run from that day to yesterday)."""
    from .output import duration
    from .migrate import migrate

    timings: dict[str, float] = {}

    def phase(name: str, fn):
        t0 = time.monotonic()
        out = fn()
        timings[name] = time.monotonic() - t0
        log(f"[{name}] {duration(timings[name])}")
        return out

    def migrate_log(line: str) -> None:
        if verbose or not line.startswith("applying "):
            log(line)

    t0 = time.monotonic()
    mres = migrate(conninfo, log=migrate_log)
    timings["migrate"] = time.monotonic() - t0
    if mres.up_to_date:
        log(f"migrated: up to date ({mres.migrations_total} migrations, {mres.procedures_total} procedure "
            f"files), {duration(timings['migrate'])}")
    else:
        log(f"migrated: {len(mres.migrations_applied)} migrations, {len(mres.procedures_applied)} procedure "
            f"files applied in {duration(timings['migrate'])}")
    generated = False
    with connect(conninfo, autocommit=True) as conn:
        conn.add_notice_handler(interrupt.notice_callback(lambda d: on_notice(d.message_primary or "")))
        try:
            areas = _demo_areas(conn)
            if not areas:
                log("no registered area has a demo source (dwh_etl.areas.demo): nothing to generate")
            for area, spec in areas:
                if next_day:
                    if spec.get("next_day"):
                        phase(f"generate next day ({area})", lambda: _call_declared(
                            conn, spec["next_day"], {}))
                        generated = True
                    continue
                marker = spec.get("generated_when")
                if marker and conn.execute(
                        sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(_qualified(marker))).fetchone()[0]:
                    log(f"the {area} demo source is already generated ({marker} has rows); "
                        "use --next-day to add a day")
                    continue
                args = dict(spec.get("args") or {})
                args.setdefault("p_scale", decimal.Decimal(str(scale)))
                args.setdefault("p_seed", seed)
                if from_day is not None:
                    args.setdefault("p_from", from_day)
                phase(f"generate ({area})", lambda: _call_declared(conn, spec["generate"], args))
                generated = True
            if next_day and run_date is None:
                # The simulated day may lie ahead of today (repeated --next-day): run for that day, so its
                # rows are not quarantined as dated in the future (quality.max_future counts from the run
                # date). Each area names the column that holds its simulated business dates ("clock").
                days = [d for d in (_demo_clock(conn, spec) for _, spec in areas) if d is not None]
                if days and max(days) > utc_today():
                    run_date = max(days)
        except psycopg.Error as exc:
            raise from_psycopg(exc) from exc
    day = run_date or utc_today()
    runs = phase("run daily", lambda: run_pipeline(conninfo, "daily", [day], on_notice=on_notice,
                                                   on_start=on_start))
    report = phase("status", lambda: status_report(conninfo))
    return DemoResult(generated=generated, runs=runs, status=report, timings=timings)
