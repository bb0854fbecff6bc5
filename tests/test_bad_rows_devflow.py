"""Issue 9 for the devflow area: one bad row or payload never fails a devflow step. It goes to
dwh_etl.quarantine with its reason, the rest of the batch loads, and the result does not depend on the
client's session settings.

One database per module (a small generated demo, loaded once); each case of the battery writes its bad
record next to good ones through the real source paths, the devflow_src tables and the API inbox
devflow_src.api_payloads, as a user's data would arrive, runs `daily`, and checks that the run completed,
the bad record is quarantined with the expected reason, and the good ones reached silver and the facts.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json

import psycopg
import pytest
from psycopg.types.json import Jsonb



def make_conninfo(host, port, user, dbname, password=None) -> str:
    return psycopg.conninfo.make_conninfo(host=host, port=str(port), user=user, dbname=dbname, password=password or None)

RUN_SQL = "CALL dwh_etl.run_pipeline(p_pipeline => %s, p_run_date => %s, p_run_id => NULL)"
BIG = 10_000_000  # a 10 MB text
_ids = itertools.count(1)


def today_utc() -> dt.date:
    return dt.datetime.now(dt.timezone.utc).date()


def scalar(conn, sql, params=None):
    return conn.execute(sql, params).fetchone()[0]


def run(conn, pipeline="daily", run_date=None):
    return conn.execute(RUN_SQL, (pipeline, run_date or today_utc())).fetchone()[0]


def _create_db(proc, name: str, template: str) -> str:
    with psycopg.connect(make_conninfo(proc.host, proc.port, proc.user, "postgres", proc.password), autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        c.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return make_conninfo(proc.host, proc.port, proc.user, name, proc.password)


def _drop_db(proc, name: str) -> None:
    with psycopg.connect(make_conninfo(proc.host, proc.port, proc.user, "postgres", proc.password), autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def db(postgresql_proc):
    """A database with two generated days of devflow activity, loaded by `daily` once."""
    info = _create_db(postgresql_proc, "bad_rows_devflow", postgresql_proc.template_dbname)
    with psycopg.connect(info, autocommit=True) as conn:
        conn.execute("CALL devflow_src.generate(p_days => 2, p_seed => 0.42)")
        run_id = run(conn)
        assert scalar(conn, "SELECT status FROM dwh_lineage.pipeline_runs WHERE run_id = %s", (run_id,)) == "completed"
        assert scalar(conn, "SELECT count(*) FROM dwh_etl.quarantine") == 0
        yield conn
    _drop_db(postgresql_proc, "bad_rows_devflow")


def ref(conn):
    """Existing reference keys to hang new events on."""
    issue_id, issue_number = conn.execute(
        """SELECT i.issue_id, i.issue_number FROM devflow.fact_issue_processing AS f
           JOIN devflow.dim_issue AS i USING (issue_key) ORDER BY f.issue_number LIMIT 1""").fetchone()
    return {
        "issue_id": issue_id, "issue_number": issue_number,
        "agent_id": scalar(conn, "SELECT agent_id FROM devflow_src.agents ORDER BY agent_id LIMIT 1"),
        "resource_id": scalar(conn, "SELECT resource_id FROM devflow_src.infrastructure ORDER BY resource_id LIMIT 1"),
    }


def iso(ts: dt.datetime) -> str:
    return ts.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# One base for the whole module: an instant computed twice (the record, then the check for it) must be
# the same even when a minute boundary passes in between (a 10 MB payload takes seconds on a busy machine).
_BASE = (dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(hours=3)).replace(second=7)


def fresh_instant(n: int) -> dt.datetime:
    """A distinct recent instant (never on the generator's 5-minute ticks)."""
    return _BASE + dt.timedelta(minutes=n)


def pull_request(number, issue_number, n, **over):
    at = fresh_instant(n)
    pr = {"url": f"https://api.github.com/repos/miyabi/miyabi-private/pulls/{number}", "number": number,
          "state": "open", "title": f"PR {number}", "body": f"Closes #{issue_number}", "draft": False, "merged": False,
          "user": {"login": "octocat"}, "head": {"ref": f"issue-{issue_number}", "sha": "b" * 40},
          "base": {"ref": "main"}, "additions": 1, "deletions": 1, "changed_files": 1,
          "created_at": iso(at), "updated_at": iso(at), "closed_at": None, "merged_at": None}
    pr.update(over)
    return pr


def metric_sample(resource_id, n, **over):
    sample = {"resource_id": resource_id, "namespace": "Test", "timestamp": iso(fresh_instant(n)), "period": 300,
              "metrics": {"cpu_utilization_percent": 12.5, "memory_utilization_percent": 40, "request_count": 100,
                          "error_count": 1}}
    sample.update(over)
    return sample


def inbox(conn, feed, payload):
    source = "github" if feed == "github_pulls" else "prometheus"
    return scalar(conn, """INSERT INTO devflow_src.api_payloads (feed, source, payload) VALUES (%s, %s, %s::jsonb)
                           RETURNING payload_id""", (feed, source, json.dumps(payload)))


# ------------------------------------------------------------------------------------------------
# The battery. Each case: arrive(conn, r, k) writes the bad record and good ones and returns
# (quarantine target table, record key of the bad record or None, reason fragment, good-check SQL
# returning true when every good record reached silver and the facts).
# ------------------------------------------------------------------------------------------------

def _issue(conn, issue_id, title="Good issue", number=None):
    number = number or 900000 + next(_ids)
    conn.execute("""INSERT INTO devflow_src.issues (id, number, title, priority, complexity, state, created_at, updated_at)
                    VALUES (%s, %s, %s, 'P2', 'low', 'open', now() - interval '1 hour', now())""",
                 (issue_id, number, title))
    return number


def case_issue_id_of_ascii_spaces(conn, r, k):
    _issue(conn, "   ")
    _issue(conn, f"GOOD-{k}")
    return ("silver.devflow_issues", "   ", "id is blank",
            f"SELECT EXISTS (SELECT 1 FROM devflow.dim_issue WHERE issue_id = 'GOOD-{k}')")


def case_issue_id_of_ideographic_spaces(conn, r, k):
    _issue(conn, "\u3000\u3000\u2003\u00a0")
    _issue(conn, f"GOOD-{k}")
    return ("silver.devflow_issues", "\u3000\u3000\u2003\u00a0", "id is blank",
            f"SELECT EXISTS (SELECT 1 FROM devflow.dim_issue WHERE issue_id = 'GOOD-{k}')")


def case_issue_title_of_unicode_spaces(conn, r, k):
    _issue(conn, f"BLANK-TITLE-{k}", title="\u3000\u3000")
    _issue(conn, f"GOOD-{k}")
    return ("silver.devflow_issues", f"BLANK-TITLE-{k}", "title is blank",
            f"SELECT EXISTS (SELECT 1 FROM devflow.dim_issue WHERE issue_id = 'GOOD-{k}')")


def _worktree(conn, path, branch, issue_id):
    conn.execute("""INSERT INTO devflow_src.worktree_states (id, worktree_path, branch_name, status, associated_issue_id,
                                                             created_at, updated_at)
                    VALUES (%s, %s, %s, 'active', %s, now() - interval '1 hour', now())""",
                 (9_000_000 + next(_ids), path, branch, issue_id))


def case_ten_megabytes_in_an_indexed_column(conn, r, k):
    _worktree(conn, f"/wt/big-{k}", "x", r["issue_id"])
    conn.execute("UPDATE devflow_src.worktree_states SET branch_name = repeat('x', %s) WHERE worktree_path = %s",
                 (BIG, f"/wt/big-{k}"))
    _worktree(conn, f"/wt/good-{k}", f"issue-{k}", r["issue_id"])
    return ("silver.devflow_worktree_states", f"/wt/big-{k}", "branch_name is longer than 500 characters",
            f"SELECT EXISTS (SELECT 1 FROM devflow.dim_worktree WHERE worktree_path = '/wt/good-{k}')")


def _execution(conn, r, exec_id, started, completed):
    conn.execute("""INSERT INTO devflow_src.agent_execution_logs (id, issue_id, agent_id, started_at, completed_at,
                                                                  exit_code, llm_cost_usd, updated_at)
                    VALUES (%s, %s, %s, %s, %s, 0, 0.5, now())""", (exec_id, r["issue_id"], r["agent_id"], started, completed))


def case_execution_started_in_year_one(conn, r, k):
    bad, good = 8_000_000 + 10 * k, 8_000_000 + 10 * k + 1
    _execution(conn, r, bad, "0001-01-01T00:00:00Z", "0001-01-01T00:10:00Z")
    _execution(conn, r, good, fresh_instant(k), fresh_instant(k) + dt.timedelta(minutes=2))
    return ("silver.devflow_agent_execution_logs", str(bad), "is outside the sane range",
            f"SELECT EXISTS (SELECT 1 FROM devflow.fact_agent_execution WHERE execution_id = {good})")


def case_execution_completed_at_infinity(conn, r, k):
    bad, good = 8_000_000 + 10 * k, 8_000_000 + 10 * k + 1
    _execution(conn, r, bad, fresh_instant(k), "infinity")
    _execution(conn, r, good, fresh_instant(k), fresh_instant(k) + dt.timedelta(minutes=2))
    return ("silver.devflow_agent_execution_logs", str(bad), 'completed_at "infinity" is not a valid timestamp',
            f"SELECT EXISTS (SELECT 1 FROM devflow.fact_agent_execution WHERE execution_id = {good})")


def case_execution_in_the_far_future(conn, r, k):
    bad, good = 8_000_000 + 10 * k, 8_000_000 + 10 * k + 1
    _execution(conn, r, bad, "2999-01-01T00:00:00Z", "2999-01-01T00:10:00Z")
    _execution(conn, r, good, fresh_instant(k), fresh_instant(k) + dt.timedelta(minutes=2))
    return ("silver.devflow_agent_execution_logs", str(bad), "started_at \"2999-01-01",
            f"SELECT EXISTS (SELECT 1 FROM devflow.fact_agent_execution WHERE execution_id = {good})")


def _deployment(conn, r, dep_id, deployment_type="ROLLING", commit_sha="c" * 40):
    at = fresh_instant(dep_id % 50)
    conn.execute("""INSERT INTO devflow_src.deployment_pipelines (id, pipeline_id, issue_id, agent_id, resource_id, commit_sha,
                        environment, deployment_type, deployment_status, started_at, completed_at, updated_at)
                    VALUES (%s, %s, %s, %s, %s, %s, 'staging', %s, 'SUCCESS', %s, %s, now())""",
                 (dep_id, f"p-{dep_id}", r["issue_id"], r["agent_id"], r["resource_id"], commit_sha, deployment_type,
                  at, at + dt.timedelta(minutes=3)))


def case_deployment_type_the_fact_refuses(conn, r, k):
    bad, good = 7_000_000 + 10 * k, 7_000_000 + 10 * k + 1
    _deployment(conn, r, bad, deployment_type="BIG_BANG")
    _deployment(conn, r, good)
    return ("silver.devflow_deployment_pipelines", str(bad), 'deployment_type "BIG_BANG" is unknown',
            f"SELECT EXISTS (SELECT 1 FROM devflow.fact_deployment WHERE deployment_id = {good})")


def case_commit_sha_longer_than_the_fact_column(conn, r, k):
    bad, good = 7_000_000 + 10 * k, 7_000_000 + 10 * k + 1
    _deployment(conn, r, bad, commit_sha="d" * 41)
    _deployment(conn, r, good)
    return ("silver.devflow_deployment_pipelines", str(bad), "commit_sha is longer than 40 characters",
            f"SELECT EXISTS (SELECT 1 FROM devflow.fact_deployment WHERE deployment_id = {good})")


def case_code_generations_whose_sum_overflows_the_fact(conn, r, k):
    issue = conn.execute("""SELECT i.issue_id, i.issue_number FROM devflow.fact_issue_processing AS f
                            JOIN devflow.dim_issue AS i USING (issue_key) ORDER BY f.issue_number DESC LIMIT 1""").fetchone()
    bad, good = 6_000_000 + 10 * k, 6_000_000 + 10 * k + 1
    # each generation fits an integer, their sum does not
    for cg_id, issue_id, lines in [(bad, issue[0], 2_147_483_647), (bad + 2, issue[0], 5), (good, r["issue_id"], 12)]:
        conn.execute("""INSERT INTO devflow_src.code_gen_tasks (id, issue_id, agent_id, total_lines_generated, total_files_generated,
                                                                generation_duration_ms, created_at, updated_at)
                        VALUES (%s, %s, %s, %s, 1, 1000, %s, now())""", (cg_id, issue_id, r["agent_id"], lines, fresh_instant(k)))
    return ("devflow.fact_issue_processing", issue[0], "lines_of_code_generated",
            f"SELECT EXISTS (SELECT 1 FROM devflow.fact_code_generation WHERE code_gen_id = {good}) "
            f"AND (SELECT lines_of_code_generated FROM devflow.fact_issue_processing WHERE issue_number = {r['issue_number']}) "
            f"= (SELECT sum(total_lines_generated) FROM devflow_src.code_gen_tasks WHERE issue_id = '{r['issue_id']}')")


def _pr_good_check(r, number):
    return (f"SELECT EXISTS (SELECT 1 FROM silver.devflow_pull_requests WHERE pr_number = {number}) "
            f"AND EXISTS (SELECT 1 FROM devflow.fact_issue_processing WHERE issue_number = {r['issue_number']} "
            f"AND pr_number = {number})")


def case_pr_number_overflows_integer(conn, r, k):
    good = 500_000 + k
    inbox(conn, "github_pulls", [pull_request(3_000_000_000, r["issue_number"], k),
                                 pull_request(good, r["issue_number"], k + 1)])
    return ("silver.devflow_pull_requests", "3000000000", 'pr_number "3000000000" is out of range for integer',
            _pr_good_check(r, good))


def case_pr_payload_with_a_number_element(conn, r, k):
    good = 500_000 + k
    pid = inbox(conn, "github_pulls", [pull_request(good, r["issue_number"], k), 42])
    return ("bronze.devflow_pull_requests", f"{pid}[2]", "element 2 of the payload is a JSON number, not an object: \"42\"",
            _pr_good_check(r, good))


def case_pr_payload_with_data_an_object(conn, r, k):
    good = 500_000 + k
    pid = inbox(conn, "github_pulls", {"data": pull_request(600_000 + k, r["issue_number"], k)})
    inbox(conn, "github_pulls", [pull_request(good, r["issue_number"], k + 1)])
    return ("bronze.devflow_pull_requests", str(pid), '"data" is a JSON object, not an array of objects',
            _pr_good_check(r, good) + f" AND NOT EXISTS (SELECT 1 FROM silver.devflow_pull_requests WHERE pr_number = {600_000 + k})")


def case_pr_payload_with_a_nested_array(conn, r, k):
    good = 500_000 + k
    pid = inbox(conn, "github_pulls", [[pull_request(600_000 + k, r["issue_number"], k)],
                                       pull_request(good, r["issue_number"], k + 1)])
    return ("bronze.devflow_pull_requests", f"{pid}[1]", "element 1 of the payload is a JSON array, not an object",
            _pr_good_check(r, good))


def case_pr_payload_a_string(conn, r, k):
    good = 500_000 + k
    pid = inbox(conn, "github_pulls", "rate limit exceeded")
    inbox(conn, "github_pulls", {"data": [pull_request(good, r["issue_number"], k + 1)]})
    return ("bronze.devflow_pull_requests", str(pid), "payload is a JSON string, not an array of objects",
            _pr_good_check(r, good))


def case_metric_period_overflows_integer(conn, r, k):
    inbox(conn, "metrics", [metric_sample(r["resource_id"], k, period=99_999_999_999), metric_sample(r["resource_id"], k + 1)])
    bad_key = f"{r['resource_id']}/{iso(fresh_instant(k))}"
    return ("silver.devflow_metric_samples", bad_key, 'measurement_interval_seconds "99999999999" is out of range for integer',
            _metric_good_check(r, k + 1))


def _metric_good_check(r, n):
    return (f"SELECT EXISTS (SELECT 1 FROM devflow.fact_performance_metrics WHERE resource_id = '{r['resource_id']}' "
            f"AND measured_at = '{iso(fresh_instant(n))}')")


def case_metrics_a_string(conn, r, k):
    inbox(conn, "metrics", [metric_sample(r["resource_id"], k, metrics="cpu=5"), metric_sample(r["resource_id"], k + 1)])
    return ("silver.devflow_metric_samples", f"{r['resource_id']}/{iso(fresh_instant(k))}",
            'metrics is a JSON string, not an object: "cpu=5"', _metric_good_check(r, k + 1))


def case_metric_sampled_in_year_one(conn, r, k):
    inbox(conn, "metrics", [metric_sample(r["resource_id"], k, timestamp="0001-01-01T00:00:00Z"),
                            metric_sample(r["resource_id"], k + 1)])
    return ("silver.devflow_metric_samples", f"{r['resource_id']}/0001-01-01T00:00:00Z",
            'measured_at "0001-01-01T00:00:00Z" is outside the sane range', _metric_good_check(r, k + 1))


def case_metric_rounded_silently(conn, r, k):
    inbox(conn, "metrics", [metric_sample(r["resource_id"], k, metrics={"cpu_utilization_percent": "10.555"}),
                            metric_sample(r["resource_id"], k + 1)])
    return ("silver.devflow_metric_samples", f"{r['resource_id']}/{iso(fresh_instant(k))}",
            'cpu_utilization_percent "10.555" has more than 2 decimal places', _metric_good_check(r, k + 1))


def case_metric_overflows_numeric(conn, r, k):
    inbox(conn, "metrics", [metric_sample(r["resource_id"], k, metrics={"disk_io_mbps": 1e12}),
                            metric_sample(r["resource_id"], k + 1)])
    return ("silver.devflow_metric_samples", f"{r['resource_id']}/{iso(fresh_instant(k))}",
            "is out of range for numeric(10,2)", _metric_good_check(r, k + 1))


def case_metric_resource_id_of_ten_megabytes(conn, r, k):
    inbox(conn, "metrics", [metric_sample("r" * BIG, k), metric_sample(r["resource_id"], k + 1)])
    return ("silver.devflow_metric_samples", None, "resource_id is longer than 500 characters",
            _metric_good_check(r, k + 1))


CASES = [case_issue_id_of_ascii_spaces, case_issue_id_of_ideographic_spaces, case_issue_title_of_unicode_spaces,
         case_ten_megabytes_in_an_indexed_column, case_execution_started_in_year_one,
         case_execution_completed_at_infinity, case_execution_in_the_far_future,
         case_deployment_type_the_fact_refuses, case_commit_sha_longer_than_the_fact_column,
         case_code_generations_whose_sum_overflows_the_fact,
         case_pr_number_overflows_integer, case_pr_payload_with_a_number_element, case_pr_payload_with_data_an_object,
         case_pr_payload_with_a_nested_array, case_pr_payload_a_string, case_metric_period_overflows_integer,
         case_metrics_a_string, case_metric_sampled_in_year_one, case_metric_rounded_silently,
         case_metric_overflows_numeric, case_metric_resource_id_of_ten_megabytes]


@pytest.mark.parametrize("case", CASES, ids=[c.__name__[5:] for c in CASES])
def test_a_bad_record_is_quarantined_and_the_rest_loads(db, case):
    conn = db
    k = 10 * CASES.index(case) + 3  # distinct instants and ids per case
    target, record_key, fragment, good_sql = case(conn, ref(conn), k)
    run_id = run(conn)
    failed = conn.execute("""SELECT step_name, error_message FROM dwh_lineage.step_runs
                             WHERE run_id = %s AND status <> 'completed'""", (run_id,)).fetchall()
    assert failed == []
    assert scalar(conn, "SELECT status FROM dwh_lineage.pipeline_runs WHERE run_id = %s", (run_id,)) == "completed"
    quarantined = conn.execute(
        # inbox entries are keyed by the rejected JSON's md5 (one open entry per record, however often it
        # arrives); where it first arrived is kept in the payload: payload_id or payload_id[element]
        """SELECT COALESCE((payload->>'_payload_id') || COALESCE('[' || (payload->>'_element') || ']', ''), record_key),
                  reasons
           FROM dwh_etl.quarantine
           WHERE run_id = %s AND target_table = %s AND resolved_at IS NULL""", (run_id, target)).fetchall()
    matching = [(key, reasons) for key, reasons in quarantined
                if any(fragment in reason for reason in reasons) and (record_key is None or key == record_key)]
    assert matching, quarantined
    # reasons quote at most ~200 characters of a value, record keys are bounded too
    assert all(len(reason) < 600 for _, reasons in quarantined for reason in reasons)
    assert all(key is None or len(key) < 300 for key, _ in quarantined)
    assert scalar(conn, good_sql) is True
    # a rerun finds nothing new and completes (the bad record does not block later runs)
    if case is case_pr_payload_with_a_number_element:
        rerun = run(conn)
        assert scalar(conn, "SELECT status FROM dwh_lineage.pipeline_runs WHERE run_id = %s", (rerun,)) == "completed"
        assert scalar(conn, "SELECT count(*) FROM dwh_etl.quarantine WHERE run_id = %s", (rerun,)) == 0


def test_a_single_object_payload_lands_as_one_element(db):
    conn = db
    r = ref(conn)
    inbox(conn, "github_pulls", pull_request(700_001, r["issue_number"], 1))
    run_id = run(conn)
    assert scalar(conn, "SELECT status FROM dwh_lineage.pipeline_runs WHERE run_id = %s", (run_id,)) == "completed"
    assert scalar(conn, "SELECT count(*) FROM silver.devflow_pull_requests WHERE pr_number = 700001") == 1
    # an object that is no pull request (an API error body) is not consumed silently either
    pid = inbox(conn, "github_pulls", {"message": "Bad credentials"})
    run_id = run(conn)
    assert scalar(conn, "SELECT status FROM dwh_lineage.pipeline_runs WHERE run_id = %s", (run_id,)) == "completed"
    # dwh_etl.ingest_json rejects it at the door: it has none of the bronze table's columns
    reasons = scalar(conn, """SELECT reasons FROM dwh_etl.quarantine WHERE run_id = %s
                              AND target_table = 'bronze.devflow_pull_requests'""", (run_id,))
    assert any("has none of the columns of bronze.devflow_pull_requests" in r for r in reasons), reasons
    assert pid is not None


def test_zone_less_timestamps_are_read_in_the_source_zone_whatever_the_session(db):
    conn = db
    r = ref(conn)
    wall = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=2)).replace(minute=1, second=11, microsecond=0)
    sample = metric_sample(r["resource_id"], 0, timestamp=wall.strftime("%Y-%m-%dT%H:%M:%S"))  # no zone
    inbox(conn, "metrics", [sample])
    conn.execute("SET TimeZone = 'America/New_York'")
    try:
        run_id = run(conn)
    finally:
        conn.execute("RESET TimeZone")
    assert scalar(conn, "SELECT status FROM dwh_lineage.pipeline_runs WHERE run_id = %s", (run_id,)) == "completed"
    # devflow.source_timezone is UTC by default: the wall time is UTC, not New York's
    assert scalar(conn, """SELECT count(*) FROM devflow.fact_performance_metrics
                           WHERE resource_id = %s AND measured_at = %s""", (r["resource_id"], wall)) == 1


