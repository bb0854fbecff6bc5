"""The devflow subject area (seed 000) end to end: devflow_src -> bronze -> silver -> devflow star schema.

Every test works on its own fresh database (`conn` of tests/conftest.py: autocommit psycopg 3): it
generates a week of activity with devflow_src.generate and runs the registered pipelines. Expected
figures are computed independently from devflow_src.
"""

import datetime as dt
import json

import pytest

RUN_SQL = "CALL dwh_etl.run_pipeline(p_pipeline => %s, p_run_date => %s, p_run_id => NULL)"

DEVFLOW_TABLES = [
    "devflow.dim_issue", "devflow.dim_agent", "devflow.dim_label", "devflow.dim_worktree", "devflow.dim_infrastructure",
    "devflow.fact_issue_processing", "devflow.fact_code_generation", "devflow.fact_deployment",
    "devflow.fact_agent_execution", "devflow.fact_performance_metrics",
]

CONTENT_SQL = "SELECT md5(string_agg(t, '|' ORDER BY t)) FROM (" + " UNION ALL ".join(
    f"SELECT '{name}' || x::text AS t FROM {name} AS x" for name in DEVFLOW_TABLES) + ") AS c"


def scalar(conn, sql, params=None):
    return conn.execute(sql, params).fetchone()[0]


def rows(conn, sql, params=None):
    return conn.execute(sql, params).fetchall()


def run(conn, pipeline="daily", run_date=None):
    """Run a pipeline (for today by default); returns its run_id."""
    return conn.execute(RUN_SQL, (pipeline, run_date or dt.date.today())).fetchone()[0]


def steps(conn, run_id):
    return {r[0]: (r[1], r[2], r[3]) for r in rows(
        conn, "SELECT step_name, status, rows_read, rows_written FROM dwh_lineage.step_runs WHERE run_id = %s", (run_id,))}


def counts(conn):
    return {name: scalar(conn, f"SELECT count(*) FROM {name}") for name in DEVFLOW_TABLES}


@pytest.fixture
def generated(devflow_generated_template, conn):
    """A generated week, nothing loaded (conn: a clone of a database built so once: tests/conftest.py)."""
    return conn


@pytest.fixture
def loaded(devflow_week):
    """A generated week loaded by `daily` (a clone of one built once per session: tests/conftest.py)."""
    return devflow_week


# ------------------------------------------------------------------------------------------------
# grains and counts
# ------------------------------------------------------------------------------------------------

def test_generator_makes_a_realistic_week(generated):
    conn = generated
    issues = scalar(conn, "SELECT count(*) FROM devflow_src.issues")
    assert 100 <= issues <= 180  # about 20 a day
    per_issue = rows(conn, """
        SELECT avg(n_exec), avg(n_cg), avg(n_dep), bool_or(n_cg > 1), bool_or(n_dep > 2)
        FROM (SELECT i.id,
                     (SELECT count(*) FROM devflow_src.agent_execution_logs AS e WHERE e.issue_id = i.id) AS n_exec,
                     (SELECT count(*) FROM devflow_src.code_gen_tasks AS c WHERE c.issue_id = i.id) AS n_cg,
                     (SELECT count(*) FROM devflow_src.deployment_pipelines AS d WHERE d.issue_id = i.id) AS n_dep
              FROM devflow_src.issues AS i) AS s""")[0]
    assert per_issue[0] > 4 and per_issue[1] > 1 and per_issue[2] > 1.5
    assert per_issue[3] and per_issue[4]
    # every failed production deployment that is not the last one is followed by a successful one
    failed, recovered = rows(conn, """
        SELECT count(*), count(*) FILTER (WHERE EXISTS (
                   SELECT 1 FROM devflow_src.deployment_pipelines AS s
                   WHERE s.issue_id = f.issue_id AND s.environment = 'production' AND s.deployment_status = 'SUCCESS'
                     AND s.started_at > f.completed_at))
        FROM devflow_src.deployment_pipelines AS f
        WHERE f.environment = 'production' AND f.deployment_status IN ('FAILED', 'ROLLED_BACK')""")[0]
    assert failed >= 5 and recovered >= failed - 2
    assert scalar(conn, "SELECT count(*) FROM devflow_src.labels") == 57
    assert scalar(conn, "SELECT count(DISTINCT label_category) FROM devflow_src.labels") == 11
    # nothing is stamped in the future: the first run sees it all
    assert scalar(conn, "SELECT max(updated_at) <= now() FROM devflow_src.agent_execution_logs")


