"""The pipeline runner dwh_etl.run_pipeline and the step registry (dwh_etl.register_steps, dwh_etl.steps).

Each test registers its own throwaway pipeline whose steps are procedures created in schema public,
with the step signature (p_run_id bigint, p_run_date date). Uses the `conn` fixture of tests/conftest.py
(autocommit psycopg connection to a fresh, fully migrated database) and `dsn` for second sessions.
"""

from __future__ import annotations

import datetime as dt
import re

import psycopg
import pytest
from psycopg.types.json import Jsonb

RUN_DATE = dt.date(2025, 1, 31)


def scalar(conn, sql, params=None):
    return conn.execute(sql, params).fetchone()[0]


def rows(conn, sql, params=None):
    return conn.execute(sql, params).fetchall()


def register(conn, pipeline, steps, area="test", schedules=None):
    conn.execute(
        "CALL dwh_etl.register_pipeline(p_pipeline => %s, p_description => %s, p_schedules => %s)",
        (pipeline, f"test pipeline {pipeline}", schedules or []),
    )
    conn.execute(
        "CALL dwh_etl.register_steps(p_pipeline => %s, p_area => %s, p_steps => %s)",
        (pipeline, area, Jsonb(steps)),
    )


def run(conn, pipeline, run_date=RUN_DATE, trigger=None):
    """CALL run_pipeline; returns the run id (the INOUT parameter)."""
    if trigger is None:
        return scalar(
            conn,
            "CALL dwh_etl.run_pipeline(p_pipeline => %s, p_run_date => %s, p_run_id => NULL)",
            (pipeline, run_date),
        )
    return scalar(
        conn,
        "CALL dwh_etl.run_pipeline(p_pipeline => %s, p_run_date => %s, p_run_id => NULL, p_trigger => %s)",
        (pipeline, run_date, trigger),
    )


def lock_key_sql():
    return "SELECT pg_advisory_lock(hashtextextended('dwh_etl.run_pipeline:' || %s, 0))"


@pytest.fixture
def step_log(conn):
    """public.step_log records which step ran, in which order, for which run; public.make_step(name, rows)
    creates a step procedure public.step_<name> that appends one row to step_log and logs `rows` rows
    inserted into public.step_log."""
    conn.execute(
        """
        CREATE TABLE public.step_log (
            seq      bigint GENERATED ALWAYS AS IDENTITY,
            step     text NOT NULL,
            run_id   bigint NOT NULL,
            run_date date NOT NULL
        )
        """
    )
    return conn


def make_step(conn, name, rows_inserted=1, sleep_s=0):
    conn.execute(
        f"""
        CREATE PROCEDURE public.step_{name}(p_run_id bigint, p_run_date date)
        LANGUAGE plpgsql
        AS $$
        BEGIN
            PERFORM pg_sleep({sleep_s});
            INSERT INTO public.step_log (step, run_id, run_date) VALUES ('{name}', p_run_id, p_run_date);
            PERFORM dwh_lineage.log_transformation(
                in_source_table  => 'public.source_{name}',
                in_target_table  => 'public.step_log',
                in_batch_id      => NULL,
                in_rows_inserted => {rows_inserted});
        END;
        $$
        """
    )


# ---------------------------------------------------------------------------------------------
# Order, records, metrics
# ---------------------------------------------------------------------------------------------


