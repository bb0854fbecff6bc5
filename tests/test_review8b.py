"""Review 8b: attacks on three recent commits, as a demanding stranger would.

1. 901c3f9: ingest_cdc_events applies the newest valid change of a key whose newest change the table refused.
2. the tombstone guard of _load_silver (a deletion time that is no date-time or lies in the future).
3. a617e6f: the landing table's _bronze_id as an identity over the reserved block.

A test that fails here exposes a defect (see its docstring); the others are regression tests.
"""

from __future__ import annotations

import psycopg
import pytest
from psycopg.types.json import Jsonb

from test_cdc import RUN_SQL, counts, customer, ev, ingest, product, rows, sale, scalar


def cities(conn):
    return rows(conn, "SELECT customer_id, city, customer_segment FROM sales_src.customers ORDER BY 1")


def open_cdc_quarantine(conn):
    return rows(conn, """SELECT record_key::jsonb, (payload ->> '_lsn') FROM dwh_etl.quarantine
                         WHERE source_table = 'dwh_etl.ingest_cdc_events' AND resolved_at IS NULL
                         ORDER BY (payload ->> '_lsn')::pg_lsn""")


def key_state(conn, table, key):
    return scalar(conn, "SELECT lsn::text FROM dwh_etl.cdc_key_state WHERE target_table = %s AND record_key = %s",
                  (table, Jsonb(key)))


def lsn(n):
    return f"0/{n:X}"


# ---------------------------------------------------------------------------------------------
# 1. 901c3f9: a refused newest change, the newest valid one applied instead
# ---------------------------------------------------------------------------------------------

def test_cdc_several_refused_changes_in_a_row_fall_back_to_the_newest_valid_one(conn):
    assert ingest(conn, [ev("c", "customers", 1, after=customer(1))]) == counts(applied=1)
    result = ingest(conn, [ev("u", "customers", 2, after=customer(1, city="Paris")),
                           ev("u", "customers", 3, after=customer(1, city="Nice")),
                           ev("u", "customers", 4, after=customer(1, segment="Reseller")),
                           ev("u", "customers", 5, after=customer(1, segment="Wholesale")),
                           ev("u", "customers", 6, after=customer(1, segment="Reseller", city="Rome"))])
    assert result == counts(applied=1, stale=1, quarantined=3), result
    assert cities(conn) == [(1, "Nice", "Consumer")]
    assert key_state(conn, "sales_src.customers", {"customer_id": 1}) == lsn(3)
    assert [q[1] for q in open_cdc_quarantine(conn)] == [lsn(4), lsn(5), lsn(6)]
    # lsn 3 applied, the entries newer than it stay open; bronze records each delivery with its fate
    assert rows(conn, "SELECT lsn::text, status FROM bronze.cdc_events ORDER BY lsn") == [
        (lsn(1), "applied"), (lsn(2), "stale"), (lsn(3), "applied"),
        (lsn(4), "quarantined"), (lsn(5), "quarantined"), (lsn(6), "quarantined")]
    # the owner widens the CHECK; the source redelivers lsn 5: it applies, its older entry (4) is superseded
    conn.execute("ALTER TABLE sales_src.customers DROP CONSTRAINT customers_segment_ck")
    assert ingest(conn, [ev("u", "customers", 5, after=customer(1, segment="Wholesale"))]) == counts(applied=1)
    assert cities(conn) == [(1, "Lyon", "Wholesale")]
    assert [q[1] for q in open_cdc_quarantine(conn)] == [lsn(6)]
    assert key_state(conn, "sales_src.customers", {"customer_id": 1}) == lsn(5)


