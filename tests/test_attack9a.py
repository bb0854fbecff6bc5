"""Attack 9a: the agents and citizen areas fed the way a demanding stranger's operational systems would:
rows written into agents_src / citizen_src (and the collector's JSON payloads of citizen_src.analytics_payloads)
with odd values, odd order and odd session settings, then `daily`.

Expected everywhere: a bad row gets a clear error or goes to dwh_etl.quarantine with its reason, nothing is
lost or changed silently, a rerun or a redelivery changes nothing, the session's settings change nothing.
A test whose docstring says DEFECT exposed one (severity given); the others are regression tests.
Each area's warehouse is built once per module (agents_attack_template, citizen_attack_template).
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

from conftest import database_template, disable_other_areas
from test_agents_pipeline import INDEPENDENT_KPIS, WAREHOUSE_KPIS, last_run

RUN_DAILY = "CALL dwh_etl.run_pipeline(p_pipeline => 'daily', p_run_date => (now() AT TIME ZONE 'UTC')::date, p_run_id => NULL)"


def scalar(conn, sql, params=None):
    return conn.execute(sql, params).fetchone()[0]


def rows(conn, sql, params=None):
    return conn.execute(sql, params).fetchall()


def run_daily(conn):
    conn.execute(RUN_DAILY)
    status, steps = last_run(conn)
    assert status == "completed", steps
    return steps


def table_hash(conn, table, exclude=("_loaded_at", "refreshed_at", "_batch_id", "_updated_at", "_run_id", "delivered_at")):
    cols = [r[0] for r in rows(conn, """SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0
                                        AND NOT attisdropped ORDER BY attnum""", (table,)) if r[0] not in exclude]
    sel = ", ".join(cols)
    return scalar(conn, f"SELECT md5(COALESCE(string_agg(t::text, '|' ORDER BY t::text), '')) FROM (SELECT {sel} FROM {table}) AS t")


def open_quarantine(conn, target_like):
    return {k: sorted(r) for k, r in rows(conn, """SELECT record_key, reasons FROM dwh_etl.quarantine
                                                  WHERE resolved_at IS NULL AND target_table LIKE %s""", (target_like,))}


# =====================================================================================================
# agents
# =====================================================================================================

AGENTS_STAR = ["agents.dim_agent", "agents.dim_user", "agents.dim_conversation", "agents.fact_agent_query",
               "agents.fact_approval", "agents.fact_training", "agents.agg_agent_daily_performance"]


@database_template(scope="module")
def agents_attack_template(conn):
    """Only the agents area: its demo source generated (scale 0.005, seed 0.42), `daily` run once."""
    disable_other_areas(conn, "agents")
    conn.execute("CALL agents_src.generate(p_scale => 0.005, p_seed => 0.42)")
    conn.execute(RUN_DAILY)


@pytest.fixture
def agents(agents_attack_template, conn):
    return conn


def an_agent(conn):
    return rows(conn, "SELECT agent_name, conversation_id FROM agents_src.agents, agents_src.conversations ORDER BY 1, 2 LIMIT 1")[0]


def insert_query(conn, query_id, agent, conv, created_at, **cols):
    values = {"query_id": query_id, "conversation_id": conv, "agent": agent, "user_id": None, "query": "what changed?",
              "result_size_bytes": 100, "latency_ms": 120, "approved": True, "human_edited": False,
              "error_occurred": False, "created_at": created_at, "updated_at": created_at}
    values.update(cols)
    names = ", ".join(values)
    marks = ", ".join(["%s"] * len(values))
    conn.execute(f"INSERT INTO agents_src.agent_queries ({names}) VALUES ({marks})", list(values.values()))


def recent(conn, hours=3):
    return scalar(conn, "SELECT date_trunc('hour', now()) - make_interval(hours => %s)", (hours,))


def test_agents_long_query_texts_and_error_messages_are_not_quarantined(agents):
    """DEFECT (high; fixed in silver.agents_agent_queries_typed / agents_agent_feedback_typed): the typing
    views applied dwh_etl.reason_text (200 characters, meant for key and indexed columns) to the free
    texts query, error_message and comment, none of which is indexed (the warehouse keeps md5(query)).
    Every query of more than 200 characters (a pasted stack trace, a long prompt), every long error
    message and every long annotator comment was quarantined: real facts missing from the star."""
    agent, conv = an_agent(agents)
    at = recent(agents)
    long_query = "Explain why the nightly job failed: " + "x" * 5000
    insert_query(agents, 900000101, agent, conv, at, query=long_query, error_occurred=True, error_message="Traceback " * 400)
    agents.execute("""INSERT INTO agents_src.agent_feedback (feedback_id, conversation_id, agent, annotator_id, clarity_score,
                                                            comment, created_at, updated_at)
                      VALUES (900000102, %s, %s, 'u0001', 4, %s, %s, %s)""", (conv, agent, "too verbose; " * 100, at, at))
    run_daily(agents)
    assert open_quarantine(agents, "%agents%") == {}
    assert rows(agents, "SELECT query_id, query_hash FROM agents.fact_agent_query WHERE query_id = 900000101") == [
        (900000101, scalar(agents, "SELECT md5(%s)", (long_query,)))]
    assert scalar(agents, "SELECT count(*) FROM agents.fact_training WHERE feedback_id = 900000102") == 1


@pytest.mark.parametrize("created_at", ["infinity", "-infinity", "200000-01-01 00:00:00+00", "0044-03-15 12:00:00+00 BC",
                                        "1066-10-14 09:00:00+00", "2999-01-01 00:00:00+00"])
def test_agents_an_absurd_event_time_is_quarantined_and_the_rest_loads(agents, created_at):
    """Was a DEFECT (medium; fixed in procedures/registry/agents.sql: checks with dwh_etl.reason_timestamp)
    for 1066 and 2999: the agents silver loads are typed by the area's views ("typing": "source"), which
    the engine does not hold to the sane event range (quality.min_event_date, quality.max_future), and
    the agents spec had no such check (sales and citizen have): a query dated 1066 or 2999 went to gold
    and the aggregate got a day 10661014. Held: +-infinity, year 200000 and BC are quarantined (not ISO).
    The other rows of the run load and the run completes."""
    agent, conv = an_agent(agents)
    agents.execute("""INSERT INTO agents_src.agent_queries (query_id, conversation_id, agent, query, latency_ms, created_at, updated_at)
                      VALUES (900000201, %s, %s, 'q', 5, %s::timestamptz, now())""", (conv, agent, created_at))
    insert_query(agents, 900000202, agent, conv, recent(agents))
    run_daily(agents)
    assert list(open_quarantine(agents, "%agents%")) == ["900000201"]
    assert rows(agents, "SELECT query_id FROM agents.fact_agent_query WHERE query_id > 900000200 ORDER BY 1") == [(900000202,)]


def test_agents_absurd_numbers_are_quarantined_with_their_reasons(agents):
    """Was a DEFECT (medium; fixed in silver.agents_agent_queries_typed) for one value: a latency of
    2147483647 ms passed silver and then failed the quality gate agents_faq_latency_range (0-3600000) of
    the fact step, so one odd row stopped the whole agents load of the night (every agent's facts and
    the aggregate); it is quarantined now with its reason. Held: negative latency / result size, a
    negative SLA, a negative cost, scores out of 1-5 and a negative interruption count are quarantined,
    each with its reason."""
    agent, conv = an_agent(agents)
    at = recent(agents)
    insert_query(agents, 900000301, agent, conv, at, latency_ms=-1)
    insert_query(agents, 900000302, agent, conv, at, result_size_bytes=-2147483648)
    insert_query(agents, 900000303, agent, conv, at, latency_ms=2147483647)
    insert_query(agents, 900000306, agent, conv, at, latency_ms=3600000)
    agents.execute("""INSERT INTO agents_src.agents (agent_name, agent_type, capabilities, sla_target_seconds, cost_per_query_usd)
                      VALUES ('neg-sla', 'qa', '[]', -5, 0.1), ('neg-cost', 'qa', '[]', 10, -0.000001)""")
    agents.execute("""INSERT INTO agents_src.agent_feedback (feedback_id, conversation_id, agent, annotator_id, tone_score, created_at, updated_at)
                      VALUES (900000304, %s, %s, 'u0001', -2147483648, %s, %s)""", (conv, agent, at, at))
    agents.execute("""INSERT INTO agents_src.agent_approvals (approval_id, conversation_id, agent, status, interruption_count, created_at, updated_at)
                      VALUES (900000305, %s, %s, 'pending', -1, %s, %s)""", (conv, agent, at, at))
    run_daily(agents)
    q = open_quarantine(agents, "%agents%")
    assert set(q) == {"900000301", "900000302", "900000303", "neg-sla", "neg-cost", "900000304", "900000305"}, q
    assert any("more than an hour" in r for r in q["900000303"]), q
    assert scalar(agents, "SELECT latency_ms FROM agents.fact_agent_query WHERE query_id = 900000306") == 3600000
    assert last_run(agents)[0] == "completed"


@pytest.mark.parametrize("value,column", [("{}", "capabilities"), ('"query"', "capabilities"), ("null", "capabilities"),
                                          ("[]", "metadata"), ('"x"', "metadata")])
def test_agents_json_of_the_wrong_shape_is_quarantined(agents, value, column):
    """Held: capabilities that are not an array, conversation metadata that is not an object, are quarantined."""
    if column == "capabilities":
        agents.execute("""INSERT INTO agents_src.agents (agent_name, agent_type, capabilities, sla_target_seconds, cost_per_query_usd)
                          VALUES ('odd-json', 'qa', %s::jsonb, 10, 0.1)""", (value,))
        key = "odd-json"
    else:
        agents.execute("""INSERT INTO agents_src.conversations (conversation_id, user_id, channel, metadata, started_at)
                          VALUES ('odd-json', NULL, 'web', %s::jsonb, now() - interval '1 hour')""", (value,))
        key = "odd-json"
    run_daily(agents)
    q = open_quarantine(agents, "%agents%")
    assert list(q) == [key] and any(column in r for r in q[key]), q


@pytest.mark.parametrize("name", ["", "   ", "\u3000", "\u00a0\u200b"])
def test_agents_a_blank_agent_name_is_quarantined(agents, name):
    """Held: a blank agent name (empty, ASCII or Unicode spaces) is quarantined as missing, in the
    registry and in a query naming it."""
    _, conv = an_agent(agents)
    agents.execute("""INSERT INTO agents_src.agents (agent_name, agent_type, capabilities, sla_target_seconds, cost_per_query_usd)
                      VALUES (%s, 'qa', '[]', 10, 0.1)""", (name,))
    insert_query(agents, 900000401, name, conv, recent(agents))
    run_daily(agents)
    q = open_quarantine(agents, "%agents%")
    assert set(q) == {"900000401", "(no agent_name)"} or len(q) == 2, q
    assert all(any("agent" in r and "missing" in r for r in reasons) for reasons in q.values()), q


def test_agents_emoji_and_odd_unicode_survive_unchanged(agents):
    """Held: emoji, combining marks, right-to-left text and a lone quote in names reach gold unchanged."""
    _, conv = an_agent(agents)
    name = "bot-\U0001F916-\u05e9\u05dc\u05d5\u05dd-e\u0301-'\""
    agents.execute("""INSERT INTO agents_src.agents (agent_name, agent_type, capabilities, sla_target_seconds, cost_per_query_usd)
                      VALUES (%s, 'qa', '["\U0001F600"]', 10, 0.1)""", (name,))
    insert_query(agents, 900000501, name, conv, recent(agents))
    run_daily(agents)
    assert open_quarantine(agents, "%agents%") == {}
    assert rows(agents, """SELECT a.agent_name, a.capabilities, a.is_inferred FROM agents.fact_agent_query AS f
                           JOIN agents.dim_agent AS a USING (agent_key) WHERE f.query_id = 900000501""") == [
        (name, ["\U0001F600"], False)]


def test_agents_update_delete_reinsert_between_runs_ends_in_the_source_state(agents):
    """Held: a query updated, then deleted, then re-inserted (same id) between runs is in the fact with
    the re-inserted values; a rerun changes nothing."""
    agent, conv = an_agent(agents)
    at = recent(agents, 6)
    insert_query(agents, 900000601, agent, conv, at, latency_ms=10)
    run_daily(agents)
    agents.execute("UPDATE agents_src.agent_queries SET latency_ms = 20, updated_at = now() WHERE query_id = 900000601")
    run_daily(agents)
    agents.execute("DELETE FROM agents_src.agent_queries WHERE query_id = 900000601")
    run_daily(agents)
    assert scalar(agents, "SELECT count(*) FROM agents.fact_agent_query WHERE query_id = 900000601") == 0
    insert_query(agents, 900000601, agent, conv, at, latency_ms=30, updated_at=dt.datetime.now(dt.timezone.utc))
    run_daily(agents)
    assert rows(agents, "SELECT latency_ms FROM agents.fact_agent_query WHERE query_id = 900000601") == [(30,)]
    before = {t: table_hash(agents, t) for t in AGENTS_STAR}
    run_daily(agents)
    assert {t: table_hash(agents, t) for t in AGENTS_STAR} == before


def test_agents_a_row_restored_with_its_old_updated_at_after_its_delete_is_loaded(agents):
    """A row deleted and then restored (from a backup: its updated_at is the old one, before the
    tombstone's deleted_at) is in the source again: the warehouse must have it again too, or say why."""
    agent, conv = an_agent(agents)
    at = recent(agents, 6)
    insert_query(agents, 900000701, agent, conv, at, latency_ms=10)
    run_daily(agents)
    agents.execute("DELETE FROM agents_src.agent_queries WHERE query_id = 900000701")
    run_daily(agents)
    insert_query(agents, 900000701, agent, conv, at, latency_ms=10)     # the same row, as it was
    run_daily(agents)
    in_fact = scalar(agents, "SELECT count(*) FROM agents.fact_agent_query WHERE query_id = 900000701")
    assert in_fact == 1 or "900000701" in open_quarantine(agents, "%agents%")


def test_agents_delete_and_reinsert_in_one_window_keeps_the_row(agents):
    """Fixed (was open): a query deleted and re-inserted with the same id and its old updated_at (a restore
    from a backup, a re-sync) before the next run was lost: _load_silver flagged a key deleted when its
    row's updated_at was not after the tombstone's deleted_at, and both arrived in one window. Bronze now
    keeps the source's arrival (_source_arrived_at, migration 0049) and a tombstone is not applied when
    its window holds a row of the key that arrived after it. Across two runs the same restore is loaded
    (test_agents_a_row_restored_with_its_old_updated_at_after_its_delete_is_loaded)."""
    agent, conv = an_agent(agents)
    at = recent(agents, 6)
    insert_query(agents, 900000801, agent, conv, at, latency_ms=10)
    run_daily(agents)
    agents.execute("DELETE FROM agents_src.agent_queries WHERE query_id = 900000801")
    insert_query(agents, 900000801, agent, conv, at, latency_ms=11)
    run_daily(agents)
    assert rows(agents, "SELECT latency_ms FROM agents.fact_agent_query WHERE query_id = 900000801") == [(11,)]


def test_agents_two_source_agents_differing_by_trailing_space_are_not_merged_silently(agents):
    """Was a DEFECT (low-medium; fixed in silver.agents_agents_typed with dwh_etl.reason_padded_key):
    'helper' and 'helper ' are two rows of agents_src.agents (two primary keys). The typing view trimmed
    keys, so they became one natural key in silver: 'helper ' (ops, SLA 99) silently replaced 'helper'
    (qa, SLA 10) as the current version of 'helper', and the later delete of 'helper ' was not applied
    at all (its tombstone keeps the space). The references (a query's agent) are matched trimmed, so the
    two cannot be kept apart: a key with white space around it is now quarantined with its reason, and
    'helper' keeps its own values; the deletion of 'helper ' deletes nothing else."""
    _, conv = an_agent(agents)
    agents.execute("""INSERT INTO agents_src.agents (agent_name, agent_type, capabilities, sla_target_seconds, cost_per_query_usd)
                      VALUES ('helper', 'qa', '[]', 10, 0.1)""")
    run_daily(agents)
    agents.execute("""INSERT INTO agents_src.agents (agent_name, agent_type, capabilities, sla_target_seconds, cost_per_query_usd)
                      VALUES ('helper ', 'ops', '[]', 99, 0.2)""")
    run_daily(agents)
    q = open_quarantine(agents, "silver.agents_agents")
    assert list(q) == ["helper "] and any("white space" in r and "'helper '" in r for r in q["helper "]), q
    agents.execute("DELETE FROM agents_src.agents WHERE agent_name = 'helper '")
    run_daily(agents)
    assert rows(agents, """SELECT agent_type, sla_target_seconds, is_deleted FROM agents.dim_agent
                           WHERE agent_name = 'helper' AND is_current""") == [("qa", 10, False)]
    assert rows(agents, "SELECT agent_type, sla_target_seconds, is_deleted FROM silver.agents_agents WHERE agent_name = 'helper'") == [
        ("qa", 10, False)]


def test_agents_keys_differing_by_white_space_their_references_and_deletes(agents):
    """Held (attack 9a, keys with white space around them): agents 'helper2' and 'helper2 ' (with U+00A0),
    users 'ann' and 'ann ', conversations 'conv-ws' and 'conv-ws ' arrive together with queries, an
    approval and a feedback naming each of them. The padded keys are quarantined with their reason, the
    rows naming them exactly too (they would be counted for the other record); the clean ones load, and
    a reference with white space that names no source key ('  helper2') still finds 'helper2'. The
    deletion of a padded key changes nothing; the deletion of the clean one closes it."""
    at = recent(agents, 4)
    agents.execute("""INSERT INTO agents_src.agents (agent_name, agent_type, capabilities, sla_target_seconds, cost_per_query_usd)
                      VALUES ('helper2', 'qa', '[]', 10, 0.1), (E'helper2\u00a0', 'ops', '[]', 99, 0.2)""")
    agents.execute("""INSERT INTO agents_src.users (user_id, user_type, team, created_at, updated_at)
                      VALUES ('ann', 'annotator', 'ml', now(), now()), ('ann ', 'approver', 'ops', now(), now())""")
    agents.execute("""INSERT INTO agents_src.conversations (conversation_id, user_id, channel, started_at)
                      VALUES ('conv-ws', 'ann', 'web', %s - interval '1 minute'), ('conv-ws ', 'ann', 'cli', %s - interval '1 minute'),
                             ('conv-ws-2', 'ann ', 'web', %s - interval '1 minute')""", (at, at, at))
    insert_query(agents, 900003001, "helper2", "conv-ws", at, user_id="ann")
    insert_query(agents, 900003002, "helper2\u00a0", "conv-ws", at, user_id="ann")
    insert_query(agents, 900003003, "helper2", "conv-ws ", at, user_id="ann")
    insert_query(agents, 900003004, "helper2", "conv-ws", at, user_id="ann ")
    insert_query(agents, 900003005, "  helper2", "conv-ws", at)
    agents.execute("""INSERT INTO agents_src.agent_approvals (approval_id, conversation_id, agent, status, resolved_by, created_at, resolved_at, updated_at)
                      VALUES (900003011, 'conv-ws', 'helper2', 'approved', 'ann', %s, %s + interval '1 minute', %s + interval '1 minute'),
                             (900003012, 'conv-ws', 'helper2', 'approved', 'ann ', %s, %s + interval '1 minute', %s + interval '1 minute')""",
                   (at, at, at, at, at, at))
    agents.execute("""INSERT INTO agents_src.agent_feedback (feedback_id, conversation_id, agent, annotator_id, clarity_score, created_at, updated_at)
                      VALUES (900003021, 'conv-ws', 'helper2', 'ann', 3, %s, %s), (900003022, 'conv-ws', 'helper2', 'ann ', 3, %s, %s)""",
                   (at, at, at, at))
    run_daily(agents)

    q = open_quarantine(agents, "%agents%")
    padded = {"helper2\u00a0": "agent_name", "ann ": "user_id", "conv-ws ": "conversation_id"}
    refs = {"900003002": "agent", "900003003": "conversation_id", "900003004": "user_id", "900003012": "resolved_by",
            "900003022": "annotator_id", "conv-ws-2": "user_id"}
    assert set(q) == set(padded) | set(refs), q
    for key, column in padded.items():
        assert any(r.startswith(column + " ") and "white space" in r for r in q[key]), (key, q[key])
    for key, column in refs.items():
        assert any(r.startswith(column + " ") and "refused for the white space" in r for r in q[key]), (key, q[key])
    # the clean records and the rows naming them load, once each, with their own values
    assert rows(agents, """SELECT agent_name, agent_type, sla_target_seconds, is_inferred FROM agents.dim_agent
                           WHERE agent_name LIKE 'helper2%%' AND is_current""") == [("helper2", "qa", 10, False)]
    assert rows(agents, """SELECT user_id, user_type, is_inferred FROM agents.dim_user WHERE user_id LIKE 'ann%%' AND is_current""") == [
        ("ann", "annotator", False)]
    assert rows(agents, "SELECT conversation_id, channel, is_inferred FROM agents.dim_conversation WHERE conversation_id LIKE 'conv-ws%%'") == [
        ("conv-ws", "web", False)]
    assert rows(agents, """SELECT f.query_id, a.agent_name, c.conversation_id FROM agents.fact_agent_query AS f
                           JOIN agents.dim_agent AS a USING (agent_key) JOIN agents.dim_conversation AS c USING (conv_key)
                           WHERE f.query_id BETWEEN 900003001 AND 900003005 ORDER BY 1""") == [
        (900003001, "helper2", "conv-ws"), (900003005, "helper2", "conv-ws")]
    assert scalar(agents, "SELECT count(*) FROM agents.fact_approval WHERE approval_id IN (900003011, 900003012)") == 1
    assert scalar(agents, "SELECT count(*) FROM agents.fact_training WHERE feedback_id IN (900003021, 900003022)") == 1
    assert rows(agents, "SELECT total_queries, total_approvals, total_feedback FROM agents.dim_conversation WHERE conversation_id = 'conv-ws'") == [
        (2, 1, 1)]

    # the deletion of a padded key deletes nothing; the clean key's deletion closes it
    agents.execute("DELETE FROM agents_src.agents WHERE agent_name = E'helper2\u00a0'")
    agents.execute("DELETE FROM agents_src.users WHERE user_id = 'ann '")
    run_daily(agents)
    assert rows(agents, "SELECT agent_type, is_deleted FROM agents.dim_agent WHERE agent_name = 'helper2' AND is_current") == [("qa", False)]
    assert rows(agents, "SELECT user_type, is_deleted FROM agents.dim_user WHERE user_id = 'ann' AND is_current") == [("annotator", False)]
    agents.execute("DELETE FROM agents_src.agents WHERE agent_name = 'helper2'")
    run_daily(agents)
    assert scalar(agents, "SELECT count(*) FROM agents.dim_agent WHERE agent_name = 'helper2' AND is_current AND NOT is_deleted") == 0
    assert scalar(agents, "SELECT is_deleted FROM silver.agents_agents WHERE agent_name = 'helper2'") is True
    # the facts keep their agent
    assert rows(agents, """SELECT a.agent_name FROM agents.fact_agent_query AS f JOIN agents.dim_agent AS a USING (agent_key)
                           WHERE f.query_id = 900003001""") == [("helper2",)]


def test_agents_a_late_query_older_than_its_agent_gets_the_agents_first_version_not_a_second_member(agents):
    """Held or DEFECT: a query that arrives late with a created_at before its agent's first version
    (valid_from) must not make a second current member of the agent (inferred) nor be lost."""
    agent, conv = an_agent(agents)
    first = scalar(agents, "SELECT min(valid_from) FROM agents.dim_agent WHERE agent_name = %s", (agent,))
    insert_query(agents, 900000901, agent, conv, first - dt.timedelta(days=30), updated_at=dt.datetime.now(dt.timezone.utc))
    run_daily(agents)
    assert scalar(agents, "SELECT count(*) FROM agents.dim_agent WHERE agent_name = %s AND is_current", (agent,)) == 1
    assert scalar(agents, "SELECT count(*) FROM agents.fact_agent_query WHERE query_id = 900000901") == 1 \
        or "900000901" in open_quarantine(agents, "%agents%")


def test_agents_orphans_arrive_the_next_day_and_the_quality_rules_pass(agents):
    """Held: an approval resolved by an unknown approver and feedback by an unknown annotator in an unknown
    conversation load with inferred members, completed in place when the rows arrive; the agents'
    quality rules pass on the SCD2 history (no false alarm)."""
    agent, _ = an_agent(agents)
    at = recent(agents, 5)
    agents.execute("""INSERT INTO agents_src.agent_approvals (approval_id, conversation_id, agent, status, resolved_by, created_at, resolved_at, updated_at)
                      VALUES (900001001, 'late-conv', %s, 'approved', 'late-approver', %s, %s + interval '1 minute', %s + interval '1 minute')""",
                   (agent, at, at, at))
    agents.execute("""INSERT INTO agents_src.agent_feedback (feedback_id, conversation_id, agent, annotator_id, clarity_score, created_at, updated_at)
                      VALUES (900001002, 'late-conv', %s, 'late-annotator', 3, %s, %s)""", (agent, at, at))
    run_daily(agents)
    agents.execute("""INSERT INTO agents_src.users (user_id, user_type, team, created_at, updated_at)
                      VALUES ('late-approver', 'approver', 'ops', now(), now()), ('late-annotator', 'annotator', 'ml', now(), now())""")
    agents.execute("""INSERT INTO agents_src.conversations (conversation_id, user_id, channel, started_at)
                      VALUES ('late-conv', 'late-approver', 'web', %s - interval '1 minute')""", (at,))
    agents.execute("UPDATE agents_src.agents SET sla_target_seconds = sla_target_seconds + 1, updated_at = now() WHERE agent_name = %s", (agent,))
    run_daily(agents)
    assert rows(agents, """SELECT user_id, is_inferred, user_type FROM agents.dim_user
                           WHERE user_id IN ('late-approver', 'late-annotator') ORDER BY 1""") == [
        ("late-annotator", False, "annotator"), ("late-approver", False, "approver")]
    assert rows(agents, "SELECT is_inferred, channel FROM agents.dim_conversation WHERE conversation_id = 'late-conv'") == [(False, "web")]
    failed = rows(agents, """SELECT metric_name, table_name, details FROM dwh_lineage.quality_metrics
                             WHERE NOT passed AND table_name LIKE 'agents.%%'
                               AND run_id = (SELECT max(run_id) FROM dwh_lineage.pipeline_runs)""")
    assert failed == []


SESSION_SETTINGS = [
    ("TimeZone", "Pacific/Kiritimati"), ("DateStyle", "SQL, DMY"), ("IntervalStyle", "sql_standard"),
    ("extra_float_digits", "-15"), ("search_path", "pg_temp, public"), ("lc_monetary", "C"),
    ("default_transaction_isolation", "repeatable read"), ("statement_timeout", "0"),
]


def test_agents_session_settings_change_nothing(agents, postgresql_proc, agents_attack_template):
    """Held: the same new rows loaded by `daily` under UTC/ISO and under Pacific/Kiritimati (+14), DateStyle
    'SQL, DMY', IntervalStyle sql_standard, extra_float_digits -15 and a search_path starting with pg_temp
    give the same star (keys, days, KPIs)."""
    from conftest import cloned_database

    def scenario(conn, settings):
        agent, conv = an_agent(conn)
        day = scalar(conn, "SELECT (now() AT TIME ZONE 'UTC')::date - 1")
        for i, hour in enumerate((0, 11, 13, 23)):
            insert_query(conn, 900001100 + i, agent, conv, dt.datetime.combine(day, dt.time(hour, 30), dt.timezone.utc),
                         latency_ms=101 + i)
        conn.execute("""INSERT INTO agents_src.agent_approvals (approval_id, conversation_id, agent, status, created_at, resolved_at, updated_at)
                        VALUES (900001110, %s, %s, 'approved', %s, %s, %s)""",
                     (conv, agent, dt.datetime.combine(day, dt.time(23, 59), dt.timezone.utc),
                      dt.datetime.combine(day, dt.time(23, 59, 59, 500000), dt.timezone.utc) + dt.timedelta(hours=30),
                      dt.datetime.combine(day, dt.time(23, 59), dt.timezone.utc) + dt.timedelta(hours=30)))
        for name, value in settings:
            conn.execute(f"SET {name} = '{value}'")
        conn.execute(RUN_DAILY)
        for name, _ in settings:
            conn.execute(f"RESET {name}")
        assert last_run(conn)[0] == "completed"
        return ({t: table_hash(conn, t) for t in ("agents.fact_agent_query", "agents.fact_approval", "agents.agg_agent_daily_performance")},
                rows(conn, WAREHOUSE_KPIS, {"days": [day]}), rows(conn, INDEPENDENT_KPIS, {"days": [day]}),
                rows(conn, "SELECT approval_id, resolution_time_seconds, sla_met, time_key FROM agents.fact_approval WHERE approval_id = 900001110"))

    plain = scenario(agents, [])
    with cloned_database(postgresql_proc, agents_attack_template.fresh_name(), "a9") as other:
        odd = scenario(other, SESSION_SETTINGS)
    assert plain[2] == plain[1]
    assert odd[1:] == plain[1:]
    assert odd[0] == plain[0]


def test_agents_the_same_source_change_twice_and_a_rerun_change_nothing(agents):
    """Held: `daily` run twice with nothing new changes no gold row."""
    before = {t: table_hash(agents, t) for t in AGENTS_STAR}
    run_daily(agents)
    run_daily(agents)
    assert {t: table_hash(agents, t) for t in AGENTS_STAR} == before


# =====================================================================================================
# citizen
# =====================================================================================================

UA_PHONE = ("Mozilla/5.0 (Linux; Android 13; SM-A536E) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/119.0.0.0 Mobile Safari/537.36")
IST = dt.timezone(dt.timedelta(hours=5, minutes=30))


@database_template(scope="module")
def citizen_attack_template(conn):
    """Only the citizen area: its demo source generated (scale 0.01, seed 0.42, 2 days), `daily` run once."""
    disable_other_areas(conn, "citizen")
    conn.execute("CALL citizen_src.generate(p_scale => 0.01, p_seed => 0.42, p_days => 2)")
    conn.execute(RUN_DAILY)


@pytest.fixture
def citizen(citizen_attack_template, conn):
    return conn


def mine(conn, target):
    """The open quarantine entries of this module's events and rows (keys 990...; the generator makes bad ones too)."""
    return {k: v for k, v in open_quarantine(conn, target).items() if k.startswith("990") or k.startswith("a9")}


def query_event(query_id, at, **overrides):
    event = {"query_id": query_id, "occurred_at": at.astimezone(IST).isoformat(timespec="milliseconds") if isinstance(at, dt.datetime) else at,
             "service_id": 101, "user_id": None, "session_id": f"s-a9-{query_id}", "query_type": "search",
             "language_code": "hi", "response_time_ms": 240, "success": True, "result_count": 7,
             "satisfaction_score": None, "ip_address": "49.36.12.7", "user_agent": UA_PHONE}
    event.update(overrides)
    return event


def deliver(conn, payload, feed="query_logs"):
    conn.execute("INSERT INTO citizen_src.analytics_payloads (feed, source, payload) VALUES (%s, 'a9', %s::jsonb)",
                 (feed, json.dumps(payload)))


def yesterday_utc(hour, minute=0):
    day = dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time(hour, minute), dt.timezone.utc)


