#!/usr/bin/env python3
"""The SCD engine (dwh_etl.apply_dimension) against a hand-written floor and `dbt snapshot`, side by side
(issue 15, "The SCD engine"). Same server, same data, interleaved rounds (dbt, engine, floor), medians.

    runuser -u postgres -- .venv/bin/python scripts/bench/scd.py [--rows 1000000] [--small 100000]
        [--rounds 3] [--scaling 100000,1000000,5000000] [--no-dbt] [--dsn CONNINFO]

The data and the floors are those of scripts/bench_scd.py (a customer dimension of --rows keys; the
source today has 10% of keys changed, 1% new, 0.5% deleted). The floor works on a lean copy of the
dimension with one partial unique index (id WHERE is_current), as the issue defines it; the engine works
on a dimension as the warehouse builds them (surrogate key, version unique, current unique, the
no-overlap guard of migration 0032). dbt: dbt-core 1.10 + dbt-postgres 1.9 in a throwaway venv (pip, from
PyPI), `dbt snapshot` with the check strategy on the three type-2 columns and hard deletes invalidated;
its time is the snapshot node's execution_time from run_results.json (dbt's own start-up, ~3 s, left
out), its wall time printed beside it. Without --dsn a throwaway cluster is started. No assertions.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import Cluster, median, print_table  # noqa: E402

import psycopg  # noqa: E402

import bench_scd as B  # noqa: E402  (scripts/bench_scd.py: data, floors)

DBT_SPEC = ["dbt-core>=1.9,<1.11", "dbt-postgres>=1.9,<1.10"]
LEAN = """
DROP TABLE IF EXISTS bench_scd.lean;
DROP SEQUENCE IF EXISTS bench_scd.lean_key;
CREATE SEQUENCE bench_scd.lean_key START 1000000000;
CREATE TABLE bench_scd.lean (LIKE bench_scd.dim INCLUDING DEFAULTS);
ALTER TABLE bench_scd.lean ALTER COLUMN dim_key SET DEFAULT nextval('bench_scd.lean_key');
INSERT INTO bench_scd.lean SELECT * FROM bench_scd.dim;
CREATE UNIQUE INDEX ON bench_scd.lean (id) WHERE is_current;
ANALYZE bench_scd.lean;
"""

SAME_INITIAL = """
INSERT INTO bench_scd.dim (id, name, segment, city, phone, valid_from, is_current, version, _batch_id)
SELECT s.id, s.name, s.segment, s.city, s.phone, s.changed_at, true, 1, gen_random_uuid()
FROM bench_scd.initial AS s;
"""


def dbt_venv() -> Path:
    """A venv with dbt-core and dbt-postgres (created once per user, under the temp directory)."""
    venv = Path(tempfile.gettempdir()) / f"dwh-bench-dbt-{Path.home().name}"
    dbt = venv / "bin" / "dbt"
    if not dbt.exists():
        print(f"installing {' '.join(DBT_SPEC)} into {venv} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", *DBT_SPEC], check=True)
    return dbt


class Dbt:
    def __init__(self, dsn_parts: dict[str, str]):
        self.exe = dbt_venv()
        self.dir = Path(tempfile.mkdtemp(prefix="dwh-bench-dbt-project-"))
        (self.dir / "snapshots").mkdir()
        (self.dir / "models").mkdir()
        (self.dir / "dbt_project.yml").write_text(
            "name: dwh_bench\nversion: '1.0'\nconfig-version: 2\nprofile: dwh_bench\n"
            "snapshot-paths: [snapshots]\nmodel-paths: [models]\n")
        (self.dir / "profiles.yml").write_text(
            "dwh_bench:\n  target: bench\n  outputs:\n    bench:\n      type: postgres\n"
            f"      host: {dsn_parts['host']}\n      port: {dsn_parts['port']}\n      user: {dsn_parts['user']}\n"
            f"      password: ''\n      dbname: {dsn_parts['dbname']}\n      schema: bench_dbt\n      threads: 1\n")
        (self.dir / "models" / "sources.yml").write_text(
            "version: 2\nsources:\n  - name: bench\n    schema: bench_scd\n    tables:\n      - name: src\n")
        (self.dir / "snapshots" / "customers.yml").write_text(
            "snapshots:\n  - name: customers\n    relation: source('bench', 'src')\n    config:\n"
            "      unique_key: id\n      strategy: check\n      check_cols: [name, segment, city]\n"
            "      hard_deletes: invalidate\n")

    def snapshot(self) -> tuple[float, float]:
        """(node execution time, wall time) of one `dbt snapshot`."""
        t = time.perf_counter()
        res = subprocess.run([str(self.exe), "snapshot", "--project-dir", str(self.dir), "--profiles-dir",
                              str(self.dir), "--no-use-colors"], capture_output=True, text=True)
        wall = time.perf_counter() - t
        if res.returncode != 0:
            raise SystemExit(f"dbt snapshot failed:\n{res.stdout}\n{res.stderr}")
        results = json.loads((self.dir / "target" / "run_results.json").read_text())["results"]
        return sum(r["execution_time"] for r in results), wall


def parts(dsn: str) -> dict[str, str]:
    return dict(kv.split("=", 1) for kv in dsn.split())


def timed(conn, sql: str) -> float:
    return B.timed(conn, sql)


def setup(conn, rows: int) -> None:
    with conn.transaction():
        conn.execute(B.SETUP)
        conn.execute(B.GUARD_TRIGGER)  # the guard the warehouse's dimensions have (migration 0032)
        conn.execute(B.INITIAL_SOURCE.replace("{rows}", str(rows)))
    B.build(conn, rows)


def use_source(conn, table: str) -> None:
    conn.execute(f"CREATE OR REPLACE VIEW bench_scd.src AS SELECT id, name, segment, city, phone FROM bench_scd.{table}")


def measure(conn, dbt: Dbt | None, rows: int, rounds: int, initial: bool) -> dict[str, dict[str, list[float]]]:
    t: dict[str, dict[str, list[float]]] = {k: {"floor": [], "floor_same": [], "dbt": [], "dbt_wall": [], "dwh": []}
                                            for k in ("change", "initial", "rerun")}
    setup(conn, rows)
    for r in range(rounds):
        if dbt:
            conn.execute("DROP SCHEMA IF EXISTS bench_dbt CASCADE")
            use_source(conn, "initial")
            x, w = dbt.snapshot()
            t["initial"]["dbt"].append(x)
            t["initial"]["dbt_wall"].append(w)
            use_source(conn, "snapshot")
            conn.execute("CHECKPOINT")
            x, w = dbt.snapshot()
            t["change"]["dbt"].append(x)
            t["change"]["dbt_wall"].append(w)
            x, w = dbt.snapshot()
            t["rerun"]["dbt"].append(x)
            t["rerun"]["dbt_wall"].append(w)
            conn.execute("DROP SCHEMA IF EXISTS bench_dbt CASCADE")
            conn.execute("DROP VIEW bench_scd.src")  # build() replaces the tables under it
        B.build(conn, rows)
        conn.execute("CHECKPOINT")
        t["change"]["dwh"].append(timed(conn, B.engine("snapshot", "snapshot")))
        t["rerun"]["dwh"].append(timed(conn, B.engine("snapshot", "snapshot")))
        if initial:
            conn.execute("TRUNCATE bench_scd.dim RESTART IDENTITY")
            conn.execute("CHECKPOINT")
            t["initial"]["dwh"].append(timed(conn, B.engine("initial", "snapshot")))
        # the floor's SQL on the warehouse's own table (its keys, unique indexes and no-overlap guard):
        # what the integrity the engine keeps costs by itself
        B.build(conn, rows)
        conn.execute("CHECKPOINT")
        t["change"]["floor_same"].append(timed(conn, B.FLOOR_SNAPSHOT))
        if initial:
            conn.execute("TRUNCATE bench_scd.dim RESTART IDENTITY")
            conn.execute("CHECKPOINT")
            t["initial"]["floor_same"].append(timed(conn, SAME_INITIAL))
        B.build(conn, rows)
        with conn.transaction():
            conn.execute(LEAN)
        conn.execute("CHECKPOINT")
        t["change"]["floor"].append(timed(conn, B.FLOOR_SNAPSHOT.replace("bench_scd.dim", "bench_scd.lean")))
        if initial:
            conn.execute("DROP TABLE IF EXISTS bench_scd.floor_dim")
            t["initial"]["floor"].append(timed(conn, B.FLOOR_INITIAL))
            conn.execute("DROP TABLE IF EXISTS bench_scd.floor_dim")
        print(f"  {rows:,} keys, round {r + 1}: " + ", ".join(
            f"{k}/{s} {v[-1]:.2f}s" for k, d in t.items() for s, v in d.items() if v), flush=True)
    return t


def scaling(conn, sizes: list[int], rounds: int) -> list[dict]:
    out = []
    for size in sizes:
        eng, flo, same = [], [], []
        for _ in range(rounds):
            for who in ("dwh", "floor", "floor_same"):
                with conn.transaction():
                    conn.execute(B.SETUP)
                    conn.execute(B.GUARD_TRIGGER)
                B.build(conn, size)
                with conn.transaction():  # a 10k-change batch, whatever the dimension size
                    conn.execute("DELETE FROM bench_scd.batch WHERE id NOT IN "
                                 "(SELECT id FROM bench_scd.batch ORDER BY id LIMIT 10000)")
                conn.execute("ANALYZE bench_scd.batch")
                if who == "dwh":
                    eng.append(timed(conn, B.engine("batch", "delta")))
                elif who == "floor_same":  # the floor's SQL on the warehouse's table (its keys, indexes, guard)
                    same.append(timed(conn, B.FLOOR_DELTA))
                else:
                    with conn.transaction():
                        conn.execute(LEAN)
                    flo.append(timed(conn, B.FLOOR_DELTA.replace("bench_scd.dim", "bench_scd.lean")))
        out.append({"measure": f"10k-change batch vs {size:,} keys", "floor": median(flo), "dwh": median(eng),
                    "target": "<= 1.3x floor", "met": median(eng) <= 1.3 * median(flo)})
        out.append({"measure": "  the floor's SQL on the warehouse's table", "floor": median(same), "dwh": median(eng),
                    "target": "(the cost of its keys, unique indexes, guard)"})
    return out


def run(dsn: str, rows: int, small: int, rounds: int, sizes: list[int], with_dbt: bool) -> list[dict]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET client_min_messages = warning")
        dbt = Dbt(parts(dsn)) if with_dbt else None
        big = measure(conn, dbt, rows, rounds, initial=True)
        little = measure(conn, dbt, small, rounds, initial=False) if small else None
        m = {k: {s: median(v) for s, v in d.items()} for k, d in big.items()}
        table = [
            {"measure": f"apply the changed snapshot, {rows:,} keys", **{k: m["change"][k] for k in ("floor", "dwh")},
             "dbt": m["change"]["dbt"] if dbt else None,
             "target": "<= 1.3x floor, >= 3x faster than dbt",
             "met": m["change"]["dwh"] <= 1.3 * m["change"]["floor"] and (not dbt or m["change"]["dbt"] >= 3 * m["change"]["dwh"])},
            {"measure": f"initial load of {rows:,} keys", "floor": m["initial"]["floor"], "dwh": m["initial"]["dwh"],
             "dbt": m["initial"]["dbt"] if dbt else None, "target": "<= 1.5x floor",
             "met": m["initial"]["dwh"] <= 1.5 * m["initial"]["floor"]},
            {"measure": f"rerun with no change, {rows:,} keys", "dwh": m["rerun"]["dwh"],
             "dbt": m["rerun"]["dbt"] if dbt else None, "target": "faster than dbt (met before: keep it)",
             "met": (not dbt) or m["rerun"]["dwh"] < m["rerun"]["dbt"]},
        ]
        table.insert(1, {"measure": "  the floor's SQL on the warehouse's table", "floor": m["change"]["floor_same"],
                         "dwh": m["change"]["dwh"], "target": "(the cost of its keys, unique indexes, guard)"})
        table.insert(3, {"measure": "  the floor's SQL on the warehouse's table", "floor": m["initial"]["floor_same"],
                         "dwh": m["initial"]["dwh"], "target": "(the cost of its keys, unique indexes, guard)"})
        if little:
            s = {k: {x: median(v) for x, v in d.items()} for k, d in little.items()}
            table.insert(2, {"measure": f"apply the changed snapshot, {small:,} keys", "floor": s["change"]["floor"],
                             "dwh": s["change"]["dwh"], "dbt": s["change"]["dbt"] if dbt else None,
                             "target": "<= 1.3x floor", "met": s["change"]["dwh"] <= 1.3 * s["change"]["floor"]})
        table += scaling(conn, sizes, rounds)
        if dbt:
            print(f"\ndbt wall time (with its start-up): change {m['change']['dbt_wall']:.2f} s, "
                  f"initial {m['initial']['dbt_wall']:.2f} s, rerun {m['rerun']['dbt_wall']:.2f} s")
        with conn.transaction():
            conn.execute("DELETE FROM dwh_etl.dimension_specs WHERE dimension_name = 'bench_scd'")
            conn.execute("DROP SCHEMA IF EXISTS bench_scd CASCADE")
            conn.execute("DROP SCHEMA IF EXISTS bench_dbt CASCADE")
        return table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dsn")
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--small", type=int, default=100_000, help="the second size of the change case (0: skip)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--scaling", default="", help="comma-separated dimension sizes for the 10k-change batch")
    ap.add_argument("--no-dbt", action="store_true")
    args = ap.parse_args()
    cluster = None if args.dsn else Cluster()
    try:
        table = run(args.dsn or cluster.dsn, args.rows, args.small, args.rounds,
                    [int(x) for x in args.scaling.split(",") if x], not args.no_dbt)
        print_table(f"SCD engine, medians of {args.rounds} interleaved rounds", table)
    finally:
        if cluster:
            cluster.stop()


if __name__ == "__main__":
    main()