def test_daily_run_loads_every_grain_with_independent_counts(loaded):
    conn = loaded
    expected = rows(conn, """
        SELECT (SELECT count(*) FROM devflow_src.issues),
               (SELECT count(*) FROM devflow_src.agents),
               (SELECT count(*) FROM devflow_src.labels),
               (SELECT count(*) FROM devflow_src.worktree_states),
               (SELECT count(*) FROM devflow_src.infrastructure),
               (SELECT count(DISTINCT issue_id) FROM devflow_src.agent_execution_logs WHERE completed_at IS NOT NULL),
               (SELECT count(*) FROM devflow_src.code_gen_tasks),
               (SELECT count(*) FROM devflow_src.deployment_pipelines WHERE completed_at IS NOT NULL),
               (SELECT count(*) FROM devflow_src.agent_execution_logs WHERE completed_at IS NOT NULL),
               (SELECT sum(jsonb_array_length(payload)) FROM devflow_src.api_payloads WHERE feed = 'metrics')""")[0]
    assert tuple(counts(conn).values()) == expected
    assert scalar(conn, "SELECT count(*) FROM dwh_etl.quarantine") == 0
    assert scalar(conn, "SELECT count(*) FROM dwh_lineage.quality_metrics WHERE NOT passed AND severity = 'error'") == 0
    # the natural keys are unique: no fact multiplied by the seed's join
    for table, key in [("fact_issue_processing", "issue_number, started_at"), ("fact_code_generation", "code_gen_id"),
                       ("fact_deployment", "deployment_id"), ("fact_agent_execution", "execution_id"),
                       ("fact_performance_metrics", "resource_id, measured_at")]:
        assert scalar(conn, f"SELECT count(*) - count(DISTINCT ({key})) FROM devflow.{table}") == 0
    # the performance facts are partitioned monthly
    assert scalar(conn, """SELECT count(*) FROM pg_inherits
                           WHERE inhparent = 'devflow.fact_performance_metrics'::regclass""") >= 4


def test_dimensions_carry_the_seed_columns(loaded):
    conn = loaded
    assert dict(rows(conn, "SELECT label_category, count(*) FROM devflow.dim_label GROUP BY 1")) == {
        "Status": 8, "Priority": 5, "Type": 7, "Component": 7, "Effort": 5, "Impact": 4, "Technology": 5,
        "Phase": 5, "Quality": 4, "Meta": 4, "Custom": 3}
    # Type 2 names of the seed, derived from the engine's validity
    assert scalar(conn, """SELECT bool_and(effective_date = (valid_from AT TIME ZONE 'UTC')::date AND expiration_date IS NULL
                                         AND is_current AND version = 1)
                           FROM devflow.dim_issue""")
    # dim_time: the seed's April fiscal year over gold.dim_date
    row = rows(conn, """SELECT time_key, day_of_week, fiscal_year, fiscal_quarter, fiscal_month, fiscal_week, quarter_name
                        FROM devflow.dim_time WHERE full_date IN ('2025-04-01', '2025-03-31', '2025-06-30') ORDER BY full_date""")
    assert row == [(20250331, 1, 2024, 4, 12, 53, "Q1"), (20250401, 2, 2025, 1, 1, 1, "Q2"), (20250630, 1, 2025, 1, 3, 13, "Q2")]


