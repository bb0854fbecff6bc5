"""The `dimension` step kind (issue 10): dwh_etl.step_dimension stages an area's view over silver for the
incremental window, applies it with dwh_etl.apply_dimension and moves the watermark; the sales and devflow
dimensions are such steps. A bad spec fails its step with a clear error naming the step."""

from __future__ import annotations

import psycopg
import pytest
from psycopg.types.json import Jsonb

RUN_SQL = "CALL dwh_etl.run_pipeline(p_pipeline => %s, p_run_date => CURRENT_DATE, p_run_id => NULL)"


def rows(conn, sql, params=None):
    return conn.execute(sql, params).fetchall()


def scalar(conn, sql, params=None):
    return conn.execute(sql, params).fetchone()[0]


def register_step(conn, spec, step="toy_dim"):
    conn.execute("CALL dwh_etl.register_pipeline(p_pipeline => 'toy', p_description => 'dimension kind test')")
    conn.execute("CALL dwh_etl.register_steps(p_pipeline => 'toy', p_area => 'toy', p_steps => %s)",
                 (Jsonb([{"step": step, "kind": "dimension", "layer": "gold", "spec": spec,
                          "sources": ["toy.things"], "targets": ["toy.dim_thing"]}]),))


def last_step(conn):
    return conn.execute("""
        SELECT s.step_name, s.status, s.sqlstate, s.error_message FROM dwh_lineage.step_runs AS s
        JOIN dwh_lineage.pipeline_runs AS r USING (run_id)
        WHERE r.pipeline_name = 'toy' ORDER BY s.step_run_id DESC LIMIT 1""").fetchone()


@pytest.fixture
def toy(conn):
    """A tiny area: a silver-like table of versions, a dimension (city is history, name a correction,
    a deletion closes the key) and the view the step reads (the name's derivation lives there)."""
    conn.execute("""
        CREATE SCHEMA toy;
        CREATE TABLE toy.things (
            thing_id   integer NOT NULL,
            first_name text,
            last_name  text,
            city       text,
            changed_at timestamptz NOT NULL,
            deleted    boolean NOT NULL DEFAULT false,
            _loaded_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE toy.dim_thing (
            thing_key  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            thing_id   integer NOT NULL,
            full_name  text,
            city       text,
            valid_from timestamptz NOT NULL,
            valid_to   timestamptz,
            is_current boolean NOT NULL,
            version    integer NOT NULL,
            is_deleted boolean NOT NULL DEFAULT false,
            _batch_id  uuid NOT NULL,
            _loaded_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE VIEW toy.thing_changes AS
        SELECT t.thing_id, concat_ws(' ', t.first_name, t.last_name) AS full_name, t.city,
               t.changed_at AS change_ts, t.deleted AS is_deleted, t._loaded_at
        FROM toy.things AS t;
    """)
    conn.execute("""CALL dwh_etl.register_dimension(
        p_dimension => 'toy.dim_thing', p_target => 'toy.dim_thing', p_surrogate_key => 'thing_key',
        p_natural_key => '{thing_id}', p_type2_columns => '{city}', p_type1_columns => '{full_name}',
        p_change_ts => 'change_ts', p_deleted_flag => 'is_deleted', p_delete_policy => 'close')""")
    return conn


TOY_SPEC = {"dimension": "toy.dim_thing", "view": "toy.thing_changes", "lineage_source": "toy.things"}


def dim(conn):
    return rows(conn, """
        SELECT thing_id, full_name, city, valid_from::text, valid_to::text, is_current, version, is_deleted
        FROM toy.dim_thing ORDER BY thing_id, version""")


