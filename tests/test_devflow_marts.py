"""The devflow marts (seed 000): DORA figures, agent performance and infrastructure cost against
independent computations from devflow_src, the seed's mart queries unchanged, and unique indexes that
match each mart's grain so REFRESH ... CONCURRENTLY works.
"""

import datetime as dt
from collections import defaultdict

import pytest

RUN_SQL = "CALL dwh_etl.run_pipeline(p_pipeline => %s, p_run_date => CURRENT_DATE, p_run_id => NULL)"

SEED_MART_DEVELOPMENT_PERFORMANCE = """
SELECT
    dt.year,
    dt.quarter,
    dt.month,
    dt.week_of_year,
    di.priority,
    di.complexity,
    da.agent_type,

    -- Volume Metrics
    COUNT(DISTINCT f.issue_processing_key) AS total_issues,
    SUM(f.files_modified) AS total_files_modified,
    SUM(f.lines_of_code_generated) AS total_lines_generated,

    -- Time Metrics
    AVG(f.processing_duration_seconds) AS avg_processing_time_seconds,
    PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY f.processing_duration_seconds) AS median_processing_time,
    PERCENTILE_CONT(0.95) WITHIN GROUP (ORDER BY f.processing_duration_seconds) AS p95_processing_time,

    -- Quality Metrics
    AVG(f.review_score) AS avg_review_score,
    AVG(f.test_coverage_percent) AS avg_test_coverage,
    SUM(f.clippy_warnings) AS total_clippy_warnings,
    SUM(f.fmt_issues) AS total_fmt_issues,

    -- Success Rates
    AVG(CASE WHEN f.build_success THEN 100.0 ELSE 0.0 END) AS build_success_rate,
    AVG(CASE WHEN f.test_success THEN 100.0 ELSE 0.0 END) AS test_success_rate,
    AVG(CASE WHEN f.deployment_success THEN 100.0 ELSE 0.0 END) AS deployment_success_rate,

    -- Cost Metrics
    SUM(f.ai_cost_usd) AS total_ai_cost_usd,
    SUM(f.infrastructure_cost_usd) AS total_infra_cost_usd,
    AVG(f.ai_cost_usd) AS avg_cost_per_issue,

    -- DORA Metrics
    COUNT(DISTINCT f.issue_processing_key) FILTER (WHERE f.deployment_success) /
        NULLIF(EXTRACT(DAY FROM MAX(f.completed_at) - MIN(f.started_at)), 0) AS deployment_frequency_per_day,
    AVG(f.processing_duration_seconds) FILTER (WHERE f.deployment_success) / 3600.0 AS mean_lead_time_hours,
    AVG(CASE WHEN NOT f.deployment_success THEN 100.0 ELSE 0.0 END) AS change_failure_rate

FROM fact_issue_processing f
JOIN dim_time dt ON f.time_key = dt.time_key
JOIN dim_issue di ON f.issue_key = di.issue_key AND di.is_current = TRUE
JOIN dim_agent da ON f.agent_key = da.agent_key

GROUP BY
    dt.year, dt.quarter, dt.month, dt.week_of_year,
    di.priority, di.complexity, da.agent_type
"""

SEED_MART_AGENT_PERFORMANCE = """
SELECT
    dt.year,
    dt.month,
    da.agent_name,
    da.agent_type,
    da.ai_model,

    -- Execution Metrics
    COUNT(*) AS total_executions,
    SUM(CASE WHEN f.success THEN 1 ELSE 0 END) AS successful_executions,
    AVG(CASE WHEN f.success THEN 100.0 ELSE 0.0 END) AS success_rate,

    -- Performance Metrics
    AVG(f.execution_duration_ms) AS avg_execution_ms,
    PERCENTILE_CONT(0.95) WITHIN GROUP (ORDER BY f.execution_duration_ms) AS p95_execution_ms,
    AVG(f.memory_usage_mb) AS avg_memory_mb,
    AVG(f.cpu_usage_percent) AS avg_cpu_percent,

    -- API & Cache Metrics
    SUM(f.api_calls_count) AS total_api_calls,
    AVG(f.cache_hit_rate) AS avg_cache_hit_rate,

    -- LLM Metrics
    SUM(f.llm_tokens_input) AS total_input_tokens,
    SUM(f.llm_tokens_output) AS total_output_tokens,
    SUM(f.llm_requests_count) AS total_llm_requests,
    SUM(f.llm_cost_usd) AS total_llm_cost,
    AVG(f.llm_cost_usd) AS avg_cost_per_execution,

    -- Error Metrics
    SUM(f.error_count) AS total_errors,
    SUM(f.retry_count) AS total_retries,

    -- Efficiency Metrics
    SUM(f.llm_tokens_output) / NULLIF(SUM(f.execution_duration_ms) / 1000.0, 0) AS tokens_per_second,
    SUM(f.llm_cost_usd) / NULLIF(COUNT(*), 0) AS cost_efficiency_score

FROM fact_agent_execution f
JOIN dim_time dt ON f.time_key = dt.time_key
JOIN dim_agent da ON f.agent_key = da.agent_key

GROUP BY dt.year, dt.month, da.agent_name, da.agent_type, da.ai_model
"""