def test_cdc_a_refused_delete_falls_back_to_the_valid_update_before_it(conn):
    """A delete the table refuses (a foreign key of the owner's) after a valid update: the update applies."""
    assert ingest(conn, [ev("c", "customers", 1, after=customer(1))]) == counts(applied=1)
    conn.execute("CREATE TABLE public.review8b_ref (customer_id integer REFERENCES sales_src.customers)")
    conn.execute("INSERT INTO public.review8b_ref VALUES (1)")
    result = ingest(conn, [ev("u", "customers", 2, after=customer(1, city="Paris")),
                           ev("d", "customers", 3, before=customer(1, city="Paris"))])
    assert result == counts(applied=1, quarantined=1), result
    assert cities(conn) == [(1, "Paris", "Consumer")]
    assert key_state(conn, "sales_src.customers", {"customer_id": 1}) == lsn(2)
    assert [q[1] for q in open_cdc_quarantine(conn)] == [lsn(3)]
    # the reference goes; the delete is delivered again: it applies
    conn.execute("DELETE FROM public.review8b_ref")
    assert ingest(conn, [ev("d", "customers", 3, before=customer(1, city="Paris"))]) == counts(applied=1)
    assert cities(conn) == []
    assert open_cdc_quarantine(conn) == []


def test_cdc_a_valid_delete_before_a_refused_update_deletes(conn):
    assert ingest(conn, [ev("c", "customers", 1, after=customer(1))]) == counts(applied=1)
    result = ingest(conn, [ev("d", "customers", 2, before=customer(1)),
                           ev("u", "customers", 3, after=customer(1, segment="Reseller"))])
    assert result == counts(applied=1, quarantined=1), result
    assert cities(conn) == []
    assert scalar(conn, "SELECT op FROM dwh_etl.cdc_key_state WHERE record_key = %s",
                  (Jsonb({"customer_id": 1}),)) == "d"


def test_cdc_counts_notice_and_lineage_with_a_fallback_among_other_keys_and_tables(conn):
    """Counts across passes: the RETURNS counts, the NOTICE and the lineage rows (n_ins / n_upd / n_del
    accumulate over the passes) must count each applied change once."""
    assert ingest(conn, [ev("c", "customers", 1, after=customer(1)),
                         ev("c", "customers", 2, after=customer(2)),
                         ev("c", "products", 3, after=product(1))]) == counts(applied=3)
    notices = []
    conn.add_notice_handler(lambda d: notices.append(d.message_primary))
    result = ingest(conn, [ev("u", "customers", 10, after=customer(1, city="Paris")),
                           ev("u", "customers", 11, after=customer(1, segment="Reseller")),
                           ev("u", "customers", 12, after=customer(2, city="Nice")),
                           ev("c", "customers", 13, after=customer(3, city="Rome")),
                           ev("u", "products", 14, after=product(1, price="5.00")),
                           ev("u", "products", 15, after=product(1, price="-1.00")),
                           ev("c", "products", 16, after=product(2))])
    assert result == counts(applied=5, quarantined=2), result
    assert cities(conn) == [(1, "Paris", "Consumer"), (2, "Nice", "Consumer"), (3, "Rome", "Consumer")]
    assert rows(conn, "SELECT product_id, unit_price::text FROM sales_src.products ORDER BY 1") == [(1, "5.00"), (2, "19.99")]
    assert any("7 event(s): 5 applied, 0 stale, 0 duplicate, 2 quarantined" in n for n in notices), notices
    lineage = rows(conn, """SELECT target_table, rows_inserted, rows_updated, rows_deleted, rows_rejected, rows_unchanged, rows_read
                            FROM dwh_lineage.table_lineage
                            WHERE source_table = 'bronze.cdc_events'
                              AND batch_id = (SELECT batch_id FROM bronze.cdc_events ORDER BY lsn DESC LIMIT 1)
                            ORDER BY target_table""")
    assert lineage == [("sales_src.customers", 1, 2, 0, 1, 0, 4), ("sales_src.products", 1, 1, 0, 1, 0, 3)], lineage
    assert key_state(conn, "sales_src.customers", {"customer_id": 1}) == lsn(10)
    assert key_state(conn, "sales_src.products", {"product_id": 1}) == lsn(14)