def test_issue_processing_transform_matches_the_seed_rules(loaded):
    conn = loaded
    expected = rows(conn, """
        WITH ex AS (SELECT issue_id, min(started_at) AS s, max(completed_at) AS c, sum(llm_cost_usd) AS cost
                    FROM devflow_src.agent_execution_logs WHERE completed_at IS NOT NULL GROUP BY issue_id),
             dep AS (SELECT issue_id, max(completed_at) AS c, sum(infrastructure_cost_usd + data_transfer_cost_usd) AS cost
                     FROM devflow_src.deployment_pipelines WHERE completed_at IS NOT NULL GROUP BY issue_id)
        SELECT i.number, ex.s, greatest(ex.c, dep.c), ex.cost, coalesce(dep.cost, 0),
               coalesce((SELECT c.clippy_warnings = 0 AND c.fmt_issues = 0 FROM devflow_src.code_gen_tasks AS c
                         WHERE c.issue_id = i.id ORDER BY c.created_at DESC LIMIT 1), false),
               coalesce((SELECT r.test_coverage_percent > 70 FROM devflow_src.review_results AS r
                         WHERE r.issue_id = i.id ORDER BY r.reviewed_at DESC LIMIT 1), false),
               (SELECT d.deployment_status = 'SUCCESS' FROM devflow_src.deployment_pipelines AS d
                WHERE d.issue_id = i.id AND d.environment = 'production' ORDER BY d.started_at DESC LIMIT 1),
               CASE WHEN EXISTS (SELECT 1 FROM devflow_src.code_gen_tasks AS c WHERE c.issue_id = i.id) THEN 1000 + i.number END,
               (SELECT sum(c.total_lines_generated) FROM devflow_src.code_gen_tasks AS c WHERE c.issue_id = i.id)
        FROM devflow_src.issues AS i
        JOIN ex ON ex.issue_id = i.id
        LEFT JOIN dep ON dep.issue_id = i.id
        ORDER BY i.number""")
    actual = rows(conn, """
        SELECT issue_number, started_at, completed_at, ai_cost_usd, infrastructure_cost_usd, build_success, test_success,
               deployment_success, pr_number, nullif(lines_of_code_generated, 0)
        FROM devflow.fact_issue_processing ORDER BY issue_number""")
    assert actual == expected
    assert scalar(conn, """SELECT bool_and(processing_duration_seconds = extract(epoch FROM completed_at - started_at)::int)
                           FROM devflow.fact_issue_processing""")
    # both outcomes of every flag occur in a generated week
    assert scalar(conn, """SELECT bool_or(build_success) AND bool_or(NOT build_success) AND bool_or(test_success)
                                  AND bool_or(NOT test_success) FROM devflow.fact_issue_processing""")


def test_primary_label_is_the_highest_priority_else_the_first_label(loaded):
    conn = loaded
    mismatches = scalar(conn, """
        WITH current_labels AS (
            SELECT DISTINCT ON (h.issue_id, h.label_name) h.issue_id, h.label_name, h.action, h.changed_at
            FROM devflow_src.label_history h
            JOIN devflow_src.issues i ON i.id = h.issue_id
            JOIN devflow.fact_issue_processing f ON f.issue_number = i.number AND h.changed_at <= f.completed_at
            ORDER BY h.issue_id, h.label_name, h.changed_at DESC),
        expected AS (
            SELECT i.number, coalesce(
                (SELECT min(l.label_name) FROM current_labels l WHERE l.issue_id = i.id AND l.action = 'added'
                   AND l.label_name IN ('P0', 'P1', 'P2', 'P3', 'P4')),
                (SELECT l.label_name FROM current_labels l WHERE l.issue_id = i.id AND l.action = 'added'
                 ORDER BY l.changed_at, l.label_name LIMIT 1)) AS label_name
            FROM devflow_src.issues i)
        SELECT count(*) FROM devflow.fact_issue_processing f
        JOIN expected e ON e.number = f.issue_number
        LEFT JOIN devflow.dim_label d ON d.label_key = f.label_key
        WHERE d.label_name IS DISTINCT FROM e.label_name""")
    assert mismatches == 0
    # without a priority label, the first label: issues without one exist in a generated week
    assert scalar(conn, """SELECT count(*) FROM devflow.fact_issue_processing f JOIN devflow.dim_label d USING (label_key)
                           WHERE d.label_category <> 'Priority'""") > 0


# ------------------------------------------------------------------------------------------------
# incremental behaviour
# ------------------------------------------------------------------------------------------------

def test_rerun_loads_nothing(loaded):
    conn = loaded
    before = scalar(conn, CONTENT_SQL)
    run_id = run(conn)
    after = scalar(conn, CONTENT_SQL)
    assert before == after
    written = {k: v for k, v in steps(conn, run_id).items() if k.startswith("devflow_") and "mart" not in k}
    assert all(v[0] == "completed" and v[2] == 0 for v in written.values()), written


