"""The citizen area end to end (issue 12): the steps registered in procedures/registry/citizen.sql run in
`daily`: extraction of the portal's tables, the collector's JSON payloads through dwh_etl.ingest_json, silver
over the engine's typing and the area's typing views (IP and user agent reduced), the seven dimensions
(SCD2 and Type 1), the two partitioned facts; the maintenance pipeline purges raw events.

The citizen-only warehouse is built once per module (`citizen_loaded_template`: generated at scale 0.02 for
5 days, `daily` run for today); each test gets its own clone of it."""

from __future__ import annotations

import datetime as dt
import json

import psycopg
import pytest

from conftest import database_template

RUN_DAILY = "CALL dwh_etl.run_pipeline(p_pipeline => 'daily', p_run_date => (now() AT TIME ZONE 'UTC')::date, p_run_id => NULL)"

CITIZEN_TABLES = ["citizen_src.users", "citizen_src.contents", "citizen_src.analytics_payloads",
                  "bronze.citizen_services", "bronze.citizen_query_logs", "bronze.citizen_content_events",
                  "silver.citizen_services", "silver.citizen_users", "silver.citizen_contents", "silver.citizen_content_syncs",
                  "silver.citizen_query_logs", "silver.citizen_content_events",
                  "citizen.dim_service", "citizen.dim_user", "citizen.dim_content", "citizen.dim_query_type",
                  "citizen.dim_language", "citizen.dim_content_source", "citizen.dim_content_type",
                  "citizen.fct_service_queries", "citizen.fct_content_usage"]
STAR = ["citizen.dim_service", "citizen.dim_user", "citizen.dim_content", "citizen.dim_query_type", "citizen.dim_language",
        "citizen.dim_content_source", "citizen.dim_content_type", "citizen.fct_service_queries", "citizen.fct_content_usage",
        "silver.citizen_query_logs", "silver.citizen_content_events"]
UA_PHONE = ("Mozilla/5.0 (Linux; Android 13; SM-A536E) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/119.0.0.0 Mobile Safari/537.36")


def scalar(conn, sql, params=None):
    return conn.execute(sql, params).fetchone()[0]


def rows(conn, sql, params=None):
    return conn.execute(sql, params).fetchall()


def only_citizen(conn):
    conn.execute("UPDATE dwh_etl.steps SET is_enabled = false WHERE area NOT IN ('citizen', 'engine')")
    conn.execute("UPDATE dwh_etl.quality_rules SET is_enabled = false WHERE area IS DISTINCT FROM 'citizen'")


def last_run(conn, pipeline="daily"):
    return rows(conn, """SELECT r.status, array_agg(s.step_name || ':' || s.status || COALESCE(':' || s.error_message, '') ORDER BY s.step_order)
                         FROM dwh_lineage.pipeline_runs AS r JOIN dwh_lineage.step_runs AS s USING (run_id)
                         WHERE r.run_id = (SELECT max(run_id) FROM dwh_lineage.pipeline_runs WHERE pipeline_name = %s)
                         GROUP BY r.status""", (pipeline,))[0]


def run_daily(conn):
    conn.execute(RUN_DAILY)
    status, steps = last_run(conn)
    assert status == "completed", steps
    return steps


def table_hash(conn, table):
    return scalar(conn, f"SELECT md5(COALESCE(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {table} AS t")


def iso_ist(at: dt.datetime) -> str:
    return at.astimezone(dt.timezone(dt.timedelta(hours=5, minutes=30))).isoformat(timespec="milliseconds")


def query_event(query_id, at, **overrides):
    event = {"query_id": query_id, "occurred_at": iso_ist(at), "service_id": 101, "user_id": None,
             "session_id": f"s-test-{query_id}", "query_type": "search", "language_code": "hi",
             "response_time_ms": 240, "success": True, "result_count": 7, "satisfaction_score": None,
             "ip_address": "49.36.12.7", "user_agent": UA_PHONE}
    event.update(overrides)
    return event


def deliver(conn, feed, payload):
    conn.execute("INSERT INTO citizen_src.analytics_payloads (feed, source, payload) VALUES (%s, 'test', %s::jsonb)",
                 (feed, json.dumps(payload)))


