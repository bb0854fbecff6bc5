"""Review 12 of issue 15's SCD changes (15ff807..5ba844f): the no-overlap guard's one ordered pass for a
large statement (migration 0060), apply_dimension's optimistic first load of an empty dimension and its
compare without the join to keys with several rows, dwh_etl._tombstone_table knowing
sales_src.deleted_records.

A test whose docstring says DEFECT exposed one (fixed); the others held and stay as regression tests.
"""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import cloned_database

UTC = dt.timezone.utc
LOAD_TS = dt.datetime(2025, 2, 1, tzinfo=UTC)


def T(day):
    return dt.datetime(2025, 1, day, tzinfo=UTC)


def scalar(conn, sql, params=None):
    return conn.execute(sql, params).fetchone()[0]


def rows(conn, sql, params=None):
    return conn.execute(sql, params).fetchall()


@pytest.fixture(scope="module")
def wh(postgresql_proc):
    """One clone of the migrated warehouse for the module (autocommit)."""
    with cloned_database(postgresql_proc, postgresql_proc.template_dbname, "r12") as c:
        yield c


# -----------------------------------------------------------------------------------------------------
# apply_dimension: the optimistic first load against the general path
# -----------------------------------------------------------------------------------------------------

def make_dim(conn, name, *, variant="gist", key_not_null=True, version_uq="UNIQUE (thing_id, version)",
             current_uq=True, delete_policy="close", type1=("label",)):
    """A dimension public.<name> shaped like tests/test_engine_scd.py's (with per-record lineage), spec
    'r12.<name>' reading public.r12_src. variant: gist (exclusion constraint), guard (dwh_etl.scd2_guard)
    or none (no overlap check at all)."""
    excl = ", CONSTRAINT {0}_no_overlap EXCLUDE USING gist (thing_id WITH =, tstzrange(valid_from, valid_to) WITH &&)"
    conn.execute(f"""
        CREATE TABLE public.{name} (
            thing_key   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            thing_id    bigint {'NOT NULL' if key_not_null else ''},
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
            _source_bronze_id bigint,
            CHECK (valid_to > valid_from), CHECK (is_current = (valid_to IS NULL))
            {', CONSTRAINT ' + name + '_version_uq ' + version_uq if version_uq else ''}
            {excl.format(name) if variant in ('gist', 'guard') else ''})""")
    if current_uq:
        conn.execute(f"CREATE UNIQUE INDEX {name}_current_uq ON public.{name} (thing_id) WHERE is_current")
    if variant == "guard":
        conn.execute(f"CALL dwh_etl.scd2_guard('public.{name}', '{{thing_id}}')")
    conn.execute("""
        INSERT INTO dwh_etl.dimension_specs (
            dimension_name, target_table, surrogate_key, natural_key, type2_columns, type1_columns,
            change_ts_column, deleted_flag_column, delete_policy, type1_scope)
        VALUES (%s, %s, 'thing_key', '{thing_id}', '{color,size}', %s, 'change_ts', 'is_deleted', %s, 'all_versions')
    """, (f"r12.{name}", f"public.{name}", list(type1), delete_policy))


@pytest.fixture(scope="module")
def dims(wh):
    wh.execute("""CREATE TABLE public.r12_src (thing_id bigint, color text, size text, label text,
                                                change_ts timestamptz, is_deleted boolean, _source_bronze_id bigint)""")
    make_dim(wh, "opt_gist", variant="gist")
    make_dim(wh, "opt_guard", variant="guard")
    # the same, forced to the general path: the key may be NULL (no optimistic INSERT) and the table is
    # never empty (a row of key -1, which no source row names: delta mode leaves it alone)
    make_dim(wh, "gen", variant="guard", key_not_null=False)
    return wh


DIMS = ("opt_gist", "opt_guard", "gen")


def note(conn, name):
    return scalar(conn, "SELECT notes FROM dwh_lineage.table_lineage WHERE target_table = %s "
                        "ORDER BY lineage_id DESC LIMIT 1", (f"public.{name}",))


def reset(conn, policy="close"):
    for d in DIMS:
        conn.execute(f"TRUNCATE public.{d}")
        conn.execute("UPDATE dwh_etl.dimension_specs SET delete_policy = %s WHERE dimension_name = %s",
                     (policy, f"r12.{d}"))
    conn.execute("DELETE FROM dwh_etl.quarantine WHERE target_table LIKE 'public.%'")
    conn.execute("""INSERT INTO public.gen (thing_id, color, valid_from, valid_to, is_current, version, _batch_id)
                    VALUES (-1, 'dummy', '2020-01-01', '2020-01-02', false, 1, gen_random_uuid())""")