def test_hourly_pipeline_loads_only_the_new_hour(loaded):
    conn = loaded
    before = counts(conn)
    src_before = scalar(conn, "SELECT count(*) FROM devflow_src.agent_execution_logs")
    conn.execute("CALL devflow_src.generate_next_hour()")
    new_exec = scalar(conn, "SELECT count(*) FROM devflow_src.agent_execution_logs") - src_before
    assert new_exec > 0 or scalar(conn, "SELECT count(*) FROM devflow_src.issues WHERE updated_at > now() - interval '1 minute'") > 0
    run_id = run(conn, "devflow_hourly")
    st = steps(conn, run_id)
    assert set(st) == {"devflow_extract_entities", "devflow_extract_events", "devflow_silver_entities", "devflow_silver_events",
                       "devflow_dimensions", "devflow_fact_agent_execution", "devflow_mart_agent_performance"}
    assert st["devflow_fact_agent_execution"][1] == new_exec
    after = counts(conn)
    assert after["devflow.fact_agent_execution"] - before["devflow.fact_agent_execution"] == new_exec
    # the 5-minute samples are not this pipeline's: nothing moved there
    assert after["devflow.fact_performance_metrics"] == before["devflow.fact_performance_metrics"]
    # rerun: nothing
    assert steps(conn, run(conn, "devflow_hourly"))["devflow_fact_agent_execution"][1] == 0


def test_five_minute_pipeline_loads_only_the_new_samples(loaded):
    conn = loaded
    before = counts(conn)
    conn.execute("CALL devflow_src.generate_next_hour()")
    run_id = run(conn, "devflow_5min")
    st = steps(conn, run_id)
    assert st["devflow_ingest_metrics"][2] == 12 * 12          # 12 ticks of 12 resources
    assert st["devflow_fact_performance_metrics"][1] == 144
    after = counts(conn)
    assert after["devflow.fact_performance_metrics"] - before["devflow.fact_performance_metrics"] == 144
    assert after["devflow.fact_agent_execution"] == before["devflow.fact_agent_execution"]
    assert steps(conn, run(conn, "devflow_5min"))["devflow_fact_performance_metrics"][1] == 0


def arrived_as_stamped(conn):
    """Extraction follows arrival order (_dwh_arrived_at, stamped by trigger zz_dwh_arrival when a row is
    written), and the generator writes its simulated week at once. To simulate a week of arrivals, each
    row's arrival is set to its updated_at with the trigger switched off (as the owner: a test-only clock)."""
    for table in ["issues", "agents", "labels", "worktree_states", "infrastructure", "label_history",
                  "agent_execution_logs", "code_gen_tasks", "review_results", "deployment_pipelines"]:
        conn.execute(f"ALTER TABLE devflow_src.{table} DISABLE TRIGGER zz_dwh_arrival")
        conn.execute(f"UPDATE devflow_src.{table} SET _dwh_arrived_at = updated_at")
        conn.execute(f"ALTER TABLE devflow_src.{table} ENABLE ALWAYS TRIGGER zz_dwh_arrival")


def test_daily_catches_up_missed_days(generated):
    conn = generated
    arrived_as_stamped(conn)
    today = dt.date.today()
    run(conn, "daily", today - dt.timedelta(days=4))
    partial = counts(conn)
    cutoff = dt.datetime.combine(today - dt.timedelta(days=3), dt.time())
    # what the source held by then, less the executions whose issue row was not extracted yet (they wait)
    assert 0 < partial["devflow.fact_agent_execution"] <= scalar(
        conn, "SELECT count(*) FROM devflow_src.agent_execution_logs WHERE updated_at < %s::date::timestamptz",
        (cutoff.date(),))
    # the runs of the next days were missed: today's run catches everything up
    run(conn, "daily", today)
    full = counts(conn)
    assert full["devflow.fact_agent_execution"] == scalar(conn, "SELECT count(*) FROM devflow_src.agent_execution_logs")
    assert full["devflow.fact_agent_execution"] > partial["devflow.fact_agent_execution"]
    assert scalar(conn, "SELECT count(*) - count(DISTINCT (issue_number, started_at)) FROM devflow.fact_issue_processing") == 0


