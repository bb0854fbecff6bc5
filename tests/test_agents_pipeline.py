"""The agents area on the step kinds (issues 11 and 10): the steps registered in procedures/registry/agents.sql
run the area end to end in `daily` (extract, silver over the typing views, the SCD dimensions, the
conversation dimension, three facts with inferred members, the conversation counters and the daily
aggregate of the affected days only).

The agents-only warehouse is built once per module (`agents_loaded_template`: generated at scale 0.01,
`daily` run for today); each test gets its own clone of it."""

from __future__ import annotations

import datetime as dt
import decimal

import psycopg
import pytest

from conftest import database_template, disable_other_areas
from test_agents_foundation import SEED_QUERY_1, SEED_QUERY_2, SEED_QUERY_3

RUN_DAILY = "CALL dwh_etl.run_pipeline(p_pipeline => 'daily', p_run_date => CURRENT_DATE, p_run_id => NULL)"

AGENTS_TABLES = ["agents_src.agents", "agents_src.users", "agents_src.conversations", "agents_src.agent_queries",
                 "agents_src.agent_approvals", "agents_src.agent_feedback",
                 "bronze.agents_agents", "bronze.agents_users", "bronze.agents_conversations",
                 "bronze.agents_agent_queries", "bronze.agents_agent_approvals", "bronze.agents_agent_feedback",
                 "silver.agents_agents", "silver.agents_users", "silver.agents_conversations",
                 "silver.agents_agent_queries", "silver.agents_agent_approvals", "silver.agents_agent_feedback",
                 "agents.dim_agent", "agents.dim_user", "agents.dim_conversation", "agents.fact_agent_query",
                 "agents.fact_approval", "agents.fact_training", "agents.agg_agent_daily_performance"]


def scalar(conn, sql, params=None):
    return conn.execute(sql, params).fetchone()[0]


def rows(conn, sql, params=None):
    return conn.execute(sql, params).fetchall()


def only_agents(conn):
    conn.execute("UPDATE dwh_etl.steps SET is_enabled = false WHERE area NOT IN ('agents', 'engine')")
    conn.execute("UPDATE dwh_etl.quality_rules SET is_enabled = false WHERE area IS DISTINCT FROM 'agents'")


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


@database_template(scope="module")
def agents_loaded_template(conn):
    """Only the agents area: its demo source generated (scale 0.01, seed 0.42) and `daily` run once."""
    only_agents(conn)
    conn.execute("CALL agents_src.generate(p_scale => 0.01, p_seed => 0.42)")
    conn.execute(RUN_DAILY)


@pytest.fixture
def loaded(agents_loaded_template, conn):
    return conn


def test_daily_loads_every_agents_table(loaded):
    status, steps = last_run(loaded)
    assert status == "completed", steps
    for table in AGENTS_TABLES:
        assert scalar(loaded, f"SELECT count(*) FROM {table}") > 0, table
    # the clean demo source quarantines nothing; every agents step of daily ran
    assert scalar(loaded, "SELECT count(*) FROM dwh_etl.quarantine WHERE target_table LIKE '%agents%'") == 0
    assert {s.split(":")[0] for s in steps} >= {
        "agents_extract", "agents_silver_entities", "agents_silver_events", "agents_scd_dimensions",
        "agents_dim_conversation", "agents_fact_agent_query", "agents_fact_approval", "agents_fact_training",
        "agents_conversation_counters", "agents_agg_daily"}
    # one fact row per source row, by source id
    for fact, source, key in (("agents.fact_agent_query", "agents_src.agent_queries", "query_id"),
                              ("agents.fact_approval", "agents_src.agent_approvals", "approval_id"),
                              ("agents.fact_training", "agents_src.agent_feedback", "feedback_id")):
        assert scalar(loaded, f"""SELECT count(*) FROM {source} AS s FULL JOIN {fact} AS f USING ({key})
                                   WHERE s.{key} IS NULL OR f.{key} IS NULL""") == 0, fact


