"""The generic SCD applier dwh_etl.apply_dimension, driven by dwh_etl.dimension_specs.

Each test builds its own small dimension public.dim_thing (shaped like sales.dim_customer: validity,
is_current, version, is_deleted, batch columns, exclusion constraint and partial unique index; each test
also runs with the exclusion constraint replaced by the statement-level guard of migration 0032) and a
change-batch table public.src_thing, declares the spec 'test.thing', and checks the whole history
after each batch, plus the dimension invariants (one current row per key, versions 1..n, no overlap).

Uses the `conn` fixture of tests/conftest.py (autocommit psycopg connection to a fresh database).
"""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest

UTC = dt.timezone.utc


def T(day, hour=0):
    return dt.datetime(2025, 1, day, hour, tzinfo=UTC)


LOAD_TS = dt.datetime(2025, 2, 1, tzinfo=UTC)
US = dt.timedelta(microseconds=1)


def scalar(conn, sql, params=None):
    return conn.execute(sql, params).fetchone()[0]


def rows(conn, sql, params=None):
    return conn.execute(sql, params).fetchall()


@pytest.fixture(params=["gist", "statement_guard"])
def dim(conn, request):
    """Each test runs twice: on the GiST exclusion constraint, and on the statement-level no-overlap
    guard the warehouse's own SCD2 tables have since migration 0032 (dwh_etl.scd2_guard)."""
    conn.execute("""
        CREATE TABLE public.dim_thing (
            thing_key   bigint GENERATED ALWAYS AS IDENTITY,
            thing_id    bigint NOT NULL,
            color       text,
            size        text,
            label       text,
            valid_from  timestamptz NOT NULL,
            valid_to    timestamptz,
            is_current  boolean NOT NULL,
            version     integer NOT NULL,
            is_deleted  boolean NOT NULL DEFAULT false,
            _batch_id   uuid NOT NULL,
            _loaded_at  timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT dim_thing_pk PRIMARY KEY (thing_key),
            CONSTRAINT dim_thing_validity_ck CHECK (valid_to > valid_from),
            CONSTRAINT dim_thing_version_ck CHECK (version >= 1),
            CONSTRAINT dim_thing_current_ck CHECK (is_current = (valid_to IS NULL)),
            CONSTRAINT dim_thing_no_overlap EXCLUDE USING gist (thing_id WITH =, tstzrange(valid_from, valid_to) WITH &&),
            CONSTRAINT dim_thing_version_uq UNIQUE (thing_id, version)
        )
    """)
    conn.execute("CREATE UNIQUE INDEX dim_thing_current_uq ON public.dim_thing (thing_id) WHERE is_current")
    if request.param == "statement_guard":
        conn.execute("CALL dwh_etl.scd2_guard('public.dim_thing', '{thing_id}')")
    conn.execute("""
        CREATE TABLE public.src_thing (
            thing_id   bigint,
            color      text,
            size       text,
            label      text,
            change_ts  timestamptz,
            is_deleted boolean
        )
    """)
    spec(conn)
    return conn


def spec(conn, delete_policy="close", type1_scope="all_versions"):
    conn.execute("""
        INSERT INTO dwh_etl.dimension_specs (
            dimension_name, target_table, surrogate_key, natural_key, type2_columns, type1_columns,
            change_ts_column, deleted_flag_column, delete_policy, type1_scope)
        VALUES ('test.thing', 'public.dim_thing', 'thing_key', '{thing_id}', '{color,size}', '{label}',
                'change_ts', 'is_deleted', %s, %s)
        ON CONFLICT (dimension_name) DO UPDATE
        SET delete_policy = EXCLUDED.delete_policy, type1_scope = EXCLUDED.type1_scope
    """, (delete_policy, type1_scope))


def batch(conn, *changes):
    """Replace the change batch: tuples (thing_id, color, size, label, change_ts[, is_deleted])."""
    conn.execute("TRUNCATE public.src_thing")
    for c in changes:
        c = tuple(c) + (False,) * (6 - len(c))
        conn.execute("INSERT INTO public.src_thing VALUES (%s, %s, %s, %s, %s, %s)", c)


