"""The agents area's foundation (issue 11, seed 001): migration 0023 (agents_src, bronze, silver, the star
schema agents), the demo generator, and the seed's routines, with a test for each seed error fixed at the
DDL or routine level. The area's steps are not registered yet (typed kinds in progress): loads are
exercised through the seed's own routines on rows written here.

Uses the `conn` fixture of tests/conftest.py (autocommit connection to a fresh clone of the migrated
template)."""

from __future__ import annotations

import datetime as dt
import decimal

import psycopg
import pytest

SEED_QUERY_1 = """
SELECT
  d.full_date,
  a.agent_name,
  COUNT(*) as total_queries,
  ROUND(AVG(f.latency_ms), 2) as avg_latency_ms,
  ROUND(100.0 * COUNT(*) FILTER (WHERE f.approved = true) / COUNT(*), 2) as approval_rate_pct,
  ROUND(100.0 * COUNT(*) FILTER (WHERE f.human_edited = true) / COUNT(*), 2) as edit_rate_pct
FROM fact_agent_query f
JOIN dim_agent a ON f.agent_key = a.agent_key
JOIN dim_time d ON f.time_key = d.time_key
WHERE d.full_date >= CURRENT_DATE - 7
GROUP BY d.full_date, a.agent_name
ORDER BY d.full_date DESC, a.agent_name;
"""

SEED_QUERY_2 = """
SELECT
  d.month_name,
  COUNT(*) as total_approvals,
  ROUND(AVG(f.resolution_time_seconds) / 60, 2) as avg_resolution_minutes,
  ROUND(100.0 * COUNT(*) FILTER (WHERE f.status = 'approved') / COUNT(*), 2) as approval_rate_pct,
  ROUND(100.0 * COUNT(*) FILTER (WHERE f.sla_met = true) / COUNT(*), 2) as sla_compliance_pct
FROM fact_approval f
JOIN dim_time d ON f.time_key = d.time_key
WHERE d.year = 2025
GROUP BY d.month, d.month_name
ORDER BY d.month;
"""

SEED_QUERY_3 = """
SELECT
  u.user_id as annotator,
  COUNT(*) as total_annotations,
  ROUND(AVG(f.overall_score), 2) as avg_overall_score,
  ROUND(AVG(f.clarity_score), 2) as avg_clarity,
  ROUND(AVG(f.accuracy_score), 2) as avg_accuracy,
  ROUND(AVG(f.tone_score), 2) as avg_tone,
  ROUND(100.0 * COUNT(*) FILTER (WHERE f.safe_to_send = false) / COUNT(*), 2) as unsafe_rate_pct
FROM fact_training f
JOIN dim_user u ON f.annotator_key = u.user_key
JOIN dim_time d ON f.time_key = d.time_key
WHERE d.full_date >= CURRENT_DATE - 30
GROUP BY u.user_id
ORDER BY total_annotations DESC;
"""

SOURCE_HASH_SQL = """
SELECT md5(string_agg(t.row, '|' ORDER BY t.row)) FROM (
    SELECT (a.agent_name, a.agent_type, a.capabilities, a.sla_target_seconds, a.cost_per_query_usd, a.updated_at)::text AS row FROM agents_src.agents AS a
    UNION ALL SELECT (u.user_id, u.user_type, u.team, u.display_name)::text FROM agents_src.users AS u
    UNION ALL SELECT (c.conversation_id, c.user_id, c.channel, c.metadata, c.started_at)::text FROM agents_src.conversations AS c
    UNION ALL SELECT (q.query_id, q.conversation_id, q.agent, q.query, q.latency_ms, q.approved, q.human_edited,
                      q.error_occurred, q.created_at)::text FROM agents_src.agent_queries AS q
    UNION ALL SELECT (p.approval_id, p.query_id, p.status, p.resolved_by, p.created_at, p.resolved_at)::text FROM agents_src.agent_approvals AS p
    UNION ALL SELECT (f.feedback_id, f.annotator_id, f.clarity_score, f.accuracy_score, f.tone_score, f.labels,
                      f.created_at, f.annotated_at)::text FROM agents_src.agent_feedback AS f
) AS t
"""


def scalar(conn, sql, params=None):
    return conn.execute(sql, params).fetchone()[0]


def rows(conn, sql, params=None):
    return conn.execute(sql, params).fetchall()


@pytest.fixture(autouse=True)
def calendar(conn):
    """The seed's own call: dim_time for 2025-2027 (the facts' time keys reference the calendar)."""
    conn.execute("SELECT agents.populate_dim_time('2025-01-01'::DATE, '2027-12-31'::DATE)")


