"""The SCD trigger API: CALL dwh_etl.enable_scd_triggers('<dimension>') turns plain UPDATE / INSERT
statements on a declared dimension into Type 2 history (dwh_etl._scd_trg_update, dwh_etl._scd_trg_insert).

Each test builds its own small dimension (the shape of tests/test_engine_scd.py: validity, is_current,
version, is_deleted, batch columns, exclusion constraint, partial unique index), declares its spec,
enables the triggers and checks the whole history plus the dimension invariants after each statement.
Statements run on the autocommit `conn` fixture, so each one is its own transaction (now() moves on);
`conn.transaction()` groups statements that must share one.
"""

from __future__ import annotations

import datetime as dt

import pytest

UTC = dt.timezone.utc


def T(day, hour=0):
    return dt.datetime(2025, 1, day, hour, tzinfo=UTC)


LOAD_TS = dt.datetime(2025, 2, 1, tzinfo=UTC)


def scalar(conn, sql, params=None):
    return conn.execute(sql, params).fetchone()[0]


def rows(conn, sql, params=None):
    return conn.execute(sql, params).fetchall()


def create_dim(conn, table="dim_thing", *, key_ddl="thing_id bigint NOT NULL", key_cols=("thing_id",),
               attr_ddl="color text, size text, label text", sk="thing_key"):
    """A dimension table with the engine's SCD columns and constraints."""
    keys = ", ".join(key_cols)
    eq = ", ".join(f"{k} WITH =" for k in key_cols)
    conn.execute(f"""
        CREATE TABLE public.{table} (
            {sk}        bigint GENERATED ALWAYS AS IDENTITY,
            {key_ddl},
            {attr_ddl},
            valid_from  timestamptz NOT NULL,
            valid_to    timestamptz,
            is_current  boolean NOT NULL,
            version     integer NOT NULL,
            is_deleted  boolean NOT NULL DEFAULT false,
            _batch_id   uuid NOT NULL,
            _loaded_at  timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT {table}_pk PRIMARY KEY ({sk}),
            CONSTRAINT {table}_validity_ck CHECK (valid_to > valid_from),
            CONSTRAINT {table}_version_ck CHECK (version >= 1),
            CONSTRAINT {table}_current_ck CHECK (is_current = (valid_to IS NULL)),
            CONSTRAINT {table}_no_overlap EXCLUDE USING gist ({eq}, tstzrange(valid_from, valid_to) WITH &&),
            CONSTRAINT {table}_version_uq UNIQUE ({keys}, version)
        )
    """)
    conn.execute(f"CREATE UNIQUE INDEX {table}_current_uq ON public.{table} ({keys}) WHERE is_current")


def declare(conn, name, table, sk, natural_key, type2, type1, *, delete_policy="close", type1_scope="all_versions",
            change_ts="change_ts", deleted_flag="is_deleted"):
    conn.execute("""
        INSERT INTO dwh_etl.dimension_specs (
            dimension_name, target_table, surrogate_key, natural_key, type2_columns, type1_columns,
            change_ts_column, deleted_flag_column, delete_policy, type1_scope)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
    """, (name, f"public.{table}", sk, list(natural_key), list(type2), list(type1), change_ts, deleted_flag,
          delete_policy, type1_scope))


def check_invariants(conn, table="dim_thing", key_cols=("thing_id",)):
    keys = ", ".join(key_cols)
    join = " AND ".join(f"b.{k} = a.{k}" for k in key_cols)
    # at most one current row per key, and it is the latest version
    assert rows(conn, f"""
        SELECT {keys} FROM public.{table} AS a GROUP BY {keys}
        HAVING count(*) FILTER (WHERE is_current) > 1
            OR bool_or(is_current AND version <> (SELECT max(b.version) FROM public.{table} AS b WHERE {join}))
    """) == []
    # versions 1..n without gaps
    assert rows(conn, f"""
        SELECT {keys} FROM public.{table} GROUP BY {keys}
        HAVING min(version) <> 1 OR max(version) <> count(*) OR count(DISTINCT version) <> count(*)
    """) == []
    # valid_to > valid_from, is_current iff open, no overlapping validity, versions in time order
    assert rows(conn, f"""
        SELECT {keys}, version FROM public.{table}
        WHERE valid_to <= valid_from OR is_current <> (valid_to IS NULL)
    """) == []
    assert rows(conn, f"""
        SELECT a.version, b.version
        FROM public.{table} AS a
        JOIN public.{table} AS b
          ON {join} AND b.version > a.version
        WHERE tstzrange(a.valid_from, a.valid_to) && tstzrange(b.valid_from, b.valid_to)
           OR b.valid_from < a.valid_from
    """) == []


