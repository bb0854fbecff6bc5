#!/usr/bin/env python3
"""Benchmark of the agents area's nightly load (issue 11's scale target): one day on top of one month vs
one year of history; the cost must follow the day, not the history (within 1.5x).

    python scripts/bench_agents.py --dsn "$(dwh db url)" [--history-scale 0.5] [--day-scale 18] [--rounds 3]

--dsn names any database of a server the caller may CREATE DATABASE on: the script creates (and drops at
the end, unless --keep) two databases next to it, bench_agents_month and bench_agents_year, migrates the
first, generates the agents demo source at --history-scale (every day from 2025-01-01 through yesterday),
copies it into the second, and deletes the activity older than one month from the first and older than
one year from the second (as a replica: no tombstones). Only the agents area's steps run. Each database
loads its history with `daily` (timed, reported). Then, --rounds times, interleaved month, year, month,
year, ...: agents_src.generate_next_day at --day-scale (the seed's day: ~27k queries, ~2.7k approvals,
~1.4k feedback at scale 18) and `daily` for that day, timed. Prints every run, the medians and the ratio
year / month, and the fact steps' own times. No assertions.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DATABASES = {"month": ("bench_agents_month", "1 month"), "year": ("bench_agents_year", "1 year")}
ACTIVITY = [("agent_queries", "created_at"), ("agent_approvals", "created_at"), ("agent_feedback", "created_at"),
            ("conversations", "started_at")]


def conninfo_for(dsn: str, dbname: str) -> str:
    params = psycopg.conninfo.conninfo_to_dict(dsn)
    params["dbname"] = dbname
    return psycopg.conninfo.make_conninfo(**params)


def counts(conn) -> str:
    q, a, f = conn.execute("""SELECT (SELECT count(*) FROM agents_src.agent_queries), (SELECT count(*) FROM agents_src.agent_approvals),
                                     (SELECT count(*) FROM agents_src.agent_feedback)""").fetchone()
    return f"{q:,} queries, {a:,} approvals, {f:,} feedback"


def run_daily(conn, day) -> tuple[float, dict[str, float]]:
    start = time.perf_counter()
    conn.execute("CALL dwh_etl.run_pipeline(p_pipeline => 'daily', p_run_date => %s, p_run_id => NULL)", (day,))
    took = time.perf_counter() - start
    status, = conn.execute("SELECT status FROM dwh_lineage.pipeline_runs ORDER BY run_id DESC LIMIT 1").fetchone()
    if status != "completed":
        failed = conn.execute("""SELECT step_name, error_message FROM dwh_lineage.step_runs
                                 WHERE run_id = (SELECT max(run_id) FROM dwh_lineage.pipeline_runs) AND status <> 'completed'""").fetchall()
        raise RuntimeError(f"daily for {day} ended {status}: {failed}")
    steps = dict(conn.execute("""SELECT step_name, (duration_ms / 1000.0)::float
                                 FROM dwh_lineage.step_runs
                                 WHERE run_id = (SELECT max(run_id) FROM dwh_lineage.pipeline_runs)""").fetchall())
    return took, steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--history-scale", type=float, default=0.5)
    parser.add_argument("--day-scale", type=float, default=18)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the two databases")
    args = parser.parse_args()

    from dwh_cli.migrate import migrate

    month_db, year_db = DATABASES["month"][0], DATABASES["year"][0]
    with psycopg.connect(args.dsn, autocommit=True) as admin:
        for name in (month_db, year_db):
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(month_db)))
    month_dsn, year_dsn = conninfo_for(args.dsn, month_db), conninfo_for(args.dsn, year_db)
    try:
        t0 = time.perf_counter()
        migrate(month_dsn)
        with psycopg.connect(month_dsn, autocommit=True) as conn:
            conn.execute("UPDATE dwh_etl.steps SET is_enabled = false WHERE area NOT IN ('agents', 'engine')")
            conn.execute("UPDATE dwh_etl.quality_rules SET is_enabled = false WHERE area IS DISTINCT FROM 'agents'")
            conn.execute("CALL agents_src.generate(p_scale => %s::numeric, p_seed => 0.42)", (args.history_scale,))
        print(f"migrated and generated at scale {args.history_scale} in {time.perf_counter() - t0:.1f} s", flush=True)
        with psycopg.connect(args.dsn, autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(year_db), sql.Identifier(month_db)))

        conns = {}
        for label, dsn in (("month", month_dsn), ("year", year_dsn)):
            conn = psycopg.connect(dsn, autocommit=True)
            conns[label] = conn
            conn.execute("SET session_replication_role = replica")   # no tombstones for the trimming
            for table, column in ACTIVITY:
                conn.execute(sql.SQL("DELETE FROM agents_src.{} WHERE {} < (SELECT simulated_through FROM agents_src.generator_state) - %s::interval")
                             .format(sql.Identifier(table), sql.Identifier(column)), (DATABASES[label][1],))
            conn.execute("RESET session_replication_role")
            conn.execute("VACUUM ANALYZE")
            # the rows arrived today: the run for today extracts them (a run's window ends with its date)
            today = conn.execute("SELECT (now() AT TIME ZONE 'UTC')::date").fetchone()[0]
            took, _ = run_daily(conn, today)
            print(f"{label:5s} history: {counts(conn)}; initial daily {took:.1f} s", flush=True)
            conn.execute("UPDATE agents_src.generator_state SET scale = %s", (args.day_scale,))

        times: dict[str, list[float]] = {"month": [], "year": []}
        facts: dict[str, list[float]] = {"month": [], "year": []}
        for r in range(1, args.rounds + 1):
            for label in ("month", "year"):
                conn = conns[label]
                before = conn.execute("SELECT count(*) FROM agents_src.agent_queries").fetchone()[0]
                conn.execute("CALL agents_src.generate_next_day()")
                day, = conn.execute("SELECT simulated_through FROM agents_src.generator_state").fetchone()
                added = conn.execute("SELECT count(*) FROM agents_src.agent_queries").fetchone()[0] - before
                took, steps = run_daily(conn, day)
                fact_time = sum(v for k, v in steps.items() if k.startswith("agents_fact_"))
                times[label].append(took)
                facts[label].append(fact_time)
                print(f"round {r} {label:5s} day {day}: {added:,} new queries, daily {took:6.2f} s "
                      f"(facts {fact_time:.2f} s; " + ", ".join(f"{k.removeprefix('agents_')} {v:.2f}" for k, v in sorted(steps.items())
                                                           if v >= 0.05) + ")", flush=True)
        m, y = statistics.median(times["month"]), statistics.median(times["year"])
        fm, fy = statistics.median(facts["month"]), statistics.median(facts["year"])
        print(f"median nightly load: month {m:.2f} s, year {y:.2f} s, ratio year/month {y / m:.2f} (target <= 1.5)")
        print(f"median fact steps:   month {fm:.2f} s, year {fy:.2f} s, ratio year/month {fy / fm:.2f}")
        for conn in conns.values():
            conn.close()
    finally:
        if not args.keep:
            with psycopg.connect(args.dsn, autocommit=True) as admin:
                for name in (month_db, year_db):
                    admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


if __name__ == "__main__":
    main()