def test_metrics_loaded_under_utc_then_tokyo_are_not_duplicated(db):
    """PGTZ=Asia/Tokyo used to fail the metrics fact with 9,072 duplicates: samples already loaded got
    another time_key (their Tokyo date) when the late-arrival check looked them up again."""
    conn = db
    r = ref(conn)
    inbox(conn, "metrics", [metric_sample(r["resource_id"], 200)])
    conn.execute("SET TimeZone = 'Asia/Tokyo'")
    try:
        run_id = run(conn, "devflow_5min")
    finally:
        conn.execute("RESET TimeZone")
    assert scalar(conn, "SELECT status FROM dwh_lineage.pipeline_runs WHERE run_id = %s", (run_id,)) == "completed"
    assert scalar(conn, """SELECT count(*) - count(DISTINCT (resource_id, measured_at))
                           FROM devflow.fact_performance_metrics""") == 0
    assert scalar(conn, _metric_good_check(r, 200)) is True
    # every time_key is the UTC date of its sample
    assert scalar(conn, """SELECT count(*) FROM devflow.fact_performance_metrics
                           WHERE time_key <> to_char(measured_at AT TIME ZONE 'UTC', 'YYYYMMDD')::integer""") == 0


# ------------------------------------------------------------------------------------------------
# Session settings: the same source loaded under UTC/ISO and under Asia/Tokyo with DateStyle 'SQL, DMY'
# gives exactly the same facts and marts.
# ------------------------------------------------------------------------------------------------