SEED_MART_INFRASTRUCTURE_COST = """
SELECT
    dt.year,
    dt.month,
    dt.day_of_month,
    dinf.resource_type,
    dinf.region,
    dinf.instance_type,

    -- Deployment Metrics
    COUNT(DISTINCT fd.deployment_key) AS total_deployments,
    AVG(fd.deployment_duration_seconds) AS avg_deployment_duration,

    -- Cost Breakdown
    SUM(fd.infrastructure_cost_usd) AS total_infrastructure_cost,
    SUM(fd.data_transfer_cost_usd) AS total_data_transfer_cost,
    SUM(fd.total_cost_usd) AS total_cost,

    -- Resource Utilization (from performance metrics)
    AVG(fpm.cpu_utilization_percent) AS avg_cpu_utilization,
    AVG(fpm.memory_utilization_percent) AS avg_memory_utilization,
    AVG(fpm.disk_usage_percent) AS avg_disk_usage,

    -- Cost Efficiency
    SUM(fd.total_cost_usd) / NULLIF(COUNT(DISTINCT fd.deployment_key), 0) AS cost_per_deployment,
    SUM(fd.total_cost_usd) / NULLIF(SUM(fd.deployment_duration_seconds) / 3600.0, 0) AS cost_per_hour,

    -- Health Score
    AVG(fd.health_check_pass_rate) AS avg_health_score,
    SUM(fd.error_count) AS total_errors,
    SUM(fd.rollback_count) AS total_rollbacks

FROM fact_deployment fd
JOIN dim_time dt ON fd.time_key = dt.time_key
JOIN dim_infrastructure dinf ON fd.infrastructure_key = dinf.infrastructure_key AND dinf.is_current = TRUE
LEFT JOIN fact_performance_metrics fpm ON
    fpm.infrastructure_key = fd.infrastructure_key
    AND fpm.time_key = dt.time_key

GROUP BY
    dt.year, dt.month, dt.day_of_month,
    dinf.resource_type, dinf.region, dinf.instance_type
"""


def scalar(conn, sql, params=None):
    return conn.execute(sql, params).fetchone()[0]


def rows(conn, sql, params=None):
    return conn.execute(sql, params).fetchall()


@pytest.fixture
def loaded(devflow_week):
    """A generated week loaded by `daily` (a clone of one built once per session: tests/conftest.py)."""
    return devflow_week


def close(a, b):
    if a is None or b is None:
        return a is None and b is None
    return abs(float(a) - float(b)) < 1e-6


def period_days(year, month, week):
    first = dt.date(year, month, 1)
    days = 0
    d = first
    while d.month == month:
        if d.isocalendar()[1] == week:
            days += 1
        d += dt.timedelta(days=1)
    return days