def test_no_typed_agents_step_names_an_area_procedure(conn):
    assert rows(conn, """SELECT step_name, kind, procedure_name FROM dwh_etl.steps
                         WHERE area = 'agents' AND pipeline_name = 'daily' ORDER BY step_name""") == [
        ("agents_agg_daily", "custom", "agents.step_agg_daily_performance"),
        ("agents_approval_sla", "custom", "agents.step_approval_sla"),
        ("agents_conversation_counters", "custom", "agents.step_conversation_counters"),
        ("agents_dim_conversation", "custom", "agents.step_dim_conversation"),
        ("agents_extract", "extract", "dwh_etl.step_extract"),
        ("agents_fact_agent_query", "fact", "dwh_etl.step_fact"),
        ("agents_fact_approval", "fact", "dwh_etl.step_fact"),
        ("agents_fact_training", "fact", "dwh_etl.step_fact"),
        ("agents_scd_dimensions", "dimension", "dwh_etl.step_dimension"),
        ("agents_silver_entities", "silver", "dwh_etl.step_silver"),
        ("agents_silver_events", "silver", "dwh_etl.step_silver")]
    # the seed's jobs as the area's own pipelines
    assert rows(conn, """SELECT p.pipeline_name, p.schedules, array_agg(s.step_name ORDER BY s.step_name)
                         FROM dwh_etl.pipelines AS p JOIN dwh_etl.steps AS s USING (pipeline_name)
                         WHERE p.area = 'agents' GROUP BY 1, 2 ORDER BY 1""") == [
        ("agents_aggregate", ["30 3 * * *"], ["agents_agg_scheduled"]),
        ("agents_dimensions", ["30 2 * * *"], ["agents_dim_conversation", "agents_extract", "agents_scd_dimensions",
                                               "agents_silver_entities"]),
        ("agents_nightly", ["0 3 * * *"], ["agents_agg_daily", "agents_approval_sla", "agents_conversation_counters", "agents_dim_conversation",
                                           "agents_extract", "agents_fact_agent_query", "agents_fact_approval",
                                           "agents_fact_training", "agents_scd_dimensions", "agents_silver_entities",
                                           "agents_silver_events"])]


@pytest.mark.parametrize("query", [SEED_QUERY_1, SEED_QUERY_2, SEED_QUERY_3], ids=["query1", "query2", "query3"])
def test_the_seeds_three_queries_return_rows_verbatim(loaded, query):
    loaded.execute("SET search_path = agents, gold")
    assert len(rows(loaded, query)) > 0


INDEPENDENT_KPIS = """
WITH q AS (
    SELECT s.agent AS agent_name, (s.created_at AT TIME ZONE 'UTC')::date AS day,
           count(*) AS total_queries,
           round(avg(s.latency_ms), 2) AS avg_latency_ms,
           round(percentile_cont(0.95) WITHIN GROUP (ORDER BY s.latency_ms)::numeric, 2) AS p95_latency_ms,
           round(100.0 * count(*) FILTER (WHERE s.approved) / count(*), 2) AS approval_rate_pct,
           round(100.0 * count(*) FILTER (WHERE s.human_edited) / count(*), 2) AS edit_rate_pct,
           round(100.0 * count(*) FILTER (WHERE s.error_occurred) / count(*), 2) AS error_rate_pct
    FROM agents_src.agent_queries AS s
    GROUP BY 1, 2
),
a AS (
    SELECT p.agent AS agent_name, (p.created_at AT TIME ZONE 'UTC')::date AS day, count(*) AS total_approvals,
           round(100.0 * count(*) FILTER (WHERE p.status IN ('approved', 'rejected')
                                          AND p.resolved_at - p.created_at <= make_interval(secs => COALESCE(g.sla_target_seconds, 300)))
                 / NULLIF(count(*) FILTER (WHERE p.status <> 'pending'), 0), 2) AS sla_compliance_pct
    FROM agents_src.agent_approvals AS p
    JOIN agents_src.agents AS g ON g.agent_name = p.agent
    GROUP BY 1, 2
),
t AS (
    SELECT f.agent AS agent_name, (f.created_at AT TIME ZONE 'UTC')::date AS day, count(*) AS total_feedback,
           count(*) FILTER (WHERE f.safe_to_send = false) AS unsafe_feedback_count
    FROM agents_src.agent_feedback AS f
    GROUP BY 1, 2
)
SELECT k.agent_name, k.day, COALESCE(q.total_queries, 0), q.avg_latency_ms, q.p95_latency_ms, q.approval_rate_pct,
       q.edit_rate_pct, q.error_rate_pct, COALESCE(a.total_approvals, 0), COALESCE(t.total_feedback, 0),
       COALESCE(t.unsafe_feedback_count, 0), a.sla_compliance_pct
FROM (SELECT agent_name, day FROM q UNION SELECT agent_name, day FROM a UNION SELECT agent_name, day FROM t) AS k
LEFT JOIN q USING (agent_name, day)
LEFT JOIN a USING (agent_name, day)
LEFT JOIN t USING (agent_name, day)
WHERE k.day = ANY (%(days)s)
ORDER BY 1, 2
"""