def test_steps_run_in_dependency_order_and_each_is_recorded(step_log):
    conn = step_log
    # names chosen so that alphabetical order is not the dependency order
    make_step(conn, "z_extract", rows_inserted=10, sleep_s=0.05)
    make_step(conn, "m_clean", rows_inserted=7)
    make_step(conn, "b_side", rows_inserted=3)
    make_step(conn, "a_report", rows_inserted=1)
    register(conn, "ordered", [
        {"step": "a_report", "procedure": "public.step_a_report", "layer": "mart",
         "depends_on": ["m_clean", "b_side"]},
        {"step": "m_clean", "procedure": "public.step_m_clean", "layer": "silver", "depends_on": ["z_extract"]},
        {"step": "b_side", "procedure": "public.step_b_side", "layer": "silver", "depends_on": ["z_extract"]},
        {"step": "z_extract", "procedure": "public.step_z_extract", "layer": "bronze"},
    ])
    notices = []
    conn.add_notice_handler(lambda d: notices.append(d.message_primary))

    run_id = run(conn, "ordered")

    assert rows(conn, "SELECT step, run_id, run_date FROM public.step_log ORDER BY seq") == [
        ("z_extract", run_id, RUN_DATE),
        ("b_side", run_id, RUN_DATE),
        ("m_clean", run_id, RUN_DATE),
        ("a_report", run_id, RUN_DATE),
    ]
    assert rows(conn, """
        SELECT step_name, procedure_name, step_order, status, rows_read, rows_written,
               sqlstate, error_message,
               completed_at >= started_at, duration_ms IS NOT NULL
        FROM dwh_lineage.step_runs
        WHERE run_id = %s
        ORDER BY step_order
    """, (run_id,)) == [
        ("z_extract", "public.step_z_extract", 1, "completed", 10, 10, None, None, True, True),
        ("b_side", "public.step_b_side", 2, "completed", 3, 3, None, None, True, True),
        ("m_clean", "public.step_m_clean", 3, "completed", 7, 7, None, None, True, True),
        ("a_report", "public.step_a_report", 4, "completed", 1, 1, None, None, True, True),
    ]
    # the step that slept 50 ms took at least that long
    assert scalar(conn, "SELECT duration_ms FROM dwh_lineage.step_runs WHERE run_id = %s AND step_name = 'z_extract'",
                  (run_id,)) >= 50
    # steps' lineage is stamped with the run, the run's batch and the step
    assert rows(conn, """
        SELECT tl.step_name, tl.source_table, tl.rows_inserted, tl.batch_id = pr.batch_id
        FROM dwh_lineage.table_lineage AS tl
        JOIN dwh_lineage.pipeline_runs AS pr ON pr.run_id = tl.run_id
        WHERE tl.run_id = %s
        ORDER BY tl.lineage_id
    """, (run_id,)) == [
        ("z_extract", "public.source_z_extract", 10, True),
        ("b_side", "public.source_b_side", 3, True),
        ("m_clean", "public.source_m_clean", 7, True),
        ("a_report", "public.source_a_report", 1, True),
    ]
    run_row = conn.execute("""
        SELECT pipeline_name, run_date, status, error_message, completed_at IS NOT NULL,
               parameters, metrics - 'duration_seconds', (metrics->>'duration_seconds')::numeric
        FROM dwh_lineage.pipeline_runs
        WHERE run_id = %s
    """, (run_id,)).fetchone()
    assert run_row[:7] == (
        "ordered", RUN_DATE, "completed", None, True,
        {"run_date": "2025-01-31", "trigger": "manual"},
        {"steps": 4, "failed_steps": 0, "skipped_steps": 0, "rows_written": 21},
    )
    assert run_row[7] >= 0.05
    # progress is streamed as notices
    assert f"run {run_id} of pipeline ordered for 2025-01-31 started" in notices
    assert "step z_extract started" in notices
    assert any(re.fullmatch(r"step a_report done: 1 rows read, 1 written in \d+ ms", n) for n in notices)
    # the session settings of the run are cleared afterwards
    assert rows(conn, "SELECT * FROM dwh_lineage._current_run()") == [(None, None, None)]


def test_disabled_step_is_not_run(step_log):
    conn = step_log
    make_step(conn, "first")
    make_step(conn, "second")
    register(conn, "partly", [
        {"step": "first", "procedure": "public.step_first", "layer": "bronze"},
        {"step": "second", "procedure": "public.step_second", "layer": "silver", "depends_on": ["first"]},
    ])
    conn.execute("UPDATE dwh_etl.steps SET is_enabled = false WHERE pipeline_name = 'partly' AND step_name = 'second'")

    run_id = run(conn, "partly")

    assert rows(conn, "SELECT step FROM public.step_log ORDER BY seq") == [("first",)]
    assert rows(conn, "SELECT step_name, status FROM dwh_lineage.step_runs WHERE run_id = %s", (run_id,)) == [
        ("first", "completed"),
    ]