def test_sales_and_devflow_dimensions_are_dimension_steps(conn):
    steps = {r[0]: r[1:] for r in rows(conn, """
        SELECT step_name, kind, procedure_name, spec FROM dwh_etl.steps WHERE pipeline_name = 'daily'""")}
    assert steps["sales_dim_customer"][:2] == ("dimension", "dwh_etl.step_dimension")
    assert steps["sales_dim_customer"][2]["view"] == "sales.dim_customer_changes"
    assert steps["sales_dim_product"][:2] == ("dimension", "dwh_etl.step_dimension")
    assert steps["devflow_dimensions"][:2] == ("dimension", "dwh_etl.step_dimension")
    assert [d["dimension"] for d in steps["devflow_dimensions"][2]["dimensions"]] == [
        "devflow.dim_agent", "devflow.dim_label", "devflow.dim_worktree", "devflow.dim_issue", "devflow.dim_infrastructure"]
    for proc in ("sales.load_dim_customer", "sales.load_dim_product", "devflow.load_dimensions"):
        assert scalar(conn, "SELECT to_regprocedure(%s)", (proc + "(bigint, date)",)) is None, proc
    # every registered dimension step's spec is valid
    for step, (kind, _, spec) in steps.items():
        if kind == "dimension":
            assert scalar(conn, "SELECT jsonb_array_length(dwh_etl._dimension_step_items(%s, %s))", (Jsonb(spec), step)) >= 1


def test_a_dimension_step_loads_changes_deletes_and_reruns_as_no_ops(toy):
    conn = toy
    register_step(conn, TOY_SPEC)
    conn.execute("""INSERT INTO toy.things (thing_id, first_name, last_name, city, changed_at) VALUES
        (1, 'Ada', 'Lovelace', 'London', '2024-01-01 00:00+00'),
        (2, 'Alan', 'Turing', 'Wilmslow', '2024-01-02 00:00+00'),
        (3, 'Grace', 'Hopper', 'Arlington', '2024-01-03 00:00+00')""")
    conn.execute(RUN_SQL, ("toy",))
    assert dim(conn) == [
        (1, "Ada Lovelace", "London", "2024-01-01 00:00:00+00", None, True, 1, False),
        (2, "Alan Turing", "Wilmslow", "2024-01-02 00:00:00+00", None, True, 1, False),
        (3, "Grace Hopper", "Arlington", "2024-01-03 00:00:00+00", None, True, 1, False)]
    first_mark = scalar(conn, "SELECT watermark_value FROM dwh_etl.watermarks WHERE table_name = 'toy.dim_thing'")

    # a move (Type 2), a corrected name (Type 1), a deletion
    conn.execute("""INSERT INTO toy.things (thing_id, first_name, last_name, city, changed_at, deleted) VALUES
        (1, 'Ada', 'Lovelace', 'Paris', '2024-02-01 00:00+00', false),
        (2, 'Alan M.', 'Turing', 'Wilmslow', '2024-02-02 00:00+00', false),
        (3, 'Grace', 'Hopper', 'Arlington', '2024-02-03 00:00+00', true)""")
    conn.execute(RUN_SQL, ("toy",))
    assert dim(conn) == [
        (1, "Ada Lovelace", "London", "2024-01-01 00:00:00+00", "2024-02-01 00:00:00+00", False, 1, False),
        (1, "Ada Lovelace", "Paris", "2024-02-01 00:00:00+00", None, True, 2, False),
        (2, "Alan M. Turing", "Wilmslow", "2024-01-02 00:00:00+00", None, True, 1, False),
        (3, "Grace Hopper", "Arlington", "2024-01-03 00:00:00+00", "2024-02-03 00:00:00+00", False, 1, False)]
    assert scalar(conn, "SELECT watermark_value FROM dwh_etl.watermarks WHERE table_name = 'toy.dim_thing'") > first_mark
    run_id = scalar(conn, "SELECT max(run_id) FROM dwh_lineage.pipeline_runs WHERE pipeline_name = 'toy'")
    assert rows(conn, """
        SELECT source_table, target_table, step_name, rows_inserted, rows_updated, rows_unchanged, rows_deleted, rows_rejected
        FROM dwh_lineage.table_lineage WHERE run_id = %s""", (run_id,)) == [
        ("toy.things", "toy.dim_thing", "toy_dim", 1, 3, 1, 1, 0)]
    assert rows(conn, "SELECT status, rows_written FROM dwh_lineage.step_runs WHERE run_id = %s", (run_id,)) == [
        ("completed", 5)]

    # nothing new: the window is empty, nothing changes
    before = dim(conn)
    conn.execute(RUN_SQL, ("toy",))
    assert dim(conn) == before
    assert scalar(conn, """SELECT rows_written FROM dwh_lineage.step_runs
                           WHERE run_id = (SELECT max(run_id) FROM dwh_lineage.pipeline_runs)""") == 0