def utc_today(conn) -> dt.date:
    return scalar(conn, "SELECT (now() AT TIME ZONE 'UTC')::date")


def add_agent(conn, name="data", agent_type="data", sla=300, valid_from="2025-01-01 00:00+00", inferred=False):
    return scalar(conn, """
        INSERT INTO agents.dim_agent (agent_name, agent_type, capabilities, sla_target_seconds, cost_per_query_usd,
                                      is_inferred, valid_from, _batch_id)
        VALUES (%s, %s, '["query"]', %s, 0.004, %s, %s, gen_random_uuid()) RETURNING agent_key
    """, (name, agent_type, sla, inferred, valid_from))


def add_conversation(conn, conversation_id="c1"):
    return scalar(conn, """
        INSERT INTO agents.dim_conversation (conversation_id, first_seen_at, last_seen_at, _batch_id)
        VALUES (%s, '2025-03-01 10:00+00', '2025-03-01 10:00+00', gen_random_uuid()) RETURNING conv_key
    """, (conversation_id,))


def add_user(conn, user_id="u1", user_type="annotator"):
    return scalar(conn, """
        INSERT INTO agents.dim_user (user_id, user_type, team, valid_from, _batch_id)
        VALUES (%s, %s, 'platform', '2025-01-01 00:00+00', gen_random_uuid()) RETURNING user_key
    """, (user_id, user_type))


# ---------------------------------------------------------------------------------------------------
# The migration and the registry
# ---------------------------------------------------------------------------------------------------

def test_the_migration_builds_the_area_and_registers_it(conn):
    assert rows(conn, """
        SELECT c.relname FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
        WHERE n.nspname = 'agents' AND c.relkind IN ('r', 'v') ORDER BY 1""") == [
        ("agg_agent_daily_performance",), ("dim_agent",), ("dim_conversation",), ("dim_time",), ("dim_user",),
        ("fact_agent_query",), ("fact_approval",), ("fact_training",)]
    assert scalar(conn, "SELECT count(*) FROM pg_tables WHERE schemaname = 'bronze' AND tablename LIKE 'agents\\_%'") == 7
    assert scalar(conn, "SELECT count(*) FROM pg_tables WHERE schemaname = 'silver' AND tablename LIKE 'agents\\_%'") == 6
    assert rows(conn, "SELECT demo->>'generate', demo->>'next_day', (demo->>'order')::int FROM dwh_etl.areas WHERE area = 'agents'") == [
        ("agents_src.generate", "agents_src.generate_next_day", 30)]
    assert rows(conn, "SELECT pipeline_name, schedules FROM dwh_etl.pipelines WHERE area = 'agents' ORDER BY 1") == [
        ("agents_aggregate", ["30 3 * * *"]), ("agents_dimensions", ["30 2 * * *"]), ("agents_nightly", ["0 3 * * *"])]
    assert rows(conn, "SELECT dimension_name FROM dwh_etl.dimension_specs WHERE area = 'agents' ORDER BY 1") == [
        ("agents.dim_agent",), ("agents.dim_user",)]
    assert scalar(conn, "SELECT count(*) FROM dwh_etl.quality_rules WHERE area = 'agents'") >= 15


def test_every_table_and_column_of_the_star_schema_has_a_comment(conn):
    assert rows(conn, """
        SELECT c.relname, a.attname
        FROM pg_class AS c
        JOIN pg_namespace AS n ON n.oid = c.relnamespace
        JOIN pg_attribute AS a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
        WHERE n.nspname = 'agents' AND c.relkind IN ('r', 'v')
          AND col_description(c.oid, a.attnum) IS NULL
        ORDER BY 1, 2""") == []
    assert rows(conn, """
        SELECT c.relname FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
        WHERE n.nspname = 'agents' AND c.relkind IN ('r', 'v') AND obj_description(c.oid, 'pg_class') IS NULL""") == []


def test_analysts_read_the_star_schema_but_not_the_source_bronze_or_silver(conn):
    readable = rows(conn, """
        SELECT c.oid::regclass::text
        FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
        WHERE (n.nspname = 'agents_src' OR (n.nspname IN ('bronze', 'silver') AND c.relname LIKE 'agents\\_%'))
          AND c.relkind IN ('r', 'v', 'm')
          AND has_table_privilege('analyst_role', c.oid, 'SELECT')""")
    assert readable == []
    assert scalar(conn, "SELECT has_schema_privilege('analyst_role', 'agents_src', 'USAGE')") is False
    assert rows(conn, """
        SELECT c.relname FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
        WHERE n.nspname = 'agents' AND c.relkind IN ('r', 'v')
          AND NOT has_table_privilege('analyst_role', c.oid, 'SELECT')""") == []
    assert scalar(conn, "SELECT has_table_privilege('analyst_role', 'agents.fact_agent_query', 'INSERT')") is False
    assert scalar(conn, "SELECT has_table_privilege('etl_service', 'agents.fact_agent_query', 'INSERT')") is True
    assert scalar(conn, "SELECT has_table_privilege('etl_service', 'silver.agents_agent_queries_typed', 'SELECT')") is True
    # as the analyst, for real
    conn.execute("SET ROLE analyst_role")
    try:
        conn.execute("SELECT count(*) FROM agents.fact_agent_query").fetchone()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT count(*) FROM silver.agents_fact_agent_query_source")
    finally:
        conn.execute("RESET ROLE")


