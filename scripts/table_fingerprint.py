#!/usr/bin/env python3
"""Content fingerprint of the warehouse: for every table and materialized view of the schemas the registry
knows, its row count, an order-independent hash of its rows and one hash per column. Two databases with
the same fingerprint hold the same rows; where they differ, the diff names the table and the columns.

Issue 10 rewrites sales and devflow onto generic step kinds "with the same rows in every gold table after
the demo and after --next-day": this is the check. The demo is made reproducible (fixed seed, fixed day,
fixed change stamps, see build_demo), and the columns that differ between two runs of the same code
(load times, batch and run ids, ...) are left out, each listed in EXCLUDED_COLUMNS with its reason.

    python scripts/table_fingerprint.py --dsn "dbname=fp"                    # fingerprint as JSON
    python scripts/table_fingerprint.py --dsn "dbname=fp" --build-demo       # build the demo first
    python scripts/table_fingerprint.py --dsn "dbname=fp" --build-demo \\
        --write-baseline tests/data/fingerprint_baseline.json                # regenerate the baseline
    python scripts/table_fingerprint.py --compare tests/data/fingerprint_baseline.json --dsn "dbname=fp"
    python scripts/table_fingerprint.py --compare a.json b.json              # exit 1 when they differ

--build-demo wants a database without the demo (empty, or migrated): it migrates it, generates the sources
and runs `daily` twice (see build_demo). tests/test_fingerprint_golden.py does the same on a test cluster.
Importable: build_demo(), fingerprint(), diff().
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path
from typing import Callable

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from a checkout: find dwh_cli next to it
    sys.path.insert(0, str(ROOT))

FORMAT = 1

# The reproducible demo. The day lies in the future on purpose: the pipeline reads the wall clock in a few
# places through GREATEST(run date, CURRENT_DATE) or GREATEST(now(), end of the run date) (the calendar's
# horizon in step_calendar, the accepted event times in event_time_bounds and devflow._load_silver, the
# partitions ensured by load_fact_sales) and customer_metrics.days_since_last_purchase is
# GREATEST(CURRENT_DATE - last purchase, 0); with a run date ahead of the clock all of them follow the run
# date, so a fingerprint taken today equals one taken tomorrow (until 2099). Partitions that far ahead are
# outside the default window (settings partitions.max_months_ahead, 24 months after the current month):
# build_demo widens it to DEMO_MONTHS_AHEAD for its database.
DEMO_MONTHS_AHEAD = 1500
DEMO_DAY = dt.date(2099, 1, 15)
DEMO_SCALE = 0.005          # 250 customers, ~140 products, ~5,000 sales lines: every gold table has rows
DEMO_SEED = 42              # what `dwh demo` uses
DEMO_DEVFLOW_DAYS = 1       # `dwh demo` generates 7; one day fills every devflow table too (failed and rolled-back
                            # production deployments, new dim_issue / dim_infrastructure versions) in 1/3 of the time
DEMO_STAMP_TIME = dt.time(23, 0)  # the next day's changes are stamped at 23:00 UTC of DEMO_DAY

# Session settings for every value's text (hashes are of text): the client's PGTZ, PGDATESTYLE or
# extra_float_digits must not change a hash.
SESSION = {
    "TimeZone": "UTC",
    "DateStyle": "ISO, MDY",
    "IntervalStyle": "postgres",
    "extra_float_digits": "3",
    "bytea_output": "hex",
}

# Tables outside the registry's schemas that hold results of the loads: what was quarantined, and what the
# quality rules measured.
EXTRA_TABLES = ("dwh_etl.quarantine", "dwh_lineage.quality_metrics")

# Columns that differ between two runs of the same code on the same data, found empirically: the demo built
# twice on two fresh databases (one session with PGTZ=Asia/Kolkata), per-column hashes compared (build with
# --all-columns, then --compare). Listed per table, each with its reason: a pattern such as "every column
# ending in _at" would hide real differences (valid_from, transaction_at, ...). Everything else is
# deterministic, surrogate keys included: the loads number new rows in a fixed order (identity columns of
# a fresh database, assigned by set-based INSERT ... SELECT ... ORDER BY).
_BATCH = "batch id of the load: gen_random_uuid() per run (dwh_lineage.start_pipeline)"
_LOADED = "load time of the row: now() of the loading transaction"
_INGESTED = "landing time in bronze: now() of the extraction"
_ARRIVED = "arrival stamp of the source row: clock_timestamp() of its write (trigger zz_dwh_arrival)"
_SOURCE_BRONZE_ID = "per-record lineage: the _bronze_id of the row's bronze row, as variable as that id (see the bronze tables)"
_LOAD = {"_batch_id": _BATCH, "_loaded_at": _LOADED}
_LOADR = {**_LOAD, "_source_bronze_id": _SOURCE_BRONZE_ID}   # tables with per-record lineage (migration 0041)
_BRONZE_ID = ("arrival order: rows that one statement writes (an UPDATE of several issues or customers) arrive "
              "in the order it visits them, their physical order, which page pruning, and so the other "
              "sessions of the server, decide (two builds swapped I_000054 and I_000057 in "
              "bronze.devflow_issues)")
_BRONZE = {"_batch_id": _BATCH, "_ingested_at": _INGESTED, "_bronze_id": _BRONZE_ID,
           "_source_arrived_at": "the source row's arrival stamp, copied by the extraction (migration 0049): " + _ARRIVED}
_SOURCE = {"_dwh_arrived_at": _ARRIVED}
_DEVFLOW_ENTITIES = ("agent_execution_logs", "agents", "code_gen_tasks", "deployment_pipelines", "infrastructure",
                     "issues", "label_history", "labels", "review_results", "worktree_states")
EXCLUDED_COLUMNS: dict[str, dict[str, str]] = {
    **{f"bronze.devflow_{t}": _BRONZE for t in _DEVFLOW_ENTITIES + ("metric_samples", "pull_requests")},
    **{f"bronze.sales_{t}": _BRONZE for t in ("customers", "deleted_records", "products", "sales")},
    **{f"silver.devflow_{t}": _LOADR for t in _DEVFLOW_ENTITIES + ("pull_requests",)},
    "silver.devflow_metric_samples": {
        **_LOADR,
        "updated_at": "the inbox payload's received_at: its arrival stamp, clock_timestamp() (trigger zz_dwh_arrival)"},
    **{f"silver.sales_{t}": _LOADR for t in ("customers", "products", "sales")},
    **{f"devflow.{t}": _LOADR for t in ("dim_agent", "dim_label", "dim_worktree", "fact_agent_execution",
                                        "fact_code_generation", "fact_deployment", "fact_performance_metrics")},
    "devflow.fact_issue_processing": _LOAD,
    **{f"devflow.{t}": {**_LOADR,
                        "record_created_at": "now() of the load that created the version",
                        "record_updated_at": "now() of the load that last changed the version"}
       for t in ("dim_infrastructure", "dim_issue")},
    **{f"sales.{t}": _LOADR for t in ("dim_customer", "dim_product", "fact_sales")},
    "sales.agg_daily_sales": _LOAD,
    "sales.customer_metrics": {"refreshed_at": "now() of the refresh"},
    **{f"devflow_src.{t}": _SOURCE for t in _DEVFLOW_ENTITIES},
    "devflow_src.api_payloads": {"received_at": "the inbox's arrival stamp: clock_timestamp() (trigger zz_dwh_arrival)"},
    **{f"sales_src.{t}": _SOURCE for t in ("customers", "deleted_records", "products", "sales")},
    "dwh_etl.quarantine": {"batch_id": _BATCH, "quarantined_at": "now() of the quarantining load"},
    "dwh_lineage.quality_metrics": {"batch_id": _BATCH, "measured_at": "now() of the quality check"},
}

# Columns hashed through an expression instead (the value of the column is `{}`): parts of a value that
# differ between two runs of the same code are taken out, the rest is compared.
NORMALIZED_COLUMNS: dict[str, dict[str, tuple[str, str]]] = {
    "dwh_etl.quarantine": {
        "payload": ("{} - '_batch_id' - '_ingested_at' - '_bronze_id'",
                    "the quarantined bronze row keeps its _batch_id, _ingested_at and _bronze_id (see the bronze tables)"),
    },
    "dwh_lineage.quality_metrics": {
        "metric_value": ("CASE WHEN details->>'rule_type' = 'freshness' THEN NULL ELSE {} END",
                         "a freshness rule measures the age of the newest row against clock_timestamp()"),
        "failing_sample": ("CASE WHEN details->>'rule_type' = 'freshness' THEN {} - 'age' ELSE {} END",
                           "a freshness rule's sample shows that age"),
        "details": ("{} - 'state' - 'reused_from'",
                    "a whole-table rule's input token (oids, files, write counters) and the id of the result it "
                    "repeats: whether a result is repeated depends on when the server flushed its statistics "
                    "(the values are the same either way)"),
    },
}


def _connect(conninfo: str) -> psycopg.Connection:
    conn = psycopg.connect(conninfo, autocommit=True)
    conn.execute("SELECT " + ", ".join("set_config(%s, %s, false)" for _ in SESSION),
                 [x for kv in SESSION.items() for x in kv])
    return conn


def _seed_fraction(seed: float) -> float:
    """setseed() wants [-1, 1]: the mapping sales_src.generate uses."""
    return seed if -1 <= seed <= 1 else (seed % 1000003) / 1000003


def build_demo(conninfo: str, day: dt.date = DEMO_DAY, scale: float = DEMO_SCALE, seed: float = DEMO_SEED,
               log: Callable[[str], None] = lambda _m: None) -> dict:
    """What `dwh demo` then `dwh demo --next-day` do, reproducibly: migrate; widen the partition window
    (settings partitions.max_months_ahead: `day` may lie years ahead); sales_src.generate (scale, seed, the
    365 days before `day`) and devflow_src.generate (DEMO_DEVFLOW_DAYS up to `day` 00:00 UTC); `daily` for `day`; one
    more day of both sources (sales: `day`; devflow: the next 24 hours), seeded and stamped `day` 23:00 UTC
    instead of now(); `daily` for `day` again. Returns the demo's parameters and runs."""
    from decimal import Decimal

    from dwh_cli.migrate import migrate
    from dwh_cli.ops import run_pipeline

    t0 = time.monotonic()
    migrate(conninfo)
    log(f"migrated ({time.monotonic() - t0:.1f} s)")
    day_start = dt.datetime.combine(day, dt.time(0), dt.timezone.utc)
    stamp = dt.datetime.combine(day, DEMO_STAMP_TIME, dt.timezone.utc)
    runs = []

    def run_daily():
        # the demo day lies decades ahead (reproducible): beyond the calendar horizon on purpose
        for res in run_pipeline(conninfo, "daily", [day], allow_future=True):
            runs.append({"run_date": day.isoformat(), "status": res.status,
                         "failed_steps": sorted(s.get("step_name", "?") for s in (res.steps or [])
                                                if s.get("status") not in ("completed", "succeeded"))})
            if res.error:
                raise RuntimeError(f"daily for {day} failed: {res.error}")

    with _connect(conninfo) as conn:
        conn.execute("UPDATE dwh_etl.settings SET value = %s WHERE key = 'partitions.max_months_ahead'",
                     (str(DEMO_MONTHS_AHEAD),))
        t0 = time.monotonic()
        conn.execute("CALL sales_src.generate(p_scale => %s, p_seed => %s, p_today => %s)",
                     (Decimal(str(scale)), seed, day))
        conn.execute("CALL devflow_src.generate(p_days => %s, p_seed => %s, p_to => %s)",
                     (DEMO_DEVFLOW_DAYS, seed, day_start))
    log(f"generated ({time.monotonic() - t0:.1f} s)")
    t0 = time.monotonic()
    run_daily()
    log(f"daily for {day} ({time.monotonic() - t0:.1f} s)")
    with _connect(conninfo) as conn:
        t0 = time.monotonic()
        conn.execute("SELECT setseed(%s)", (_seed_fraction(seed),))
        conn.execute("CALL sales_src.generate_next_day(p_day => %s, p_stamp => %s)", (day, stamp))
        conn.execute("SELECT setseed(%s)", (_seed_fraction(seed),))
        conn.execute("CALL devflow_src.generate_next_day(p_stamp => %s)", (stamp,))
    log(f"generated the next day ({time.monotonic() - t0:.1f} s)")
    t0 = time.monotonic()
    run_daily()
    log(f"daily for {day}, next day ({time.monotonic() - t0:.1f} s)")
    return {"day": day.isoformat(), "scale": scale, "seed": seed, "devflow_days": DEMO_DEVFLOW_DAYS,
            "stamp": stamp.isoformat(), "runs": runs}


