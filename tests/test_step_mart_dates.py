"""The mart kind's table form (issue 10): a table rebuilt for the keys an upstream step queued, and only
those, by dwh_etl.step_mart (spec: table, view, key_column, queue, lineage_source)."""

from __future__ import annotations

import json
import threading

import psycopg
import pytest

RUN_SQL = "CALL dwh_etl.run_pipeline(p_pipeline => %s, p_run_date => CURRENT_DATE, p_run_id => NULL)"
STEP_SQL = "CALL dwh_etl.step_mart(p_run_id => NULL, p_run_date => CURRENT_DATE, p_spec => %s::jsonb)"
SPEC = {"table": "public.toy_agg", "view": "public.toy_agg_rows", "key_column": "day",
        "queue": {"table": "public.toy_queue", "column": "day"}, "lineage_source": "public.toy_src"}


def rows(conn, sql, params=None):
    return conn.execute(sql, params).fetchall()


@pytest.fixture
def toy(conn):
    conn.execute("""
        CREATE TABLE public.toy_src (day integer NOT NULL, amount integer NOT NULL);
        CREATE TABLE public.toy_agg (day integer NOT NULL, n integer NOT NULL, total integer NOT NULL,
                                     _batch_id uuid NOT NULL, PRIMARY KEY (day));
        CREATE TABLE public.toy_queue (day integer PRIMARY KEY);
        CREATE VIEW public.toy_agg_rows AS
        SELECT s.day, count(*)::integer AS n, sum(s.amount)::integer AS total
        FROM public.toy_src AS s GROUP BY s.day;
        INSERT INTO public.toy_src VALUES (1, 10), (1, 5), (2, 7), (3, 1);
        INSERT INTO public.toy_agg VALUES (1, 1, 10, gen_random_uuid()), (2, 0, 0, gen_random_uuid()),
                                          (3, 9, 99, gen_random_uuid());
        INSERT INTO public.toy_queue VALUES (1), (2);
        GRANT SELECT, INSERT, UPDATE, DELETE ON public.toy_agg, public.toy_queue TO etl_service;
        GRANT SELECT ON public.toy_agg_rows TO etl_service;
    """)
    return conn


def test_only_the_queued_keys_are_rebuilt_and_the_queue_is_consumed(toy):
    toy.execute(STEP_SQL, (json.dumps(SPEC),))
    assert rows(toy, "SELECT day, n, total FROM public.toy_agg ORDER BY day") == [(1, 2, 15), (2, 1, 7), (3, 9, 99)]
    assert rows(toy, "SELECT day FROM public.toy_queue") == []
    assert rows(toy, """SELECT source_table, rows_inserted, rows_deleted FROM dwh_lineage.table_lineage
                        WHERE target_table = 'public.toy_agg'""") == [("public.toy_src", 2, 2)]


def test_a_key_whose_rows_vanished_is_emptied(toy):
    toy.execute("DELETE FROM public.toy_src WHERE day = 2")
    toy.execute(STEP_SQL, (json.dumps(SPEC),))
    assert rows(toy, "SELECT day FROM public.toy_agg ORDER BY day") == [(1,), (3,)]


def test_rerun_with_an_empty_queue_is_a_no_op(toy):
    toy.execute(STEP_SQL, (json.dumps(SPEC),))
    before = rows(toy, "SELECT day, n, total, _batch_id FROM public.toy_agg ORDER BY day")
    toy.execute(STEP_SQL, (json.dumps(SPEC),))
    assert rows(toy, "SELECT day, n, total, _batch_id FROM public.toy_agg ORDER BY day") == before


def test_a_key_queued_during_the_run_survives_for_the_next_run(toy, dsn):
    with psycopg.connect(dsn) as step, psycopg.connect(dsn, autocommit=True) as other:
        step.execute(STEP_SQL, (json.dumps(SPEC),))  # not committed yet: queue rows 1 and 2 locked
        # a concurrent fact load queues a new day (lands now) and re-queues day 1 (waits for our commit)
        other.execute("INSERT INTO public.toy_queue VALUES (3)")
        requeue = threading.Thread(
            target=lambda: other.execute("INSERT INTO public.toy_queue VALUES (1) ON CONFLICT DO NOTHING"))
        requeue.start()
        requeue.join(1.0)
        assert requeue.is_alive()  # blocked on the locked queue row
        step.commit()
        requeue.join(10)
        assert not requeue.is_alive()
    assert rows(toy, "SELECT day FROM public.toy_queue ORDER BY day") == [(1,), (3,)]
    assert rows(toy, "SELECT day, n, total FROM public.toy_agg ORDER BY day") == [(1, 2, 15), (2, 1, 7), (3, 9, 99)]
    toy.execute(STEP_SQL, (json.dumps(SPEC),))
    assert rows(toy, "SELECT day, n, total FROM public.toy_agg ORDER BY day") == [(1, 2, 15), (2, 1, 7), (3, 1, 1)]
    assert rows(toy, "SELECT day FROM public.toy_queue") == []


