"""Issue 13, files: `dwh load TABLE FILE|-` lands CSV, TSV and JSON Lines (gzip too) in bronze, the silver
steps type and quarantine bad values with the file's line, lines that cannot be landed are quarantined
with their line number, and the same content twice is skipped unless --force. Also the psql recipe
(CALL dwh_etl.file_begin, \\copy, CALL dwh_etl.file_end) and the roles.

The end-to-end case (customers, products and sales files, `dwh run daily`) is built once per module on
its own clone of the migrated template (sales area only); the other tests use the per-test `dsn`/`conn`.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import uuid

import psycopg
import pytest
from click.testing import CliRunner
from pytest_postgresql.janitor import DatabaseJanitor

from dwh_cli.cli import cli
from tests.conftest import has_tool, make_conninfo, pg_tool

SALES_COLS = ["sale_id", "order_id", "line_number", "customer_id", "product_id", "quantity", "unit_price",
              "discount_amount", "transaction_date", "created_at", "updated_at"]
CUSTOMER_COLS = ["customer_id", "first_name", "last_name", "email", "phone", "city", "country",
                 "customer_segment", "signup_date", "created_at", "updated_at"]
TS = "2025-01-15 10:00:00+00"


def dwh(dsn, *args, input=None, env=None):
    return CliRunner().invoke(cli, ["--dsn", dsn, *map(str, args)], input=input, env=env)


def ok(res):
    assert res.exit_code == 0, f"exit {res.exit_code}\nstdout: {res.stdout}\nstderr: {res.stderr}\n{res.exception!r}"
    return res


def rows(conn, sql, params=None):
    return conn.execute(sql, params).fetchall()


def scalar(conn, sql, params=None):
    return conn.execute(sql, params).fetchone()[0]


def sale(sale_id, customer=1, product=1, quantity="2", price="10.00", when=TS):
    return [str(sale_id), str(1000 + sale_id), "1", str(customer), str(product), quantity, price, "0", when, when, when]


def csv_text(header, records, sep=",", eol="\n"):
    lines = ([sep.join(header)] if header else []) + [sep.join(r) for r in records]
    return eol.join(lines) + eol


def write(path, data, encoding="utf-8"):
    path.write_bytes(data if isinstance(data, bytes) else data.encode(encoding))
    return path


def bronze(conn, table, cols="customer_id, first_name, last_name, city"):
    return rows(conn, f"SELECT {cols} FROM {table} ORDER BY _bronze_id")


# ---------------------------------------------------------------------------------------------
# end to end: files -> bronze -> daily -> silver, quarantine, gold
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def loaded(postgresql_proc, tmp_path_factory):
    """One database: customers.csv, products.tsv, sales_fast.csv (typing errors only: lands on the fast
    path) and sales_parsed.csv (plus a malformed line: the parsing path), then `dwh run daily`."""
    proc = postgresql_proc
    d = tmp_path_factory.mktemp("files")
    name = "load_files_e2e"
    janitor = DatabaseJanitor(user=proc.user, host=proc.host, port=proc.port, dbname=name,
                              template_dbname=proc.template_dbname, password=proc.password)
    with janitor:
        dsn = make_conninfo(proc.host, proc.port, proc.user, name, proc.password)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("UPDATE dwh_etl.steps SET is_enabled = false WHERE area NOT IN ('sales', 'engine')")
            conn.execute("UPDATE dwh_etl.quality_rules SET is_enabled = false WHERE area IS DISTINCT FROM 'sales'")
            customers = [[str(i), f"First{i}", f"Last{i}", f"c{i}@example.com", "", "Lyon", "FR", "Consumer",
                          "2024-05-01", TS, TS] for i in (1, 2, 3)]
            products = [["1", "Widget", "Tools", "Hand", "Acme", "10.00", "4.00", "true", TS, TS],
                        ["2", "Gadget", "Tools", "Hand", "Acme", "20.00", "8.00", "true", TS, TS]]
            ok(dwh(dsn, "load", "bronze.sales_customers", write(d / "customers.csv", csv_text(CUSTOMER_COLS, customers))))
            ok(dwh(dsn, "load", "sales_products", write(d / "products.tsv", csv_text(
                ["product_id", "product_name", "product_group", "category", "brand", "unit_price", "unit_cost",
                 "is_active", "created_at", "updated_at"], products, sep="\t"))))
            fast = [sale(1), sale(2, quantity="abc"), sale(3, customer=2, product=2), sale(4, when="2025-02-30 10:00")]
            fast_res = ok(dwh(dsn, "load", "bronze.sales_sales", write(d / "sales_fast.csv", csv_text(SALES_COLS, fast)),
                              "--json"))
            parsed = csv_text(SALES_COLS, [sale(11), sale(12, quantity="abc")]) + "11,12,13\n" + \
                csv_text(None, [sale(13, when="yesterday"), sale(14, customer=3)])
            parsed_res = ok(dwh(dsn, "load", "bronze.sales_sales", write(d / "sales_parsed.csv", parsed), "--json"))
            ok(dwh(dsn, "run", "daily"))
            yield conn, json.loads(fast_res.stdout), json.loads(parsed_res.stdout)


def test_files_land_in_bronze_and_are_registered(loaded):
    conn, fast, parsed = loaded
    assert (fast["status"], fast["rows_landed"], fast["rows_rejected"], fast["path"]) == ("loaded", 4, 0, "copy")
    assert (parsed["status"], parsed["rows_landed"], parsed["rows_rejected"], parsed["path"]) == ("loaded", 4, 1, "parsed")
    assert rows(conn, """
        SELECT file_name, target_table, format, status, rows_landed, rows_rejected, source, loaded_by = session_user
        FROM dwh_etl.loaded_files ORDER BY file_id""") == [
        ("customers.csv", "bronze.sales_customers", "csv", "loaded", 3, 0, "file:customers.csv", True),
        ("products.tsv", "bronze.sales_products", "tsv", "loaded", 2, 0, "file:products.tsv", True),
        ("sales_fast.csv", "bronze.sales_sales", "csv", "loaded", 4, 0, "file:sales_fast.csv", True),
        ("sales_parsed.csv", "bronze.sales_sales", "csv", "loaded", 4, 1, "file:sales_parsed.csv", True),
    ]
    # the rows carry the load's batch and source label; the bronze defaults are per load
    assert rows(conn, """
        SELECT f.file_name, count(*), count(DISTINCT b._batch_id), min(b._source)
        FROM bronze.sales_sales AS b JOIN dwh_etl.loaded_files AS f ON f.batch_id = b._batch_id
        GROUP BY 1 ORDER BY 1""") == [("sales_fast.csv", 4, 1, "file:sales_fast.csv"),
                                      ("sales_parsed.csv", 4, 1, "file:sales_parsed.csv")]
    # every line of both files is known: fast path by consecutive ids, parsing path per row
    assert rows(conn, """
        SELECT l.file_name, b.sale_id, l.line
        FROM bronze.sales_sales AS b
        CROSS JOIN LATERAL dwh_etl.file_line(b._batch_id, b._bronze_id, b._source_line) AS l
        ORDER BY b._bronze_id""") == [
        ("sales_fast.csv", "1", 2), ("sales_fast.csv", "2", 3), ("sales_fast.csv", "3", 4), ("sales_fast.csv", "4", 5),
        ("sales_parsed.csv", "11", 2), ("sales_parsed.csv", "12", 3), ("sales_parsed.csv", "13", 5),
        ("sales_parsed.csv", "14", 6)]
    # lineage: one ingestion per file
    assert scalar(conn, """
        SELECT count(*) FROM dwh_lineage.table_lineage AS t JOIN dwh_etl.loaded_files AS f ON f.batch_id = t.batch_id
        WHERE t.operation = 'ingest' AND t.target_table = f.target_table AND t.rows_inserted = f.rows_landed""") == 4


def test_malformed_line_is_quarantined_at_landing_with_its_line(loaded):
    conn = loaded[0]
    assert rows(conn, """
        SELECT target_table, source_table, reasons, payload->>'raw', (payload->>'_line')::int
        FROM dwh_etl.quarantine WHERE source_table = 'dwh_etl.file_reject'""") == [
        ("bronze.sales_sales", "dwh_etl.file_reject", ["file sales_parsed.csv line 4: has 3 fields, expected 11"],
         "11,12,13", 4)]


def test_bad_values_are_quarantined_by_silver_with_file_and_line(loaded):
    conn = loaded[0]
    got = rows(conn, """
        SELECT record_key, reasons, payload->>'_file', (payload->>'_line')::int
        FROM dwh_etl.quarantine WHERE target_table = 'silver.sales_sales' ORDER BY record_key::int""")
    assert [(r[0], r[2], r[3]) for r in got] == [
        ("2", "sales_fast.csv", 3), ("4", "sales_fast.csv", 5), ("12", "sales_parsed.csv", 3),
        ("13", "sales_parsed.csv", 5)]
    assert got[0][1] == ["file sales_fast.csv line 3: quantity 'abc' is not an integer"]
    assert all(reason.startswith(f"file {r[2]} line {r[3]}: ") for r in got for reason in r[1])
    assert any("transaction_date" in reason for reason in got[1][1])
    assert any("transaction_date 'yesterday'" in reason for reason in got[3][1])
    # `dwh quarantine list` shows it as it is stored
    listed = dwh(conn.info.dsn, "quarantine", "list", "--table", "silver.sales_sales", "--json")
    assert "file sales_fast.csv line 3: quantity 'abc' is not an integer" in listed.stdout


def test_good_rows_reach_silver_and_gold(loaded):
    conn = loaded[0]
    assert rows(conn, "SELECT sale_id, quantity FROM silver.sales_sales ORDER BY sale_id") == [
        (1, 2), (3, 2), (11, 2), (14, 2)]
    assert rows(conn, "SELECT customer_id FROM silver.sales_customers ORDER BY 1") == [(1,), (2,), (3,)]
    assert scalar(conn, "SELECT count(*) FROM sales.fact_sales") == 4
    assert scalar(conn, "SELECT status FROM dwh_lineage.pipeline_runs ORDER BY run_id DESC LIMIT 1") == "completed"


# ---------------------------------------------------------------------------------------------
# the duplicate check
# ---------------------------------------------------------------------------------------------
def test_same_csv_twice_is_skipped_and_force_loads_it_again(dsn, conn, tmp_path):
    f = write(tmp_path / "c.csv", csv_text(CUSTOMER_COLS[:4], [["1", "Ann", "Lee", "a@x.org"]]))
    first = ok(dwh(dsn, "load", "bronze.sales_customers", f))
    assert first.stdout.startswith("loaded 1 rows into bronze.sales_customers from c.csv (file ")
    again = ok(dwh(dsn, "load", "bronze.sales_customers", f))
    assert again.stdout.startswith("skipped: c.csv was already loaded into bronze.sales_customers (file ")
    assert "--force loads it again" in again.stdout
    assert scalar(conn, "SELECT count(*) FROM bronze.sales_customers") == 1
    # another name, same content: still the same file
    g = write(tmp_path / "renamed.csv", f.read_bytes())
    assert ok(dwh(dsn, "load", "bronze.sales_customers", g)).stdout.startswith("skipped: ")
    ok(dwh(dsn, "load", "bronze.sales_customers", f, "--force"))
    assert scalar(conn, "SELECT count(*) FROM bronze.sales_customers") == 2
    sha = hashlib.sha256(f.read_bytes()).hexdigest()
    assert rows(conn, "SELECT file_name, status, sha256 = %s, size_bytes, rows_landed, is_forced "
                      "FROM dwh_etl.loaded_files ORDER BY file_id", (sha,)) == [
        ("c.csv", "loaded", True, len(f.read_bytes()), 1, False),
        ("c.csv", "skipped", True, len(f.read_bytes()), 0, False),
        ("renamed.csv", "skipped", True, len(f.read_bytes()), 0, False),
        ("c.csv", "loaded", True, len(f.read_bytes()), 1, True),
    ]
    # the same content into another table is another load
    ok(dwh(dsn, "load", "bronze.sales_products", write(tmp_path / "p.csv", "product_id\n1\n")))


# ---------------------------------------------------------------------------------------------
# shapes of files
# ---------------------------------------------------------------------------------------------
def test_column_order_and_header_mapping(dsn, conn, tmp_path):
    f = write(tmp_path / "crm.csv", "City,Surname,cust_no,First_Name,extra\nParis,Lee,7,Ann,x\n")
    res = dwh(dsn, "load", "bronze.sales_customers", f, "--map", "Surname=last_name", "--map", "cust_no=customer_id")
    assert res.exit_code == 1
    assert "'extra': not a column of bronze.sales_customers" in res.stderr
    assert "hint: map it with --map FILECOL=COLUMN, or skip it with --ignore-column FILECOL" in res.stderr
    assert rows(conn, "SELECT file_name, status, error FROM dwh_etl.loaded_files") == [
        ("crm.csv", "failed", "'extra': not a column of bronze.sales_customers")]
    ok(dwh(dsn, "load", "bronze.sales_customers", f, "--map", "Surname=last_name", "--map", "cust_no=customer_id",
           "--ignore-column", "extra"))
    assert bronze(conn, "bronze.sales_customers") == [("7", "Ann", "Lee", "Paris")]
    assert scalar(conn, "SELECT _source_line FROM bronze.sales_customers") == 2


def test_no_header_takes_the_columns_in_table_order(dsn, conn, tmp_path):
    f = write(tmp_path / "noheader.csv", "5,Bo,Diddley,b@x.org,,Oslo,NO,Consumer,2024-01-01,2024-01-01,2024-01-01\n")
    ok(dwh(dsn, "load", "bronze.sales_customers", f, "--no-header"))
    assert bronze(conn, "bronze.sales_customers") == [("5", "Bo", "Diddley", "Oslo")]
    assert rows(conn, "SELECT first_line, first_bronze_id IS NOT NULL FROM dwh_etl.loaded_files") == [(1, True)]


def test_crlf_and_bom(dsn, conn, tmp_path):
    f = write(tmp_path / "win.csv", b"\xef\xbb\xbfcustomer_id,first_name,last_name,city\r\n1,Ann,Lee,Rome\r\n2,Bo,Ek,\r\n")
    ok(dwh(dsn, "load", "bronze.sales_customers", f))
    assert bronze(conn, "bronze.sales_customers") == [("1", "Ann", "Lee", "Rome"), ("2", "Bo", "Ek", None)]


def test_latin1_file(dsn, conn, tmp_path):
    f = write(tmp_path / "latin.csv", "customer_id,first_name,last_name,city\n1,Zoë,Müller,Besançon\n", "latin-1")
    ok(dwh(dsn, "load", "bronze.sales_customers", f, "--encoding", "latin1"))
    assert bronze(conn, "bronze.sales_customers") == [("1", "Zoë", "Müller", "Besançon")]
    # read as UTF-8 (the default), its bytes are not valid: the line is quarantined, the others land
    g = write(tmp_path / "mixed.csv", b"customer_id,first_name,last_name,city\n2,Ann,Lee,Rome\n3,Zo\xeb,X,Y\n")
    res = ok(dwh(dsn, "load", "bronze.sales_customers", g, "--json"))
    assert (json.loads(res.stdout)["rows_landed"], json.loads(res.stdout)["rows_rejected"]) == (1, 1)
    assert rows(conn, "SELECT reasons, payload->>'raw' FROM dwh_etl.quarantine") == [
        (["file mixed.csv line 3: bytes eb at byte 5 are not valid utf-8"], "3,Zo\\xeb,X,Y")]


def test_gzip_by_magic_bytes(dsn, conn, tmp_path):
    data = gzip.compress(csv_text(CUSTOMER_COLS[:4], [["1", "Ann", "Lee", "a@x"], ["2", "Bo", "Ek", "b@x"]]).encode())
    f = write(tmp_path / "c.csv.gz", data)
    ok(dwh(dsn, "load", "bronze.sales_customers", f))
    g = write(tmp_path / "no_suffix.csv", gzip.compress(b"customer_id\n3\n"))
    ok(dwh(dsn, "load", "bronze.sales_customers", g))
    assert rows(conn, "SELECT customer_id FROM bronze.sales_customers ORDER BY 1") == [("1",), ("2",), ("3",)]
    # the hash and size are of the bytes as stored (compressed)
    assert rows(conn, "SELECT sha256, size_bytes FROM dwh_etl.loaded_files WHERE file_name = 'c.csv.gz'") == [
        (hashlib.sha256(data).hexdigest(), len(data))]


def test_stdin_twice_and_with_a_bad_line(dsn, conn):
    data = csv_text(CUSTOMER_COLS[:2], [["1", "Ann"], ["2", "Bo"]]).encode()
    ok(dwh(dsn, "load", "bronze.sales_customers", "-", input=data))
    assert ok(dwh(dsn, "load", "bronze.sales_customers", "-", input=data)).stdout.startswith(
        "skipped: stdin was already loaded")
    # a malformed line: the parsing path reads stdin again from the spool
    bad = b"customer_id,first_name\n3,Cy\n4\n5,Di,extra\n6,Ed\n"
    res = ok(dwh(dsn, "load", "bronze.sales_customers", "-", "--json", input=bad))
    out = json.loads(res.stdout)
    assert (out["file"], out["rows_landed"], out["rows_rejected"], out["path"]) == ("stdin", 2, 2, "parsed")
    assert out["sha256"] == hashlib.sha256(bad).hexdigest()
    assert rows(conn, "SELECT customer_id, _source_line FROM bronze.sales_customers ORDER BY _bronze_id") == [
        ("1", None), ("2", None), ("3", 2), ("6", 5)]
    assert rows(conn, "SELECT reasons FROM dwh_etl.quarantine ORDER BY (payload->>'_line')::int") == [
        (["file stdin line 3: has 1 field, expected 2"],), (["file stdin line 4: has 3 fields, expected 2"],)]


def test_quoted_newlines_keep_line_numbers(dsn, conn, tmp_path):
    f = write(tmp_path / "q.csv", 'customer_id,first_name,city\n1,"Ann\nMarie","Rome"\n2,"Bo",Oslo\n3,Cy\n')
    res = ok(dwh(dsn, "load", "bronze.sales_customers", f, "--json"))
    assert json.loads(res.stdout)["path"] == "parsed"
    assert rows(conn, "SELECT customer_id, first_name, _source_line FROM bronze.sales_customers ORDER BY 1") == [
        ("1", "Ann\nMarie", 2), ("2", "Bo", 4)]
    assert rows(conn, "SELECT reasons FROM dwh_etl.quarantine") == [
        (["file q.csv line 5: has 2 fields, expected 3"],)]


def test_nul_byte_and_unterminated_quote(dsn, conn, tmp_path):
    f = write(tmp_path / "nul.csv", b'customer_id,first_name\n1,Ann\n2,B\x00o\n3,"Cy\n')
    res = ok(dwh(dsn, "load", "bronze.sales_customers", f, "--json"))
    assert json.loads(res.stdout)["rows_landed"] == 1
    reasons = [r[0][0] for r in rows(conn, "SELECT reasons FROM dwh_etl.quarantine ORDER BY (payload->>'_line')::int")]
    assert reasons[0] == "file nul.csv line 3: contains a NUL byte (0x00), which a text column cannot hold"
    assert reasons[1].startswith("file nul.csv line 4: is not valid CSV")


def test_tsv(dsn, conn, tmp_path):
    f = write(tmp_path / "c.tsv", "customer_id\tfirst_name\tcity\n1\tAnn, Marie\tRome\n")
    ok(dwh(dsn, "load", "bronze.sales_customers", f))
    assert rows(conn, "SELECT customer_id, first_name, city FROM bronze.sales_customers") == [("1", "Ann, Marie", "Rome")]


def test_json_lines_with_bad_lines(dsn, conn, tmp_path):
    f = write(tmp_path / "c.jsonl", "\n".join([
        json.dumps({"customer_id": 1, "first_name": "Ann", "city": None, "signup_date": "2024-01-01"}),
        "{not json",
        json.dumps([1, 2]),
        "",
        json.dumps({"customer_id": "2", "first_name": "Bo", "is_vip": True}),
    ]) + "\n")
    res = dwh(dsn, "load", "bronze.sales_customers", f)
    assert res.exit_code == 1
    assert "c.jsonl line 5: key 'is_vip' is not a column of bronze.sales_customers" in res.stderr
    res = ok(dwh(dsn, "load", "bronze.sales_customers", f, "--ignore-column", "is_vip", "--json"))
    assert (json.loads(res.stdout)["rows_landed"], json.loads(res.stdout)["rows_rejected"]) == (2, 2)
    assert rows(conn, "SELECT customer_id, first_name, city, signup_date, _source_line FROM bronze.sales_customers "
                      "ORDER BY 1") == [("1", "Ann", None, "2024-01-01", 1), ("2", "Bo", None, None, 5)]
    assert [r[0] for r in rows(conn, "SELECT reasons[1] FROM dwh_etl.quarantine ORDER BY (payload->>'_line')::int")] == [
        "file c.jsonl line 2: is not JSON (Expecting property name enclosed in double quotes)",
        "file c.jsonl line 3: is an array, not a JSON object"]


def test_json_lines_keep_the_element_where_the_table_has_raw_payload(dsn, conn, tmp_path):
    line = {"number": 7, "state": "open", "user": {"login": "ann"}, "draft": False}
    f = write(tmp_path / "prs.ndjson.gz", gzip.compress((json.dumps(line) + "\n").encode()))
    ok(dwh(dsn, "load", "bronze.devflow_pull_requests", f))
    assert rows(conn, "SELECT number, state, draft, _raw_payload FROM bronze.devflow_pull_requests") == [
        ("7", "open", "false", line)]


def test_empty_and_header_only_files(dsn, conn, tmp_path):
    for name, data in (("empty.csv", b""), ("header.csv", b"customer_id,first_name\n"), ("empty.jsonl", b"")):
        res = ok(dwh(dsn, "load", "bronze.sales_customers", write(tmp_path / name, data)))
        assert res.stdout.startswith(f"loaded 0 rows into bronze.sales_customers from {name}")
    assert rows(conn, "SELECT file_name, status, rows_landed FROM dwh_etl.loaded_files ORDER BY file_id") == [
        ("empty.csv", "loaded", 0), ("header.csv", "loaded", 0), ("empty.jsonl", "loaded", 0)]
    assert scalar(conn, "SELECT count(*) FROM bronze.sales_customers") == 0


def test_unknown_table_lists_the_valid_ones(dsn, conn, tmp_path):
    res = dwh(dsn, "load", "bronze.sales_salez", write(tmp_path / "x.csv", "a\n1\n"))
    assert res.exit_code == 1
    assert res.stderr.splitlines()[0] == "error: unknown bronze table 'bronze.sales_salez'"
    assert "bronze.sales_customers, bronze.sales_deleted_records, bronze.sales_products, bronze.sales_sales" in res.stderr
    res = dwh(dsn, "load", "sales.fact_sales", write(tmp_path / "y.csv", "a\n1\n"))
    assert "unknown bronze table 'sales.fact_sales'" in res.stderr


def test_client_time_zone_and_date_style_do_not_change_results(dsn, conn, tmp_path):
    f = write(tmp_path / "c.csv", csv_text(CUSTOMER_COLS, [["1", "Ann", "Lee", "", "", "", "", "Consumer",
                                                           "2024-05-01", "2025-01-15 10:00:00", "2025-01-15 10:00:00"]]))
    ok(dwh(dsn, "load", "bronze.sales_customers", f, env={"PGTZ": "Asia/Tokyo", "PGDATESTYLE": "SQL, DMY"}))
    with psycopg.connect(dsn, autocommit=True, options="-c TimeZone=America/New_York -c DateStyle=German") as c:
        c.execute("CALL dwh_etl.run_pipeline(p_pipeline => 'daily', p_run_id => NULL)")
    assert rows(conn, "SELECT signup_date::text, valid_from = timestamptz '2025-01-15 10:00:00+00' "
                      "FROM silver.sales_customers") == [("2024-05-01", True)]
    assert scalar(conn, "SELECT _ingested_at <= now() FROM bronze.sales_customers") is True


# ---------------------------------------------------------------------------------------------
# the psql recipe, roles
# ---------------------------------------------------------------------------------------------
@pytest.mark.skipif(not has_tool("psql"), reason="psql not installed")
def test_psql_recipe(dsn, conn, tmp_path):
    f = write(tmp_path / "sales.csv", csv_text(SALES_COLS, [sale(1), sale(2, quantity="abc")]))
    script = write(tmp_path / "recipe.sql", f"""
