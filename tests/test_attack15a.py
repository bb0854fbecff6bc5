"""Attack 15a: the engine's public SQL API as a demanding DBA uses it from psql: the SCD engine
(dwh_etl.apply_dimension, the trigger API of dwh_etl.enable_scd_triggers, the statement guard of the SCD2
tables), the quality check functions and the lineage functions, with odd keys and values, back-dated
changes, direct writes, cancelled batches, other session settings, the two roles and hostile arguments.

A test whose docstring says DEFECT exposed one (fixed unless marked xfail); the others held and stay as
regression tests. The dimension is a module template (`a15_template`): public.dim_x, keyed by the
composite text key (code, region), Type 2 columns amount (numeric), attrs (jsonb), name (text), Type 1
column note, guarded like the warehouse's SCD2 tables (dwh_etl.scd2_guard), with a change-batch table
public.src_x; each test gets a clone of it.
"""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest

from conftest import database_template

UTC = dt.timezone.utc
LOAD_TS = dt.datetime(2025, 2, 1, tzinfo=UTC)


def T(day, hour=0):
    return dt.datetime(2025, 1, day, hour, tzinfo=UTC)


def scalar(conn, sql, params=None):
    return conn.execute(sql, params).fetchone()[0]


def rows(conn, sql, params=None):
    return conn.execute(sql, params).fetchall()


@database_template(scope="module")
def a15_template(conn):
    """The test dimension a15.x (public.dim_x) and its batch table public.src_x."""
    conn.execute("""
        CREATE TABLE public.dim_x (
            x_key bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            code text NOT NULL, region text NOT NULL,
            amount numeric, attrs jsonb, name text, note text,
            valid_from timestamptz NOT NULL, valid_to timestamptz, is_current boolean NOT NULL,
            version integer NOT NULL, is_deleted boolean NOT NULL DEFAULT false,
            _batch_id uuid NOT NULL, _loaded_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT dim_x_validity_ck CHECK (valid_to > valid_from),
            CONSTRAINT dim_x_version_ck CHECK (version >= 1),
            CONSTRAINT dim_x_current_ck CHECK (is_current = (valid_to IS NULL)),
            CONSTRAINT dim_x_version_uq UNIQUE (code, region, version))""")
    conn.execute("CREATE UNIQUE INDEX dim_x_current_uq ON public.dim_x (code, region) WHERE is_current")
    conn.execute("CALL dwh_etl.scd2_guard('public.dim_x', '{code,region}')")
    conn.execute("""CREATE TABLE public.src_x (code text, region text, amount numeric, attrs jsonb, name text,
                                               note text, change_ts timestamptz, is_deleted boolean)""")
    conn.execute("""CALL dwh_etl.register_dimension('a15.x', 'public.dim_x', 'x_key', '{code,region}',
                                                    '{amount,attrs,name}', '{note}', 'change_ts', 'is_deleted', 'close')""")
    conn.execute("GRANT SELECT ON public.src_x TO etl_service")
    conn.execute("GRANT SELECT, INSERT, UPDATE, DELETE ON public.dim_x TO etl_service")


@pytest.fixture
def dim(a15_template, conn):
    return conn


def batch(conn, *changes):
    """Replace the batch: tuples (code, region, amount, attrs, name, note, change_ts[, is_deleted])."""
    conn.execute("TRUNCATE public.src_x")
    for c in changes:
        c = tuple(c) + (False,) * (8 - len(c))
        conn.execute("INSERT INTO public.src_x VALUES (%s, %s, %s, %s::jsonb, %s, %s, %s, %s)", c)


def apply(conn, load_ts=LOAD_TS, mode="delta"):
    """(rows_read, inserted, expired, type1, unchanged, deleted, late, rejected)."""
    return rows(conn, "SELECT * FROM dwh_etl.apply_dimension('a15.x', 'public.src_x', %s, p_mode => %s)",
                (load_ts, mode))[0]


def history(conn, code=None):
    return rows(conn, """SELECT code, region, version, amount, attrs, name, valid_from, valid_to
                         FROM public.dim_x WHERE %s::text IS NULL OR code = %s
                         ORDER BY code, region, version""", (code, code))


def seed(conn):
    batch(conn, ("a", "eu", "1.0", '{"a": 1, "b": 2}', "Ann", "n", T(1)),
          ("b", "eu", "2", "{}", "", "n", T(1)),
          ("z", "eu", "-0.0", None, None, None, T(1)))
    assert apply(conn)[1] == 3