# ---------------------------------------------------------------------------------------------
# Failure and rerun
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def failing_pipeline(conn):
    """Pipeline 'flaky': one -> two -> three. Step two writes, then fails while public.switch says so.
    Every step is idempotent (ON CONFLICT DO NOTHING on (run_date, step))."""
    conn.execute("""
        CREATE TABLE public.outcome (
            run_date date NOT NULL,
            step     text NOT NULL,
            CONSTRAINT outcome_pk PRIMARY KEY (run_date, step)
        )
    """)
    conn.execute("CREATE TABLE public.switch (fail boolean NOT NULL)")
    conn.execute("INSERT INTO public.switch VALUES (true)")
    for name in ("one", "two", "three"):
        fail = """
            IF (SELECT fail FROM public.switch) THEN
                RAISE EXCEPTION 'step two exploded on %', p_run_date
                    USING ERRCODE = '22023', DETAIL = 'switch is on', HINT = 'turn the switch off';
            END IF;
        """ if name == "two" else ""
        conn.execute(f"""
            CREATE PROCEDURE public.step_{name}(p_run_id bigint, p_run_date date)
            LANGUAGE plpgsql
            AS $$
            DECLARE
                v_rows bigint;
            BEGIN
                INSERT INTO public.outcome (run_date, step) VALUES (p_run_date, '{name}')
                ON CONFLICT DO NOTHING;
                GET DIAGNOSTICS v_rows = ROW_COUNT;
                PERFORM dwh_lineage.log_transformation(
                    in_source_table => 'public.switch', in_target_table => 'public.outcome',
                    in_batch_id => NULL, in_rows_inserted => v_rows);
                {fail}
            END;
            $$
        """)
    register(conn, "flaky", [
        {"step": "one", "procedure": "public.step_one", "layer": "bronze"},
        {"step": "two", "procedure": "public.step_two", "layer": "silver", "depends_on": ["one"]},
        {"step": "three", "procedure": "public.step_three", "layer": "gold", "depends_on": ["two"]},
    ])
    return conn


def test_failing_step_is_rolled_back_recorded_and_its_dependents_skipped(failing_pipeline):
    conn = failing_pipeline

    with pytest.raises(psycopg.Error) as excinfo:
        run(conn, "flaky")

    run_id = scalar(conn, "SELECT max(run_id) FROM dwh_lineage.pipeline_runs WHERE pipeline_name = 'flaky'")
    err = excinfo.value
    assert err.sqlstate == "DW003"
    assert err.diag.message_primary == (f"run {run_id} of pipeline flaky failed at step two: step two exploded on 2025-01-31"
                                        " (1 step(s) failed, 1 skipped, the others completed)")
    assert err.diag.message_detail == f"run_id={run_id}"
    assert f"WHERE run_id = {run_id}" in err.diag.message_hint
    # step one's writes are kept, step two's are rolled back, step three (depends on two) is skipped
    assert rows(conn, "SELECT run_date, step FROM public.outcome ORDER BY step") == [(RUN_DATE, "one")]
    step_rows = rows(conn, """
        SELECT step_name, step_order, status, sqlstate, error_message, error_detail, error_hint,
               completed_at IS NOT NULL, duration_ms IS NOT NULL
        FROM dwh_lineage.step_runs
        WHERE run_id = %s
        ORDER BY step_order
    """, (run_id,))
    assert step_rows == [
        ("one", 1, "completed", None, None, None, None, True, True),
        ("two", 2, "failed", "22023", "step two exploded on 2025-01-31", "switch is on", "turn the switch off",
         True, True),
        ("three", 3, "skipped", None, "skipped: depends on two, which did not complete", None, None, True, True),
    ]
    context = scalar(conn, "SELECT error_context FROM dwh_lineage.step_runs WHERE run_id = %s AND step_name = 'two'",
                     (run_id,))
    assert context.startswith("PL/pgSQL function step_two(bigint,date) line ")
    assert "at RAISE" in context
    # step two's lineage row was rolled back with its writes
    assert rows(conn, "SELECT step_name FROM dwh_lineage.table_lineage WHERE run_id = %s ORDER BY lineage_id",
                (run_id,)) == [("one",)]
    assert rows(conn, """
        SELECT status, error_message, completed_at IS NOT NULL, metrics->'steps', metrics->'rows_written'
        FROM dwh_lineage.pipeline_runs
        WHERE run_id = %s
    """, (run_id,)) == [
        ("failed", "step two failed: step two exploded on 2025-01-31 (1 step(s) failed, 1 skipped)", True, 3, 1),
    ]
    # the lock is released: nothing is left 'running' and another session can take it
    with psycopg.connect(conn.info.dsn, autocommit=True) as other:
        assert scalar(other, "SELECT pg_try_advisory_lock(hashtextextended('dwh_etl.run_pipeline:flaky', 0))") is True