def facts(conn, lo, hi):
    return rows(conn, """SELECT query_id, queried_at, date_key, time_key FROM citizen.fct_service_queries
                         WHERE query_id BETWEEN %s AND %s ORDER BY 1""", (lo, hi))


def test_citizen_a_zone_less_event_time_is_read_in_the_areas_zone(citizen):
    """DEFECT (medium; fixed in silver.citizen_query_logs_typed / citizen_content_events_typed): the
    setting citizen.timezone (Asia/Kolkata) says zone-less timestamp texts of the source are read in it,
    and the views' header says the silver step does so; the views called dwh_etl.try_timestamptz(text),
    which reads them in UTC. The Indian collector's '2026-12-02T10:00:00' (10:00 in India) became 15:30
    in India: every such event 5.5 hours late, its date_key wrong after 18:30, silently."""
    at = yesterday_utc(4, 30)                         # 10:00 in India
    local = at.astimezone(IST).replace(tzinfo=None).isoformat(timespec="seconds")
    deliver(citizen, [query_event(990100001, local), query_event(990100002, at.isoformat())])
    usage = {"event_id": 990100003, "occurred_at": local, "content_id": 990061, "service_id": 101, "user_id": None,
             "session_id": "s-a9-3", "action_type": "view", "duration_seconds": 4, "scroll_depth_percent": 10,
             "search_rank": None, "rating": None, "query_id": None, "ip_address": None, "user_agent": None}
    deliver(citizen, [usage], feed="content_events")
    run_daily(citizen)
    assert [r[1] for r in facts(citizen, 990100001, 990100002)] == [at, at]
    assert rows(citizen, "SELECT used_at FROM silver.citizen_content_events WHERE usage_id = 990100003") == [(at,)], \
        open_quarantine(citizen, "%content_events")


