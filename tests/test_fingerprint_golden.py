"""Every warehouse table holds the same rows as the baseline after the reproducible demo and its next day.

Issue 10 rewrites sales and devflow onto generic step kinds with "the same rows in every gold table after
the demo and after --next-day". Once per module this builds the demo of scripts/table_fingerprint.py
(build_demo: sales at scale 0.005 and a day of devflow, seed 42, day 2099-01-15; `daily`; one more day of
both sources, seeded and stamped 2099-01-15 23:00 UTC, with its bad rows; `daily` again) in a database of
its own, takes its fingerprint (row count, order-independent hash of the rows and of each column of every
table and materialized view of the schemas the registry knows, plus the quarantine and the quality
metrics; the columns that differ between two runs of the same code are left out, each listed with its
reason in EXCLUDED_COLUMNS / NORMALIZED_COLUMNS) and compares it to tests/data/fingerprint_baseline.json,
generated from main's code. A failure lists each table whose row count or content changed, with the
columns whose values changed.

A change of the tables' content on purpose: regenerate the baseline and commit it with the change that
explains it, either from this test (which then writes the baseline before comparing)

    DWH_WRITE_FINGERPRINT_BASELINE=1 scripts/test.sh tests/test_fingerprint_golden.py

(as root, scripts/test.sh runs a copy of the checkout as `postgres`: give a path instead of 1, e.g.
DWH_WRITE_FINGERPRINT_BASELINE=/tmp/fingerprint_baseline.json, and copy that file to tests/data/), or
from any scratch database (empty or migrated; the script migrates it)

    python scripts/table_fingerprint.py --dsn "dbname=scratch" --build-demo \\
        --write-baseline tests/data/fingerprint_baseline.json

`python scripts/table_fingerprint.py --dsn ... --compare tests/data/fingerprint_baseline.json` prints
the same diff for any database built that way.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

import psycopg
import pytest

from conftest import cloned_database, make_conninfo

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "tests" / "data" / "fingerprint_baseline.json"
WRITE_ENV = "DWH_WRITE_FINGERPRINT_BASELINE"

# tables the demo leaves empty, and why: the fingerprint cannot tell whether a rewrite changes them
EMPTY_IN_THE_DEMO = {
    "gold.holidays": "the holiday hook of gold.dim_date (not in the registry): the demo loads no holidays",
    "bronze.cdc_events": "the landing table of `dwh cdc ingest`: the demo sends no change events",
    "devflow.fact_issue_processing_archive": "seed 000 retention (maintenance pipeline): the demo's processing is "
                                             "days old, none past the 2-year horizon; tests/test_seed_devflow.py",
    "devflow_src.deleted_records": "devflow's tombstones (migration 0064): the demo's devflow source deletes "
                                   "nothing; tests/test_attack14b.py deletes",
    "bronze.devflow_deleted_records": "the tombstones extracted from devflow_src.deleted_records: none in the demo",
}


def _load_script():
    spec = importlib.util.spec_from_file_location("table_fingerprint", ROOT / "scripts" / "table_fingerprint.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


tf = _load_script()


@pytest.fixture(scope="module")
def demo_db(postgresql_proc):
    """(conninfo, demo parameters and runs) of a database with the reproducible demo built once."""
    proc = postgresql_proc
    with cloned_database(proc, proc.template_dbname, "fingerprint") as conn:
        conninfo = make_conninfo(proc.host, proc.port, proc.user, conn.info.dbname, proc.password)
        conn.close()  # a database with a session cannot be a template (test_a_changed_value_...)
        demo = tf.build_demo(conninfo)
        yield conninfo, demo


@pytest.fixture(scope="module")
def current(demo_db) -> dict:
    conninfo, demo = demo_db
    return {**tf.fingerprint(conninfo), "demo": demo}


@pytest.fixture(scope="module")
def baseline(current) -> dict:
    target = os.environ.get(WRITE_ENV)
    if target:
        tf.write_json(current, str(BASELINE if target == "1" else Path(target)))
        if target != "1":
            return current
    return json.loads(BASELINE.read_text())


def test_every_table_matches_the_baseline(current, baseline):
    differences = tf.diff(baseline, current)
    assert differences == [], (
        f"{len(differences)} table(s) differ from {BASELINE.relative_to(ROOT)} (the content of main's code):\n  "
        + "\n  ".join(differences)
        + f"\nIf the change is intended, regenerate the baseline: {WRITE_ENV}=1 scripts/test.sh tests/{Path(__file__).name}")


def test_the_demo_runs_complete(current, baseline):
    assert [r["status"] for r in current["demo"]["runs"]] == ["completed", "completed"], current["demo"]["runs"]
    assert current["demo"]["runs"] == baseline["demo"]["runs"]
    assert {k: v for k, v in current["demo"].items() if k != "runs"} == \
        {k: v for k, v in baseline["demo"].items() if k != "runs"}


def test_every_excluded_column_exists(current):
    # a stale entry (a renamed column) would exclude nothing and hide nothing, but says the list is out of date
    assert current["unmatched_exclusions"] == []


def test_every_table_has_rows_in_the_baseline(demo_db, baseline):
    conninfo, _ = demo_db
    with psycopg.connect(conninfo) as conn:
        registered = [r[0] for r in conn.execute("SELECT table_name FROM dwh_etl.table_registry "
                                                 "WHERE area = ANY (%s) ORDER BY 1", (list(tf.AREAS),))]
    assert set(registered) <= set(baseline["tables"])
    empty = {t for t, v in baseline["tables"].items() if v["rows"] == 0}
    # every gold and star table (registry layers gold and mart) among them
    assert empty == set(EMPTY_IN_THE_DEMO), "tables the demo leaves empty: this test does not cover them"


def _subset(fp: dict, tables: set[str]) -> dict:
    return {**fp, "tables": {t: v for t, v in fp["tables"].items() if t in tables}}


# tables with dates, times, timestamps, numerics, floats, jsonb and arrays: what session settings render
RENDERED = {"gold.dim_date", "sales.fact_sales", "sales.customer_metrics", "devflow.fact_agent_execution",
            "devflow.mart_agent_performance", "devflow.dim_infrastructure", "dwh_etl.quarantine",
            "dwh_lineage.quality_metrics"}


def test_the_fingerprint_does_not_depend_on_the_client_session(demo_db, current, monkeypatch):
    conninfo, _ = demo_db
    monkeypatch.setenv("PGTZ", "Asia/Kolkata")
    monkeypatch.setenv("PGDATESTYLE", "SQL, DMY")
    monkeypatch.setenv("PGOPTIONS", "-c extra_float_digits=-3 -c IntervalStyle=iso_8601")
    assert tf.diff(_subset(current, RENDERED), tf.fingerprint(conninfo, only=RENDERED)) == []


def test_a_changed_value_is_named_with_its_table_and_column(demo_db, current, postgresql_proc):
    conninfo, _ = demo_db
    proc = postgresql_proc
    with cloned_database(proc, psycopg.conninfo.conninfo_to_dict(conninfo)["dbname"], "changed") as conn:
        # what a rewrite that rounds one price would do
        conn.execute("""UPDATE sales.fact_sales SET unit_price = round(unit_price)
                        WHERE sale_id = (SELECT min(sale_id) FROM sales.fact_sales WHERE unit_price <> round(unit_price))""")
        conn.execute("DELETE FROM sales.agg_daily_sales WHERE ctid = (SELECT min(ctid) FROM sales.agg_daily_sales)")
        # a load time or batch differs on every run: not a difference
        conn.execute("UPDATE sales.dim_customer SET _loaded_at = now(), _batch_id = gen_random_uuid()")
        sales = {t for t in current["tables"] if t.startswith("sales.")}
        changed = tf.fingerprint(make_conninfo(proc.host, proc.port, proc.user, conn.info.dbname, proc.password),
                                 only=sales)
    assert tf.diff(_subset(current, sales), changed) == [
        f"sales.agg_daily_sales: rows {current['tables']['sales.agg_daily_sales']['rows']} -> "
        f"{current['tables']['sales.agg_daily_sales']['rows'] - 1}; values changed in: "
        + ", ".join(sorted(c for c in current["tables"]["sales.agg_daily_sales"]["columns"])),
        "sales.fact_sales: values changed in: line_total, unit_price",
    ]
