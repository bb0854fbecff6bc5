"""Attack 14b: the devflow area (seed 000) through its real source paths: rows written into devflow_src
(INSERT, UPDATE, DELETE as the operational system does), the GitHub and metrics feeds of
devflow_src.api_payloads, files landed by `dwh load` into devflow's bronze tables; then `daily`.

Cases: a record updated twice, moved to another issue, deleted (and re-inserted) within one window and
across windows; the same batch delivered twice; rows arriving out of order (an execution and a
deployment before their issue, a review before its pull request, metric samples days late); timestamps
with odd offsets or none, instants before 1990 or ahead, NaN/Infinity; and the marts afterwards. The
expected figures are written by hand from the rows each test inserts, by the seed's definitions
(fact_issue_processing: ai_cost = sum of the issue's executions' LLM cost, infrastructure_cost = sum of
its finished deployments' total cost; fact_deployment one row per finished deployment run).

A test whose docstring says DEFECT exposed one (fixed unless marked xfail); the others held and stay as
regression tests. The loaded demo week is the session template `devflow_week_template` (tests/conftest.py);
each test gets a clone and adds its own records (issue numbers 1_400_000 and up, ids 14_000_000 and up).
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest

from test_load_files import csv_text, dwh, ok, write

RUN_SQL = "CALL dwh_etl.run_pipeline(p_pipeline => %s, p_run_date => %s, p_run_id => NULL)"


def scalar(conn, sql, params=None):
    return conn.execute(sql, params).fetchone()[0]


def rows(conn, sql, params=None):
    return conn.execute(sql, params).fetchall()


def today_utc() -> dt.date:
    return dt.datetime.now(dt.timezone.utc).date()


def daily(conn, pipeline="daily"):
    run_id = conn.execute(RUN_SQL, (pipeline, today_utc())).fetchone()[0]
    status = scalar(conn, "SELECT status FROM dwh_lineage.pipeline_runs WHERE run_id = %s", (run_id,))
    assert status == "completed", rows(conn, """SELECT step_name, status, error_message FROM dwh_lineage.step_runs
                                              WHERE run_id = %s AND status <> 'completed'""", (run_id,))
    return run_id


BASE = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=6)).replace(minute=0, second=0, microsecond=0)


def at(minutes: float) -> dt.datetime:
    return BASE + dt.timedelta(minutes=minutes)


def iso(ts: dt.datetime) -> str:
    return ts.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def wh(devflow_week):
    return devflow_week


def agent_of(conn):
    return scalar(conn, "SELECT agent_id FROM devflow_src.agents ORDER BY agent_id LIMIT 1")


def resource_of(conn):
    return scalar(conn, "SELECT resource_id FROM devflow_src.infrastructure ORDER BY resource_id LIMIT 1")


def issue(conn, iid, number, priority="P2", created=None, complexity="medium"):
    conn.execute("""INSERT INTO devflow_src.issues (id, number, title, priority, complexity, created_at, updated_at)
                    VALUES (%s, %s, %s, %s, %s, %s, now())""",
                 (iid, number, f"attack 14b {iid}", priority, complexity, created or at(-60)))


def execution(conn, eid, iid, start, end, cost, agent=None):
    conn.execute("""INSERT INTO devflow_src.agent_execution_logs (id, issue_id, agent_id, started_at, completed_at,
                        exit_code, llm_cost_usd, updated_at)
                    VALUES (%s, %s, %s, %s, %s, 0, %s, now())""",
                 (eid, iid, agent or agent_of(conn), start, end, Decimal(cost)))


def deployment(conn, did, iid, start, end, status, infra, transfer="0", env="production"):
    conn.execute("""INSERT INTO devflow_src.deployment_pipelines (id, pipeline_id, issue_id, agent_id, resource_id,
                        commit_sha, environment, deployment_type, deployment_status, started_at, completed_at,
                        infrastructure_cost_usd, data_transfer_cost_usd, updated_at)
                    VALUES (%s, %s, %s, %s, %s, %s, %s, 'ROLLING', %s, %s, %s, %s, %s, now())""",
                 (did, f"p-{did}", iid, agent_of(conn), resource_of(conn), "a" * 40, env, status, start, end,
                  Decimal(infra), Decimal(transfer)))


def fip(conn, iid):
    """fact_issue_processing rows of an issue (by any version of its dimension row, and by number)."""
    return rows(conn, """
        SELECT f.issue_number, f.started_at, f.completed_at, f.ai_cost_usd, f.infrastructure_cost_usd,
               f.deployment_success, f.pr_number, f.review_score
        FROM devflow.fact_issue_processing AS f
        WHERE f.issue_key IN (SELECT issue_key FROM devflow.dim_issue WHERE issue_id = %s)
        ORDER BY f.started_at""", (iid,))


GOLD = ["devflow.dim_issue", "devflow.dim_agent", "devflow.dim_infrastructure", "devflow.fact_agent_execution",
        "devflow.fact_deployment", "devflow.fact_performance_metrics", "devflow.fact_issue_processing",
        "devflow.fact_code_generation", "devflow.mart_development_performance", "devflow.mart_agent_performance",
        "devflow.mart_infrastructure_cost"]


def gold_state(conn):
    """Gold's devflow tables and marts without load stamps, and the open quarantine."""
    state = {}
    for table in GOLD:
        state[table] = rows(conn, f"""
            SELECT j::text FROM (
                SELECT (SELECT jsonb_object_agg(e.k, e.v) FROM jsonb_each(to_jsonb(t)) AS e(k, v)
                        WHERE e.k !~ '^_|^record_') AS j
                FROM {table} AS t) AS s ORDER BY 1""")
    state["quarantine"] = rows(conn, """SELECT target_table, record_key, reasons FROM dwh_etl.quarantine
                                        WHERE resolved_at IS NULL ORDER BY 1, 2, 3""")
    return state


# ---------------------------------------------------------------------------------------------------
# deletes
# ---------------------------------------------------------------------------------------------------