def test_the_window_does_not_depend_on_the_session_time_zone(toy):
    conn = toy
    register_step(conn, TOY_SPEC)
    conn.execute("SET TimeZone = 'Pacific/Kiritimati'")
    conn.execute("INSERT INTO toy.things (thing_id, first_name, city, changed_at) VALUES (1, 'Ada', 'London', '2024-01-01 00:00+00')")
    conn.execute(RUN_SQL, ("toy",))
    conn.execute("SET TimeZone = 'America/Adak'")
    conn.execute("INSERT INTO toy.things (thing_id, first_name, city, changed_at) VALUES (1, 'Ada', 'Paris', '2024-02-01 00:00+00')")
    conn.execute(RUN_SQL, ("toy",))
    conn.execute("SET TimeZone = 'UTC'")
    assert [(r[2], r[6]) for r in dim(conn)] == [("London", 1), ("Paris", 2)]


def test_several_dimensions_in_one_step_load_all_or_none(toy):
    conn = toy
    conn.execute("CREATE TABLE toy.dim_other (LIKE toy.dim_thing INCLUDING ALL)")
    conn.execute("""CALL dwh_etl.register_dimension(
        p_dimension => 'toy.dim_other', p_target => 'toy.dim_other', p_surrogate_key => 'thing_key',
        p_natural_key => '{thing_id}', p_type2_columns => '{city}', p_type1_columns => '{full_name}',
        p_change_ts => 'change_ts', p_deleted_flag => 'is_deleted')""")
    register_step(conn, {"dimensions": [TOY_SPEC, {"dimension": "toy.dim_other", "view": "toy.thing_changes"}]})
    conn.execute("INSERT INTO toy.things (thing_id, first_name, city, changed_at) VALUES (1, 'Ada', 'London', '2024-01-01 00:00+00')")
    conn.execute("ALTER TABLE toy.dim_other RENAME TO dim_other_away")
    with pytest.raises(psycopg.Error) as excinfo:
        conn.execute(RUN_SQL, ("toy",))
    assert excinfo.value.diag.sqlstate == "DW003"
    assert last_step(conn) == ("toy_dim", "failed", "42P01",
                               "target table 'toy.dim_other' of dimension toy.dim_other does not exist")
    # the first dimension's load was rolled back with the step, and its watermark did not move
    assert dim(conn) == []
    assert scalar(conn, "SELECT count(*) FROM dwh_etl.watermarks WHERE table_name LIKE 'toy.%'") == 0

    conn.execute("ALTER TABLE toy.dim_other_away RENAME TO dim_other")
    conn.execute(RUN_SQL, ("toy",))
    assert len(dim(conn)) == 1
    assert scalar(conn, "SELECT count(*) FROM toy.dim_other") == 1
    # the lineage source defaults to the view
    assert rows(conn, """SELECT DISTINCT source_table, target_table FROM dwh_lineage.table_lineage
                         WHERE target_table LIKE 'toy.%' ORDER BY 2""") == [
        ("toy.thing_changes", "toy.dim_other"), ("toy.things", "toy.dim_thing")]


