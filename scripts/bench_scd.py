#!/usr/bin/env python3
"""Benchmark of the SCD engine (dwh_etl.apply_dimension) against the floor and row-at-a-time.

    python scripts/bench_scd.py --dsn "$(dwh db url)" [--rows 1000000] [--scaling 100000,1000000,5000000]

Works in a scratch schema `bench_scd` (dropped at the start and the end). For a dimension of --rows keys
with 10% changed, 1% new and 0.5% deleted keys it times:
  engine-snapshot  apply_dimension(p_mode => 'snapshot') on a full snapshot of the source
  floor-snapshot   the best hand-written SQL for the same changes from the same snapshot
  engine-delta     apply_dimension on the change batch only (what bronze's delta delivers)
  floor-delta      the best hand-written SQL for the same batch
  row-at-a-time    seed 000's BEFORE INSERT trigger (close current + version n+1, one UPDATE per row)
  rerun            the engine again with nothing changed (delta and snapshot)
and, with --scaling, the engine-delta time of 10k changes against dimensions of each size.
--compare-guards N instead times, alternating over N rounds, the GiST exclusion constraint against the
statement-level no-overlap guard of migration 0032 (change by snapshot and by delta, rerun, initial load
of an empty dimension), with the floors, and prints medians and ratios.
Each case starts from the same freshly built dimension. Prints one line per measurement; no assertions.
"""
from __future__ import annotations

import argparse
import time

import psycopg

SETUP = """
DROP SCHEMA IF EXISTS bench_scd CASCADE;
CREATE SCHEMA bench_scd;
CREATE TABLE bench_scd.dim (
    dim_key     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id          bigint NOT NULL,
    name        text,
    segment     text,
    city        text,
    phone       text,
    valid_from  timestamptz NOT NULL,
    valid_to    timestamptz,
    is_current  boolean NOT NULL,
    version     integer NOT NULL,
    is_deleted  boolean NOT NULL DEFAULT false,
    _batch_id   uuid NOT NULL,
    _loaded_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT dim_validity_ck CHECK (valid_to > valid_from),
    CONSTRAINT dim_no_overlap EXCLUDE USING gist (id WITH =, tstzrange(valid_from, valid_to) WITH &&),
    CONSTRAINT dim_version_uq UNIQUE (id, version)
);
CREATE UNIQUE INDEX dim_current_uq ON bench_scd.dim (id) WHERE is_current;
INSERT INTO dwh_etl.dimension_specs (dimension_name, target_table, surrogate_key, natural_key,
    type2_columns, type1_columns, change_ts_column, deleted_flag_column, delete_policy)
VALUES ('bench_scd', 'bench_scd.dim', 'dim_key', '{id}', '{name,segment,city}', '{phone}', 'changed_at',
        'deleted', 'close')
ON CONFLICT (dimension_name) DO NOTHING;
"""

BUILD = """
TRUNCATE bench_scd.dim RESTART IDENTITY;
INSERT INTO bench_scd.dim (id, name, segment, city, phone, valid_from, is_current, version, _batch_id)
SELECT g, 'name ' || g, (ARRAY['Consumer', 'Corporate', 'Home Office'])[1 + g % 3], 'city ' || (g % 1000),
       'phone ' || g, timestamptz '2024-01-01', true, 1, gen_random_uuid()
FROM generate_series(1, {rows}) AS g;
DROP TABLE IF EXISTS bench_scd.snapshot, bench_scd.batch;
-- the source today: 10% of keys changed (segment), 0.5% deleted (missing), 1% new
CREATE TABLE bench_scd.snapshot AS
SELECT g AS id, 'name ' || g AS name,
       CASE WHEN g % 10 = 0 THEN 'Changed' ELSE (ARRAY['Consumer', 'Corporate', 'Home Office'])[1 + g % 3] END AS segment,
       'city ' || (g % 1000) AS city, 'phone ' || g AS phone,
       timestamptz '2025-01-01' AS changed_at, false AS deleted
FROM generate_series(1, {rows} + {rows} / 100) AS g
WHERE g % 200 <> 7;
-- the change batch: changed and new keys, and the deleted ones flagged
CREATE TABLE bench_scd.batch AS
SELECT s.* FROM bench_scd.snapshot AS s WHERE s.id % 10 = 0 OR s.id > {rows}
UNION ALL
SELECT g, 'name ' || g, NULL, NULL, NULL, timestamptz '2025-01-01', true
FROM generate_series(1, {rows}) AS g WHERE g % 200 = 7;
ANALYZE bench_scd.dim; ANALYZE bench_scd.snapshot; ANALYZE bench_scd.batch;
"""