COMPARED = ["silver.devflow_issues", "silver.devflow_agent_execution_logs", "silver.devflow_metric_samples",
            "silver.devflow_pull_requests", "devflow.dim_issue", "devflow.dim_infrastructure",
            "devflow.fact_issue_processing", "devflow.fact_code_generation", "devflow.fact_deployment",
            "devflow.fact_agent_execution", "devflow.fact_performance_metrics",
            "devflow.mart_development_performance", "devflow.mart_agent_performance", "devflow.mart_infrastructure_cost"]


def content(conn) -> dict:
    """Each table's rows as ISO/UTC JSON, without load bookkeeping (_batch_id, _loaded_at, ...) and
    surrogate keys (their values depend on insertion order only)."""
    conn.execute("SET TimeZone = 'UTC'")
    conn.execute("SET DateStyle = 'ISO, YMD'")
    out = {}
    for table in COMPARED:
        # silver metric samples are stamped with their ingestion time
        volatile = ["record_created_at", "record_updated_at"] + (["updated_at"] if table == "silver.devflow_metric_samples" else [])
        out[table] = conn.execute(f"""
            SELECT count(*), md5(string_agg(j, '|' ORDER BY j))
            FROM (SELECT (SELECT jsonb_object_agg(e.key, e.value) FROM jsonb_each(to_jsonb(x)) AS e
                          WHERE e.key !~ '^_' AND (e.key !~ '_key$' OR e.key = 'time_key')
                            AND e.key <> ALL (%s))::text AS j
                  FROM {table} AS x) AS s""", (volatile,)).fetchone()
    return out