WAREHOUSE_KPIS = """
SELECT d.agent_name, to_date(g.time_key::text, 'YYYYMMDD'), g.total_queries, g.avg_latency_ms, g.p95_latency_ms,
       g.approval_rate_pct, g.edit_rate_pct, g.error_rate_pct, g.total_approvals, g.total_feedback,
       g.unsafe_feedback_count, g.sla_compliance_pct
FROM agents.agg_agent_daily_performance AS g
JOIN agents.dim_agent AS d ON d.agent_key = g.agent_key
WHERE to_date(g.time_key::text, 'YYYYMMDD') = ANY (%(days)s)
ORDER BY 1, 2
"""


def kpi_days(conn):
    # a weekday and a weekend day of 2025, and the last full day (the generator has one version per agent
    # until generate_next_day changes them: the source's SLA is the SLA valid at every request)
    return [dt.date(2025, 3, 14), dt.date(2025, 6, 1), scalar(conn, "SELECT (now() AT TIME ZONE 'UTC')::date - 1")]


def test_the_aggregates_kpis_equal_an_independent_computation_from_the_source(loaded):
    assert scalar(loaded, "SELECT count(*) FROM agents.dim_agent WHERE version > 1 OR is_inferred") == 0
    days = kpi_days(loaded)
    expected = rows(loaded, INDEPENDENT_KPIS, {"days": days})
    assert len(expected) > 10
    assert rows(loaded, WAREHOUSE_KPIS, {"days": days}) == expected


def table_hash(conn, table, order="1"):
    return scalar(conn, f"SELECT md5(COALESCE(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {table} AS t")


STAR = ["agents.dim_agent", "agents.dim_user", "agents.dim_conversation", "agents.fact_agent_query",
        "agents.fact_approval", "agents.fact_training", "agents.agg_agent_daily_performance"]


def test_a_duplicate_delivery_changes_nothing(loaded):
    before = {t: table_hash(loaded, t) for t in STAR}
    # the rows of a day are delivered to bronze a second time, unchanged (a replayed batch)
    redelivered = 0
    for table, where in (("agents_agent_queries", "created_at LIKE '2025-03-14%'"),
                         ("agents_agent_approvals", "created_at LIKE '2025-03-14%'"),
                         ("agents_agent_feedback", "created_at LIKE '2025-03-14%'"),
                         ("agents_agents", "true"), ("agents_users", "true"), ("agents_conversations", "started_at LIKE '2025-03-14%'")):
        columns = ", ".join(r[0] for r in rows(loaded, """SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass
                                                           AND attnum > 0 AND NOT attisdropped AND attname !~ '^_' ORDER BY attnum""",
                                              (f"bronze.{table}",)))
        redelivered += loaded.execute(f"""INSERT INTO bronze.{table} ({columns}, _batch_id, _source)
                                          SELECT {columns}, gen_random_uuid(), 'replay' FROM bronze.{table} WHERE {where}""").rowcount
    assert redelivered > 20
    run_daily(loaded)
    assert {t: table_hash(loaded, t) for t in STAR} == before


def insert_query(conn, query_id, agent, conversation, created_at, latency="120", user_id=None):
    conn.execute("""INSERT INTO agents_src.agent_queries (query_id, conversation_id, agent, user_id, query, result_size_bytes,
                                                          latency_ms, approved, human_edited, error_occurred, created_at, updated_at)
                    VALUES (%s, %s, %s, %s, 'what changed?', 100, %s, true, false, false, %s, %s)""",
                 (query_id, conversation, agent, user_id, latency, created_at, created_at))