def history(conn):
    """(thing_key, thing_id, version, color, size, label, valid_from, valid_to, is_current, is_deleted)."""
    rs = rows(conn, """
        SELECT thing_key, thing_id, version, color, size, label, valid_from, valid_to, is_current, is_deleted
        FROM public.dim_thing
        ORDER BY thing_id, version
    """)
    check_invariants(conn)
    return rs


def row(sk, thing_id, version, color, size, label, valid_from, valid_to, is_deleted=False):
    return (sk, thing_id, version, color, size, label, valid_from, valid_to, valid_to is None, is_deleted)


def make_thing(conn, *, type1_scope="all_versions", delete_policy="close"):
    create_dim(conn)
    declare(conn, "test.thing", "dim_thing", "thing_key", ["thing_id"], ["color", "size"], ["label"],
            type1_scope=type1_scope, delete_policy=delete_policy)
    conn.execute("CALL dwh_etl.enable_scd_triggers(p_dimension => 'test.thing')")
    return conn


@pytest.fixture
def dim(conn):
    """dim_thing with triggers, two keys created in an earlier transaction (thing_key 1 and 2)."""
    make_thing(conn)
    conn.execute("""
        INSERT INTO public.dim_thing (thing_id, color, size, label, valid_from)
        VALUES (1, 'red', 'S', 'x', %s), (2, 'red', 'M', 'y', %s)
    """, (T(1), T(1)))
    return conn


def in_tx(conn, *statements):
    """Run the statements in one transaction; returns its now()."""
    with conn.transaction():
        now = scalar(conn, "SELECT now()")
        for s in statements:
            conn.execute(s)
    return now


# --- UPDATE --------------------------------------------------------------------------------------


def test_update_of_a_type2_column_closes_the_current_version_and_opens_version_n_plus_1(dim):
    conn = dim
    assert history(conn) == [
        row(1, 1, 1, "red", "S", "x", T(1), None),
        row(2, 2, 1, "red", "M", "y", T(1), None),
    ]

    t1 = in_tx(conn, "UPDATE public.dim_thing SET color = 'blue' WHERE thing_id = 1 AND is_current")

    # the updated row keeps its surrogate key and its old values and becomes the closed version
    assert history(conn) == [
        row(1, 1, 1, "red", "S", "x", T(1), t1),
        row(3, 1, 2, "blue", "S", "x", t1, None),
        row(2, 2, 1, "red", "M", "y", T(1), None),
    ]

    t2 = in_tx(conn, "UPDATE public.dim_thing SET size = 'L' WHERE thing_id = 1 AND is_current")

    assert t2 > t1
    assert history(conn) == [
        row(1, 1, 1, "red", "S", "x", T(1), t1),
        row(3, 1, 2, "blue", "S", "x", t1, t2),
        row(4, 1, 3, "blue", "L", "x", t2, None),
        row(2, 2, 1, "red", "M", "y", T(1), None),
    ]


def test_update_of_a_type1_column_overwrites_every_version_without_a_new_one(dim):
    conn = dim
    t1 = in_tx(conn, "UPDATE public.dim_thing SET color = 'blue' WHERE thing_id = 1 AND is_current")

    in_tx(conn, "UPDATE public.dim_thing SET label = 'new' WHERE thing_id = 1 AND is_current")

    assert history(conn) == [
        row(1, 1, 1, "red", "S", "new", T(1), t1),
        row(3, 1, 2, "blue", "S", "new", t1, None),
        row(2, 2, 1, "red", "M", "y", T(1), None),
    ]