@pytest.mark.parametrize("query", [SEED_QUERY_1, SEED_QUERY_2, SEED_QUERY_3], ids=["trends", "approvals", "training"])
def test_the_seeds_queries_plan_against_the_schema_verbatim(conn, query):
    conn.execute("SET search_path = agents, gold")
    plan = rows(conn, "EXPLAIN " + query)
    assert plan


# ---------------------------------------------------------------------------------------------------
# The generator
# ---------------------------------------------------------------------------------------------------

def test_generator_is_reproducible_by_seed(conn):
    hashes = []
    for seed in (0.42, 0.42, 0.17):
        with conn.transaction(force_rollback=True):
            conn.execute("SET LOCAL TimeZone = 'America/Los_Angeles'" if seed == 0.17 else "SET LOCAL TimeZone = 'UTC'")
            conn.execute("CALL agents_src.generate(p_scale => 0.01, p_seed => %s)", (seed,))
            conn.execute("SET LOCAL TimeZone = 'UTC'")
            hashes.append(scalar(conn, SOURCE_HASH_SQL))
    assert hashes[0] == hashes[1]
    assert hashes[0] != hashes[2]


def test_generator_covers_2025_and_the_last_30_days_with_the_seeds_shapes(conn):
    conn.execute("CALL agents_src.generate(p_scale => 0.01, p_seed => 0.42)")
    today = utc_today(conn)
    # every month of 2025, every one of the last 30 days (through yesterday)
    assert scalar(conn, """SELECT count(DISTINCT date_trunc('month', created_at AT TIME ZONE 'UTC'))
                           FROM agents_src.agent_queries WHERE created_at < '2026-01-01 00:00+00'""") == 12
    assert scalar(conn, """SELECT count(DISTINCT (created_at AT TIME ZONE 'UTC')::date) FROM agents_src.agent_queries
                           WHERE created_at >= (%s::date - 30)::timestamp AT TIME ZONE 'UTC'""", (today,)) == 30
    assert scalar(conn, "SELECT min(created_at) >= '2025-01-01 00:00+00' AND max(created_at) < %s::date::timestamp AT TIME ZONE 'UTC' FROM agents_src.agent_queries", (today,))
    # 10-20 agents of the seed's types, the seed's four samples among them
    n_agents, types_ok, samples = conn.execute("""
        SELECT count(*), bool_and(agent_type IN ('data', 'engineer', 'support', 'marketing', 'ai', 'qa', 'ops')),
               count(*) FILTER (WHERE agent_name IN ('data', 'engineer', 'support', 'marketing'))
        FROM agents_src.agents""").fetchone()
    assert 10 <= n_agents <= 20 and types_ok and samples == 4
    assert scalar(conn, "SELECT count(DISTINCT user_type) FROM agents_src.users") == 4
    # latencies and errors, approvals resolved hours later or expired, partial scores
    stats = conn.execute("""
        SELECT (SELECT bool_and(latency_ms > 0) AND count(*) FILTER (WHERE error_occurred) > 0 FROM agents_src.agent_queries),
               (SELECT count(*) FILTER (WHERE status = 'expired') > 0
                       AND count(*) FILTER (WHERE resolved_at - created_at > interval '1 hour' AND status <> 'expired') > 0
                       AND bool_and(resolved_at IS NULL OR resolved_at >= created_at)
                FROM agents_src.agent_approvals),
               (SELECT count(*) FILTER (WHERE clarity_score IS NULL AND accuracy_score IS NOT NULL) > 0
                       AND bool_and(COALESCE(clarity_score, 3) BETWEEN 1 AND 5)
                FROM agents_src.agent_feedback)""").fetchone()
    assert stats == (True, True, True)
    # the demo scale's users
    with conn.transaction(force_rollback=True):
        conn.execute("DELETE FROM agents_src.users")
        conn.execute("DELETE FROM agents_src.agents")
        conn.execute("DELETE FROM agents_src.agent_queries")
        conn.execute("CALL agents_src.generate(p_scale => 0.1, p_seed => 0.42)")
        assert scalar(conn, "SELECT count(*) FROM agents_src.users") == 100