@pytest.mark.parametrize("occurred_at", ["infinity", "-infinity", "275760-09-13T00:00:00Z", "0044-03-15T00:00:00Z",
                                         "1066-10-14T09:00:00+00:00", "2999-01-01T00:00:00Z", "2026-02-30T10:00:00Z",
                                         "10:00", "", "   ", None, 1733216400, "2026-12-03T24:00:00Z"])
def test_citizen_an_absurd_event_time_is_quarantined(citizen, occurred_at):
    """Held: an event time that is no ISO date-time, out of range, or outside the sane range goes to
    quarantine with a reason; the other events of the payload load."""
    deliver(citizen, [query_event(990200001, occurred_at), query_event(990200002, yesterday_utc(7))])
    run_daily(citizen)
    q = mine(citizen, "silver.citizen_query_logs")
    assert list(q) == ["990200001"] and any("occurred_at" in r for r in q["990200001"]), q
    assert [r[0] for r in facts(citizen, 990200001, 990200002)] == [990200002]


@pytest.mark.parametrize("field,value", [
    ("query_id", 1.5), ("query_id", "12abc"), ("query_id", 1e20), ("query_id", None), ("query_id", ""), ("query_id", [1]),
    ("query_id", {"id": 1}), ("response_time_ms", -1), ("response_time_ms", 1e308), ("response_time_ms", "NaN"),
    ("response_time_ms", "Infinity"), ("result_count", 2**31), ("satisfaction_score", 0), ("service_id", 2**31),
    ("success", "yes"), ("success", None), ("session_id", "x" * 256), ("session_id", "\u3000"), ("language_code", "hin-IN"),
    ("user_id", -0.5), ("query_type", ["search"])])