FLOOR_SNAPSHOT = """
WITH changed AS (
    UPDATE bench_scd.dim AS d
    SET valid_to = s.changed_at, is_current = false
    FROM bench_scd.snapshot AS s
    WHERE s.id = d.id AND d.is_current
      AND (d.name, d.segment, d.city) IS DISTINCT FROM (s.name, s.segment, s.city)
    RETURNING d.id, d.version
)
INSERT INTO bench_scd.dim (id, name, segment, city, phone, valid_from, is_current, version, _batch_id)
SELECT s.id, s.name, s.segment, s.city, s.phone, s.changed_at, true, c.version + 1, gen_random_uuid()
FROM changed AS c JOIN bench_scd.snapshot AS s ON s.id = c.id;
INSERT INTO bench_scd.dim (id, name, segment, city, phone, valid_from, is_current, version, _batch_id)
SELECT s.id, s.name, s.segment, s.city, s.phone, s.changed_at, true, 1, gen_random_uuid()
FROM bench_scd.snapshot AS s
WHERE NOT EXISTS (SELECT 1 FROM bench_scd.dim AS d WHERE d.id = s.id);
UPDATE bench_scd.dim AS d SET valid_to = timestamptz '2025-01-01', is_current = false
WHERE d.is_current AND NOT EXISTS (SELECT 1 FROM bench_scd.snapshot AS s WHERE s.id = d.id);
"""

FLOOR_DELTA = """
WITH changed AS (
    UPDATE bench_scd.dim AS d
    SET valid_to = b.changed_at, is_current = false
    FROM bench_scd.batch AS b
    WHERE b.id = d.id AND d.is_current
      AND (b.deleted OR (d.name, d.segment, d.city) IS DISTINCT FROM (b.name, b.segment, b.city))
    RETURNING d.id, d.version
)
INSERT INTO bench_scd.dim (id, name, segment, city, phone, valid_from, is_current, version, _batch_id)
SELECT b.id, b.name, b.segment, b.city, b.phone, b.changed_at, true, c.version + 1, gen_random_uuid()
FROM changed AS c JOIN bench_scd.batch AS b ON b.id = c.id
WHERE NOT b.deleted;
INSERT INTO bench_scd.dim (id, name, segment, city, phone, valid_from, is_current, version, _batch_id)
SELECT b.id, b.name, b.segment, b.city, b.phone, b.changed_at, true, 1, gen_random_uuid()
FROM bench_scd.batch AS b
WHERE NOT b.deleted AND NOT EXISTS (SELECT 1 FROM bench_scd.dim AS d WHERE d.id = b.id);
"""

ROW_TRIGGER = """
CREATE OR REPLACE FUNCTION bench_scd.dim_scd2() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE bench_scd.dim SET valid_to = NEW.valid_from, is_current = false
    WHERE id = NEW.id AND is_current;
    NEW.is_current := true;
    NEW.version := COALESCE((SELECT max(version) + 1 FROM bench_scd.dim WHERE id = NEW.id), 1);
    RETURN NEW;
END $$;
CREATE TRIGGER dim_scd2 BEFORE INSERT ON bench_scd.dim FOR EACH ROW EXECUTE FUNCTION bench_scd.dim_scd2();
"""
ROW_TRIGGER_RUN = """
INSERT INTO bench_scd.dim (id, name, segment, city, phone, valid_from, is_current, version, _batch_id)
SELECT b.id, b.name, b.segment, b.city, b.phone, b.changed_at, true, 1, gen_random_uuid()
FROM bench_scd.batch AS b WHERE NOT b.deleted;
"""


