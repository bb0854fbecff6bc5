#!/usr/bin/env python3
"""All of issue 15's comparisons from one entry point, side by side on one throwaway server, each printed
as a table of ratios against its target:

    runuser -u postgres -- .venv/bin/python scripts/bench/run.py [--only scd,load,warehouse,noop] [--quick]

  scd        the SCD engine against the hand-written floor and `dbt snapshot` (scripts/bench/scd.py)
  load       `dwh load` of a CSV against a raw `\\copy` of the same file (scripts/bench_load.py)
  warehouse  the sales pipeline at scale 1, layer by layer, against each layer's floor and guarded floor
             (warehouse.py)
  noop       a `dwh run daily` with nothing new, and the next day (noop.py)

--quick runs every comparison at a small size with one round: to check that the benchmark works, not to
measure. Numbers on a busy machine vary by 2x from run to run: read the ratios, which are taken within
one run, each pair timed back to back. No assertions.
"""
from __future__ import annotations

import argparse
import importlib
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import ROOT, Cluster, print_table  # noqa: E402

ALL = ["scd", "load", "warehouse", "noop"]


def load(quick: bool) -> None:
    cmd = [sys.executable, str(ROOT / "scripts" / "bench_load.py"), "--rounds", "1" if quick else "7",
           "--rows", "100000" if quick else "1000000"]
    res = subprocess.run(cmd, capture_output=True, text=True)
    lines = res.stdout.splitlines()
    print("\nFile landing (scripts/bench_load.py)")
    for line in lines:
        if line.startswith(("median", "throughput", "folding")):
            print("  " + line)
    if res.returncode != 0:
        print(res.stderr[-2000:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default=",".join(ALL))
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    only = [x for x in args.only.split(",") if x]
    unknown = set(only) - set(ALL)
    if unknown:
        raise SystemExit(f"unknown comparison(s): {', '.join(sorted(unknown))}; choose from {', '.join(ALL)}")
    if "load" in only:  # its own cluster (it starts and stops one per run)
        load(args.quick)
    if "scd" in only:
        cluster = Cluster()
        try:
            table = importlib.import_module("scd").run(
                cluster.dsn, rows=20_000 if args.quick else 1_000_000, small=5_000 if args.quick else 100_000,
                rounds=1 if args.quick else 3, sizes=[20_000] if args.quick else [100_000, 1_000_000, 5_000_000],
                with_dbt=True)
            print_table("SCD engine (scripts/bench/scd.py)", table)
        finally:
            cluster.stop()
    # each starts its own throwaway cluster and prints its own table of ratios
    if "warehouse" in only:
        print("\nThe sales pipeline layer by layer against its floors (scripts/bench/warehouse.py)", flush=True)
        importlib.import_module("warehouse").main(["--scale", "0.01" if args.quick else "1",
                                                   "--rounds", "1" if args.quick else "3"])
    if "noop" in only:
        print("\nNo-op and next-day runs (scripts/bench/noop.py)", flush=True)
        importlib.import_module("noop").main(["--scale", "0.01" if args.quick else "1",
                                              "--rounds", "1" if args.quick else "5", "--compare-skip"])


if __name__ == "__main__":
    main()