def load_src(conn, batch):
    conn.execute("TRUNCATE public.r12_src")
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO public.r12_src VALUES (%s, %s, %s, %s, %s, %s, %s)", batch)


def apply_all(conn, mode="delta"):
    out = {}
    for d in DIMS:
        try:
            out[d] = rows(conn, "SELECT * FROM dwh_etl.apply_dimension(%s, 'public.r12_src', %s, p_mode => %s)",
                          (f"r12.{d}", LOAD_TS, mode))[0]
        except psycopg.Error as e:
            out[d] = f"{type(e).__name__}: {e.diag.message_primary}"
    return out


def history(conn, d):
    return rows(conn, f"""SELECT thing_id, version, color, size, label, valid_from, valid_to, is_current, is_deleted,
                                 _source_bronze_id
                          FROM public.{d} WHERE thing_id IS DISTINCT FROM -1 ORDER BY thing_id, version""")


def quarantined(conn, d):
    return rows(conn, """SELECT record_key, payload, reasons FROM dwh_etl.quarantine WHERE target_table = %s
                         ORDER BY record_key, payload::text""", (f"public.{d}",))


def lineage(conn, d):
    return rows(conn, """SELECT rows_inserted, rows_updated, rows_deleted, rows_rejected, rows_unchanged
                         FROM dwh_lineage.table_lineage WHERE target_table = %s ORDER BY lineage_id DESC LIMIT 1""",
                (f"public.{d}",))


def same_everywhere(conn, mode="delta"):
    out = apply_all(conn, mode)
    ref = ("gen", out["gen"], history(conn, "gen"), quarantined(conn, "gen"), lineage(conn, "gen"))
    for d in ("opt_gist", "opt_guard"):
        got = (d, out[d], history(conn, d), quarantined(conn, d), lineage(conn, d))
        assert got[1:] == ref[1:], (got, ref)
    return out


src_row = st.tuples(
    st.integers(1, 4),                                   # thing_id
    st.sampled_from([None, "red", "blue"]),              # color
    st.sampled_from([None, "S"]),                        # size
    st.sampled_from([None, "x", "y"]),                   # label (Type 1)
    st.sampled_from([None, 1, 2, 3]),                    # change day (None: the load time)
    st.sampled_from([False, False, False, None, True]),  # deleted flag
    st.integers(1, 3),                                   # _source_bronze_id
)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(batch=st.lists(src_row, max_size=7), policy=st.sampled_from(["close", "close_marker", "ignore"]),
       mode=st.sampled_from(["delta", "snapshot"]))
def test_the_optimistic_first_load_equals_the_general_path(dims, batch, policy, mode):
    """Property (held): on random first loads (keys with one or several rows, equal change times, NULL
    change times, NULL/true deleted flags, every delete policy, delta and snapshot), the dimensions that
    qualify for the optimistic INSERT (GiST and statement-guard variants) end with the same history,
    counts, quarantine and lineage counts as one forced to the general path."""
    conn = dims
    reset(conn, policy)
    load_src(conn, [(k, c, s, lab, T(d) if d else None, dl, b) for k, c, s, lab, d, dl, b in batch])
    same_everywhere(conn, mode)


def test_the_optimistic_first_load_is_taken_and_a_duplicate_falls_back(dims):
    """Held: one row per key is the one INSERT (note 'first load of an empty dimension'); exact duplicate
    rows and a same-time pair of different values fall back (the pair's loser quarantined as by the
    general path)."""
    conn = dims
    reset(conn)
    load_src(conn, [(k, "red", "S", "x", T(1), False, k) for k in range(1, 6)])
    out = same_everywhere(conn)
    assert out["opt_guard"] == (5, 5, 0, 0, 0, 0, 0, 0)
    assert "first load of an empty dimension" in note(conn, "opt_guard")
    reset(conn)
    load_src(conn, [(1, "red", "S", "x", T(1), False, 1), (1, "red", "S", "x", T(1), False, 1),
                    (2, "red", "S", "x", T(1), False, 2), (2, "blue", "S", "x", T(1), False, 3)])
    same_everywhere(conn)
    assert "first load of an empty dimension" not in note(conn, "opt_guard")
    assert len(quarantined(conn, "opt_guard")) == 1