def test_a_deleted_deployment_leaves_gold_and_the_issue_costs(wh):
    """DEFECT (high): devflow saw no deletes. A production deployment run FAILED, then SUCCESS; the
    source deletes the failed run (recorded by mistake): it stayed in silver, fact_deployment, the
    issue's infrastructure cost and the DORA mart (change failure rate) for good. Now devflow_src keeps
    tombstones (deleted_records, migration 0064), silver flags the key, the facts drop it: fact_deployment
    holds only the successful run, and the issue's infrastructure_cost_usd is that run's cost alone."""
    conn = wh
    issue(conn, "A14-DEL", 1_400_001)
    execution(conn, 14_000_001, "A14-DEL", at(0), at(30), "1.5000")
    deployment(conn, 14_000_011, "A14-DEL", at(40), at(45), "FAILED", "3.00", "0.50")
    deployment(conn, 14_000_012, "A14-DEL", at(50), at(55), "SUCCESS", "4.00", "0.25")
    daily(conn)
    assert fip(conn, "A14-DEL")[0][3:6] == (Decimal("1.5000"), Decimal("7.7500"), True)
    conn.execute("DELETE FROM devflow_src.deployment_pipelines WHERE id = 14000011")
    daily(conn)
    assert [r[0] for r in rows(conn, """SELECT deployment_id FROM devflow.fact_deployment
                                        WHERE deployment_id BETWEEN 14000011 AND 14000012""")] == [14_000_012]
    assert fip(conn, "A14-DEL")[0][3:6] == (Decimal("1.5000"), Decimal("4.2500"), True)


# ---------------------------------------------------------------------------------------------------
# updates: the same record changed twice, within one window and across windows
# ---------------------------------------------------------------------------------------------------

def test_an_issue_renumbered_keeps_one_processing_row(wh):
    """DEFECT (medium): the issue's number is corrected in the source (a Type 1 column of dim_issue)
    after its processing was loaded: the row under the old number stayed next to the new one (the issue
    counted twice in mart_development_performance and kpi_issue_lead_time). fact_issue_processing keeps one row for the issue, under the new number; the old
    number's row is gone (else the issue is counted twice in the marts)."""
    conn = wh
    issue(conn, "A14-NUM", 1_400_002)
    execution(conn, 14_000_021, "A14-NUM", at(0), at(20), "2.0000")
    daily(conn)
    conn.execute("UPDATE devflow_src.issues SET number = 1400003, updated_at = now() WHERE id = 'A14-NUM'")
    daily(conn)
    got = fip(conn, "A14-NUM")
    assert [(r[0], r[3]) for r in got] == [(1_400_003, Decimal("2.0000"))], got
    assert scalar(conn, "SELECT count(*) FROM devflow.fact_issue_processing WHERE issue_number = 1400002") == 0


def test_an_execution_moved_to_another_issue_leaves_the_first(wh):
    """DEFECT (medium): an execution recorded against the wrong issue is moved to the right one (UPDATE
    issue_id): only the new issue was recomputed, the first kept counting the execution's cost and time
    (counted twice). Now silver notes the issue an event left (dwh_staging.devflow_affected_issues) and
    the first issue's processing row no longer counts it; the second's does."""
    conn = wh
    issue(conn, "A14-MV1", 1_400_004)
    issue(conn, "A14-MV2", 1_400_005)
    execution(conn, 14_000_031, "A14-MV1", at(0), at(10), "1.0000")
    execution(conn, 14_000_032, "A14-MV1", at(20), at(30), "2.0000")
    execution(conn, 14_000_033, "A14-MV2", at(40), at(50), "4.0000")
    daily(conn)
    assert fip(conn, "A14-MV1")[0][3] == Decimal("3.0000")
    conn.execute("UPDATE devflow_src.agent_execution_logs SET issue_id = 'A14-MV2', updated_at = now() WHERE id = 14000032")
    daily(conn)
    mv1, mv2 = fip(conn, "A14-MV1"), fip(conn, "A14-MV2")
    assert [(r[1], r[2], r[3]) for r in mv1] == [(at(0), at(10), Decimal("1.0000"))], mv1
    assert [(r[1], r[2], r[3]) for r in mv2] == [(at(20), at(50), Decimal("6.0000"))], mv2


def test_an_issue_updated_twice_in_one_window_and_again_later(wh):
    """Held: priority P3 -> P2 -> P1 before one run (the run sees the last state: one new version),
    then P0 in the next window (another version); the processing row points at the version valid at its
    start; a rerun changes nothing."""
    conn = wh
    issue(conn, "A14-TWICE", 1_400_006, priority="P3")
    daily(conn)
    for p in ("P2", "P1"):
        conn.execute("UPDATE devflow_src.issues SET priority = %s, updated_at = now() WHERE id = 'A14-TWICE'", (p,))
    started = scalar(conn, "SELECT clock_timestamp()")  # while P1 is the issue's state
    execution(conn, 14_000_041, "A14-TWICE", started, started + dt.timedelta(seconds=1), "1.0000")
    daily(conn)
    conn.execute("UPDATE devflow_src.issues SET priority = 'P0', updated_at = now() WHERE id = 'A14-TWICE'")
    daily(conn)
    versions = rows(conn, "SELECT version, priority, is_current FROM devflow.dim_issue WHERE issue_id = 'A14-TWICE' ORDER BY version")
    assert [v[1] for v in versions] == ["P3", "P1", "P0"], versions
    assert scalar(conn, """SELECT d.priority FROM devflow.fact_issue_processing AS f
                           JOIN devflow.dim_issue AS d USING (issue_key) WHERE d.issue_id = 'A14-TWICE'""") == "P1"
    before = gold_state(conn)
    daily(conn)
    assert gold_state(conn) == before


# ---------------------------------------------------------------------------------------------------
# out of order
# ---------------------------------------------------------------------------------------------------