def test_a_late_approval_resolution_updates_its_row_and_reaggregates_only_its_day(loaded):
    agent, sla = rows(loaded, "SELECT agent_name, sla_target_seconds FROM agents_src.agents ORDER BY agent_name LIMIT 1")[0]
    conv = scalar(loaded, "SELECT conversation_id FROM agents_src.conversations ORDER BY conversation_id LIMIT 1")
    day = scalar(loaded, "SELECT (now() AT TIME ZONE 'UTC')::date - 3")
    created = dt.datetime.combine(day, dt.time(10, 0), dt.timezone.utc)
    loaded.execute("""INSERT INTO agents_src.agent_approvals (approval_id, query_id, conversation_id, agent, status, created_at, updated_at)
                      VALUES (900000001, NULL, %s, %s, 'pending', %s, %s)""", (conv, agent, created, created))
    run_daily(loaded)
    first = rows(loaded, "SELECT approval_key, status, resolved_at, sla_met, sla_target_seconds FROM agents.fact_approval WHERE approval_id = 900000001")
    assert [(r[1], r[2], r[3], r[4]) for r in first] == [("pending", None, None, sla)]
    key = first[0][0]
    refreshed = dict(rows(loaded, "SELECT (agent_key, time_key)::text, refreshed_at FROM agents.agg_agent_daily_performance"))

    approver = scalar(loaded, "SELECT user_id FROM agents_src.users WHERE user_type = 'approver' ORDER BY user_id LIMIT 1")
    resolved = created + dt.timedelta(seconds=sla - 1)
    loaded.execute("""UPDATE agents_src.agent_approvals SET status = 'approved', resolved_by = %s, resolved_at = %s, updated_at = %s
                      WHERE approval_id = 900000001""", (approver, resolved, resolved))
    run_daily(loaded)

    assert rows(loaded, """SELECT f.approval_key, f.status, f.resolved_at, f.sla_met, f.resolution_time_seconds, u.user_id
                           FROM agents.fact_approval AS f JOIN agents.dim_user AS u ON u.user_key = f.approved_by_key
                           WHERE f.approval_id = 900000001""") == [(key, "approved", resolved, True, sla - 1, approver)]
    after = dict(rows(loaded, "SELECT (agent_key, time_key)::text, refreshed_at FROM agents.agg_agent_daily_performance"))
    time_key = int(day.strftime("%Y%m%d"))
    changed = {k for k in after if after[k] != refreshed.get(k)}
    assert changed and all(k.endswith(f",{time_key})") for k in changed), changed
    assert rows(loaded, WAREHOUSE_KPIS, {"days": [day]}) == rows(loaded, INDEPENDENT_KPIS, {"days": [day]})


def test_an_unknown_agent_and_conversation_get_inferred_members_that_the_real_rows_complete_in_place(loaded):
    created = scalar(loaded, "SELECT date_trunc('hour', now()) - interval '5 hours'")
    insert_query(loaded, 900000001, "ghost-agent", "ghost-conv", created, user_id="ghost-user")
    run_daily(loaded)
    fact = rows(loaded, """SELECT f.agent_key, f.conv_key, f.user_key, a.is_inferred, a.agent_type, c.is_inferred, c.total_queries,
                                  u.is_inferred
                           FROM agents.fact_agent_query AS f
                           JOIN agents.dim_agent AS a ON a.agent_key = f.agent_key
                           JOIN agents.dim_conversation AS c ON c.conv_key = f.conv_key
                           JOIN agents.dim_user AS u ON u.user_key = f.user_key
                           WHERE f.query_id = 900000001""")
    assert [r[3:] for r in fact] == [(True, None, True, 1, True)]
    agent_key, conv_key, user_key = fact[0][:3]

    # the real rows arrive (the agent's row changed after the query was made)
    loaded.execute("""INSERT INTO agents_src.agents (agent_name, agent_type, capabilities, sla_target_seconds, cost_per_query_usd, created_at, updated_at)
                      VALUES ('ghost-agent', 'qa', '["query"]', 600, 0.002, now() - interval '1 hour', now() - interval '1 hour')""")
    loaded.execute("""INSERT INTO agents_src.conversations (conversation_id, user_id, channel, started_at, created_at, updated_at)
                      VALUES ('ghost-conv', 'ghost-user', 'web', %s - interval '1 minute', now(), now())""", (created,))
    loaded.execute("""INSERT INTO agents_src.users (user_id, user_type, team, created_at, updated_at)
                      VALUES ('ghost-user', 'operator', 'platform', now(), now())""")
    run_daily(loaded)

    assert rows(loaded, """SELECT agent_key, is_inferred, agent_type, sla_target_seconds, version, is_current
                           FROM agents.dim_agent WHERE agent_name = 'ghost-agent'""") == [
        (agent_key, False, "qa", 600, 1, True)]
    assert rows(loaded, """SELECT conv_key, is_inferred, channel, user_id, total_queries, first_seen_at = %s - interval '1 minute'
                           FROM agents.dim_conversation WHERE conversation_id = 'ghost-conv'""", (created,)) == [
        (conv_key, False, "web", "ghost-user", 1, True)]
    assert rows(loaded, "SELECT user_key, is_inferred, user_type, version FROM agents.dim_user WHERE user_id = 'ghost-user'") == [
        (user_key, False, "operator", 1)]
    assert rows(loaded, "SELECT agent_key, conv_key, user_key FROM agents.fact_agent_query WHERE query_id = 900000001") == [
        (agent_key, conv_key, user_key)]


