"""The bulk way of dwh_etl.step_fact (issue 15): from fact.bulk_rows rows on (default 10,000) the as-of
lookups are hash joins on the versions' validity ranges and the target's foreign keys are validated once
after the write instead of by a trigger per row. Same keys, same errors, the constraints back and
validated; the setting is lowered here so that a tiny fact takes the bulk way."""

from __future__ import annotations

import json

import psycopg
import pytest

STEP_SQL = "CALL dwh_etl.step_fact(p_run_id => NULL, p_run_date => CURRENT_DATE, p_spec => %s)"

SPEC = {
    "view": "tbulk.event_rows",
    "target": "tbulk.fact_event",
    "natural_key": ["event_id"],
    "mode": "upsert",
    "event_time": "happened_at",
    "lookups": [{"dimension": "tbulk.dim_thing"}],
    "date_key": "date_key",
}


@pytest.fixture
def tiny(conn):
    conn.execute("""
        CREATE SCHEMA tbulk;
        CREATE TABLE tbulk.dim_thing (
            thing_key  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            thing_id   integer NOT NULL,
            colour     text,
            valid_from timestamptz NOT NULL,
            valid_to   timestamptz,
            is_current boolean NOT NULL,
            version    integer NOT NULL,
            is_deleted boolean NOT NULL DEFAULT false,
            _batch_id  uuid NOT NULL DEFAULT gen_random_uuid(),
            _loaded_at timestamptz NOT NULL DEFAULT now());
        CREATE TABLE tbulk.status (status_id integer PRIMARY KEY);
        INSERT INTO tbulk.status VALUES (1), (2);
        CREATE TABLE tbulk.events (
            event_id    integer PRIMARY KEY,
            thing_id    integer,
            status_id   integer NOT NULL DEFAULT 1,
            happened_at timestamptz,
            _loaded_at  timestamptz NOT NULL DEFAULT now());
        CREATE VIEW tbulk.event_rows AS
        SELECT e.event_id, e.thing_id, e.status_id, e.happened_at,
               to_char(COALESCE(e.happened_at, '2024-01-01') AT TIME ZONE 'UTC', 'YYYYMMDD')::integer AS date_key,
               e._loaded_at
        FROM tbulk.events AS e;
        CREATE TABLE tbulk.fact_event (
            event_id    integer PRIMARY KEY,
            thing_key   bigint CONSTRAINT fact_event_thing_fk REFERENCES tbulk.dim_thing,
            status_id   integer NOT NULL CONSTRAINT fact_event_status_fk REFERENCES tbulk.status,
            date_key    integer NOT NULL CONSTRAINT fact_event_date_fk REFERENCES gold.dim_date,
            happened_at timestamptz,
            _batch_id   uuid NOT NULL,
            _loaded_at  timestamptz NOT NULL DEFAULT now());
    """)
    conn.execute("""CALL dwh_etl.register_dimension(
        p_dimension => 'tbulk.dim_thing', p_target => 'tbulk.dim_thing', p_surrogate_key => 'thing_key',
        p_natural_key => '{thing_id}', p_type2_columns => '{colour}')""")
    # versions of thing 1: red from 2024-01-01, blue from 2024-02-01, green from 2024-03-01 (a gap: blue
    # closed before green starts); thing 2: one version
    conn.execute("""INSERT INTO tbulk.dim_thing (thing_id, colour, valid_from, valid_to, is_current, version) VALUES
        (1, 'red',   '2024-01-01Z', '2024-02-01Z', false, 1),
        (1, 'blue',  '2024-02-01Z', '2024-02-15Z', false, 2),
        (1, 'green', '2024-03-01Z', NULL,          true,  3),
        (2, 'black', '2024-01-10Z', NULL,          true,  1)""")
    conn.execute("""INSERT INTO tbulk.events (event_id, thing_id, happened_at) VALUES
        (1, 1, '2023-12-01Z'), (2, 1, '2024-01-01Z'), (3, 1, '2024-01-31T23:59:59Z'), (4, 1, '2024-02-01Z'),
        (5, 1, '2024-02-20Z'), (6, 1, '2024-03-01Z'), (7, 1, '2025-06-01Z'), (8, 1, NULL), (9, 2, '2024-01-01Z'),
        (10, 2, '2025-01-01Z'), (11, 99, '2024-01-05Z'), (12, NULL, '2024-01-05Z')""")
    return conn


def facts(conn):
    return conn.execute("""
        SELECT f.event_id, d.colour FROM tbulk.fact_event AS f LEFT JOIN tbulk.dim_thing AS d USING (thing_key)
        ORDER BY f.event_id""").fetchall()


def bulk(conn, rows: int) -> None:
    conn.execute("""INSERT INTO dwh_etl.settings (key, value) VALUES ('fact.bulk_rows', %s)
                    ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value""", (str(rows),))


def fks(conn):
    return conn.execute("""SELECT conname, convalidated FROM pg_constraint
                           WHERE conrelid = 'tbulk.fact_event'::regclass AND contype = 'f' ORDER BY conname""").fetchall()


def test_the_bulk_way_gives_the_keys_the_row_by_row_way_gives(tiny, conn):
    conn.execute(STEP_SQL, (json.dumps(SPEC),))
    by_row = facts(conn)
    # the version valid at the event; before the first version, or without a time: the first; in a gap:
    # the latest version started before the event (as the index probes find it); unknown key: no key
    assert by_row == [(1, "red"), (2, "red"), (3, "red"), (4, "blue"), (5, "blue"), (6, "green"), (7, "green"),
                      (8, "red"), (9, "black"), (10, "black"), (11, None), (12, None)]
    conn.execute("DELETE FROM tbulk.fact_event")
    conn.execute("DELETE FROM dwh_etl.watermarks WHERE table_name = 'tbulk.fact_event'")
    bulk(conn, 1)
    conn.execute(STEP_SQL, (json.dumps(SPEC),))
    assert facts(conn) == by_row
    # the foreign keys are back, validated, and still refuse a direct write that breaks them
    assert fks(conn) == [("fact_event_date_fk", True), ("fact_event_status_fk", True), ("fact_event_thing_fk", True)]
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        conn.execute("""INSERT INTO tbulk.fact_event (event_id, thing_key, status_id, date_key, _batch_id)
                        VALUES (100, -1, 1, 20240101, gen_random_uuid())""")


@pytest.mark.parametrize("bulk_rows", [10000, 1], ids=["row by row", "bulk"])
def test_a_batch_breaking_a_foreign_key_fails_whole_either_way(tiny, conn, bulk_rows):
    bulk(conn, bulk_rows)
    conn.execute("UPDATE tbulk.events SET status_id = 3 WHERE event_id = 5")   # no status 3
    with pytest.raises(psycopg.errors.ForeignKeyViolation, match="fact_event_status_fk"):
        conn.execute(STEP_SQL, (json.dumps(SPEC),))
    assert conn.execute("SELECT count(*) FROM tbulk.fact_event").fetchone()[0] == 0
    assert fks(conn) == [("fact_event_date_fk", True), ("fact_event_status_fk", True), ("fact_event_thing_fk", True)]
