"""The citizen area's foundation (issue 12, seed 003): migration 0028 (citizen_src, bronze, silver, the star
schema citizen), the demo generator (citizen_src), the area's helpers (date / time keys in India's zone, the
IP network and user-agent parsing that keep personal data out of the facts), with a test for each seed gap
fixed at the DDL level: CHECKs for the seed's ranges and vocabularies, unique natural keys, foreign keys
from the facts, source ids, dim_content_type, the languages (22 scheduled, Urdu and Kashmiri right to left).

Uses the `conn` fixture of tests/conftest.py (autocommit connection to a fresh clone of the migrated
template)."""

from __future__ import annotations

import datetime as dt
import uuid

import psycopg
import pytest

SCHEDULED = {"as", "bn", "brx", "doi", "gu", "hi", "kn", "ks", "kok", "mai", "ml", "mni", "mr", "ne", "or", "pa",
             "sa", "sat", "sd", "ta", "te", "ur"}
SOURCE_TABLES = ["departments", "services", "users", "languages", "query_types", "content_types", "content_sources",
                 "content_syncs", "contents", "analytics_payloads", "generator_state"]
DIMENSIONS = ["dim_service", "dim_user", "dim_content", "dim_query_type", "dim_language", "dim_content_source",
              "dim_content_type"]
THROUGH = dt.date(2026, 3, 31)


def scalar(conn, sql, params=None):
    return conn.execute(sql, params).fetchone()[0]


def rows(conn, sql, params=None):
    return conn.execute(sql, params).fetchall()


def generate(conn, seed=0.42, scale=0.01, days=3, through=THROUGH):
    conn.execute("CALL citizen_src.generate(p_scale => %s::numeric, p_seed => %s, p_days => %s, p_through => %s)",
                 (scale, seed, days, through))


def source_hashes(conn):
    """md5 of every source table's rows (the inbox without its identity and arrival columns)."""
    out = {}
    for table in SOURCE_TABLES:
        if table == "analytics_payloads":
            sql = ("SELECT md5(string_agg(concat_ws('|', feed, source, received_at, payload::text), '#' "
                   "ORDER BY received_at, feed, payload::text)) FROM citizen_src.analytics_payloads")
        else:
            cols = [r[0] for r in rows(conn, """SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass
                                                  AND attnum > 0 AND NOT attisdropped AND attname !~ '^_' ORDER BY attnum""",
                                       (f"citizen_src.{table}",))]
            row = "ROW(" + ", ".join(f"t.{c}" for c in cols) + ")::text"
            sql = f"SELECT md5(string_agg({row}, '#' ORDER BY {row})) FROM citizen_src.{table} AS t"
        out[table] = scalar(conn, sql)
    return out


def truncate_source(conn):
    conn.execute("TRUNCATE " + ", ".join(f"citizen_src.{t}" for t in SOURCE_TABLES) + " RESTART IDENTITY")


# ---- DDL -----------------------------------------------------------------------------------------

def test_the_area_has_its_schemas_tables_and_partitioned_facts(conn):
    assert scalar(conn, "SELECT count(*) FROM pg_namespace WHERE nspname IN ('citizen', 'citizen_src')") == 2
    for table in SOURCE_TABLES:
        assert scalar(conn, "SELECT to_regclass(%s) IS NOT NULL", (f"citizen_src.{table}",)), table
    for table in DIMENSIONS + ["fct_service_queries", "fct_content_usage", "dim_date", "dim_time"]:
        assert scalar(conn, "SELECT to_regclass(%s) IS NOT NULL", (f"citizen.{table}",)), table
    for table in ["departments", "services", "users", "languages", "query_types", "content_types", "content_sources",
                  "content_syncs", "contents", "query_logs", "content_events"]:
        assert scalar(conn, "SELECT to_regclass(%s) IS NOT NULL", (f"bronze.citizen_{table}",)), table
        assert scalar(conn, "SELECT to_regclass(%s) IS NOT NULL", (f"silver.citizen_{table}",)), table
    # both facts range-partitioned on the event date key, keyed by the portal's event id with it
    assert rows(conn, """
        SELECT c.relname, pt.partstrat, a.attname
        FROM pg_partitioned_table AS pt JOIN pg_class AS c ON c.oid = pt.partrelid
        JOIN pg_attribute AS a ON a.attrelid = pt.partrelid AND a.attnum = pt.partattrs[0]
        WHERE c.relnamespace = 'citizen'::regnamespace ORDER BY 1""") == [
        ("fct_content_usage", "r", "date_key"), ("fct_service_queries", "r", "date_key")]
    assert rows(conn, """
        SELECT conrelid::regclass::text, pg_get_constraintdef(oid) FROM pg_constraint
        WHERE contype = 'p' AND conrelid IN ('citizen.fct_service_queries'::regclass, 'citizen.fct_content_usage'::regclass)
        ORDER BY 1""") == [("citizen.fct_content_usage", "PRIMARY KEY (usage_id, date_key)"),
                           ("citizen.fct_service_queries", "PRIMARY KEY (query_id, date_key)")]


