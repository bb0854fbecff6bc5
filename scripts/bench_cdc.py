"""Throughput of dwh_etl.ingest_cdc_events on sales_src.customers: prints events per second for inserts,
updates with as many stale ones, a redelivered batch (duplicates), and batches with one rejected change
(CHECK) or one bad value (the bisecting rare path). It empties sales_src.customers, bronze.cdc_events and
the CDC key state first: run it on a scratch warehouse only.

    python scripts/bench_cdc.py --dsn "$(dwh db url)" --events 10000
"""

from __future__ import annotations

import argparse
import time

import psycopg
from psycopg.types.json import Jsonb


def customer(i, city, segment="Consumer"):
    return {"customer_id": i, "first_name": "F", "last_name": "L", "email": f"c{i}@example.org", "city": city,
            "country": "FR", "customer_segment": segment, "signup_date": 19800, "created_at": "2024-01-01T00:00:00Z"}


def event(op, lsn, after):
    return {"op": op, "before": None, "after": after, "ts_ms": 1735725600000,
            "source": {"table": "customers", "lsn": lsn, "ts_ms": 1735725600000}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--events", type=int, default=10000)
    args = parser.parse_args()
    n = args.events
    with psycopg.connect(args.dsn, autocommit=True) as conn:
        conn.execute("TRUNCATE sales_src.customers, bronze.cdc_events, dwh_etl.cdc_key_state")
        updates = [event("u", n + i, customer(i, "B")) for i in range(1, n + 1)]
        cases = [
            ("inserts", [event("c", i, customer(i, "A")) for i in range(1, n + 1)]),
            ("updates + as many older (stale)", updates + [event("u", i, customer(i, "Z")) for i in range(1, n + 1)]),
            ("the same batch again (duplicates)", updates + [event("u", i, customer(i, "Z")) for i in range(1, n + 1)]),
            ("updates, 1 rejected by a CHECK", [event("u", 3 * n + i, customer(i, "C", "Bad" if i == n // 2 else "Consumer"))
                                                for i in range(1, n + 1)]),
            ("updates, 1 value of the wrong type", [event("u", 4 * n + i, customer("x" if i == n // 3 else i, "D"))
                                                    for i in range(1, n + 1)]),
        ]
        for label, events in cases:
            start = time.perf_counter()
            row = conn.execute("SELECT * FROM dwh_etl.ingest_cdc_events(%s, 'sales_src')", (Jsonb(events),)).fetchone()
            took = time.perf_counter() - start
            print(f"{label:38s} {len(events):>7,} events {took:7.2f} s {len(events) / took:>9,.0f} events/s  "
                  f"applied {row[2]}, stale {row[3]}, duplicate {row[4]}, quarantined {row[5]}")


if __name__ == "__main__":
    main()