def test_rerun_after_fixing_the_cause_completes_without_duplicates(failing_pipeline):
    conn = failing_pipeline
    with pytest.raises(psycopg.Error) as excinfo:
        run(conn, "flaky")
    assert excinfo.value.sqlstate == "DW003"

    conn.execute("UPDATE public.switch SET fail = false")
    run_id = run(conn, "flaky")

    assert rows(conn, "SELECT run_date, step FROM public.outcome ORDER BY step") == [
        (RUN_DATE, "one"), (RUN_DATE, "three"), (RUN_DATE, "two"),
    ]
    assert rows(conn, """
        SELECT step_name, status, rows_written
        FROM dwh_lineage.step_runs
        WHERE run_id = %s
        ORDER BY step_order
    """, (run_id,)) == [("one", "completed", 0), ("two", "completed", 1), ("three", "completed", 1)]
    assert rows(conn, """
        SELECT status, error_message
        FROM dwh_lineage.pipeline_runs
        WHERE pipeline_name = 'flaky'
        ORDER BY run_id
    """) == [("failed", "step two failed: step two exploded on 2025-01-31 (1 step(s) failed, 1 skipped)"), ("completed", None)]


# ---------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------


def test_unknown_pipeline_raises_dw001_with_the_registered_ones_in_the_hint(conn):
    with pytest.raises(psycopg.Error) as excinfo:
        run(conn, "nope")

    assert excinfo.value.sqlstate == "DW001"
    assert excinfo.value.diag.message_primary == "unknown pipeline 'nope'"
    registered = [r[0] for r in conn.execute("SELECT pipeline_name FROM dwh_etl.pipelines ORDER BY 1").fetchall()]
    assert "daily" in registered
    assert excinfo.value.diag.message_hint == "registered pipelines: " + ", ".join(registered)
    assert scalar(conn, "SELECT count(*) FROM dwh_lineage.pipeline_runs") == 0


def test_null_run_date_means_today_in_utc_whatever_the_client_zone(step_log):
    conn = step_log
    make_step(conn, "only")
    register(conn, "nulldate", [{"step": "only", "procedure": "public.step_only", "layer": "bronze"}])
    conn.execute("SET TimeZone = 'Pacific/Kiritimati'")  # UTC+14: its date is often tomorrow's

    run(conn, "nulldate", run_date=None)

    utc_today = scalar(conn, "SELECT (now() AT TIME ZONE 'UTC')::date")
    assert rows(conn, "SELECT run_date FROM dwh_lineage.pipeline_runs") == [(utc_today,)]
    assert rows(conn, "SELECT step, run_date FROM public.step_log") == [("only", utc_today)]


def test_unknown_trigger_is_rejected(step_log):
    conn = step_log
    make_step(conn, "only")
    register(conn, "trig", [{"step": "only", "procedure": "public.step_only", "layer": "bronze"}])

    with pytest.raises(psycopg.errors.InvalidParameterValue) as excinfo:
        run(conn, "trig", trigger="webhook")

    assert excinfo.value.diag.message_primary == "p_trigger must be manual or cron, got 'webhook'"
    assert scalar(conn, "SELECT count(*) FROM dwh_lineage.pipeline_runs") == 0


def test_missing_step_procedure_fails_the_step_with_a_clear_message(step_log):
    conn = step_log
    make_step(conn, "real")
    register(conn, "ghosty", [
        {"step": "real", "procedure": "public.step_real", "layer": "bronze"},
        {"step": "ghost", "procedure": "public.no_such_step", "layer": "silver", "depends_on": ["real"]},
    ])

    with pytest.raises(psycopg.Error) as excinfo:
        run(conn, "ghosty")

    assert excinfo.value.sqlstate == "DW003"
    run_id = scalar(conn, "SELECT max(run_id) FROM dwh_lineage.pipeline_runs")
    assert rows(conn, """
        SELECT step_name, status, sqlstate, error_message, error_hint
        FROM dwh_lineage.step_runs
        WHERE run_id = %s
        ORDER BY step_order
    """, (run_id,)) == [
        ("real", "completed", None, None, None),
        ("ghost", "failed", "42883",
         "step procedure public.no_such_step(p_run_id bigint, p_run_date date) does not exist",
         "run dwh migrate, or fix procedure_name in dwh_etl.steps"),
    ]
    assert scalar(conn, "SELECT error_message FROM dwh_lineage.pipeline_runs WHERE run_id = %s", (run_id,)) == (
        "step ghost failed: step procedure public.no_such_step(p_run_id bigint, p_run_date date) does not exist"
    )