def test_the_facts_reference_every_dimension_and_the_calendar(conn):
    fks = rows(conn, """
        SELECT conrelid::regclass::text, confrelid::regclass::text
        FROM pg_constraint WHERE contype = 'f' AND conrelid IN ('citizen.fct_service_queries'::regclass, 'citizen.fct_content_usage'::regclass)
        ORDER BY 1, 2""")
    assert fks == [
        ("citizen.fct_content_usage", "citizen.dim_content"), ("citizen.fct_content_usage", "citizen.dim_content_type"),
        ("citizen.fct_content_usage", "citizen.dim_service"), ("citizen.fct_content_usage", "citizen.dim_user"),
        ("citizen.fct_content_usage", "gold.dim_date"), ("citizen.fct_content_usage", "gold.dim_time_of_day"),
        ("citizen.fct_service_queries", "citizen.dim_language"), ("citizen.fct_service_queries", "citizen.dim_query_type"),
        ("citizen.fct_service_queries", "citizen.dim_service"), ("citizen.fct_service_queries", "citizen.dim_user"),
        ("citizen.fct_service_queries", "gold.dim_date"), ("citizen.fct_service_queries", "gold.dim_time_of_day")]


def test_no_personal_data_column_reaches_silver_or_the_star_schema(conn):
    # the raw address and user agent exist in bronze only (and the source)
    found = [r[0] for r in rows(conn, """
        SELECT table_schema || '.' || table_name || '.' || column_name FROM information_schema.columns
        WHERE column_name IN ('ip_address', 'user_agent') AND table_schema IN ('bronze', 'silver', 'citizen')
          AND (table_schema <> 'bronze' OR table_name LIKE 'citizen%%')
        ORDER BY 1""")]
    assert found == ["bronze.citizen_content_events.ip_address", "bronze.citizen_content_events.user_agent",
                     "bronze.citizen_query_logs.ip_address", "bronze.citizen_query_logs.user_agent"]
    # dim_user carries no activity attribute (seed: last_activity_date, device, browser, first-time flag)
    assert rows(conn, """SELECT column_name FROM information_schema.columns WHERE table_schema = 'citizen'
                         AND table_name = 'dim_user' AND column_name IN ('last_activity_date', 'device_type',
                         'browser_type', 'is_first_time_user')""") == []


def test_analysts_read_the_star_schema_only(conn):
    granted = rows(conn, """
        SELECT t, has_table_privilege('analyst_role', t, 'SELECT') FROM unnest(%s::text[]) AS t ORDER BY 1""",
                   ([f"citizen.{d}" for d in DIMENSIONS] + ["citizen.dim_date", "citizen.dim_time",
                    "citizen.fct_service_queries", "citizen.fct_content_usage"],))
    assert all(g for _, g in granted), granted
    assert rows(conn, """
        SELECT has_schema_privilege('analyst_role', 'citizen_src', 'USAGE'),
               has_table_privilege('analyst_role', 'citizen_src.analytics_payloads', 'SELECT'),
               has_table_privilege('analyst_role', 'bronze.citizen_query_logs', 'SELECT'),
               has_table_privilege('analyst_role', 'silver.citizen_query_logs', 'SELECT'),
               has_table_privilege('analyst_role', 'citizen.fct_service_queries', 'INSERT'),
               has_table_privilege('etl_service', 'bronze.citizen_query_logs', 'SELECT'),
               has_table_privilege('etl_service', 'bronze.citizen_query_logs', 'DELETE')""") == [
        # bronze is append-only (issue 18, migration 0033): the raw purge deletes through
        # dwh_etl.sec_purge_bronze, etl_service itself has no DELETE
        (False, False, False, False, False, True, False)]