# The areas the reproducible demo builds (build_demo): the tables of other areas (agents: its generator
# draws dates up to today, so its rows are not reproducible yet) are left out, and so are their schemas.
AREAS = ("sales", "devflow", "conformed", "engine")

TABLES_SQL = """
    WITH known (nspname) AS (
        SELECT DISTINCT (parse_ident(r.table_name))[1] FROM dwh_etl.table_registry AS r
        WHERE r.area = ANY (%(areas)s)
    ), others (table_name) AS (
        SELECT r.table_name FROM dwh_etl.table_registry AS r WHERE r.area <> ALL (%(areas)s)
    )
    SELECT n.nspname, c.relname, c.relkind::text
    FROM pg_catalog.pg_class AS c
    JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p', 'm')
      AND NOT c.relispartition                   -- a partition's rows are its parent's
      AND (n.nspname IN (SELECT k.nspname FROM known AS k)
           OR format('%%I.%%I', n.nspname, c.relname) = ANY (%(extra)s))
      AND format('%%I.%%I', n.nspname, c.relname) NOT IN (SELECT o.table_name FROM others AS o)
    ORDER BY 1, 2
"""

COLUMNS_SQL = """
    SELECT a.attname
    FROM pg_catalog.pg_attribute AS a
    WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped
    ORDER BY a.attname COLLATE "C"
"""