def test_cdc_a_row_whose_reference_appears_only_through_the_fallback_is_applied_as_in_two_batches(conn):
    """Was a DEFECT (low, design; fixed: refused changes are tried again after a pass that applied anything): one batch and two batches still differ when a foreign key ties two keys. With a
    foreign key sales -> customers (the owner's), [c customer 5, u customer 5 refused by the CHECK, c sale of
    customer 5] in one batch: pass 1 refuses the customer's update and the sale (no customer 5 yet); pass 2
    applies the customer's insert (the fallback), but the refused sale is never tried again: it stays in
    quarantine. In two batches ([c customer 5], then the rest) the sale applies. The commit's promise (one
    batch ends in the state two batches give) does not hold across keys."""
    conn.execute("ALTER TABLE sales_src.sales ADD CONSTRAINT review8b_fk FOREIGN KEY (customer_id) "
                 "REFERENCES sales_src.customers (customer_id)")
    assert ingest(conn, [ev("c", "products", 1, after=product(1))]) == counts(applied=1)
    result = ingest(conn, [ev("c", "customers", 2, after=customer(5)),
                           ev("u", "customers", 3, after=customer(5, segment="Reseller")),
                           ev("c", "sales", 4, after=sale(1, 5, 1))])
    assert rows(conn, "SELECT customer_id FROM sales_src.customers") == [(5,)]
    assert rows(conn, "SELECT sale_id FROM sales_src.sales") == [(1,)], result


# ---------------------------------------------------------------------------------------------
# 2. the tombstone guard of _load_silver (d7d7f92)
# ---------------------------------------------------------------------------------------------

TOMB_SRC = "bronze.sales_deleted_records"


def _sales_only(conn):
    conn.execute("UPDATE dwh_etl.steps SET is_enabled = false WHERE area NOT IN ('sales', 'engine')")
    conn.execute("UPDATE dwh_etl.quality_rules SET is_enabled = false WHERE area IS DISTINCT FROM 'sales'")


def _tombstone(conn, table, key, deleted_at):
    conn.execute("CALL dwh_etl.ingest_json('bronze.sales_deleted_records', %s, 'user-feed')",
                 (Jsonb([{"table_name": table, "record_id": str(key), "deleted_at": deleted_at}]),))


def _bound(conn):
    """The latest plausible time of a run of today (event_time_bounds), as text."""
    return scalar(conn, "SELECT to_char(max_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') "
                        "FROM dwh_etl.event_time_bounds(CURRENT_DATE)")


def _tomb_entries(conn, open_only=True):
    return rows(conn, f"""SELECT target_table, record_key, deliveries, reasons[1]
                          FROM dwh_etl.quarantine WHERE source_table = '{TOMB_SRC}'
                          {'AND resolved_at IS NULL' if open_only else ''} ORDER BY quarantine_id""")


@pytest.fixture
def loaded_sales(conn):
    _sales_only(conn)
    assert ingest(conn, [ev("c", "customers", 1, after=customer(1)), ev("c", "customers", 2, after=customer(2)),
                         ev("c", "products", 3, after=product(1)),
                         ev("c", "sales", 4, after=sale(1, 1, 1)), ev("c", "sales", 5, after=sale(2, 2, 1))]) == counts(applied=5)
    conn.execute(RUN_SQL)
    return conn


def _customer_deleted(conn, cid):
    return scalar(conn, "SELECT bool_or(is_deleted) FROM silver.sales_customers WHERE customer_id = %s", (cid,))


def _sale_deleted(conn, sid):
    return scalar(conn, "SELECT is_deleted FROM silver.sales_sales WHERE sale_id = %s", (sid,))