def yesterday_utc(hour, minute=0):
    day = dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time(hour, minute), dt.timezone.utc)


@database_template(scope="module")
def citizen_loaded_template(conn):
    """Only the citizen area: its demo source generated (scale 0.02, seed 0.42, 5 days) and `daily` run once."""
    only_citizen(conn)
    conn.execute("CALL citizen_src.generate(p_scale => 0.02, p_seed => 0.42, p_days => 5)")
    conn.execute(RUN_DAILY)


@pytest.fixture
def loaded(citizen_loaded_template, conn):
    return conn


def test_daily_loads_every_citizen_table(loaded):
    status, steps = last_run(loaded)
    assert status == "completed", steps
    for table in CITIZEN_TABLES:
        assert scalar(loaded, f"SELECT count(*) FROM {table}") > 0, table
    assert {s.split(":")[0] for s in steps} >= {
        "citizen_extract", "citizen_ingest_events", "citizen_silver_entities", "citizen_silver_events",
        "citizen_dimensions", "citizen_fct_service_queries", "citizen_fct_content_usage"}
    # every silver event is in its fact, exactly once
    assert scalar(loaded, "SELECT count(*) FROM citizen.fct_service_queries") == scalar(loaded, "SELECT count(*) FROM silver.citizen_query_logs")
    assert scalar(loaded, "SELECT count(*) FROM citizen.fct_content_usage") == scalar(loaded, "SELECT count(*) FROM silver.citizen_content_events")
    assert scalar(loaded, "SELECT count(DISTINCT query_id) FROM citizen.fct_service_queries") == scalar(loaded, "SELECT count(*) FROM citizen.fct_service_queries")
    # the dimensions: 24 services, 23 languages with their coverage, 4 query and content types
    assert rows(loaded, """SELECT (SELECT count(*) FROM citizen.dim_service), (SELECT count(*) FROM citizen.dim_language),
                                  (SELECT count(*) FROM citizen.dim_query_type), (SELECT count(*) FROM citizen.dim_content_type),
                                  (SELECT count(*) FROM citizen.dim_language WHERE coverage_percentage IS NULL)""") == [(24, 23, 4, 4, 0)]
    # the step kinds: only ingestion, the purge and the measurement facts' day queue are custom
    assert rows(loaded, "SELECT DISTINCT step_name FROM dwh_etl.steps WHERE area = 'citizen' AND kind = 'custom' ORDER BY 1") == [
        ("citizen_ingest_events",), ("citizen_purge_raw_events",), ("citizen_quality_days",)]


def test_every_collected_event_is_loaded_or_quarantined(loaded):
    # nothing is lost: each bronze event is in silver or quarantined under its id
    for bronze, silver, key, silver_key in (("bronze.citizen_query_logs", "silver.citizen_query_logs", "query_id", "query_id"),
                                            ("bronze.citizen_content_events", "silver.citizen_content_events", "event_id", "usage_id")):
        assert scalar(loaded, f"""
            SELECT count(*) FROM {bronze} AS b
            WHERE NOT EXISTS (SELECT 1 FROM {silver} AS s WHERE s.{silver_key}::text = btrim(b.{key}))
              AND NOT EXISTS (SELECT 1 FROM dwh_etl.quarantine AS q
                              WHERE q.target_table = %s AND q.record_key = COALESCE(btrim(b.{key}), '(no {key})'))""",
                      (silver,)) == 0, bronze
    # the generator's bad events and non-events were quarantined, each with a reason
    reasons = {r[0] for r in rows(loaded, "SELECT DISTINCT unnest(reasons) FROM dwh_etl.quarantine WHERE target_table LIKE '%%citizen%%'")}
    assert "payload is a JSON string, not an array of objects" in reasons
    assert any(r.startswith("element ") and "is a JSON string, not an object" in r for r in reasons)
    assert any("has none of the columns of bronze.citizen_content_events (keys: ping)" in r for r in reasons)