def test_execution_and_deployment_before_their_issue(wh):
    """Held: an execution and a deployment arrive a run before their issue: they wait (no fact row with
    a NULL issue), and the run after the issue arrives loads them and the issue's processing row with
    the figures of both."""
    conn = wh
    execution(conn, 14_000_051, "A14-LATE", at(0), at(25), "0.7500")
    deployment(conn, 14_000_052, "A14-LATE", at(30), at(35), "SUCCESS", "2.00", "1.00")
    daily(conn)
    assert scalar(conn, "SELECT count(*) FROM devflow.fact_agent_execution WHERE execution_id = 14000051") == 0
    assert scalar(conn, "SELECT count(*) FROM devflow.fact_deployment WHERE deployment_id = 14000052") == 0
    issue(conn, "A14-LATE", 1_400_007)
    daily(conn)
    assert scalar(conn, "SELECT count(*) FROM devflow.fact_agent_execution WHERE execution_id = 14000051") == 1
    assert scalar(conn, "SELECT count(*) FROM devflow.fact_deployment WHERE deployment_id = 14000052") == 1
    assert [r[:6] for r in fip(conn, "A14-LATE")] == [
        (1_400_007, at(0), at(35), Decimal("0.7500"), Decimal("3.0000"), True)]


def pr_payload(number, issue_number, created):
    return {"number": number, "state": "open", "title": f"PR {number}", "body": f"Closes #{issue_number}",
            "draft": False, "merged": False, "user": {"login": "octocat"},
            "head": {"ref": f"issue-{issue_number}", "sha": "b" * 40}, "base": {"ref": "main"},
            "additions": 1, "deletions": 1, "changed_files": 1,
            "created_at": iso(created), "updated_at": iso(created), "closed_at": None, "merged_at": None}


def inbox(conn, feed, payload):
    conn.execute("INSERT INTO devflow_src.api_payloads (feed, source, payload) VALUES (%s, %s, %s::jsonb)",
                 (feed, "github" if feed == "github_pulls" else "prometheus", json.dumps(payload)))


def test_review_before_its_pull_request(wh):
    """Held: a review is loaded a run before the pull request that closes the issue arrives from GitHub;
    the run after fills the issue's pr_number, keeps its review_score, and the same PR payload delivered
    twice changes nothing."""
    conn = wh
    issue(conn, "A14-PR", 1_400_008)
    execution(conn, 14_000_061, "A14-PR", at(0), at(15), "0.1000")
    conn.execute("""INSERT INTO devflow_src.review_results (id, issue_id, agent_id, review_score, test_coverage_percent,
                        approved, reviewed_at, updated_at)
                    VALUES (14000062, 'A14-PR', %s, 0.85, 91.5, true, %s, now())""", (agent_of(conn), at(16)))
    daily(conn)
    assert [r[6:] for r in fip(conn, "A14-PR")] == [(None, Decimal("0.85"))]
    inbox(conn, "github_pulls", [pr_payload(1_400_901, 1_400_008, at(14))])
    daily(conn)
    assert [r[6:] for r in fip(conn, "A14-PR")] == [(1_400_901, Decimal("0.85"))]
    before = gold_state(conn)
    inbox(conn, "github_pulls", [pr_payload(1_400_901, 1_400_008, at(14))])
    daily(conn)
    assert gold_state(conn) == before


def test_deleted_and_reinserted_within_one_window_and_across_windows(wh):
    """Held (with the deletes of migration 0064): an execution deleted and re-inserted (a restore) before
    the next run stays; one deleted for good after a run leaves fact_agent_execution and its issue's
    cost; re-inserted in a later window (with the source's new change time) it is back, once; an
    issue's only execution deleted removes the issue's processing row; one inserted and deleted between
    two runs never reaches gold. A rerun changes nothing."""
    conn = wh
    issue(conn, "A14-RE", 1_400_010)
    issue(conn, "A14-GONE", 1_400_011)
    execution(conn, 14_000_071, "A14-RE", at(0), at(10), "1.0000")
    execution(conn, 14_000_072, "A14-RE", at(20), at(30), "2.0000")
    execution(conn, 14_000_073, "A14-GONE", at(0), at(5), "8.0000")
    daily(conn)
    # within one window: 71 deleted then restored, 72 deleted for good, 73 (the issue's only one) deleted,
    # 74 inserted and deleted
    conn.execute("DELETE FROM devflow_src.agent_execution_logs WHERE id IN (14000071, 14000072, 14000073)")
    execution(conn, 14_000_071, "A14-RE", at(0), at(10), "1.0000")
    execution(conn, 14_000_074, "A14-RE", at(40), at(50), "16.0000")
    conn.execute("DELETE FROM devflow_src.agent_execution_logs WHERE id = 14000074")
    daily(conn)
    fae = "SELECT array_agg(execution_id ORDER BY execution_id) FROM devflow.fact_agent_execution WHERE execution_id BETWEEN 14000071 AND 14000074"
    assert scalar(conn, fae) == [14_000_071]
    assert [r[1:4] for r in fip(conn, "A14-RE")] == [(at(0), at(10), Decimal("1.0000"))]
    assert fip(conn, "A14-GONE") == []
    assert scalar(conn, "SELECT count(*) FROM dwh_etl.quarantine WHERE record_key LIKE '1400007_' AND resolved_at IS NULL") == 0
    # across windows: 72 comes back
    execution(conn, 14_000_072, "A14-RE", at(20), at(30), "2.0000")
    daily(conn)
    assert scalar(conn, fae) == [14_000_071, 14_000_072]
    assert [r[1:4] for r in fip(conn, "A14-RE")] == [(at(0), at(30), Decimal("3.0000"))]
    before = gold_state(conn)
    daily(conn)
    assert gold_state(conn) == before