def test_tombstones_at_the_bound_and_in_the_past_apply_just_after_it_are_quarantined_both_paths(loaded_sales):
    conn = loaded_sales
    bound = _bound(conn)
    after = scalar(conn, "SELECT to_char((%s::timestamptz + interval '1 microsecond') AT TIME ZONE 'UTC', "
                         "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')", (bound,))
    # in the past of the run, after the sale's last change (source_updated_at: when the mirror took it)
    past = scalar(conn, "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")
    _tombstone(conn, "customers", 1, bound)
    _tombstone(conn, "customers", 2, after)
    _tombstone(conn, "sales", 1, past)
    _tombstone(conn, "sales", 2, after)
    conn.execute(RUN_SQL)
    assert _customer_deleted(conn, 1) is True
    assert _customer_deleted(conn, 2) is False
    assert _sale_deleted(conn, 1) is True
    assert _sale_deleted(conn, 2) is False
    entries = _tomb_entries(conn)
    assert [(e[0], e[1], e[2]) for e in entries] == [("silver.sales_customers", "2", 1), ("silver.sales_sales", "2", 1)], entries
    assert all("latest plausible time" in e[3] for e in entries), entries


def test_a_bad_tombstone_delivered_twice_in_one_window_counts_two_deliveries(loaded_sales):
    """Was a DEFECT (low; fixed in _load_silver): the same bad tombstone delivered twice in one window was one open entry (right) with
    deliveries 1: the guard inserts DISTINCT ON the fingerprint and adds 1 on conflict, where
    quarantine_rows counts every delivery of the load (q.deliveries + EXCLUDED.deliveries)."""
    conn = loaded_sales
    _tombstone(conn, "customers", 2, "2999-01-01T00:00:00Z")
    _tombstone(conn, "customers", 2, "2999-01-01T00:00:00Z")
    conn.execute(RUN_SQL)
    assert [e[:3] for e in _tomb_entries(conn)] == [("silver.sales_customers", "2", 2)]


def test_a_bad_tombstone_reread_by_rebuild_is_one_open_entry_and_listed(loaded_sales, runner, dsn):
    """Was a DEFECT (low; fixed: quarantine_rows supersedes only entries of its own source): a rebuild that reads the bad tombstone again ends with one open entry (held) and `dwh
    quarantine list` shows it (held), but on the way quarantine_rows resolved the open tombstone entry as
    'superseded: a valid version of the record loaded' (the customer's OLD row, re-read, shares target and
    record key with the tombstone's entry) and the guard opened a new entry: one resolved with a false
    resolution, deliveries restarted at 1. The same happens in a daily run for any later row of the key."""
    conn = loaded_sales
    _tombstone(conn, "customers", 2, "2999-01-01T00:00:00Z")
    conn.execute(RUN_SQL)
    conn.execute("CALL dwh_etl.rebuild(p_target => 'silver.sales_customers')")
    every = rows(conn, f"SELECT quarantine_id, deliveries, resolved_at IS NULL, resolution FROM dwh_etl.quarantine "
                       f"WHERE source_table = '{TOMB_SRC}' ORDER BY 1")
    entries = _tomb_entries(conn)
    assert len(entries) == 1 and _customer_deleted(conn, 2) is False, every
    import json as _json
    from dwh_cli.cli import cli
    res = runner.invoke(cli, ["--dsn", dsn, "quarantine", "list", "--json"])
    assert res.exit_code == 0, res.output
    listed = [r for r in _json.loads(res.stdout) if "2999-01-01" in _json.dumps(r)]
    assert len(listed) == 1, res.stdout
    assert len(every) == 1, ("a rebuild resolved the entry and opened a new one", every)


def test_retry_of_a_bad_tombstone_requarantines_it_or_applies_it_once_the_range_allows(loaded_sales):
    conn = loaded_sales
    soon = scalar(conn, "SELECT to_char((now() + interval '5 days') AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')")
    _tombstone(conn, "customers", 2, soon)
    _tombstone(conn, "sales", 2, "garbage")
    conn.execute(RUN_SQL)
    assert len(_tomb_entries(conn)) == 2
    # retried unchanged: replayed, quarantined again (one open entry each), nothing applied
    assert {r[1] for r in rows(conn, "SELECT * FROM dwh_etl.retry_quarantine()")} == {"retried"}
    conn.execute(RUN_SQL)
    assert len(_tomb_entries(conn)) == 2
    assert (_customer_deleted(conn, 2), _sale_deleted(conn, 2)) == (False, False)
    # the owner widens the range: a retry applies the customer's deletion, the garbage stays quarantined
    conn.execute("INSERT INTO dwh_etl.settings (key, value) VALUES ('quality.max_future', '30 days') "
                 "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value")
    rows(conn, "SELECT * FROM dwh_etl.retry_quarantine()")
    conn.execute(RUN_SQL)
    assert _customer_deleted(conn, 2) is True
    assert [e[:2] for e in _tomb_entries(conn)] == [("silver.sales_sales", "2")]