def test_citizen_a_bad_value_of_an_event_is_quarantined_with_its_reason(citizen, field, value):
    """Held: each bad value of an event (wrong type, out of range, blank, an array or object for a
    scalar) quarantines the event with a reason naming the field; the good event of the payload loads."""
    before = rows(citizen, "SELECT quarantine_id FROM dwh_etl.quarantine")
    bad = query_event(990300001, yesterday_utc(8))
    bad[field] = value
    deliver(citizen, {"data": [bad, query_event(990300002, yesterday_utc(8))]})
    run_daily(citizen)
    new = rows(citizen, """SELECT record_key, reasons, deliveries FROM dwh_etl.quarantine
                           WHERE resolved_at IS NULL AND target_table = 'silver.citizen_query_logs'
                             AND (quarantine_id <> ALL (%s) OR last_delivered_at > now() - interval '1 minute')""",
               ([r[0] for r in before],))
    assert len(new) == 1 and any(field.split("_")[0] in r for r in new[0][1]), new
    assert [r[0] for r in facts(citizen, 990300001, 990300002)] == [990300002]


@pytest.mark.parametrize("payload", [{"data": {}}, {"data": None}, {}, [], [[1, 2]], "text", 42, None, {"data": "[]"},
                                     [None], [{"query_id": {"nested": [[[[[[[[[[[]]]]]]]]]]]}}]],
                         ids=["data-object", "data-null", "empty-object", "empty-array", "array-of-arrays", "string",
                              "number", "null", "data-string", "array-null", "nested"])