def test_a_bad_event_is_quarantined_with_its_reasons_and_the_rest_loads(loaded):
    at = yesterday_utc(6)
    deliver(loaded, "query_logs", {"data": [
        query_event(990000001, at),
        query_event(990000002, at, satisfaction_score=9, response_time_ms="n/a", query_type="complaint"),
        query_event(990000003, at, occurred_at="03/12/2026 10:00:00", session_id=None),
        "keep-alive"]})
    run_daily(loaded)
    assert scalar(loaded, "SELECT count(*) FROM citizen.fct_service_queries WHERE query_id = 990000001") == 1
    assert scalar(loaded, "SELECT count(*) FROM citizen.fct_service_queries WHERE query_id IN (990000002, 990000003)") == 0
    quarantined = {r[0]: sorted(r[1]) for r in rows(loaded, """
        SELECT record_key, reasons FROM dwh_etl.quarantine
        WHERE target_table = 'silver.citizen_query_logs' AND record_key IN ('990000002', '990000003')""")}
    assert quarantined == {
        "990000002": sorted(["query_type 'complaint' is not search, status_check, verification or information",
                             "response_time_ms 'n/a' is not an integer", "satisfaction_score 9 is not between 1 and 5"]),
        "990000003": sorted(["occurred_at '03/12/2026 10:00:00' is not an ISO 8601 timestamp", "session_id is missing"])}
    assert scalar(loaded, """SELECT count(*) FROM dwh_etl.quarantine WHERE target_table = 'bronze.citizen_query_logs'
                             AND payload->>'element' = 'keep-alive'""") == 1


def test_a_redelivered_batch_changes_nothing(loaded):
    before = {t: table_hash(loaded, t) for t in STAR}
    entries = scalar(loaded, "SELECT count(*) FROM dwh_etl.quarantine")
    # the collector sends its last day's payloads again (a retry after a timeout)
    redelivered = loaded.execute("""
        INSERT INTO citizen_src.analytics_payloads (feed, source, received_at, payload)
        SELECT feed, source, now(), payload FROM citizen_src.analytics_payloads
        WHERE received_at >= (SELECT max(received_at) - interval '1 day' FROM citizen_src.analytics_payloads)
        ORDER BY payload_id""").rowcount
    assert redelivered > 10
    run_daily(loaded)
    assert {t: table_hash(loaded, t) for t in STAR} == before
    # the bad events of the batch count a second delivery on their open entries, no new entry
    assert scalar(loaded, "SELECT count(*) FROM dwh_etl.quarantine") == entries
    assert scalar(loaded, "SELECT count(*) FROM bronze.citizen_query_logs") > scalar(loaded, "SELECT count(*) FROM silver.citizen_query_logs")


def test_client_time_zone_and_date_style_do_not_change_the_keys(loaded):
    late = yesterday_utc(20, 0)     # 01:30 the next day in India, 12:00 the same day in Los Angeles
    early = yesterday_utc(2, 15)    # 07:45 the same day in India, 18:15 the day before in Los Angeles
    deliver(loaded, "query_logs", [query_event(990000011, late), query_event(990000012, early)])
    loaded.execute("SET TimeZone = 'America/Los_Angeles'")
    loaded.execute("SET DateStyle = 'SQL, DMY'")
    loaded.execute(RUN_DAILY)
    assert last_run(loaded)[0] == "completed"
    loaded.execute("RESET TimeZone")
    loaded.execute("RESET DateStyle")
    next_day = int((late.date() + dt.timedelta(days=1)).strftime("%Y%m%d"))
    same_day = int(early.date().strftime("%Y%m%d"))
    assert rows(loaded, "SELECT query_id, date_key, time_key FROM citizen.fct_service_queries WHERE query_id BETWEEN 990000010 AND 990000019 ORDER BY 1") == [
        (990000011, next_day, 13000), (990000012, same_day, 74500)]
    # every fact is dated in India's zone
    assert scalar(loaded, """SELECT count(*) FROM citizen.fct_service_queries
                             WHERE date_key <> to_char(queried_at AT TIME ZONE 'Asia/Kolkata', 'YYYYMMDD')::integer
                                OR time_key <> to_char(queried_at AT TIME ZONE 'Asia/Kolkata', 'HH24MISS')::integer""") == 0
    assert scalar(loaded, """SELECT count(*) FROM citizen.fct_content_usage
                             WHERE date_key <> to_char(used_at AT TIME ZONE 'Asia/Kolkata', 'YYYYMMDD')::integer""") == 0


