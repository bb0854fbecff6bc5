"""dwh_etl.create_bronze (issue 10): one definition of a bronze table for every area's migration."""

from __future__ import annotations

import psycopg
import pytest

ENGINE_COLUMNS = ["_bronze_id", "_batch_id", "_ingested_at", "_source", "_source_line"]


def columns(conn, table):
    return [r[0] for r in conn.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped "
        "ORDER BY attnum", (table,)).fetchall()]


def test_every_bronze_table_has_the_engine_columns_and_file_defaults(conn):
    """Including the agents area's, created after migration 0013 added them to the tables of the time."""
    rows = conn.execute("""
        SELECT r.table_name,
               (SELECT array_agg(a.attname::text ORDER BY a.attname) FROM pg_attribute AS a
                WHERE a.attrelid = r.table_name::regclass AND a.attname = ANY (%s) AND NOT a.attisdropped),
               (SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef AS d JOIN pg_attribute AS a
                  ON a.attrelid = d.adrelid AND a.attnum = d.adnum
                WHERE d.adrelid = r.table_name::regclass AND a.attname = '_source')
        FROM dwh_etl.table_registry AS r
        WHERE r.layer = 'bronze' AND r.table_name <> 'bronze.cdc_events'
        ORDER BY 1""", (ENGINE_COLUMNS,)).fetchall()
    assert any(t.startswith("bronze.agents_") for t, _, _ in rows)
    for table, cols, source_default in rows:
        assert cols == sorted(ENGINE_COLUMNS), table
        assert source_default == "dwh_etl.file_source()", table


def test_create_from_a_source_table_and_bring_up_to_date(conn):
    conn.execute("CREATE TABLE public.src_thing (id int, name text, _dwh_arrived_at timestamptz)")
    conn.execute("CALL dwh_etl.create_bronze('bronze.toy_thing', p_like => 'public.src_thing', p_comment => 'toy')")
    # _source_arrived_at (migration 0078): the extraction keeps the source's arrival time in it, which orders
    # a restore (a re-insert with its old updated_at) after its tombstone; a new area following
    # docs/ADDING_AN_AREA.md had none and its restored records stayed deleted (docs17)
    assert columns(conn, "bronze.toy_thing") == ["_bronze_id", "id", "name", "_batch_id", "_ingested_at", "_source",
                                                 "_source_line", "_source_arrived_at"]
    assert conn.execute("SELECT obj_description('bronze.toy_thing'::regclass)").fetchone()[0] == "toy"
    # the load path works: a file-style insert takes its batch and source from the defaults' settings
    conn.execute("INSERT INTO bronze.toy_thing (id, name, _batch_id, _source) VALUES ('1', 'a', gen_random_uuid(), 't')")
    # a column added to the source later is added, as text; nothing else changes; a rerun is a no-op
    conn.execute("ALTER TABLE public.src_thing ADD COLUMN colour text")
    conn.execute("CALL dwh_etl.create_bronze('bronze.toy_thing', p_like => 'public.src_thing')")
    conn.execute("CALL dwh_etl.create_bronze('bronze.toy_thing', p_like => 'public.src_thing')")
    assert columns(conn, "bronze.toy_thing")[-1] == "colour"
    assert conn.execute("SELECT count(*) FROM bronze.toy_thing").fetchone()[0] == 1
    assert conn.execute("SELECT atttypid::regtype::text FROM pg_attribute WHERE attrelid = 'bronze.toy_thing'::regclass "
                        "AND attname = 'colour'").fetchone()[0] == "text"


@pytest.mark.parametrize("call, message", [
    ("CALL dwh_etl.create_bronze('silver.x', ARRAY['a'])", "is not bronze"),
    ("CALL dwh_etl.create_bronze('bronze.X; drop', ARRAY['a'])", "is not bronze"),
    ("CALL dwh_etl.create_bronze('bronze.x', ARRAY['a'], 'public.y')", "not both"),
    ("CALL dwh_etl.create_bronze('bronze.x', p_like => 'public.nope')", "does not exist"),
    ("CALL dwh_etl.create_bronze('bronze.x', ARRAY['_batch_id'])", "other than the engine"),
    ("CALL dwh_etl.create_bronze('bronze.x', ARRAY['A b'])", "lower-case identifiers"),
    ("CALL dwh_etl.create_bronze('bronze.x')", "no columns"),
])
def test_bad_calls_are_refused(conn, call, message):
    with pytest.raises(psycopg.Error, match=message):
        conn.execute(call)


def test_etl_service_may_not_create_bronze_tables(conn):
    conn.execute("SET ROLE etl_service")
    try:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("CALL dwh_etl.create_bronze('bronze.x', ARRAY['a'])")
    finally:
        conn.execute("RESET ROLE")