def test_citizen_payloads_of_the_wrong_shape_are_quarantined_not_lost(citizen, payload):
    """Held: a payload that holds no event list, or elements that are no objects, is quarantined (or is an
    empty delivery); the run completes and a good payload next to it loads."""
    entries = scalar(citizen, "SELECT count(*) FROM dwh_etl.quarantine")
    deliver(citizen, payload)
    deliver(citizen, [query_event(990400001, yesterday_utc(9))])
    run_daily(citizen)
    assert [r[0] for r in facts(citizen, 990400001, 990400001)] == [990400001]
    if payload not in ([], {}):     # {} and [] hold no event: nothing to keep
        assert scalar(citizen, "SELECT count(*) FROM dwh_etl.quarantine") > entries


def test_citizen_deep_json_and_huge_values_do_not_fail_the_run(citizen):
    """Held: a 2,000-deep nested value in an event and a 1 MB user agent: the run completes, the event
    with the nested value is quarantined, the one with the long agent loads."""
    events = json.dumps([query_event(990500001, yesterday_utc(10), session_id="DEEP"),
                         query_event(990500002, yesterday_utc(10), user_agent="Mozilla/5.0 (iPhone) " + "A" * 1_000_000)])
    events = events.replace('"DEEP"', "[" * 2000 + "]" * 2000)
    citizen.execute("INSERT INTO citizen_src.analytics_payloads (feed, source, payload) VALUES ('query_logs', 'a9', %s::jsonb)", (events,))
    run_daily(citizen)
    assert rows(citizen, "SELECT query_id, device_type FROM citizen.fct_service_queries WHERE query_id BETWEEN 990500001 AND 990500002") == [
        (990500002, "mobile")]
    assert "990500001" in mine(citizen, "silver.citizen_query_logs")


@pytest.mark.parametrize("ip,network", [
    ("117.239.201.66", "117.239.201.0/24"), (" 117.239.201.66 ", "117.239.201.0/24"),
    ("\u00a0117.239.201.66\u3000", "117.239.201.0/24"), ("::ffff:117.239.201.66", "117.239.201.0/24"),
    ("117.239.201.66/8", "117.239.201.0/24"), ("2409:4050:2e1c:9f00::1", "2409:4050:2e1c::/48"),
    ("999.1.1.1", None), ("fe80::1%eth0", None), ("not-an-ip", None), ("", None), ("1" * 100, None)])
def test_citizen_ip_addresses_become_their_network(citizen, ip, network):
    """Was a DEFECT (low; fixed in citizen._ip_network) for two forms: an address with Unicode white space
    around it (NO-BREAK SPACE, IDEOGRAPHIC SPACE, which every other field of the event tolerates) lost
    its network; an IPv4-mapped IPv6 address (::ffff:a.b.c.d, what a dual-stack server logs) became
    ::/48, one network for every IPv4 visitor. Held: v4 /24, v6 /48, garbage NULL, no raw address kept."""
    deliver(citizen, [query_event(990600001, yesterday_utc(11), ip_address=ip)])
    run_daily(citizen)
    assert rows(citizen, "SELECT ip_network::text FROM citizen.fct_service_queries WHERE query_id = 990600001") == [(network,)]