def test_deleted_code_generation_and_review_leave_the_kpis(wh):
    """Held (with the deletes of migration 0064): a code generation and a review deleted in the source
    leave fact_code_generation, kpi_code_generation_efficiency and the issue's processing row (lines,
    build_success, review_score fall back to the remaining ones)."""
    conn = wh
    agent = agent_of(conn)
    issue(conn, "A14-CG", 1_400_012)
    execution(conn, 14_000_081, "A14-CG", at(0), at(10), "1.0000")
    for cid, lines, warnings, created in ((14_000_082, 100, 0, at(1)), (14_000_083, 900, 3, at(2))):
        conn.execute("""INSERT INTO devflow_src.code_gen_tasks (id, issue_id, agent_id, total_files_generated,
                            total_lines_generated, clippy_warnings, fmt_issues, ai_generation_cost_usd,
                            generation_duration_ms, created_at, updated_at)
                        VALUES (%s, 'A14-CG', %s, 1, %s, %s, 0, 0.5, 3600000, %s, now())""",
                     (cid, agent, lines, warnings, created))
    for rid, score, reviewed in ((14_000_084, Decimal("0.90"), at(3)), (14_000_085, Decimal("0.40"), at(4))):
        conn.execute("""INSERT INTO devflow_src.review_results (id, issue_id, agent_id, review_score,
                            test_coverage_percent, approved, reviewed_at, updated_at)
                        VALUES (%s, 'A14-CG', %s, %s, 80, true, %s, now())""", (rid, agent, score, reviewed))
    daily(conn)
    lines_sql = """SELECT f.lines_of_code_generated, f.build_success, f.review_score FROM devflow.fact_issue_processing AS f
                   WHERE f.issue_number = 1400012"""
    assert rows(conn, lines_sql) == [(1000, False, Decimal("0.40"))]
    conn.execute("DELETE FROM devflow_src.code_gen_tasks WHERE id = 14000083")
    conn.execute("DELETE FROM devflow_src.review_results WHERE id = 14000085")
    daily(conn)
    assert rows(conn, lines_sql) == [(100, True, Decimal("0.90"))]
    assert rows(conn, """SELECT code_gen_id FROM devflow.fact_code_generation
                         WHERE code_gen_id BETWEEN 14000082 AND 14000083""") == [(14_000_082,)]
    key = int(at(1).strftime("%Y%m%d"))
    expected = scalar(conn, """SELECT sum(total_lines_generated) FROM devflow_src.code_gen_tasks
                               WHERE agent_id = %s AND (created_at AT TIME ZONE 'UTC')::date = %s::date""",
                      (agent, at(1).date()))
    assert scalar(conn, """SELECT lines_generated FROM devflow.kpi_code_generation_efficiency
                           WHERE time_key = %s AND agent_id = %s""", (key, agent)) == expected


# ---------------------------------------------------------------------------------------------------
# the same batch twice, late samples, the marts
# ---------------------------------------------------------------------------------------------------

def sample(resource, when, cpu, requests=100, errors=1):
    return {"resource_id": resource, "namespace": "Attack14b", "timestamp": iso(when), "period": 300,
            "metrics": {"cpu_utilization_percent": cpu, "memory_utilization_percent": 50,
                        "request_count": requests, "error_count": errors}}


def test_a_metrics_batch_delivered_twice_and_samples_days_late(wh):
    """Held: a metrics payload delivered twice (the same samples, one run apart and within one run)
    loads each sample once; samples measured three days ago arriving now are loaded under their own
    day, and mart_infrastructure_cost's average CPU for a day with a deployment is the average over that
    resource's samples of the day, computed here by hand."""
    conn = wh
    resource = resource_of(conn)
    late_day = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=3)).replace(hour=3, minute=0, second=0, microsecond=0)
    batch = [sample(resource, late_day + dt.timedelta(minutes=5 * i), cpu) for i, cpu in enumerate((10, 20, 60))]
    inbox(conn, "metrics", batch)
    inbox(conn, "metrics", batch)
    daily(conn)
    inbox(conn, "metrics", batch)
    daily(conn)
    got = rows(conn, """SELECT measured_at, cpu_utilization_percent FROM devflow.fact_performance_metrics
                        WHERE resource_id = %s AND measured_at BETWEEN %s AND %s ORDER BY 1""",
               (resource, late_day, late_day + dt.timedelta(minutes=10)))
    assert [(r[0], float(r[1])) for r in got] == [(late_day + dt.timedelta(minutes=5 * i), cpu)
                                                  for i, cpu in enumerate((10.0, 20.0, 60.0))]
    # a deployment on that day on that resource: the mart's avg CPU is over the resource's samples of the day
    issue(conn, "A14-M", 1_400_013)
    deployment(conn, 14_000_091, "A14-M", late_day + dt.timedelta(minutes=1), late_day + dt.timedelta(minutes=2),
               "SUCCESS", "5.00", "1.00")
    daily(conn)
    expected = scalar(conn, """SELECT avg(cpu_utilization_percent) FROM devflow.fact_performance_metrics
                               WHERE resource_id = %s AND time_key = %s""", (resource, int(late_day.strftime("%Y%m%d"))))
    dims = rows(conn, """SELECT resource_type, region, instance_type FROM devflow.dim_infrastructure
                         WHERE resource_id = %s AND is_current""", (resource,))[0]
    mart = rows(conn, """SELECT avg_cpu_utilization, total_deployments FROM devflow.mart_infrastructure_cost
                         WHERE (year, month, day_of_month) = (%s, %s, %s)
                           AND resource_type = %s AND region = %s AND instance_type IS NOT DISTINCT FROM %s""",
                (late_day.year, late_day.month, late_day.day, *dims))
    assert mart and round(mart[0][0], 2) == round(expected, 2), (mart, expected)


# ---------------------------------------------------------------------------------------------------
# files landed with `dwh load`: odd instants, numbers and keys
# ---------------------------------------------------------------------------------------------------

DEP_COLS = ["id", "pipeline_id", "issue_id", "agent_id", "resource_id", "commit_sha", "environment", "deployment_type",
            "deployment_status", "started_at", "completed_at", "infrastructure_cost_usd", "data_transfer_cost_usd",
            "created_at", "updated_at"]