def test_unqualified_step_procedure_fails_the_step(conn):
    register(conn, "unqualified", [{"step": "bare", "procedure": "bare_name", "layer": "bronze"}])

    with pytest.raises(psycopg.Error) as excinfo:
        run(conn, "unqualified")

    assert excinfo.value.sqlstate == "DW003"
    assert rows(conn, "SELECT step_name, status, sqlstate, error_message FROM dwh_lineage.step_runs") == [
        ("bare", "failed", "22023", "step procedure bare_name must be schema-qualified"),
    ]


# ---------------------------------------------------------------------------------------------
# Concurrency
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def other_session(dsn):
    with psycopg.connect(dsn, autocommit=True) as other:
        yield other


def test_manual_run_of_a_running_pipeline_raises_dw002(step_log, other_session):
    conn = step_log
    make_step(conn, "only")
    register(conn, "busy", [{"step": "only", "procedure": "public.step_only", "layer": "bronze"}])
    other_session.execute(lock_key_sql(), ("busy",))

    with pytest.raises(psycopg.Error) as excinfo:
        run(conn, "busy")

    assert excinfo.value.sqlstate == "DW002"
    assert excinfo.value.diag.message_primary == "pipeline busy is already running"
    assert excinfo.value.diag.message_detail == "run ? started at ? by backend ?"
    assert excinfo.value.diag.message_hint.startswith("wait for it to finish")
    assert scalar(conn, "SELECT count(*) FROM dwh_lineage.pipeline_runs") == 0
    assert scalar(conn, "SELECT count(*) FROM public.step_log") == 0

    # once the other session lets go, the pipeline runs
    other_session.execute("SELECT pg_advisory_unlock_all()")
    run_id = run(conn, "busy")
    assert rows(conn, "SELECT step, run_id FROM public.step_log") == [("only", run_id)]


def test_cron_run_of_a_running_pipeline_records_a_skipped_run(step_log, other_session):
    conn = step_log
    make_step(conn, "only")
    register(conn, "busy", [{"step": "only", "procedure": "public.step_only", "layer": "bronze"}])
    other_session.execute(lock_key_sql(), ("busy",))

    run_id = run(conn, "busy", trigger="cron")

    assert rows(conn, """
        SELECT run_id, pipeline_name, run_date, status, completed_at IS NOT NULL, parameters, error_message
        FROM dwh_lineage.pipeline_runs
    """) == [(run_id, "busy", RUN_DATE, "skipped", True, {"trigger": "cron"}, "pipeline already running (run ?)")]
    assert scalar(conn, "SELECT count(*) FROM dwh_lineage.step_runs") == 0
    assert scalar(conn, "SELECT count(*) FROM public.step_log") == 0


def test_run_left_running_by_a_dead_session_is_closed_as_abandoned(step_log):
    conn = step_log
    make_step(conn, "only")
    register(conn, "revived", [{"step": "only", "procedure": "public.step_only", "layer": "bronze"}])
    register(conn, "bystander", [{"step": "only", "procedure": "public.step_only", "layer": "bronze"}])
    dead_run = scalar(conn, """
        INSERT INTO dwh_lineage.pipeline_runs (pipeline_name, run_date, status, backend_pid)
        VALUES ('revived', DATE '2025-01-30', 'running', 999999)
        RETURNING run_id
    """)
    conn.execute("""
        INSERT INTO dwh_lineage.step_runs (run_id, step_name, procedure_name, step_order)
        VALUES (%s, 'only', 'public.step_only', 1)
    """, (dead_run,))
    other_run = scalar(conn, """
        INSERT INTO dwh_lineage.pipeline_runs (pipeline_name, run_date, status)
        VALUES ('bystander', DATE '2025-01-30', 'running')
        RETURNING run_id
    """)

    run_id = run(conn, "revived")

    assert rows(conn, """
        SELECT run_id, status, error_message, completed_at IS NOT NULL
        FROM dwh_lineage.pipeline_runs
        ORDER BY run_id
    """) == [
        (dead_run, "failed", "abandoned: the session running it ended before it finished", True),
        (other_run, "running", None, False),  # another pipeline's run is not touched
        (run_id, "completed", None, True),
    ]
    assert rows(conn, """
        SELECT run_id, status, error_message, completed_at IS NOT NULL
        FROM dwh_lineage.step_runs
        ORDER BY run_id
    """) == [
        (dead_run, "failed", "abandoned: the session running this step ended before it finished", True),
        (run_id, "completed", None, True),
    ]


# ---------------------------------------------------------------------------------------------
# Step graph checks at registration
# ---------------------------------------------------------------------------------------------