def test_a_deferred_unique_constraint_does_not_stand_for_the_check_of_the_optimistic_insert(dims):
    """DEFECT: the optimistic INSERT's only stop for a key with several rows was a unique index on the key
    (+ version); a DEFERRABLE one (UNIQUE (thing_id, version) DEFERRABLE INITIALLY DEFERRED, e.g. so the
    engine's renumbering never sees a transient clash) checks at COMMIT, not in the subtransaction: the
    load took the fast path, wrote two current version 1 rows of key 7, and the transaction failed at
    commit (the general path loads it: two versions)."""
    conn = dims
    make_dim(conn, "defer", variant="none", current_uq=False,
             version_uq="UNIQUE (thing_id, version) DEFERRABLE INITIALLY DEFERRED")
    conn.execute("TRUNCATE public.r12_src")
    conn.execute("""INSERT INTO public.r12_src VALUES (7, 'red', 'S', 'x', '2025-01-01', false, 1),
                                                      (7, 'blue', 'S', 'x', '2025-01-02', false, 2),
                                                      (8, 'red', 'S', 'x', '2025-01-01', false, 3)""")
    # (a snapshot: the optimistic INSERT is tried for snapshots only)
    assert rows(conn, "SELECT * FROM dwh_etl.apply_dimension('r12.defer', 'public.r12_src', %s, p_mode => 'snapshot')",
                (LOAD_TS,)) == [(3, 3, 0, 0, 0, 0, 0, 0)]
    assert [r[:3] + r[5:8] for r in history(conn, "defer")] == [
        (7, 1, "red", T(1), T(2), False), (7, 2, "blue", T(2), None, True), (8, 1, "red", T(1), None, True)]


# -----------------------------------------------------------------------------------------------------
# the no-overlap guard: a large statement's one ordered pass refuses exactly what the keyed check does
# -----------------------------------------------------------------------------------------------------

def refusal(conn, sql, params=None, debug=None):
    """None when the statement (run in a transaction rolled back afterwards) passes, else the refusal's
    (SQLSTATE, constraint, DETAIL)."""
    try:
        with conn.transaction(force_rollback=True):
            if debug is not None:
                conn.execute("SET LOCAL client_min_messages = debug1")
            conn.execute(sql, params)
    except psycopg.Error as e:
        return (e.sqlstate, e.diag.constraint_name, e.diag.message_detail)
    return None


def passes(seen):
    return sum("one ordered pass" in m for m in seen)


@pytest.fixture(scope="module")
def notices(wh):
    seen: list[str] = []
    wh.add_notice_handler(lambda d: seen.append(d.message_primary))
    return seen


def test_a_large_statement_refuses_an_overlap_of_a_key_with_a_null_field(wh, notices):
    """DEFECT (low): the pass left out versions whose key 'IS NOT NULL' was false, meant as a NULL key. For
    a key column of a composite type IS NOT NULL is false as soon as one field is NULL, while "=" (the
    keyed check, the unique btree) treats NULL fields as equal: two overlapping open versions of key
    (1, NULL) were refused by a small statement and accepted by a statement of 12,000 rows (migration 0060 as reviewed:
    IS DISTINCT FROM NULL)."""
    conn = wh
    conn.execute("CREATE TYPE public.r12_pair AS (a integer, b integer)")
    conn.execute("""CREATE TABLE public.r12_dimp (k public.r12_pair NOT NULL, valid_from timestamptz NOT NULL,
                    valid_to timestamptz, is_current boolean NOT NULL, version integer NOT NULL)""")
    conn.execute("CALL dwh_etl.scd2_guard('public.r12_dimp', '{k}')")
    pair = """VALUES (ROW(1, NULL)::public.r12_pair, '2025-01-01'::timestamptz, NULL::timestamptz, true, 1),
                     (ROW(1, NULL)::public.r12_pair, '2025-01-05'::timestamptz, NULL::timestamptz, true, 2)"""
    small = refusal(conn, f"INSERT INTO public.r12_dimp {pair}")
    assert small is not None and small[:2] == ("23P01", "r12_dimp_no_overlap")
    notices.clear()
    large = refusal(conn, f"""INSERT INTO public.r12_dimp
                              SELECT ROW(g, 0)::public.r12_pair, '2025-01-01'::timestamptz, NULL::timestamptz, true, 1
                              FROM generate_series(1, 12000) AS g UNION ALL {pair}""", debug=True)
    assert passes(notices) == 1
    assert large == small
    # a key that IS NULL (the composite itself) still matches nothing, in both
    conn.execute("ALTER TABLE public.r12_dimp ALTER COLUMN k DROP NOT NULL")
    nulls = """VALUES (NULL::public.r12_pair, '2025-01-01'::timestamptz, NULL::timestamptz, true, 1),
                      (NULL::public.r12_pair, '2025-01-05'::timestamptz, NULL::timestamptz, true, 2)"""
    assert refusal(conn, f"INSERT INTO public.r12_dimp {nulls}") is None
    assert refusal(conn, f"""INSERT INTO public.r12_dimp
                             SELECT ROW(g, 0)::public.r12_pair, '2025-01-01'::timestamptz, NULL::timestamptz, true, 1
                             FROM generate_series(1, 12000) AS g UNION ALL {nulls}""") is None