# ---------------------------------------------------------------------------------------------------
# apply_dimension: keys and values
# ---------------------------------------------------------------------------------------------------

def test_equal_values_in_another_notation_are_no_change_and_real_differences_are(dim):
    """Held: a value equal by its type is no change: numeric 1.0 vs 1.00, -0.0 vs 0, NaN vs NaN, jsonb
    with its keys in another order or other whitespace. Distinct values are changes, as a user expects
    of text: '' vs NULL, case, a trailing space."""
    seed(dim)
    batch(dim, ("a", "eu", "1.00", '{ "b":2,"a":1 }', "Ann", "n", T(2)),
          ("z", "eu", "0", None, None, None, T(2)))
    assert apply(dim)[1] == 0
    batch(dim, ("z", "eu", "NaN", None, None, None, T(3)))
    assert apply(dim)[1] == 1
    batch(dim, ("z", "eu", "NaN", None, None, None, T(4)))
    assert apply(dim)[1] == 0
    batch(dim, ("b", "eu", "2", "{}", None, "n", T(5)), ("a", "eu", "1", '{"a": 1, "b": 2}', "ann", "n", T(5)))
    assert apply(dim)[1:3] == (2, 2)
    batch(dim, ("a", "eu", "1", '{"a": 1, "b": 2}', "ann ", "n", T(6)))
    assert apply(dim)[1] == 1
    assert [r[5] for r in history(dim, "a")] == ["Ann", "ann", "ann "]


def test_composite_text_keys_with_odd_characters_stay_apart(dim):
    """Held: ('a,b', 'c') and ('a', 'b,c'), quotes, a backslash, parentheses, a NUL-free Unicode key and
    keys differing only in case or a trailing space are distinct keys; a rerun changes nothing."""
    keys = [("a,b", "c"), ("a", "b,c"), ('x"y', "(z)"), ("x'y", "\\"), ("Ä", "eu"), ("ä", "eu"), ("k ", "eu"), ("k", "eu")]
    batch(dim, *[(k, r, "1", None, "n", None, T(1)) for k, r in keys])
    assert apply(dim)[1] == len(keys)
    assert apply(dim)[1:3] == (0, 0)
    batch(dim, *[(k, r, "2", None, "n", None, T(2)) for k, r in keys[:1]])
    assert apply(dim)[1:3] == (1, 1)
    assert scalar(dim, "SELECT count(*) FROM public.dim_x WHERE code = 'a' AND region = 'b,c'") == 1


def test_a_null_key_is_quarantined_and_the_rest_of_the_batch_loads(dim):
    """DEFECT (medium): one source row with a NULL in the natural key failed the whole batch with the
    dimension's NOT NULL violation (and on a dimension whose key is nullable it would have opened another
    "new" version 1 at every rerun: NULL matches no version). Now such a row is quarantined with its
    reason and counted as rejected; the other rows load; a rerun records it once."""
    seed(dim)
    batch(dim, (None, "eu", "5", None, "n", None, T(7)), ("c", None, "5", None, "n", None, T(7)),
          ("c", "eu", "5", None, "n", None, T(7)))
    for _ in range(2):
        got = apply(dim)
        assert got[0] == 3 and got[7] == 2
    assert [r[:3] for r in history(dim, "c")] == [("c", "eu", 1)]
    assert rows(dim, """SELECT record_key, reasons[1] LIKE 'natural key (code, region) has a NULL%%', deliveries
                        FROM dwh_etl.quarantine WHERE target_table = 'public.dim_x' ORDER BY 1""") == \
        [("(,eu)", True, 1), ("(c,)", True, 1)]
    # the first load of an empty dimension (its one-INSERT path) too
    dim.execute("TRUNCATE public.dim_x")
    got = apply(dim, mode="snapshot")
    assert got[1] == 1 and got[7] == 2


def test_a_change_time_of_infinity_or_far_ahead_does_not_freeze_the_key(dim):
    """DEFECT (high): a change time of 'infinity' (or 2099) opened a current version valid from then; every
    real change after it was "late", placed in history below it, and the key's current row never moved
    again. Now a change time after the accepted range (now, or the end of the run date, plus the setting
    quality.max_future, as silver's event times) is quarantined with its reason; a p_load_ts beyond it
    (rows without a change time take it) is refused."""
    seed(dim)
    batch(dim, ("a", "eu", "9", None, "Ann", "n", "infinity"), ("b", "eu", "9", None, "", "n", "2099-01-01"))
    got = apply(dim)
    assert got[1] == 0 and got[7] == 2
    batch(dim, ("a", "eu", "3", None, "Ann", "n", T(10)))
    apply(dim)
    assert scalar(dim, "SELECT amount FROM public.dim_x WHERE code = 'a' AND is_current") == 3
    with pytest.raises(psycopg.errors.InvalidParameterValue):
        apply(dim, load_ts="infinity")
    with pytest.raises(psycopg.errors.InvalidParameterValue):
        apply(dim, load_ts=dt.datetime(2099, 1, 1, tzinfo=UTC))