def test_update_of_a_type1_column_with_current_only_scope_overwrites_only_the_current_version(conn):
    make_thing(conn, type1_scope="current_only")
    conn.execute("INSERT INTO public.dim_thing (thing_id, color, size, label, valid_from) VALUES (1, 'red', 'S', 'x', %s)",
                 (T(1),))
    t1 = in_tx(conn, "UPDATE public.dim_thing SET color = 'blue' WHERE thing_id = 1 AND is_current")

    in_tx(conn, "UPDATE public.dim_thing SET label = 'new' WHERE thing_id = 1 AND is_current")

    assert history(conn) == [
        row(1, 1, 1, "red", "S", "x", T(1), t1),
        row(2, 1, 2, "blue", "S", "new", t1, None),
    ]


def test_update_of_type2_and_type1_with_current_only_scope_keeps_the_old_type1_value_in_history(conn):
    """current_only: history keeps the Type 1 value it had (as apply_dimension does). The trigger restores
    only the Type 2 columns of the row it closes, so the closed version carries the new Type 1 value."""
    make_thing(conn, type1_scope="current_only")
    conn.execute("INSERT INTO public.dim_thing (thing_id, color, size, label, valid_from) VALUES (1, 'red', 'S', 'x', %s)",
                 (T(1),))

    t1 = in_tx(conn, "UPDATE public.dim_thing SET color = 'blue', label = 'new' WHERE thing_id = 1 AND is_current")

    assert history(conn) == [
        row(1, 1, 1, "red", "S", "x", T(1), t1),
        row(2, 1, 2, "blue", "S", "new", t1, None),
    ]


def test_multi_row_update_versions_every_key(dim):
    conn = dim
    conn.execute("INSERT INTO public.dim_thing (thing_id, color, size, label, valid_from) VALUES (3, 'red', 'L', 'z', %s)",
                 (T(2),))

    t1 = in_tx(conn, """
        UPDATE public.dim_thing
        SET color = CASE thing_id WHEN 1 THEN 'blue' ELSE 'green' END,
            label = CASE thing_id WHEN 3 THEN 'z2' ELSE label END
        WHERE thing_id IN (1, 2, 3) AND is_current
    """)

    assert history(conn) == [
        row(1, 1, 1, "red", "S", "x", T(1), t1),
        row(4, 1, 2, "blue", "S", "x", t1, None),
        row(2, 2, 1, "red", "M", "y", T(1), t1),
        row(5, 2, 2, "green", "M", "y", t1, None),
        row(3, 3, 1, "red", "L", "z2", T(2), t1),
        row(6, 3, 2, "green", "L", "z2", t1, None),
    ]

    # a type 1 change of several keys creates nothing and reaches every version of each key
    in_tx(conn, "UPDATE public.dim_thing SET label = 'all' WHERE thing_id IN (1, 2) AND is_current")

    assert [(r[0], r[5]) for r in history(conn)] == [(1, "all"), (4, "all"), (2, "all"), (5, "all"), (3, "z2"), (6, "z2")]


def test_update_in_the_transaction_that_created_the_version_changes_it_in_place(dim):
    conn = dim
    with conn.transaction():
        t1 = scalar(conn, "SELECT now()")
        conn.execute("INSERT INTO public.dim_thing (thing_id, color, size, label) VALUES (3, 'red', 'L', 'z')")
        conn.execute("UPDATE public.dim_thing SET color = 'blue' WHERE thing_id = 3 AND is_current")
        # key 1 was created earlier: its first update of this transaction versions it, the second one
        # changes the version this transaction created in place
        conn.execute("UPDATE public.dim_thing SET color = 'blue' WHERE thing_id = 1 AND is_current")
        conn.execute("UPDATE public.dim_thing SET color = 'green' WHERE thing_id = 1 AND is_current")

    assert history(conn) == [
        row(1, 1, 1, "red", "S", "x", T(1), t1),
        row(4, 1, 2, "green", "S", "x", t1, None),
        row(2, 2, 1, "red", "M", "y", T(1), None),
        row(3, 3, 1, "blue", "L", "z", t1, None),
    ]