def test_deployment_file_with_odd_offsets_old_and_future_instants_nan_and_blank_keys(wh, dsn, tmp_path):
    """Held: a CSV of deployment runs into bronze.devflow_deployment_pipelines: offsets +05:45, +14:00,
    -09:30 and none (read in devflow.source_timezone, UTC) land at the right UTC instant and time_key;
    1989, 3 years ahead, NaN, Infinity, 1e400, a key of ideographic spaces and a 100 kB pipeline_id are
    quarantined with the file's line and a reason naming the column; nothing else is lost; the same file
    loaded again (--force) and `daily` rerun change nothing but the deliveries count."""
    conn = wh
    iid = scalar(conn, "SELECT id FROM devflow_src.issues ORDER BY number LIMIT 1")
    agent, res = agent_of(conn), resource_of(conn)
    day = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1)).date().isoformat()
    far = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=3 * 366)).strftime("%Y-%m-%dT%H:%M:%SZ")

    def rec(did, start, end, infra="1.00", key=None, pipeline=None):
        return [key or str(did), pipeline or f"p{did}", iid, agent, res, "f" * 40, "staging", "ROLLING", "SUCCESS",
                start, end, infra, "0.50", start, end]

    good = {  # id: (start text, end text, expected UTC start)
        14_100_001: (f"{day}T10:00:00+05:45", f"{day}T10:30:00+05:45", f"{day}T04:15:00+00:00"),
        14_100_002: (f"{day}T05:00:00+14:00", f"{day}T06:00:00+14:00", None),  # the previous UTC day
        14_100_003: (f"{day}T20:00:00-09:30", f"{day}T20:10:00-09:30", None),  # the next UTC day
        14_100_004: (f"{day} 10:00:00", f"{day} 10:05:00", f"{day}T10:00:00+00:00"),
    }
    bad = {  # id: (record, reason fragment)
        14_100_011: (rec(14_100_011, "1989-12-31T23:00:00Z", "1989-12-31T23:30:00Z"), "started_at"),
        14_100_012: (rec(14_100_012, far, far), "started_at"),
        14_100_013: (rec(14_100_013, f"{day}T10:00:00Z", f"{day}T10:05:00Z", infra="NaN"), "infrastructure_cost_usd"),
        14_100_014: (rec(14_100_014, f"{day}T10:00:00Z", f"{day}T10:05:00Z", infra="Infinity"), "infrastructure_cost_usd"),
        14_100_015: (rec(14_100_015, f"{day}T10:00:00Z", f"{day}T10:05:00Z", infra="1e400"), "infrastructure_cost_usd"),
        14_100_016: (rec(14_100_016, f"{day}T10:00:00Z", f"{day}T10:05:00Z", pipeline="x" * 100_000), "pipeline_id"),
    }
    blank = rec(0, f"{day}T10:00:00Z", f"{day}T10:05:00Z", key="\u3000\u3000")
    records = [rec(k, s, e) for k, (s, e, _) in good.items()] + [r for r, _ in bad.values()] + [blank]
    path = write(tmp_path / "deployments.csv", csv_text(DEP_COLS, records))
    ok(dwh(dsn, "load", "devflow_deployment_pipelines", path))
    daily(conn)
    got = dict(rows(conn, """SELECT deployment_id, started_at FROM devflow.fact_deployment
                             WHERE deployment_id BETWEEN 14100001 AND 14100099"""))
    assert set(got) == set(good), got
    assert got[14_100_001] == dt.datetime.fromisoformat(good[14_100_001][2])
    assert got[14_100_004] == dt.datetime.fromisoformat(good[14_100_004][2])
    assert got[14_100_002] == dt.datetime.fromisoformat(f"{day}T05:00:00+14:00")
    assert got[14_100_003] == dt.datetime.fromisoformat(f"{day}T20:00:00-09:30")
    keys = dict(rows(conn, "SELECT deployment_id, time_key FROM devflow.fact_deployment WHERE deployment_id BETWEEN 14100001 AND 14100004"))
    assert keys == {k: int(v.astimezone(dt.timezone.utc).strftime("%Y%m%d")) for k, v in got.items()}
    q = {r[0]: r[1] for r in rows(conn, """SELECT record_key, reasons FROM dwh_etl.quarantine
                                          WHERE target_table = 'silver.devflow_deployment_pipelines' AND resolved_at IS NULL""")}
    for did, (_, column) in bad.items():
        assert str(did) in q and any(column in r and "deployments.csv line" in r for r in q[str(did)]), (did, q.get(str(did)))
    assert sum(1 for k in q if k not in {str(b) for b in bad}) == 1, q  # the blank key, once
    before = gold_state(conn)
    ok(dwh(dsn, "load", "devflow_deployment_pipelines", path, "--force"))
    daily(conn)
    assert gold_state(conn) == before


# ---------------------------------------------------------------------------------------------------
# values every column accepts that a fact's generated column cannot hold
# ---------------------------------------------------------------------------------------------------

def test_cache_counts_whose_hit_rate_the_fact_cannot_hold(wh):
    """DEFECT (high): fact_agent_execution computes cache_hit_rate (numeric(5,2), the seed's generated
    column) from cache_hit_count + cache_miss_count (integers). An execution with 2147483647 hits and 1
    miss overflowed the integer sum, one with -1000 hits and 1001 misses made a rate of -100000 %: the
    fact step failed ("integer out of range", "numeric field overflow"), the whole batch with it and the
    steps after it were skipped, run after run. Such rows are quarantined now by the silver check
    (negative counts, a sum beyond integer); the good execution next to them loads."""
    conn = wh
    issue(conn, "A14-CACHE", 1_400_020)
    for eid, hits, misses in ((14_000_101, 30, 10), (14_000_102, 2_147_483_647, 1), (14_000_103, -1000, 1001)):
        execution(conn, eid, "A14-CACHE", at(eid - 14_000_100), at(eid - 14_000_100 + 1), "0.1000")
        conn.execute("UPDATE devflow_src.agent_execution_logs SET cache_hit_count = %s, cache_miss_count = %s WHERE id = %s",
                     (hits, misses, eid))
    daily(conn)
    assert rows(conn, """SELECT execution_id, cache_hit_rate FROM devflow.fact_agent_execution
                         WHERE execution_id BETWEEN 14000101 AND 14000103""") == [(14_000_101, Decimal("75.00"))]
    q = dict(rows(conn, """SELECT record_key, reasons FROM dwh_etl.quarantine WHERE resolved_at IS NULL
                           AND target_table = 'silver.devflow_agent_execution_logs' AND record_key IN ('14000102', '14000103')"""))
    assert set(q) == {"14000102", "14000103"} and all(any("cache_" in r for r in v) for v in q.values()), q