def test_dora_metrics_equal_an_independent_computation(loaded):
    conn = loaded
    agent_type = dict(rows(conn, "SELECT agent_id, agent_type FROM devflow_src.agents"))
    issues = {}
    for issue_id, priority, complexity, started_at, started_date in rows(conn, """
            SELECT i.id, i.priority, i.complexity, min(e.started_at), min(e.started_at)::date
            FROM devflow_src.issues AS i
            JOIN devflow_src.agent_execution_logs AS e ON e.issue_id = i.id AND e.completed_at IS NOT NULL
            GROUP BY i.id"""):
        issues[issue_id] = dict(priority=priority, complexity=complexity, started_at=started_at, date=started_date)
    busy = defaultdict(lambda: defaultdict(dt.timedelta))
    for issue_id, agent_id, started, completed in rows(conn, """
            SELECT issue_id, agent_id, started_at, completed_at FROM devflow_src.agent_execution_logs
            WHERE completed_at IS NOT NULL"""):
        busy[issue_id][agent_id] += completed - started
    for issue_id, per_agent in busy.items():
        top = sorted(per_agent.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
        issues[issue_id]["agent_type"] = agent_type[top]
    production = defaultdict(list)
    for issue_id, status, completed in rows(conn, """
            SELECT issue_id, deployment_status, completed_at FROM devflow_src.deployment_pipelines
            WHERE environment = 'production' AND completed_at IS NOT NULL"""):
        production[issue_id].append((status, completed))

    groups = defaultdict(lambda: dict(issues=0, deployments=0, successes=0, failed=0, lead=[], recovery=[]))
    for issue_id, i in issues.items():
        d = i["date"]
        key = (d.year, (d.month - 1) // 3 + 1, d.month, d.isocalendar()[1], i["priority"], i["complexity"], i["agent_type"])
        g = groups[key]
        g["issues"] += 1
        deps = production.get(issue_id, [])
        successes = [c for s, c in deps if s == "SUCCESS"]
        g["deployments"] += len(deps)
        g["successes"] += len(successes)
        g["failed"] += sum(1 for s, _ in deps if s in ("FAILED", "ROLLED_BACK"))
        if successes:
            g["lead"].append((min(successes) - i["started_at"]).total_seconds() / 3600)
        for s, c in deps:
            if s in ("FAILED", "ROLLED_BACK"):
                later = [x for x in successes if x > c]
                if later:
                    g["recovery"].append((min(later) - c).total_seconds() / 3600)

    mart = {r[:7]: r[7:] for r in rows(conn, """
        SELECT year, quarter, month, week_of_year, priority, complexity, agent_type,
               total_issues, production_deployments, deployment_frequency_per_day, mean_lead_time_hours,
               change_failure_rate, mean_time_to_recovery_hours
        FROM devflow.mart_development_performance""")}
    assert set(mart) == set(groups)
    for key, g in groups.items():
        issues_n, deployments, freq, lead, cfr, mttr = mart[key]
        assert issues_n == g["issues"]
        assert deployments == g["deployments"]
        assert close(freq, g["successes"] / period_days(key[0], key[2], key[3])), key
        assert close(lead, sum(g["lead"]) / len(g["lead"]) if g["lead"] else None), key
        assert close(cfr, 100.0 * g["failed"] / g["deployments"] if g["deployments"] else None), key
        assert close(mttr, sum(g["recovery"]) / len(g["recovery"]) if g["recovery"] else None), key
    # a generated week has failures and recoveries to measure
    assert sum(g["failed"] for g in groups.values()) > 0
    assert sum(len(g["recovery"]) for g in groups.values()) > 0


def test_infrastructure_cost_mart_equals_an_independent_computation(loaded):
    conn = loaded
    resource = {r[0]: r[1:] for r in rows(conn, "SELECT resource_id, resource_type, region, instance_type FROM devflow_src.infrastructure")}
    deployments = rows(conn, """
        SELECT started_at::date, resource_id, infrastructure_cost_usd + data_transfer_cost_usd, deployment_duration_seconds
        FROM devflow_src.deployment_pipelines
        WHERE completed_at IS NOT NULL AND deployment_status IN ('SUCCESS', 'FAILED', 'ROLLED_BACK', 'PARTIAL')""")
    samples = defaultdict(list)
    for day, resource_id, cpu in rows(conn, """
            SELECT (e->>'timestamp')::timestamptz::date, e->>'resource_id', (e->'metrics'->>'cpu_utilization_percent')::numeric
            FROM devflow_src.api_payloads AS p CROSS JOIN LATERAL jsonb_array_elements(p.payload) AS e
            WHERE p.feed = 'metrics'"""):
        samples[(day, resource_id)].append(cpu)
    expected = defaultdict(lambda: dict(n=0, cost=0, cpu=[], pairs=set()))
    for day, resource_id, cost, _ in deployments:
        key = (day.year, day.month, day.day) + resource[resource_id]
        e = expected[key]
        e["n"] += 1
        e["cost"] += cost
        if (day, resource_id) not in e["pairs"]:
            e["pairs"].add((day, resource_id))
            e["cpu"] += samples[(day, resource_id)]
    mart = {r[:6]: r[6:] for r in rows(conn, """
        SELECT year, month, day_of_month, resource_type, region, instance_type, total_deployments, total_cost, avg_cpu_utilization
        FROM devflow.mart_infrastructure_cost""")}
    assert set(mart) == set(expected)
    for key, e in expected.items():
        n, cost, cpu = mart[key]
        assert n == e["n"] and cost == e["cost"], key
        assert close(cpu, sum(e["cpu"]) / len(e["cpu"])), key
    # the seed's query multiplies every deployment's cost by the number of samples it joins
    conn.execute("SET search_path = devflow, gold")
    seed_total = scalar(conn, f"SELECT sum(total_cost) FROM ({SEED_MART_INFRASTRUCTURE_COST}) AS s")
    conn.execute("RESET search_path")
    ours = sum(e["cost"] for e in expected.values())
    assert seed_total > 100 * ours


def test_agent_performance_mart_equals_an_independent_computation(loaded):
    conn = loaded
    expected = {r[:5]: r[5:] for r in rows(conn, """
        SELECT extract(year FROM e.started_at)::int, extract(month FROM e.started_at)::int, a.agent_name, a.agent_type, a.ai_model,
               count(*), count(*) FILTER (WHERE e.exit_code = 0), sum(e.llm_cost_usd), sum(e.llm_tokens_output)
        FROM devflow_src.agent_execution_logs AS e JOIN devflow_src.agents AS a USING (agent_id)
        WHERE e.completed_at IS NOT NULL
        GROUP BY 1, 2, 3, 4, 5""")}
    actual = {r[:5]: r[5:] for r in rows(conn, """
        SELECT year, month, agent_name, agent_type, ai_model, total_executions, successful_executions, total_llm_cost, total_output_tokens
        FROM devflow.mart_agent_performance""")}
    assert actual == expected


MART_GRAINS = {
    "mart_development_performance": ["year", "quarter", "month", "week_of_year", "priority", "complexity", "agent_type"],
    "mart_agent_performance": ["year", "month", "agent_name", "agent_type", "ai_model"],
    "mart_infrastructure_cost": ["year", "month", "day_of_month", "resource_type", "region", "instance_type"],
}


@pytest.mark.parametrize("mart", sorted(MART_GRAINS))
def test_unique_index_covers_the_grain_and_refresh_concurrently_works(loaded, mart):
    conn = loaded
    index_columns = rows(conn, """
        SELECT array_agg(a.attname::text ORDER BY k.ord)
        FROM pg_index AS i
        CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k (attnum, ord)
        JOIN pg_attribute AS a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
        WHERE i.indrelid = %s::regclass AND i.indisunique AND i.indpred IS NULL
        GROUP BY i.indexrelid""", (f"devflow.{mart}",))
    assert [MART_GRAINS[mart]] == [r[0] for r in index_columns]
    grain = ", ".join(MART_GRAINS[mart])
    assert scalar(conn, f"SELECT count(*) - count(DISTINCT ({grain})) FROM devflow.{mart}") == 0
    assert scalar(conn, f"SELECT count(*) FROM devflow.{mart}") > 0
    conn.execute("CALL devflow_src.generate_next_day()")
    conn.execute(RUN_SQL, ("daily",))
    conn.execute(f"REFRESH MATERIALIZED VIEW CONCURRENTLY devflow.{mart}")
    assert scalar(conn, f"""SELECT count(*) FROM dwh_lineage.table_lineage
                            WHERE target_table = 'devflow.{mart}'""") >= 2


def test_seed_mart_queries_run_unchanged(loaded):
    conn = loaded
    conn.execute("SET search_path = devflow, gold")
    for sql in (SEED_MART_DEVELOPMENT_PERFORMANCE, SEED_MART_AGENT_PERFORMANCE, SEED_MART_INFRASTRUCTURE_COST):
        assert len(rows(conn, sql)) > 0
    # the seed's dim_time population semantics: April fiscal year named after its first year
    assert rows(conn, "SELECT fiscal_year, fiscal_quarter, fiscal_month FROM dim_time WHERE full_date = '2025-05-15'") == [(2025, 1, 2)]
    conn.execute("RESET search_path")


def test_daily_refreshes_the_marts_after_the_load(loaded):
    conn = loaded
    before = scalar(conn, "SELECT sum(total_issues) FROM devflow.mart_development_performance")
    conn.execute("CALL devflow_src.generate_next_day()")
    conn.execute(RUN_SQL, ("daily",))
    after = scalar(conn, "SELECT sum(total_issues) FROM devflow.mart_development_performance")
    assert after == scalar(conn, "SELECT count(*) FROM devflow.fact_issue_processing")
    assert after > before