def timed(conn, sql: str, params=None) -> float:
    start = time.perf_counter()
    with conn.transaction():
        conn.execute(sql, params)
    return time.perf_counter() - start


def build(conn, rows: int) -> None:
    with conn.transaction():
        conn.execute(BUILD.replace("{rows}", str(int(rows))))


def engine(source: str, mode: str) -> str:
    return (f"SELECT * FROM dwh_etl.apply_dimension('bench_scd', 'bench_scd.{source}', "
            f"p_load_ts => timestamptz '2025-01-01', p_mode => '{mode}')")


GUARD_TRIGGER = "CALL dwh_etl.scd2_guard('bench_scd.dim', '{id}')"

INITIAL_SOURCE = """
DROP TABLE IF EXISTS bench_scd.initial;
CREATE TABLE bench_scd.initial AS
SELECT g AS id, 'name ' || g AS name, (ARRAY['Consumer', 'Corporate', 'Home Office'])[1 + g % 3] AS segment,
       'city ' || (g % 1000) AS city, 'phone ' || g AS phone, timestamptz '2024-01-01' AS changed_at, false AS deleted
FROM generate_series(1, {rows}) AS g;
ANALYZE bench_scd.initial;
"""

FLOOR_INITIAL = """
CREATE TABLE bench_scd.floor_dim (LIKE bench_scd.dim INCLUDING DEFAULTS);
CREATE UNIQUE INDEX ON bench_scd.floor_dim (id) WHERE is_current;
INSERT INTO bench_scd.floor_dim (dim_key, id, name, segment, city, phone, valid_from, is_current, version, _batch_id)
SELECT row_number() OVER (), s.id, s.name, s.segment, s.city, s.phone, s.changed_at, true, 1, gen_random_uuid()
FROM bench_scd.initial AS s;
"""