def test_every_fact_points_at_the_version_current_at_its_event(loaded):
    conn = loaded
    issue = rows(conn, """SELECT i.id, i.priority FROM devflow_src.issues i
                          WHERE i.state = 'closed' ORDER BY i.number LIMIT 1""")[0]
    new_priority = "P0" if issue[1] != "P0" else "P1"
    conn.execute("UPDATE devflow_src.issues SET priority = %s, updated_at = now() WHERE id = %s", (new_priority, issue[0]))
    conn.execute("""INSERT INTO devflow_src.agent_execution_logs (id, issue_id, agent_id, worktree_path, started_at, completed_at,
                                                                   exit_code, llm_cost_usd, updated_at)
                    SELECT max(id) + 1, %s, 'agent-review', NULL, now() + interval '1 minute', now() + interval '3 minutes', 0, 0.01, now()
                    FROM devflow_src.agent_execution_logs""", (issue[0],))
    conn.execute("CALL devflow_src.generate_next_day()")   # also resizes ec2-prod-api-2
    run(conn, "daily")
    assert rows(conn, "SELECT version, priority, is_current FROM devflow.dim_issue WHERE issue_id = %s ORDER BY version",
                (issue[0],)) == [(1, issue[1], False), (2, new_priority, True)]
    assert scalar(conn, "SELECT count(*) FROM devflow.dim_infrastructure WHERE resource_id = 'ec2-prod-api-2'") == 2
    # the executions before the change point at version 1, the new one at version 2
    assert rows(conn, """SELECT d.version, count(*) FROM devflow.fact_agent_execution f JOIN devflow.dim_issue d USING (issue_key)
                         WHERE d.issue_id = %s GROUP BY 1 ORDER BY 1""", (issue[0],))[-1] == (2, 1)
    # every fact of every table: the version valid at its event time (or the first, for an earlier event)
    for table, key, ts, nk in [("fact_agent_execution", "issue_key", "started_at", "issue"),
                               ("fact_code_generation", "issue_key", "created_at", "issue"),
                               ("fact_deployment", "issue_key", "started_at", "issue"),
                               ("fact_issue_processing", "issue_key", "started_at", "issue"),
                               ("fact_deployment", "infrastructure_key", "started_at", "infrastructure"),
                               ("fact_performance_metrics", "infrastructure_key", "measured_at", "infrastructure")]:
        natural = "issue_id" if nk == "issue" else "resource_id"
        wrong = scalar(conn, f"""
            SELECT count(*) FROM devflow.{table} f
            JOIN devflow.dim_{nk} d ON d.{key} = f.{key}
            WHERE NOT (f.{ts} >= d.valid_from AND (d.valid_to IS NULL OR f.{ts} < d.valid_to))
              AND NOT (d.version = 1 AND f.{ts} < d.valid_from)""")
        assert wrong == 0, (table, key)
    # samples of the resized instance after the resize point at version 2
    assert scalar(conn, """SELECT count(*) FROM devflow.fact_performance_metrics f JOIN devflow.dim_infrastructure d USING (infrastructure_key)
                           WHERE d.resource_id = 'ec2-prod-api-2' AND d.version = 2""") > 0


def test_referential_integrity_accepts_history_the_seed_check_rejected(loaded):
    conn = loaded
    issue = scalar(conn, "SELECT id FROM devflow_src.issues WHERE state = 'closed' ORDER BY number LIMIT 1")
    conn.execute("UPDATE devflow_src.issues SET complexity = 'critical', assigned_to = 'someone-else', updated_at = now() WHERE id = %s",
                 (issue,))
    run_id = run(conn, "daily")
    # the seed's check (only the current version accepted) flags the correct history ...
    conn.execute("SET search_path = devflow, gold")
    seed_ok = scalar(conn, """
        SELECT COUNT(*) = 0
        FROM fact_issue_processing f
        LEFT JOIN dim_issue d ON f.issue_key = d.issue_key AND d.is_current = TRUE
        WHERE d.issue_key IS NULL""")
    conn.execute("RESET search_path")
    assert seed_ok is False
    # ... the registered rule accepts any version, and it ran on this run's facts
    conn.execute("UPDATE devflow_src.agent_execution_logs SET retry_count = retry_count + 1, updated_at = now() WHERE issue_id = %s",
                 (issue,))
    run_id = run(conn, "daily")
    assert rows(conn, """SELECT passed, metric_value FROM dwh_lineage.quality_metrics q JOIN dwh_etl.quality_rules r USING (rule_id)
                         WHERE r.rule_name = 'devflow_fip_issue_fk' AND q.run_id = %s""", (run_id,)) == [(True, 0)]