BAD_SPECS = [
    ({}, '"dimension" and "view" are required strings'),
    ({"dimension": "toy.dim_thing"}, '"dimension" and "view" are required strings'),
    ({"dimension": "toy.nope", "view": "toy.thing_changes"}, "dimension 'toy.nope' is not registered"),
    ({"dimension": "toy.dim_thing", "view": "toy.no_view"}, "view 'toy.no_view' of dimension toy.dim_thing does not exist"),
    ({"dimension": "toy.dim_thing", "view": "toy.a.b.c"}, "view 'toy.a.b.c' of dimension toy.dim_thing does not exist"),
    ({"dimension": "toy.dim_thing", "view": "toy.things"}, "view toy.things lacks column(s) change_ts, full_name, is_deleted of dimension toy.dim_thing"),
    ({"dimension": "toy.dim_thing", "view": "toy.thing_changes", "veiw": "x"}, "unknown key(s) veiw in"),
    ({"dimension": "toy.dim_thing", "view": "toy.thing_changes", "watermark_column": "city"},
     "view toy.thing_changes has no timestamptz watermark column city (found text)"),
    ({"dimension": "toy.dim_thing", "view": "toy.thing_changes", "watermark_column": "_arrived"},
     "view toy.thing_changes has no timestamptz watermark column _arrived (found no such column)"),
    ({"dimension": "toy.dim_thing", "view": "toy.thing_changes", "lineage_source": "toy.nowhere"},
     'lineage_source "toy.nowhere" of dimension toy.dim_thing is not an existing table or view'),
    ({"dimensions": []}, '"dimensions" must be a non-empty JSON array'),
    ({"dimensions": [TOY_SPEC], "view": "toy.thing_changes"}, 'a spec with "dimensions" has no other keys, got view'),
    ({"dimensions": [TOY_SPEC, "toy.dim_thing"]}, "each dimension must be a JSON object"),
    ({"dimensions": [TOY_SPEC, TOY_SPEC]}, "dimension toy.dim_thing is listed twice"),
]


@pytest.mark.parametrize(("spec", "message"), BAD_SPECS)
def test_a_bad_spec_fails_the_step_with_an_error_naming_it(toy, spec, message):
    conn = toy
    conn.execute("INSERT INTO toy.things (thing_id, first_name, city, changed_at) VALUES (1, 'Ada', 'London', '2024-01-01 00:00+00')")
    register_step(conn, spec, step="toy_bad_dim")
    with pytest.raises(psycopg.Error) as excinfo:
        conn.execute(RUN_SQL, ("toy",))
    assert excinfo.value.diag.sqlstate == "DW003"
    step, status, sqlstate, error = last_step(conn)
    assert (step, status, sqlstate) == ("toy_bad_dim", "failed", "22023")
    assert error.startswith("dimension step toy_bad_dim: ") and message in error, error
    # nothing was read or written
    assert dim(conn) == []
    assert scalar(conn, "SELECT count(*) FROM dwh_etl.watermarks WHERE table_name LIKE 'toy.%'") == 0


def test_called_by_hand_a_bad_spec_says_so(conn):
    with pytest.raises(psycopg.errors.InvalidParameterValue) as excinfo:
        conn.execute("CALL dwh_etl.step_dimension(NULL, CURRENT_DATE, %s)", (Jsonb({"view": "x"}),))
    assert str(excinfo.value.diag.message_primary).startswith("dimension step (outside a run): ")
    assert "dwh_etl.step_dimension" in excinfo.value.diag.message_hint


def test_a_view_name_cannot_inject_sql(toy):
    conn = toy
    register_step(conn, {"dimension": "toy.dim_thing", "view": "toy.thing_changes; DROP TABLE toy.things; --"})
    with pytest.raises(psycopg.Error):
        conn.execute(RUN_SQL, ("toy",))
    assert last_step(conn)[2] == "22023"
    assert scalar(conn, "SELECT to_regclass('toy.things') IS NOT NULL")