def test_a_quarantined_tombstone_that_a_rebuild_applies_does_not_stay_open(loaded_sales):
    """Was a DEFECT (low; fixed: a tombstone read within range closes the open entries of the key): a tombstone quarantined as 'after the latest plausible time' stays an open entry saying
    'the deletion is not applied' after a rebuild (with a range that now allows it: time passed, or the
    owner widened quality.max_future) applied it. Rows that pass on a re-read resolve their entries
    (quarantine_rows: superseded); the tombstone guard resolves nothing, so `dwh quarantine retry` would
    replay a deletion already applied, and the list shows a deletion 'not applied' that is."""
    conn = loaded_sales
    soon = scalar(conn, "SELECT to_char((now() + interval '5 days') AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')")
    _tombstone(conn, "customers", 2, soon)
    conn.execute(RUN_SQL)
    assert len(_tomb_entries(conn)) == 1 and _customer_deleted(conn, 2) is False
    conn.execute("INSERT INTO dwh_etl.settings (key, value) VALUES ('quality.max_future', '30 days') "
                 "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value")
    conn.execute("CALL dwh_etl.rebuild(p_target => 'silver.sales_customers')")
    assert _customer_deleted(conn, 2) is True
    assert _tomb_entries(conn) == []


# ---------------------------------------------------------------------------------------------
# 3. a617e6f: the landing table's _bronze_id an identity over the reserved block
# ---------------------------------------------------------------------------------------------

LANDING_COLS = ["customer_id", "first_name", "last_name", "email", "phone", "city", "country",
                "customer_segment", "signup_date", "created_at", "updated_at"]
LTS = "2025-01-15 10:00:00+00"


def _csv(ids, quoted_newline_at=None, bad_at=None):
    out = ",".join(LANDING_COLS) + "\n"
    for i in ids:
        name = '"Multi\nline"' if i == quoted_newline_at else f"First{i}"
        signup = "2024-02-30" if i == bad_at else "2024-05-01"
        out += ",".join([str(i), name, f"Last{i}", f"c{i}@example.com", "", "Lyon", "FR", "Consumer", signup, LTS, LTS]) + "\n"
    return out


@pytest.fixture
def loader_role(conn):
    """A second OS-level login, a plain role granted etl_service (not the owner, not a superuser)."""
    # roles are the cluster's, not the cloned database's: made once
    conn.execute("DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'review8b_loader') THEN "
                 "CREATE ROLE review8b_loader LOGIN; END IF; END $$")
    conn.execute("GRANT etl_service TO review8b_loader")
    yield "review8b_loader"