def test_back_dated_and_equal_time_changes_across_batches(dim):
    """Held: a change earlier than the first version opens the history there, one between two versions
    splits the earlier one, one at a version's exact start with other values is recorded as a conflict
    (quarantined), not applied; the same batch again changes nothing; versions stay 1..n in time order."""
    seed(dim)
    batch(dim, ("a", "eu", "2", None, "Ann", "n", T(5)))
    apply(dim)
    batch(dim, ("a", "eu", "0", None, "Ann", "n", dt.datetime(2024, 12, 1, tzinfo=UTC)),
          ("a", "eu", "1.5", None, "Ann", "n", T(3)), ("a", "eu", "7", None, "Ann", "n", T(5)))
    first = apply(dim)
    assert first[6] == 2 and first[7] == 1
    assert apply(dim)[1:4] == (0, 0, 0)
    assert [(r[2], r[3], r[6]) for r in history(dim, "a")] == [
        (1, 0, dt.datetime(2024, 12, 1, tzinfo=UTC)), (2, 1, T(1)), (3, 1.5, T(3)), (4, 2, T(5))]


def test_a_key_deleted_and_reinserted_in_one_batch_and_across_batches(dim):
    """Held: delete then re-insert of a key in one batch gives a closed version and a new one; a snapshot
    without the key closes it, the next snapshot with it reopens it as the next version."""
    seed(dim)
    batch(dim, ("b", "eu", "2", "{}", "", "n", T(3), True), ("b", "eu", "3", "{}", "", "n", T(4)))
    apply(dim)
    assert [(r[2], r[3]) for r in history(dim, "b")] == [(1, 2), (2, 3)]
    batch(dim, ("a", "eu", "1.0", '{"a": 1, "b": 2}', "Ann", "n", T(1)), ("z", "eu", "0", None, None, None, T(1)))
    assert apply(dim, load_ts=T(6), mode="snapshot")[5] == 1
    batch(dim, ("a", "eu", "1.0", '{"a": 1, "b": 2}', "Ann", "n", T(1)), ("z", "eu", "0", None, None, None, T(1)),
          ("b", "eu", "3", "{}", "", "n", T(8)))
    apply(dim, load_ts=T(9), mode="snapshot")
    assert [(r[2], r[7]) for r in history(dim, "b")] == [(1, T(3)), (2, T(6)), (3, None)]


# ---------------------------------------------------------------------------------------------------
# direct writes and the trigger API
# ---------------------------------------------------------------------------------------------------

BREAKING = {
    "version_renumbered": "UPDATE public.dim_x SET version = 7 WHERE code = 'b' AND is_current",
    "middle_version_deleted": "DELETE FROM public.dim_x WHERE code = 'b' AND version = 1",
    "current_moved_to_another_key": "UPDATE public.dim_x SET code = 'q' WHERE code = 'b' AND is_current",
    "back_dated_version_n_plus_1": """INSERT INTO public.dim_x (code, region, valid_from, valid_to, is_current, version, _batch_id)
                                      VALUES ('a', 'eu', '2024-01-01', '2024-06-01', false, 2, gen_random_uuid())""",
}


@pytest.mark.parametrize("as_etl", [False, True], ids=["owner", "etl_service"])
@pytest.mark.parametrize("case", sorted(BREAKING))
def test_a_direct_write_that_breaks_versions_1_to_n_is_refused(dim, case, as_etl):
    """DEFECT (medium): README says the SCD2 tables enforce versions 1..n, but only overlaps were
    refused: a renumbered version, a deleted middle version, a current version moved to another key, a
    back-dated INSERT numbered after the current version were accepted (the last one made every later
    batch of the key fail with a unique violation on (key, version)). Now the statement guard (migration
    0072) refuses them with 23514 for the owner and etl_service alike; the table is unchanged."""
    seed(dim)
    batch(dim, ("b", "eu", "3", "{}", "", "n", T(4)))
    apply(dim)
    before = history(dim)
    if as_etl:
        dim.execute("SET ROLE etl_service")
    with pytest.raises(psycopg.errors.CheckViolation, match="dim_x_versions"):
        dim.execute(BREAKING[case])
    dim.execute("RESET ROLE")
    assert history(dim) == before