CHECK_VIOLATIONS = [
    ("dim_service", "service_id, service_name, service_category, department, priority_level, service_type, data_source, _batch_id",
     "1, 's', 'c', 'd', 6, 'api', 'x', %s"),
    ("dim_service", "service_id, service_name, service_category, department, priority_level, service_type, data_source, _batch_id",
     "1, 's', 'c', 'd', 1, 'website', 'x', %s"),
    ("dim_service", "service_id, _batch_id", "1, %s"),                                 # attributes of a real row missing
    ("dim_user", "user_id, user_type, _batch_id", "1, 'anonymous', %s"),             # anonymous visitors have no row
    ("dim_content", "content_id, content_type, title, language, content_source, _batch_id", "1, 'video', 't', 'hi', 's', %s"),
    ("dim_query_type", "query_type, query_category, complexity_level, is_api_required, _batch_id", "'chat', 'general', 'simple', false, %s"),
    ("dim_query_type", "query_type, query_category, complexity_level, is_api_required, _batch_id", "'search', 'general', 'trivial', false, %s"),
    ("dim_language", "language_code, language_name, script_type, is_rtl, _batch_id", "'ur', 'Urdu', 'perso_arabic', false, %s"),
    ("dim_language", "language_code, language_name, script_type, is_rtl, coverage_percentage, _batch_id", "'hi', 'Hindi', 'devanagari', false, 101, %s"),
    ("dim_content_source", "source_name, source_type, reliability_score, update_frequency, _batch_id", "'s', 'api', 1.5, 'daily', %s"),
    ("dim_content_source", "source_name, source_type, reliability_score, update_frequency, _batch_id", "'s', 'api', 0.5, 'hourly', %s"),
    ("dim_content_source", "source_name, source_type, reliability_score, update_frequency, _batch_id", "'s', 'scraping', 0.5, 'daily', %s"),
    ("dim_content_type", "content_type, type_name, is_downloadable, _batch_id", "'video', 'Video', false, %s"),
]


@pytest.mark.parametrize("table, columns, values", CHECK_VIOLATIONS)
def test_the_seeds_ranges_and_vocabularies_are_checks(conn, table, columns, values):
    with pytest.raises(psycopg.errors.CheckViolation):
        conn.execute(f"INSERT INTO citizen.{table} ({columns}) VALUES ({values})", (uuid.uuid4(),))


def insert_dimension_rows(conn):
    batch = uuid.uuid4()
    keys = {}
    keys["service"] = scalar(conn, """INSERT INTO citizen.dim_service (service_id, service_name, service_category, department,
                                          priority_level, service_type, data_source, _batch_id)
                                      VALUES (101, 'Passport', 'identity', 'MEA', 1, 'scraped', 'passportindia', %s)
                                      RETURNING service_key""", (batch,))
    keys["query_type"] = scalar(conn, """INSERT INTO citizen.dim_query_type (query_type, query_category, complexity_level,
                                             is_api_required, _batch_id) VALUES ('search', 'general', 'simple', false, %s)
                                         RETURNING query_type_key""", (batch,))
    keys["language"] = scalar(conn, """INSERT INTO citizen.dim_language (language_code, language_name, script_type, is_rtl, _batch_id)
                                       VALUES ('hi', 'Hindi', 'devanagari', false, %s) RETURNING language_key""", (batch,))
    conn.execute("SELECT dwh_etl.ensure_calendar(DATE '2026-03-01', DATE '2026-03-31')")
    return batch, keys


def insert_query(conn, batch, keys, **overrides):
    values = {"query_id": 1, "date_key": 20260315, "time_key": 101500, "service_key": keys["service"],
              "query_type_key": keys["query_type"], "language_key": keys["language"], "success_flag": True,
              "session_id": "s1", "device_type": "mobile", "browser_type": "chrome", "os_type": "android",
              "queried_at": dt.datetime(2026, 3, 15, 4, 45, tzinfo=dt.timezone.utc), "_batch_id": batch,
              "ip_network": "49.36.12.0/24"}
    values.update(overrides)
    cols = ", ".join(values)
    conn.execute(f"INSERT INTO citizen.fct_service_queries ({cols}) VALUES ({', '.join(['%s'] * len(values))})",
                 list(values.values()))


def test_facts_check_their_keys_ranges_and_the_network_prefix(conn):
    conn.execute("SELECT dwh_etl.ensure_partitions('citizen.fct_service_queries', DATE '2026-03-01', DATE '2026-03-01', 0)")
    batch, keys = insert_dimension_rows(conn)
    insert_query(conn, batch, keys)
    with pytest.raises(psycopg.errors.UniqueViolation):          # the event id is the key: no second row
        insert_query(conn, batch, keys)
    with pytest.raises(psycopg.errors.ForeignKeyViolation):      # an unknown service
        insert_query(conn, batch, keys, query_id=2, service_key=keys["service"] + 1000)
    with pytest.raises(psycopg.errors.ForeignKeyViolation):      # a time of day that does not exist
        insert_query(conn, batch, keys, query_id=3, time_key=250000)
    for bad in ({"user_satisfaction_score": 6}, {"response_time_ms": -1}, {"ip_network": "49.36.12.7/32"},
                {"ip_network": "2409:4050::/64"}, {"device_type": "phone"}, {"session_id": ""}):
        with pytest.raises(psycopg.errors.CheckViolation):
            insert_query(conn, batch, keys, query_id=4, **bad)
    insert_query(conn, batch, keys, query_id=5, ip_network="2409:4050:12ab::/48", user_satisfaction_score=5)