def customers(keys, extra=""):
    return f"""INSERT INTO sales.dim_customer (customer_id, full_name, customer_segment, valid_from,
                                               valid_to, is_current, version, _batch_id)
               SELECT g, 'A B', 'Consumer', '2025-01-01 00:00+00'::timestamptz,
                      '2025-02-01 00:00+00'::timestamptz, false, 1, gen_random_uuid()
               FROM {keys} AS g {extra}"""


@pytest.mark.parametrize("n", [9998, 9999, 20000])
def test_a_dba_insert_select_into_dim_customer_is_refused_as_a_small_one_under_any_session_settings(wh, notices, n):
    """Held: a DBA's INSERT ... SELECT of 9,999 / exactly 10,000 / 20,001 rows into sales.dim_customer (empty, stats
    never gathered) reaching into an existing version of key 5 is refused with the same SQLSTATE,
    constraint and DETAIL as the one-row INSERT, under TimeZone Asia/Tokyo and DateStyle 'SQL, DMY'; from
    10,000 rows by the one ordered pass. Without the overlap, it passes."""
    conn = wh
    conn.execute("SET TimeZone = 'Asia/Tokyo'")
    conn.execute("SET DateStyle = 'SQL, DMY'")
    try:
        with conn.transaction(force_rollback=True):
            conn.execute(customers("generate_series(5, 5)"))
            late = """UNION ALL SELECT 5, 'A B', 'Consumer', '2025-01-20 00:00+00'::timestamptz, NULL, true, 2,
                                        gen_random_uuid()"""
            small = refusal(conn, customers("generate_series(1, 0)", late))
            assert small is not None and small[:2] == ("23P01", "dim_customer_no_overlap")
            assert "Versions of key (5) overlap: [2025-01-01 09:00:00+09" in small[2] or \
                   "Versions of key (5) overlap: [01/01/2025 09:00:00 JST" in small[2], small
            notices.clear()
            big = refusal(conn, customers(f"generate_series(100, {99 + n})", late), debug=True)
            assert passes(notices) == (1 if n + 1 >= 10000 else 0)
            assert big == small
            assert refusal(conn, customers(f"generate_series(100, {99 + n})")) is None
    finally:
        conn.execute("RESET TimeZone")
        conn.execute("RESET DateStyle")


@pytest.fixture(scope="module")
def ck_dims(wh):
    """Type 1 only dimensions on a composite text key (region, code), no change time and no deleted flag
    (every row at the load time: two rows of a key are duplicates): ck_opt qualifies for the optimistic
    INSERT (statement guard), ck_gen is forced to the general path (nullable key part, a row of another
    key)."""
    wh.execute("CREATE TABLE public.r12_ck_src (region text, code text, label text, _source_bronze_id bigint)")
    for name, notnull in (("ck_opt", "NOT NULL"), ("ck_gen", "")):
        wh.execute(f"""
            CREATE TABLE public.{name} (
                sk bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                region text NOT NULL, code text {notnull}, label text,
                valid_from timestamptz NOT NULL, valid_to timestamptz, is_current boolean NOT NULL,
                version integer NOT NULL, is_deleted boolean NOT NULL DEFAULT false, _batch_id uuid NOT NULL,
                _loaded_at timestamptz NOT NULL DEFAULT now(), _source_bronze_id bigint)""")
        wh.execute(f"CREATE UNIQUE INDEX {name}_cur ON public.{name} (code, region) WHERE is_current")
        wh.execute(f"CALL dwh_etl.scd2_guard('public.{name}', '{{region,code}}')")
        wh.execute("""INSERT INTO dwh_etl.dimension_specs (dimension_name, target_table, surrogate_key, natural_key,
                                                           type2_columns, type1_columns)
                      VALUES (%s, %s, 'sk', '{region,code}', '{}', '{label}')""", (f"r12.{name}", f"public.{name}"))
    return wh


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(batch=st.lists(st.tuples(st.sampled_from(["x", "X"]), st.sampled_from(["a", "a ", "A", " a"]),
                                st.sampled_from([None, "l", "L", "l "]), st.integers(1, 2)), max_size=6),
       mode=st.sampled_from(["delta", "snapshot"]))
