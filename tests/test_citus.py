"""Citus scale-out (issue 17) on a local cluster: a coordinator and two workers started by
scripts/citus_cluster.sh in a temporary directory. `dwh migrate` applies dwh_etl.distribution_plan there,
and changes nothing in a database without the citus extension; the reproducible demo (two daily runs)
builds the same sales, devflow and calendar tables there as in a database without Citus, and the
engine's sales fact load runs on the workers. About two minutes.

Skipped where Citus is not installed for the server (Citus is not in Debian's archive: scripts/build_citus.sh
builds it from source, docs/SCALE.md says how to install Citus's own packages)."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import uuid
from pathlib import Path

import psycopg
import pytest

from dwh_cli.embedded import find_bindir
from dwh_cli.migrate import migrate

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "citus_cluster.sh"


def _bindir() -> Path:
    try:
        return Path(find_bindir())
    except Exception:  # noqa: BLE001 - no server at all: the skip below says so
        return Path("/usr/lib/postgresql/15/bin")


BINDIR = _bindir()
CITUS_SO = BINDIR.parent / "lib" / "citus.so"  # Debian's layout: /usr/lib/postgresql/15/{bin,lib}
pytestmark = pytest.mark.skipif(
    not CITUS_SO.exists(),
    reason=f"Citus is not installed ({CITUS_SO} is missing): scripts/build_citus.sh builds it from source "
           "(as root); docs/SCALE.md shows how to install Citus's packages")

CLEAN_ENV = {name: None for name in ("DWH_DSN", "PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGSERVICE")}


def _free_port_base(count: int = 3, start: int = 19700) -> int:
    """The first of `count` consecutive free TCP ports on 127.0.0.1, from `start` up."""
    for base in range(start, 29700, 10):
        socks = []
        try:
            for port in range(base, base + count):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free ports for the Citus test cluster")


@pytest.fixture(scope="module")
def citus_dsn(tmp_path_factory):
    """A running 3-node cluster with the warehouse migrated into its database `dwh`; stopped afterwards."""
    data = tmp_path_factory.mktemp("citus")
    env = {k: v for k, v in os.environ.items() if k not in CLEAN_ENV}
    env["PGBIN"] = str(BINDIR)
    # free ports are probed, then bound by the nodes: another suite on the machine (a second user, a CI
    # run beside a developer's) can take them in between, and the coordinator then fails to start: the
    # next free ports are tried, in a data directory of their own
    base = 19700
    for attempt in range(5):
        base = _free_port_base(start=base)
        env["CITUS_PORT"] = str(base)
        started = subprocess.run([str(SCRIPT), "start", str(data)], capture_output=True, text=True, env=env)
        if started.returncode == 0:
            break
        subprocess.run([str(SCRIPT), "stop", str(data)], capture_output=True, text=True, env=env)
        data = tmp_path_factory.mktemp("citus")
        base += 10
    try:
        assert started.returncode == 0, started.stderr
        dsn = started.stdout.strip().splitlines()[-1]
        migrate(dsn)
        yield dsn
    finally:
        subprocess.run([str(SCRIPT), "stop", str(data)], capture_output=True, text=True, env=env)


def _rows(dsn: str, sql: str, params=None) -> list[tuple]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()


def test_cluster_has_a_coordinator_and_two_active_workers(citus_dsn):
    nodes = _rows(citus_dsn, """
        SELECT groupid = 0, isactive, noderole::text
        FROM pg_dist_node
        ORDER BY groupid""")
    assert nodes == [(True, True, "primary"), (False, True, "primary"), (False, True, "primary")]
    settings = dict(_rows(citus_dsn, """
        SELECT name, setting FROM pg_settings
        WHERE name IN ('shared_preload_libraries', 'cron.database_name')"""))
    assert settings == {"shared_preload_libraries": "citus,pg_cron", "cron.database_name": "dwh"}


def test_migrate_applies_the_distribution_plan(citus_dsn):
    plan = _rows(citus_dsn, """
        SELECT p.table_name, p.kind, COALESCE(p.distribution_column, '<none>'),
               t.citus_table_type, t.distribution_column, p.applied_at IS NOT NULL
        FROM dwh_etl.distribution_plan AS p
        LEFT JOIN public.citus_tables AS t
          ON t.table_name = p.table_name::regclass
        ORDER BY p.apply_order""")
    assert plan, "the plan is empty"
    assert [(name, kind, col, True) for name, kind, col, *_ in plan] == \
           [(name, ctype, dcol, applied) for name, _, _, ctype, dcol, applied in plan]
    # the sales fact and its silver rows share shards
    colocation = dict(_rows(citus_dsn, """
        SELECT table_name::text, colocation_id FROM public.citus_tables
        WHERE table_name IN ('sales.fact_sales'::regclass, 'silver.sales_sales'::regclass)"""))
    assert colocation["sales.fact_sales"] == colocation["silver.sales_sales"]
    # it keeps its foreign keys to the reference dimensions; those to the local calendar are gone, each
    # recorded in the plan and replaced by a relationships quality rule
    fks = _rows(citus_dsn, """
        SELECT conname, confrelid::regclass::text FROM pg_constraint
        WHERE conrelid = 'sales.fact_sales'::regclass AND contype = 'f' ORDER BY conname""")
    assert fks == [("fact_sales_customer_fk", "sales.dim_customer"), ("fact_sales_product_fk", "sales.dim_product")]
    dropped = _rows(citus_dsn, """
        SELECT d->>'constraint', d->>'quality_rule', q.rule_type, q.column_names, q.params, q.severity, q.scope
        FROM dwh_etl.distribution_plan AS p
        CROSS JOIN LATERAL jsonb_array_elements(p.dropped_foreign_keys) AS d
        LEFT JOIN dwh_etl.quality_rules AS q ON q.rule_name = d->>'quality_rule'
        WHERE p.table_name = 'sales.fact_sales'
        ORDER BY 1""")
    assert dropped == [
        ("fact_sales_date_fk", "citus_fact_sales_date_fk", "relationships", ["date_key"],
         {"to_table": "gold.dim_date", "to_column": "date_key"}, "error", "batch"),
        ("fact_sales_time_fk", "citus_fact_sales_time_fk", "relationships", ["time_key"],
         {"to_table": "gold.dim_time_of_day", "to_column": "time_key"}, "error", "batch"),
    ]
    assert _rows(citus_dsn, "SELECT rule_name FROM dwh_etl.quality_rules WHERE area = 'citus' ORDER BY 1") == \
           [("citus_fact_sales_date_fk",), ("citus_fact_sales_time_fk",)]
    # the sales dimensions are the only reference tables, and nothing is turned into a Citus local table
    # behind the plan's back (nothing else has a foreign key to them)
    assert _rows(citus_dsn, """
        SELECT table_name::text, citus_table_type FROM public.citus_tables
        WHERE citus_table_type <> 'distributed' ORDER BY 1""") == \
           [("sales.dim_customer", "reference"), ("sales.dim_product", "reference")]
    # their SCD2 no-overlap triggers, which Citus refuses on a reference table, became the exclusion
    # constraint, recorded in the plan
    guards = _rows(citus_dsn, """
        SELECT p.table_name, p.replaced_triggers,
               (SELECT count(*) FROM pg_trigger AS t WHERE t.tgrelid = p.table_name::regclass AND NOT t.tgisinternal),
               (SELECT pg_get_constraintdef(c.oid) FROM pg_constraint AS c
                WHERE c.conrelid = p.table_name::regclass AND c.contype = 'x')
        FROM dwh_etl.distribution_plan AS p
        WHERE p.kind = 'reference'
        ORDER BY 1""")
    assert guards == [
        ("sales.dim_customer",
         [{"triggers": ["scd_no_overlap_after_delete", "scd_no_overlap_after_insert", "scd_no_overlap_after_update"],
           "natural_key": ["customer_id"], "constraint": "dim_customer_no_overlap_ex"}],
         0, "EXCLUDE USING gist (customer_id WITH =, tstzrange(valid_from, valid_to) WITH &&)"),
        ("sales.dim_product",
         [{"triggers": ["scd_no_overlap_after_delete", "scd_no_overlap_after_insert", "scd_no_overlap_after_update"],
           "natural_key": ["product_id"], "constraint": "dim_product_no_overlap_ex"}],
         0, "EXCLUDE USING gist (product_id WITH =, tstzrange(valid_from, valid_to) WITH &&)"),
    ]
    # the engine's own tables stay plain tables on the coordinator
    engine = _rows(citus_dsn, """
        SELECT c.oid::regclass::text FROM pg_class AS c
        JOIN pg_namespace AS n ON n.oid = c.relnamespace
        JOIN pg_dist_partition AS d ON d.logicalrelid = c.oid
        WHERE n.nspname IN ('dwh_etl', 'dwh_lineage', 'dwh_staging')""")
    assert engine == []


def test_a_second_migrate_changes_nothing(citus_dsn):
    before = _rows(citus_dsn, "SELECT table_name::text, citus_table_type, colocation_id FROM public.citus_tables ORDER BY 1")
    result = migrate(citus_dsn, force=True)  # re-applies every procedure file, the plan's CALL included
    assert result.procedures_applied
    after = _rows(citus_dsn, "SELECT table_name::text, citus_table_type, colocation_id FROM public.citus_tables ORDER BY 1")
    assert after == before


def test_without_the_citus_extension_nothing_is_distributed(citus_dsn):
    name = f"nocitus_{uuid.uuid4().hex[:8]}"
    admin = psycopg.conninfo.make_conninfo(citus_dsn, dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        dsn = psycopg.conninfo.make_conninfo(citus_dsn, dbname=name)
        migrate(dsn)
        assert _rows(dsn, "SELECT count(*) FROM pg_extension WHERE extname = 'citus'") == [(0,)]
        assert _rows(dsn, "SELECT count(*), count(applied_at) FROM dwh_etl.distribution_plan")[0][1] == 0
        notices = []
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.add_notice_handler(lambda d: notices.append(d.message_primary))
            conn.execute("CALL dwh_etl.apply_distribution_plan()")
        assert notices == [f"distribution plan not applied: the citus extension is not installed in database {name}"]
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def test_a_planned_table_with_triggers_is_refused_unless_the_dba_allows_them(citus_dsn):
    """Citus takes a table with triggers (the SCD trigger API among them) only with
    citus.enable_unsafe_triggers = on: apply_distribution_plan says so instead of turning it on."""
    with psycopg.connect(citus_dsn) as conn:
        conn.execute("CREATE TABLE public.trig_t (id integer PRIMARY KEY)")
        conn.execute("CREATE FUNCTION public.trig_f() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END'")
        conn.execute("CREATE TRIGGER trig_x BEFORE INSERT ON public.trig_t FOR EACH ROW EXECUTE FUNCTION public.trig_f()")
        conn.execute("""INSERT INTO dwh_etl.distribution_plan (table_name, area, kind, distribution_column, apply_order)
                        VALUES ('public.trig_t', 'engine', 'distributed', 'id', 200)""")
        with pytest.raises(psycopg.errors.FeatureNotSupported, match=r"public\.trig_t \(trig_x\)") as err:
            conn.execute("CALL dwh_etl.apply_distribution_plan()")
        assert "citus.enable_unsafe_triggers" in err.value.diag.message_hint
        conn.rollback()
    assert _rows(citus_dsn, "SELECT to_regclass('public.trig_t') IS NULL") == [(True,)]


def test_sales_fact_load_from_silver_is_pushed_down_to_the_workers(citus_dsn):
    """The shape a Citus-friendly fact load has: INSERT..SELECT from the colocated silver table joined
    with the reference dimensions runs on the workers in its colocated form: each of the 32 tasks joins
    one shard of silver with the worker's copy of the dimensions and inserts into the fact's shard on
    the same worker; nothing is sent around (no subplan, no repartition), nothing through the coordinator."""
    plan = "\n".join(r for (r,) in _rows(citus_dsn, """
        EXPLAIN (COSTS OFF)
        INSERT INTO sales.fact_sales (sale_id, order_id, line_number, date_key, time_key, customer_key, product_key,
                                      quantity, unit_price, discount_amount, transaction_at, _batch_id, tax_amount)
        SELECT s.sale_id, s.order_id, s.line_number, to_char(s.transaction_at AT TIME ZONE 'UTC', 'YYYYMMDD')::int, 0,
               c.customer_key, p.product_key, s.quantity, s.unit_price, s.discount_amount, s.transaction_at,
               s._batch_id, s.tax_amount
        FROM silver.sales_sales AS s
        JOIN sales.dim_customer AS c ON c.customer_id = s.customer_id AND c.is_current
        JOIN sales.dim_product AS p ON p.product_id = s.product_id AND p.is_current
        ON CONFLICT (sale_id, date_key) DO NOTHING"""))
    assert "Task Count: 32" in plan
    assert "Insert on fact_sales_" in plan
    assert "Seq Scan on dim_customer_" in plan and "Seq Scan on dim_product_" in plan, plan
    assert "INSERT/SELECT method" not in plan and "Distributed Subplan" not in plan, plan


def _fingerprint_module():
    spec = importlib.util.spec_from_file_location("table_fingerprint", ROOT / "scripts" / "table_fingerprint.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_daily_builds_sales_and_devflow_as_on_one_node(citus_dsn):
    """The reproducible demo (scripts/table_fingerprint.py: migrate, daily, the next day's changes, daily
    again) on the cluster and in a database of the same server without Citus: every table of sales,
    devflow and the calendar holds the same rows. The one difference is expected: the quality rules that
    replace the fact's foreign keys (area citus) add their measurements."""
    tf = _fingerprint_module()
    demo = tf.build_demo(citus_dsn)
    assert [r["failed_steps"] for r in demo["runs"]] == [[], []]
    name = f"single_{uuid.uuid4().hex[:8]}"
    admin = psycopg.conninfo.make_conninfo(citus_dsn, dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        single = psycopg.conninfo.make_conninfo(citus_dsn, dbname=name)
        tf.build_demo(single)
        assert _rows(single, "SELECT count(*) FROM pg_extension WHERE extname = 'citus'") == [(0,)]
        # the facts numbered by an identity (devflow.fact_issue_processing, fact_performance_metrics) are
        # compared with their keys: step_fact numbers new rows in natural-key order, whatever the plan
        base, citus = tf.fingerprint(single), tf.fingerprint(citus_dsn)
        differences = tf.diff(base, citus)
        assert [d.split(":")[0] for d in differences] == ["dwh_lineage.quality_metrics"], differences
        gold = [t for t in base["tables"] if t.split(".")[0] in ("sales", "devflow", "gold")]
        assert len(gold) >= 15 and base["tables"]["sales.fact_sales"]["rows"] > 0
        query = """SELECT m.rule_id IS NOT NULL, q.area, count(*) FROM dwh_lineage.quality_metrics AS m
                   LEFT JOIN dwh_etl.quality_rules AS q ON q.rule_id = m.rule_id
                   GROUP BY 1, 2 ORDER BY 1, 2"""
        extra = [(True, "citus", 4)]  # 2 rules (the calendar keys), 2 runs
        assert sorted(_rows(citus_dsn, query)) == sorted(_rows(single, query) + extra)
        passed = _rows(citus_dsn, """SELECT bool_and(m.passed) FROM dwh_lineage.quality_metrics AS m
                                     JOIN dwh_etl.quality_rules AS q ON q.rule_id = m.rule_id WHERE q.area = 'citus'""")
        assert passed == [(True,)]
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def test_engine_fact_load_runs_on_the_workers(citus_dsn):
    """dwh_etl.step_fact on a distributed target (the sales fact): no temp staging on the coordinator;
    its write is one INSERT..SELECT from the colocated silver view joined on the workers with their copy
    of the reference dimensions, repartitioned worker to worker (the view's time-zone setting is a
    function call Citus computes once on the coordinator, which rules out the colocated form; Citus's
    own DEBUG says so), and EXPLAIN of the statement it ran shows 32 tasks and no pull to the coordinator."""
    messages = []
    with psycopg.connect(citus_dsn) as conn:
        conn.add_notice_handler(lambda d: messages.append(d.message_primary or ""))
        (spec,) = conn.execute("SELECT spec FROM dwh_etl.steps WHERE step_name = 'sales_fact_sales'").fetchone()
        conn.execute("SET LOCAL client_min_messages = debug1")
        conn.execute("CALL dwh_etl.step_fact(NULL, DATE '2099-01-15', %s)", (psycopg.types.json.Jsonb(spec),))
        conn.execute("RESET client_min_messages")
        writes = [m.split(" writes: ", 1)[1] for m in messages if " writes: " in m]
        assert len(writes) == 1, messages
        assert "_fact_rows" not in writes[0]
        assert any(m == "performing repartitioned INSERT ... SELECT" for m in messages), messages
        plan = "\n".join(r for (r,) in conn.execute(
            "EXPLAIN (COSTS OFF) " + writes[0].replace("$1", "NULL::uuid")).fetchall())
        conn.rollback()
    assert "INSERT/SELECT method: repartition" in plan
    assert "Task Count: 32" in plan
    assert "pull to coordinator" not in plan
    # the dimensions are read from their reference copies on the workers, not sent as subplans
    assert "Seq Scan on dim_customer_" in plan and "Seq Scan on dim_product_" in plan, plan
    assert not any("pull to coordinator" in m or "collecting INSERT ... SELECT results on coordinator" in m
                   for m in messages), messages


def test_reference_dimension_refuses_overlapping_versions(citus_dsn):
    """On Citus the SCD2 guard of a reference dimension is the exclusion constraint that replaced its
    no-overlap triggers: a version overlapping another version of its key is refused (23P01), as on one
    node."""
    with psycopg.connect(citus_dsn) as conn:
        conn.execute("""INSERT INTO sales.dim_customer (customer_id, full_name, valid_from, valid_to, is_current,
                                                        version, _batch_id)
                        VALUES (-7, 'a', '2020-01-01', '2020-06-01', false, 1, gen_random_uuid())""")
        with pytest.raises(psycopg.errors.ExclusionViolation):
            conn.execute("""INSERT INTO sales.dim_customer (customer_id, full_name, valid_from, valid_to, is_current,
                                                            version, _batch_id)
                            VALUES (-7, 'b', '2020-03-01', '2020-09-01', false, 2, gen_random_uuid())""")
        conn.rollback()


def test_sales_ties_on_the_distributed_silver_table(citus_dsn):
    """Attack 13e on the cluster (after the demo above): silver.sales_sales is distributed, so the silver
    load reads silver's states back with the window's keys as an array. A file row of a loaded sale with
    its change time and another quantity (a tie with silver's state), and two rows of a new sale with one
    change time and other quantities (a tie in the window): the first delivered stay, the others are
    quarantined; the step completes."""
    cols = ["sale_id", "order_id", "line_number", "customer_id", "product_id", "quantity", "unit_price",
            "discount_amount", "transaction_date", "created_at", "updated_at"]
    with psycopg.connect(citus_dsn, autocommit=True) as conn:
        sale = conn.execute("""SELECT sale_id, order_id, line_number, customer_id, product_id, quantity, unit_price,
                                      discount_amount, transaction_at, source_updated_at
                               FROM silver.sales_sales WHERE NOT is_deleted ORDER BY sale_id LIMIT 1""").fetchone()
        if sale is None:
            pytest.skip("needs the demo of test_daily_builds_sales_and_devflow_as_on_one_node")
        new_id = conn.execute("SELECT max(sale_id) + 1000 FROM silver.sales_sales").fetchone()[0]

        def rec(sale_id, quantity):
            at = sale[9].isoformat()
            return [str(sale_id), str(sale[1]), str(sale[2]), str(sale[3]), str(sale[4]), str(quantity), str(sale[6]),
                    str(sale[7]), sale[8].isoformat(), at, at]

        conn.execute("CALL dwh_etl.file_begin(p_target => 'bronze.sales_sales', p_file_name => 'tie.csv')")
        with conn.cursor().copy(f"COPY bronze.sales_sales_landing ({', '.join(cols)}) FROM STDIN") as cp:
            for r in (rec(sale[0], sale[5] + 1), rec(new_id, 1), rec(new_id, 2)):
                cp.write_row(r)
        conn.execute("CALL dwh_etl.file_end()")
        (spec,) = conn.execute("SELECT spec FROM dwh_etl.steps WHERE step_name = 'sales_silver_sales'").fetchone()
        # the demo's reproducible days lie ahead: the run date is the sale's (its times in the sane range)
        conn.execute("CALL dwh_etl.step_silver(NULL, %s, %s)", (max(sale[8], sale[9]).date(), psycopg.types.json.Jsonb(spec)))
        assert conn.execute("SELECT sale_id, quantity FROM silver.sales_sales WHERE sale_id IN (%s, %s) ORDER BY 1",
                            (sale[0], new_id)).fetchall() == [(sale[0], sale[5]), (new_id, 1)]
        tied = conn.execute("""SELECT record_key FROM dwh_etl.quarantine
                               WHERE target_table = 'silver.sales_sales' AND resolved_at IS NULL
                                 AND array_to_string(reasons, ' ') LIKE '%%a tie with different values%%'
                               ORDER BY 1""").fetchall()
        assert tied == sorted([(str(sale[0]),), (str(new_id),)]), tied
        # the reconciliation counts what was written (the new sale): the two losers are quarantined
        assert conn.execute("""SELECT notes FROM dwh_lineage.table_lineage WHERE target_table = 'silver.sales_sales'
                               ORDER BY lineage_id DESC LIMIT 1""").fetchone()[0] == (
            "3 bronze rows = 1 upserted + 0 unchanged + 2 quarantined + 0 duplicates collapsed; 0 deleted")