@pytest.mark.parametrize("change", [
    {"table": "public.no_such_table"},
    {"key_column": None},
    {"key_column": "nope"},
    {"queue": {"table": "public.toy_queue"}},
    {"queue": {"table": "public.toy_queue", "column": "nope"}},
    {"view": "public.toy_src"},  # its column amount is not a column of the table
])
def test_a_bad_spec_fails_the_step_naming_it_before_any_work(toy, change):
    spec = {k: v for k, v in {**SPEC, **change}.items() if v is not None}
    toy.execute("CALL dwh_etl.register_pipeline(p_pipeline => 'toys', p_description => 'test')")
    toy.execute("CALL dwh_etl.register_steps(p_pipeline => 'toys', p_area => 'sales', p_steps => "
                "jsonb_build_array(jsonb_build_object('step', 'toy_mart', 'kind', 'mart', 'layer', 'mart', "
                "'spec', %s::jsonb)))", (json.dumps(spec),))
    with pytest.raises(psycopg.Error):
        toy.execute(RUN_SQL, ("toys",))
    state, msg = toy.execute("""SELECT s.sqlstate, s.error_message FROM dwh_lineage.step_runs AS s
                                JOIN dwh_lineage.pipeline_runs AS r USING (run_id)
                                WHERE r.pipeline_name = 'toys'""").fetchone()
    assert state == "22023" and "mart step toy_mart" in msg, msg
    assert rows(toy, "SELECT day FROM public.toy_queue ORDER BY day") == [(1,), (2,)]
    assert rows(toy, "SELECT day, n, total FROM public.toy_agg ORDER BY day") == [(1, 1, 10), (2, 0, 0), (3, 9, 99)]


def test_a_typed_table_mart_runs_in_a_pipeline_with_its_run_id(toy):
    toy.execute("CALL dwh_etl.register_pipeline(p_pipeline => 'toys', p_description => 'test')")
    toy.execute("CALL dwh_etl.register_steps(p_pipeline => 'toys', p_area => 'sales', p_steps => "
                "jsonb_build_array(jsonb_build_object('step', 'toy_mart', 'kind', 'mart', 'layer', 'mart', "
                "'spec', %s::jsonb)))", (json.dumps(SPEC),))
    toy.execute(RUN_SQL, ("toys",))
    run_id, batch = toy.execute("SELECT run_id, batch_id FROM dwh_lineage.pipeline_runs "
                                "WHERE pipeline_name = 'toys'").fetchone()
    assert rows(toy, "SELECT DISTINCT _batch_id FROM public.toy_agg WHERE day IN (1, 2)") == [(batch,)]
    assert rows(toy, "SELECT run_id FROM dwh_lineage.table_lineage WHERE target_table = 'public.toy_agg'") == [(run_id,)]


def test_sales_agg_daily_sales_is_a_typed_mart_step(conn):
    kind, proc, spec = conn.execute("SELECT kind, procedure_name, spec FROM dwh_etl.steps "
                                    "WHERE step_name = 'sales_agg_daily_sales' AND pipeline_name = 'daily'").fetchone()
    assert (kind, proc, spec["table"], spec["view"]) == ("mart", "dwh_etl.step_mart", "sales.agg_daily_sales",
                                                         "silver.sales_agg_daily_sales_rows")
    assert conn.execute("SELECT to_regprocedure('sales.refresh_agg_daily_sales(bigint, date)')").fetchone()[0] is None
    assert conn.execute("SELECT has_table_privilege('analyst_role', 'silver.sales_agg_daily_sales_rows', 'SELECT')"
                        ).fetchone()[0] is False