def test_update_that_changes_nothing_creates_nothing(dim):
    conn = dim
    before = rows(conn, "SELECT * FROM public.dim_thing ORDER BY thing_key")

    in_tx(conn, "UPDATE public.dim_thing SET color = color, label = label WHERE thing_id = 1 AND is_current")
    in_tx(conn, "UPDATE public.dim_thing SET color = 'red' WHERE thing_id IN (1, 2) AND is_current")
    in_tx(conn, "UPDATE public.dim_thing SET size = 'S' WHERE thing_id = 42")

    assert rows(conn, "SELECT * FROM public.dim_thing ORDER BY thing_key") == before


def test_update_without_is_current_filter_keeps_the_history_of_closed_versions(dim):
    """The documented form `UPDATE dim SET segment = 'x' WHERE customer_id = 7` (enable_scd_triggers.sql,
    _scd_trg_update.sql) also matches the closed versions: their Type 2 values are history and must not be
    overwritten; the change applies from now on, as a new version."""
    conn = dim
    t1 = in_tx(conn, "UPDATE public.dim_thing SET color = 'blue' WHERE thing_id = 1 AND is_current")

    t2 = in_tx(conn, "UPDATE public.dim_thing SET color = 'green' WHERE thing_id = 1")

    assert history(conn) == [
        row(1, 1, 1, "red", "S", "x", T(1), t1),
        row(3, 1, 2, "blue", "S", "x", t1, t2),
        row(4, 1, 3, "green", "S", "x", t2, None),
        row(2, 2, 1, "red", "M", "y", T(1), None),
    ]


# --- INSERT (seed 000 style) ---------------------------------------------------------------------


def test_insert_of_an_existing_key_closes_its_current_version_and_becomes_version_n_plus_1(dim):
    conn = dim
    conn.execute("INSERT INTO public.dim_thing (thing_id, color, size, label, valid_from) VALUES (1, 'blue', 'S', 'x', %s)",
                 (T(3),))

    assert history(conn) == [
        row(1, 1, 1, "red", "S", "x", T(1), T(3)),
        row(3, 1, 2, "blue", "S", "x", T(3), None),
        row(2, 2, 1, "red", "M", "y", T(1), None),
    ]

    # without valid_from the new version starts at now()
    t2 = in_tx(conn, "INSERT INTO public.dim_thing (thing_id, color, size, label) VALUES (1, 'blue', 'L', 'x')")

    assert history(conn) == [
        row(1, 1, 1, "red", "S", "x", T(1), T(3)),
        row(3, 1, 2, "blue", "S", "x", T(3), t2),
        row(4, 1, 3, "blue", "L", "x", t2, None),
        row(2, 2, 1, "red", "M", "y", T(1), None),
    ]


def test_multi_row_insert_versions_every_existing_key_and_creates_new_ones(dim):
    conn = dim
    conn.execute("""
        INSERT INTO public.dim_thing (thing_id, color, size, label, valid_from)
        VALUES (1, 'blue', 'S', 'x', %s), (2, 'green', 'M', 'y', %s), (3, 'red', 'S', 'z', %s)
    """, (T(3), T(4), T(5)))

    assert history(conn) == [
        row(1, 1, 1, "red", "S", "x", T(1), T(3)),
        row(3, 1, 2, "blue", "S", "x", T(3), None),
        row(2, 2, 1, "red", "M", "y", T(1), T(4)),
        row(4, 2, 2, "green", "M", "y", T(4), None),
        row(5, 3, 1, "red", "S", "z", T(5), None),
    ]