def test_citizen_a_corrected_event_redelivered_replaces_it_and_a_replay_changes_nothing(citizen):
    """Held: the same query_id delivered twice in one payload (the second corrected) and again in a later
    payload: one fact row, the correction's (the loads order an event's versions by delivery: "ties":
    "latest_delivery", not quarantined as a tie of one change time); the same payload replayed changes
    nothing."""
    at = yesterday_utc(12)
    deliver(citizen, [query_event(990700001, at, response_time_ms=100), query_event(990700001, at, response_time_ms=200)])
    run_daily(citizen)
    first = rows(citizen, "SELECT response_time_ms FROM citizen.fct_service_queries WHERE query_id = 990700001")
    assert first == [(200,)]
    assert "990700001" not in mine(citizen, "silver.citizen_query_logs")
    star = {t: table_hash(citizen, t) for t in ("citizen.fct_service_queries", "silver.citizen_query_logs")}
    deliver(citizen, [query_event(990700001, at, response_time_ms=100), query_event(990700001, at, response_time_ms=200)])
    run_daily(citizen)
    assert {t: table_hash(citizen, t) for t in star} == star


def test_citizen_an_event_before_the_partition_window_is_quarantined_not_a_failed_night(citizen):
    """Was a DEFECT (medium; fixed in procedures/registry/citizen.sql, a check of citizen_silver_events):
    silver accepts events from quality.min_event_date (1990) on, the partitioned facts only from
    partitions.min_date (2000): one late event of 1995 passed silver and failed the fact step ("partitions
    ... outside the allowed window"), stopping the night's citizen facts and marts for every event. It is
    quarantined now with its reason; a late event of 2003 loads into a partition made for it."""
    deliver(citizen, [query_event(990800001, "1995-06-01T10:00:00+05:30"), query_event(990800002, yesterday_utc(13)),
                      query_event(990800003, "2003-06-01T10:00:00+05:30")])
    run_daily(citizen)
    assert [(r[0], r[2]) for r in facts(citizen, 990800001, 990800003)] == [
        (990800002, int((yesterday_utc(13) + dt.timedelta(hours=5, minutes=30)).strftime("%Y%m%d"))), (990800003, 20030601)]
    q = mine(citizen, "silver.citizen_query_logs")
    assert q == {"990800001": ["occurred_at 1995-06-01 04:30:00Z is before 2000-01-01, the first month the partitioned "
                               "fact holds (setting partitions.min_date)"]}, q


def test_citizen_session_settings_change_nothing(citizen, postgresql_proc, citizen_attack_template):
    """Held: the same payloads loaded by `daily` under default settings and under Pacific/Kiritimati,
    DateStyle 'SQL, DMY', IntervalStyle sql_standard, extra_float_digits -15 and search_path pg_temp first
    give the same facts."""
    from conftest import cloned_database

    def scenario(conn, settings):
        deliver(conn, [query_event(990900001 + i, yesterday_utc(h, 45)) for i, h in enumerate((0, 6, 12, 18, 23))])
        for name, value in settings:
            conn.execute(f"SET {name} = '{value}'")
        conn.execute(RUN_DAILY)
        for name, _ in settings:
            conn.execute(f"RESET {name}")
        assert last_run(conn)[0] == "completed"
        return {t: table_hash(conn, t) for t in ("citizen.fct_service_queries", "citizen.fct_content_usage", "silver.citizen_query_logs",
                                                 "citizen.dim_service", "citizen.dim_user")}

    plain = scenario(citizen, [])
    with cloned_database(postgresql_proc, citizen_attack_template.fresh_name(), "a9") as other:
        odd = scenario(other, SESSION_SETTINGS)
    assert odd == plain


def test_citizen_bad_portal_rows_are_quarantined_and_the_rest_loads(citizen):
    """Held: portal rows with a blank name, a negative priority, a registration dated 1066 or 2999, a
    reliability score of NaN or Infinity are quarantined with their reasons; the run completes."""
    citizen.execute("""INSERT INTO citizen_src.services (service_id, service_name, service_category, department_id, priority_level, service_type, data_source)
                       VALUES (990001, '   ', 'identity', 'MEITY', 1, 'online', 'api'), (990002, 'Odd', 'identity', 'MEITY', -2147483648, 'online', 'api')""")
    citizen.execute("""INSERT INTO citizen_src.users (user_id, user_type, location_state, registration_date)
                       VALUES (990003, 'citizen', 'Goa', '1066-10-14'), (990004, 'citizen', 'Goa', '2999-01-01'), (990005, 'citizen', 'Goa', 'infinity')""")
    citizen.execute("""INSERT INTO citizen_src.content_sources (source_name, source_type, reliability_score)
                       VALUES ('a9-nan', 'api', 'NaN'), ('a9-inf', 'api', 'Infinity'), ('a9-big', 'api', 1e308)""")
    run_daily(citizen)
    q = mine(citizen, "silver.citizen_%")
    assert {"990001", "990003", "990004", "990005", "a9-nan", "a9-inf", "a9-big"} <= set(q), q


def test_citizen_text_keys_differing_by_white_space_stay_apart(citizen):
    """Held (the agents' white-space keys, attack 9a): citizen's portal tables are typed by the engine, which
    keeps a text key as written (only a blank one is refused), so the content sources 'a9-portal' and
    'a9-portal ' are two records in silver and in dim_content_source, each with its own values, and a
    content naming either keeps its own. The text keys with a vocabulary (language_code, query_type,
    content_type) refuse white space by their checks, so the events' trimmed references to them cannot
    reach another record."""
    citizen.execute("""INSERT INTO citizen_src.content_sources (source_name, source_type, reliability_score, update_frequency, contact_info)
                       VALUES ('a9-portal', 'api', 0.9, 'daily', '{}'), ('a9-portal ', 'scraped', 0.2, 'weekly', '{}')""")
    citizen.execute("""INSERT INTO citizen_src.languages (language_code, language_name, script_type, is_rtl)
                       VALUES ('hi ', 'Hindi again', 'devanagari', false)""")
    run_daily(citizen)
    assert rows(citizen, """SELECT source_name, source_type, reliability_score::text FROM citizen.dim_content_source
                            WHERE source_name LIKE 'a9-portal%%' ORDER BY 1""") == [
        ("a9-portal", "api", "0.90"), ("a9-portal ", "scraped", "0.20")]
    q = open_quarantine(citizen, "silver.citizen_languages")
    assert any("language_code" in r for r in q.get("hi ", [])), q
    assert scalar(citizen, "SELECT count(*) FROM silver.citizen_languages WHERE language_code LIKE 'hi%%'") == 1


# =====================================================================================================
# agents, continued: moves between conversations and days, delete and re-create, reasons and sessions
# =====================================================================================================

CONVERSATION_COUNTS = """
SELECT c.conversation_id, c.total_queries, c.total_approvals, c.total_feedback,
       (SELECT count(*) FROM agents_src.agent_queries AS q WHERE q.conversation_id = c.conversation_id),
       (SELECT count(*) FROM agents_src.agent_approvals AS a WHERE a.conversation_id = c.conversation_id),
       (SELECT count(*) FROM agents_src.agent_feedback AS f WHERE f.conversation_id = c.conversation_id)
FROM agents.dim_conversation AS c
WHERE c.conversation_id = ANY (%s)
ORDER BY 1
"""


def test_agents_a_query_moved_to_another_conversation_and_day_recounts_both_sides(agents):
    """Held or DEFECT: a query corrected at the source to another conversation and another day: both the
    old and the new conversation's counters and both days' aggregates equal the source's."""
    agent, _ = an_agent(agents)
    convs = [r[0] for r in rows(agents, "SELECT conversation_id FROM agents_src.conversations ORDER BY 1 LIMIT 2")]
    old_day = scalar(agents, "SELECT (now() AT TIME ZONE 'UTC')::date - 5")
    new_day = scalar(agents, "SELECT (now() AT TIME ZONE 'UTC')::date - 4")
    at = dt.datetime.combine(old_day, dt.time(12), dt.timezone.utc)
    insert_query(agents, 900002001, agent, convs[0], at, latency_ms=50000)
    run_daily(agents)
    agents.execute("""UPDATE agents_src.agent_queries SET conversation_id = %s, created_at = %s, updated_at = now()
                      WHERE query_id = 900002001""", (convs[1], dt.datetime.combine(new_day, dt.time(12), dt.timezone.utc)))
    run_daily(agents)
    for conv, tq, ta, tf, sq, sa, sf in rows(agents, CONVERSATION_COUNTS, (convs,)):
        assert (tq, ta, tf) == (sq, sa, sf), conv
    days = [old_day, new_day]
    assert rows(agents, WAREHOUSE_KPIS, {"days": days}) == rows(agents, INDEPENDENT_KPIS, {"days": days})


