"""Review 17 of session 17's performance work (issue 15, 0fb935d..3784515): the bulk path of first loads
(dwh_etl._drop_secondary_indexes, used by the fact step, silver's upsert and bronze's first extraction)
and dwh_etl.generate_dim_time_of_day's fast path.

A test whose docstring says DEFECT exposed one (fixed); the others held and stay as regression tests.
Everything here is a few tiny tables in a fresh clone of the migrated template (no pipeline run).
"""

from __future__ import annotations

import pytest

from oracle_common import rows, scalar

DROP_SQL = "SELECT dwh_etl._drop_secondary_indexes(%s::regclass)"


def index_state(conn, schema):
    """Every index of the schema: name -> (definition, comment, reloptions, oid)."""
    return {r[0]: r[1:] for r in rows(conn, """
        SELECT c.relname, pg_get_indexdef(c.oid), obj_description(c.oid, 'pg_class'), c.reloptions, c.oid
        FROM pg_class AS c WHERE c.relnamespace = %s::regnamespace AND c.relkind IN ('i', 'I')""", (schema,))}


def bulk_cycle(conn, table):
    """What a caller does in one transaction: drop, (write), build again; returns the statements."""
    with conn.transaction():
        stmts = scalar(conn, DROP_SQL, (table,))
        for stmt in stmts:
            conn.execute(stmt)
    return stmts


def test_a_dbas_indexes_come_back_exactly_or_stay(conn):
    """Held: expression, partial, INCLUDE, storage options, opclass and collation, names needing quotes,
    a comment with a quote are built again to the same definition and comment; a unique index, an
    invalid one (a failed CREATE INDEX CONCURRENTLY) and one with a statistics target stay untouched."""
    conn.execute("""
        CREATE SCHEMA r17;
        CREATE TABLE r17.t (id int PRIMARY KEY, "Mixed Col" text, a int, b text, c jsonb, u int);
        CREATE INDEX t_expr_idx ON r17.t (lower(b));
        CREATE INDEX t_part_idx ON r17.t (a) WHERE a > 10;
        CREATE INDEX t_incl_idx ON r17.t (a) INCLUDE (b);
        CREATE INDEX "Mixed Idx" ON r17.t ("Mixed Col");
        CREATE INDEX "with space ""q"" idx" ON r17.t (a DESC NULLS LAST);
        COMMENT ON INDEX r17."Mixed Idx" IS 'the DBA''s';
        CREATE UNIQUE INDEX t_u_idx ON r17.t (u);
        CREATE INDEX t_ff_idx ON r17.t (a) WITH (fillfactor = 50);
        CREATE INDEX t_gin_idx ON r17.t USING gin (c jsonb_path_ops);
        CREATE INDEX t_coll_idx ON r17.t (b COLLATE "C" text_pattern_ops);
        CREATE INDEX t_stat_idx ON r17.t ((a + 1));
        ALTER INDEX r17.t_stat_idx ALTER COLUMN 1 SET STATISTICS 500;
        INSERT INTO r17.t (id, a) VALUES (1, 1), (2, 1);""")
    with pytest.raises(Exception):
        conn.execute("CREATE INDEX CONCURRENTLY t_invalid_idx ON r17.t ((1 / (a - 1)))")
    conn.execute("DELETE FROM r17.t")
    before = index_state(conn, "r17")
    assert before["t_invalid_idx"] and not scalar(conn, "SELECT indisvalid FROM pg_index WHERE indexrelid = 'r17.t_invalid_idx'::regclass")
    stmts = bulk_cycle(conn, "r17.t")
    after = index_state(conn, "r17")
    assert {k: v[:3] for k, v in after.items()} == {k: v[:3] for k, v in before.items()}
    kept = {k for k in after if after[k][3] == before[k][3]}
    assert kept == {"t_pkey", "t_u_idx", "t_invalid_idx", "t_stat_idx"}
    assert len([s for s in stmts if s.startswith("CREATE INDEX")]) == len(before) - len(kept)