def test_insert_equal_in_type2_creates_no_version_and_applies_type1_to_every_version(dim):
    conn = dim
    conn.execute("INSERT INTO public.dim_thing (thing_id, color, size, label, valid_from) VALUES (1, 'blue', 'S', 'x', %s)",
                 (T(3),))

    conn.execute("""
        INSERT INTO public.dim_thing (thing_id, color, size, label, valid_from)
        VALUES (1, 'blue', 'S', 'new', %s), (2, 'red', 'M', 'y', %s)
    """, (T(5), T(5)))

    assert history(conn) == [
        row(1, 1, 1, "red", "S", "new", T(1), T(3)),
        row(3, 1, 2, "blue", "S", "new", T(3), None),
        row(2, 2, 1, "red", "M", "y", T(1), None),
    ]


def test_insert_equal_in_type2_with_current_only_scope_applies_type1_to_the_current_version(conn):
    make_thing(conn, type1_scope="current_only")
    conn.execute("INSERT INTO public.dim_thing (thing_id, color, size, label, valid_from) VALUES (1, 'red', 'S', 'x', %s)",
                 (T(1),))
    conn.execute("INSERT INTO public.dim_thing (thing_id, color, size, label, valid_from) VALUES (1, 'blue', 'S', 'x', %s)",
                 (T(3),))

    conn.execute("INSERT INTO public.dim_thing (thing_id, color, size, label, valid_from) VALUES (1, 'blue', 'S', 'new', %s)",
                 (T(5),))

    assert history(conn) == [
        row(1, 1, 1, "red", "S", "x", T(1), T(3)),
        row(2, 1, 2, "blue", "S", "new", T(3), None),
    ]


def test_insert_changing_type2_and_type1_overwrites_type1_on_every_version(dim):
    """type1_scope all_versions: a Type 1 value is the key's, on every version (the UPDATE trigger and
    apply_dimension both do this). The INSERT trigger only gives it to the new version."""
    conn = dim

    conn.execute("INSERT INTO public.dim_thing (thing_id, color, size, label, valid_from) VALUES (1, 'blue', 'S', 'new', %s)",
                 (T(3),))

    assert history(conn) == [
        row(1, 1, 1, "red", "S", "new", T(1), T(3)),
        row(3, 1, 2, "blue", "S", "new", T(3), None),
        row(2, 2, 1, "red", "M", "y", T(1), None),
    ]


def test_insert_reopens_a_closed_key_as_the_next_version(dim):
    conn = dim
    batch = "CREATE TABLE public.src_thing AS SELECT 1::bigint AS thing_id, 'red'::text AS color, 'S'::text AS size, " \
            "'x'::text AS label, %s::timestamptz AS change_ts, true AS is_deleted"
    conn.execute(batch, (T(2),))
    conn.execute("SELECT * FROM dwh_etl.apply_dimension(p_dimension => 'test.thing', p_source => 'public.src_thing')")

    conn.execute("INSERT INTO public.dim_thing (thing_id, color, size, label, valid_from) VALUES (1, 'red', 'S', 'x', %s)",
                 (T(4),))

    assert history(conn) == [
        row(1, 1, 1, "red", "S", "x", T(1), T(2)),
        row(3, 1, 2, "red", "S", "x", T(4), None),
        row(2, 2, 1, "red", "M", "y", T(1), None),
    ]


# --- seeds ---------------------------------------------------------------------------------------