def _table_hashes(conn, schema: str, table: str, columns: list[str],
                  normalized: dict[str, tuple[str, str]]) -> tuple[int, str, dict[str, str]]:
    """count(*), md5 of the sorted md5s of the rows (as the text of ROW(columns in name order)), and per
    column an order-independent hash of its values: md5 of the sum of the first 60 bits of each value's md5
    (NULL hashed as the text <NULL>): a sum needs no sort per column (the row hash, which decides equality,
    keeps its sort). A column of `normalized` is hashed through its
    expression."""
    t = sql.Identifier("t")

    def value(c: str) -> sql.Composable:
        ref = sql.SQL("{}.{}").format(t, sql.Identifier(c))
        if c in normalized:  # a constant of this script, not input: safe to compose as SQL
            return sql.SQL("(" + normalized[c][0].replace("{}", "{ref}") + ")").format(ref=ref)
        return ref

    inner = [sql.SQL("md5(ROW({})::text) AS h").format(sql.SQL(", ").join(value(c) for c in columns))]
    outer = [sql.SQL("count(*)"),
             sql.SQL("""md5(coalesce(string_agg(r.h, '' ORDER BY r.h COLLATE "C"), ''))""")]
    for i, c in enumerate(columns):
        alias = sql.Identifier(f"c{i}")
        inner.append(sql.SQL("('x' || left(md5(coalesce({}::text, '<NULL>')), 15))::bit(60)::bigint AS {}").format(
            value(c), alias))
        outer.append(sql.SQL("md5(coalesce(sum(r.{})::text, ''))").format(alias))
    query = sql.SQL("SELECT {} FROM (SELECT {} FROM {}.{} AS t) AS r").format(
        sql.SQL(", ").join(outer), sql.SQL(", ").join(inner), sql.Identifier(schema), sql.Identifier(table))
    row = conn.execute(query).fetchone()
    return row[0], row[1], dict(zip(columns, row[2:]))