def test_natural_keys_are_unique(conn):
    batch, keys = insert_dimension_rows(conn)
    # a second current version of a service (the overlap exclusion or the current-version index refuses it)
    with pytest.raises((psycopg.errors.UniqueViolation, psycopg.errors.ExclusionViolation)):
        conn.execute("""INSERT INTO citizen.dim_service (service_id, service_name, service_category, department,
                            priority_level, service_type, data_source, _batch_id, version)
                        VALUES (101, 'Passport', 'identity', 'MHA', 1, 'scraped', 'passportindia', %s, 2)""", (batch,))
    with pytest.raises(psycopg.errors.UniqueViolation):          # Type 1: one row per query type
        conn.execute("""INSERT INTO citizen.dim_query_type (query_type, query_category, complexity_level, is_api_required, _batch_id)
                        VALUES ('search', 'specific', 'simple', true, %s)""", (batch,))
    with pytest.raises(psycopg.errors.CheckViolation):           # Type 1: never a second version
        conn.execute("UPDATE citizen.dim_language SET version = 2")


def test_dim_date_has_the_week_of_year_and_indias_fiscal_year(conn):
    conn.execute("SELECT dwh_etl.ensure_calendar(DATE '2026-03-30', DATE '2026-04-02')")
    assert rows(conn, """SELECT date_key, week_of_year, fiscal_year, fiscal_quarter FROM citizen.dim_date
                         WHERE full_date IN ('2026-03-31', '2026-04-01') ORDER BY 1""") == [
        (20260331, 14, 2026, 4), (20260401, 14, 2027, 1)]
    assert scalar(conn, "SELECT count(*) FROM citizen.dim_time") == scalar(conn, "SELECT count(*) FROM gold.dim_time_of_day")


# ---- helpers: keys in the area's zone, personal data reduced ------------------------------------------------

def test_date_and_time_keys_are_indias_whatever_the_session_zone(conn):
    conn.execute("SET TimeZone = 'America/Los_Angeles'")
    at = dt.datetime(2026, 1, 1, 20, 0, 5, tzinfo=dt.timezone.utc)      # 01:30:05 on 2 January in India
    assert rows(conn, "SELECT citizen._date_key(%s, 'Asia/Kolkata'), citizen._time_key(%s, 'Asia/Kolkata')", (at, at)) == [
        (20260102, 13005)]


@pytest.mark.parametrize("address, network", [
    ("49.36.12.7", "49.36.12.0/24"), (" 106.210.3.250 ", "106.210.3.0/24"),
    ("2409:4050:12ab:9f00::1", "2409:4050:12ab::/48"), ("999.1.1.1", None), ("not an address", None), ("", None), (None, None)])
def test_only_the_network_of_an_address_is_kept(conn, address, network):
    assert scalar(conn, "SELECT citizen._ip_network(%s)::text", (address,)) == network


@pytest.mark.parametrize("agent, parsed", [
    ("Mozilla/5.0 (Linux; Android 13; SM-A536E) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Mobile Safari/537.36",
     ("mobile", "chrome", "android")),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
     ("mobile", "safari", "ios")),
    ("Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1",
     ("tablet", "safari", "ios")),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.61",
     ("desktop", "edge", "windows")),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
     ("desktop", "safari", "macos")),
    ("Mozilla/5.0 (Linux; Android 13; SM-M336B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36",
     ("mobile", "samsung", "android")),
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", ("bot", "other", "other")),
    ("python-requests/2.31.0", ("unknown", "api_client", "other")),
    (None, ("unknown", "unknown", "unknown"))])
def test_a_user_agent_becomes_device_browser_and_os(conn, agent, parsed):
    assert rows(conn, "SELECT citizen._device_type(%s), citizen._browser_type(%s), citizen._os_type(%s)",
                (agent, agent, agent)) == [parsed]


# ---- the generator ---------------------------------------------------------------------------------------