def test_seed_upsert_target_has_a_matching_unique_index(loaded):
    conn = loaded
    cols = scalar(conn, """
        SELECT array_agg(a.attname::text ORDER BY k.ord)
        FROM pg_index i
        CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k (attnum, ord)
        JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
        WHERE i.indrelid = 'devflow.fact_issue_processing'::regclass AND i.indisunique AND NOT i.indisprimary""")
    assert cols == ["issue_number", "started_at"]
    # the seed's load statement (its target list, its ON CONFLICT) works; updated_at does not exist, _loaded_at does
    conn.execute("SET search_path = devflow, gold")
    conn.execute("""
        CREATE TEMP TABLE issue_processing_facts AS
        SELECT issue_key, agent_key, time_key, label_key, worktree_key, processing_duration_seconds + 1 AS processing_duration_seconds,
               lines_of_code_generated, files_modified, review_score, test_coverage_percent, clippy_warnings, fmt_issues,
               build_success, test_success, deployment_success, ai_cost_usd, infrastructure_cost_usd, started_at, completed_at,
               issue_number, commit_sha, pr_number, _batch_id
        FROM fact_issue_processing LIMIT 3""")
    n = conn.execute("""
        INSERT INTO fact_issue_processing (issue_key, agent_key, time_key, label_key, worktree_key, processing_duration_seconds,
            lines_of_code_generated, files_modified, review_score, test_coverage_percent, clippy_warnings, fmt_issues,
            build_success, test_success, deployment_success, ai_cost_usd, infrastructure_cost_usd, started_at, completed_at,
            issue_number, commit_sha, pr_number, _batch_id)
        SELECT * FROM issue_processing_facts
        ON CONFLICT (issue_number, started_at)
        DO UPDATE SET processing_duration_seconds = EXCLUDED.processing_duration_seconds,
                      lines_of_code_generated = EXCLUDED.lines_of_code_generated,
                      review_score = EXCLUDED.review_score,
                      _loaded_at = CURRENT_TIMESTAMP""").rowcount
    assert n == 3
    assert scalar(conn, "SELECT count(*) FROM pg_attribute WHERE attrelid = 'devflow.fact_issue_processing'::regclass AND attname = 'updated_at'") == 0
    conn.execute("RESET search_path")


def test_seed_quality_checks_run_unchanged(loaded):
    conn = loaded
    conn.execute("SET search_path = devflow, gold")
    assert scalar(conn, """
        SELECT COUNT(*) = 0
        FROM (
            SELECT issue_number, started_at, COUNT(*)
            FROM fact_issue_processing
            GROUP BY issue_number, started_at
            HAVING COUNT(*) > 1
        ) duplicates""") is True
    assert scalar(conn, """
        SELECT COUNT(*) = 0
        FROM fact_issue_processing f
        LEFT JOIN dim_issue d ON f.issue_key = d.issue_key AND d.is_current = TRUE
        WHERE d.issue_key IS NULL""") is True
    assert scalar(conn, """
        SELECT MAX(completed_at) > CURRENT_TIMESTAMP - INTERVAL '2 hours'
        FROM fact_issue_processing""") in (True, False)
    conn.execute("RESET search_path")
    assert scalar(conn, """SELECT count(*) FROM dwh_etl.quality_rules
                           WHERE rule_name IN ('devflow_fip_no_duplicates', 'devflow_fip_issue_fk', 'devflow_fip_fresh')""") == 3
    assert scalar(conn, "SELECT severity || ' ' || (params->>'max_age') FROM dwh_etl.quality_rules WHERE rule_name = 'devflow_fip_fresh'") \
        == "warn 2 hours"


# ------------------------------------------------------------------------------------------------
# JSON feeds
# ------------------------------------------------------------------------------------------------