def test_personal_data_stays_out_of_the_facts(loaded):
    at = yesterday_utc(9)
    deliver(loaded, "query_logs", [query_event(990000021, at, ip_address="117.239.201.66"),
                                   query_event(990000022, at, ip_address="2409:4050:2e1c:9f00:1:2:3:4", user_agent="okhttp/4.12.0"),
                                   query_event(990000023, at, ip_address="not-an-ip", user_agent=None)])
    run_daily(loaded)
    assert rows(loaded, """SELECT query_id, ip_network::text, device_type, browser_type, os_type FROM citizen.fct_service_queries
                           WHERE query_id BETWEEN 990000020 AND 990000029 ORDER BY 1""") == [
        (990000021, "117.239.201.0/24", "mobile", "chrome", "android"),
        (990000022, "2409:4050:2e1c::/48", "unknown", "api_client", "other"),
        (990000023, None, "unknown", "unknown", "unknown")]
    # no fact holds a host address; no value of a fact row or a silver row contains a raw address or agent
    assert scalar(loaded, "SELECT count(*) FROM citizen.fct_service_queries WHERE masklen(ip_network) NOT IN (24, 48)") == 0
    for table in ("citizen.fct_service_queries", "citizen.fct_content_usage", "silver.citizen_query_logs", "silver.citizen_content_events"):
        assert scalar(loaded, f"""SELECT count(*) FROM {table} AS t
                                  WHERE t::text LIKE '%%117.239.201.66%%' OR t::text LIKE '%%Mozilla%%' OR t::text LIKE '%%okhttp%%'""") == 0, table
    # the raw values are in bronze, which only the ETL role reads
    assert scalar(loaded, "SELECT count(*) FROM bronze.citizen_query_logs WHERE ip_address = '117.239.201.66'") == 1
    assert not scalar(loaded, "SELECT has_table_privilege('analyst_role', 'bronze.citizen_query_logs', 'SELECT')")


def test_raw_events_are_purged_after_the_retention_by_the_maintenance_pipeline(loaded):
    facts = {t: table_hash(loaded, t) for t in ("citizen.fct_service_queries", "citizen.fct_content_usage")}
    total = scalar(loaded, "SELECT count(*) FROM bronze.citizen_query_logs")
    loaded.execute("UPDATE dwh_etl.settings SET value = '30 days' WHERE key = 'citizen.raw_retention'")
    # half of the raw events were ingested 40 days ago (and their bad events quarantined then); bronze
    # is append-only (migration 0033): the test ages rows through the trigger's own switch
    loaded.execute("SET dwh_etl.bronze_purge = 'bronze.citizen_query_logs'")
    aged = loaded.execute("UPDATE bronze.citizen_query_logs SET _ingested_at = _ingested_at - interval '40 days' WHERE _bronze_id % 2 = 0").rowcount
    loaded.execute("SET dwh_etl.bronze_purge = 'bronze.citizen_content_events'")
    loaded.execute("UPDATE bronze.citizen_content_events SET _ingested_at = _ingested_at - interval '40 days'")
    loaded.execute("RESET dwh_etl.bronze_purge")
    loaded.execute("UPDATE dwh_etl.quarantine SET quarantined_at = quarantined_at - interval '40 days' WHERE target_table LIKE 'silver.citizen%%'")
    # an element that was no event, recorded against bronze with its raw IP, 40 days ago
    loaded.execute("""INSERT INTO dwh_etl.quarantine (target_table, source_table, record_key, payload, reasons, quarantined_at)
                      VALUES ('bronze.citizen_query_logs', 'citizen_src.analytics_payloads/query_logs', 'element 1',
                              '{"source": "x", "element": {"ip_address": "203.0.113.9", "junk": true}}',
                              ARRAY['not an event'], now() - interval '40 days')""")
    assert aged > 0 and scalar(loaded, "SELECT count(*) FROM dwh_etl.quarantine WHERE target_table = 'silver.citizen_query_logs'") > 0
    loaded.execute("CALL dwh_etl.run_pipeline(p_pipeline => 'maintenance', p_run_date => (now() AT TIME ZONE 'UTC')::date, p_run_id => NULL)")
    status, steps = last_run(loaded, "maintenance")
    assert status == "completed" and "citizen_purge_raw_events:completed" in steps, steps
    assert scalar(loaded, "SELECT count(*) FROM bronze.citizen_query_logs") == total - aged
    assert scalar(loaded, "SELECT count(*) FROM bronze.citizen_content_events") == 0
    # the facts never held the raw values: unchanged
    assert {t: table_hash(loaded, t) for t in facts} == facts
    # old quarantine entries keep the network and the parsed agent only
    assert scalar(loaded, """SELECT count(*) FROM dwh_etl.quarantine WHERE target_table LIKE 'silver.citizen%%'
                             AND (payload->>'ip_address' !~ '/(24|48)$' OR payload->>'user_agent' LIKE '%%Mozilla%%')""") == 0
    # the bronze-level entry is resolved with its payload removed
    assert rows(loaded, """SELECT resolved_at IS NOT NULL, payload::text LIKE '%%203.0.113%%' FROM dwh_etl.quarantine
                            WHERE target_table = 'bronze.citizen_query_logs' AND record_key = 'element 1'""") == [(True, False)]
    # a second run purges nothing more
    loaded.execute("CALL citizen.step_purge_raw_events(NULL, (now() AT TIME ZONE 'UTC')::date)")
    assert scalar(loaded, "SELECT count(*) FROM bronze.citizen_query_logs") == total - aged