def test_seed_000_dim_issue_scd2_insert_twice_gives_two_versions(conn):
    """Seed 000's dim_issue_scd2: a BEFORE INSERT trigger closing the current row of (issue_id, issue_number)
    and inserting the new row as the next version. Reproduced with the engine's trigger API."""
    create_dim(conn, "dim_issue", sk="issue_key",
               key_ddl="issue_id varchar(50) NOT NULL, issue_number int NOT NULL",
               key_cols=("issue_id", "issue_number"),
               attr_ddl="title varchar(500), description text, priority varchar(20), complexity varchar(20), "
                        "assigned_to varchar(100), labels text[]")
    declare(conn, "test.issue", "dim_issue", "issue_key", ["issue_id", "issue_number"],
            ["title", "priority", "complexity", "assigned_to", "labels"], ["description"],
            change_ts=None, deleted_flag=None)
    conn.execute("CALL dwh_etl.enable_scd_triggers(p_dimension => 'test.issue')")
    insert = """
        INSERT INTO public.dim_issue (issue_id, issue_number, title, description, priority, complexity, assigned_to, labels)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
    """

    with conn.transaction():
        t1 = scalar(conn, "SELECT now()")
        conn.execute(insert, ("GH-1", 7, "Crash on start", "first", "P2", "low", None, ["bug"]))
        conn.execute(insert, ("GH-2", 7, "Other repo, same number", "d", "P3", "low", "bob", []))
    with conn.transaction():
        t2 = scalar(conn, "SELECT now()")
        conn.execute(insert, ("GH-1", 7, "Crash on start", "first", "P0", "high", "alice", ["bug", "urgent"]))
    check_invariants(conn, "dim_issue", ("issue_id", "issue_number"))

    assert rows(conn, """
        SELECT issue_key, issue_id, issue_number, version, title, description, priority, complexity, assigned_to,
               labels, valid_from, valid_to, is_current
        FROM public.dim_issue
        ORDER BY issue_id, issue_number, version
    """) == [
        (1, "GH-1", 7, 1, "Crash on start", "first", "P2", "low", None, ["bug"], t1, t2, False),
        (3, "GH-1", 7, 2, "Crash on start", "first", "P0", "high", "alice", ["bug", "urgent"], t2, None, True),
        (2, "GH-2", 7, 1, "Other repo, same number", "d", "P3", "low", "bob", [], t1, None, True),
    ]

    # the same row again (equal Type 2 values): no third version
    with conn.transaction():
        conn.execute(insert, ("GH-1", 7, "Crash on start", "first", "P0", "high", "alice", ["bug", "urgent"]))
    assert scalar(conn, "SELECT count(*) FROM public.dim_issue WHERE issue_id = 'GH-1'") == 2


def test_seed_001_update_dim_agent_as_a_plain_update_produces_history(conn):
    """Seed 001's update_dim_agent expired the current row and inserted a new one by hand (with agent_type
    'unknown' and the other attributes lost). With the trigger API it is one plain UPDATE."""
    create_dim(conn, "dim_agent", sk="agent_key", key_ddl="agent_name text NOT NULL", key_cols=("agent_name",),
               attr_ddl="agent_type text NOT NULL, capabilities jsonb DEFAULT '[]'::jsonb, "
                        "sla_target_seconds integer DEFAULT 300")
    declare(conn, "test.agent", "dim_agent", "agent_key", ["agent_name"], ["capabilities"],
            ["agent_type", "sla_target_seconds"], change_ts=None, deleted_flag=None)
    conn.execute("CALL dwh_etl.enable_scd_triggers(p_dimension => 'test.agent')")
    conn.execute("""
        CREATE FUNCTION public.update_dim_agent(p_agent_name text, p_new_capabilities jsonb)
        RETURNS void
        LANGUAGE sql
        AS $$
            UPDATE public.dim_agent
            SET capabilities = p_new_capabilities
            WHERE agent_name = p_agent_name
              AND is_current;
        $$
    """)
    with conn.transaction():
        t0 = scalar(conn, "SELECT now()")
        conn.execute("""
            INSERT INTO public.dim_agent (agent_name, agent_type, capabilities, sla_target_seconds) VALUES
              ('data', 'data', '["query", "analytics", "schema"]', 300),
              ('engineer', 'engineer', '["code", "debug", "deploy"]', 600)
        """)

    with conn.transaction():
        t1 = scalar(conn, "SELECT now()")
        conn.execute("""SELECT public.update_dim_agent('data', '["query", "analytics", "schema", "lineage"]')""")
    with conn.transaction():
        conn.execute("""SELECT public.update_dim_agent('data', '["query", "analytics", "schema", "lineage"]')""")  # no change
    with conn.transaction():
        t2 = scalar(conn, "SELECT now()")
        conn.execute("""SELECT public.update_dim_agent('data', '["sql"]')""")
    check_invariants(conn, "dim_agent", ("agent_name",))

    assert rows(conn, """
        SELECT agent_key, agent_name, version, agent_type, capabilities, sla_target_seconds, valid_from, valid_to,
               is_current
        FROM public.dim_agent
        ORDER BY agent_name, version
    """) == [
        (1, "data", 1, "data", ["query", "analytics", "schema"], 300, t0, t1, False),
        (3, "data", 2, "data", ["query", "analytics", "schema", "lineage"], 300, t1, t2, False),
        (4, "data", 3, "data", ["sql"], 300, t2, None, True),
        (2, "engineer", 1, "engineer", ["code", "debug", "deploy"], 600, t0, None, True),
    ]
    # as-of queries now answer what the agent could do at a time
    assert scalar(conn, """
        SELECT capabilities FROM public.dim_agent
        WHERE agent_name = 'data' AND valid_from <= %s AND (valid_to IS NULL OR valid_to > %s)
    """, (t1, t1)) == ["query", "analytics", "schema", "lineage"]


