"""dwh_etl.register_area (issue 10): one call declares an area; a second call converges the registry onto the
new spec (unlisted entries removed); a malformed spec is refused before anything is written."""

from __future__ import annotations

import json

import psycopg
import pytest

RUN_SQL = "CALL dwh_etl.run_pipeline(p_pipeline => %s, p_run_date => CURRENT_DATE, p_run_id => NULL)"


def scalar(conn, sql, params=None):
    return conn.execute(sql, params).fetchone()[0]


def register(conn, spec: dict, area: str = "toy") -> None:
    conn.execute("CALL dwh_etl.register_area(%s, %s::jsonb)", (area, json.dumps(spec)))


@pytest.fixture
def toy(conn):
    conn.execute("""
        CREATE SCHEMA toy;
        CREATE TABLE toy.src (id int PRIMARY KEY, v text);
        CREATE TABLE toy.dim_thing (thing_key bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, id int, v text,
                                    valid_from timestamptz, valid_to timestamptz, is_current boolean);
        CREATE TABLE toy.out (id int PRIMARY KEY, v text);
        CREATE PROCEDURE toy.step_copy(p_run_id bigint, p_run_date date) LANGUAGE sql
            AS 'INSERT INTO toy.out SELECT id, v FROM toy.src ON CONFLICT (id) DO UPDATE SET v = EXCLUDED.v';
        CREATE PROCEDURE toy.step_noop(p_run_id bigint, p_run_date date) LANGUAGE sql AS 'SELECT 1';
        INSERT INTO toy.src VALUES (1, 'a'), (2, 'b');
    """)
    return {
        "description": "a toy area",
        "demo": {"generate": "toy.step_noop", "order": 99},
        "settings": [{"key": "toy.colour", "value": "blue", "description": "a toy setting"}],
        "tables": [{"table": "toy.src", "layer": "source"},
                   {"table": "toy.dim_thing", "layer": "gold"},
                   {"table": "toy.out", "layer": "gold", "description": "copied"}],
        "dimensions": [{"dimension": "toy.dim_thing", "target": "toy.dim_thing", "surrogate_key": "thing_key",
                        "natural_key": ["id"], "type2_columns": ["v"]}],
        "pipelines": [{"pipeline": "toy_hourly", "description": "toy", "schedules": ["0 * * * *"]}],
        "steps": [{"step": "toy_copy", "procedure": "toy.step_copy", "layer": "gold",
                   "sources": ["toy.src"], "targets": ["toy.out"]},
                  {"step": "toy_noop", "procedure": "toy.step_noop", "layer": "ops",
                   "pipelines": ["toy_hourly", "daily"]}],
        "rules": [{"name": "toy_out_v_not_null", "table": "toy.out", "type": "not_null", "columns": ["v"]}],
    }


def test_one_call_declares_the_whole_area(conn, toy):
    register(conn, toy)
    assert conn.execute("SELECT description, demo->>'generate' FROM dwh_etl.areas WHERE area = 'toy'").fetchone() \
        == ("a toy area", "toy.step_noop")
    assert scalar(conn, "SELECT value FROM dwh_etl.settings WHERE key = 'toy.colour'") == "blue"
    assert conn.execute("SELECT table_name, layer FROM dwh_etl.table_registry WHERE area = 'toy' ORDER BY 1"
                        ).fetchall() == [("toy.dim_thing", "gold"), ("toy.out", "gold"), ("toy.src", "source")]
    assert conn.execute("SELECT dimension_name, area, type2_columns FROM dwh_etl.dimension_specs "
                        "WHERE area = 'toy'").fetchall() == [("toy.dim_thing", "toy", ["v"])]
    assert conn.execute("SELECT pipeline_name, area, schedules FROM dwh_etl.pipelines WHERE area = 'toy'"
                        ).fetchall() == [("toy_hourly", "toy", ["0 * * * *"])]
    assert conn.execute("SELECT pipeline_name, step_name FROM dwh_etl.steps WHERE area = 'toy' ORDER BY 1, 2"
                        ).fetchall() == [("daily", "toy_noop"), ("toy_hourly", "toy_copy"), ("toy_hourly", "toy_noop")]
    assert scalar(conn, "SELECT count(*) FROM dwh_lineage.table_dependencies "
                        "WHERE upstream_table = 'toy.src' AND downstream_table = 'toy.out'") == 1
    assert scalar(conn, "SELECT rule_type FROM dwh_etl.quality_rules WHERE rule_name = 'toy_out_v_not_null'") \
        == "not_null"
    # the area's own pipeline runs
    conn.execute(RUN_SQL, ("toy_hourly",))
    assert scalar(conn, "SELECT count(*) FROM toy.out") == 2