def test_unread_raw_events_are_never_purged(loaded):
    loaded.execute("UPDATE dwh_etl.settings SET value = '0 days' WHERE key = 'citizen.raw_retention'")
    deliver(loaded, "query_logs", [query_event(990000031, yesterday_utc(10))])
    # landed in bronze but not yet read by silver (only the ingestion ran)
    loaded.execute("CALL citizen.step_ingest_events(NULL, (now() AT TIME ZONE 'UTC')::date)")
    loaded.execute("CALL citizen.step_purge_raw_events(NULL, (now() AT TIME ZONE 'UTC')::date)")
    assert scalar(loaded, "SELECT count(*) FROM bronze.citizen_query_logs") == 1
    run_daily(loaded)
    assert scalar(loaded, "SELECT count(*) FROM citizen.fct_service_queries WHERE query_id = 990000031") == 1


def test_a_services_move_to_another_department_is_history(loaded):
    old_key, old_department = rows(loaded, "SELECT service_key, department FROM citizen.dim_service WHERE service_id = 101")[0]
    facts_before = scalar(loaded, "SELECT count(*) FROM citizen.fct_service_queries WHERE service_key = %s", (old_key,))
    assert old_department == "Consular, Passport and Visa Division"
    loaded.execute("UPDATE citizen_src.services SET department_id = 'MEITY', updated_at = now() - interval '1 hour' WHERE service_id = 101")
    deliver(loaded, "query_logs", [query_event(990000041, dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5))])
    run_daily(loaded)
    versions = rows(loaded, """SELECT version, department, is_current, valid_to IS NULL FROM citizen.dim_service
                               WHERE service_id = 101 ORDER BY version""")
    assert versions == [(1, "Consular, Passport and Visa Division", False, False), (2, "Digital India", True, True)]
    new_key = scalar(loaded, "SELECT service_key FROM citizen.dim_service WHERE service_id = 101 AND is_current")
    # the queries before the move stay with the old department; the new one has the new version
    assert scalar(loaded, "SELECT count(*) FROM citizen.fct_service_queries WHERE service_key = %s", (old_key,)) == facts_before
    assert scalar(loaded, "SELECT service_key FROM citizen.fct_service_queries WHERE query_id = 990000041") == new_key


def test_anonymous_visitors_have_a_session_and_no_user(loaded):
    anonymous, sessions, registered = rows(loaded, """
        SELECT count(*) FILTER (WHERE user_key IS NULL), count(DISTINCT session_id) FILTER (WHERE user_key IS NULL),
               count(*) FILTER (WHERE user_key IS NOT NULL)
        FROM citizen.fct_service_queries""")[0]
    assert anonymous > 0 and sessions > 0 and registered > 0
    assert scalar(loaded, "SELECT count(*) FROM citizen.fct_service_queries WHERE session_id IS NULL") == 0