def test_a_bad_source_row_is_quarantined_with_its_reason_and_the_rest_loads(loaded):
    agent = scalar(loaded, "SELECT agent_name FROM agents_src.agents ORDER BY agent_name LIMIT 1")
    conv = scalar(loaded, "SELECT conversation_id FROM agents_src.conversations ORDER BY conversation_id LIMIT 1")
    created = scalar(loaded, "SELECT date_trunc('hour', now()) - interval '3 hours'")
    insert_query(loaded, 900000001, agent, conv, created, latency="-5")
    insert_query(loaded, 900000002, agent, conv, created)
    loaded.execute("""INSERT INTO agents_src.agent_feedback (feedback_id, conversation_id, agent, annotator_id, clarity_score, created_at, updated_at)
                      VALUES (900000003, %s, %s, 'u0001', 9, %s, %s)""", (conv, agent, created, created))
    run_daily(loaded)

    quarantined = rows(loaded, """SELECT target_table, record_key, reasons FROM dwh_etl.quarantine
                                  WHERE resolved_at IS NULL ORDER BY target_table""")
    assert [(t, k) for t, k, _ in quarantined] == [("silver.agents_agent_feedback", "900000003"),
                                                   ("silver.agents_agent_queries", "900000001")]
    assert any("clarity_score" in r for r in quarantined[0][2]), quarantined[0][2]
    assert any("latency_ms" in r for r in quarantined[1][2]), quarantined[1][2]
    assert rows(loaded, "SELECT query_id FROM agents.fact_agent_query WHERE query_id >= 900000000") == [(900000002,)]
    assert scalar(loaded, "SELECT count(*) FROM agents.fact_training WHERE feedback_id = 900000003") == 0


def test_client_time_zone_and_date_style_do_not_change_results(loaded):
    agent = scalar(loaded, "SELECT agent_name FROM agents_src.agents ORDER BY agent_name LIMIT 1")
    conv = scalar(loaded, "SELECT conversation_id FROM agents_src.conversations ORDER BY conversation_id LIMIT 1")
    day = scalar(loaded, "SELECT (now() AT TIME ZONE 'UTC')::date - 2")
    late = dt.datetime.combine(day, dt.time(23, 30), dt.timezone.utc)   # 15:30 in Los Angeles, the same day
    early = dt.datetime.combine(day, dt.time(2, 0), dt.timezone.utc)    # 18:00 the day before in Los Angeles
    insert_query(loaded, 900000001, agent, conv, late)
    insert_query(loaded, 900000002, agent, conv, early)
    loaded.execute("SET TimeZone = 'America/Los_Angeles'")
    loaded.execute("SET DateStyle = 'SQL, DMY'")
    loaded.execute("CALL dwh_etl.run_pipeline(p_pipeline => 'daily', p_run_date => (now() AT TIME ZONE 'UTC')::date, p_run_id => NULL)")
    assert last_run(loaded)[0] == "completed"
    time_key = int(day.strftime("%Y%m%d"))
    assert rows(loaded, "SELECT query_id, time_key FROM agents.fact_agent_query WHERE query_id >= 900000000 ORDER BY 1") == [
        (900000001, time_key), (900000002, time_key)]
    loaded.execute("RESET TimeZone")
    loaded.execute("RESET DateStyle")
    assert rows(loaded, WAREHOUSE_KPIS, {"days": [day]}) == rows(loaded, INDEPENDENT_KPIS, {"days": [day]})