def test_the_languages_are_the_22_scheduled_ones_and_english_with_their_direction(conn):
    generate(conn, days=1)
    assert {r[0] for r in rows(conn, "SELECT language_code FROM citizen_src.languages WHERE is_scheduled")} == SCHEDULED
    assert rows(conn, "SELECT language_code FROM citizen_src.languages WHERE NOT is_scheduled") == [("en",)]
    assert rows(conn, "SELECT language_code, script_type FROM citizen_src.languages WHERE is_rtl ORDER BY 1") == [
        ("ks", "perso_arabic"), ("ur", "perso_arabic")]
    # content exists in right-to-left languages too, titled in their own script
    assert scalar(conn, "SELECT count(*) FROM citizen_src.contents WHERE language_code IN ('ur', 'ks') AND title ~ '[\u0600-\u06FF]'") > 0


def test_the_generator_is_deterministic_for_a_seed(conn):
    generate(conn)
    first = source_hashes(conn)
    assert all(first.values()), first
    truncate_source(conn)
    generate(conn)
    assert source_hashes(conn) == first
    truncate_source(conn)
    generate(conn, seed=0.7)
    other = source_hashes(conn)
    assert other["analytics_payloads"] != first["analytics_payloads"] and other["users"] != first["users"]
    # the reference data is a fixed catalog
    assert other["services"] == first["services"] and other["languages"] == first["languages"]


def test_generate_next_day_adds_the_day_after_the_simulated_one(conn):
    generate(conn, days=2, through=THROUGH - dt.timedelta(days=1))
    payloads = scalar(conn, "SELECT count(*) FROM citizen_src.analytics_payloads")
    users = scalar(conn, "SELECT count(*) FROM citizen_src.users")
    conn.execute("CALL citizen_src.generate_next_day()")
    assert scalar(conn, "SELECT simulated_through FROM citizen_src.generator_state") == THROUGH
    # the new day's events (IST day 2026-03-31: 2026-03-30 18:30 UTC on), new registrations, a moved citizen
    assert scalar(conn, """SELECT min(received_at) >= '2026-03-30 18:30+00' FROM citizen_src.analytics_payloads
                           WHERE payload_id > %s""", (payloads,))
    assert scalar(conn, "SELECT count(*) FROM citizen_src.users") > users
    assert scalar(conn, "SELECT count(*) FROM citizen_src.users WHERE updated_at::date = DATE '2026-03-31'") >= 2


def test_the_generator_makes_a_realistic_portal(conn):
    generate(conn, scale=0.02, days=3)
    # citizens, admins, API clients, and one bad account with the seed's 'anonymous' type (quarantined by the load)
    assert {r[0]: r[1] for r in rows(conn, "SELECT user_type, count(*) FROM citizen_src.users GROUP BY 1")}.keys() == {
        "admin", "api_client", "citizen", "anonymous"}
    assert scalar(conn, "SELECT count(*) FROM citizen_src.users WHERE user_type = 'anonymous'") == 1
    assert scalar(conn, "SELECT count(DISTINCT department_id) FROM citizen_src.services") >= 10
    assert scalar(conn, "SELECT count(DISTINCT service_category) FROM citizen_src.services") >= 8
    assert scalar(conn, "SELECT count(DISTINCT location_state) FROM citizen_src.users") >= 10
    assert scalar(conn, "SELECT count(DISTINCT language_code) FROM citizen_src.contents") == 23
    # every source syncs on its schedule; the real-time one every hour
    assert scalar(conn, "SELECT count(*) FROM citizen_src.content_syncs WHERE source_name = 'apisetu'") == 3 * 24
    assert scalar(conn, "SELECT count(*) FROM citizen_src.content_sources WHERE update_frequency = 'daily' AND last_sync IS NULL") == 0
    # the collector's events carry the client's address and user agent; some visitors are anonymous
    events = rows(conn, """SELECT e->>'ip_address', e->>'user_agent', e->>'user_id', e->>'session_id'
                           FROM citizen_src.analytics_payloads AS p
                           CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(p.payload) = 'array' THEN p.payload
                                                                        ELSE p.payload->'data' END) AS e
                           WHERE p.feed = 'query_logs' AND jsonb_typeof(e) = 'object'""")
    assert len(events) > 100
    assert all(ip and ua for ip, ua, _, _ in events)
    assert 0.3 < sum(1 for e in events if e[2] is None) / len(events) < 0.6
    assert any(":" in e[0] for e in events) and any("." in e[0] for e in events)


def test_generate_refuses_a_second_initial_load_and_bad_arguments(conn):
    generate(conn, days=1)
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState):
        generate(conn, days=1)
    with pytest.raises(psycopg.errors.InvalidParameterValue):
        conn.execute("CALL citizen_src.generate(p_scale => 0)")
    with pytest.raises(psycopg.errors.InvalidParameterValue):
        conn.execute("CALL citizen_src.generate(p_scale => 0.01, p_days => 0)")