def apply(conn, load_ts=LOAD_TS, lineage_source=None):
    """Returns (rows_read, rows_inserted, rows_expired, rows_type1_updated, rows_unchanged, rows_deleted,
    rows_late, rows_rejected)."""
    result = rows(conn, """
        SELECT * FROM dwh_etl.apply_dimension(
            p_dimension => 'test.thing', p_source => 'public.src_thing', p_load_ts => %s, p_lineage_source => %s)
    """, (load_ts, lineage_source))
    assert len(result) == 1
    check_invariants(conn)
    return result[0]


def history(conn):
    return rows(conn, """
        SELECT thing_id, version, color, size, label, valid_from, valid_to, is_current, is_deleted
        FROM public.dim_thing
        ORDER BY thing_id, version
    """)


def check_invariants(conn):
    # at most one current row per key, and it is the latest version
    assert rows(conn, """
        SELECT thing_id FROM public.dim_thing GROUP BY thing_id
        HAVING count(*) FILTER (WHERE is_current) > 1
            OR bool_or(is_current AND version <> (SELECT max(x.version) FROM public.dim_thing AS x
                                                 WHERE x.thing_id = dim_thing.thing_id))
    """) == []
    # versions 1..n without gaps
    assert rows(conn, """
        SELECT thing_id FROM public.dim_thing GROUP BY thing_id
        HAVING min(version) <> 1 OR max(version) <> count(*) OR count(DISTINCT version) <> count(*)
    """) == []
    # no overlapping validity, versions in time order
    assert rows(conn, """
        SELECT a.thing_id, a.version, b.version
        FROM public.dim_thing AS a
        JOIN public.dim_thing AS b
          ON b.thing_id = a.thing_id AND b.version > a.version
        WHERE tstzrange(a.valid_from, a.valid_to) && tstzrange(b.valid_from, b.valid_to)
           OR b.valid_from < a.valid_from
    """) == []


def row(thing_id, version, color, size, label, valid_from, valid_to, is_deleted=False):
    return (thing_id, version, color, size, label, valid_from, valid_to, valid_to is None, is_deleted)


# ---------------------------------------------------------------------------------------------


def test_new_keys_open_version_one(dim):
    conn = dim
    batch(conn, (1, "red", "S", "one", T(1)), (2, None, "M", "two", None))

    counts = apply(conn)

    assert counts == (2, 2, 0, 0, 0, 0, 0, 0)
    assert history(conn) == [
        row(1, 1, "red", "S", "one", T(1), None),
        row(2, 1, None, "M", "two", LOAD_TS, None),  # no change time: validity starts at the load time
    ]
    assert rows(conn, "SELECT count(DISTINCT _batch_id), bool_and(_loaded_at IS NOT NULL) FROM public.dim_thing") == [
        (1, True)]


def test_change_detection_is_null_safe(dim):
    conn = dim
    batch(conn, (1, None, "S", "a", T(1)), (2, "blue", "S", "b", T(1)), (3, None, "S", "c", T(1)))
    apply(conn)
    batch(conn, (1, "red", "S", "a", T(2)), (2, None, "S", "b", T(2)), (3, None, "S", "c", T(2)))

    counts = apply(conn)

    assert counts == (3, 2, 2, 0, 1, 0, 0, 0)
    assert history(conn) == [
        row(1, 1, None, "S", "a", T(1), T(2)),
        row(1, 2, "red", "S", "a", T(2), None),
        row(2, 1, "blue", "S", "b", T(1), T(2)),
        row(2, 2, None, "S", "b", T(2), None),
        row(3, 1, None, "S", "c", T(1), None),
    ]


def test_rerun_of_a_batch_creates_nothing(dim):
    conn = dim
    batch(conn, (1, None, "S", "a", T(1)), (2, "blue", "S", "b", T(1)))
    apply(conn)
    batch(conn, (1, "red", "S", "a", T(2)), (2, "blue", "L", "b", T(2)), (3, "green", "M", "c", T(2)))
    apply(conn)
    before = rows(conn, "SELECT * FROM public.dim_thing ORDER BY thing_key")

    counts = apply(conn)

    assert counts == (3, 0, 0, 0, 3, 0, 0, 0)
    assert rows(conn, "SELECT * FROM public.dim_thing ORDER BY thing_key") == before