def test_a_partitioned_index_whose_partitions_carry_more_than_its_definition_is_kept(conn):
    """Was a DEFECT (low; fixed): a partitioned table's index was dropped and built again ON the parent
    from the parent's definition, which rebuilt its partitions' indexes without what a DBA had set on
    them: a comment, storage options (and likewise a tablespace of their own, a statistics target, the
    index a partition is clustered on). sales.fact_sales takes this path on every first load and
    `dwh rebuild`. Now such an index is kept; one whose partitions carry nothing more is still rebuilt."""
    conn.execute("""
        CREATE SCHEMA r17;
        CREATE TABLE r17.p (id int, d date, a int, b int, PRIMARY KEY (id, d)) PARTITION BY RANGE (d);
        CREATE TABLE r17.p1 PARTITION OF r17.p FOR VALUES FROM ('2024-01-01') TO ('2024-02-01');
        CREATE TABLE r17.p2 PARTITION OF r17.p FOR VALUES FROM ('2024-02-01') TO ('2024-03-01');
        CREATE INDEX p_a_idx ON r17.p (a);
        CREATE INDEX p_b_idx ON r17.p (b);
        CREATE INDEX p_ab_idx ON r17.p (a, b);
        COMMENT ON INDEX r17.p2_a_idx IS 'kept on the cold partition';
        ALTER INDEX r17.p1_b_idx SET (fillfactor = 70);""")
    before = index_state(conn, "r17")
    stmts = bulk_cycle(conn, "r17.p")
    after = index_state(conn, "r17")
    assert {k: v[:3] for k, v in after.items()} == {k: v[:3] for k, v in before.items()}
    assert after["p2_a_idx"][1] == "kept on the cold partition" and after["p1_b_idx"][2] == ["fillfactor=70"]
    assert stmts == ["CREATE INDEX p_ab_idx ON r17.p USING btree (a, b)"]
    assert after["p_ab_idx"][3] != before["p_ab_idx"][3] and after["p1_a_b_idx"][3] != before["p1_a_b_idx"][3]


def test_a_session_with_default_tablespace_keeps_the_indexes(conn):
    """Was a DEFECT (low; fixed): the statements rebuilding the indexes name no tablespace, so under a
    default_tablespace (ALTER DATABASE/ROLE ... SET default_tablespace) a first load or `dwh rebuild`
    moved every rebuilt index of silver, bronze and the fact into it (seen on a dev warehouse: after one
    `dwh rebuild sales`, silver.sales_sales's and every fact partition's indexes were in the new
    tablespace, and from then on kept as "in a tablespace of their own"). Now nothing is dropped then."""
    conn.execute("CREATE SCHEMA r17; CREATE TABLE r17.t (id int PRIMARY KEY, a int); CREATE INDEX t_a_idx ON r17.t (a)")
    with conn.transaction():
        conn.execute("SET LOCAL default_tablespace = 'pg_default'")
        assert scalar(conn, DROP_SQL, ("r17.t",)) == []
    assert scalar(conn, DROP_SQL, ("r17.t",)) == ["CREATE INDEX t_a_idx ON r17.t USING btree (a)"]


def test_dim_time_of_day_is_completed_whatever_extra_row_a_dba_added(conn):
    """Was a DEFECT (low; fixed): generate_dim_time_of_day returned when the table had 86,400 rows or
    more, so a DBA's extra row (an 'unknown' member, key -1) made a table missing one second look full:
    the call meant to repair it did nothing (before session 17 it completed it). A partly deleted table is
    completed; a full one is left alone."""
    conn.execute("CALL dwh_etl.generate_dim_time_of_day()")
    conn.execute("DELETE FROM gold.dim_time_of_day WHERE time_key = 235959")   # 86,399 seconds + 1 extra row
    conn.execute("""INSERT INTO gold.dim_time_of_day VALUES (-1, '24:00:00', 24, 0, 0, 24, 'evening', false, false)""")
    conn.execute("CALL dwh_etl.generate_dim_time_of_day()")
    assert rows(conn, "SELECT count(*), count(*) FILTER (WHERE time_key = 235959) FROM gold.dim_time_of_day") == [(86401, 1)]
    conn.execute("CALL dwh_etl.generate_dim_time_of_day()")
    assert scalar(conn, "SELECT count(*) FROM gold.dim_time_of_day") == 86401


def test_a_busy_table_keeps_its_indexes_and_says_so(conn, dsn):
    """dwh_etl._drop_secondary_indexes_if_free (silver's upsert, bronze's first extraction): while another
    session holds the table (an analyst's open transaction), the drops wait 2 s at most, are rolled back,
    and a NOTICE names the load; the write then keeps the indexes. Free, the statements come back."""
    import psycopg

    conn.execute("CREATE SCHEMA r17b; CREATE TABLE r17b.t (id int PRIMARY KEY, a int); CREATE INDEX t_a_idx ON r17b.t (a)")
    before = index_state(conn, "r17b")
    notes = []
    conn.add_notice_handler(lambda d: notes.append(d.message_primary))
    with psycopg.connect(dsn, autocommit=False) as reader:
        reader.execute("SELECT count(*) FROM r17b.t")
        with conn.transaction():
            assert scalar(conn, "SELECT dwh_etl._drop_secondary_indexes_if_free('r17b.t', 'a test load')") == []
            assert scalar(conn, "SHOW lock_timeout") == "0"
        reader.rollback()
    assert index_state(conn, "r17b") == before
    assert any(n.startswith("a test load: the table is busy (") for n in notes), notes
    with conn.transaction():
        assert scalar(conn, "SELECT dwh_etl._drop_secondary_indexes_if_free('r17b.t', 'a test load')") \
            == ["CREATE INDEX t_a_idx ON r17b.t USING btree (a)"]
        conn.execute("CREATE INDEX t_a_idx ON r17b.t USING btree (a)")
