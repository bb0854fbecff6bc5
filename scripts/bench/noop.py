#!/usr/bin/env python3
"""Per-run cost against the delta (issue 15): a no-op `dwh run daily` and the next day's run.

    python scripts/bench/noop.py --dsn "$(dwh db url)" [--scale 0.1] [--rounds 5] [--next-days 1]
    python scripts/bench/noop.py --scale 1 --rounds 3            # a throwaway cluster (run as a non-root user)

Builds the demo of every area with a demo source (what `dwh demo --scale S` does: migrate, generate,
`daily`), runs `daily` once more so every step has caught up, then times, over --rounds rounds:
  noop      `daily` again with nothing new anywhere (wall time of the CALL, and per step from
            dwh_lineage.step_runs.duration_ms)
and, --next-days times, the next day (`dwh demo --next-day`: generate one more day of every source, not
timed, then `daily` for it, timed) followed by one no-op run (timed as noop too).
Prints the medians (wall and per step, the costliest steps first). No assertions. --compare-skip also
times --rounds no-op runs alternating the setting runner.skip_unchanged off and on (interleaved: a busy
machine weighs on both alike).
--existing: the database already has the demo (built by an earlier --keep run or by hand): no build.

--dsn wants a database that has no demo yet (empty or migrated; a database with the demo is reused as it
is, generating nothing). Without --dsn a throwaway cluster is started with initdb/pg_ctl from --pg-bin
(pg_cron preloaded, as the tests do) and removed at the end; initdb refuses root: run it as `postgres`.

Importable (scripts/bench/run.py): build(), noop_rounds(), next_day_rounds(), throwaway_cluster(), main().
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent.parent
if str(ROOT) not in sys.path:  # run as a script from a checkout: find dwh_cli next to it
    sys.path.insert(0, str(ROOT))


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@contextlib.contextmanager
def throwaway_cluster(pg_bin: str = "/usr/lib/postgresql/15/bin", port: int = 55431):
    """A fresh PostgreSQL cluster in a temporary directory; yields its conninfo; stopped and removed after."""
    d = tempfile.mkdtemp(prefix="dwh_noop_")
    os.chmod(d, 0o755)
    data = os.path.join(d, "data")
    subprocess.run([f"{pg_bin}/initdb", "-D", data, "-A", "trust", "-U", "postgres"], check=True,
                   stdout=subprocess.DEVNULL)
    opts = (f"-k {d} -c listen_addresses= -p {port} -c shared_preload_libraries=pg_cron "
            "-c cron.database_name=postgres")
    subprocess.run([f"{pg_bin}/pg_ctl", "-D", data, "-l", os.path.join(d, "log"), "-o", opts, "-w", "start"],
                   check=True, stdout=subprocess.DEVNULL)
    try:
        yield f"host={d} port={port} user=postgres dbname=postgres"
    finally:
        subprocess.run([f"{pg_bin}/pg_ctl", "-D", data, "-m", "fast", "stop"], stdout=subprocess.DEVNULL)
        shutil.rmtree(d, ignore_errors=True)


def _last_run_date(conninfo: str) -> dt.date:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        return conn.execute("SELECT max(run_date) FROM dwh_lineage.pipeline_runs "
                            "WHERE pipeline_name = 'daily' AND status = 'completed'").fetchone()[0]


def _timed_run(conninfo: str, day: dt.date) -> tuple[float, dict[str, float], int]:
    """`daily` for day: (wall seconds, {step: seconds}, rows written)."""
    from dwh_cli.ops import run_pipeline

    t0 = time.monotonic()
    res = run_pipeline(conninfo, "daily", [day], allow_future=True)
    wall = time.monotonic() - t0
    last = res[-1]
    if last.error:
        raise RuntimeError(f"daily for {day} failed: {last.error}")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        rows = conn.execute("SELECT step_name, COALESCE(duration_ms, 0), COALESCE(rows_written, 0) "
                            "FROM dwh_lineage.step_runs WHERE run_id = %s", (last.run_id,)).fetchall()
    return wall, {r[0]: r[1] / 1000.0 for r in rows}, sum(r[2] for r in rows)


def build(conninfo: str, scale: float = 0.1, seed: int = 42, log=_log) -> dt.date:
    """The demo (dwh demo --scale), then `daily` once more so every step is caught up. Returns the run date."""
    from dwh_cli.ops import demo

    t0 = time.monotonic()
    res = demo(conninfo, scale=scale, seed=seed, log=lambda m: log(f"  demo: {m}"))
    if res.runs and res.runs[-1].error:
        raise RuntimeError(f"the demo's daily failed: {res.runs[-1].error}")
    log(f"built the demo at scale {scale} in {time.monotonic() - t0:.1f} s")
    day = _last_run_date(conninfo)
    wall, _, rows = _timed_run(conninfo, day)
    log(f"catch-up run for {day}: {wall:.2f} s, {rows} rows written")
    return day


def noop_rounds(conninfo: str, rounds: int, day: dt.date | None = None, log=_log) -> list[tuple[float, dict, int]]:
    """`daily` again for the last run date, nothing new anywhere, `rounds` times."""
    day = day or _last_run_date(conninfo)
    out = []
    for i in range(rounds):
        out.append(_timed_run(conninfo, day))
        log(f"  noop {i + 1}/{rounds}: {out[-1][0]:.3f} s, {out[-1][2]} rows written")
    return out


def _set_skip(conninfo: str, value: str) -> None:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("INSERT INTO dwh_etl.settings (key, value) VALUES ('runner.skip_unchanged', %s) "
                     "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value", (value,))


def compare_skip_rounds(conninfo: str, rounds: int, log=_log) -> tuple[list, list]:
    """No-op runs alternating the setting runner.skip_unchanged off / on (the same database, interleaved, so
    a busy machine weighs on both alike): (runs with every step called, runs with unchanged steps skipped).
    The setting is left on."""
    off, on = [], []
    try:
        for i in range(rounds):
            for value, out in (("off", off), ("on", on)):
                _set_skip(conninfo, value)
                out.append(_timed_run(conninfo, _last_run_date(conninfo)))
                log(f"  noop skip={value} {i + 1}/{rounds}: {out[-1][0]:.3f} s")
    finally:
        _set_skip(conninfo, "on")
    return off, on


def next_day_rounds(conninfo: str, days: int, log=_log) -> tuple[list, list]:
    """`days` times: one more day of every demo source (not timed), `daily` for it (timed), one no-op run."""
    from dwh_cli.ops import demo

    nexts, noops = [], []
    for i in range(days):
        # generation and the run as `dwh demo --next-day` does them; only the run is timed here
        from dwh_cli import ops
        timed = {}
        real = ops.run_pipeline

        def run(conninfo_, pipeline, dates, **kw):
            t0 = time.monotonic()
            r = real(conninfo_, pipeline, dates, **kw)
            timed["wall"] = time.monotonic() - t0
            timed["run"] = r
            return r
        ops.run_pipeline = run
        try:
            demo(conninfo, next_day=True)
        finally:
            ops.run_pipeline = real
        last = timed["run"][-1]
        if last.error:
            raise RuntimeError(f"the next day's daily failed: {last.error}")
        with psycopg.connect(conninfo, autocommit=True) as conn:
            rows = conn.execute("SELECT step_name, COALESCE(duration_ms, 0), COALESCE(rows_written, 0) "
                                "FROM dwh_lineage.step_runs WHERE run_id = %s", (last.run_id,)).fetchall()
        nexts.append((timed["wall"], {r[0]: r[1] / 1000.0 for r in rows}, sum(r[2] for r in rows)))
        log(f"  next day {i + 1}/{days}: {nexts[-1][0]:.2f} s, {nexts[-1][2]} rows written")
        noops.extend(noop_rounds(conninfo, 1, log=log))
    return nexts, noops


def summarize(label: str, runs: list[tuple[float, dict, int]], top: int = 12) -> dict:
    """Median wall and per-step medians of runs; prints them; returns {'wall': .., 'steps': {..}}."""
    if not runs:
        return {}
    wall = statistics.median(r[0] for r in runs)
    names = sorted({s for r in runs for s in r[1]})
    steps = {s: statistics.median(r[1].get(s, 0.0) for r in runs) for s in names}
    in_steps = sum(steps.values())
    print(f"{label}: median wall {wall:.3f} s over {len(runs)} run(s) (min {min(r[0] for r in runs):.3f}, "
          f"max {max(r[0] for r in runs):.3f}); steps sum {in_steps:.3f} s over {len(names)} steps")
    for s, v in sorted(steps.items(), key=lambda kv: -kv[1])[:top]:
        print(f"    {v * 1000:9.1f} ms  {s}")
    return {"wall": wall, "steps": steps}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dsn", help="database to build in (default: a throwaway cluster)")
    p.add_argument("--scale", type=float, default=0.1, help="demo scale (dwh demo --scale; default 0.1)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--rounds", type=int, default=5, help="no-op runs timed (default 5)")
    p.add_argument("--next-days", type=int, default=1, help="next days timed, each followed by a no-op run")
    p.add_argument("--existing", action="store_true", help="--dsn already holds the demo: do not build it")
    p.add_argument("--pg-bin", default="/usr/lib/postgresql/15/bin")
    p.add_argument("--port", type=int, default=55431)
    p.add_argument("--top", type=int, default=12, help="steps listed per measure")
    p.add_argument("--compare-skip", action="store_true",
                   help="also time --rounds no-op runs alternating runner.skip_unchanged off/on")
    a = p.parse_args(argv)

    def go(conninfo: str) -> dict:
        if not a.existing:
            build(conninfo, scale=a.scale, seed=a.seed)
        noop = noop_rounds(conninfo, a.rounds)
        off = on = []
        if a.compare_skip:
            off, on = compare_skip_rounds(conninfo, a.rounds)
        nexts, after = next_day_rounds(conninfo, a.next_days)
        print(f"== scale {a.scale}")
        res = {}
        if a.compare_skip:
            res["noop_skip_off"] = summarize("no-op daily, every step called (runner.skip_unchanged off)", off, a.top)
            res["noop_skip_on"] = summarize("no-op daily, unchanged steps skipped (interleaved with the above)", on, a.top)
        return {**res, "scale": a.scale,
                "noop": summarize("no-op daily", noop, a.top),
                "next_day": summarize("next day", nexts, a.top),
                "noop_after_next_day": summarize("no-op after the next day", after, a.top)}

    if a.dsn:
        return go(a.dsn)
    if os.geteuid() == 0:
        sys.exit("initdb refuses root: give --dsn, or run as postgres (runuser -u postgres -- ...)")
    with throwaway_cluster(a.pg_bin, a.port) as conninfo:
        return go(conninfo)


if __name__ == "__main__":
    main()