def test_the_typing_views_work_in_a_parallel_plan(loaded):
    # the history of a year made the planner go parallel: a PARALLEL SAFE helper with an EXCEPTION block
    # failed the silver step with "cannot start subtransactions during a parallel operation"
    loaded.execute("SET force_parallel_mode = on")
    for view in ("agents_agents_typed", "agents_users_typed", "agents_conversations_typed", "agents_agent_queries_typed",
                 "agents_agent_approvals_typed", "agents_agent_feedback_typed"):
        assert scalar(loaded, f"SELECT count(*) FROM silver.{view} WHERE cardinality(_reasons) = 0") > 0, view


def test_the_next_day_resolves_late_approvals_and_versions_changed_agents(loaded):
    loaded.execute("CALL agents_src.generate_next_day()")
    day = scalar(loaded, "SELECT simulated_through FROM agents_src.generator_state")
    loaded.execute("CALL dwh_etl.run_pipeline(p_pipeline => 'daily', p_run_date => %s, p_run_id => NULL)", (day,))
    status, steps = last_run(loaded)
    assert status == "completed", steps
    # every source row is in its fact with the source's current state (late resolutions applied in place)
    assert scalar(loaded, """SELECT count(*) FROM agents_src.agent_approvals AS s
                             FULL JOIN agents.fact_approval AS f USING (approval_id)
                             WHERE f.approval_id IS NULL OR s.approval_id IS NULL
                                OR (s.status, s.resolved_at) IS DISTINCT FROM (f.status, f.resolved_at)""") == 0
    # agents that changed got a second version; queries of the day point at the version valid then
    assert scalar(loaded, "SELECT count(*) FROM agents.dim_agent WHERE version = 2") > 0
    assert scalar(loaded, """SELECT count(*) FROM agents.fact_agent_query AS f JOIN agents.dim_agent AS a USING (agent_key)
                             WHERE f.created_at < a.valid_from OR f.created_at >= a.valid_to""") == 0
    assert scalar(loaded, "SELECT count(*) FROM dwh_staging.agents_affected_days") == 0


@pytest.mark.parametrize("pipeline", ["agents_nightly", "agents_dimensions", "agents_aggregate"])
def test_the_areas_own_pipelines_run(loaded, pipeline):
    loaded.execute("CALL dwh_etl.run_pipeline(p_pipeline => %s, p_run_date => CURRENT_DATE, p_run_id => NULL)", (pipeline,))
    status, steps = last_run(loaded, pipeline)
    assert status == "completed", steps


def test_a_deleted_source_query_leaves_the_fact_and_its_day_and_conversation_are_recomputed(loaded):
    query_id, day, conv_key, total = rows(loaded, """
        SELECT f.query_id, to_date(f.time_key::text, 'YYYYMMDD'), f.conv_key, c.total_queries
        FROM agents.fact_agent_query AS f JOIN agents.dim_conversation AS c USING (conv_key)
        WHERE f.time_key = 20250314 ORDER BY f.query_id LIMIT 1""")[0]
    loaded.execute("DELETE FROM agents_src.agent_queries WHERE query_id = %s", (query_id,))   # a tombstone
    run_daily(loaded)
    assert scalar(loaded, "SELECT is_deleted FROM silver.agents_agent_queries WHERE query_id = %s", (query_id,)) is True
    assert scalar(loaded, "SELECT count(*) FROM agents.fact_agent_query WHERE query_id = %s", (query_id,)) == 0
    assert scalar(loaded, "SELECT total_queries FROM agents.dim_conversation WHERE conv_key = %s", (conv_key,)) == total - 1
    assert rows(loaded, WAREHOUSE_KPIS, {"days": [day]}) == rows(loaded, INDEPENDENT_KPIS, {"days": [day]})