def test_a_type1_composite_text_key_first_load_equals_the_general_path(ck_dims, batch, mode):
    """Property (held): keys equal but for case or trailing/leading spaces are different keys in both paths;
    duplicates (same key, same time) are quarantined alike; session TimeZone Asia/Tokyo and DateStyle
    'SQL, DMY' (the quarantine's change_ts) change nothing between the paths."""
    conn = ck_dims
    conn.execute("SET TimeZone = 'Asia/Tokyo'")
    conn.execute("SET DateStyle = 'SQL, DMY'")
    try:
        conn.execute("TRUNCATE public.ck_opt, public.ck_gen, public.r12_ck_src")
        conn.execute("DELETE FROM dwh_etl.quarantine WHERE target_table LIKE 'public.ck_%'")
        conn.execute("""INSERT INTO public.ck_gen (region, code, valid_from, valid_to, is_current, version, _batch_id)
                        VALUES ('zz', NULL, '2020-01-01', '2020-01-02', false, 1, gen_random_uuid())""")
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO public.r12_ck_src VALUES (%s, %s, %s, %s)", batch)
        got = {}
        for name in ("ck_opt", "ck_gen"):
            got[name] = (
                rows(conn, "SELECT * FROM dwh_etl.apply_dimension(%s, 'public.r12_ck_src', %s, p_mode => %s)",
                     (f"r12.{name}", LOAD_TS, mode)),
                rows(conn, f"""SELECT region, code, label, version, valid_from::text, valid_to::text, is_current, is_deleted,
                                      _source_bronze_id
                               FROM public.{name} WHERE region <> 'zz' ORDER BY region, code, version"""),
                rows(conn, """SELECT record_key, payload, reasons FROM dwh_etl.quarantine WHERE target_table = %s
                              ORDER BY 1, 2::text""", (f"public.{name}",)))
        assert got["ck_opt"] == got["ck_gen"]
    finally:
        conn.execute("RESET TimeZone")
        conn.execute("RESET DateStyle")


def test_an_update_through_the_pass_shrinks_freely_and_a_moved_version_is_refused_as_by_a_small_one(wh, notices):
    """Held: 12,000 keys with versions [Jan 1, Feb 1) and [Feb 1, open), plus key 999999 whose history the
    owner broke (guard off): an UPDATE of 12,000 rows shrinking every version 1 passes through the one
    ordered pass (the broken key is not blamed); an UPDATE moving every version 2 back into its version 1
    is refused with the same DETAIL as the one-row UPDATE of key 7 (the only overlap it writes in key order
    first is not the point: DETAIL names a key the statement wrote)."""
    conn = wh
    with conn.transaction(force_rollback=True):
        conn.execute(customers("generate_series(1, 12000)"))
        conn.execute("""INSERT INTO sales.dim_customer (customer_id, full_name, customer_segment, valid_from, valid_to,
                            is_current, version, _batch_id)
                        SELECT g, 'A B', 'Consumer', '2025-02-01 00:00+00', NULL, true, 2, gen_random_uuid()
                        FROM generate_series(1, 12000) AS g""")
        conn.execute("ALTER TABLE sales.dim_customer DISABLE TRIGGER scd_no_overlap_after_insert")
        conn.execute("""INSERT INTO sales.dim_customer (customer_id, full_name, customer_segment, valid_from, valid_to,
                            is_current, version, _batch_id)
                        VALUES (999999, 'A B', 'Consumer', '2025-01-01', '2025-03-01', false, 1, gen_random_uuid()),
                               (999999, 'A B', 'Consumer', '2025-02-01', NULL, true, 2, gen_random_uuid())""")
        conn.execute("ALTER TABLE sales.dim_customer ENABLE TRIGGER scd_no_overlap_after_insert")
        conn.execute("ANALYZE sales.dim_customer")
        notices.clear()
        assert refusal(conn, "UPDATE sales.dim_customer SET valid_to = '2025-01-20' WHERE version = 1 AND customer_id <= 12000",
                       debug=True) is None
        assert passes(notices) == 1
        small = refusal(conn, "UPDATE sales.dim_customer SET valid_from = '2025-01-25' WHERE version = 2 AND customer_id = 7")
        assert small is not None and "(7)" in small[2]
        notices.clear()
        big = refusal(conn, """UPDATE sales.dim_customer SET valid_from = '2025-01-25'
                               WHERE version = 2 AND customer_id BETWEEN 7 AND 12006""", debug=True)
        assert passes(notices) == 1
        assert big is not None and big[:2] == small[:2] and "Versions of key (" in big[2]
        assert big[2].split("overlap: ")[1] == small[2].split("overlap: ")[1]