# --- the bulk path -------------------------------------------------------------------------------


def test_apply_dimension_on_a_table_with_triggers_behaves_as_without(conn):
    create_dim(conn, "dim_a")
    create_dim(conn, "dim_b")
    for name, policy in (("a", "close_marker"), ("b", "close_marker")):
        declare(conn, f"test.{name}", f"dim_{name}", "thing_key", ["thing_id"], ["color", "size"], ["label"],
                delete_policy=policy)
    conn.execute("CALL dwh_etl.enable_scd_triggers(p_dimension => 'test.a')")
    conn.execute("""
        CREATE TABLE public.src_thing (thing_id bigint, color text, size text, label text, change_ts timestamptz,
                                       is_deleted boolean)
    """)
    batches = [
        [(1, "red", "S", "a", T(1)), (2, "red", "M", "b", T(1)), (3, None, "L", "c", T(2)),
         (1, "blue", "S", "a", T(3))],                                          # new keys, two versions in a batch
        [(1, "blue", "S", "a2", T(4)), (2, "green", "M", "b", T(4)), (3, None, "L", "c", T(4), True),
         (4, "red", "S", "d", None)],                                           # type 1, type 2, delete, load time
        [(1, "green", "S", "a2", T(2)), (3, "red", "L", "c", T(5)), (2, "green", "M", "b", T(4))],  # late, return, rerun
        [(2, "red", "M", "b", T(6)), (2, "red", "M", "b", T(6)), (2, "blue", "M", "b", T(6))],     # duplicates
    ]
    for b in batches:
        conn.execute("TRUNCATE public.src_thing")
        for c in b:
            conn.execute("INSERT INTO public.src_thing VALUES (%s, %s, %s, %s, %s, %s)", tuple(c) + (False,) * (6 - len(c)))
        counts = [rows(conn, "SELECT * FROM dwh_etl.apply_dimension(p_dimension => %s, p_source => 'public.src_thing', "
                             "p_load_ts => %s)", (d, LOAD_TS))
                  for d in ("test.a", "test.b")]
        assert counts[0] == counts[1]
        check_invariants(conn, "dim_a")
        check_invariants(conn, "dim_b")
        histories = [rows(conn, f"""
            SELECT thing_key, thing_id, version, color, size, label, valid_from, valid_to, is_current, is_deleted
            FROM public.{t} ORDER BY thing_id, version
        """) for t in ("dim_a", "dim_b")]
        assert histories[0] == histories[1]
    assert scalar(conn, "SELECT count(*) FROM public.dim_a") == 10
    # the bulk flag is off again after the load: a plain UPDATE is versioned by the triggers
    conn.execute("UPDATE public.dim_a SET size = 'XL' WHERE thing_id = 1 AND is_current")
    assert scalar(conn, "SELECT count(*) FROM public.dim_a WHERE thing_id = 1") == \
        scalar(conn, "SELECT count(*) FROM public.dim_b WHERE thing_id = 1") + 1
    assert scalar(conn, "SELECT current_setting('dwh.scd_bulk', true)") in (None, "", "off")