def test_generate_refuses_to_run_twice_and_bad_arguments(conn):
    with pytest.raises(psycopg.errors.InvalidParameterValue):
        conn.execute("CALL agents_src.generate(p_scale => 0)")
    conn.execute("CALL agents_src.generate(p_scale => 0.005, p_seed => 0.1)")
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState):
        conn.execute("CALL agents_src.generate(p_scale => 0.005, p_seed => 0.1)")


def test_next_day_adds_a_day_with_late_resolutions_and_agent_changes(conn):
    conn.execute("CALL agents_src.generate(p_scale => 0.01, p_seed => 0.42)")
    today = utc_today(conn)
    conn.execute("""UPDATE agents_src.agent_approvals SET status = 'pending', resolved_at = NULL, resolved_by = NULL
                    WHERE approval_id IN (SELECT approval_id FROM agents_src.agent_approvals ORDER BY approval_id DESC LIMIT 5)""")
    pending = [r[0] for r in rows(conn, "SELECT approval_id FROM agents_src.agent_approvals WHERE status = 'pending'")]
    before = scalar(conn, "SELECT count(*) FROM agents_src.agent_queries")
    for _ in range(3):
        conn.execute("CALL agents_src.generate_next_day()")

    assert scalar(conn, "SELECT simulated_through FROM agents_src.generator_state") == today + dt.timedelta(days=2)
    new_days = rows(conn, """SELECT DISTINCT (created_at AT TIME ZONE 'UTC')::date FROM agents_src.agent_queries
                             WHERE query_id > %s ORDER BY 1""", (before,))
    assert [d[0] for d in new_days] == [today, today + dt.timedelta(days=1), today + dt.timedelta(days=2)]
    # the requests pending before are resolved (or expired) later, after they were made
    assert scalar(conn, """SELECT count(*) FROM agents_src.agent_approvals
                           WHERE approval_id = ANY (%s) AND status <> 'pending' AND resolved_at >= created_at
                             AND resolved_at >= %s::date::timestamp AT TIME ZONE 'UTC'""", (pending, today)) >= 3
    # agent changes with their own change time
    assert scalar(conn, "SELECT count(*) FROM agents_src.agents WHERE updated_at >= %s::date::timestamp AT TIME ZONE 'UTC'", (today,)) > 0


# ---------------------------------------------------------------------------------------------------
# Seed errors fixed in the DDL
# ---------------------------------------------------------------------------------------------------

def test_dim_agent_checks_the_seeds_types_and_allows_unknown_type_only_on_inferred_members(conn):
    with pytest.raises(psycopg.errors.CheckViolation):
        add_agent(conn, agent_type="unknown")
    with pytest.raises(psycopg.errors.CheckViolation):
        add_agent(conn, name="x", agent_type=None)
    assert add_agent(conn, name="x", agent_type=None, inferred=True)


def test_type2_natural_keys_are_unique_among_current_versions_only(conn):
    add_agent(conn, name="data")
    # a second version is possible once the first is closed (the seed's UNIQUE (agent_name) refused it) ...
    conn.execute("UPDATE agents.dim_agent SET valid_to = '2025-06-01 00:00+00', is_current = false WHERE agent_name = 'data'")
    conn.execute("""INSERT INTO agents.dim_agent (agent_name, agent_type, valid_from, version, _batch_id)
                    VALUES ('data', 'data', '2025-06-01 00:00+00', 2, gen_random_uuid())""")
    # ... but never two current versions, nor overlapping ones
    with pytest.raises((psycopg.errors.UniqueViolation, psycopg.errors.ExclusionViolation)):
        conn.execute("""INSERT INTO agents.dim_agent (agent_name, agent_type, valid_from, version, _batch_id)
                        VALUES ('data', 'data', '2025-07-01 00:00+00', 3, gen_random_uuid())""")
    with pytest.raises(psycopg.errors.ExclusionViolation):
        conn.execute("""INSERT INTO agents.dim_agent (agent_name, agent_type, valid_from, valid_to, is_current, version, _batch_id)
                        VALUES ('data', 'data', '2025-05-01 00:00+00', '2025-07-01 00:00+00', false, 3, gen_random_uuid())""")
    # the unique indexes on the natural keys are partial: current versions only
    assert rows(conn, """SELECT indexrelid::regclass::text, pg_get_expr(indpred, indrelid) FROM pg_index
                         WHERE indrelid IN ('agents.dim_agent'::regclass, 'agents.dim_user'::regclass) AND indisunique
                           AND NOT indisprimary AND indnatts = 1 ORDER BY 1""") == [
        ("agents.dim_agent_current_uq", "is_current"), ("agents.dim_user_current_uq", "is_current")]
    # the same for dim_user
    add_user(conn, "u1")
    conn.execute("UPDATE agents.dim_user SET valid_to = '2025-06-01 00:00+00', is_current = false")
    conn.execute("""INSERT INTO agents.dim_user (user_id, user_type, team, valid_from, version, _batch_id)
                    VALUES ('u1', 'annotator', 'growth', '2025-06-01 00:00+00', 2, gen_random_uuid())""")
    with pytest.raises((psycopg.errors.UniqueViolation, psycopg.errors.ExclusionViolation)):
        conn.execute("""INSERT INTO agents.dim_user (user_id, user_type, valid_from, version, _batch_id)
                        VALUES ('u1', 'annotator', '2025-08-01 00:00+00', 3, gen_random_uuid())""")