def steps_of(conn, pipeline):
    return rows(conn, """
        SELECT step_name, procedure_name, depends_on
        FROM dwh_etl.steps
        WHERE pipeline_name = %s
        ORDER BY step_name
    """, (pipeline,))


@pytest.fixture
def chain(conn):
    """Pipeline 'chain' with steps a <- b <- c (c depends on b, b on a)."""
    register(conn, "chain", [
        {"step": "a", "procedure": "public.step_a", "layer": "bronze"},
        {"step": "b", "procedure": "public.step_b", "layer": "silver", "depends_on": ["a"]},
        {"step": "c", "procedure": "public.step_c", "layer": "gold", "depends_on": ["b"]},
    ])
    return conn


CHAIN = [("a", "public.step_a", []), ("b", "public.step_b", ["a"]), ("c", "public.step_c", ["b"])]


def test_register_steps_records_steps_and_declared_table_dependencies(conn):
    register(conn, "declared", [
        {"step": "load", "procedure": "public.load", "layer": "silver",
         "sources": ["public.raw_a", "public.raw_b"], "targets": ["public.clean"], "description": "loads"},
    ])
    assert rows(conn, """
        SELECT step_name, procedure_name, depends_on, source_tables, target_tables, layer, area, is_enabled, description
        FROM dwh_etl.steps WHERE pipeline_name = 'declared'
    """) == [("load", "public.load", [], ["public.raw_a", "public.raw_b"], ["public.clean"], "silver", "test", True,
              "loads")]
    assert rows(conn, """
        SELECT upstream_table, downstream_table, dependency_type
        FROM dwh_lineage.table_dependencies
        WHERE downstream_table = 'public.clean'
        ORDER BY upstream_table
    """) == [("public.raw_a", "public.clean", "data"), ("public.raw_b", "public.clean", "data")]


def test_register_steps_removes_the_areas_unlisted_steps(chain):
    conn = chain
    register(conn, "chain", [
        {"step": "a", "procedure": "public.step_a2", "layer": "bronze"},
        {"step": "b", "procedure": "public.step_b", "layer": "silver", "depends_on": ["a"]},
    ])
    assert steps_of(conn, "chain") == [("a", "public.step_a2", []), ("b", "public.step_b", ["a"])]


def test_cycle_is_rejected_at_registration(conn):
    with pytest.raises(psycopg.errors.InvalidRecursion) as excinfo:
        register(conn, "cyclic", [
            {"step": "a", "procedure": "public.step_a", "layer": "bronze", "depends_on": ["b"]},
            {"step": "b", "procedure": "public.step_b", "layer": "silver", "depends_on": ["a"]},
        ])
    assert excinfo.value.sqlstate == "42P19"
    assert re.fullmatch(r"dependency cycle in pipeline cyclic: step [ab] depends on itself",
                        excinfo.value.diag.message_primary)
    assert excinfo.value.diag.message_hint == "remove one of the dependencies in dwh_etl.steps.depends_on"
    assert steps_of(conn, "cyclic") == []


def test_self_dependency_is_rejected_at_registration(conn):
    with pytest.raises(psycopg.errors.InvalidRecursion) as excinfo:
        register(conn, "selfish", [{"step": "a", "procedure": "public.step_a", "layer": "bronze", "depends_on": ["a"]}])
    assert excinfo.value.diag.message_primary == "dependency cycle in pipeline selfish: step a depends on itself"
    assert steps_of(conn, "selfish") == []


def test_unknown_dependency_is_rejected_at_registration(conn):
    with pytest.raises(psycopg.errors.ForeignKeyViolation) as excinfo:
        register(conn, "dangling", [
            {"step": "a", "procedure": "public.step_a", "layer": "bronze", "depends_on": ["ghost"]},
        ])
    assert excinfo.value.sqlstate == "23503"
    assert excinfo.value.diag.message_primary == "step dangling.a depends on unknown step ghost"
    assert excinfo.value.diag.message_hint == (
        "register the step it depends on first (dwh_etl.steps), or fix depends_on")
    assert steps_of(conn, "dangling") == []


def test_direct_update_closing_a_cycle_is_rejected(chain):
    conn = chain
    with pytest.raises(psycopg.errors.InvalidRecursion) as excinfo:
        conn.execute("UPDATE dwh_etl.steps SET depends_on = '{c}' WHERE pipeline_name = 'chain' AND step_name = 'a'")
    assert re.fullmatch(r"dependency cycle in pipeline chain: step [abc] depends on itself",
                        excinfo.value.diag.message_primary)
    assert steps_of(conn, "chain") == CHAIN


