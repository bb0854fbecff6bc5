#!/usr/bin/env python3
"""Benchmark of `dwh load` (bronze landing of a CSV) against a raw `\\copy` of the same file.

    python scripts/bench_load.py [--dsn CONNINFO] [--rows 1000000] [--rounds 5]

Without --dsn it starts a throwaway PostgreSQL cluster (initdb in a temporary directory, unix socket
only; run it as a non-root user, e.g. `runuser -u postgres -- .venv/bin/python scripts/bench_load.py`).
With --dsn it creates a scratch database `dwh_bench_load` on that server (CREATEDB needed), migrates it
and drops it at the end: nothing of an existing warehouse is touched.

It writes a CSV of --rows sales lines (11 columns, like bronze.sales_sales) and times, alternating:
  A  raw      psql `\\copy bench.raw FROM 'file' WITH (FORMAT csv, HEADER)`: an index-free table of 11 text
              columns, nothing else (the issue's reference)
  B  dwh load `dwh load bronze.sales_sales file --force` (the CLI, as a user runs it: Python start,
              connection, sha256, COPY into the load's landing table, sealed by file_end into a child
              of bronze.sales_sales with its BRIN index; registry and lineage)
  C  psql     the psql recipe (file_begin, \\copy into bronze.sales_sales_landing, file_end): what
              landing costs, without dwh load's client
  D  psql     --legacy only: the same \\copy into bronze.sales_sales itself (row by row through its
              primary key and _ingested_at index), the only way before migration 0027
Each measurement starts from an empty table (file-load children dropped) after a CHECKPOINT. Prints every
time, the medians, rows/s, MB/s and the ratio of throughputs B/A (the issue's target is >= 0.70) and B/C,
the median of the per-round ratios (A and B timed back to back), and what folding one load back into the
table costs the maintenance pipeline (dwh_etl.op_compact_bronze, the deferred index maintenance).
No assertions.
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

COLUMNS = ("sale_id, order_id, line_number, customer_id, product_id, quantity, unit_price, discount_amount, "
           "transaction_date, created_at, updated_at")


def bindir() -> Path:
    from dwh_cli.embedded import find_bindir

    return find_bindir()


def tool(name: str) -> str:
    path = bindir() / name
    return str(path) if path.exists() else name


def write_csv(path: Path, rows: int) -> None:
    rnd = random.Random(42)
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(COLUMNS.replace(" ", "") + "\n")
        for i in range(1, rows + 1):
            ts = f"2025-01-{i % 28 + 1:02d} {i % 24:02d}:{i % 60:02d}:00"
            f.write(f"{i},{i // 3 + 1},{i % 3 + 1},{rnd.randint(1, 10000)},{rnd.randint(1, 500)},"
                    f"{rnd.randint(1, 9)},{rnd.randint(100, 99999) / 100},0.00,{ts},{ts},{ts}\n")


class Cluster:
    """A throwaway cluster: initdb, start on a unix socket in its directory, stop and remove."""

    def __init__(self):
        if os.geteuid() == 0:
            sys.exit("PostgreSQL refuses to run as root: run this as another user "
                     "(e.g. runuser -u postgres -- .venv/bin/python scripts/bench_load.py) or pass --dsn")
        self.dir = Path(tempfile.mkdtemp(prefix="dwh-bench-load-"))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        subprocess.run([tool("initdb"), "-D", str(self.dir / "data"), "-A", "trust", "-U", "postgres", "-E", "UTF8"],
                       check=True, stdout=subprocess.DEVNULL)
        subprocess.run([tool("pg_ctl"), "-D", str(self.dir / "data"), "-l", str(self.dir / "log"), "-w", "-o",
                        f"-k {self.dir} -c listen_addresses='' -p {self.port}", "start"],
                       check=True, stdout=subprocess.DEVNULL)
        self.dsn = f"host={self.dir} port={self.port} user=postgres dbname=postgres"

    def stop(self) -> None:
        subprocess.run([tool("pg_ctl"), "-D", str(self.dir / "data"), "-m", "fast", "stop"],
                       stdout=subprocess.DEVNULL, check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


def with_db(dsn: str, dbname: str) -> str:
    params = psycopg.conninfo.conninfo_to_dict(dsn)
    params["dbname"] = dbname
    return psycopg.conninfo.make_conninfo(**params)


def timed(cmd: list[str], env=None) -> float:
    t = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - t
    if res.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{res.stdout}\n{res.stderr}")
    return elapsed


def reads(dsn: str, psql: list[str], work: Path, children: int, child_rows: int) -> None:
    """Land `children` loads of `child_rows` rows (the psql recipe), then time window reads over
    bronze.sales_sales as the engine runs them (one-shot plans: the bounds are constants), and the same
    in a generic plan (a prepared statement of a user's own)."""
    small = work / "child.csv"
    write_csv(small, child_rows)
    print(f"\nlanding {children} loads of {child_rows:,} rows ...", flush=True)
    for n in range(children):
        subprocess.run(psql + ["-1", "-c", f"CALL dwh_etl.file_begin(p_target => 'bronze.sales_sales', "
                                           f"p_file_name => 'c{n}.csv', p_force => true)",
                               "-c", f"\\copy bronze.sales_sales_landing ({COLUMNS}) FROM '{small}' WITH (FORMAT csv, HEADER)",
                               "-c", "CALL dwh_etl.file_end()"], check=True, capture_output=True)
    with psycopg.connect(dsn, autocommit=True) as c:
        last = c.execute("SELECT max(_ingested_at) FROM bronze.sales_sales").fetchone()[0]
        q = "SELECT count(*) FROM bronze.sales_sales WHERE _ingested_at >= {} AND _ingested_at < {}"
        c.execute("PREPARE w(timestamptz, timestamptz) AS SELECT count(*) FROM bronze.sales_sales "
                  "WHERE _ingested_at >= $1 AND _ingested_at < $2")
        c.execute("SET plan_cache_mode = force_generic_plan")
        for label, lo, hi in [("window on the last load", last, last + timedelta(microseconds=1)),
                              ("empty window", last + timedelta(seconds=1), last + timedelta(seconds=2))]:
            one, gen = [], []
            for _ in range(5):
                t = time.perf_counter()
                n = c.execute(sql.SQL(q).format(lo, hi)).fetchone()[0]
                one.append(time.perf_counter() - t)
                t = time.perf_counter()
                c.execute(sql.SQL("EXECUTE w({}, {})").format(lo, hi)).fetchone()
                gen.append(time.perf_counter() - t)
            print(f"{label:<24} ({n:,} rows): one-shot plan {statistics.median(one) * 1000:7.1f} ms, "
                  f"generic plan {statistics.median(gen) * 1000:7.1f} ms  ({children} children)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dsn", help="a server to benchmark on (a scratch database is created there)")
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--keep-csv", metavar="PATH", help="write the CSV here and keep it")
    ap.add_argument("--legacy", action="store_true", help="also time D, a \\copy into the bronze table itself")
    ap.add_argument("--children", type=int, default=0, metavar="N",
                    help="then land N loads of --child-rows rows and time window reads over them")
    ap.add_argument("--child-rows", type=int, default=25_000)
    args = ap.parse_args()

    cluster = None if args.dsn else Cluster()
    server = args.dsn or cluster.dsn
    work = Path(tempfile.mkdtemp(prefix="dwh-bench-load-csv-"))
    csv_path = Path(args.keep_csv) if args.keep_csv else work / "sales.csv"
    db = "dwh_bench_load"
    try:
        with psycopg.connect(server, autocommit=True) as c:
            c.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
            c.execute(f"CREATE DATABASE {db}")
        dsn = with_db(server, db)
        from dwh_cli.migrate import migrate

        migrate(dsn)
        with psycopg.connect(dsn, autocommit=True) as c:
            c.execute("CREATE SCHEMA bench")
            c.execute(f"CREATE TABLE bench.raw ({', '.join(f'{x.strip()} text' for x in COLUMNS.split(','))})")
            version = c.execute("SHOW server_version").fetchone()[0]
        print(f"writing {args.rows:,} rows to {csv_path} ...", flush=True)
        write_csv(csv_path, args.rows)
        size = csv_path.stat().st_size
        print(f"{size / 1e6:.1f} MB, PostgreSQL {version}, {os.cpu_count()} CPUs, {args.rounds} rounds\n", flush=True)

        psql = [tool("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        dwh = [sys.executable, "-c", "from dwh_cli.cli import main; main()", "--dsn", dsn]
        cases = {
            "A raw \\copy": psql + ["-c", f"\\copy bench.raw FROM '{csv_path}' WITH (FORMAT csv, HEADER)"],
            "B dwh load": dwh + ["load", "bronze.sales_sales", str(csv_path), "--force", "--no-progress"],
            "C psql recipe": psql + ["-1", "-c", f"CALL dwh_etl.file_begin(p_target => 'bronze.sales_sales', "
                                            f"p_file_name => 'bench.csv', p_force => true)",
                                     "-c", f"\\copy bronze.sales_sales_landing ({COLUMNS}) FROM '{csv_path}' "
                                           f"WITH (FORMAT csv, HEADER)",
                                     "-c", "CALL dwh_etl.file_end()"],
        }
        if args.legacy:
            cases["D into parent"] = psql + ["-1", "-c", f"CALL dwh_etl.file_begin(p_target => 'bronze.sales_sales', "
                                                    f"p_file_name => 'bench.csv', p_force => true)",
                                             "-c", f"\\copy bronze.sales_sales ({COLUMNS}) FROM '{csv_path}' "
                                                   f"WITH (FORMAT csv, HEADER)",
                                             "-c", "CALL dwh_etl.file_end()"]
        times: dict[str, list[float]] = {k: [] for k in cases}

        def reset() -> None:
            with psycopg.connect(dsn, autocommit=True) as c:
                # bronze is append-only (migration 0033): the benchmark uses the trigger's own switch
                # (children first: a TRUNCATE reaches them, and month partitions are append-only too)
                for (child,) in c.execute("SELECT inhrelid::regclass::text FROM pg_inherits "
                                          "WHERE inhparent = 'bronze.sales_sales'::regclass").fetchall():
                    c.execute(f"DROP TABLE {child}")
                c.execute("SET dwh_etl.bronze_purge = 'bronze.sales_sales'")
                c.execute("TRUNCATE bench.raw, bronze.sales_sales")
                c.execute("DELETE FROM dwh_etl.loaded_files")
                try:
                    c.execute("CHECKPOINT")
                except psycopg.Error:
                    pass

        for r in range(1, args.rounds + 1):
            for name, cmd in cases.items():
                reset()
                t = timed(cmd, env)
                times[name].append(t)
                print(f"round {r}  {name:<14} {t:7.2f} s", flush=True)
        # the cost deferred to the maintenance window: folding one loaded file into bronze.sales_sales
        reset()
        timed(cases["B dwh load"], env)
        with psycopg.connect(dsn, autocommit=True) as c:
            t = time.perf_counter()
            c.execute("SELECT dwh_etl.sec_compact_file_load(max(file_id)) FROM dwh_etl.loaded_files")
            fold = time.perf_counter() - t
        reset()

        print()
        med = {k: statistics.median(v) for k, v in times.items()}
        for name, m in med.items():
            print(f"median {name:<14} {m:7.2f} s  {args.rows / m:>12,.0f} rows/s  {size / 1e6 / m:7.1f} MB/s")
        a, b, c_ = med["A raw \\copy"], med["B dwh load"], med["C psql recipe"]
        print(f"\nthroughput dwh load / raw \\copy     = {a / b:.2f}  (issue target >= 0.70)")
        print(f"throughput dwh load / psql recipe    = {c_ / b:.2f}  (dwh load's own overhead)")
        print(f"throughput psql recipe / raw \\copy  = {a / c_:.2f}  (what landing in bronze costs)")
        paired = [a_ / b_ for a_, b_ in zip(times["A raw \\copy"], times["B dwh load"])]
        print(f"median of the per-round ratios A/B = {statistics.median(paired):.2f}  "
              f"(each B timed right after its A; {', '.join(f'{x:.2f}' for x in paired)})")
        print(f"\nfolding one load into the table (maintenance, op_compact_bronze): {fold:.2f} s "
              f"({fold / a:.1f}x the raw \\copy), paid once, nightly, not by the load")
        if "D into parent" in med:
            print(f"throughput \\copy into bronze.sales_sales / raw \\copy = {a / med['D into parent']:.2f}  (before 0027)")
        if args.children:
            reads(dsn, psql, work, args.children, args.child_rows)
    finally:
        try:
            with psycopg.connect(server, autocommit=True) as c:
                c.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
        except psycopg.Error:
            pass
        shutil.rmtree(work, ignore_errors=True)
        if cluster:
            cluster.stop()


if __name__ == "__main__":
    main()