def test_metric_sample_with_more_errors_than_requests(wh):
    """DEFECT (high): fact_performance_metrics computes error_rate (numeric(5,4), the seed's generated
    column) = error_count / request_count. A sample with 100 errors in 1 request (a counter reset, a
    scraper's glitch) made a rate of 100, which the column cannot hold: the fact step failed for every
    sample of the window, and devflow_5min and daily failed from then on. Such a sample is quarantined
    now ("error_count is more than request_count"); the others load."""
    conn = wh
    resource = resource_of(conn)
    when = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(minutes=30)
    inbox(conn, "metrics", [sample(resource, when, 12.5, requests=1, errors=100),
                            sample(resource, when + dt.timedelta(seconds=1), 12.5, requests=10, errors=1)])
    daily(conn)
    got = rows(conn, """SELECT measured_at, error_rate FROM devflow.fact_performance_metrics
                        WHERE resource_id = %s AND measured_at IN (%s, %s)""", (resource, when, when + dt.timedelta(seconds=1)))
    assert got == [(when + dt.timedelta(seconds=1), Decimal("0.1000"))], got
    reasons = scalar(conn, """SELECT reasons FROM dwh_etl.quarantine WHERE resolved_at IS NULL
                              AND target_table = 'silver.devflow_metric_samples' AND record_key = %s""",
                     (f"{resource}/{iso(when)}",))
    assert reasons and any("error_count" in r for r in reasons), reasons


def test_dora_metrics_of_one_issue_by_hand_after_a_delete_and_a_redelivery(wh, dsn):
    """Held: one issue (P4, critical) five weeks back, alone in its mart group: two executions, a failed
    and a successful production deployment, a staging one, and a second successful production run that
    the source then deletes; the deployments delivered again (same values, newer updated_at) and
    `daily` run by the CLI under odd client settings (TimeZone Pacific/Chatham, DateStyle German,
    PGOPTIONS search_path=devflow_src). The processing row and the mart's DORA metrics equal the seed's
    definitions computed here by hand: 2 production deployments, frequency 1 / days of the period,
    lead time 190 min, change failure rate 50 %, time to recovery 70 min."""
    conn = wh
    agent = agent_of(conn)
    t = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=35)).replace(hour=8, minute=0, second=0, microsecond=0)
    m = lambda minutes: t + dt.timedelta(minutes=minutes)  # noqa: E731
    issue(conn, "A14-DORA", 1_400_030, priority="P4", complexity="critical", created=m(-30))
    execution(conn, 14_000_111, "A14-DORA", m(0), m(60), "2.0000", agent)
    execution(conn, 14_000_112, "A14-DORA", m(70), m(100), "1.0000", agent)
    deployment(conn, 14_000_113, "A14-DORA", m(110), m(120), "FAILED", "3.00")
    deployment(conn, 14_000_114, "A14-DORA", m(180), m(190), "SUCCESS", "2.00")
    deployment(conn, 14_000_115, "A14-DORA", m(105), m(108), "SUCCESS", "1.00", env="staging")
    deployment(conn, 14_000_116, "A14-DORA", m(200), m(210), "SUCCESS", "9.00")
    odd = {"PGTZ": "Pacific/Chatham", "PGDATESTYLE": "German", "PGOPTIONS": "-c search_path=devflow_src"}
    ok(dwh(dsn, "run", "daily", env=odd))
    conn.execute("DELETE FROM devflow_src.deployment_pipelines WHERE id = 14000116")
    conn.execute("UPDATE devflow_src.deployment_pipelines SET updated_at = now() WHERE id BETWEEN 14000113 AND 14000115")
    ok(dwh(dsn, "run", "daily", env=odd))
    assert [r[:6] for r in fip(conn, "A14-DORA")] == [
        (1_400_030, m(0), m(190), Decimal("3.0000"), Decimal("6.0000"), True)]
    agent_type = scalar(conn, "SELECT agent_type FROM devflow.dim_agent WHERE agent_id = %s AND is_current", (agent,))
    year, quarter, month, week = rows(conn, "SELECT year, quarter, month, week_of_year FROM devflow.dim_time WHERE full_date = %s",
                                      (t.date(),))[0]
    days = scalar(conn, """SELECT count(*) FROM devflow.dim_time
                           WHERE (year, quarter, month, week_of_year) = (%s, %s, %s, %s)""", (year, quarter, month, week))
    mart = rows(conn, """SELECT total_issues, production_deployments, deployment_frequency_per_day, mean_lead_time_hours,
                                change_failure_rate, mean_time_to_recovery_hours, total_ai_cost_usd, total_infra_cost_usd
                         FROM devflow.mart_development_performance
                         WHERE (year, quarter, month, week_of_year, priority, complexity, agent_type) = (%s, %s, %s, %s, 'P4', 'critical', %s)""",
                (year, quarter, month, week, agent_type))
    assert len(mart) == 1, mart
    issues, deployments, frequency, lead, cfr, mttr, ai, infra = mart[0]
    assert (issues, deployments, ai, infra) == (1, 2, Decimal("3.0000"), Decimal("6.0000"))
    assert round(frequency, 6) == round(Decimal(1) / days, 6)
    assert round(lead, 4) == round(Decimal(190) / 60, 4)
    assert round(cfr, 2) == Decimal("50.00")
    assert round(mttr, 4) == round(Decimal(70) / 60, 4)