def test_several_changes_of_a_key_in_one_batch_become_ordered_versions(dim):
    conn = dim
    batch(conn,
          (1, "blue", "S", "x", T(3)),
          (1, "red", "S", "x", T(1)),
          (1, "green", "S", "x", T(2)),
          (1, "blue", "S", "x", T(4)))  # no change against its predecessor

    counts = apply(conn)

    assert counts == (4, 3, 0, 0, 1, 0, 0, 0)
    assert history(conn) == [
        row(1, 1, "red", "S", "x", T(1), T(2)),
        row(1, 2, "green", "S", "x", T(2), T(3)),
        row(1, 3, "blue", "S", "x", T(3), None),
    ]
    # and the same batch again: nothing new, every event is recognised
    assert apply(conn) == (4, 0, 0, 0, 4, 0, 0, 0)
    assert len(history(conn)) == 3


def test_changes_after_the_current_version_extend_the_history(dim):
    conn = dim
    batch(conn, (1, "red", "S", "x", T(1)))
    apply(conn)
    batch(conn, (1, "green", "S", "x", T(2)), (1, "blue", "S", "x", T(3)))

    assert apply(conn) == (2, 2, 1, 0, 0, 0, 0, 0)
    assert history(conn) == [
        row(1, 1, "red", "S", "x", T(1), T(2)),
        row(1, 2, "green", "S", "x", T(2), T(3)),
        row(1, 3, "blue", "S", "x", T(3), None),
    ]


def test_type1_change_overwrites_every_version(dim):
    conn = dim
    batch(conn, (1, "red", "S", "old", T(1)), (1, "blue", "S", "old", T(2)), (2, "red", "S", "keep", T(1)))
    apply(conn)
    batch(conn, (1, "blue", "S", "new", T(3)), (2, "red", "S", "keep", T(3)))

    counts = apply(conn)

    assert counts == (2, 0, 0, 2, 2, 0, 0, 0)
    assert history(conn) == [
        row(1, 1, "red", "S", "new", T(1), T(2)),
        row(1, 2, "blue", "S", "new", T(2), None),
        row(2, 1, "red", "S", "keep", T(1), None),
    ]


def test_type1_change_with_current_only_scope_overwrites_the_current_version(dim):
    conn = dim
    spec(conn, type1_scope="current_only")
    batch(conn, (1, "red", "S", "old", T(1)), (1, "blue", "S", "old", T(2)))
    apply(conn)
    batch(conn, (1, "blue", "S", "new", T(3)))

    counts = apply(conn)

    assert counts == (1, 0, 0, 1, 1, 0, 0, 0)
    assert history(conn) == [
        row(1, 1, "red", "S", "old", T(1), T(2)),
        row(1, 2, "blue", "S", "new", T(2), None),
    ]


def test_type2_and_type1_change_together_open_a_version_with_the_new_type1_value(dim):
    conn = dim
    batch(conn, (1, "red", "S", "old", T(1)))
    apply(conn)
    batch(conn, (1, "blue", "S", "new", T(2)))

    assert apply(conn) == (1, 1, 1, 1, 0, 0, 0, 0)
    assert history(conn) == [
        row(1, 1, "red", "S", "new", T(1), T(2)),
        row(1, 2, "blue", "S", "new", T(2), None),
    ]


def test_delete_policy_ignore_drops_deletes(dim):
    conn = dim
    spec(conn, delete_policy="ignore")
    batch(conn, (1, "red", "S", "x", T(1)))
    apply(conn)
    batch(conn, (1, "red", "S", "x", T(2), True))

    assert apply(conn) == (0, 0, 0, 0, 0, 0, 0, 0)
    assert history(conn) == [row(1, 1, "red", "S", "x", T(1), None)]


def test_delete_policy_close_ends_the_current_version_and_a_returning_key_reopens(dim):
    conn = dim
    batch(conn, (1, "red", "S", "x", T(1)), (2, "blue", "S", "y", T(1)))
    apply(conn)
    batch(conn, (1, "red", "S", "x", T(2), True))

    assert apply(conn) == (1, 0, 1, 0, 0, 1, 0, 0)
    assert history(conn) == [
        row(1, 1, "red", "S", "x", T(1), T(2)),
        row(2, 1, "blue", "S", "y", T(1), None),
    ]
    assert scalar(conn, "SELECT count(*) FROM public.dim_thing WHERE thing_id = 1 AND is_current") == 0

    # the same delete again changes nothing
    assert apply(conn) == (1, 0, 0, 0, 1, 0, 0, 0)

    batch(conn, (1, "green", "S", "x", T(3)))
    assert apply(conn) == (1, 1, 0, 0, 0, 0, 0, 0)
    assert history(conn) == [
        row(1, 1, "red", "S", "x", T(1), T(2)),
        row(1, 2, "green", "S", "x", T(3), None),
        row(2, 1, "blue", "S", "y", T(1), None),
    ]


