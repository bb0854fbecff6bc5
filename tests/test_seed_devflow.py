"""Seed 000 (devflow), what its users reach for (issue 18): the seed's own writes into the Type 1
dimensions, populate_dim_time to the 2030 horizon, dim_issue.created_at and the KPIs (lead time, lines
per hour, cost per line, agent utilization, system health score), etl_job_performance, the retention of
fact_issue_processing into its archive, and the monthly maintenance pipeline."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import psycopg
import pytest


def scalar(conn, sql, params=None):
    return conn.execute(sql, params).fetchone()[0]


def rows(conn, sql, params=None):
    return conn.execute(sql, params).fetchall()


def run(conn, pipeline):
    return scalar(conn, "CALL dwh_etl.run_pipeline(p_pipeline => %s, p_run_id => NULL)", (pipeline,))


@pytest.fixture
def week(devflow_week, conn):
    """A generated devflow week loaded by `daily` (tests/conftest.py devflow_week_template)."""
    return conn


# -- the seed's writes into the Type 1 dimensions ------------------------------------------------------
def test_the_seeds_insert_on_conflict_writes_the_type1_dimensions(week):
    conn = week
    conn.execute("SET search_path = devflow, gold")
    agents = scalar(conn, "SELECT count(*) FROM dim_agent")
    upsert = """
        INSERT INTO dim_agent (agent_id, agent_name, agent_type, agent_category, ai_model, cost_per_hour_usd)
        VALUES (%s, %s, 'CodeGen', 'Technical', 'claude', 1.5)
        ON CONFLICT (agent_id) DO UPDATE
        SET agent_name = EXCLUDED.agent_name, ai_model = EXCLUDED.ai_model, updated_at = now()"""
    conn.execute(upsert, ("agent-seed-new", "SeedAgent"))          # a new agent: plain INSERT defaults
    conn.execute(upsert, ("agent-codegen", "CodeGenAgent v2"))     # an existing one: updated in place
    assert scalar(conn, "SELECT count(*) FROM dim_agent") == agents + 1
    assert rows(conn, """SELECT agent_name, version, is_current, valid_from IS NOT NULL, _batch_id IS NOT NULL
                         FROM dim_agent WHERE agent_id IN ('agent-seed-new', 'agent-codegen') ORDER BY agent_id""") == [
        ("CodeGenAgent v2", 1, True, True, True), ("SeedAgent", 1, True, True, True)]
    conn.execute("""INSERT INTO dim_label (label_name, label_category) VALUES ('seed:label', 'Custom')
                    ON CONFLICT (label_name) DO UPDATE SET label_category = EXCLUDED.label_category""")
    conn.execute("""INSERT INTO dim_worktree (worktree_path, branch_name, status) VALUES ('/wt/seed', 'seed', 'active')
                    ON CONFLICT (worktree_path) DO UPDATE SET status = EXCLUDED.status""")
    assert scalar(conn, "SELECT count(*) FROM dim_label WHERE label_name = 'seed:label' AND is_current") == 1
    # the engine's loads go on over them: a new source agent still gets its row, every key one row
    conn.execute("""INSERT INTO devflow_src.agents (agent_id, agent_name, agent_type, agent_category, created_at, updated_at)
                    VALUES ('agent-src-new', 'FromSource', 'Review', 'Technical', now(), now())""")
    run_id = run(conn, "daily")
    assert scalar(conn, "SELECT status FROM dwh_lineage.pipeline_runs WHERE run_id = %s", (run_id,)) == "completed"
    assert rows(conn, "SELECT agent_name, version, is_current FROM dim_agent WHERE agent_id = 'agent-src-new'") == [
        ("FromSource", 1, True)]
    assert scalar(conn, "SELECT count(*) = count(DISTINCT agent_id) FROM dim_agent") is True


def test_the_type2_dimensions_keep_their_versions(week):
    conn = week
    # only the Type 1 dimensions got a unique natural key; the SCD2 ones keep one row per (key, version)
    unique_on_key_alone = rows(conn, """
        SELECT c.conrelid::regclass::text
        FROM pg_constraint AS c
        WHERE c.contype = 'u' AND c.conrelid::regclass::text LIKE 'devflow.dim_%%' AND cardinality(c.conkey) = 1
        ORDER BY 1""")
    assert unique_on_key_alone == [("devflow.dim_agent",), ("devflow.dim_label",), ("devflow.dim_worktree",)]
    assert scalar(conn, "SELECT count(*) FROM dwh_etl.dimension_specs WHERE target_table IN "
                        "('devflow.dim_agent', 'devflow.dim_label', 'devflow.dim_worktree') AND cardinality(type2_columns) > 0") == 0
    # a second version of an issue is still made (a priority change)
    issue = scalar(conn, "SELECT id FROM devflow_src.issues ORDER BY id LIMIT 1")
    conn.execute("""UPDATE devflow_src.issues SET priority = CASE priority WHEN 'P0' THEN 'P1' ELSE 'P0' END,
                    updated_at = now() WHERE id = %s""", (issue,))
    before = scalar(conn, "SELECT max(version) FROM devflow.dim_issue WHERE issue_id = %s", (issue,))
    run(conn, "daily")
    assert scalar(conn, "SELECT max(version) FROM devflow.dim_issue WHERE issue_id = %s", (issue,)) == before + 1


# -- the calendar ------------------------------------------------------------------------------------------
def test_populate_dim_time_makes_the_calendar_reach_2030(conn):
    conn.execute("SET search_path = devflow, gold")
    added = scalar(conn, "SELECT populate_dim_time('2020-01-01', '2030-12-31')")
    assert added > 0
    assert rows(conn, "SELECT min(full_date), max(full_date), count(*) FROM dim_time WHERE full_date BETWEEN '2020-01-01' AND '2030-12-31'") == [
        (dt.date(2020, 1, 1), dt.date(2030, 12, 31), (dt.date(2030, 12, 31) - dt.date(2020, 1, 1)).days + 1)]
    assert scalar(conn, "SELECT populate_dim_time('2020-01-01', '2030-12-31')") == 0  # idempotent
    with pytest.raises(psycopg.errors.InvalidParameterValue):
        conn.execute("SELECT populate_dim_time('2030-01-01', '2020-01-01')")


# -- created_at and the KPIs -------------------------------------------------------------------------------
def test_dim_issue_created_at_and_the_issue_lead_time(week):
    conn = week
    assert scalar(conn, """SELECT count(*) FROM devflow.dim_issue AS d JOIN silver.devflow_issues AS s ON s.id = d.issue_id
                           WHERE d.created_at IS DISTINCT FROM s.created_at""") == 0
    assert scalar(conn, "SELECT count(*) FROM devflow.dim_issue WHERE created_at IS NULL") == 0
    expected = rows(conn, """
        SELECT s.id, round(extract(epoch FROM max(f.completed_at) - s.created_at) / 3600, 2),
               round(extract(epoch FROM max(f.completed_at) - min(f.started_at)) / 3600, 2)
        FROM devflow.fact_issue_processing AS f
        JOIN silver.devflow_issues AS s ON s.number = f.issue_number
        GROUP BY s.id, s.created_at ORDER BY 1""")
    assert expected
    assert rows(conn, "SELECT issue_id, lead_time_hours, cycle_time_hours FROM devflow.kpi_issue_lead_time ORDER BY 1") == expected
    assert scalar(conn, "SELECT count(*) FROM devflow.kpi_issue_lead_time WHERE lead_time_hours < cycle_time_hours") == 0


def test_lines_per_hour_cost_per_line_and_agent_utilization(week):
    conn = week
    assert rows(conn, """
        SELECT k.time_key, k.agent_id, k.lines_per_hour, k.cost_per_line FROM devflow.kpi_code_generation_efficiency AS k
        EXCEPT
        SELECT f.time_key, a.agent_id,
               round(sum(f.total_lines_generated) / NULLIF(sum(f.generation_duration_ms) / 3600000.0, 0), 2),
               round(sum(f.ai_generation_cost_usd) / NULLIF(sum(f.total_lines_generated), 0), 6)
        FROM devflow.fact_code_generation AS f LEFT JOIN devflow.dim_agent AS a ON a.agent_key = f.agent_key
        GROUP BY 1, 2""") == []
    assert scalar(conn, "SELECT count(*) FROM devflow.kpi_code_generation_efficiency WHERE lines_per_hour > 0") > 0
    assert scalar(conn, "SELECT count(*) FROM devflow.kpi_agent_utilization") > 0
    assert rows(conn, """
        SELECT time_key, agent_id FROM devflow.kpi_agent_utilization
        WHERE abs(utilization_percent - 100 * busy_hours / capacity_hours) > 0.01
           OR utilization_percent NOT BETWEEN 0 AND 100""") == []
    assert scalar(conn, "SELECT sum(executions) FROM devflow.kpi_agent_utilization") == scalar(
        conn, "SELECT count(*) FROM devflow.fact_agent_execution WHERE agent_key IS NOT NULL")
    # an absurd concurrency does not break the view (24 x 2147483647 overflowed integer), and a zero or
    # negative one counts as unknown (1) in the capacity and the utilization alike
    with conn.transaction(force_rollback=True):
        big, zero, neg = [r[0] for r in rows(conn, """
            SELECT agent_id FROM devflow.dim_agent AS a
            WHERE EXISTS (SELECT 1 FROM devflow.fact_agent_execution AS f WHERE f.agent_key = a.agent_key)
            GROUP BY agent_id ORDER BY agent_id LIMIT 3""")]
        for agent, n in ((big, 2147483647), (zero, 0), (neg, -5)):
            conn.execute("UPDATE devflow.dim_agent SET max_concurrent_tasks = %s WHERE agent_id = %s", (n, agent))
        got = dict(rows(conn, """SELECT agent_id, max(capacity_hours) FROM devflow.kpi_agent_utilization
                                 WHERE agent_id = ANY (%s) GROUP BY 1""", ([big, zero, neg],)))
        assert got == {big: 24 * 2147483647, zero: 24, neg: 24}
        assert rows(conn, """SELECT time_key, agent_id FROM devflow.kpi_agent_utilization
                             WHERE abs(utilization_percent - 100 * busy_hours / capacity_hours) > 0.01""") == []


def test_system_health_score_is_the_percent_of_healthy_samples(week):
    conn = week
    health = rows(conn, "SELECT time_key, resource_id, samples, health_score FROM devflow.kpi_system_health ORDER BY 1, 2")
    assert health and all(0 <= h[3] <= 100 for h in health)
    assert sum(h[2] for h in health) == scalar(conn, "SELECT count(*) FROM devflow.fact_performance_metrics")
    # one resource-day by hand
    time_key, resource, samples, score = health[0]
    healthy = scalar(conn, """SELECT count(*) FROM devflow.fact_performance_metrics
                              WHERE time_key = %s AND resource_id = %s
                                AND COALESCE(cpu_utilization_percent < 85, true) AND COALESCE(memory_utilization_percent < 90, true)
                                AND COALESCE(disk_usage_percent < 90, true) AND COALESCE(error_rate < 0.05, true)
                                AND COALESCE(p95_latency_ms < 1000, true)""", (time_key, resource))
    assert score == round(Decimal(100) * healthy / samples, 2)


def test_etl_job_performance_lists_the_last_weeks_steps_as_the_seed_named_them(week):
    conn = week
    conn.execute("SET search_path = devflow, gold")
    jobs = rows(conn, "SELECT dag_id, task_id, execution_date, duration, state FROM etl_job_performance WHERE task_id = 'devflow_dimensions'")
    assert jobs and all(j[0] == "daily" and j[4] == "completed" and j[3] >= 0 for j in jobs)
    assert scalar(conn, "SELECT has_table_privilege('analyst_role', 'devflow.etl_job_performance', 'SELECT')") is False


# -- retention of fact_issue_processing --------------------------------------------------------------------
def test_old_issue_processing_moves_to_the_archive_once(week):
    conn = week
    total = scalar(conn, "SELECT count(*) FROM devflow.fact_issue_processing")
    old = scalar(conn, "SELECT array_agg(issue_processing_key ORDER BY issue_processing_key) FROM "
                       "(SELECT issue_processing_key FROM devflow.fact_issue_processing ORDER BY issue_processing_key LIMIT 3) AS s")
    conn.execute("""UPDATE devflow.fact_issue_processing
                    SET started_at = started_at - interval '3 years', completed_at = completed_at - interval '3 years'
                    WHERE issue_processing_key = ANY (%s)""", (old,))
    run_id = scalar(conn, "CALL dwh_etl.run_pipeline(p_pipeline => 'maintenance', p_steps => ARRAY['devflow_archive_issue_processing'], p_run_id => NULL)")
    assert rows(conn, "SELECT step_name, status FROM dwh_lineage.step_runs WHERE run_id = %s AND status <> 'skipped'", (run_id,)) == [
        ("devflow_archive_issue_processing", "completed")]
    assert scalar(conn, "SELECT array_agg(issue_processing_key ORDER BY issue_processing_key) FROM devflow.fact_issue_processing_archive") == old
    assert scalar(conn, "SELECT count(*) FROM devflow.fact_issue_processing") == total - 3
    assert rows(conn, "SELECT rows_inserted, rows_deleted FROM dwh_lineage.table_lineage WHERE run_id = %s", (run_id,)) == [(3, 3)]
    conn.execute("CALL devflow.archive_issue_processing(NULL, CURRENT_DATE)")  # nothing more is old enough
    assert scalar(conn, "SELECT count(*) FROM devflow.fact_issue_processing_archive") == 3
    # a backfill run date never archives more than today would
    conn.execute("CALL devflow.archive_issue_processing(NULL, DATE '2099-01-01')")
    assert scalar(conn, "SELECT count(*) FROM devflow.fact_issue_processing") == total - 3


# -- monthly maintenance -------------------------------------------------------------------------------
def test_monthly_maintenance_vacuums_and_reindexes_where_it_pays(week):
    conn = week
    conn.execute("DELETE FROM devflow.fact_agent_execution WHERE execution_key % 2 = 0")
    conn.execute("SELECT pg_stat_force_next_flush()")
    conn.execute("""INSERT INTO dwh_etl.settings (key, value) VALUES ('vacuum.min_dead_rows', '10'),
                    ('reindex.min_pages', '1'), ('reindex.max_leaf_density', '100')
                    ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value""")
    notices = []
    conn.add_notice_handler(lambda d: notices.append(d.message_primary))
    conn.execute("INSERT INTO dwh_etl.settings (key, value) VALUES ('maintenance.monthly_day', %s) "
                 "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value", (str(dt.datetime.now(dt.timezone.utc).day),))
    run_id = scalar(conn, "CALL dwh_etl.run_pipeline(p_pipeline => 'maintenance', p_steps => ARRAY['vacuum', 'reindex', 'statement_stats'], "
                          "p_run_date => (now() AT TIME ZONE 'UTC')::date, p_run_id => NULL)")
    assert rows(conn, "SELECT step_name, status FROM dwh_lineage.step_runs WHERE run_id = %s AND status <> 'skipped' ORDER BY step_order", (run_id,)) == [
        ("vacuum", "completed"), ("reindex", "completed"), ("statement_stats", "completed")]
    assert any(n.startswith("vacuumed devflow.fact_agent_execution") for n in notices)
    assert scalar(conn, "SELECT n_dead_tup FROM pg_stat_all_tables WHERE relid = 'devflow.fact_agent_execution'::regclass") == 0
    if scalar(conn, "SELECT to_regprocedure('dwh_remote.pgstatindex(regclass)') IS NOT NULL"):
        assert any(n.startswith("reindexed ") for n in notices)
    # pg_stat_statements is not preloaded in the test cluster: the step says so and succeeds
    assert any(n.startswith("statement_stats: pg_stat_statements is not") for n in notices)
    # on another day of the month, in a run, the monthly steps say so and do nothing
    conn.execute("UPDATE dwh_etl.settings SET value = %s WHERE key = 'maintenance.monthly_day'",
                 (str(dt.datetime.now(dt.timezone.utc).day % 28 + 1),))
    notices.clear()
    run_id = scalar(conn, "CALL dwh_etl.run_pipeline(p_pipeline => 'maintenance', p_steps => ARRAY['reindex'], "
                          "p_run_date => (now() AT TIME ZONE 'UTC')::date, p_run_id => NULL)")
    assert any(n.startswith("reindex: monthly, on day") for n in notices)
    assert not any(n.startswith("reindexed ") for n in notices)
    # the security-definer helpers act on registered tables only
    conn.execute("CREATE TABLE public.not_registered (id int PRIMARY KEY)")
    for kind, obj in (("vacuum", "public.not_registered"), ("reindex", "public.not_registered_pkey")):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT dwh_etl.sec_vacuum(%s::regclass, %s)", (obj, kind))