def test_a_pull_request_relinked_and_a_worktree_moved_to_another_issue(wh):
    """DEFECT (medium, the same as the moved execution's): a pull request's body is edited from "Closes
    #A" to "Closes #B" (GitHub sends it again with a newer updated_at) and a worktree is re-associated
    from A to B: A's processing row kept both (only B was recomputed). With the queue of migration 0064
    A's row loses the pr_number and the worktree, B's gets them."""
    conn = wh
    issue(conn, "A14-PRA", 1_400_040)
    issue(conn, "A14-PRB", 1_400_041)
    execution(conn, 14_000_121, "A14-PRA", at(0), at(10), "1.0000")
    execution(conn, 14_000_122, "A14-PRB", at(20), at(30), "1.0000")
    conn.execute("""INSERT INTO devflow_src.worktree_states (id, worktree_path, branch_name, status, associated_issue_id,
                        created_at, updated_at)
                    VALUES (14000123, '/work/a14b-wt', 'a14b', 'active', 'A14-PRA', %s, now())""", (at(1),))
    inbox(conn, "github_pulls", [pr_payload(1_400_950, 1_400_040, at(5))])
    daily(conn)
    wt = "SELECT f.pr_number, w.worktree_path FROM devflow.fact_issue_processing AS f LEFT JOIN devflow.dim_worktree AS w USING (worktree_key) WHERE f.issue_number = %s"
    assert rows(conn, wt, (1_400_040,)) == [(1_400_950, "/work/a14b-wt")]
    relinked = pr_payload(1_400_950, 1_400_041, at(5))
    relinked["updated_at"] = iso(dt.datetime.now(dt.timezone.utc))
    inbox(conn, "github_pulls", [relinked])
    conn.execute("UPDATE devflow_src.worktree_states SET associated_issue_id = 'A14-PRB', updated_at = now() WHERE id = 14000123")
    daily(conn)
    assert rows(conn, wt, (1_400_040,)) == [(None, None)]
    assert rows(conn, wt, (1_400_041,)) == [(1_400_950, "/work/a14b-wt")]


def test_a_deleted_issue_agent_and_resource_are_closed_and_leave_the_marts(wh):
    """DEFECT (high, the deletes' second half): an issue deleted in the source (spam, a duplicate) stayed
    current in dim_issue, its processing row in mart_development_performance and kpi_issue_lead_time;
    a deleted agent and a decommissioned resource stayed current in their dimensions. Now their
    dimension rows are closed (delete_policy close: no current version), the issue's processing row is gone;
    re-inserted later (a restore with its old updated_at), the issue is current again and processed."""
    conn = wh
    issue(conn, "A14-SPAM", 1_400_050)
    execution(conn, 14_000_131, "A14-SPAM", at(0), at(10), "1.0000")
    conn.execute("""INSERT INTO devflow_src.agents (agent_id, agent_name, agent_type, agent_category, created_at, updated_at)
                    VALUES ('a14b-agent', 'attack 14b', 'CodeGen', 'Technical', %s, now())""", (at(-120),))
    conn.execute("""INSERT INTO devflow_src.infrastructure (resource_id, resource_type, region, created_at, updated_at)
                    VALUES ('a14b-res', 'EC2', 'ap-northeast-1', %s, now())""", (at(-120),))
    daily(conn)
    assert len(fip(conn, "A14-SPAM")) == 1
    saved = rows(conn, "SELECT title, created_at, updated_at FROM devflow_src.issues WHERE id = 'A14-SPAM'")[0]
    conn.execute("DELETE FROM devflow_src.issues WHERE id = 'A14-SPAM'")
    conn.execute("DELETE FROM devflow_src.agents WHERE agent_id = 'a14b-agent'")
    conn.execute("DELETE FROM devflow_src.infrastructure WHERE resource_id = 'a14b-res'")
    daily(conn)
    for table, key, value in (("dim_issue", "issue_id", "A14-SPAM"), ("dim_agent", "agent_id", "a14b-agent"),
                              ("dim_infrastructure", "resource_id", "a14b-res")):
        # delete_policy close: the current version ends, no marker version
        assert rows(conn, f"SELECT count(*) > 0, bool_or(is_current) FROM devflow.{table} WHERE {key} = %s",
                    (value,)) == [(True, False)], table
    assert fip(conn, "A14-SPAM") == []
    assert scalar(conn, "SELECT count(*) FROM devflow.kpi_issue_lead_time WHERE issue_id = 'A14-SPAM'") == 0
    # restored from a backup, with its old change time
    conn.execute("""INSERT INTO devflow_src.issues (id, number, title, priority, complexity, created_at, updated_at)
                    VALUES ('A14-SPAM', 1400050, %s, 'P2', 'medium', %s, %s)""", saved)
    daily(conn)
    assert scalar(conn, "SELECT count(*) FROM devflow.dim_issue WHERE issue_id = 'A14-SPAM' AND is_current") == 1
    assert [r[:4] for r in fip(conn, "A14-SPAM")] == [(1_400_050, at(0), at(10), Decimal("1.0000"))]
    before = gold_state(conn)
    daily(conn)
    assert gold_state(conn) == before


# ---------------------------------------------------------------------------------------------------
# change events into devflow_src
# ---------------------------------------------------------------------------------------------------

def cdc(op, table, lsn, after=None, before=None):
    return {"op": op, "before": before, "after": after, "ts_ms": 1_700_000_000_000 + lsn,
            "source": {"schema": "public", "table": table, "lsn": lsn, "ts_ms": 1_700_000_000_000 + lsn}}


