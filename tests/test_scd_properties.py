"""Property-based tests of dwh_etl.apply_dimension (delta mode) with hypothesis.

Random sequences of change batches over keys 1..3 and change days 1..8 (whole days of January 2025),
values from tiny alphabets with NULLs, duplicates of (key, day) in and across batches, late rows,
deletes and returning keys. After every batch: the dimension invariants, the "as of" property against a
Python model of the accepted source rows, and a rerun of the batch that changes nothing.

The model (`Model`) keeps, per key, the accepted source rows by day. The state at day T is the fold of
the rows with day <= T: a live row sets the Type 2 values, a delete ends a live key (a delete of a key
that is not live changes nothing). Which rows are accepted mirrors the documented semantics of
apply_dimension (procedures/dwh_etl/scd/apply_dimension.sql, header):
  * same (key, day) in one batch: DISTINCT ON, the smallest (Type 2, Type 1) values win, NULLs last,
    then deleted = false first; the others are dropped;
  * a row at or before the start of the key's current version (or, for a closed key, before the end of
    its history) is historical: equal to the version valid at its day -> unchanged; different and that
    version starts on the same day -> conflicting duplicate, rejected; a different deletion -> late
    deletion, rejected; a different live row -> late change, placed in history; in a gap of the history
    a live row fills the gap and a deletion changes nothing;
  * every other row is in order and accepted.
The versions the model compares against are derived from its accepted rows (maximal runs of one
state), i.e. what a correct dimension holds.
"""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

UTC = dt.timezone.utc
DAYS = range(1, 9)
KEYS = (1, 2, 3)
LOAD_TS = dt.datetime(2025, 2, 1, tzinfo=UTC)


def T(day):
    return dt.datetime(2025, 1, day, tzinfo=UTC)


def rows(conn, sql, params=None):
    return conn.execute(sql, params).fetchall()


# --- database ------------------------------------------------------------------------------------