@pytest.fixture(scope="module")
def twin_sources(postgresql_proc):
    """Two databases holding the same generated source (the second a copy of the first)."""
    info_a = _create_db(postgresql_proc, "devflow_settings_a", postgresql_proc.template_dbname)
    with psycopg.connect(info_a, autocommit=True) as c:
        c.execute("CALL devflow_src.generate(p_days => 2, p_seed => 0.42)")
    info_b = _create_db(postgresql_proc, "devflow_settings_b", "devflow_settings_a")
    yield info_a, info_b
    _drop_db(postgresql_proc, "devflow_settings_a")
    _drop_db(postgresql_proc, "devflow_settings_b")


def test_session_time_zone_and_date_style_do_not_change_the_load(twin_sources):
    info_a, info_b = twin_sources
    # a run date after today: the extraction cap (end of the run date) is then later than every row in
    # both zones, so both loads read the same source rows
    run_date = today_utc() + dt.timedelta(days=1)
    with psycopg.connect(info_a, autocommit=True) as a:
        a.execute("SET TimeZone = 'UTC'")
        a.execute("SET DateStyle = 'ISO, YMD'")
        run_a = run(a, run_date=run_date)
        assert scalar(a, "SELECT status FROM dwh_lineage.pipeline_runs WHERE run_id = %s", (run_a,)) == "completed"
        expected = content(a)
    with psycopg.connect(info_b, autocommit=True) as b:
        b.execute("SET TimeZone = 'Asia/Tokyo'")
        # dwh_etl.extract_incremental renders source values with ::text, which follows DateStyle (the
        # engine's and the runner's business, not devflow's): the extraction runs under ISO, every
        # devflow step after it (API ingest, silver typing, dimensions, facts, marts) under 'SQL, DMY'
        b.execute("SET DateStyle = 'ISO, YMD'")
        for step in ("devflow_extract_entities", "devflow_extract_events"):
            spec = b.execute("SELECT spec FROM dwh_etl.steps WHERE pipeline_name = 'daily' AND step_name = %s",
                             (step,)).fetchone()[0]
            b.execute("CALL dwh_etl.step_extract(NULL, %s, %s)", (run_date, Jsonb(spec)))
        b.execute("SET DateStyle = 'SQL, DMY'")
        run_b = run(b, run_date=run_date)
        failed = b.execute("""SELECT step_name, error_message FROM dwh_lineage.step_runs
                              WHERE run_id = %s AND status <> 'completed'""", (run_b,)).fetchall()
        assert failed == []
        assert scalar(b, "SELECT count(*) FROM dwh_etl.quarantine") == 0
        actual = content(b)
    assert actual == expected
    assert expected["devflow.fact_performance_metrics"][0] > 0 and expected["devflow.fact_issue_processing"][0] > 0


def test_a_bad_payload_delivered_twice_keeps_one_open_entry(db):
    conn = db
    r = ref(conn)
    bad = {"data": {"title": "an object where an array belongs", "issue": r["issue_number"]}}
    first = inbox(conn, "github_pulls", bad)
    run(conn)
    second = inbox(conn, "github_pulls", bad)  # the API sent the same body again
    run(conn)
    entries = conn.execute("""
        SELECT deliveries, (payload->>'_payload_id')::bigint FROM dwh_etl.quarantine
        WHERE resolved_at IS NULL AND payload->'payload' = %s::jsonb
    """, (json.dumps(bad),)).fetchall()
    assert entries == [(2, first)]
    assert second != first
