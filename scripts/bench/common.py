"""Shared parts of the benchmarks under scripts/bench/: a throwaway PostgreSQL cluster (initdb in a
temporary directory, unix socket only, pg_cron loaded, the warehouse migrated), interleaved timing and
the printed table of ratios. Run as a non-root user (PostgreSQL refuses root): `runuser -u postgres -- ...`.
"""
from __future__ import annotations

import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def bindir() -> Path:
    out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
    if out.returncode == 0 and Path(out.stdout.strip(), "initdb").exists():
        return Path(out.stdout.strip())
    for v in ("17", "16", "15"):
        p = Path(f"/usr/lib/postgresql/{v}/bin")
        if (p / "initdb").exists():
            return p
    raise SystemExit("no PostgreSQL server binaries found (initdb)")


class Cluster:
    """A throwaway cluster with the warehouse migrated into database `dwh`; stop() removes it."""

    def __init__(self, settings: dict[str, str] | None = None):
        if os.geteuid() == 0:
            raise SystemExit("run as a non-root user: runuser -u postgres -- .venv/bin/python scripts/bench/run.py")
        self.dir = Path(tempfile.mkdtemp(prefix="dwh-bench-"))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        b = bindir()
        subprocess.run([str(b / "initdb"), "-D", str(self.dir / "data"), "-A", "trust", "-U", "postgres"],
                       check=True, capture_output=True)
        opts = {"listen_addresses": "", "port": str(self.port), "unix_socket_directories": str(self.dir),
                "shared_preload_libraries": "pg_cron", "cron.database_name": "dwh",
                "shared_buffers": "512MB", "max_wal_size": "4GB", **(settings or {})}
        with open(self.dir / "data" / "postgresql.conf", "a") as f:
            for k, v in opts.items():
                f.write(f"{k} = '{v}'\n")
        res = subprocess.run([str(b / "pg_ctl"), "-D", str(self.dir / "data"), "-l", str(self.dir / "log"), "-w",
                              "start"], capture_output=True, text=True)
        if res.returncode != 0:
            log = (self.dir / "log").read_text() if (self.dir / "log").exists() else res.stderr
            shutil.rmtree(self.dir, ignore_errors=True)
            raise SystemExit(f"the benchmark's cluster did not start:\n{log[-2000:]}")
        self.server = f"host={self.dir} port={self.port} user=postgres dbname=postgres"
        self.dsn = f"host={self.dir} port={self.port} user=postgres dbname=dwh"
        import psycopg
        with psycopg.connect(self.server, autocommit=True) as c:
            c.execute("CREATE DATABASE dwh")
        from dwh_cli.migrate import migrate
        migrate(self.dsn)

    def stop(self) -> None:
        subprocess.run([str(bindir() / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "fast", "stop"],
                       capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def stopwatch(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def print_table(title: str, rows: list[dict]) -> None:
    """rows: {measure, floor, dbt, dwh, target, met}; seconds or None."""
    def s(x):
        return "" if x is None else f"{x:8.2f}"

    def r(a, b):
        return "" if a is None or b is None or b == 0 else f"{a / b:6.2f}x"

    print(f"\n{title}")
    head = f"{'measure':44s} {'floor s':>8s} {'dbt s':>8s} {'dwh s':>8s} {'dwh/floor':>9s} {'dbt/dwh':>8s}  target"
    print(head)
    print("-" * len(head))
    for row in rows:
        met = row.get("met")
        flag = "" if met is None else ("  MET" if met else "  not met")
        print(f"{row['measure']:44s} {s(row.get('floor')):>8s} {s(row.get('dbt')):>8s} {s(row.get('dwh')):>8s} "
              f"{r(row.get('dwh'), row.get('floor')):>9s} {r(row.get('dbt'), row.get('dwh')):>8s}  "
              f"{row.get('target', '')}{flag}", flush=True)