def test_direct_writes_that_keep_the_invariants_are_accepted(dim):
    """Held: closing a key by hand, removing its latest version or the whole key, a Type 2 fix of a closed
    version in place, and the engine's own late changes (renumbering in several statements) pass."""
    seed(dim)
    batch(dim, ("b", "eu", "3", "{}", "", "n", T(4)))
    apply(dim)
    dim.execute("UPDATE public.dim_x SET valid_to = %s, is_current = false WHERE code = 'a' AND is_current", (T(20),))
    dim.execute("DELETE FROM public.dim_x WHERE code = 'b' AND version = 2")
    dim.execute("DELETE FROM public.dim_x WHERE code = 'z'")
    dim.execute("UPDATE public.dim_x SET amount = 2.5 WHERE code = 'b' AND version = 1")
    batch(dim, ("a", "eu", "0", None, "Ann", "n", dt.datetime(2024, 6, 1, tzinfo=UTC)))
    assert apply(dim)[6] == 1
    assert [r[2] for r in history(dim, "a")] == [1, 2]


def test_the_guard_covers_every_scd2_table_of_the_warehouse(dim):
    """Held (with the fix): every SCD2 table guarded by dwh_etl.scd2_guard has the delete trigger too."""
    assert rows(dim, """
        SELECT t.tgrelid::regclass::text FROM pg_trigger AS t
        WHERE t.tgfoid = 'dwh_etl.trg_scd2_no_overlap'::regproc
        GROUP BY 1 HAVING count(*) <> 3""") == []


def test_trigger_api_insert_dated_before_the_current_version_is_refused(dim):
    """DEFECT (medium): with the trigger API on, an INSERT of an existing key with valid_from before its
    current version (a back-dated correction) was moved to a microsecond after that version's start: the
    current version was truncated to 1 µs and the late values became current. Now it is refused
    (23514) with a hint to apply_dimension, which places late changes; an INSERT without valid_from (now)
    still becomes the next version."""
    seed(dim)
    dim.execute("CALL dwh_etl.enable_scd_triggers('a15.x')")
    with pytest.raises(psycopg.errors.CheckViolation, match="must start after its current version"):
        dim.execute("""INSERT INTO public.dim_x (code, region, amount, name, valid_from, _batch_id)
                       VALUES ('a', 'eu', 9, 'Ann', '2024-06-01', gen_random_uuid())""")
    dim.execute("INSERT INTO public.dim_x (code, region, amount, name, _batch_id) VALUES ('a', 'eu', 9, 'Ann', gen_random_uuid())")
    assert [(r[2], r[3]) for r in history(dim, "a")] == [(1, 1), (2, 9)]


# ---------------------------------------------------------------------------------------------------
# cancel, session settings, roles, hostile arguments
# ---------------------------------------------------------------------------------------------------

def test_a_batch_cancelled_by_statement_timeout_leaves_nothing(dim):
    """Held: apply_dimension is one statement: a statement_timeout while it reads its source (a view
    sleeping per row) leaves no version, no quarantine entry, no lineage; the next call applies it."""
    seed(dim)
    batch(dim, ("a", "eu", "4", None, "Ann", "n", T(9)), (None, "eu", "4", None, "Ann", "n", T(9)))
    dim.execute("""CREATE VIEW public.src_slow AS SELECT s.* FROM public.src_x AS s, LATERAL pg_sleep(0.3) AS z""")
    before = (history(dim), scalar(dim, "SELECT count(*) FROM dwh_etl.quarantine"),
              scalar(dim, "SELECT count(*) FROM dwh_lineage.table_lineage"))
    dim.execute("SET statement_timeout = '400ms'")
    with pytest.raises(psycopg.errors.QueryCanceled):
        dim.execute("SELECT * FROM dwh_etl.apply_dimension('a15.x', 'public.src_slow', %s)", (LOAD_TS,))
    dim.execute("RESET statement_timeout")
    assert (history(dim), scalar(dim, "SELECT count(*) FROM dwh_etl.quarantine"),
            scalar(dim, "SELECT count(*) FROM dwh_lineage.table_lineage")) == before
    assert apply(dim)[1] == 1


