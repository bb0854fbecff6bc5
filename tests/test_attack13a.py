"""Attack 13a: the agents and citizen areas through their real source paths (rows written into agents_src /
citizen_src, files landed by `dwh load` into their bronze tables, change events into agents_src, the
collector's JSON payloads), with values PostgreSQL itself cannot hold, values an index cannot hold,
redeliveries, odd client settings and cancelled runs.

Expected everywhere: a bad input gets a clear error or goes to dwh_etl.quarantine with its reason; nothing
is lost or counted twice; a rerun changes nothing; gold and the marts never show a bad value.
A test whose docstring says DEFECT exposed one (fixed unless marked xfail); the others held and stay as
regression tests. Both areas are generated and loaded once per module (attack13a_template).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from conftest import cloned_database, database_template
from test_attack9a import RUN_DAILY, open_quarantine, rows, run_daily, scalar
from test_attack12 import ok
from test_load_files import dwh

ROOT = Path(__file__).resolve().parent.parent


@database_template(scope="module")
def attack13a_template(conn):
    """The agents and citizen areas only (the other areas' steps and rules off), their demo sources generated
    (agents scale 0.005, citizen scale 0.01 over 2 days, seed 0.42), `daily` run once."""
    conn.execute("UPDATE dwh_etl.steps SET is_enabled = false WHERE area NOT IN ('agents', 'citizen', 'engine')")
    conn.execute("UPDATE dwh_etl.quality_rules SET is_enabled = false WHERE area IS NULL OR area NOT IN ('agents', 'citizen')")
    conn.execute("CALL agents_src.generate(p_scale => 0.005, p_seed => 0.42)")
    conn.execute("CALL citizen_src.generate(p_scale => 0.01, p_seed => 0.42, p_days => 2)")
    conn.execute(RUN_DAILY)


@pytest.fixture
def wh(attack13a_template, conn):
    return conn


def iso(hours_ago: float) -> str:
    at = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=hours_ago)
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def jsonl(tmp_path, name, records) -> Path:
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def mine(conn, target, prefix):
    return {k: v for k, v in open_quarantine(conn, target).items() if k.startswith(prefix)}


# ---------------------------------------------------------------------------------------------------
# values PostgreSQL cannot hold, through `dwh load`
# ---------------------------------------------------------------------------------------------------

# text that is JSON to every parser but not to jsonb: a NUL character, a number beyond numeric's range,
# nesting deeper than the server's stack
JSON_JSONB_REFUSES = {"nul": '["a\\u0000b"]', "huge-number": "[1e1000000]", "deep": "[" * 200_000 + "]" * 200_000}


def agent_record(name, capabilities, at):
    return {"agent_name": name, "agent_type": "ops", "capabilities": capabilities, "sla_target_seconds": "60",
            "cost_per_query_usd": "0.001", "is_active": "true", "created_at": at, "updated_at": at}


def test_agents_json_that_jsonb_refuses_is_quarantined_not_a_failed_night(wh, dsn, tmp_path):
    """DEFECT (high; fixed in agents._try_jsonb, agents._try_text_array): a file row whose capabilities
    (or a conversation's metadata) is valid JSON text that jsonb refuses ("\\u0000", 1e1000000, nesting
    200,000 deep) raised out of the typing view ("unsupported Unicode escape sequence") and failed
    agents_silver_entities, and with it every agents step after it, every night: bronze is append-only and
    the row stayed in the window. So did feedback labels of 7 dimensions (program_limit_exceeded). Now
    each is quarantined with its reason and the good rows of the same files load."""
    at = iso(2)
    agents = [agent_record(f"a13-{k}", v, at) for k, v in JSON_JSONB_REFUSES.items()]
    agents.append(agent_record("a13-good", '["query"]', at))
    ok(dwh(dsn, "load", "bronze.agents_agents", jsonl(tmp_path, "agents.jsonl", agents)))
    conv = rows(wh, "SELECT conversation_id, user_id FROM agents_src.conversations ORDER BY 1 LIMIT 1")[0]
    convs = [{"conversation_id": f"a13-conv-{k}", "user_id": conv[1], "channel": "web", "metadata": v,
              "started_at": at, "created_at": at, "updated_at": at} for k, v in JSON_JSONB_REFUSES.items()]
    ok(dwh(dsn, "load", "bronze.agents_conversations", jsonl(tmp_path, "conversations.jsonl", convs)))
    query = rows(wh, "SELECT query_id, conversation_id, agent FROM agents_src.agent_queries ORDER BY 1 LIMIT 1")[0]
    feedback = [{"feedback_id": "913000001", "query_id": str(query[0]), "conversation_id": query[1], "agent": query[2],
                 "safe_to_send": "true", "clarity_score": "4", "labels": "{{{{{{{deep}}}}}}}", "created_at": at, "updated_at": at},
                {"feedback_id": "913000002", "query_id": str(query[0]), "conversation_id": query[1], "agent": query[2],
                 "safe_to_send": "true", "clarity_score": "4", "labels": "{fine}", "created_at": at, "updated_at": at}]
    ok(dwh(dsn, "load", "bronze.agents_agent_feedback", jsonl(tmp_path, "feedback.jsonl", feedback)))

    run_daily(wh)
    bad_agents = mine(wh, "silver.agents_agents", "a13-")
    assert sorted(bad_agents) == [f"a13-{k}" for k in sorted(JSON_JSONB_REFUSES)], bad_agents
    assert all("capabilities" in r[0] and "is not JSON" in r[0] for r in bad_agents.values()), bad_agents
    bad_convs = mine(wh, "silver.agents_conversations", "a13-conv-")
    assert sorted(bad_convs) == [f"a13-conv-{k}" for k in sorted(JSON_JSONB_REFUSES)], bad_convs
    assert mine(wh, "silver.agents_agent_feedback", "913000001") == {
        "913000001": ["file feedback.jsonl line 1: labels '{{{{{{{deep}}}}}}}' is not a text array"]}
    assert rows(wh, "SELECT agent_name, capabilities FROM agents.dim_agent WHERE agent_name LIKE 'a13-%'") == [("a13-good", ["query"])]
    assert scalar(wh, "SELECT labels FROM agents.fact_training WHERE feedback_id = 913000002") == ["fine"]


def test_citizen_json_that_jsonb_refuses_is_quarantined_not_a_failed_night(wh, dsn, tmp_path):
    """DEFECT (high; fixed in dwh_etl.try_jsonb, the engine's typing of jsonb columns): a content source
    landed from a file whose contact_info is JSON text jsonb refuses ("\\u0000", 1e1000000, nesting 200,000
    deep) failed citizen_silver_entities, the citizen dimensions, facts and marts behind it, every night.
    Now each is quarantined with its reason; the good source of the same file loads."""
    at = iso(2)
    cols = ["source_name", "source_type", "reliability_score", "update_frequency", "sync_schedule", "last_sync",
            "is_active", "contact_info", "created_at", "updated_at"]
    recs = [dict(zip(cols, [f"a13-src-{k}", "api", "0.9", "daily", "0 2 * * *", at, "true", v, at, at]))
            for k, v in {**JSON_JSONB_REFUSES, "good": '{"email": "ops@example.in"}'}.items()]
    ok(dwh(dsn, "load", "bronze.citizen_content_sources", jsonl(tmp_path, "sources.jsonl", recs)))

    run_daily(wh)
    bad = mine(wh, "silver.citizen_content_sources", "a13-src-")
    assert sorted(bad) == [f"a13-src-{k}" for k in sorted(JSON_JSONB_REFUSES)], bad
    assert all(any("contact_info" in r for r in reasons) for reasons in bad.values()), bad
    assert rows(wh, "SELECT source_name, contact_info FROM citizen.dim_content_source WHERE source_name LIKE 'a13-src-%'") == [
        ("a13-src-good", {"email": "ops@example.in"})]


# ---------------------------------------------------------------------------------------------------
# values an index cannot hold
# ---------------------------------------------------------------------------------------------------

LONG_LABEL = "".join(f"{i:04d}-label-text-" for i in range(400))  # 6,400 characters


def insert_feedback(conn, feedback_id, labels, hours_ago=2):
    conn.execute("""INSERT INTO agents_src.agent_feedback (feedback_id, query_id, conversation_id, agent, annotator_id,
                        safe_to_send, clarity_score, accuracy_score, tone_score, labels, comment, created_at,
                        annotated_at, updated_at)
                    SELECT %s, q.query_id, q.conversation_id, q.agent, NULL, true, 4, 4, 4, %s, 'a13',
                           now() - make_interval(hours => %s), now() - make_interval(hours => %s - 1),
                           now() - make_interval(hours => %s - 1)
                    FROM agents_src.agent_queries AS q ORDER BY q.query_id LIMIT 1""",
                 (feedback_id, labels, hours_ago, hours_ago, hours_ago))


def test_agents_a_label_longer_than_the_gin_index_holds_is_quarantined(wh):
    """DEFECT (high; fixed in silver.agents_agent_feedback_typed, migration 0056 for rows already in
    silver): a feedback entry of the source with one label of 6,400 characters passed silver and failed
    agents_fact_training ("index row size 6416 exceeds maximum 2712 for index fact_training_labels_gin"),
    the aggregate and the conversation counters with it, every night. Now a label of more than 200
    characters is quarantined with its reason; the feedback beside it loads."""
    insert_feedback(wh, 913000101, [LONG_LABEL, "ok"])
    insert_feedback(wh, 913000102, ["ok", "fine"])
    run_daily(wh)
    assert mine(wh, "silver.agents_agent_feedback", "9130001") == {
        "913000101": [f"labels has a label '{LONG_LABEL[:50]}…' ({len(LONG_LABEL)} characters) longer than 200 characters"]}
    assert rows(wh, "SELECT feedback_id, labels FROM agents.fact_training WHERE feedback_id BETWEEN 913000101 AND 913000102") == [
        (913000102, ["ok", "fine"])]


def test_migration_0056_unblocks_a_warehouse_whose_silver_holds_a_long_label(wh):
    """DEFECT (the upgrade path of the one above): a warehouse that loaded such a label into silver before
    the fix failed agents_fact_training at every run after it, the view's new reason notwithstanding (the
    row is in silver already). Migration 0056 quarantines it from silver with its raw row; the next run
    completes; a fact row already loaded is left alone."""
    insert_feedback(wh, 913000201, ["x"])
    run_daily(wh)
    bronze_id = scalar(wh, "SELECT max(_bronze_id) FROM bronze.agents_agent_feedback WHERE feedback_id = '913000201'")
    # what the old view let into silver: the same row with a long label, not in the fact
    wh.execute("""INSERT INTO silver.agents_agent_feedback
                  SELECT (jsonb_populate_record(s, jsonb_build_object('feedback_id', 913000202, 'labels', ARRAY[%s],
                                                                         '_loaded_at', clock_timestamp()))).*
                  FROM silver.agents_agent_feedback AS s WHERE s.feedback_id = 913000201""", (LONG_LABEL,))
    wh.execute((ROOT / "migrations" / "0056_agents_long_labels.sql").read_text())
    run_daily(wh)
    entry = rows(wh, """SELECT record_key, (payload->>'_bronze_id')::bigint, reasons[1] FROM dwh_etl.quarantine
                        WHERE target_table = 'silver.agents_agent_feedback' AND resolved_at IS NULL AND record_key = '913000202'""")
    assert entry and entry[0][1] == bronze_id and "migration 0056" in entry[0][2], entry
    assert scalar(wh, "SELECT count(*) FROM silver.agents_agent_feedback WHERE feedback_id = 913000202") == 0
    assert scalar(wh, "SELECT count(*) FROM agents.fact_training WHERE feedback_id = 913000201") == 1


# ---------------------------------------------------------------------------------------------------
# corrections and deletes at the source
# ---------------------------------------------------------------------------------------------------

SEEN_FROM_FACTS = """
    SELECT c.first_seen_at, c.last_seen_at,
           LEAST(s.started_at, (SELECT min(f.created_at) FROM agents.fact_agent_query AS f WHERE f.conv_key = c.conv_key),
                 (SELECT min(f.created_at) FROM agents.fact_approval AS f WHERE f.conv_key = c.conv_key),
                 (SELECT min(f.created_at) FROM agents.fact_training AS f WHERE f.conv_key = c.conv_key)),
           GREATEST(s.started_at, (SELECT max(f.created_at) FROM agents.fact_agent_query AS f WHERE f.conv_key = c.conv_key),
                    (SELECT max(COALESCE(f.resolved_at, f.created_at)) FROM agents.fact_approval AS f WHERE f.conv_key = c.conv_key),
                    (SELECT max(f.created_at) FROM agents.fact_training AS f WHERE f.conv_key = c.conv_key))
    FROM agents.dim_conversation AS c
    JOIN agents_src.conversations AS s ON s.conversation_id = c.conversation_id
    WHERE c.conversation_id = %s"""


def test_agents_first_and_last_seen_follow_a_deleted_query_and_a_corrected_start(wh):
    """DEFECT (medium-low; fixed in agents.step_conversation_counters / step_dim_conversation): the
    conversation's first_seen_at / last_seen_at ("earliest / latest of its start and its queries,
    approvals, feedback") were only ever widened: a query deleted at the source, or moved to another day,
    left its time in last_seen_at for good, and a start corrected to a later time never reached
    first_seen_at. Now both are computed again from the start and the facts whenever either changes."""
    conv, started, agent = rows(wh, """SELECT c.conversation_id, c.started_at, q.agent FROM agents_src.conversations AS c
                                       JOIN agents_src.agent_queries AS q USING (conversation_id)
                                       ORDER BY 1 LIMIT 1""")[0]
    wh.execute("""INSERT INTO agents_src.agent_queries (query_id, conversation_id, agent, query, latency_ms, created_at, updated_at)
                  VALUES (913000301, %s, %s, 'q', 10, now() - interval '1 hour', now() - interval '1 hour')""", (conv, agent))
    wh.execute("UPDATE agents_src.conversations SET started_at = started_at - interval '300 days', updated_at = now() WHERE conversation_id = %s", (conv,))
    run_daily(wh)
    first, last, want_first, want_last = rows(wh, SEEN_FROM_FACTS, (conv,))[0]
    assert (first, last) == (want_first, want_last) and last > started

    wh.execute("DELETE FROM agents_src.agent_queries WHERE query_id = 913000301")
    wh.execute("UPDATE agents_src.conversations SET started_at = %s, updated_at = now() WHERE conversation_id = %s", (started, conv))
    run_daily(wh)
    first, last, want_first, want_last = rows(wh, SEEN_FROM_FACTS, (conv,))[0]
    assert (first, last) == (want_first, want_last)
    run_daily(wh)
    assert rows(wh, SEEN_FROM_FACTS, (conv,))[0][:2] == (first, last)


# ---------------------------------------------------------------------------------------------------
# a run cancelled or killed inside the citizen's custom ingestion step
# ---------------------------------------------------------------------------------------------------

CITIZEN_TABLES = ["silver.citizen_query_logs", "silver.citizen_content_events", "citizen.fct_service_queries",
                  "citizen.fct_content_usage", "citizen.dm_service_analytics", "citizen.dm_user_analytics",
                  "citizen.dm_content_analytics"]
TECHNICAL = {"_loaded_at", "refreshed_at", "_batch_id", "_updated_at", "_run_id", "delivered_at", "_source_bronze_id"}


def business_snapshot(conn, tables=CITIZEN_TABLES, quarantine_like="silver.citizen_%%"):
    """Each table's rows without technical columns and surrogate keys (identities a rolled-back write
    consumed differ), the bronze event counts, and the open quarantine of the tables like quarantine_like."""
    snap = {}
    for table in tables:
        cols = [r[0] for r in rows(conn, """SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0
                                            AND NOT attisdropped AND attidentity = '' ORDER BY attnum""", (table,))
                if r[0] not in TECHNICAL and not (r[0].endswith("_key") and r[0] not in ("date_key", "time_key"))]
        snap[table] = scalar(conn, f"SELECT count(*) || ':' || md5(COALESCE(string_agg(t::text, '|' ORDER BY t::text), '')) "
                                   f"FROM (SELECT {', '.join(cols)} FROM {table}) AS t")
    for table in ("bronze.citizen_query_logs", "bronze.citizen_content_events"):
        snap[table] = scalar(conn, f"SELECT count(*) FROM {table}")
    snap["quarantine"] = rows(conn, """SELECT target_table, record_key, reasons, deliveries FROM dwh_etl.quarantine
                                       WHERE resolved_at IS NULL AND target_table LIKE %s
                                       ORDER BY 1, 2, 3""", (quarantine_like,))
    return snap


def deliver_events(conn, now):
    """Query logs (good, a bad response time) and content events (good, a bad action) of the last hours."""
    from test_attack9a import IST, deliver, query_event

    content = rows(conn, "SELECT content_id, service_id FROM citizen_src.contents ORDER BY 1 LIMIT 1")[0]
    at = [now - dt.timedelta(hours=h) for h in (3, 2, 1)]
    deliver(conn, [query_event(913100001, at[0]), query_event(913100002, at[1], response_time_ms=-5)])
    deliver(conn, {"data": [query_event(913100003, at[2], language_code="TA")]})
    event = {"event_id": 913100101, "occurred_at": at[1].astimezone(IST).isoformat(), "content_id": content[0],
             "service_id": content[1], "user_id": None, "session_id": "s-a13", "action_type": "view",
             "duration_seconds": 30, "scroll_depth_percent": 50, "search_rank": None, "rating": None, "query_id": None,
             "ip_address": "49.36.12.7", "user_agent": "curl/8.0"}
    deliver(conn, [event, {**event, "event_id": 913100102, "action_type": "like"}], feed="content_events")


@pytest.mark.parametrize("how", ["cancel", "terminate"])
def test_citizen_a_run_stopped_inside_event_ingestion_rolls_back_and_the_next_equals_an_uninterrupted_one(
        wh, dsn, postgresql_proc, attack13a_template, how):
    """Held: `dwh run daily` blocked inside citizen_ingest_events after landing the query logs (a DBA holds
    a lock on bronze.citizen_content_events), then cancelled (pg_cancel_backend) or killed
    (pg_terminate_backend): nothing of the step stays (bronze, quarantine), the run is recorded cancelled
    (or closed as abandoned by the next run), and the next run leaves the citizen tables and the open
    quarantine exactly as one uninterrupted run does; a rerun changes nothing."""
    import subprocess

    import psycopg

    from test_attack12 import dwh_command, env_for_cli, wait_for

    now = dt.datetime.now(dt.timezone.utc)
    with cloned_database(postgresql_proc, attack13a_template.fresh_name(), "ref") as ref:
        deliver_events(ref, now)
        run_daily(ref)
        reference = business_snapshot(ref)
    assert reference["quarantine"] != business_snapshot(wh)["quarantine"]

    deliver_events(wh, now)
    before = business_snapshot(wh)
    dba = psycopg.connect(dsn)
    dba.execute("LOCK TABLE bronze.citizen_content_events IN ACCESS EXCLUSIVE MODE")
    cli = subprocess.Popen([*dwh_command(), "--dsn", dsn, "run", "daily"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, env=env_for_cli())
    try:
        pid = wait_for(lambda: scalar(wh, """SELECT max(a.pid) FROM pg_stat_activity AS a
                                             WHERE a.datname = current_database() AND a.wait_event_type = 'Lock'
                                               AND EXISTS (SELECT 1 FROM dwh_lineage.step_runs AS s
                                                           WHERE s.step_name = 'citizen_ingest_events' AND s.status = 'running')"""),
                       timeout=120)
        run_id = scalar(wh, "SELECT max(run_id) FROM dwh_lineage.pipeline_runs")
        assert scalar(wh, f"SELECT pg_{how}_backend(%s)", (pid,))
        _, err = cli.communicate(timeout=60)
    finally:
        dba.rollback()
        dba.close()
        if cli.poll() is None:
            cli.kill()
    assert cli.returncode != 0 and "Traceback" not in err, err
    assert business_snapshot(wh) == before
    if how == "cancel":
        assert rows(wh, "SELECT status FROM dwh_lineage.pipeline_runs WHERE run_id = %s", (run_id,)) == [("cancelled",)]
        assert rows(wh, """SELECT status FROM dwh_lineage.step_runs WHERE run_id = %s
                           AND step_name = 'citizen_ingest_events'""", (run_id,)) == [("cancelled",)]
    run_daily(wh)
    assert rows(wh, "SELECT status FROM dwh_lineage.pipeline_runs WHERE run_id = %s", (run_id,)) == [
        ("cancelled" if how == "cancel" else "failed",)]
    assert business_snapshot(wh) == reference
    run_daily(wh)
    assert business_snapshot(wh) == reference


# ---------------------------------------------------------------------------------------------------
# change events into the warehouse's own tombstone table
# ---------------------------------------------------------------------------------------------------

def test_agents_change_events_cannot_forge_or_erase_a_tombstone(wh):
    """DEFECT (medium; fixed in dwh_etl.ingest_cdc_events / sec_cdc_apply with dwh_etl._tombstone_table):
    agents_src.deleted_records, the table the mirror's delete triggers write and silver reads as the
    source's deletes, is a registered source with a primary key, so change events could write it: a 'c'
    event dated now forged the deletion of a query the source still holds (gone from fact_agent_query),
    a 'd' event erased the tombstone of a real delete before the run read it (the deleted query stayed in
    gold). (Attack 8 quarantined forged tombstones dated in the future only.) Now such events are
    quarantined with their reason, etl_service calling sec_cdc_apply on the table directly is refused,
    and a real delete of the row itself still reaches gold."""
    import psycopg
    from psycopg.types.json import Jsonb

    from test_attack9a import cdc
    from test_cdc import ev

    live, gone = [r[0] for r in rows(wh, "SELECT query_id FROM agents_src.agent_queries ORDER BY 1 LIMIT 2")]
    wh.execute("DELETE FROM agents_src.agent_queries WHERE query_id = %s", (gone,))
    tomb = rows(wh, "SELECT table_name, record_id, deleted_at FROM agents_src.deleted_records WHERE record_id = %s", (str(gone),))
    assert len(tomb) == 1
    events = [ev("c", "deleted_records", 91300001,
                 after={"table_name": "agent_queries", "record_id": str(live), "deleted_at": iso(0.1)}),
              ev("d", "deleted_records", 91300002,
                 before={"table_name": "agent_queries", "record_id": str(gone), "deleted_at": tomb[0][2].isoformat()})]
    assert cdc(wh, events) == {"events": 2, "applied": 0, "stale": 0, "duplicate": 0, "quarantined": 2}
    reasons = [r[0] for r in rows(wh, """SELECT reasons[1] FROM dwh_etl.quarantine WHERE source_table = 'dwh_etl.ingest_cdc_events'
                                         AND resolved_at IS NULL ORDER BY quarantine_id""")]
    assert len(reasons) == 2 and all("agents_src.deleted_records is written by the delete triggers" in r for r in reasons), reasons
    wh.execute("SET ROLE etl_service")
    try:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="delete triggers"):
            wh.execute("SELECT * FROM dwh_etl.sec_cdc_apply('agents_src.deleted_records', %s)",
                       (Jsonb([{"n": 1, "op": "d", "key": {"table_name": "agent_queries", "record_id": str(gone),
                                                           "deleted_at": tomb[0][2].isoformat()}}]),))
    finally:
        wh.execute("RESET ROLE")
    assert rows(wh, "SELECT count(*) FROM agents_src.deleted_records WHERE record_id = %s", (str(gone),)) == [(1,)]
    run_daily(wh)
    assert rows(wh, "SELECT query_id FROM agents.fact_agent_query WHERE query_id IN (%s, %s)", (live, gone)) == [(live,)]


# ---------------------------------------------------------------------------------------------------
# the session that runs the pipeline
# ---------------------------------------------------------------------------------------------------

AGENTS_TABLES = ["silver.agents_agents", "silver.agents_conversations", "silver.agents_agent_queries",
                 "silver.agents_agent_approvals", "silver.agents_agent_feedback", "agents.dim_agent", "agents.dim_user",
                 "agents.dim_conversation", "agents.fact_agent_query", "agents.fact_approval", "agents.fact_training",
                 "agents.agg_agent_daily_performance"]
ODD_SESSION = {"TimeZone": "America/St_Johns", "DateStyle": "German", "IntervalStyle": "sql_standard",
               "extra_float_digits": "-15", "lc_monetary": "C"}


def arrive_both_areas(conn, now):
    """New agents rows (zone-less times read in agents.timezone, a bad score, a pending approval resolved
    later) and citizen payloads (zone-less event times, a bad one) of the last hours."""
    deliver_events(conn, now)
    from test_attack9a import deliver, query_event

    local = (now - dt.timedelta(hours=5)).astimezone(dt.timezone(dt.timedelta(hours=5, minutes=30)))
    deliver(conn, [query_event(913100011, local.strftime("%Y-%m-%d %H:%M:%S")),
                   query_event(913100012, local.strftime("%d.%m.%Y %H:%M"))])
    conv, agent = rows(conn, "SELECT conversation_id, agent FROM agents_src.agent_queries ORDER BY query_id LIMIT 1")[0]
    at = now - dt.timedelta(hours=4)
    conn.execute("""INSERT INTO agents_src.agent_queries (query_id, conversation_id, agent, query, latency_ms, approved,
                        created_at, updated_at) VALUES (913000401, %s, %s, 'q', 1234, true, %s, %s)""", (conv, agent, at, at))
    conn.execute("""INSERT INTO agents_src.agent_approvals (approval_id, query_id, conversation_id, agent, status, resolved_by,
                        created_at, resolved_at, updated_at)
                    VALUES (913000402, 913000401, %s, %s, 'approved', NULL, %s, %s, %s),
                           (913000403, 913000401, %s, %s, 'pending', NULL, %s, %s, %s)""",
                 (conv, agent, at, at + dt.timedelta(minutes=7), at, conv, agent, at, at, at))
    insert_feedback(conn, 913000404, ["ok"])
    conn.execute("UPDATE agents_src.agent_feedback SET clarity_score = 9 WHERE feedback_id = 913000404")


def test_both_areas_under_odd_client_settings_equal_a_utc_iso_run(wh, postgresql_proc, attack13a_template):
    """Held: the same new rows and payloads loaded by `daily` called from a session with TimeZone
    America/St_Johns (-03:30), DateStyle German, IntervalStyle sql_standard, extra_float_digits -15 give
    exactly the agents and citizen tables and quarantine reasons of a run from a UTC/ISO session; a rerun
    under the odd settings changes nothing. (lc_numeric: no locale but C is installed here.)"""
    now = dt.datetime.now(dt.timezone.utc)
    with cloned_database(postgresql_proc, attack13a_template.fresh_name(), "ref") as ref:
        arrive_both_areas(ref, now)
        run_daily(ref)
        reference = (business_snapshot(ref), business_snapshot(ref, AGENTS_TABLES, "silver.agents_%%"))
    assert {"913100002", "913100012", "913100102"} <= {r[1] for r in reference[0]["quarantine"]}
    assert "913000404" in {r[1] for r in reference[1]["quarantine"]}
    arrive_both_areas(wh, now)
    for _ in range(2):  # the run, then a rerun
        for name, value in ODD_SESSION.items():
            wh.execute(f"SET {name} = '{value}'")
        run_daily(wh)
        assert scalar(wh, "SHOW DateStyle") == "German, DMY" and scalar(wh, "SHOW TimeZone") == "America/St_Johns"
        wh.execute("RESET ALL")  # the snapshot's text of the rows in the reference's session
        assert (business_snapshot(wh), business_snapshot(wh, AGENTS_TABLES, "silver.agents_%%")) == reference