def fingerprint(conninfo: str, excluded: dict[str, dict[str, str]] | None = None,
                normalized: dict[str, dict[str, tuple[str, str]]] | None = None,
                only: set[str] | None = None) -> dict:
    """The fingerprint of the database at conninfo: {"tables": {"schema.table": {"kind", "rows", "hash",
    "columns": {column: hash}}}, "excluded_columns", "normalized_columns", "unmatched_exclusions": columns
    of EXCLUDED_COLUMNS / NORMALIZED_COLUMNS that no table has (a stale entry)}. `only`: just these
    tables ("schema.table"), e.g. to check one area quickly (unmatched_exclusions is then not computed)."""
    excluded = EXCLUDED_COLUMNS if excluded is None else excluded
    normalized = NORMALIZED_COLUMNS if normalized is None else normalized
    tables: dict[str, dict] = {}
    matched: set[tuple[str, str]] = set()
    with _connect(conninfo) as conn:
        with conn.transaction():  # one snapshot for every table
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            for schema, table, kind in conn.execute(TABLES_SQL, {"extra": list(EXTRA_TABLES), "areas": list(AREAS)}).fetchall():
                name = f"{schema}.{table}"
                if only is not None and name not in only:
                    continue
                qualified = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table)).as_string(conn)
                all_columns = [r[0] for r in conn.execute(COLUMNS_SQL, (qualified,)).fetchall()]
                skip = excluded.get(name, {})
                norm = normalized.get(name, {})
                matched |= {(name, c) for c in all_columns if c in skip or c in norm}
                columns = [c for c in all_columns if c not in skip]
                rows, digest, per_column = _table_hashes(conn, schema, table, columns, norm)
                tables[name] = {"kind": {"r": "table", "p": "table", "m": "materialized view"}[kind],
                                "rows": rows, "hash": digest, "columns": per_column}
    unmatched = sorted({f"{t}.{c}" for spec in (excluded, normalized) for t, cols in spec.items()
                        for c in cols if (t, c) not in matched}) if only is None else []
    return {"format": FORMAT, "tables": tables, "excluded_columns": excluded,
            "normalized_columns": {t: {c: {"expression": e, "reason": r} for c, (e, r) in cols.items()}
                                   for t, cols in normalized.items()},
            "unmatched_exclusions": unmatched}