def test_other_session_settings_change_nothing(dim):
    """Held: the same batch applied again under another TimeZone, DateStyle, search_path, lc_numeric and
    extra_float_digits is a no-op; an unqualified source name resolves (temp tables too)."""
    seed(dim)
    for setting in ("TimeZone = 'Pacific/Chatham'", "DateStyle = 'SQL, DMY'", "search_path = pg_catalog",
                    "lc_numeric = 'C'", "extra_float_digits = -15", "IntervalStyle = 'sql_standard'"):
        dim.execute(f"SET {setting}")
    batch(dim, ("a", "eu", "1.0", '{"a": 1, "b": 2}', "Ann", "n", T(1)))
    assert apply(dim)[1:4] == (0, 0, 0)
    dim.execute("RESET ALL")
    dim.execute("CREATE TEMP TABLE my_batch AS SELECT * FROM public.src_x")
    assert rows(dim, "SELECT rows_read, rows_inserted FROM dwh_etl.apply_dimension('a15.x', 'my_batch')") == [(1, 0)]


def test_roles_call_only_what_they_may(dim):
    """Held: analyst_role reaches no engine or lineage routine; etl_service may apply a batch to a table
    it writes but neither declare a dimension nor install the trigger API (the registry is code)."""
    seed(dim)
    dim.execute("SET ROLE analyst_role")
    for sql in ("SELECT * FROM dwh_etl.apply_dimension('a15.x', 'public.src_x')",
                "SELECT * FROM dwh_lineage.get_upstream('sales.fact_sales')",
                "SELECT * FROM dwh_etl.check_not_null('public.dim_x', 'code')"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            dim.execute(sql)
    dim.execute("RESET ROLE")
    dim.execute("SET ROLE etl_service")
    assert apply(dim)[0] == 3
    for sql in ("CALL dwh_etl.enable_scd_triggers('a15.x')",
                "CALL dwh_etl.register_dimension('a15.y', 'public.dim_x', 'x_key', '{code}', '{}')",
                "UPDATE dwh_etl.dimension_specs SET type2_columns = '{}' WHERE dimension_name = 'a15.x'"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            dim.execute(sql)
    dim.execute("RESET ROLE")


@pytest.mark.parametrize("dimension, source, error", [
    ("a15.x'; DROP TABLE public.dim_x; --", "public.src_x", psycopg.errors.NoDataFound),
    ("a15.x", "public.src_x; DROP TABLE public.dim_x", psycopg.errors.Error),
    ("a15.x", 'public."src_x"" ; DROP TABLE public.dim_x; --"', psycopg.errors.UndefinedTable),
    ("a15.x", "(SELECT 1)", psycopg.errors.Error),
])
def test_sql_in_the_arguments_is_a_clean_error_and_runs_nothing(dim, dimension, source, error):
    """Held: a dimension name or source name carrying SQL is an error; the dimension is untouched."""
    seed(dim)
    with pytest.raises(error):
        dim.execute("SELECT * FROM dwh_etl.apply_dimension(%s, %s)", (dimension, source))
    assert scalar(dim, "SELECT count(*) FROM public.dim_x") == 3


def test_quality_checks_with_hostile_identifiers_and_lineage_of_unknown_or_huge_things(dim):
    """Held: seed 002's check functions quote their identifiers (a column named with SQL is an unknown
    column, nothing runs); lineage of a table that does not exist is empty; a negative history limit is
    an error; a history of 5,000 runs of one pipeline returns the asked few."""
    for sql in ("SELECT * FROM dwh_etl.check_not_null('public.dim_x', 'code) IS NULL OR true; DROP TABLE public.dim_x; --')",
                "SELECT * FROM dwh_etl.check_unique('public.dim_x; DROP TABLE public.dim_x', ARRAY['code'])"):
        with pytest.raises(psycopg.errors.Error):
            dim.execute(sql)
    assert scalar(dim, "SELECT count(*) FROM pg_class WHERE oid = 'public.dim_x'::regclass") == 1
    assert rows(dim, "SELECT * FROM dwh_lineage.get_upstream('no.such_table')") == []
    assert rows(dim, "SELECT * FROM dwh_lineage.get_downstream('x''); DROP TABLE public.dim_x; --')") == []
    with pytest.raises(psycopg.errors.Error):
        dim.execute("SELECT * FROM dwh_lineage.get_pipeline_history('daily', -1)")
    dim.execute("""INSERT INTO dwh_lineage.pipeline_runs (pipeline_name, batch_id, status, started_at, completed_at)
                   SELECT 'a15', gen_random_uuid(), 'completed', now() - g * interval '1 minute', now()
                   FROM generate_series(1, 5000) AS g""")
    assert len(rows(dim, "SELECT * FROM dwh_lineage.get_pipeline_history('a15', 3)")) == 3