def test_agents_an_agent_deleted_and_recreated_has_clean_history_and_the_rules_pass(agents):
    """Was a DEFECT (high; fixed in silver.agents_dim_agent_source / agents_dim_user_source): a deleted
    agent or user was never closed in its dimension. Silver flags the key is_deleted, but the dimension
    views gave the deletion the change time of the row's updated_at, i.e. the start of its current
    version, so apply_dimension saw no change: the deleted agent stayed current for good (the registry
    promises "a deleted agent or user closed"). The change time of a deleted row is now its latest
    tombstone's deleted_at. Held: re-created with another SLA it gets a new current version after the
    deletion; one current version; the agents' quality rules pass on that history."""
    agent, conv = an_agent(agents)
    agents.execute("DELETE FROM agents_src.agents WHERE agent_name = %s", (agent,))
    run_daily(agents)
    assert scalar(agents, "SELECT count(*) FROM agents.dim_agent WHERE agent_name = %s AND is_current AND NOT is_deleted", (agent,)) == 0
    agents.execute("""INSERT INTO agents_src.agents (agent_name, agent_type, capabilities, sla_target_seconds, cost_per_query_usd)
                      VALUES (%s, 'qa', '["query"]', 777, 0.5)""", (agent,))
    insert_query(agents, 900002101, agent, conv, scalar(agents, "SELECT clock_timestamp()"))
    run_daily(agents)
    history = rows(agents, """SELECT version, is_current, valid_from, valid_to, sla_target_seconds, is_deleted
                              FROM agents.dim_agent WHERE agent_name = %s ORDER BY version""", (agent,))
    assert [h[1] for h in history].count(True) == 1 and history[-1][1:2] == (True,) and history[-1][4] == 777, history
    # closed at the deletion, the new version from the re-creation: no overlap (a gap while it did not exist)
    deleted_at = scalar(agents, "SELECT max(deleted_at)::timestamptz FROM agents_src.deleted_records WHERE record_id = %s", (agent,))
    assert history[-2][3] == deleted_at and deleted_at <= history[-1][2], history
    assert rows(agents, """SELECT a.sla_target_seconds FROM agents.fact_agent_query AS f JOIN agents.dim_agent AS a USING (agent_key)
                           WHERE f.query_id = 900002101""") == [(777,)]
    failed = rows(agents, """SELECT metric_name, table_name, details FROM dwh_lineage.quality_metrics
                             WHERE NOT passed AND table_name LIKE 'agents.%%'
                               AND run_id = (SELECT max(run_id) FROM dwh_lineage.pipeline_runs)""")
    assert failed == []


def test_agents_quarantine_reasons_do_not_depend_on_the_session(agents, postgresql_proc, agents_attack_template):
    """Held: the reasons 'resolved_at ... is before created_at ...' format timestamps with %s, but the run
    gives them the same text under DateStyle 'SQL, DMY' and Pacific/Kiritimati (ISO, UTC)."""
    from conftest import cloned_database

    def scenario(conn, settings):
        agent, conv = an_agent(conn)
        at = dt.datetime(2026, 3, 12, 10, 0, tzinfo=dt.timezone.utc)
        conn.execute("""INSERT INTO agents_src.agent_approvals (approval_id, conversation_id, agent, status, created_at, resolved_at, updated_at)
                        VALUES (900002201, %s, %s, 'approved', %s, %s - interval '1 hour', now())""", (conv, agent, at, at))
        conn.execute("""INSERT INTO agents_src.agent_feedback (feedback_id, conversation_id, agent, annotator_id, created_at, annotated_at, updated_at)
                        VALUES (900002202, %s, %s, 'u0001', %s, %s - interval '1 hour', now())""", (conv, agent, at, at))
        for name, value in settings:
            conn.execute(f"SET {name} = '{value}'")
        conn.execute(RUN_DAILY)
        for name, _ in settings:
            conn.execute(f"RESET {name}")
        return open_quarantine(conn, "%agents%")

    plain = scenario(agents, [])
    with cloned_database(postgresql_proc, agents_attack_template.fresh_name(), "a9") as other:
        odd = scenario(other, [("DateStyle", "SQL, DMY"), ("TimeZone", "Pacific/Kiritimati")])
    assert plain == odd
    assert plain["900002201"] == ["resolved_at 2026-03-12 09:00:00+00 is before created_at 2026-03-12 10:00:00+00"], plain


@pytest.mark.parametrize("column,value", [("status", "APPROVED"), ("status", " approved "), ("status", "ok")])
def test_agents_status_spellings_are_normalised_or_quarantined_never_lost(agents, column, value):
    """Held: an approval status in another case or with spaces is either read as the status or quarantined
    with its reason; it is never in gold with a status outside the four."""
    agent, conv = an_agent(agents)
    at = recent(agents, 4)
    agents.execute(f"""INSERT INTO agents_src.agent_approvals (approval_id, conversation_id, agent, {column}, created_at, resolved_at, updated_at)
                       VALUES (900002301, %s, %s, %s, %s, %s + interval '1 minute', %s)""", (conv, agent, value, at, at, at))
    run_daily(agents)
    in_fact = rows(agents, "SELECT status FROM agents.fact_approval WHERE approval_id = 900002301")
    assert in_fact == [("approved",)] or (in_fact == [] and "900002301" in open_quarantine(agents, "%agents%")), in_fact


# =====================================================================================================
# agents through change events (dwh_etl.ingest_cdc_events into agents_src)
# =====================================================================================================

def cdc(conn, events):
    from psycopg.types.json import Jsonb
    from test_cdc import COUNTS

    row = conn.execute("SELECT * FROM dwh_etl.ingest_cdc_events(%s, 'agents_src')", (Jsonb(events),)).fetchone()
    return dict(zip(COUNTS, row[1:]))


def test_agents_change_events_create_update_delete_reach_the_star_and_a_redelivery_changes_nothing(agents):
    """Held (after the dimension fix above): change events create an agent,
    update its SLA in the same batch (the newest wins), a query event names it; then a delete event: `daily`
    closes the agent at its deletion; the same events delivered again are duplicates and change nothing."""
    from test_cdc import ev

    _, conv = an_agent(agents)
    at = scalar(agents, "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC' - interval '2 hours', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')")
    later = scalar(agents, "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC' - interval '1 hour', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')")
    agent = {"agent_name": "cdc-bot", "agent_type": "ops", "capabilities": ["query"], "sla_target_seconds": 60,
             "cost_per_query_usd": "0.001", "is_active": True, "created_at": at, "updated_at": at}
    events = [ev("c", "agents", 1, after=agent),
              ev("c", "agents", 5, after={**agent, "agent_name": "cdc-str", "capabilities": '["query"]'}),
              ev("u", "agents", 2, after={**agent, "sla_target_seconds": 90, "updated_at": later}),
              ev("c", "agent_queries", 3, after={"query_id": 900003001, "conversation_id": conv, "agent": "cdc-bot",
                                                 "query": "q", "latency_ms": 5, "created_at": later, "updated_at": later})]
    result = cdc(agents, events)
    assert result["applied"] + result["stale"] == 4 and result["quarantined"] == 0, result
    run_daily(agents)
    # capabilities as a JSON *string* (Debezium without the envelope's schema) land as a jsonb string:
    # quarantined with its reason, not loaded as something else
    assert list(open_quarantine(agents, "%agents%")) == ["cdc-str"]
    cdc(agents, [ev("d", "agents", 4, before={"agent_name": "cdc-bot"})])
    run_daily(agents)
    assert rows(agents, """SELECT version, sla_target_seconds, capabilities, is_current FROM agents.dim_agent
                           WHERE agent_name = 'cdc-bot' ORDER BY version""") == [(1, 90, ["query"], False)]
    star = {t: table_hash(agents, t) for t in AGENTS_STAR}
    again = cdc(agents, events + [ev("d", "agents", 4, before={"agent_name": "cdc-bot"})])
    assert again["duplicate"] == 5, again
    run_daily(agents)
    assert {t: table_hash(agents, t) for t in AGENTS_STAR} == star


