#!/usr/bin/env python3
"""Benchmark of the sales pipeline at a scale (issue 15, "The warehouse"): each layer of `dwh run daily`
against a hand-written floor for that layer, on the same data, in the same run.

    python scripts/bench/warehouse.py [--dsn CONNINFO] [--scale 1] [--rounds 3]

Without --dsn it starts a throwaway PostgreSQL cluster (initdb in a temporary directory, unix socket
only; run it as a non-root user, e.g. `runuser -u postgres -- .venv/bin/python scripts/bench/warehouse.py`).
With --dsn it creates scratch databases `dwh_bench_wh_src` (migrated, the sales source generated once at
--scale, reproducible: fixed seed and day) and `dwh_bench_wh` (a fresh copy of it for every measurement)
on that server (CREATEDB needed), and drops them at the end: nothing of an existing warehouse is touched.

Each round (A/B alternated: odd rounds dwh first, even rounds the floors first) on a fresh copy:
  dwh    the sales steps of the daily pipeline from the first load (dwh_etl.run_steps with the calendar,
         sources and sales_* steps), each layer's time read from dwh_lineage.step_runs (duration_ms):
           bronze  sources + sales_extract             silver  the three silver steps
           dims    the two dimension steps              fact    sales_fact_sales
           marts   the three mart steps                 (calendar: counted in the total only)
  floor  the same layers hand-written on the same source rows, in schema bench_floor, with the same
         shape of output (keys and primary keys, no history machinery, no quarantine, no lineage):
           bronze  INSERT..SELECT of the source rows as text (plus _ingested_at)
           silver  INSERT..SELECT with plain casts into tables with the silver primary keys
           dims    INSERT..SELECT of one version per key (valid from -infinity), primary key + (key, from)
           fact    INSERT..SELECT with a hash join on the validity ranges of both dimensions
           marts   the three marts as GROUP BY queries into tables with their primary keys
Prints every time, then the medians: layer, dwh s, floor s, ratio; and the total ratio (target <= 2).
Also callable from scripts/bench/run.py: main(argv) or run(dsn, scale, rounds) -> dict. No assertions.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT))

SRC_DB = "dwh_bench_wh_src"
DB = "dwh_bench_wh"
DAY = dt.date(2026, 1, 15)          # the demo source's "today": reproducible rows
LAYERS = ("bronze", "silver", "dims", "fact", "marts")
STEP_LAYER = {
    "sources": "bronze", "sales_extract": "bronze",
    "sales_silver_customers": "silver", "sales_silver_products": "silver", "sales_silver_sales": "silver",
    "sales_dim_customer": "dims", "sales_dim_product": "dims",
    "sales_fact_sales": "fact",
    "sales_agg_daily_sales": "marts", "sales_customer_ltv": "marts", "sales_customer_metrics": "marts",
    "calendar": "other",
}

FLOOR_SETUP = """
DROP SCHEMA IF EXISTS bench_floor CASCADE;
CREATE SCHEMA bench_floor;
CREATE TABLE bench_floor.b_customers (customer_id text, first_name text, last_name text, email text, phone text,
    city text, country text, customer_segment text, signup_date text, created_at text, updated_at text,
    _ingested_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE bench_floor.b_products (product_id text, product_name text, product_group text, category text,
    brand text, unit_price text, unit_cost text, is_active text, created_at text, updated_at text,
    _ingested_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE bench_floor.b_sales (sale_id text, order_id text, line_number text, customer_id text, product_id text,
    quantity text, unit_price text, discount_amount text, transaction_date text, created_at text, updated_at text,
    _ingested_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE bench_floor.s_customers (customer_id bigint PRIMARY KEY, first_name text NOT NULL, last_name text NOT NULL,
    email text, phone text, city text, country text, customer_segment text, signup_date date, updated_at timestamptz);
CREATE TABLE bench_floor.s_products (product_id bigint PRIMARY KEY, product_name text NOT NULL, product_group text NOT NULL,
    category text, brand text, unit_price numeric(10,2) NOT NULL, unit_cost numeric(10,2), is_active boolean NOT NULL,
    updated_at timestamptz);
CREATE TABLE bench_floor.s_sales (sale_id bigint PRIMARY KEY, order_id bigint NOT NULL, line_number smallint NOT NULL,
    customer_id bigint NOT NULL, product_id bigint NOT NULL, quantity integer NOT NULL, unit_price numeric(10,2) NOT NULL,
    discount_amount numeric(10,2) NOT NULL, transaction_at timestamptz NOT NULL, source_updated_at timestamptz NOT NULL,
    _loaded_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE bench_floor.d_customer (customer_key bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, customer_id bigint NOT NULL,
    full_name text NOT NULL, email text, email_domain text, phone text, city text, country text, customer_segment text,
    signup_date date, valid_from timestamptz NOT NULL, valid_to timestamptz, is_current boolean NOT NULL);
CREATE INDEX ON bench_floor.d_customer (customer_id, valid_from);
CREATE TABLE bench_floor.d_product (product_key bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, product_id bigint NOT NULL,
    product_name text NOT NULL, product_group text NOT NULL, category text, brand text, list_price numeric(10,2) NOT NULL,
    unit_cost numeric(10,2), is_active boolean NOT NULL, valid_from timestamptz NOT NULL, valid_to timestamptz,
    is_current boolean NOT NULL);
CREATE INDEX ON bench_floor.d_product (product_id, valid_from);
CREATE TABLE bench_floor.f_sales (sale_id bigint NOT NULL, order_id bigint NOT NULL, line_number smallint NOT NULL,
    date_key integer NOT NULL, time_key integer NOT NULL, customer_key bigint NOT NULL, product_key bigint NOT NULL,
    quantity integer NOT NULL, unit_price numeric(10,2) NOT NULL, discount_amount numeric(10,2) NOT NULL,
    line_total numeric(12,2) GENERATED ALWAYS AS (quantity * unit_price - discount_amount) STORED,
    transaction_at timestamptz NOT NULL, PRIMARY KEY (sale_id, date_key));
"""

FLOOR_LAYERS = {
    "bronze": [
        """INSERT INTO bench_floor.b_customers (customer_id, first_name, last_name, email, phone, city, country,
               customer_segment, signup_date, created_at, updated_at)
           SELECT customer_id::text, first_name, last_name, email, phone, city, country, customer_segment,
                  signup_date::text, created_at::text, updated_at::text FROM sales_src.customers""",
        """INSERT INTO bench_floor.b_products (product_id, product_name, product_group, category, brand, unit_price,
               unit_cost, is_active, created_at, updated_at)
           SELECT product_id::text, product_name, product_group, category, brand, unit_price::text, unit_cost::text,
                  is_active::text, created_at::text, updated_at::text FROM sales_src.products""",
        """INSERT INTO bench_floor.b_sales (sale_id, order_id, line_number, customer_id, product_id, quantity, unit_price,
               discount_amount, transaction_date, created_at, updated_at)
           SELECT sale_id::text, order_id::text, line_number::text, customer_id::text, product_id::text, quantity::text,
                  unit_price::text, discount_amount::text, transaction_date::text, created_at::text, updated_at::text
           FROM sales_src.sales""",
    ],
    "silver": [
        """INSERT INTO bench_floor.s_customers
           SELECT customer_id::bigint, first_name, last_name, email, phone, city, country, customer_segment,
                  signup_date::date, updated_at::timestamptz FROM bench_floor.b_customers""",
        """INSERT INTO bench_floor.s_products
           SELECT product_id::bigint, product_name, product_group, category, brand, unit_price::numeric,
                  unit_cost::numeric, is_active::boolean, updated_at::timestamptz FROM bench_floor.b_products""",
        """INSERT INTO bench_floor.s_sales (sale_id, order_id, line_number, customer_id, product_id, quantity,
               unit_price, discount_amount, transaction_at, source_updated_at)
           SELECT sale_id::bigint, order_id::bigint, line_number::smallint, customer_id::bigint, product_id::bigint,
                  quantity::integer, unit_price::numeric, discount_amount::numeric, transaction_date::timestamptz,
                  updated_at::timestamptz FROM bench_floor.b_sales""",
    ],
    "dims": [
        """INSERT INTO bench_floor.d_customer (customer_id, full_name, email, email_domain, phone, city, country,
               customer_segment, signup_date, valid_from, valid_to, is_current)
           SELECT customer_id, first_name || ' ' || last_name, lower(email), split_part(lower(email), '@', 2), phone,
                  city, country, customer_segment, signup_date, '-infinity', NULL, true FROM bench_floor.s_customers""",
        """INSERT INTO bench_floor.d_product (product_id, product_name, product_group, category, brand, list_price,
               unit_cost, is_active, valid_from, valid_to, is_current)
           SELECT product_id, product_name, product_group, category, brand, unit_price, unit_cost, is_active,
                  '-infinity', NULL, true FROM bench_floor.s_products""",
    ],
    "fact": [
        """INSERT INTO bench_floor.f_sales (sale_id, order_id, line_number, date_key, time_key, customer_key, product_key,
               quantity, unit_price, discount_amount, transaction_at)
           SELECT s.sale_id, s.order_id, s.line_number,
                  to_char(s.transaction_at AT TIME ZONE 'UTC', 'YYYYMMDD')::integer,
                  to_char(s.transaction_at AT TIME ZONE 'UTC', 'HH24MISS')::integer,
                  c.customer_key, p.product_key, s.quantity, s.unit_price, s.discount_amount, s.transaction_at
           FROM bench_floor.s_sales AS s
           JOIN bench_floor.d_customer AS c
             ON c.customer_id = s.customer_id AND s.transaction_at >= c.valid_from
            AND s.transaction_at < COALESCE(c.valid_to, 'infinity')
           JOIN bench_floor.d_product AS p
             ON p.product_id = s.product_id AND s.transaction_at >= p.valid_from
            AND s.transaction_at < COALESCE(p.valid_to, 'infinity')""",
    ],
    "marts": [
        """CREATE TABLE bench_floor.m_daily AS
           SELECT f.date_key, COALESCE(c.customer_segment, 'Unknown') AS customer_segment,
                  COALESCE(p.product_group, 'Unknown') AS product_category,
                  count(DISTINCT f.order_id)::integer AS order_count, sum(f.quantity)::integer AS item_count,
                  sum(f.quantity * f.unit_price)::numeric(14,2) AS gross_revenue,
                  sum(f.discount_amount)::numeric(14,2) AS discount_total,
                  sum(f.line_total)::numeric(14,2) AS net_revenue,
                  round(sum(f.line_total) / count(DISTINCT f.order_id), 2)::numeric(12,2) AS avg_order_value
           FROM bench_floor.f_sales AS f
           JOIN bench_floor.d_customer AS c ON c.customer_key = f.customer_key
           JOIN bench_floor.d_product AS p ON p.product_key = f.product_key
           GROUP BY 1, 2, 3""",
        "ALTER TABLE bench_floor.m_daily ADD PRIMARY KEY (date_key, customer_segment, product_category)",
        """CREATE TABLE bench_floor.m_ltv AS
           SELECT c.customer_id, max(c.full_name) AS customer_name, count(DISTINCT f.order_id) AS total_orders,
                  sum(f.line_total) AS lifetime_value, min(f.transaction_at) AS first_purchase,
                  max(f.transaction_at) AS last_purchase
           FROM bench_floor.f_sales AS f
           JOIN bench_floor.d_customer AS c ON c.customer_key = f.customer_key
           GROUP BY c.customer_id""",
        "ALTER TABLE bench_floor.m_ltv ADD PRIMARY KEY (customer_id)",
        """CREATE TABLE bench_floor.m_metrics AS
           SELECT c.customer_id, max(c.full_name) AS customer_name, max(c.customer_segment) AS customer_segment,
                  count(DISTINCT f.order_id) AS total_orders, sum(f.quantity) AS total_quantity,
                  sum(f.line_total) AS total_spent,
                  round(sum(f.line_total) / count(DISTINCT f.order_id), 2) AS avg_order_value,
                  min(f.transaction_at)::date AS first_purchase_date, max(f.transaction_at)::date AS last_purchase_date,
                  CASE WHEN sum(f.line_total) > 10000 THEN 'platinum' WHEN sum(f.line_total) > 5000 THEN 'gold'
                       WHEN sum(f.line_total) > 1000 THEN 'silver' ELSE 'bronze' END AS customer_tier
           FROM bench_floor.f_sales AS f
           JOIN bench_floor.d_customer AS c ON c.customer_key = f.customer_key
           GROUP BY c.customer_id""",
        "ALTER TABLE bench_floor.m_metrics ADD PRIMARY KEY (customer_id)",
    ],
}


def bindir() -> Path:
    from dwh_cli.embedded import find_bindir

    return find_bindir()


def tool(name: str) -> str:
    path = bindir() / name
    return str(path) if path.exists() else name


class Cluster:
    """A throwaway cluster: initdb, start on a unix socket in its directory, stop and remove."""

    def __init__(self):
        if os.geteuid() == 0:
            sys.exit("PostgreSQL refuses to run as root: run this as another user "
                     "(e.g. runuser -u postgres -- .venv/bin/python scripts/bench/warehouse.py) or pass --dsn")
        self.dir = Path(tempfile.mkdtemp(prefix="dwh-bench-wh-"))
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


def prepare_source(server: str, scale: float, log=print) -> None:
    """The migrated database with the sales source generated: the template of every measurement."""
    from dwh_cli.migrate import migrate

    with psycopg.connect(server, autocommit=True) as c:
        c.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
        c.execute(f"DROP DATABASE IF EXISTS {SRC_DB} WITH (FORCE)")
        c.execute(f"CREATE DATABASE {SRC_DB}")
    src = with_db(server, SRC_DB)
    t = time.perf_counter()
    migrate(src)
    log(f"migrated in {time.perf_counter() - t:.1f} s")
    with psycopg.connect(src, autocommit=True) as c:
        c.execute("SET TimeZone = 'UTC'")
        t = time.perf_counter()
        c.execute("CALL sales_src.generate(p_scale => %s::numeric, p_seed => 0.42::double precision, p_today => %s)", (str(scale), DAY))
        n = c.execute("SELECT count(*) FROM sales_src.sales").fetchone()[0]
        log(f"sales source generated at scale {scale}: {n:,} sales lines in {time.perf_counter() - t:.1f} s")
        c.execute("VACUUM ANALYZE")
        c.execute("CHECKPOINT")


def fresh_copy(server: str) -> str:
    with psycopg.connect(server, autocommit=True) as c:
        c.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
        c.execute(f"CREATE DATABASE {DB} TEMPLATE {SRC_DB}")
        try:
            c.execute("CHECKPOINT")
        except psycopg.Error:
            pass
    return with_db(server, DB)


def run_dwh(dsn: str) -> tuple[dict[str, float], float, dict[str, float]]:
    """The sales steps of daily, first load; per-layer seconds from step_runs, wall seconds, per-step seconds."""
    with psycopg.connect(dsn, autocommit=True) as c:
        steps = [r[0] for r in c.execute(
            "SELECT s.step_name FROM dwh_etl.steps AS s WHERE s.pipeline_name = 'daily' "
            "AND (s.step_name LIKE 'sales\\_%%' OR s.step_name IN ('calendar', 'sources'))").fetchall()]
        t = time.perf_counter()
        # run date: today (UTC), as `dwh demo` does (the extract's window ends at the run date)
        run_id = c.execute("CALL dwh_etl.run_steps(p_pipeline => 'daily', p_steps => %s)",
                           (steps,)).fetchone()[0]
        wall = time.perf_counter() - t
        rows = c.execute("SELECT step_name, status, duration_ms FROM dwh_lineage.step_runs "
                         "WHERE run_id = %s AND step_name = ANY (%s)", (run_id, steps)).fetchall()
    bad = [(n, s) for n, s, _ in rows if s != "completed"]
    if bad:
        sys.exit(f"the dwh run {run_id} did not complete: {bad}")
    per_step = {n: (ms or 0) / 1000 for n, _, ms in rows}
    layers = {k: 0.0 for k in LAYERS + ("other",)}
    for n, s in per_step.items():
        layers[STEP_LAYER.get(n, "other")] += s
    return layers, wall, per_step


def run_floor(dsn: str) -> tuple[dict[str, float], dict[str, int]]:
    """The hand-written floor of each layer on the same source rows (same server settings as the run)."""
    layers = {}
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute(FLOOR_SETUP)
        for layer in LAYERS:
            t = time.perf_counter()
            with c.transaction():
                for stmt in FLOOR_LAYERS[layer]:
                    c.execute(stmt)
            # a fresh table is analyzed before the next layer reads it (the engine analyzes its own)
            for (tbl,) in c.execute("SELECT format('%%I.%%I', schemaname, relname) FROM pg_stat_user_tables "
                                    "WHERE schemaname = 'bench_floor' AND relname LIKE %s",
                                    (layer[0] + "\\_%",)).fetchall():
                c.execute(f"ANALYZE {tbl}")
            layers[layer] = time.perf_counter() - t
        counts = {t: c.execute(f"SELECT count(*) FROM bench_floor.{t}").fetchone()[0]
                  for t in ("s_sales", "f_sales", "m_daily")}
    return layers, counts


def dwh_counts(dsn: str) -> dict[str, int]:
    with psycopg.connect(dsn) as c:
        return {t: c.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in ("silver.sales_sales", "sales.fact_sales", "sales.agg_daily_sales")}


def run(server: str, scale: float, rounds: int, log=print) -> dict:
    prepare_source(server, scale, log)
    dwh_t: dict[str, list[float]] = {k: [] for k in LAYERS + ("other", "total", "wall")}
    floor_t: dict[str, list[float]] = {k: [] for k in LAYERS + ("total",)}
    steps_t: dict[str, list[float]] = {}
    for r in range(1, rounds + 1):
        order = ("dwh", "floor") if r % 2 else ("floor", "dwh")
        for what in order:
            dsn = fresh_copy(server)
            if what == "dwh":
                layers, wall, per_step = run_dwh(dsn)
                for k, v in layers.items():
                    dwh_t[k].append(v)
                dwh_t["total"].append(sum(layers.values()))
                dwh_t["wall"].append(wall)
                for k, v in per_step.items():
                    steps_t.setdefault(k, []).append(v)
                log(f"round {r} dwh    " + "  ".join(f"{k} {layers[k]:6.2f}" for k in LAYERS)
                    + f"  other {layers['other']:5.2f}  total {sum(layers.values()):6.2f} s  (wall {wall:.2f} s)"
                    + f"  rows {dwh_counts(dsn)}")
            else:
                layers, counts = run_floor(dsn)
                for k, v in layers.items():
                    floor_t[k].append(v)
                floor_t["total"].append(sum(layers.values()))
                log(f"round {r} floor  " + "  ".join(f"{k} {layers[k]:6.2f}" for k in LAYERS)
                    + f"               total {sum(layers.values()):6.2f} s  rows {counts}")
    with psycopg.connect(server, autocommit=True) as c:
        c.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
        c.execute(f"DROP DATABASE IF EXISTS {SRC_DB} WITH (FORCE)")
    med = {k: statistics.median(v) for k, v in dwh_t.items() if v}
    fmed = {k: statistics.median(v) for k, v in floor_t.items() if v}
    return {"dwh": med, "floor": fmed, "steps": {k: statistics.median(v) for k, v in steps_t.items()},
            "rounds": rounds, "scale": scale}


def print_table(res: dict, out=print) -> None:
    d, f = res["dwh"], res["floor"]
    out(f"\nsales at scale {res['scale']}, medians of {res['rounds']} interleaved rounds")
    out(f"{'layer':<8} {'dwh s':>8} {'floor s':>8} {'ratio':>6}")
    for k in LAYERS:
        out(f"{k:<8} {d[k]:8.2f} {f[k]:8.2f} {d[k] / f[k]:6.2f}")
    out(f"{'other':<8} {d['other']:8.2f} {'':>8} {'':>6}  (calendar)")
    out(f"{'total':<8} {d['total']:8.2f} {f['total']:8.2f} {d['total'] / f['total']:6.2f}  (target <= 2.00; "
        f"run wall {d['wall']:.2f} s)")
    out("\nsteps (median s): " + ", ".join(f"{k} {v:.2f}" for k, v in sorted(res["steps"].items(), key=lambda x: -x[1])))


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dsn", help="a server to benchmark on (scratch databases are created there)")
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    cluster = None if args.dsn else Cluster()
    try:
        with psycopg.connect(args.dsn or cluster.dsn) as c:
            version = c.execute("SHOW server_version").fetchone()[0]
        print(f"PostgreSQL {version}, {os.cpu_count()} CPUs, scale {args.scale}, {args.rounds} rounds", flush=True)
        res = run(args.dsn or cluster.dsn, args.scale, args.rounds, log=lambda m: print(m, flush=True))
        print_table(res)
        return res
    finally:
        if cluster:
            cluster.stop()


if __name__ == "__main__":
    main()