def test_facts_carry_their_source_id_under_a_unique_constraint(conn):
    agent, conv = add_agent(conn), add_conversation(conn)
    insert = """INSERT INTO agents.fact_agent_query (query_id, agent_key, time_key, conv_key, query_hash, latency_ms, created_at, _batch_id)
                VALUES (7, %s, 20250301, %s, md5('q'), 120, '2025-03-01 10:00+00', gen_random_uuid())"""
    conn.execute(insert, (agent, conv))
    with pytest.raises(psycopg.errors.UniqueViolation):
        conn.execute(insert, (agent, conv))
    for table, column in (("fact_approval", "approval_id"), ("fact_training", "feedback_id")):
        assert scalar(conn, """SELECT count(*) FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'u'
                               AND conkey = ARRAY[(SELECT attnum FROM pg_attribute WHERE attrelid = %s::regclass AND attname = %s)]""",
                      (f"agents.{table}", f"agents.{table}", column)) == 1


def test_overall_score_is_the_mean_of_the_scores_given(conn):
    agent, conv, user = add_agent(conn), add_conversation(conn), add_user(conn)
    cases = [(1, 5, 5, None, decimal.Decimal("5.00")), (2, 4, 3, 3, decimal.Decimal("3.33")),
             (3, None, None, None, None), (4, None, 2, None, decimal.Decimal("2.00"))]
    for fid, c, a, t, _ in cases:
        conn.execute("""INSERT INTO agents.fact_training (feedback_id, agent_key, time_key, conv_key, annotator_key, clarity_score,
                                                          accuracy_score, tone_score, created_at, _batch_id)
                        VALUES (%s, %s, 20250301, %s, %s, %s, %s, %s, '2025-03-01 10:00+00', gen_random_uuid())""",
                     (fid, agent, conv, user, c, a, t))
    assert rows(conn, "SELECT feedback_id, overall_score FROM agents.fact_training ORDER BY 1") == [
        (fid, expected) for fid, _, _, _, expected in cases]
    with pytest.raises(psycopg.errors.CheckViolation):
        conn.execute("""INSERT INTO agents.fact_training (feedback_id, time_key, conv_key, clarity_score, created_at, _batch_id)
                        VALUES (9, 20250301, %s, 6, '2025-03-01 10:00+00', gen_random_uuid())""", (conv,))


def test_fact_approval_is_an_accumulating_snapshot_with_generated_resolution_and_sla(conn):
    agent, conv, user = add_agent(conn, sla=600), add_conversation(conn), add_user(conn, "approver1", "approver")
    for aid in (1, 2, 3):
        conn.execute("""INSERT INTO agents.fact_approval (approval_id, agent_key, time_key, conv_key, status, sla_target_seconds,
                                                          created_at, _batch_id)
                        VALUES (%s, %s, 20250301, %s, 'pending', 600, '2025-03-01 10:00+00', gen_random_uuid())""", (aid, agent, conv))
    assert rows(conn, "SELECT resolution_time_seconds, sla_met FROM agents.fact_approval WHERE approval_id = 1") == [(None, None)]
    # resolved later: the same row is updated
    conn.execute("""UPDATE agents.fact_approval SET status = 'approved', resolved_at = '2025-03-01 10:05+00', approved_by_key = %s,
                           resolved_time_key = 20250301, _updated_at = now() WHERE approval_id = 1""", (user,))
    conn.execute("""UPDATE agents.fact_approval SET status = 'rejected', resolved_at = '2025-03-01 13:00+00', approved_by_key = %s,
                           resolved_time_key = 20250301 WHERE approval_id = 2""", (user,))
    conn.execute("""UPDATE agents.fact_approval SET status = 'expired', resolved_at = '2025-03-02 10:00+00', resolved_time_key = 20250302
                    WHERE approval_id = 3""")
    assert rows(conn, "SELECT approval_id, status, resolution_time_seconds, sla_met FROM agents.fact_approval ORDER BY 1") == [
        (1, "approved", 300, True), (2, "rejected", 10800, False), (3, "expired", 86400, False)]
    assert scalar(conn, "SELECT count(*) FROM agents.fact_approval") == 3
    with pytest.raises(psycopg.errors.CheckViolation):  # resolution before the request
        conn.execute("UPDATE agents.fact_approval SET resolved_at = '2025-03-01 09:00+00' WHERE approval_id = 1")
    with pytest.raises(psycopg.errors.CheckViolation):  # pending with a resolution
        conn.execute("UPDATE agents.fact_approval SET status = 'pending' WHERE approval_id = 1")
    with pytest.raises(psycopg.errors.CheckViolation):
        conn.execute("UPDATE agents.fact_approval SET status = 'lost' WHERE approval_id = 1")