\\set sha `sha256sum {f} | cut -d' ' -f1`
CALL dwh_etl.file_begin(p_target => 'bronze.sales_sales', p_file_name => 'sales.csv', p_sha256 => :'sha');
\\copy bronze.sales_sales ({', '.join(SALES_COLS)}) FROM '{f}' WITH (FORMAT csv, HEADER)
CALL dwh_etl.file_end();
""")
    env = {**os.environ, "PGTZ": "Pacific/Auckland", "PGDATESTYLE": "SQL, DMY"}
    cmd = [pg_tool("psql"), "-X", "-v", "ON_ERROR_STOP=1", "-1", "-d", dsn, "-f", str(script)]
    first = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert first.returncode == 0, first.stderr
    assert "file 1: 2 row(s) of sales.csv landed in bronze.sales_sales" in first.stderr
    again = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert again.returncode == 3
    assert "ERROR:  sales.csv was already loaded into bronze.sales_sales (file 1, 2 rows" in again.stderr
    assert rows(conn, "SELECT file_name, status, rows_landed, sha256 FROM dwh_etl.loaded_files") == [
        ("sales.csv", "loaded", 2, hashlib.sha256(f.read_bytes()).hexdigest())]
    assert rows(conn, """
        SELECT b.sale_id, b._source, l.line
        FROM bronze.sales_sales AS b
        CROSS JOIN LATERAL dwh_etl.file_line(b._batch_id, b._bronze_id, b._source_line) AS l
        ORDER BY 1""") == [("1", "file:sales.csv", 2), ("2", "file:sales.csv", 3)]
    # the settings the bronze defaults read are cleared: a plain INSERT without a batch still fails
    with pytest.raises(psycopg.errors.NotNullViolation):
        conn.execute("INSERT INTO bronze.sales_sales (sale_id) VALUES ('9')")


def _login(conn, dsn, role):
    name = f"{role.split('_')[0]}_{uuid.uuid4().hex[:8]}"
    conn.execute(f'CREATE ROLE "{name}" LOGIN IN ROLE {role}')
    params = psycopg.conninfo.conninfo_to_dict(dsn)
    params["user"] = name
    return psycopg.conninfo.make_conninfo(**params)


def test_etl_login_loads_files(dsn, conn, tmp_path):
    etl = _login(conn, dsn, "etl_service")
    f = write(tmp_path / "c.csv", "customer_id,first_name\n1,Ann\n2,Bo\n")
    ok(dwh(etl, "load", "bronze.sales_customers", f))
    # the parsing path too (quarantine, _source_line)
    ok(dwh(etl, "load", "bronze.sales_customers", write(tmp_path / "d.csv", "customer_id,first_name\n3,Cy\n4\n")))
    assert ok(dwh(etl, "load", "bronze.sales_customers", f)).stdout.startswith("skipped: ")
    assert rows(conn, "SELECT status, rows_landed, rows_rejected, loaded_by LIKE 'etl%%' FROM dwh_etl.loaded_files "
                      "ORDER BY file_id") == [("loaded", 2, 0, True), ("loaded", 1, 1, True), ("skipped", 0, 0, True)]


def test_analyst_login_cannot_load_files(dsn, conn, tmp_path):
    analyst = _login(conn, dsn, "analyst_role")
    res = dwh(analyst, "load", "bronze.sales_customers", write(tmp_path / "c.csv", "customer_id\n1\n"))
    assert res.exit_code == 1
    assert "permission denied" in res.stderr
    # and which role it needs (readme17: the raw "permission denied for schema dwh_etl" alone)
    assert "need a member of etl_service" in res.stderr and "--role etl" in res.stderr, res.stderr
    assert scalar(conn, "SELECT count(*) FROM bronze.sales_customers") == 0
    assert rows(conn, """
        SELECT has_function_privilege('analyst_role', p.oid, 'EXECUTE')
        FROM pg_proc AS p WHERE p.pronamespace = 'dwh_etl'::regnamespace AND p.proname LIKE 'file%%'
        GROUP BY 1""") == [(False,)]