def test_change_events_create_update_and_delete_devflow_rows(wh):
    """Held (with the deletes of migration 0064): Debezium events applied to devflow_src (a deployment
    created with epoch-millisecond instants, updated twice out of LSN order, an execution created then
    deleted, the same batch delivered again) end in the source's last state: the deployment in
    fact_deployment with its last values, the deleted execution nowhere; the redelivery is all
    duplicates and changes nothing."""
    conn = wh
    iid = scalar(conn, "SELECT id FROM devflow_src.issues ORDER BY number LIMIT 1")
    agent, res = agent_of(conn), resource_of(conn)
    ms = lambda ts: int(ts.timestamp() * 1000)  # noqa: E731
    dep = {"id": 14_000_141, "pipeline_id": "cdc-1", "issue_id": iid, "agent_id": agent, "resource_id": res,
           "commit_sha": "c" * 40, "environment": "production", "deployment_type": "CANARY",
           "deployment_status": "RUNNING", "started_at": ms(at(0)), "completed_at": None,
           "infrastructure_cost_usd": "1.00", "data_transfer_cost_usd": "0.10"}
    done = dict(dep, deployment_status="SUCCESS", completed_at=ms(at(5)), infrastructure_cost_usd="2.00")
    late = dict(dep, deployment_status="FAILED", completed_at=ms(at(4)))  # an older change, delivered last
    exe = {"id": 14_000_142, "issue_id": iid, "agent_id": agent, "started_at": ms(at(1)), "completed_at": ms(at(2)),
           "exit_code": 0, "llm_cost_usd": "0.5000"}
    batch = [cdc("c", "deployment_pipelines", 10, after=dep), cdc("u", "deployment_pipelines", 30, after=done, before=dep),
             cdc("u", "deployment_pipelines", 20, after=late, before=dep),
             cdc("c", "agent_execution_logs", 11, after=exe), cdc("d", "agent_execution_logs", 12, before=exe)]
    first = rows(conn, "SELECT * FROM dwh_etl.ingest_cdc_events(%s::jsonb, 'devflow_src')", (json.dumps(batch),))
    daily(conn)
    assert rows(conn, """SELECT deployment_status, completed_at, infrastructure_cost_usd FROM devflow.fact_deployment
                         WHERE deployment_id = 14000141""") == [("SUCCESS", at(5), Decimal("2.00"))], first
    assert scalar(conn, "SELECT count(*) FROM devflow.fact_agent_execution WHERE execution_id = 14000142") == 0
    before = gold_state(conn)
    again = rows(conn, "SELECT events, applied, duplicate FROM dwh_etl.ingest_cdc_events(%s::jsonb, 'devflow_src')",
                 (json.dumps(batch),))
    assert again == [(5, 0, 5)], again
    daily(conn)
    assert gold_state(conn) == before


def test_running_then_finished_a_late_earlier_execution_and_one_sample_in_two_notations(wh):
    """Held: an execution still running is no fact (and no processing row); finished in the next window it
    is; an earlier execution of the same issue arriving a window later replaces the processing row (one
    row, started at the earlier start, costs of both); a metric sample sent as 10:00+05:45 and again as
    04:15Z (the same instant) is one fact row."""
    conn = wh
    issue(conn, "A14-RUN", 1_400_060)
    conn.execute("""INSERT INTO devflow_src.agent_execution_logs (id, issue_id, agent_id, started_at, exit_code, llm_cost_usd, updated_at)
                    VALUES (14000151, 'A14-RUN', %s, %s, 0, 1.0, now())""", (agent_of(conn), at(30)))
    daily(conn)
    assert scalar(conn, "SELECT count(*) FROM devflow.fact_agent_execution WHERE execution_id = 14000151") == 0
    assert fip(conn, "A14-RUN") == []
    conn.execute("UPDATE devflow_src.agent_execution_logs SET completed_at = %s, updated_at = now() WHERE id = 14000151", (at(40),))
    daily(conn)
    assert [r[1:4] for r in fip(conn, "A14-RUN")] == [(at(30), at(40), Decimal("1.0000"))]
    execution(conn, 14_000_152, "A14-RUN", at(10), at(20), "2.0000")
    daily(conn)
    assert [r[1:4] for r in fip(conn, "A14-RUN")] == [(at(10), at(40), Decimal("3.0000"))]
    resource = resource_of(conn)
    day = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1)).date().isoformat()
    s1 = dict(sample(resource, at(0), 10), timestamp=f"{day}T10:00:00+05:45")
    s2 = dict(sample(resource, at(0), 10), timestamp=f"{day}T04:15:00Z")
    inbox(conn, "metrics", [s1])
    daily(conn)
    inbox(conn, "metrics", [s2])
    daily(conn)
    assert scalar(conn, "SELECT count(*) FROM devflow.fact_performance_metrics WHERE resource_id = %s AND measured_at = %s",
                  (resource, dt.datetime.fromisoformat(f"{day}T04:15:00+00:00"))) == 1


def test_a_delete_applied_as_logical_replication_does_leaves_its_tombstone(wh):
    """Held (the triggers of migration 0064 are ENABLE ALWAYS, as zz_dwh_arrival): a delete applied in a
    session with session_replication_role = replica (how logical replication applies a replicated
    devflow source) still writes its tombstone, and `daily` drops the deployment from gold."""
    conn = wh
    issue(conn, "A14-REPL", 1_400_070)
    execution(conn, 14_000_161, "A14-REPL", at(0), at(10), "1.0000")
    deployment(conn, 14_000_162, "A14-REPL", at(11), at(12), "SUCCESS", "1.00")
    daily(conn)
    with conn.transaction():
        conn.execute("SET LOCAL session_replication_role = replica")
        conn.execute("DELETE FROM devflow_src.deployment_pipelines WHERE id = 14000162")
    assert scalar(conn, "SELECT count(*) FROM devflow_src.deleted_records WHERE record_id = '14000162'") == 1
    daily(conn)
    assert scalar(conn, "SELECT count(*) FROM devflow.fact_deployment WHERE deployment_id = 14000162") == 0


def test_a_pull_request_body_naming_an_unresolved_issue_is_not_linked_to_it(wh):
    """DEFECT (low): the pull request -> issue link (GitHub's closing keywords in the body) matched inside
    words: "Follow-up of the still unresolved #A; closes #B" linked the PR to A ("resolved #A" inside
    "unresolved"), as did "prefixes #A" ("fixes #A"). The keywords count as words only now: the PR is
    B's."""
    conn = wh
    issue(conn, "A14-KW-A", 1_400_080)
    issue(conn, "A14-KW-B", 1_400_081)
    execution(conn, 14_000_171, "A14-KW-A", at(0), at(10), "1.0000")
    execution(conn, 14_000_172, "A14-KW-B", at(0), at(10), "1.0000")
    pr = pr_payload(1_400_960, 1_400_081, at(5))
    pr["body"] = "Follow-up of the still unresolved #1400080 (its config prefixes #1400080); closes #1400081"
    pr["head"]["ref"] = "kw-follow-up"
    inbox(conn, "github_pulls", [pr])
    daily(conn)
    assert scalar(conn, "SELECT issue_number FROM silver.devflow_pull_requests WHERE pr_number = 1400960") == 1_400_081
    assert [r[6] for r in fip(conn, "A14-KW-A")] == [None]
    assert [r[6] for r in fip(conn, "A14-KW-B")] == [1_400_960]