def test_delete_policy_close_marker_opens_a_deleted_version_and_a_returning_key_reopens(dim):
    conn = dim
    spec(conn, delete_policy="close_marker")
    batch(conn, (1, "red", "S", "x", T(1)))
    apply(conn)
    batch(conn, (1, "red", "S", "x", T(2), True))

    assert apply(conn) == (1, 1, 1, 0, 0, 1, 0, 0)
    assert history(conn) == [
        row(1, 1, "red", "S", "x", T(1), T(2)),
        row(1, 2, "red", "S", "x", T(2), None, is_deleted=True),
    ]
    assert apply(conn) == (1, 0, 0, 0, 1, 0, 0, 0)

    batch(conn, (1, "red", "S", "x", T(3)))
    assert apply(conn) == (1, 1, 1, 0, 0, 0, 0, 0)
    assert history(conn) == [
        row(1, 1, "red", "S", "x", T(1), T(2)),
        row(1, 2, "red", "S", "x", T(2), T(3), is_deleted=True),
        row(1, 3, "red", "S", "x", T(3), None),
    ]


def test_delete_and_return_in_one_batch(dim):
    conn = dim
    batch(conn, (1, "red", "S", "x", T(1)), (1, "red", "S", "x", T(2), True), (1, "red", "S", "x", T(3)))

    assert apply(conn) == (3, 1 + 1, 0, 0, 0, 1, 0, 0)
    assert history(conn) == [
        row(1, 1, "red", "S", "x", T(1), T(2)),
        row(1, 2, "red", "S", "x", T(3), None),
    ]


def test_duplicate_key_and_change_time_is_resolved_deterministically(dim):
    conn = dim
    # the smallest values win, whatever the order the rows come in; the losers are quarantined
    batch(conn,
          (1, "red", "S", "x", T(1)), (1, "blue", "S", "x", T(1)),
          (2, "blue", "S", "x", T(1)), (2, "red", "S", "x", T(1)))

    counts = apply(conn, lineage_source="staging.dups")
    # rows_read (counts[0]) is left out: whether it counts source rows or distinct events is in flux
    assert counts[1:] == (2, 0, 0, 0, 0, 0, 2)
    assert history(conn) == [
        row(1, 1, "blue", "S", "x", T(1), None),
        row(2, 1, "blue", "S", "x", T(1), None),
    ]
    assert rows(conn, """
        SELECT target_table, source_table, record_key, payload->>'color', resolved_at
        FROM dwh_etl.quarantine ORDER BY record_key
    """) == [("public.dim_thing", "staging.dups", "(1)", "red", None),
             ("public.dim_thing", "staging.dups", "(2)", "red", None)]
    # a rerun records nothing twice
    apply(conn, lineage_source="staging.dups")
    assert rows(conn, "SELECT count(*) FROM dwh_etl.quarantine") == [(2,)]
    assert rows(conn, "SELECT rows_rejected FROM dwh_lineage.table_lineage ORDER BY lineage_id") == [(2,), (0,)]


def test_exact_duplicates_are_not_rejected(dim):
    conn = dim
    batch(conn, (1, "red", "S", "x", T(1)), (1, "red", "S", "x", T(1)))
    counts = apply(conn)
    assert (counts[1], counts[7]) == (1, 0)  # one version inserted, nothing rejected
    assert history(conn) == [row(1, 1, "red", "S", "x", T(1), None)]
    assert rows(conn, "SELECT count(*) FROM dwh_etl.quarantine") == [(0,)]


def test_late_change_splits_the_version_it_falls_into(dim):
    conn = dim
    batch(conn, (1, "red", "S", "x", T(1)), (1, "blue", "S", "x", T(3)))
    apply(conn)
    batch(conn, (1, "green", "S", "x", T(2)))

    assert apply(conn) == (1, 1, 0, 0, 0, 0, 1, 0)

    assert history(conn) == [
        row(1, 1, "red", "S", "x", T(1), T(2)),
        row(1, 2, "green", "S", "x", T(2), T(3)),
        row(1, 3, "blue", "S", "x", T(3), None),
    ]
    # the same late change again is recognised as already placed
    assert apply(conn) == (1, 0, 0, 0, 1, 0, 0, 0)
    assert len(history(conn)) == 3