@pytest.fixture
def make_dim(conn):
    def make(delete_policy):
        """Create the dimension once (hypothesis calls the test many times with one fixture value)."""
        if rows(conn, "SELECT to_regclass('public.dim_thing')")[0][0] is not None:
            return conn
        conn.execute("""
            CREATE TABLE public.dim_thing (
                thing_key   bigint GENERATED ALWAYS AS IDENTITY,
                thing_id    bigint NOT NULL,
                a           text,
                b           text,
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
        conn.execute("""
            CREATE TABLE public.src_thing (thing_id bigint, a text, b text, label text, change_ts timestamptz,
                                           is_deleted boolean)
        """)
        conn.execute("""
            INSERT INTO dwh_etl.dimension_specs (
                dimension_name, target_table, surrogate_key, natural_key, type2_columns, type1_columns,
                change_ts_column, deleted_flag_column, delete_policy, type1_scope)
            VALUES ('test.thing', 'public.dim_thing', 'thing_key', '{thing_id}', '{a,b}', '{label}',
                    'change_ts', 'is_deleted', %s, 'all_versions')
        """, (delete_policy,))
        return conn

    return make


def reset(conn):
    conn.execute("TRUNCATE public.dim_thing, public.src_thing, dwh_etl.quarantine RESTART IDENTITY")


def load(conn, batch):
    conn.execute("TRUNCATE public.src_thing")
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO public.src_thing VALUES (%s, %s, %s, %s, %s, %s)",
                        [(k, a, b, label, T(day), deleted) for k, a, b, label, day, deleted in batch])


def apply(conn):
    (result,) = rows(conn, """
        SELECT * FROM dwh_etl.apply_dimension(p_dimension => 'test.thing', p_source => 'public.src_thing',
                                              p_load_ts => %s)
    """, (LOAD_TS,))
    return result


def check_invariants(conn):
    assert rows(conn, """
        SELECT thing_id FROM public.dim_thing GROUP BY thing_id
        HAVING count(*) FILTER (WHERE is_current) > 1
            OR bool_or(is_current AND version <> (SELECT max(x.version) FROM public.dim_thing AS x
                                                 WHERE x.thing_id = dim_thing.thing_id))
    """) == []
    assert rows(conn, """
        SELECT thing_id FROM public.dim_thing GROUP BY thing_id
        HAVING min(version) <> 1 OR max(version) <> count(*) OR count(DISTINCT version) <> count(*)
    """) == []
    assert rows(conn, """
        SELECT thing_id, version FROM public.dim_thing
        WHERE valid_to <= valid_from OR is_current <> (valid_to IS NULL)
    """) == []
    assert rows(conn, """
        SELECT a.thing_id, a.version, b.version
        FROM public.dim_thing AS a
        JOIN public.dim_thing AS b
          ON b.thing_id = a.thing_id AND b.version > a.version
        WHERE tstzrange(a.valid_from, a.valid_to) && tstzrange(b.valid_from, b.valid_to)
           OR b.valid_from < a.valid_from
    """) == []


def as_of(conn, day):
    """{key: (a, b, is_deleted)} of the versions valid at the start of `day`."""
    result = {}
    for key, a, b, deleted in rows(conn, """
        SELECT thing_id, a, b, is_deleted FROM public.dim_thing
        WHERE valid_from <= %(t)s AND (valid_to IS NULL OR valid_to > %(t)s)
    """, {"t": T(day)}):
        assert key not in result, f"two versions of key {key} valid at day {day}"
        result[key] = (a, b, deleted)
    return result


# --- model ---------------------------------------------------------------------------------------


def nulls_last(v):
    return (v is None, v or "")


class Model:
    def __init__(self, marker: bool):
        self.marker = marker  # delete_policy close_marker: a deleted key has an is_deleted version
        self.accepted: dict[int, dict[int, tuple]] = {k: {} for k in KEYS}  # key -> day -> (a, b, deleted)

    def versions(self, key):
        """[start, end or None, kind ('live' | 'marker'), (a, b)] derived from the accepted rows."""
        out, state = [], "absent"
        for day in sorted(self.accepted[key]):
            a, b, deleted = self.accepted[key][day]
            if not deleted:
                # every accepted live row starts a version: in-order rows equal to their predecessor
                # are never accepted, and a late row equal to the version after it stays a version of
                # its own (it is the memory of that source event)
                if out and out[-1][1] is None:
                    out[-1][1] = day
                out.append([day, None, "live", (a, b)])
                state = "live"
            elif state == "live":
                out[-1][1] = day
                if self.marker:
                    out.append([day, None, "marker", (a, b)])
                state = "deleted"
        return out

    def expected_as_of(self, day):
        result = {}
        for key in KEYS:
            for start, end, kind, vals in self.versions(key):
                if start <= day and (end is None or end > day):
                    result[key] = (*vals, True) if kind == "marker" else (*vals, False)
        return result

    def apply(self, batch):
        """Mirror apply_dimension: judge every row against the versions before the batch. The engine
        records changes, not events: a row that changes nothing (equal to the state before it, or a
        deletion of a key that is not live) is not remembered, so the model forgets it too (see
        'What the engine remembers' in docs/ARCHITECTURE.md)."""
        winners = {}
        for k, a, b, label, day, deleted in sorted(
                batch, key=lambda r: (r[0], r[4], nulls_last(r[1]), nulls_last(r[2]), nulls_last(r[3]), r[5])):
            winners.setdefault((k, day), (a, b, deleted))
        accepted = []
        for k in KEYS:
            vs = self.versions(k)  # the state before the batch
            current = vs[-1] if vs and vs[-1][1] is None else None
            rows_k = sorted((day, r) for (key, day), r in winners.items() if key == k)
            in_order, groups = [], {}
            for day, r in rows_k:
                if current is not None:
                    historical = day <= current[0]
                else:
                    historical = bool(vs) and day < max(v[1] for v in vs)
                if not historical:
                    in_order.append((day, r))
                    continue
                cover = next((v for v in vs if v[0] <= day and (v[1] is None or v[1] > day)), None)
                gap_end = None if cover else min(v[0] for v in vs if v[0] > day)
                groups.setdefault((id(cover) if cover else None, gap_end), (cover, []))[1].append((day, r))
            # in-order rows: each against the state before it (the current version first)
            state = None if current is None else ((current[3], current[2] == "marker"))
            for day, (a, b, deleted) in in_order:
                live_before = state is not None and not state[1]
                if deleted:
                    if not live_before:
                        continue  # deleting a key that is not live changes nothing
                    state = (state[0], True)
                else:
                    if live_before and state[0] == (a, b):
                        continue  # unchanged
                    state = ((a, b), False)
                accepted.append((k, day, (a, b, deleted)))
            # historical rows: per version (or gap) they fall into, each against its predecessor
            for cover, group in groups.values():
                prev = None if cover is None else (cover[3], cover[2] == "marker")
                for i, (day, (a, b, deleted)) in enumerate(group):
                    same = (prev is None and deleted) or (prev is not None and prev[1] == deleted
                                                          and (deleted or prev[0] == (a, b)))
                    if same:
                        continue
                    if i == 0 and cover is not None and cover[0] == day:
                        continue  # conflicts with the version recorded that day: rejected
                    if deleted:
                        continue  # late deletion: rejected
                    prev = ((a, b), False)
                    accepted.append((k, day, (a, b, deleted)))
        for k, day, r in accepted:
            self.accepted[k][day] = r


# --- strategies ----------------------------------------------------------------------------------

values = st.sampled_from(["x", "y", None])
source_rows = st.tuples(
    st.sampled_from(KEYS),
    values,                                   # a (Type 2)
    st.sampled_from(["x", None]),             # b (Type 2)
    st.sampled_from(["p", "q", None]),        # label (Type 1)
    st.sampled_from(list(DAYS)),              # change day
    st.booleans(),                            # deleted
)


def one_batch_per_key_and_day(batches):
    """Restriction: a (key, day) appears in one batch only (duplicates inside a batch stay). A row for the
    day of an earlier batch's row is rejected or not depending on whether the dimension happens to hold a
    version starting that day, and the engine keeps adjacent versions with equal values (a late row
    filling the gap before an equal version), so that corner is not modelled; the cross-batch conflict is
    covered by tests/test_engine_scd.py."""
    seen, out = set(), []
    for batch in batches:
        kept = [r for r in batch if (r[0], r[4]) not in seen]
        seen.update((r[0], r[4]) for r in kept)
        if kept:
            out.append(kept)
    return out


batches = st.lists(st.lists(source_rows, min_size=1, max_size=6), min_size=1, max_size=4).map(one_batch_per_key_and_day)

PROPERTY_SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.mark.parametrize("delete_policy", ["close", "close_marker"])
@PROPERTY_SETTINGS
@given(batches=batches)
def test_apply_dimension_keeps_invariants_and_the_as_of_view_of_the_source(make_dim, delete_policy, batches):
    check_batches(make_dim(delete_policy), delete_policy, batches)


def check_batches(conn, delete_policy, batches):
    reset(conn)
    model = Model(marker=delete_policy == "close_marker")

    for i, batch in enumerate(batches):
        load(conn, batch)
        apply(conn)
        check_invariants(conn)
        model.apply(batch)
        for day in (*DAYS, DAYS[-1] + 1):
            assert as_of(conn, day) == model.expected_as_of(day), f"batch {i}, as of day {day}"

        before = rows(conn, "SELECT * FROM public.dim_thing ORDER BY thing_key")
        rerun = apply(conn)
        assert (rerun[1], rerun[2]) == (0, 0), f"rerun of batch {i} inserted/expired {rerun[1]}/{rerun[2]}"
        assert rows(conn, "SELECT * FROM public.dim_thing ORDER BY thing_key") == before


# --- the minimal counterexamples hypothesis finds, spelt out -----------------------------------------


def test_late_changes_in_one_batch_keep_a_later_row_equal_to_the_version_they_split(make_dim):
    """Versions a[1,5) and z[5,...). A batch with y at day 2 and x at day 3 (x = the value of the version
    both fall into): the source says x again from day 3, so the history is x, y, x, z."""
    conn = make_dim("close")
    load(conn, [(1, "x", None, None, 1, False), (1, "z", None, None, 5, False)])
    apply(conn)
    load(conn, [(1, "y", None, None, 2, False), (1, "x", None, None, 3, False)])

    apply(conn)

    assert rows(conn, "SELECT version, a, valid_from, valid_to FROM public.dim_thing ORDER BY version") == [
        (1, "x", T(1), T(2)),
        (2, "y", T(2), T(3)),
        (3, "x", T(3), T(5)),
        (4, "z", T(5), None),
    ]
    # and a rerun of that batch changes nothing
    assert apply(conn)[1:3] == (0, 0)