def test_direct_insert_of_a_step_that_closes_a_cycle_is_rejected(chain):
    conn = chain
    with pytest.raises(psycopg.errors.InvalidRecursion) as excinfo:
        with conn.transaction():
            conn.execute("""
                INSERT INTO dwh_etl.steps (pipeline_name, step_name, procedure_name, depends_on, layer, area)
                VALUES ('chain', 'd', 'public.step_d', '{c}', 'mart', 'test')
            """)
            conn.execute("UPDATE dwh_etl.steps SET depends_on = '{d}' WHERE pipeline_name = 'chain' AND step_name = 'a'")
    assert "dependency cycle in pipeline chain" in excinfo.value.diag.message_primary
    assert steps_of(conn, "chain") == CHAIN


def test_direct_insert_or_update_with_an_unknown_dependency_is_rejected(chain):
    conn = chain
    with pytest.raises(psycopg.errors.ForeignKeyViolation) as excinfo:
        conn.execute("""
            INSERT INTO dwh_etl.steps (pipeline_name, step_name, procedure_name, depends_on, layer, area)
            VALUES ('chain', 'd', 'public.step_d', '{nowhere}', 'mart', 'test')
        """)
    assert excinfo.value.diag.message_primary == "step chain.d depends on unknown step nowhere"
    with pytest.raises(psycopg.errors.ForeignKeyViolation) as excinfo:
        conn.execute("UPDATE dwh_etl.steps SET depends_on = '{a,zz}' WHERE pipeline_name = 'chain' AND step_name = 'c'")
    assert excinfo.value.diag.message_primary == "step chain.c depends on unknown step zz"
    assert steps_of(conn, "chain") == CHAIN


def test_dependency_on_a_step_of_another_pipeline_is_rejected(chain):
    conn = chain
    register(conn, "other", [{"step": "x", "procedure": "public.step_x", "layer": "bronze"}])
    with pytest.raises(psycopg.errors.ForeignKeyViolation) as excinfo:
        conn.execute("UPDATE dwh_etl.steps SET depends_on = '{x}' WHERE pipeline_name = 'chain' AND step_name = 'a'")
    assert excinfo.value.diag.message_primary == "step chain.a depends on unknown step x"


def test_deleting_a_step_others_depend_on_is_rejected(chain):
    """dwh_etl.steps promises that unknown dependencies are rejected on write: a DELETE that leaves
    step b depending on a step that no longer exists is such a write."""
    conn = chain
    with pytest.raises(psycopg.errors.ForeignKeyViolation) as excinfo:
        conn.execute("DELETE FROM dwh_etl.steps WHERE pipeline_name = 'chain' AND step_name = 'a'")
    assert excinfo.value.diag.message_primary == "step chain.b depends on unknown step a"
    assert steps_of(conn, "chain") == CHAIN


# ---------------------------------------------------------------------------------------------
# status_report
# ---------------------------------------------------------------------------------------------