@pytest.mark.parametrize("with_rows", [False, True], ids=["file_end_counts", "file_end_p_rows_currval"])
@pytest.mark.parametrize("one_tx", [True, False], ids=["one_transaction", "statement_by_statement"])
def test_the_psql_recipe_as_a_plain_login_granted_etl_service(dsn, conn, loader_role, with_rows, one_tx):
    """file_begin, COPY into bronze.<t>_landing, file_end (with or without p_rows: currval of the identity's
    sequence) as a plain login granted etl_service, in one transaction or each statement its own (the seal
    in a later transaction than file_begin); then a second load, and compaction of both children."""
    first_ids = []
    for n, text in enumerate([_csv([1, 2, 3]), _csv([4, 5])]):
        c = psycopg.connect(dsn, user=loader_role, autocommit=not one_tx)
        try:
            assert scalar(c, "SELECT current_user") == loader_role
            file_id = c.execute("CALL dwh_etl.file_begin(p_target => 'bronze.sales_customers', p_file_name => %s, "
                                "p_force => true, p_file_id => NULL)", (f"r8b_{n}.csv",)).fetchone()[0]
            with c.cursor().copy(f"COPY bronze.sales_customers_landing ({', '.join(LANDING_COLS)}) FROM STDIN "
                                 "WITH (FORMAT csv, HEADER)") as cp:
                cp.write(text.encode())
            nrows = text.count("\n") - 1
            c.execute("CALL dwh_etl.file_end(p_file_id => %s, p_rows => %s)", (file_id, nrows if with_rows else None))
            if one_tx:
                c.commit()
        finally:
            c.close()
        child = f"bronze.sales_customers_f{file_id}"
        lo, hi, cnt = rows(conn, f"SELECT min(_bronze_id), max(_bronze_id), count(*) FROM {child}")[0]
        assert (cnt, hi - lo + 1) == (nrows, nrows)
        assert rows(conn, "SELECT status, rows_landed, first_bronze_id FROM dwh_etl.loaded_files WHERE file_id = %s",
                    (file_id,)) == [("loaded", nrows, lo)]
        assert [r[0] for r in rows(conn, f"""SELECT l.line FROM {child} AS b
                   CROSS JOIN LATERAL dwh_etl.file_line(b._batch_id, b._bronze_id, b._source_line) AS l
                   ORDER BY b._bronze_id""")] == list(range(2, 2 + nrows))
        # the seal dropped the identity and its sequence; no landing table left
        assert scalar(conn, "SELECT count(*) FROM pg_attribute WHERE attrelid = %s::regclass AND attidentity <> ''",
                      (child,)) == 0
        assert scalar(conn, "SELECT to_regclass('bronze.sales_customers_landing') IS NULL")
        assert scalar(conn, "SELECT count(*) FROM pg_class WHERE relkind = 'S' AND relname LIKE %s",
                      ("sales_customers_landing%",)) == 0
        first_ids.append(lo)
    assert first_ids[1] > first_ids[0]
    before = rows(conn, "SELECT _bronze_id, customer_id FROM bronze.sales_customers ORDER BY 1")
    conn.execute("INSERT INTO dwh_etl.settings (key, value) VALUES ('bronze.compact_after', '0 seconds') "
                 "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value")
    conn.execute("CALL dwh_etl.op_compact_bronze(NULL, CURRENT_DATE)")
    assert scalar(conn, "SELECT count(*) FROM pg_inherits WHERE inhparent = 'bronze.sales_customers'::regclass "
                        "AND inhrelid::regclass::text LIKE '%%_f%%'") == 0
    assert rows(conn, "SELECT _bronze_id, customer_id FROM bronze.sales_customers ORDER BY 1") == before


def test_dwh_load_fast_and_parsing_paths_keep_lines_of_quarantined_rows(dsn, conn, tmp_path):
    """dwh load of a plain CSV (fast path) and of one with a quoted newline (parsing path): a bad row's
    quarantine entry names its line."""
    from dwh_cli.cli import cli
    from click.testing import CliRunner
    _sales_only(conn)
    plain = tmp_path / "plain.csv"
    plain.write_text(_csv([1, 2, 3], bad_at=3))
    quoted = tmp_path / "quoted.csv"
    quoted.write_text(_csv([11, 12, 13], quoted_newline_at=11, bad_at=13))
    for f in (plain, quoted):
        res = CliRunner().invoke(cli, ["--dsn", dsn, "load", "bronze.sales_customers", str(f)])
        assert res.exit_code == 0, (res.stdout, res.stderr)
    conn.execute(RUN_SQL)
    got = rows(conn, """SELECT payload ->> '_file', (payload ->> '_line')::int FROM dwh_etl.quarantine
                        WHERE target_table = 'silver.sales_customers' AND resolved_at IS NULL ORDER BY 1""")
    assert got == [("plain.csv", 4), ("quoted.csv", 5)], got
