#!/usr/bin/env python3
"""Benchmark of a replicated source (dwh source add, --mode replicate): lag under a sustained stream of
source commits, and rows per second from source commit to the sales area's gold tables.

    python scripts/bench_replication.py --spawn [--rate 2000] [--seconds 30] [--batch 100]
    python scripts/bench_replication.py --dsn WAREHOUSE --source-dsn SOURCE [...]

--spawn (as a non-root user) starts two throwaway clusters in a temp dir: a warehouse (migrated) and a
source with wal_level = logical, and removes them at the end. With --dsn/--source-dsn the warehouse must
be migrated and the source reachable from the warehouse *server* with that conninfo; the script works in
schema bench_shop on both sides (dropped first) and restores sales.source_schema afterwards.

It attaches the source, then commits --rate sales lines per second in transactions of --batch lines
for --seconds, and measures per transaction the lag from its commit on the source to its last row being
visible in the warehouse's copy (median, p95, max). Then it runs `daily` and reports the rows that
reached sales.fact_sales per second of that run, and end to end (first source commit to gold loaded).
Prints one line per figure; no assertions.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SHOP = """
DROP SCHEMA IF EXISTS bench_shop CASCADE;
CREATE SCHEMA bench_shop;
CREATE TABLE bench_shop.customers (
    customer_id bigint PRIMARY KEY, first_name text, last_name text, email text, phone text, city text,
    country text, customer_segment text, signup_date date,
    created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE bench_shop.products (
    product_id bigint PRIMARY KEY, product_name text, product_group text, category text, brand text,
    unit_price numeric(10,2), unit_cost numeric(10,2), is_active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE bench_shop.sales (
    sale_id bigint PRIMARY KEY, order_id bigint NOT NULL, line_number smallint NOT NULL, customer_id bigint,
    product_id bigint, quantity integer, unit_price numeric(10,2), discount_amount numeric(10,2) NOT NULL DEFAULT 0,
    transaction_date timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now());
INSERT INTO bench_shop.customers (customer_id, first_name, last_name, email, city, country, customer_segment, signup_date)
SELECT g, 'First' || g, 'Last' || g, 'c' || g || '@example.com', 'City ' || (g % 50), 'UK',
       (ARRAY['Consumer', 'Corporate', 'Home Office'])[1 + g % 3], DATE '2025-01-01' + (g % 300)
FROM generate_series(1, 1000) AS g;
INSERT INTO bench_shop.products (product_id, product_name, product_group, category, brand, unit_price, unit_cost)
SELECT g, 'Product ' || g, 'Electronics', 'Laptops', 'Acme', 10 + g, 5 + g FROM generate_series(1, 100) AS g;
"""

INSERT = """
INSERT INTO bench_shop.sales (sale_id, order_id, line_number, customer_id, product_id, quantity, unit_price, transaction_date)
SELECT g, g, 1, 1 + g %% 1000, 1 + g %% 100, 1 + g %% 5, 10 + g %% 100, now() - interval '1 minute'
FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS g
"""


def spawn(tmp: Path, name: str, options: list[str]) -> str:
    from dwh_cli.embedded import find_bindir

    bindir = find_bindir()
    data = tmp / name
    subprocess.run([str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"],
                   check=True, capture_output=True)
    port = {"wh": 55431, "src": 55432}[name] + os.getpid() % 500 * 2
    opts = " ".join([f"-c port={port}", f"-c unix_socket_directories={tmp}", "-c listen_addresses=''", *options])
    subprocess.run([str(bindir / "pg_ctl"), "-D", str(data), "-l", str(tmp / f"{name}.log"), "-o", opts, "-w", "start"],
                   check=True, capture_output=True)
    return f"host={tmp} port={port} user=postgres dbname=postgres"


def stop(tmp: Path, name: str) -> None:
    from dwh_cli.embedded import find_bindir

    subprocess.run([str(find_bindir() / "pg_ctl"), "-D", str(tmp / name), "-m", "fast", "stop"],
                   capture_output=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dsn", help="the warehouse (migrated)")
    ap.add_argument("--source-dsn", help="a database on a wal_level = logical server, as the warehouse server reaches it")
    ap.add_argument("--spawn", action="store_true", help="start two throwaway clusters instead")
    ap.add_argument("--rate", type=int, default=2000, help="sales lines committed per second (default 2000)")
    ap.add_argument("--seconds", type=int, default=30, help="how long the stream runs (default 30)")
    ap.add_argument("--batch", type=int, default=100, help="lines per source transaction (default 100)")
    args = ap.parse_args()
    if not args.spawn and not (args.dsn and args.source_dsn):
        ap.error("give --spawn, or --dsn and --source-dsn")

    with contextlib.ExitStack() as stack:
        if args.spawn:
            tmp = Path(tempfile.mkdtemp(prefix="bench_repl_"))
            stack.callback(shutil.rmtree, tmp, ignore_errors=True)
            wh_dsn = spawn(tmp, "wh", ["-c shared_preload_libraries=pg_cron", "-c cron.database_name=postgres",
                                      "-c max_worker_processes=16"])
            stack.callback(stop, tmp, "wh")
            src_dsn = spawn(tmp, "src", ["-c wal_level=logical"])
            stack.callback(stop, tmp, "src")
            from dwh_cli.migrate import migrate

            migrate(wh_dsn)
        else:
            wh_dsn, src_dsn = args.dsn, args.source_dsn
        run(wh_dsn, src_dsn, args)


def run(wh_dsn: str, src_dsn: str, args) -> None:
    wh = psycopg.connect(wh_dsn, autocommit=True)
    src = psycopg.connect(src_dsn, autocommit=True)
    if wh.execute("SELECT 1 FROM dwh_etl.sources WHERE source_name = 'bench'").fetchone():
        wh.execute("CALL dwh_etl.source_remove('bench', p_drop_tables => true)")
    wh.execute("DROP SCHEMA IF EXISTS bench_shop CASCADE")
    old_schema = wh.execute("SELECT dwh_etl.get_setting('sales.source_schema')").fetchone()[0]
    src.execute(SHOP)
    switched = wh.execute("UPDATE dwh_etl.steps SET is_enabled = false WHERE area NOT IN ('sales', 'engine') "
                          "AND is_enabled RETURNING pipeline_name, step_name").fetchall()
    try:
        t0 = time.perf_counter()
        wh.execute("CALL dwh_etl.source_add('bench', %s, p_into => 'bench_shop', p_schema => 'bench_shop', p_area => 'sales')",
                   (src_dsn,))
        while wh.execute("SELECT state FROM dwh_etl.source_status(false)").fetchone()[0] != "streaming":
            time.sleep(0.05)
        print(f"attach + initial copy (1,100 rows): {time.perf_counter() - t0:.2f} s")
        wh.execute("CALL dwh_etl.run_pipeline('daily', p_run_id => NULL)")

        commits: list[tuple[int, float]] = []  # (last sale_id of the transaction, commit time)
        lags: list[float] = []
        done = threading.Event()

        def watch():
            w = psycopg.connect(wh_dsn, autocommit=True)
            k = 0
            while not (done.is_set() and k >= len(commits)):
                seen = w.execute("SELECT COALESCE(max(sale_id), 0) FROM bench_shop.sales").fetchone()[0]
                now = time.perf_counter()
                while k < len(commits) and commits[k][0] <= seen:
                    lags.append(now - commits[k][1])
                    k += 1
                time.sleep(0.01)
            w.close()

        watcher = threading.Thread(target=watch)
        watcher.start()
        first, total = 1, args.rate * args.seconds
        start = time.perf_counter()
        while first <= total:
            last = min(first + args.batch - 1, total)
            src.execute(INSERT, {"first": first, "last": last})
            commits.append((last, time.perf_counter()))
            first = last + 1
            ahead = (first - 1) / args.rate - (time.perf_counter() - start)
            if ahead > 0:
                time.sleep(ahead)
        stream_s = time.perf_counter() - start
        done.set()
        watcher.join()
        caught_up = time.perf_counter()
        lags.sort()
        print(f"stream: {total} rows in {len(commits)} transactions over {stream_s:.1f} s "
              f"({total / stream_s:.0f} rows/s offered)")
        print(f"replication lag per transaction: median {statistics.median(lags) * 1000:.0f} ms, "
              f"p95 {lags[int(len(lags) * 0.95) - 1] * 1000:.0f} ms, max {lags[-1] * 1000:.0f} ms")
        t1 = time.perf_counter()
        wh.execute("CALL dwh_etl.run_pipeline('daily', p_run_id => NULL)")
        run_s = time.perf_counter() - t1
        in_fact = wh.execute("SELECT count(*) FROM sales.fact_sales").fetchone()[0]
        print(f"daily run: {in_fact} rows in sales.fact_sales, {run_s:.2f} s = {total / run_s:.0f} rows/s")
        print(f"end to end (first source commit -> gold loaded): {total / (time.perf_counter() - start):.0f} rows/s "
              f"(stream {stream_s:.1f} s + catch-up {caught_up - start - stream_s:.1f} s + run {run_s:.1f} s)")
    finally:
        with contextlib.suppress(psycopg.Error):
            wh.execute("CALL dwh_etl.source_remove('bench', p_drop_tables => true)")
        wh.execute("UPDATE dwh_etl.settings SET value = %s WHERE key = 'sales.source_schema'", (old_schema,))
        for pipeline, step in switched:
            wh.execute("UPDATE dwh_etl.steps SET is_enabled = true WHERE pipeline_name = %s AND step_name = %s",
                       (pipeline, step))
        src.execute("DROP SCHEMA IF EXISTS bench_shop CASCADE")
        wh.close()
        src.close()


if __name__ == "__main__":
    main()