def test_a_second_call_removes_what_is_no_longer_listed(conn, toy):
    register(conn, toy)
    conn.execute("UPDATE dwh_etl.settings SET value = 'red' WHERE key = 'toy.colour'")  # an operator's choice
    smaller = dict(toy)
    smaller["tables"] = [t for t in toy["tables"] if t["table"] != "toy.out"]
    smaller["dimensions"] = []
    smaller["pipelines"] = []
    smaller["steps"] = [{"step": "toy_noop", "procedure": "toy.step_noop", "layer": "ops", "pipelines": ["daily"]}]
    smaller["rules"] = []
    register(conn, smaller)
    assert scalar(conn, "SELECT value FROM dwh_etl.settings WHERE key = 'toy.colour'") == "red"
    assert scalar(conn, "SELECT count(*) FROM dwh_etl.table_registry WHERE table_name = 'toy.out'") == 0
    assert scalar(conn, "SELECT count(*) FROM dwh_lineage.table_dependencies "
                        "WHERE 'toy.out' IN (upstream_table, downstream_table)") == 0
    assert scalar(conn, "SELECT count(*) FROM dwh_etl.dimension_specs WHERE area = 'toy'") == 0
    assert scalar(conn, "SELECT count(*) FROM dwh_etl.pipelines WHERE pipeline_name = 'toy_hourly'") == 0
    assert conn.execute("SELECT pipeline_name, step_name FROM dwh_etl.steps WHERE area = 'toy'").fetchall() \
        == [("daily", "toy_noop")]
    assert scalar(conn, "SELECT count(*) FROM dwh_etl.quality_rules WHERE area = 'toy'") == 0
    # other areas untouched
    assert scalar(conn, "SELECT count(*) FROM dwh_etl.steps WHERE area = 'sales'") > 0
    # a key left out leaves its entries alone
    register(conn, {"description": "still a toy"})
    assert conn.execute("SELECT pipeline_name, step_name FROM dwh_etl.steps WHERE area = 'toy'").fetchall() \
        == [("daily", "toy_noop")]
    assert scalar(conn, "SELECT count(*) FROM dwh_etl.table_registry WHERE area = 'toy'") == 2


@pytest.mark.parametrize("spec, message", [
    ({"tabels": []}, "unknown key"),
    ({"tables": {"table": "toy.src"}}, "must be a JSON array"),
    ({"tables": [{"layer": "gold"}]}, "has no name"),
    ({"steps": [{"step": "toy_a", "procedure": "toy.step_noop", "layer": "ops"}]}, "run in no pipeline"),
    ({"rules": [{"name": "r"}, {"name": "r"}]}, "listed twice"),
    ({"pipelines": [{"pipeline": "daily"}]}, "cannot own pipeline"),
    ({"demo": []}, "must be a JSON object"),
    # a typo in an entry's key was ignored (docs17): the step registered without its dependency, the
    # dimension without its Type 2 columns (changes dropped from history), the rule without its columns
    ({"pipelines": [{"pipeline": "toy_p", "schedules": []}],
      "steps": [{"step": "toy_a", "procedure": "toy.step_noop", "layer": "ops", "depend_on": ["x"]}]},
     "steps entry 'toy_a' has unknown key\\(s\\) 'depend_on'"),
    ({"dimensions": [{"dimension": "toy.dim_thing", "target": "toy.dim_thing", "surrogate_key": "thing_key",
                      "natural_key": ["id"], "type2_column": ["v"]}]}, "dimensions entry 'toy.dim_thing' has unknown key"),
    ({"rules": [{"name": "r", "table": "toy.out", "type": "not_null", "column": ["v"]}]}, "rules entry 'r' has unknown key"),
    # names that do not exist and schedules that do not parse (docs17: accepted by dwh migrate; a rule on a
    # missing table and a missing table in "tables" or "sources" never failed at all)
    ({"tables": [{"table": "toy.nothing", "layer": "gold"}]}, "table 'toy.nothing' does not exist"),
    ({"pipelines": [{"pipeline": "toy_p", "schedules": ["0 25 * * *"]}]},
     "pipeline 'toy_p': schedule '0 25 \\* \\* \\*' is not a cron expression"),
    ({"pipelines": [{"pipeline": "toy_p", "schedules": []}],
      "steps": [{"step": "toy_a", "procedure": "toy.step_noop", "layer": "ops", "sources": ["toy.nothing"],
                 "targets": ["toy.out"]}]}, "step 'toy_a': sources 'toy.nothing' does not exist"),
    ({"rules": [{"name": "r", "table": "toy.nowhere", "type": "not_null", "columns": ["v"]}]},
     "rule 'r': table 'toy.nowhere' does not exist"),
    ({"rules": [{"name": "r", "table": "toy.out", "type": "not_null", "columns": ["nope"]}]},
     "rule 'r': toy.out has no column 'nope'"),
    ({"dimensions": [{"dimension": "toy.dim_thing", "target": "toy.dim_thing", "surrogate_key": "thing_key",
                      "natural_key": ["tier"], "type2_columns": ["v"]}]},
     "dimension 'toy.dim_thing': toy.dim_thing has no column 'tier' \\(natural_key\\)"),
])
def test_a_malformed_spec_is_refused_before_anything_is_written(conn, toy, spec, message):
    with pytest.raises(psycopg.Error, match=message):
        register(conn, {"description": "bad", **spec})
    assert scalar(conn, "SELECT count(*) FROM dwh_etl.areas WHERE area = 'toy'") == 0


def test_bad_area_names_and_etl_service_are_refused(conn, toy):
    with pytest.raises(psycopg.errors.InvalidParameterValue):
        register(conn, {}, area="Toy; DROP")
    conn.execute("SET ROLE etl_service")
    try:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            register(conn, toy)
    finally:
        conn.execute("RESET ROLE")


def test_the_demo_areas_come_from_the_registry(conn):
    assert conn.execute("SELECT area, demo->>'generate' FROM dwh_etl.areas WHERE demo ? 'generate' "
                        "ORDER BY (demo->>'order')::int").fetchall() == [
        ("sales", "sales_src.generate"), ("devflow", "devflow_src.generate"), ("agents", "agents_src.generate"),
        ("citizen", "citizen_src.generate")]
    # every declared demo procedure exists and is a procedure
    assert conn.execute("""
        SELECT area FROM dwh_etl.areas AS a
        CROSS JOIN LATERAL (VALUES (a.demo->>'generate'), (a.demo->>'next_day')) AS p(name)
        WHERE p.name IS NOT NULL AND to_regproc(p.name) IS NULL""").fetchall() == []