def test_the_aggregate_has_a_primary_key_on_its_grain(conn):
    assert rows(conn, """SELECT a.attname FROM pg_index AS i
                         JOIN pg_attribute AS a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
                         WHERE i.indrelid = 'agents.agg_agent_daily_performance'::regclass AND i.indisprimary ORDER BY 1""") == [
        ("agent_key",), ("time_key",)]


# ---------------------------------------------------------------------------------------------------
# The seed's routines, fixed
# ---------------------------------------------------------------------------------------------------

def test_populate_dim_time_compiles_and_names_days_and_iso_weeks_correctly(conn):
    conn.execute("SET TimeZone = 'America/Los_Angeles'")
    conn.execute("DELETE FROM gold.dim_date WHERE full_date > '2031-12-31'")
    added = scalar(conn, "SELECT agents.populate_dim_time('2032-01-01', '2032-01-10')")
    assert added == 10
    assert scalar(conn, "SELECT agents.populate_dim_time('2032-01-01', '2032-01-10')") == 0
    conn.execute("SET search_path = agents, gold")
    assert rows(conn, """SELECT full_date, time_key, day_name, month_name, year, week, iso_year, day_of_week
                         FROM dim_time WHERE full_date IN ('2025-12-29', '2027-01-01') ORDER BY 1""") == [
        (dt.date(2025, 12, 29), 20251229, "Monday", "December", 2025, 1, 2026, 1),
        (dt.date(2027, 1, 1), 20270101, "Friday", "January", 2027, 53, 2026, 5)]
    with pytest.raises(psycopg.errors.InvalidParameterValue):
        conn.execute("SELECT agents.populate_dim_time('2032-01-10', '2032-01-01')")


def test_update_dim_agent_adds_a_version_keeping_the_other_attributes(conn):
    conn.execute("""INSERT INTO agents.dim_agent (agent_name, agent_type, capabilities, sla_target_seconds, cost_per_query_usd,
                                                  valid_from, _batch_id)
                    VALUES ('engineer', 'engineer', '["code", "debug"]', 600, 0.012, '2025-01-01 00:00+00', gen_random_uuid())""")
    old_key = scalar(conn, "SELECT agent_key FROM agents.dim_agent WHERE agent_name = 'engineer'")

    new_key = scalar(conn, """SELECT agents.update_dim_agent('engineer', '["code", "debug", "deploy"]')""")

    assert new_key != old_key
    assert rows(conn, """SELECT version, agent_type, capabilities, sla_target_seconds, cost_per_query_usd, is_current,
                                valid_to IS NULL
                         FROM agents.dim_agent WHERE agent_name = 'engineer' ORDER BY version""") == [
        (1, "engineer", ["code", "debug"], 600, decimal.Decimal("0.012000"), False, False),
        (2, "engineer", ["code", "debug", "deploy"], 600, decimal.Decimal("0.012000"), True, True)]
    assert scalar(conn, """SELECT bool_and(v1.valid_to = v2.valid_from) FROM agents.dim_agent AS v1
                           JOIN agents.dim_agent AS v2 ON v2.agent_name = v1.agent_name AND v2.version = 2
                           WHERE v1.agent_name = 'engineer' AND v1.version = 1""")
    # the same capabilities again: no new version
    assert scalar(conn, """SELECT agents.update_dim_agent('engineer', '["code", "debug", "deploy"]')""") == new_key
    assert scalar(conn, "SELECT count(*) FROM agents.dim_agent WHERE agent_name = 'engineer'") == 2
    with pytest.raises(psycopg.errors.NoDataFound):
        conn.execute("""SELECT agents.update_dim_agent('nobody', '[]')""")
    with pytest.raises(psycopg.errors.InvalidParameterValue):
        conn.execute("""SELECT agents.update_dim_agent('engineer', '{"code": 1}')""")