def diff(base: dict, new: dict) -> list[str]:
    """Readable differences between two fingerprints, one line per table (and its columns); [] if equal."""
    out: list[str] = []
    bt, nt = base["tables"], new["tables"]
    for name in sorted(set(bt) | set(nt)):
        if name not in nt:
            out.append(f"{name}: missing (the baseline has it with {bt[name]['rows']} rows)")
            continue
        if name not in bt:
            out.append(f"{name}: new table ({nt[name]['rows']} rows), not in the baseline")
            continue
        b, n = bt[name], nt[name]
        if b["rows"] == n["rows"] and b["hash"] == n["hash"]:
            continue
        parts = []
        if b["rows"] != n["rows"]:
            parts.append(f"rows {b['rows']} -> {n['rows']}")
        gone = sorted(set(b["columns"]) - set(n["columns"]))
        added = sorted(set(n["columns"]) - set(b["columns"]))
        changed = sorted(c for c in set(b["columns"]) & set(n["columns"]) if b["columns"][c] != n["columns"][c])
        if gone:
            parts.append("columns gone: " + ", ".join(gone))
        if added:
            parts.append("columns added: " + ", ".join(added))
        if changed:
            parts.append("values changed in: " + ", ".join(changed))
        if not (gone or added or changed or b["rows"] != n["rows"]):
            parts.append("same columns' values, combined differently in rows")
        out.append(f"{name}: " + "; ".join(parts))
    for key in ("excluded_columns", "normalized_columns"):
        if base.get(key) != new.get(key):
            out.append(f"the {key.replace('_', ' ')} differ ({key.upper()} changed since the baseline)")
    return out


def write_json(data: dict, path: str | None) -> None:
    text = json.dumps(data, indent=1, sort_keys=True) + "\n"
    if path in (None, "-"):
        sys.stdout.write(text)
    else:
        Path(path).write_text(text)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dsn", help="conninfo of the database to fingerprint (default: libpq's environment)")
    p.add_argument("--build-demo", action="store_true",
                   help=f"first build the reproducible demo into --dsn (day {DEMO_DAY}, scale {DEMO_SCALE}, "
                        f"seed {DEMO_SEED}, then one more day)")
    p.add_argument("--write-baseline", metavar="PATH", help="write the fingerprint to PATH (and not to stdout)")
    p.add_argument("--compare", nargs="+", metavar="JSON",
                   help="BASE [OTHER]: print the differences of OTHER (or of --dsn) from BASE; exit 1 if any")
    p.add_argument("--all-columns", action="store_true",
                   help="exclude no column (to find the columns that differ between two builds)")
    args = p.parse_args(argv)

    def log(msg):
        print(msg, file=sys.stderr)

    excluded = {} if args.all_columns else None
    normalized = {} if args.all_columns else None
    if args.compare and len(args.compare) > 2:
        p.error("--compare takes BASE and at most one OTHER")
    if args.compare and len(args.compare) == 2:
        base, new = (json.loads(Path(f).read_text()) for f in args.compare)
    else:
        conninfo = args.dsn or ""
        demo = build_demo(conninfo, log=log) if args.build_demo else None
        t0 = time.monotonic()
        new = fingerprint(conninfo, excluded, normalized)
        log(f"fingerprint of {len(new['tables'])} tables ({time.monotonic() - t0:.1f} s)")
        if demo is not None:
            new["demo"] = demo
        if not args.compare:
            write_json(new, args.write_baseline)
            return 0
        base = json.loads(Path(args.compare[0]).read_text())
    lines = diff(base, new)
    for line in lines:
        print(line)
    if not lines:
        print(f"identical: {len(new['tables'])} tables")
    return 1 if lines else 0


if __name__ == "__main__":
    sys.exit(main())