def test_late_deletion_is_not_applied_and_is_counted_as_rejected(dim):
    conn = dim
    batch(conn, (1, "red", "S", "x", T(1)), (1, "blue", "S", "x", T(3)))
    apply(conn)
    before = history(conn)
    warnings = []
    conn.add_notice_handler(lambda d: warnings.append((d.severity_nonlocalized, d.message_primary)))
    batch(conn, (1, "red", "S", "x", T(2), True))

    assert apply(conn, lineage_source="staging.late") == (1, 0, 0, 0, 0, 0, 0, 1)

    assert history(conn) == before
    assert ("WARNING", "dimension test.thing: 1 late deletion(s) not applied") in warnings
    assert rows(conn, """
        SELECT source_table, rows_inserted, rows_updated, rows_unchanged, rows_rejected, rows_deleted
        FROM dwh_lineage.table_lineage
        WHERE source_table = 'staging.late'
    """) == [("staging.late", 0, 0, 0, 1, 0)]


def test_late_change_does_not_overwrite_newer_type1_values(dim):
    """Type 1 columns take the latest source value: a late change is older than the value the
    dimension holds, so its Type 1 values must not overwrite it."""
    conn = dim
    batch(conn, (1, "red", "S", "old", T(1)), (1, "blue", "S", "current", T(3)))
    apply(conn)
    batch(conn, (1, "green", "S", "stale", T(2)))

    apply(conn)

    assert history(conn) == [
        row(1, 1, "red", "S", "current", T(1), T(2)),
        row(1, 2, "green", "S", "current", T(2), T(3)),
        row(1, 3, "blue", "S", "current", T(3), None),
    ]


def test_change_with_the_current_versions_change_time_does_not_break_the_load(dim):
    """A later batch carrying other values for a key at exactly the change time of its current version
    (applied as a correction, or recorded as a conflicting duplicate) must not make the load fail:
    closing the current version at its own start violates valid_to > valid_from."""
    conn = dim
    batch(conn, (1, "red", "S", "x", T(1)))
    apply(conn)
    batch(conn, (1, "blue", "S", "x", T(1)))

    apply(conn)  # raises CheckViolation when the current version is closed at its own start

    assert rows(conn, "SELECT count(*) FROM public.dim_thing WHERE thing_id = 1 AND is_current") == [(1,)]


def test_counts_are_returned_and_logged_in_lineage(dim):
    conn = dim
    batch(conn, (1, "red", "S", "a", T(1)), (2, "red", "S", "b", T(1)), (3, "red", "S", "c", T(1)))
    apply(conn)
    batch(conn,
          (1, "blue", "S", "a", T(2)),          # type 2 change
          (2, "red", "S", "b2", T(2)),          # type 1 change
          (3, "red", "S", "c", T(2), True),     # delete
          (4, "new", "S", "d", T(2)))           # new key

    counts = apply(conn, lineage_source="staging.things")

    assert counts == (4, 2, 2, 1, 1, 1, 0, 0)
    assert rows(conn, """
        SELECT source_table, target_table, operation, rows_read, rows_inserted, rows_updated, rows_unchanged,
               rows_rejected, rows_deleted, notes
        FROM dwh_lineage.table_lineage
        WHERE source_table = 'staging.things'
    """) == [("staging.things", "public.dim_thing", "transform", 2 + 3 + 1 + 0 + 1, 2, 3, 1, 0, 1,
              "dimension test.thing (delta): 4 read, 2 versions inserted (0 late), 2 expired, 1 type-1 updates, "
              "1 unchanged, 1 deletes, 0 rejected")]
    assert rows(conn, "SELECT upstream_table, downstream_table FROM dwh_lineage.table_dependencies "
                      "WHERE downstream_table = 'public.dim_thing' ORDER BY 1") == [
        ("public.src_thing", "public.dim_thing"),  # the first batch, logged without a lineage source
        ("staging.things", "public.dim_thing"),
    ]


def test_lineage_source_defaults_to_the_source_relation(dim):
    conn = dim
    batch(conn, (1, "red", "S", "a", T(1)))
    apply(conn)
    assert rows(conn, "SELECT source_table, target_table FROM dwh_lineage.table_lineage") == [
        ("public.src_thing", "public.dim_thing")]