def insert_silver_query(conn, query_id, agent, conversation, created_at, approved=True, edited=False, error=False, latency=100):
    conn.execute("""INSERT INTO silver.agents_agent_queries (query_id, conversation_id, agent, user_id, query, latency_ms, approved,
                                                             human_edited, error_occurred, created_at, updated_at, _batch_id)
                    VALUES (%s, %s, %s, 'u1', 'q' || %s, %s, %s, %s, %s, %s, %s, gen_random_uuid())""",
                 (query_id, conversation, agent, query_id, latency, approved, edited, error, created_at, created_at))


def test_etl_load_agent_queries_uses_inferred_members_dates_in_utc_and_is_idempotent(conn):
    add_agent(conn, name="data", valid_from="2024-12-01 00:00+00")
    add_user(conn, "u1")
    insert_silver_query(conn, 1, "data", "c-known", "2025-03-01 02:00+00")
    insert_silver_query(conn, 2, "brand-new-agent", "c-unknown", "2025-03-01 23:30+00", error=True)
    insert_silver_query(conn, 3, "data", "c-unknown", "2025-03-02 00:30+00")
    conn.execute("""INSERT INTO agents.dim_conversation (conversation_id, first_seen_at, last_seen_at, _batch_id)
                    VALUES ('c-known', '2025-03-01 01:00+00', '2025-03-01 01:00+00', gen_random_uuid())""")
    # the session's zone does not move a 02:00 UTC query off its UTC day (the seed's DATE(created_at) did)
    conn.execute("SET TimeZone = 'America/Los_Angeles'")

    assert rows(conn, "SELECT * FROM agents.etl_load_agent_queries('2025-03-01')") == [(2,)]

    assert rows(conn, """SELECT f.query_id, a.agent_name, a.is_inferred, c.conversation_id, c.is_inferred, f.time_key, f.error_occurred
                         FROM agents.fact_agent_query AS f
                         JOIN agents.dim_agent AS a ON a.agent_key = f.agent_key
                         JOIN agents.dim_conversation AS c ON c.conv_key = f.conv_key ORDER BY 1""") == [
        (1, "data", False, "c-known", False, 20250301, False),
        (2, "brand-new-agent", True, "c-unknown", True, 20250301, True)]
    assert rows(conn, "SELECT * FROM agents.etl_load_agent_queries('2025-03-01')") == [(0,)]
    assert rows(conn, "SELECT * FROM agents.etl_load_agent_queries('2025-03-02')") == [(1,)]
    assert rows(conn, """SELECT conversation_id, total_queries FROM agents.dim_conversation ORDER BY 1""") == [
        ("c-known", 1), ("c-unknown", 2)]
    # a later review updates the fact in place
    conn.execute("UPDATE silver.agents_agent_queries SET approved = false, human_edited = true WHERE query_id = 1")
    assert rows(conn, "SELECT * FROM agents.etl_load_agent_queries('2025-03-01')") == [(0,)]
    assert rows(conn, "SELECT approved, human_edited FROM agents.fact_agent_query WHERE query_id = 1") == [(False, True)]