def test_an_unknown_service_or_language_gets_an_inferred_member(loaded):
    deliver(loaded, "query_logs", [query_event(990000051, yesterday_utc(11), service_id=999, language_code="xx")])
    run_daily(loaded)
    assert rows(loaded, """SELECT s.service_id, s.is_inferred, l.language_code, l.is_inferred
                           FROM citizen.fct_service_queries AS f
                           JOIN citizen.dim_service AS s USING (service_key) JOIN citizen.dim_language AS l USING (language_key)
                           WHERE f.query_id = 990000051""") == [(999, True, "xx", True)]


def test_the_next_day_loads_in_the_areas_own_pipeline(loaded):
    facts = scalar(loaded, "SELECT count(*) FROM citizen.fct_service_queries")
    loaded.execute("CALL citizen_src.generate_next_day()")
    loaded.execute("CALL dwh_etl.run_pipeline(p_pipeline => 'citizen_nightly', p_run_date => (now() AT TIME ZONE 'UTC')::date + 1, p_run_id => NULL)")
    status, steps = last_run(loaded, "citizen_nightly")
    assert status == "completed", steps
    assert scalar(loaded, "SELECT count(*) FROM citizen.fct_service_queries") > facts
    assert scalar(loaded, "SELECT count(*) FROM citizen.fct_service_queries") == scalar(loaded, "SELECT count(*) FROM silver.citizen_query_logs")


def test_a_usage_of_content_not_known_yet_waits_for_it_and_then_loads(loaded):
    at = yesterday_utc(12)
    event = {"event_id": 990000061, "occurred_at": iso_ist(at), "content_id": 990061, "service_id": 101, "user_id": None,
             "session_id": "s-test-61", "action_type": "view", "duration_seconds": 42, "scroll_depth_percent": 80,
             "search_rank": None, "rating": None, "query_id": None, "ip_address": "49.36.12.7", "user_agent": UA_PHONE}
    deliver(loaded, "content_events", [event])
    run_daily(loaded)
    # in silver, not quarantined, not in the fact yet: it waits for its content
    assert scalar(loaded, "SELECT count(*) FROM silver.citizen_content_events WHERE usage_id = 990000061") == 1
    assert scalar(loaded, "SELECT count(*) FROM citizen.fct_content_usage WHERE usage_id = 990000061") == 0
    assert scalar(loaded, "SELECT count(*) FROM dwh_etl.quarantine WHERE record_key = '990000061'") == 0
    loaded.execute("""INSERT INTO citizen_src.contents (content_id, content_type, title, language_code, service_id, source_name)
                      VALUES (990061, 'faq', 'Passport FAQ', 'en', 101, 'passportindia')""")
    run_daily(loaded)
    assert rows(loaded, """SELECT c.content_id, t.content_type FROM citizen.fct_content_usage AS f
                           JOIN citizen.dim_content AS c USING (content_key) JOIN citizen.dim_content_type AS t USING (content_type_key)
                           WHERE f.usage_id = 990000061""") == [(990061, "faq")]


def test_a_bad_source_row_is_quarantined_and_its_events_get_an_inferred_user(loaded):
    bad_user = scalar(loaded, "SELECT user_id FROM citizen_src.users WHERE user_type = 'anonymous'")
    assert rows(loaded, "SELECT record_key, reasons FROM dwh_etl.quarantine WHERE target_table = 'silver.citizen_users'") == [
        (str(bad_user), ['user_type "anonymous" is not citizen, admin or api_client'])]
    assert rows(loaded, "SELECT is_inferred, user_type FROM citizen.dim_user WHERE user_id = %s", (bad_user,)) in ([], [(True, None)])
    # corrected at the source: the inferred member (if its events made one) is completed in place, or the user loads
    loaded.execute("UPDATE citizen_src.users SET user_type = 'citizen', updated_at = now() WHERE user_id = %s", (bad_user,))
    run_daily(loaded)
    assert rows(loaded, "SELECT is_inferred, user_type, version FROM citizen.dim_user WHERE user_id = %s", (bad_user,)) == [
        (False, "citizen", 1)]
    assert scalar(loaded, "SELECT resolved_at IS NOT NULL FROM dwh_etl.quarantine WHERE target_table = 'silver.citizen_users'")