def test_unknown_dimension_is_an_error(dim):
    with pytest.raises(psycopg.errors.NoDataFound) as excinfo:
        dim.execute("SELECT * FROM dwh_etl.apply_dimension(p_dimension => 'nope', p_source => 'public.src_thing')")
    assert excinfo.value.diag.message_primary == "unknown dimension 'nope'"
    assert excinfo.value.diag.message_hint == "dwh_etl.dimension_specs lists the declared dimensions"


def test_missing_source_relation_is_an_error(dim):
    with pytest.raises(psycopg.errors.UndefinedTable) as excinfo:
        dim.execute("SELECT * FROM dwh_etl.apply_dimension(p_dimension => 'test.thing', p_source => 'public.nope')")
    assert excinfo.value.diag.message_primary == "source relation 'public.nope' of dimension test.thing does not exist"


def test_missing_source_column_is_an_error_and_nothing_is_written(dim):
    conn = dim
    conn.execute("CREATE TABLE public.src_partial (thing_id bigint, color text, change_ts timestamptz)")
    conn.execute("INSERT INTO public.src_partial VALUES (1, 'red', now())")

    with pytest.raises(psycopg.errors.UndefinedColumn) as excinfo:
        conn.execute("SELECT * FROM dwh_etl.apply_dimension(p_dimension => 'test.thing', p_source => 'public.src_partial')")

    assert excinfo.value.diag.message_primary == (
        "source public.src_partial lacks column(s) is_deleted, label, size needed by dimension test.thing")
    assert history(conn) == []
    assert scalar(conn, "SELECT count(*) FROM dwh_lineage.table_lineage") == 0


def test_a_first_load_tries_one_insert_and_a_key_with_two_rows_goes_the_general_way(dim):
    """Issue 15: the first load of an empty dimension from a snapshot is one INSERT; whether every key has
    one row is learned from that INSERT (the unique current-version index refuses a second row of a key:
    rolled back, the general path instead). Same history either way. A change batch counts first."""
    conn = dim
    seen: list[str] = []
    conn.add_notice_handler(lambda d: seen.append(d.message_primary))
    conn.execute("SET client_min_messages = debug1")

    def snapshot():
        seen.clear()
        result = rows(conn, "SELECT * FROM dwh_etl.apply_dimension('test.thing', 'public.src_thing', %s, "
                            "p_mode => 'snapshot')", (LOAD_TS,))
        check_invariants(conn)
        return result[0]

    def note():
        return scalar(conn, "SELECT notes FROM dwh_lineage.table_lineage ORDER BY lineage_id DESC LIMIT 1")

    batch(conn, *[(i, "red", "S", "x", T(1)) for i in range(1, 50)], (7, "blue", "S", "x", T(2)))
    snapshot()
    assert any("a key has several rows, the general path" in m for m in seen), seen
    assert "first load of an empty dimension" not in note()
    assert scalar(conn, "SELECT count(*) FROM public.dim_thing") == 50
    assert [r for r in history(conn) if r[0] == 7] == [
        row(7, 1, "red", "S", "x", T(1), T(2)), row(7, 2, "blue", "S", "x", T(2), None)]

    conn.execute("TRUNCATE public.dim_thing")
    batch(conn, *[(i, "red", "S", "x", T(1)) for i in range(1, 50)])
    assert snapshot() == (49, 49, 0, 0, 0, 0, 0, 0)
    assert any("first load in one INSERT, tried first" in m for m in seen), seen
    assert "first load of an empty dimension" in note()
    assert history(conn)[6] == row(7, 1, "red", "S", "x", T(1), None)

    # a change batch (delta) counts the rows per key first: same result, no INSERT tried
    conn.execute("TRUNCATE public.dim_thing")
    seen.clear()
    assert apply(conn) == (49, 49, 0, 0, 0, 0, 0, 0)
    assert not any("tried first" in m for m in seen), seen
    assert "first load of an empty dimension" in note()

    # a deletion flagged in the source: counted first (a key's deletion is a second row of it)
    conn.execute("TRUNCATE public.dim_thing")
    batch(conn, (1, "red", "S", "x", T(1)), (2, "red", "S", "x", T(1)), (2, "red", "S", "x", T(2), True))
    snapshot()
    assert not any("tried first" in m for m in seen), seen
    assert history(conn) == [row(1, 1, "red", "S", "x", T(1), None), row(2, 1, "red", "S", "x", T(1), T(2))]