def test_refresh_agg_agent_daily_performance_computes_every_column_for_the_day_only(conn):
    a1, a2 = add_agent(conn, "data"), add_agent(conn, "support", "support")
    conv, user = add_conversation(conn), add_user(conn)
    latencies = [100, 200, 300, 400, 1000]
    for i, lat in enumerate(latencies, start=1):
        conn.execute("""INSERT INTO agents.fact_agent_query (query_id, agent_key, time_key, conv_key, query_hash, latency_ms, approved,
                                                             human_edited, error_occurred, created_at, _batch_id)
                        VALUES (%s, %s, 20250301, %s, 'h', %s, %s, %s, %s, '2025-03-01 10:00+00', gen_random_uuid())""",
                     (i, a1, conv, lat, i <= 3, i == 1, i == 5))
    conn.execute("""INSERT INTO agents.fact_agent_query (query_id, agent_key, time_key, conv_key, query_hash, latency_ms, created_at, _batch_id)
                    VALUES (99, %s, 20250302, %s, 'h', 50, '2025-03-02 10:00+00', gen_random_uuid())""", (a1, conv))
    for aid, status, resolved in ((1, "approved", "10:04"), (2, "rejected", "12:00"), (3, "pending", None)):
        conn.execute("""INSERT INTO agents.fact_approval (approval_id, agent_key, time_key, conv_key, status, sla_target_seconds,
                                                          created_at, resolved_at, _batch_id)
                        VALUES (%s, %s, 20250301, %s, %s, 300, '2025-03-01 10:00+00', %s, gen_random_uuid())""",
                     (aid, a1, conv, status, None if resolved is None else f"2025-03-01 {resolved}+00"))
    for fid, agent, safe in ((1, a1, False), (2, a1, True), (3, a2, False)):
        conn.execute("""INSERT INTO agents.fact_training (feedback_id, agent_key, time_key, conv_key, annotator_key, safe_to_send,
                                                          created_at, _batch_id)
                        VALUES (%s, %s, 20250301, %s, %s, %s, '2025-03-01 10:00+00', gen_random_uuid())""", (fid, agent, conv, user, safe))
    conn.execute("SET TimeZone = 'Asia/Tokyo'")

    assert scalar(conn, "SELECT agents.refresh_agg_agent_daily_performance('2025-03-01')") == 2
    assert scalar(conn, "SELECT agents.refresh_agg_agent_daily_performance('2025-03-01')") == 2  # rerun: same rows

    D = decimal.Decimal
    assert rows(conn, """SELECT agent_key, time_key, total_queries, avg_latency_ms, p95_latency_ms, approval_rate_pct, edit_rate_pct,
                                error_rate_pct, total_approvals, total_feedback, unsafe_feedback_count, sla_compliance_pct
                         FROM agents.agg_agent_daily_performance ORDER BY agent_key""") == [
        (a1, 20250301, 5, D("400.00"), D("880.00"), D("60.00"), D("20.00"), D("20.00"), 3, 2, 1, D("50.00")),
        (a2, 20250301, 0, None, None, None, None, None, 0, 1, 1, None)]
    # an independent computation of p95 and the day-only scope
    assert scalar(conn, "SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY x) FROM unnest(%s::int[]) AS x", (latencies,)) == pytest.approx(880.0)
    assert scalar(conn, "SELECT count(*) FROM agents.agg_agent_daily_performance WHERE time_key = 20250302") == 0


# ---------------------------------------------------------------------------------------------------
# The views the generic kinds will read
# ---------------------------------------------------------------------------------------------------

def test_the_typing_views_trim_type_and_give_reasons(conn):
    conn.execute("SET TimeZone = 'Pacific/Auckland'")
    conn.execute("SET DateStyle = 'SQL, DMY'")
    conn.execute("""INSERT INTO bronze.agents_agent_feedback (feedback_id, query_id, conversation_id, agent, annotator_id, safe_to_send,
                        clarity_score, accuracy_score, tone_score, labels, created_at, annotated_at, updated_at, _batch_id, _source)
                    VALUES (' 5 ', '7', E'c1\u00a0', 'data', 'u1', 'f', '5', '', '3', '{helpful,verbose}',
                            '2025-03-01 02:00:00+00', '2025-03-01 03:00:00+00', '2025-03-01 03:00:00+00', gen_random_uuid(), 't'),
                           ('6', 'x', 'c1', 'data', 'u1', 'maybe', '9', '2', '3', '{}',
                            '01/03/2025', '2025-02-01 00:00:00+00', '2025-03-01 03:00:00+00', gen_random_uuid(), 't')""")
    good, bad = rows(conn, """SELECT feedback_id, conversation_id, safe_to_send, clarity_score, accuracy_score, labels,
                                     created_at = '2025-03-01 02:00:00+00'::timestamptz, _reasons
                              FROM silver.agents_agent_feedback_typed ORDER BY _bronze_id""")
    assert good == (5, "c1", False, 5, None, ["helpful", "verbose"], True, [])
    assert bad[0] == 6
    assert sorted(r.split()[0] for r in bad[-1]) == ["clarity_score", "created_at", "query_id", "safe_to_send"], bad[-1]


def test_the_fact_views_date_events_in_the_areas_zone(conn):
    insert_silver_query(conn, 1, "data", "c1", "2025-03-01 02:00+00")
    conn.execute("SET TimeZone = 'America/Los_Angeles'")
    assert rows(conn, "SELECT query_id, time_key, agent_name FROM silver.agents_fact_agent_query_source") == [(1, 20250301, "data")]
    conn.execute("UPDATE dwh_etl.settings SET value = 'America/Los_Angeles' WHERE key = 'agents.timezone'")
    assert rows(conn, "SELECT time_key FROM silver.agents_fact_agent_query_source") == [(20250228,)]