GITHUB_PULLS = [
    {"url": "https://api.github.com/repos/miyabi/miyabi-private/pulls/4242", "number": 4242, "state": "closed",
     "title": "Fix the flaky deploy", "body": "This fixes #1 and more.\n\nCloses #1", "draft": False, "merged": True,
     "user": {"login": "octocat", "id": 1}, "head": {"ref": "fix-deploy", "sha": "a" * 40}, "base": {"ref": "main"},
     "additions": 10, "deletions": 2, "changed_files": 1,
     "created_at": "2025-01-01T10:00:00Z", "updated_at": "2025-01-01T12:00:00Z",
     "closed_at": "2025-01-01T12:00:00Z", "merged_at": "2025-01-01T12:00:00Z"},
    {"number": "not-a-number", "state": "weird", "created_at": "2025-01-01T10:00:00Z", "updated_at": "2025-01-01T10:00:00Z"},
]  # (dates in the past: instants more than a day after the run date are quarantined, issue 9)


def test_github_pull_requests_land_through_ingest_json(loaded):
    conn = loaded
    conn.execute("CALL dwh_etl.ingest_json('bronze.devflow_pull_requests', %s::jsonb, 'github')", (json.dumps(GITHUB_PULLS),))
    run(conn, "daily")
    assert rows(conn, """SELECT pr_number, issue_number, state, author, head_ref, head_sha, merged
                         FROM silver.devflow_pull_requests WHERE pr_number = 4242""") == [
        (4242, 1, "closed", "octocat", "fix-deploy", "a" * 40, True)]
    reasons = scalar(conn, """SELECT reasons FROM dwh_etl.quarantine
                              WHERE target_table = 'silver.devflow_pull_requests' AND resolved_at IS NULL""")
    assert 'pr_number "not-a-number" is not a valid integer' in reasons and any('state "weird"' in r for r in reasons)
    # the raw element is kept whole
    assert scalar(conn, "SELECT _raw_payload->'user'->>'login' FROM bronze.devflow_pull_requests WHERE number = '4242'") == "octocat"


def test_metric_samples_land_through_ingest_json(loaded):
    conn = loaded
    sample = [{"resource_id": "rds-prod-main", "namespace": "AWS/RDS", "timestamp": "2025-01-01T00:05:00Z", "period": 300,
               "metrics": {"cpu_utilization_percent": 12.5, "memory_utilization_percent": 40, "request_count": 100,
                           "error_count": 5}}]
    conn.execute("CALL dwh_etl.ingest_json('bronze.devflow_metric_samples', %s::jsonb, 'cloudwatch')", (json.dumps(sample),))
    run(conn, "devflow_5min")
    assert rows(conn, """SELECT f.cpu_utilization_percent::float, f.error_rate::float, d.resource_type
                         FROM devflow.fact_performance_metrics f JOIN devflow.dim_infrastructure d USING (infrastructure_key)
                         WHERE f.resource_id = 'rds-prod-main' AND f.measured_at = '2025-01-01T00:05:00Z'""") == [
        (pytest.approx(12.5), pytest.approx(0.05), "RDS")]


def test_pipelines_are_registered_with_the_seed_cadences(conn):
    assert rows(conn, """SELECT pipeline_name, schedules FROM dwh_etl.pipelines
                         WHERE pipeline_name IN ('daily', 'devflow_hourly', 'devflow_5min', 'devflow_weekly') ORDER BY 1""") == [
        ("daily", ["0 2 * * *"]), ("devflow_5min", ["*/5 * * * *"]), ("devflow_hourly", ["0 * * * *"]),
        ("devflow_weekly", ["0 4 * * 0"])]
    assert scalar(conn, "SELECT count(*) FROM dwh_etl.steps WHERE pipeline_name = 'daily' AND area = 'devflow'") == 17


def test_weekly_dimension_refresh_runs(generated):
    conn = generated
    run_id = run(conn, "devflow_weekly")
    assert set(steps(conn, run_id)) == {"devflow_extract_entities", "devflow_silver_entities", "devflow_dimensions"}
    assert scalar(conn, "SELECT count(*) FROM devflow.dim_issue") == scalar(conn, "SELECT count(*) FROM devflow_src.issues")