def compare_guards(conn, rows: int, rounds: int) -> None:
    """The GiST exclusion constraint against the statement-level guard (migration 0032), alternating
    (A/B/A/B), each case from a freshly built dimension; prints medians and ratios, and the floors."""
    import statistics

    cases = ["change-snapshot", "change-delta", "rerun-snapshot", "initial-load"]
    times = {(g, c): [] for g in ("exclude", "trigger") for c in cases}
    floors = {"change-snapshot": [], "change-delta": [], "initial-load": []}
    for r in range(rounds):
        for guard in ("exclude", "trigger"):
            with conn.transaction():
                conn.execute(SETUP)
                if guard == "trigger":
                    conn.execute(GUARD_TRIGGER)
                conn.execute(INITIAL_SOURCE.replace("{rows}", str(rows)))
            build(conn, rows)
            times[(guard, "change-snapshot")].append(timed(conn, engine("snapshot", "snapshot")))
            times[(guard, "rerun-snapshot")].append(timed(conn, engine("snapshot", "snapshot")))
            build(conn, rows)
            times[(guard, "change-delta")].append(timed(conn, engine("batch", "delta")))
            conn.execute("TRUNCATE bench_scd.dim RESTART IDENTITY")
            times[(guard, "initial-load")].append(timed(conn, engine("initial", "snapshot")))
        build(conn, rows)
        floors["change-snapshot"].append(timed(conn, FLOOR_SNAPSHOT))
        build(conn, rows)
        floors["change-delta"].append(timed(conn, FLOOR_DELTA))
        conn.execute("DROP TABLE IF EXISTS bench_scd.floor_dim")
        floors["initial-load"].append(timed(conn, FLOOR_INITIAL))
        conn.execute("DROP TABLE IF EXISTS bench_scd.floor_dim")
        print(f"round {r + 1}: " + ", ".join(f"{g}/{c} {times[(g, c)][-1]:.2f}s" for g in ("exclude", "trigger") for c in cases),
              flush=True)
    print(f"\n{rows:,} keys, {rounds} rounds, medians (s):")
    print(f"{'case':18s} {'floor':>8s} {'GiST':>8s} {'guard':>8s} {'guard/GiST':>11s} {'guard/floor':>12s}")
    for c in cases:
        ex = statistics.median(times[("exclude", c)])
        tr = statistics.median(times[("trigger", c)])
        fl = statistics.median(floors[c]) if c in floors else None
        print(f"{c:18s} {fl if fl is not None else float('nan'):8.2f} {ex:8.2f} {tr:8.2f} {tr / ex:11.2f} "
              f"{(tr / fl) if fl else float('nan'):12.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dsn", required=True)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--scaling", default="", help="comma-separated dimension sizes for the 10k-change test")
    ap.add_argument("--skip-row-trigger", action="store_true")
    ap.add_argument("--compare-guards", type=int, metavar="ROUNDS", default=0,
                    help="only compare the GiST exclusion constraint with the statement-level guard "
                         "(migration 0032), ROUNDS alternating rounds, with the floors")
    args = ap.parse_args()
    if args.compare_guards:
        with psycopg.connect(args.dsn, autocommit=True) as conn:
            conn.execute("SET client_min_messages = warning")
            compare_guards(conn, args.rows, args.compare_guards)
            with conn.transaction():
                conn.execute("DELETE FROM dwh_etl.dimension_specs WHERE dimension_name = 'bench_scd'")
                conn.execute("DROP SCHEMA bench_scd CASCADE")
        return

    with psycopg.connect(args.dsn, autocommit=True) as conn:
        conn.execute("SET client_min_messages = warning")
        with conn.transaction():
            conn.execute(SETUP)
        n = args.rows
        print(f"dimension: {n} keys; changes: {n // 10} changed, {n // 100} new, {n // 200} deleted")
        results = {}

        build(conn, n)
        results["engine-snapshot"] = timed(conn, engine("snapshot", "snapshot"))
        results["rerun-snapshot"] = timed(conn, engine("snapshot", "snapshot"))
        build(conn, n)
        results["floor-snapshot"] = timed(conn, FLOOR_SNAPSHOT)
        build(conn, n)
        results["engine-delta"] = timed(conn, engine("batch", "delta"))
        results["rerun-delta"] = timed(conn, engine("batch", "delta"))
        build(conn, n)
        results["floor-delta"] = timed(conn, FLOOR_DELTA)
        if not args.skip_row_trigger:
            build(conn, n)
            with conn.transaction():
                conn.execute(ROW_TRIGGER)
            results["row-at-a-time"] = timed(conn, ROW_TRIGGER_RUN)
            conn.execute("DROP TRIGGER dim_scd2 ON bench_scd.dim")

        for name, secs in results.items():
            print(f"{name:16s} {secs * 1000:10.1f} ms")
        print(f"engine-snapshot / floor-snapshot = {results['engine-snapshot'] / results['floor-snapshot']:.2f}x")
        print(f"engine-delta / floor-delta       = {results['engine-delta'] / results['floor-delta']:.2f}x")
        if "row-at-a-time" in results:
            print(f"row-at-a-time / engine-snapshot  = {results['row-at-a-time'] / results['engine-snapshot']:.1f}x")
            print(f"row-at-a-time / engine-delta     = {results['row-at-a-time'] / results['engine-delta']:.1f}x")

        for size in [int(s) for s in args.scaling.split(",") if s]:
            build(conn, size)
            with conn.transaction():  # a 10k-change batch, whatever the dimension size
                conn.execute("DELETE FROM bench_scd.batch WHERE id NOT IN "
                             "(SELECT id FROM bench_scd.batch ORDER BY id LIMIT 10000)")
            conn.execute("ANALYZE bench_scd.batch")
            secs = timed(conn, engine("batch", "delta"))
            print(f"scaling: 10k changes against {size:>9d} keys: {secs * 1000:10.1f} ms")

        with conn.transaction():
            conn.execute("DELETE FROM dwh_etl.dimension_specs WHERE dimension_name = 'bench_scd'")
            conn.execute("DROP SCHEMA bench_scd CASCADE")


if __name__ == "__main__":
    main()