def test_status_report_describes_pipelines_runs_steps_watermarks_freshness_and_failed_checks(step_log, other_session):
    conn = step_log
    make_step(conn, "load", rows_inserted=5)
    make_step(conn, "publish", rows_inserted=2)
    register(conn, "reported", [
        {"step": "load", "procedure": "public.step_load", "layer": "bronze"},
        {"step": "publish", "procedure": "public.step_publish", "layer": "gold", "depends_on": ["load"]},
    ], schedules=["0 3 * * *", "30 15 * * *"])
    conn.execute("""
        CALL dwh_etl.register_tables(p_area => 'reporting', p_tables => '[
            {"table": "public.step_log", "layer": "silver", "description": "log"},
            {"table": "public.never_loaded", "layer": "gold"},
            {"table": "public.a_source", "layer": "source"}
        ]')
    """)
    conn.execute("CALL dwh_etl.set_watermark('public.step_log', 'updated_at', '2025-01-31 10:00+00')")
    done_run = run(conn, "reported")
    # a scheduled run that found the pipeline busy: the latest run, but not the latest that worked
    other_session.execute(lock_key_sql(), ("reported",))
    skipped_run = run(conn, "reported", trigger="cron")
    conn.execute("""
        INSERT INTO dwh_lineage.quality_metrics (run_id, batch_id, table_name, metric_name, metric_value, threshold, passed, measured_at)
        SELECT %(run)s, gen_random_uuid(), t, m, v, th, p, now() - age
        FROM (VALUES ('public.step_log', 'null_rate', 0.5, 0.1, false, interval '1 hour'),
                     ('public.step_log', 'row_count', 4, 1, true, interval '1 hour'),
                     ('public.step_log', 'stale_fail', 9, 1, false, interval '8 days')) AS x (t, m, v, th, p, age)
    """, {"run": done_run})

    report = scalar(conn, "SELECT dwh_etl.status_report(p_runs => 5)")

    assert {"pipelines", "recent_runs", "last_run_steps", "watermarks", "freshness", "failed_checks"} <= set(report)
    j = lambda sql, params=None: scalar(conn, sql, params)  # noqa: E731 - jsonb renderings of timestamps
    done_started = j("SELECT to_jsonb(started_at) FROM dwh_lineage.pipeline_runs WHERE run_id = %s", (done_run,))
    done_completed = j("SELECT to_jsonb(completed_at) FROM dwh_lineage.pipeline_runs WHERE run_id = %s", (done_run,))
    skipped_started = j("SELECT to_jsonb(started_at) FROM dwh_lineage.pipeline_runs WHERE run_id = %s", (skipped_run,))
    # every registered pipeline is listed; the areas' own are never run here
    assert [p["pipeline"] for p in report["pipelines"]] == [
        r[0] for r in conn.execute("SELECT pipeline_name FROM dwh_etl.pipelines ORDER BY 1").fetchall()]
    assert all(p["last_run_id"] is None for p in report["pipelines"] if p["pipeline"] != "reported")
    assert [p for p in report["pipelines"] if p["pipeline"] == "reported"] == [
        {"pipeline": "reported", "schedule_utc": "0 3 * * * | 30 15 * * *", "steps": 2, "last_status": "skipped",
         "last_run_id": skipped_run, "last_started_at": skipped_started, "last_success_at": done_completed},
    ]
    recent = [{k: v for k, v in r.items() if k != "duration_s"} for r in report["recent_runs"]]
    assert recent == [
        {"run_id": skipped_run, "pipeline": "reported", "run_date": "2025-01-31", "status": "skipped",
         "started_at": skipped_started, "rows_written": None, "error": "pipeline already running (run ?)"},
        {"run_id": done_run, "pipeline": "reported", "run_date": "2025-01-31", "status": "completed",
         "started_at": done_started, "rows_written": 7, "error": None},
    ]
    steps = [{k: v for k, v in s.items() if k != "duration_ms"} for s in report["last_run_steps"]]
    assert steps == [
        {"pipeline": "reported", "run_id": done_run, "step": "load", "status": "completed", "rows_read": 5,
         "rows_written": 5, "error": None},
        {"pipeline": "reported", "run_id": done_run, "step": "publish", "status": "completed", "rows_read": 2,
         "rows_written": 2, "error": None},
    ]
    assert all(isinstance(s["duration_ms"], int) for s in report["last_run_steps"])
    wm_updated = j("SELECT to_jsonb(updated_at) FROM dwh_etl.watermarks WHERE table_name = 'public.step_log'")
    wm_value = j("SELECT to_jsonb(watermark_value) FROM dwh_etl.watermarks WHERE table_name = 'public.step_log'")
    assert report["watermarks"] == [
        {"table": "public.step_log", "column": "updated_at", "value": wm_value, "updated_at": wm_updated},
    ]
    last_loaded = j("SELECT to_jsonb(max(completed_at)) FROM dwh_lineage.table_lineage WHERE target_table = 'public.step_log'")
    fresh = [{k: v for k, v in f.items() if k != "age"} for f in report["freshness"] if f["area"] == "reporting"]
    assert fresh == [  # ordered by area, layer, table; the source table is not listed
        {"table": "public.never_loaded", "layer": "gold", "area": "reporting", "last_loaded_at": None},
        {"table": "public.step_log", "layer": "silver", "area": "reporting", "last_loaded_at": last_loaded},
    ]
    ages = {f["table"]: f["age"] for f in report["freshness"] if f["area"] == "reporting"}
    assert ages["public.never_loaded"] is None
    assert re.fullmatch(r"\d\d:\d\d:\d\d", ages["public.step_log"])
    assert [{k: v for k, v in q.items() if k != "measured_at"} for q in report["failed_checks"]] == [
        {"table": "public.step_log", "check": "null_rate", "value": 0.5, "threshold": 0.1, "run_id": done_run,
         "severity": None, "sample": None},
    ]