# =====================================================================================================
# citizen, continued
# =====================================================================================================

def test_citizen_a_response_time_the_gate_refuses_is_quarantined_not_a_failed_night(citizen):
    """Was a DEFECT (medium; fixed in silver.citizen_query_logs_typed): a response time above 600000 ms
    passed silver and then failed the quality gate citizen_fsq_response_time_range (0-600000) of the fact
    step: one slow request stopped the night's citizen facts for every event. It is quarantined with its
    reason now; 600000 itself loads."""
    deliver(citizen, [query_event(990110001, yesterday_utc(14), response_time_ms=600001),
                      query_event(990110002, yesterday_utc(14), response_time_ms=600000)])
    run_daily(citizen)
    assert [r[0] for r in facts(citizen, 990110001, 990110002)] == [990110002]
    q = mine(citizen, "silver.citizen_query_logs")
    assert list(q) == ["990110001"] and any("600000" in r for r in q["990110001"]), q


def test_citizen_a_services_history_passes_the_rules(citizen):
    """Held: a service moved to another department twice (two runs): one current version, contiguous
    history, and none of the citizen quality rules fails on it (no false alarm on correct SCD2 history)."""
    citizen.execute("UPDATE citizen_src.services SET department_id = 'MEITY', updated_at = now() - interval '3 hours' WHERE service_id = 102")
    run_daily(citizen)
    citizen.execute("UPDATE citizen_src.services SET department_id = 'MHA', updated_at = now() - interval '1 hour' WHERE service_id = 102")
    run_daily(citizen)
    history = rows(citizen, """SELECT version, is_current, valid_from, valid_to FROM citizen.dim_service
                               WHERE service_id = 102 ORDER BY version""")
    assert [h[1] for h in history].count(True) == 1 and history[-1][1], history
    assert all(a[3] == b[2] for a, b in zip(history, history[1:])), history
    failed = rows(citizen, """SELECT metric_name, table_name, details FROM dwh_lineage.quality_metrics
                              WHERE NOT passed AND table_name LIKE 'citizen.%%'
                                AND run_id = (SELECT max(run_id) FROM dwh_lineage.pipeline_runs)""")
    assert failed == []


def test_citizen_a_payload_removed_or_rewritten_after_ingestion(citizen):
    """Held: the collector deletes a payload it already delivered (nothing changes: the events were
    ingested) and rewrites another in place with a corrected response time at the same event time (the
    event is corrected, one fact row)."""
    at = yesterday_utc(15)
    deliver(citizen, [query_event(990120001, at, response_time_ms=10)])
    deliver(citizen, [query_event(990120002, at, response_time_ms=20)])
    run_daily(citizen)
    citizen.execute("""DELETE FROM citizen_src.analytics_payloads WHERE source = 'a9' AND payload -> 0 ->> 'query_id' = '990120001'""")
    citizen.execute("""UPDATE citizen_src.analytics_payloads SET payload = jsonb_set(payload, '{0,response_time_ms}', '25')
                       WHERE source = 'a9' AND payload -> 0 ->> 'query_id' = '990120002'""")
    run_daily(citizen)
    assert rows(citizen, """SELECT query_id, response_time_ms FROM citizen.fct_service_queries
                            WHERE query_id IN (990120001, 990120002) ORDER BY 1""") == [(990120001, 10), (990120002, 25)]


def test_agents_zone_less_times_delivered_to_bronze_are_read_in_the_areas_zone(agents):
    """DEFECT (low-medium; fixed in the six silver.agents_*_typed views): the setting agents.timezone says
    "zone-less source timestamp texts are read in it", but the typing views called
    dwh_etl.try_timestamptz(text), which reads them in UTC. With agents.timezone = Asia/Tokyo, a delivery
    to bronze (a file, a replay) of created_at '... 10:00:00' landed at 10:00 UTC instead of 01:00 UTC,
    nine hours off, with the wrong day key after 15:00 Tokyo time, silently."""
    agents.execute("UPDATE dwh_etl.settings SET value = 'Asia/Tokyo' WHERE key = 'agents.timezone'")
    agent, conv = an_agent(agents)
    day = scalar(agents, "SELECT (now() AT TIME ZONE 'Asia/Tokyo')::date - 1")
    local = f"{day.isoformat()} 10:00:00"
    agents.execute("""INSERT INTO bronze.agents_agent_queries (query_id, conversation_id, agent, query, latency_ms, created_at, updated_at,
                                                               _batch_id, _source)
                      VALUES ('900004001', %s, %s, 'q', '5', %s, %s, gen_random_uuid(), 'file')""", (conv, agent, local, local))
    run_daily(agents)
    expected = dt.datetime.combine(day, dt.time(1, 0), dt.timezone.utc)
    assert rows(agents, "SELECT created_at, time_key FROM agents.fact_agent_query WHERE query_id = 900004001") == [
        (expected, int(day.strftime("%Y%m%d")))]


def test_citizen_dwh_run_daily_under_odd_client_options_keys_events_in_india(citizen, dsn, runner, monkeypatch):
    """Held: `dwh run daily` from a client whose PGOPTIONS set TimeZone Pacific/Kiritimati, DateStyle
    'SQL, DMY', IntervalStyle sql_standard and lc_messages C: the events get the date and time keys of
    their instant in India, zone-less ones read in India, the run completes."""
    from dwh_cli.cli import cli

    late = yesterday_utc(20, 0)     # 01:30 the next day in India, 10:00 the next day in Kiritimati
    deliver(citizen, [query_event(990130001, late),
                      query_event(990130002, late.astimezone(IST).replace(tzinfo=None).isoformat(timespec="seconds"))])
    monkeypatch.setenv("PGOPTIONS", "-c TimeZone=Pacific/Kiritimati -c DateStyle=SQL,DMY -c IntervalStyle=sql_standard -c lc_messages=C")
    result = runner.invoke(cli, ["--dsn", dsn, "run", "daily", "--date", (late.date() + dt.timedelta(days=1)).isoformat()])
    assert result.exit_code == 0, result.output + str(result.stderr_bytes)
    next_day = int((late.date() + dt.timedelta(days=1)).strftime("%Y%m%d"))
    assert [(r[0], r[1], r[2], r[3]) for r in facts(citizen, 990130001, 990130002)] == [
        (990130001, late, next_day, 13000), (990130002, late, next_day, 13000)]



def test_citizen_a_redelivered_event_with_an_earlier_time_is_not_dropped_silently(citizen):
    """Was a DEFECT (medium; fixed by migration 0048 and procedures/registry/citizen.sql): the collector re-sends an event with its clock corrected (the same query_id, occurred_at an hour
    earlier, the response time fixed): the warehouse takes the correction, or records why not; it must not
    keep the first version without a trace. Found: the citizen_silver_events loads use the event time as
    their version order (ts_column queried_at / used_at; _load_silver upserts only when s.ts <= new ts), so
    a redelivery with an earlier occurred_at is dropped as an "older state": no quarantine entry, the fact
    keeps 12:00 and 100 ms. Events have no updated_at; the order of versions of one event id is their
    delivery (bronze _ingested_at, then _bronze_id): silver keeps it as delivered_at, the loads' ts_column
    (and an unchanged column: a replay of the same values changes nothing)."""
    deliver(citizen, [query_event(990140001, yesterday_utc(12), response_time_ms=100)])
    run_daily(citizen)
    deliver(citizen, [query_event(990140001, yesterday_utc(11), response_time_ms=150)])
    run_daily(citizen)
    fact = rows(citizen, "SELECT queried_at, response_time_ms FROM citizen.fct_service_queries WHERE query_id = 990140001")
    assert fact == [(yesterday_utc(11), 150)] or "990140001" in mine(citizen, "silver.citizen_query_logs"), fact
