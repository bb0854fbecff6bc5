"""Attack 15e: is gold right? An independent oracle over several simulated days of the devflow area (seed 000).

The source is driven as the operational system would (rows written into devflow_src.*: INSERT, UPDATE,
DELETE, which leave tombstones in devflow_src.deleted_records; the GitHub and metrics feeds of
devflow_src.api_payloads; a file of pull requests landed by `dwh load bronze.devflow_pull_requests`, as the
README shows), with a deterministic random generator (random.Random, fixed seed) choosing the day's
changes: new issues with their executions, code generations, reviews, deployments and label changes; a
late execution with old timestamps (earlier than the issue's first one); an execution still running one
day and finished the next; an execution updated three times in one run's window; an execution deleted, a
code generation deleted and re-inserted in one window, a deployment deleted; an issue's priority changed
three times in one window and a complexity change stamped late (an old updated_at); a resource's instance
type changed and another's cost corrected late; an agent's model changed (Type 1); metric payloads with
late samples (days old) and yesterday's payload delivered again; bad rows (and a bad execution corrected
the next day); an issue without events deleted; a label change deleted. `daily` runs after each day.

After every day gold is compared with the same figures computed here by plain SQL (and a few lines of
Python for the SCD2 timelines) from the source's state, never from the pipeline's tables, by the seed's
definitions (DESIGN F1..F5, D2..D4, marts 1..3, the README's KPI views):

- dim_issue / dim_infrastructure (Type 2) from every source state present when a run started (a CDC log
  would see them): the first version valid from the record's creation, later ones from their updated_at,
  consecutive states with the same Type 2 values one version, a tombstone closing the open version at its
  deletion; dim_agent (Type 1): the source's current row;
- an event row is valid when the silver checks of procedures/registry/devflow.sql (the seed's CHECKs and
  column widths) accept it; the facts hold exactly the valid rows of the source's final state (executions
  and deployments once finished), each pointing at the issue / resource version valid at its event;
- fact_issue_processing (F1, the seed's transform): per issue with a finished execution: first start,
  last execution or deployment end, cost sums, lines and files, latest generation's build success,
  latest review's coverage > 70, latest production deployment's success, the primary label at completion,
  the main agent (most execution time), the pull request that closes it;
- fact_performance_metrics (F5) from the metrics payloads: one row per resource and instant, the latest
  delivery winning;
- marts: mart_development_performance (volumes, costs, production deployments, change failure rate per
  week, priority, complexity, agent type), mart_agent_performance (executions, tokens, cost per month and
  agent), mart_infrastructure_cost (deployments, costs, CPU per day and resource version), the KPI views
  kpi_issue_lead_time, kpi_system_health;
- quarantine: the open entries of the silver event tables are exactly the invalid source rows, and every
  finished or invalid source row is in gold or in quarantine, never both (gold + quarantine = source).

Then: a rerun changes nothing; a restatement of every loaded date and a rebuild of the area reproduce
gold (equal to the oracle), each in seconds.

A test whose docstring says DEFECT exposed one (fixed unless marked xfail); the others held and stay as
regression tests. The days are simulated once per module (fixture `world`: two generated days, then DAYS
simulated days); the tests read what each day's comparison found.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import time
from collections import defaultdict
from decimal import Decimal

import pytest
from psycopg.types.json import Jsonb

from conftest import cloned_database, disable_other_areas, make_conninfo
from oracle_common import rows, run_daily, scalar
from test_load_files import dwh, ok

SEED = 15_005
DAYS = 3



# ---------------------------------------------------------------------------------------------------
# the oracle
# ---------------------------------------------------------------------------------------------------

ORACLE_DDL = """
CREATE SCHEMA oracle;
CREATE TABLE oracle.issue_states AS SELECT 0 AS day, i.* FROM devflow_src.issues AS i WITH NO DATA;
CREATE TABLE oracle.infra_states AS SELECT 0 AS day, r.* FROM devflow_src.infrastructure AS r WITH NO DATA;
CREATE TABLE oracle.issue_versions (issue_id text, valid_from timestamptz, valid_to timestamptz, priority text,
    complexity text, issue_type text, category text, assigned_to text, labels text);
CREATE TABLE oracle.infra_versions (resource_id text, valid_from timestamptz, valid_to timestamptz, resource_type text,
    region text, availability_zone text, instance_type text, cpu_count integer, memory_gb integer, storage_gb integer,
    storage_type text, vpc_id text, subnet_id text, security_group_ids text, hourly_cost_usd numeric, monthly_cost_usd numeric,
    tags text);
"""


def bad(cond):
    """A silver check's condition (NULL: not a reason)."""
    return f"COALESCE(({cond}), false)"


def longer(col, n):
    return bad(f"length({col}) > {n}")


ISSUE_STATE_SQL = f"""
SELECT id, updated_at, created_at, _dwh_arrived_at,
       NOT ({bad("priority NOT IN ('P0', 'P1', 'P2', 'P3', 'P4')")}
            OR {bad("complexity NOT IN ('trivial', 'low', 'medium', 'high', 'critical')")}) AS valid,
       priority, complexity, issue_type, category, assigned_to, labels::text
FROM oracle.issue_states"""
INFRA_STATE_SQL = f"""
SELECT resource_id, updated_at, created_at, _dwh_arrived_at,
       NOT {bad("resource_type NOT IN ('VPC', 'Subnet', 'EC2', 'ECS', 'RDS', 'S3', 'Lambda', 'ALB', 'CloudFront', 'Route53')")} AS valid,
       resource_type, region, availability_zone, instance_type, cpu_count, memory_gb, storage_gb, storage_type, vpc_id,
       subnet_id, security_group_ids::text, hourly_cost_usd, monthly_cost_usd, tags::text
FROM oracle.infra_states"""


def snapshot_source(conn, day):
    """Keep every issue and resource state that reached the source since the last snapshot (= what the next
    run extracts)."""
    for table, key, src in (("issue_states", "id", "issues"), ("infra_states", "resource_id", "infrastructure")):
        conn.execute(f"""INSERT INTO oracle.{table} SELECT %s, s.* FROM devflow_src.{src} AS s
                         WHERE NOT EXISTS (SELECT 1 FROM oracle.{table} AS o
                                           WHERE o.{key} = s.{key} AND o._dwh_arrived_at = s._dwh_arrived_at)""", (day,))


def versions(states, tombstones):
    """SCD2 versions of one key from its states (updated_at, created_at, arrived, valid, type 2 values...) and
    tombstones (deleted_at): [[valid_from, valid_to, values]]; the first version starts at the creation."""
    events = [(s[0], s[2], "state", list(s[4:])) for s in states if s[3]]
    events += [(d, d, "delete", None) for d in tombstones]
    events.sort(key=lambda e: (e[0], e[1]))
    out = []
    for ts, _arr, kind, vals in events:
        if kind == "delete":
            if out and out[-1][1] is None:
                out[-1][1] = ts
            continue
        if out and out[-1][1] is None:
            if vals == out[-1][2]:
                continue
            out[-1][1] = ts
        out.append([ts, None, vals])
    if out:
        out[0][0] = min(s[1] for s in states if s[3])
    return out


def compute_oracle(conn):
    conn.execute("TRUNCATE oracle.issue_versions, oracle.infra_versions")
    for state_sql, table, tomb_name in ((ISSUE_STATE_SQL, "oracle.issue_versions", "issues"),
                                        (INFRA_STATE_SQL, "oracle.infra_versions", "infrastructure")):
        by_key = defaultdict(list)
        for r in rows(conn, state_sql):
            by_key[r[0]].append(r[1:])
        tombs = defaultdict(list)
        for k, ts in rows(conn, "SELECT record_id, deleted_at FROM devflow_src.deleted_records WHERE table_name = %s",
                          (tomb_name,)):
            tombs[k].append(ts)
        out = []
        for key, states in by_key.items():
            for vf, vt, vals in versions(states, tombs.get(key, [])):
                out.append((key, vf, vt, *vals))
        with conn.cursor() as cur:
            cur.executemany(f"INSERT INTO {table} VALUES ({', '.join(['%s'] * len(out[0]))})", out)


# the version of a dimension valid at an instant: the latest starting at or before it, else the first
VERSION_AT = """(SELECT v.valid_from FROM {table} AS v WHERE v.{key} = {ref}
                 ORDER BY v.valid_from <= {at} DESC, CASE WHEN v.valid_from <= {at} THEN v.valid_from END DESC NULLS LAST,
                          v.valid_from
                 LIMIT 1)"""


def version_at(table, key, ref, at):
    return VERSION_AT.format(table=table, key=key, ref=ref, at=at)


SANE = "({0} IS NULL OR ({0} >= TIMESTAMPTZ '1990-01-01 00:00Z' AND {0} < now() + interval '1 day'))"

EXPECTED = f"""
CREATE TEMP TABLE exp_issue ON COMMIT DROP AS
SELECT i.* FROM devflow_src.issues AS i
WHERE NOT ({bad("i.priority NOT IN ('P0', 'P1', 'P2', 'P3', 'P4')")}
           OR {bad("i.complexity NOT IN ('trivial', 'low', 'medium', 'high', 'critical')")});
CREATE TEMP TABLE exp_exec ON COMMIT DROP AS
SELECT e.*, NOT ({bad('e.completed_at < e.started_at')} OR {bad('e.cpu_usage_percent NOT BETWEEN 0 AND 100')}
                 OR {bad('e.llm_cost_usd < 0')} OR {bad('e.execution_duration_ms < 0')} OR {bad('e.llm_tokens_input < 0')}
                 OR {bad('e.llm_tokens_output < 0')} OR {bad('e.cache_hit_count < 0')} OR {bad('e.cache_miss_count < 0')}
                 OR {bad('e.cache_hit_count::bigint + e.cache_miss_count::bigint > 2147483647')}
                 OR e.issue_id IS NULL OR btrim(e.issue_id) = '' OR {longer('e.llm_provider', 50)}
                 OR {longer('e.llm_model', 100)} OR NOT {SANE.format('e.started_at')} OR NOT {SANE.format('e.completed_at')}) AS valid
FROM devflow_src.agent_execution_logs AS e;
CREATE TEMP TABLE exp_gen ON COMMIT DROP AS
SELECT c.*, NOT ({bad('c.total_lines_generated < 0')} OR {bad('c.ai_generation_cost_usd < 0')}
                 OR {longer('c.commit_sha', 40)} OR {longer('c.ai_model_name', 100)}) AS valid
FROM devflow_src.code_gen_tasks AS c;
CREATE TEMP TABLE exp_review ON COMMIT DROP AS
SELECT r.*, NOT ({bad('r.review_score NOT BETWEEN 0 AND 1')} OR {bad('r.test_coverage_percent NOT BETWEEN 0 AND 100')}) AS valid
FROM devflow_src.review_results AS r;
CREATE TEMP TABLE exp_dep ON COMMIT DROP AS
SELECT d.*, NOT ({bad("d.deployment_status NOT IN ('SUCCESS', 'FAILED', 'ROLLED_BACK', 'PARTIAL', 'RUNNING')")}
                 OR {bad("d.environment NOT IN ('dev', 'staging', 'production')")}
                 OR {bad("d.deployment_type NOT IN ('BLUE_GREEN', 'CANARY', 'ROLLING', 'RECREATE')")}
                 OR {bad('d.completed_at < d.started_at')} OR {bad('d.health_check_pass_rate NOT BETWEEN 0 AND 100')}
                 OR {bad('d.infrastructure_cost_usd < 0')} OR {bad('d.data_transfer_cost_usd < 0')}
                 OR {bad('d.deployment_duration_seconds < 0')} OR {longer('d.commit_sha', 40)}
                 OR {longer('d.pipeline_id', 100)}) AS valid,
       d.completed_at IS NOT NULL AND d.deployment_status IN ('SUCCESS', 'FAILED', 'ROLLED_BACK', 'PARTIAL') AS finished
FROM devflow_src.deployment_pipelines AS d;
CREATE TEMP TABLE exp_labels ON COMMIT DROP AS
SELECT h.* FROM devflow_src.label_history AS h WHERE h.action IN ('added', 'removed');
-- the pull requests of the GitHub feed and of the landed files: the latest delivery of each number
CREATE TEMP TABLE exp_pr ON COMMIT DROP AS
SELECT DISTINCT ON (p.number) p.number AS pr_number, p.state,
       substring(p.body FROM 'Closes #([0-9]+)')::integer AS issue_number, p.created_at::timestamptz AS created_at
FROM (SELECT (e->>'number')::integer AS number, e->>'state' AS state, e->>'body' AS body, e->>'created_at' AS created_at,
             (e->>'updated_at')::timestamptz AS updated_at, a.received_at AS delivered
      FROM devflow_src.api_payloads AS a CROSS JOIN LATERAL jsonb_array_elements(a.payload) AS e
      WHERE a.feed = 'github_pulls'
      UNION ALL
      SELECT number, state, body, created_at, updated_at, delivered FROM oracle_pr_files) AS p
ORDER BY p.number, p.updated_at DESC, p.delivered DESC;
-- the metric samples: one per resource and instant, the latest delivery
CREATE TEMP TABLE exp_sample ON COMMIT DROP AS
SELECT DISTINCT ON (s.resource_id, s.measured_at) s.*
FROM (SELECT e->>'resource_id' AS resource_id, (e->>'timestamp')::timestamptz AS measured_at,
             (e->'metrics'->>'cpu_utilization_percent')::numeric AS cpu, (e->'metrics'->>'memory_utilization_percent')::numeric AS mem,
             (e->'metrics'->>'disk_usage_percent')::numeric AS disk, (e->'metrics'->>'request_count')::bigint AS requests,
             (e->'metrics'->>'error_count')::integer AS errors, (e->'metrics'->>'p95_latency_ms')::integer AS p95,
             a.received_at, a.payload_id, n
      FROM devflow_src.api_payloads AS a CROSS JOIN LATERAL jsonb_array_elements(a.payload) WITH ORDINALITY AS x (e, n)
      WHERE a.feed = 'metrics') AS s
ORDER BY s.resource_id, s.measured_at, s.received_at DESC, s.payload_id DESC, s.n DESC;
ALTER TABLE exp_sample ADD COLUMN valid boolean;
UPDATE exp_sample SET valid = NOT ({bad('cpu NOT BETWEEN 0 AND 100')} OR {bad('mem NOT BETWEEN 0 AND 100')}
                                   OR {bad('disk NOT BETWEEN 0 AND 100')} OR {bad('requests < 0')} OR {bad('errors < 0')}
                                   OR {bad('requests > 0 AND errors > requests')});
-- the facts
CREATE TEMP TABLE f_exec ON COMMIT DROP AS
SELECT e.id, e.issue_id, e.agent_id, to_char(e.started_at AT TIME ZONE 'UTC', 'YYYYMMDD')::integer AS time_key,
       COALESCE(e.execution_duration_ms, round(extract(epoch FROM e.completed_at - e.started_at) * 1000)::bigint) AS duration_ms,
       e.cpu_usage_percent, COALESCE(e.llm_tokens_input, 0) AS tokens_in, COALESCE(e.llm_tokens_output, 0) AS tokens_out,
       COALESCE(e.llm_cost_usd, 0) AS cost, COALESCE(e.exit_code, -1) AS exit_code, COALESCE(e.exit_code, -1) = 0 AS success,
       COALESCE(e.error_count, 0) AS errors, COALESCE(e.retry_count, 0) AS retries, e.started_at, e.completed_at,
       {version_at('oracle.issue_versions', 'issue_id', 'e.issue_id', 'e.started_at')} AS issue_from
FROM exp_exec AS e WHERE e.valid AND e.completed_at IS NOT NULL;
CREATE TEMP TABLE f_gen ON COMMIT DROP AS
SELECT c.id, c.issue_id, c.agent_id, to_char(c.created_at AT TIME ZONE 'UTC', 'YYYYMMDD')::integer AS time_key,
       COALESCE(c.total_lines_generated, 0) AS lines, COALESCE(c.total_files_generated, 0) AS files,
       COALESCE(c.clippy_warnings, 0) AS clippy, COALESCE(c.fmt_issues, 0) AS fmt, COALESCE(c.ai_generation_cost_usd, 0) AS cost,
       COALESCE(c.generation_duration_ms, 0) AS duration_ms, c.commit_sha, c.created_at,
       {version_at('oracle.issue_versions', 'issue_id', 'c.issue_id', 'c.created_at')} AS issue_from
FROM exp_gen AS c WHERE c.valid;
CREATE TEMP TABLE f_dep ON COMMIT DROP AS
SELECT d.id, d.issue_id, d.agent_id, d.resource_id, to_char(d.started_at AT TIME ZONE 'UTC', 'YYYYMMDD')::integer AS time_key,
       COALESCE(d.deployment_duration_seconds, extract(epoch FROM d.completed_at - d.started_at)::integer) AS duration_s,
       COALESCE(d.rollback_count, 0) AS rollbacks, COALESCE(d.error_count, 0) AS errors,
       COALESCE(d.infrastructure_cost_usd, 0) AS infra_cost, COALESCE(d.data_transfer_cost_usd, 0) AS transfer_cost,
       d.deployment_status, d.deployment_type, d.environment, d.started_at, d.completed_at,
       COALESCE(d.commit_sha, 'unknown') AS commit_sha, d.pipeline_id,
       {version_at('oracle.issue_versions', 'issue_id', 'd.issue_id', 'd.started_at')} AS issue_from,
       {version_at('oracle.infra_versions', 'resource_id', 'd.resource_id', 'd.started_at')} AS infra_from
FROM exp_dep AS d WHERE d.valid AND d.finished;
CREATE TEMP TABLE f_sample ON COMMIT DROP AS
SELECT s.resource_id, s.measured_at, to_char(s.measured_at AT TIME ZONE 'UTC', 'YYYYMMDD')::integer AS time_key,
       s.cpu, s.mem, s.disk, COALESCE(s.requests, 0) AS requests, COALESCE(s.errors, 0) AS errors, s.p95,
       {version_at('oracle.infra_versions', 'resource_id', 's.resource_id', 's.measured_at')} AS infra_from
FROM exp_sample AS s WHERE s.valid;
-- F1 fact_issue_processing, the seed's transform
CREATE TEMP TABLE f_fip ON COMMIT DROP AS
WITH x AS (SELECT issue_id, min(started_at) AS started_at, max(completed_at) AS completed_at, sum(cost) AS ai_cost
           FROM f_exec GROUP BY issue_id),
     busy AS (SELECT DISTINCT ON (issue_id) issue_id, agent_id FROM
                (SELECT issue_id, agent_id, sum(completed_at - started_at) AS busy FROM f_exec GROUP BY 1, 2) AS b
              ORDER BY issue_id, busy DESC, agent_id),
     g AS (SELECT issue_id, sum(lines) AS lines, sum(files) AS files FROM f_gen GROUP BY 1),
     lg AS (SELECT DISTINCT ON (issue_id) issue_id, clippy, fmt, commit_sha FROM f_gen ORDER BY issue_id, created_at DESC, id DESC),
     lr AS (SELECT DISTINCT ON (issue_id) issue_id, review_score, test_coverage_percent FROM exp_review WHERE valid
            ORDER BY issue_id, reviewed_at DESC, id DESC),
     d AS (SELECT issue_id, sum(infra_cost + transfer_cost) AS cost, max(completed_at) AS completed_at FROM f_dep GROUP BY 1),
     lp AS (SELECT DISTINCT ON (issue_id) issue_id, deployment_status FROM f_dep WHERE environment = 'production'
            ORDER BY issue_id, started_at DESC, id DESC),
     b AS (SELECT i.id AS issue_id, i.number, x.started_at, GREATEST(x.completed_at, d.completed_at) AS completed_at, x.ai_cost
           FROM x JOIN exp_issue AS i ON i.id = x.issue_id LEFT JOIN d ON d.issue_id = x.issue_id),
     ls AS (SELECT DISTINCT ON (h.issue_id, h.label_name) h.issue_id, h.label_name, h.action, h.changed_at
            FROM exp_labels AS h JOIN b ON b.issue_id = h.issue_id AND h.changed_at <= b.completed_at
            ORDER BY h.issue_id, h.label_name, h.changed_at DESC, h.id DESC),
     pl AS (SELECT DISTINCT ON (issue_id) issue_id, label_name FROM ls WHERE action = 'added'
            ORDER BY issue_id, label_name !~ '^P[0-4]$', CASE WHEN label_name ~ '^P[0-4]$' THEN label_name END, changed_at, label_name),
     pr AS (SELECT DISTINCT ON (issue_number) issue_number, pr_number FROM exp_pr WHERE state IN ('open', 'closed')
            ORDER BY issue_number, created_at DESC, pr_number DESC),
     wt AS (SELECT DISTINCT ON (associated_issue_id) associated_issue_id AS issue_id, worktree_path
            FROM (SELECT DISTINCT ON (worktree_path) * FROM devflow_src.worktree_states ORDER BY worktree_path, updated_at DESC, id DESC) AS w
            ORDER BY associated_issue_id, created_at DESC, worktree_path)
SELECT b.issue_id, b.number, b.started_at, b.completed_at, extract(epoch FROM b.completed_at - b.started_at)::integer AS duration_s,
       COALESCE(g.lines, 0) AS lines, COALESCE(g.files, 0) AS files, lr.review_score, lr.test_coverage_percent,
       COALESCE(lg.clippy, 0) AS clippy, COALESCE(lg.fmt, 0) AS fmt, COALESCE(lg.clippy = 0 AND lg.fmt = 0, false) AS build_success,
       COALESCE(lr.test_coverage_percent > 70, false) AS test_success, lp.deployment_status = 'SUCCESS' AS deployment_success,
       b.ai_cost, COALESCE(d.cost, 0) AS infra_cost, lg.commit_sha, pr.pr_number, pl.label_name, busy.agent_id, wt.worktree_path,
       to_char(b.started_at AT TIME ZONE 'UTC', 'YYYYMMDD')::integer AS time_key,
       {version_at('oracle.issue_versions', 'issue_id', 'b.issue_id', 'b.started_at')} AS issue_from
FROM b LEFT JOIN g USING (issue_id) LEFT JOIN lg USING (issue_id) LEFT JOIN lr USING (issue_id) LEFT JOIN d USING (issue_id)
LEFT JOIN lp USING (issue_id) LEFT JOIN pl USING (issue_id) LEFT JOIN busy USING (issue_id) LEFT JOIN wt USING (issue_id)
LEFT JOIN pr ON pr.issue_number = b.number;
"""

ACTUAL_EXEC = """
SELECT f.execution_id, i.issue_id, a.agent_id, f.time_key, f.execution_duration_ms, f.cpu_usage_percent, f.llm_tokens_input,
       f.llm_tokens_output, f.llm_cost_usd, f.exit_code, f.success, f.error_count, f.retry_count, f.started_at, f.completed_at,
       i.valid_from AS issue_from
FROM devflow.fact_agent_execution AS f LEFT JOIN devflow.dim_issue AS i USING (issue_key) LEFT JOIN devflow.dim_agent AS a USING (agent_key)"""
ACTUAL_GEN = """
SELECT f.code_gen_id, i.issue_id, a.agent_id, f.time_key, f.total_lines_generated, f.total_files_generated, f.clippy_warnings,
       f.fmt_issues, f.ai_generation_cost_usd, f.generation_duration_ms, f.commit_sha::text, f.created_at, i.valid_from
FROM devflow.fact_code_generation AS f LEFT JOIN devflow.dim_issue AS i USING (issue_key) LEFT JOIN devflow.dim_agent AS a USING (agent_key)"""
ACTUAL_DEP = """
SELECT f.deployment_id, i.issue_id, a.agent_id, r.resource_id, f.time_key, f.deployment_duration_seconds, f.rollback_count,
       f.error_count, f.infrastructure_cost_usd, f.data_transfer_cost_usd, f.deployment_status::text, f.deployment_type::text,
       f.environment::text, f.started_at, f.completed_at, f.commit_sha::text, f.pipeline_id::text, i.valid_from, r.valid_from
FROM devflow.fact_deployment AS f LEFT JOIN devflow.dim_issue AS i USING (issue_key) LEFT JOIN devflow.dim_agent AS a USING (agent_key)
LEFT JOIN devflow.dim_infrastructure AS r USING (infrastructure_key)"""
ACTUAL_SAMPLE = """
SELECT f.resource_id, f.measured_at, f.time_key, f.cpu_utilization_percent, f.memory_utilization_percent, f.disk_usage_percent,
       f.request_count, f.error_count, f.p95_latency_ms, r.valid_from
FROM devflow.fact_performance_metrics AS f LEFT JOIN devflow.dim_infrastructure AS r USING (infrastructure_key)"""
ACTUAL_FIP = """
SELECT i.issue_id, f.issue_number, f.started_at, f.completed_at, f.processing_duration_seconds, f.lines_of_code_generated,
       f.files_modified, f.review_score, f.test_coverage_percent, f.clippy_warnings, f.fmt_issues, f.build_success,
       f.test_success, f.deployment_success, f.ai_cost_usd, f.infrastructure_cost_usd, f.commit_sha::text, f.pr_number,
       l.label_name, a.agent_id, w.worktree_path, f.time_key, i.valid_from
FROM devflow.fact_issue_processing AS f LEFT JOIN devflow.dim_issue AS i USING (issue_key)
LEFT JOIN devflow.dim_agent AS a USING (agent_key) LEFT JOIN devflow.dim_label AS l USING (label_key)
LEFT JOIN devflow.dim_worktree AS w USING (worktree_key)"""

R6 = "round(({0})::numeric, 6)"

CHECKS = {
    "fact_agent_execution": ("""
        SELECT id, issue_id, agent_id, time_key, duration_ms, cpu_usage_percent, tokens_in, tokens_out, cost, exit_code, success,
               errors, retries, started_at, completed_at, issue_from FROM f_exec""", ACTUAL_EXEC),
    "fact_code_generation": ("""
        SELECT id, issue_id, agent_id, time_key, lines, files, clippy, fmt, cost, duration_ms, commit_sha, created_at, issue_from
        FROM f_gen""", ACTUAL_GEN),
    "fact_deployment": ("""
        SELECT id, issue_id, agent_id, resource_id, time_key, duration_s, rollbacks, errors, infra_cost, transfer_cost,
               deployment_status, deployment_type, environment, started_at, completed_at, commit_sha, pipeline_id, issue_from,
               infra_from FROM f_dep""", ACTUAL_DEP),
    "fact_performance_metrics": ("""
        SELECT resource_id, measured_at, time_key, cpu, mem, disk, requests, errors, p95, infra_from FROM f_sample""", ACTUAL_SAMPLE),
    "fact_issue_processing": ("""
        SELECT issue_id, number, started_at, completed_at, duration_s, lines, files, review_score, test_coverage_percent, clippy,
               fmt, build_success, test_success, deployment_success, ai_cost, infra_cost, commit_sha, pr_number, label_name,
               agent_id, worktree_path, time_key, issue_from FROM f_fip""", ACTUAL_FIP),
    "dim_issue": ("""
        SELECT issue_id, valid_from, valid_to, priority, complexity, issue_type, category, assigned_to, labels
        FROM oracle.issue_versions""", """
        SELECT issue_id, valid_from, valid_to, priority, complexity, issue_type, category, assigned_to, labels::text
        FROM devflow.dim_issue WHERE NOT is_deleted"""),
    "dim_issue_type1": ("""
        SELECT id, number, title, repository, created_at FROM exp_issue""", """
        SELECT issue_id, issue_number, title, repository, created_at FROM devflow.dim_issue WHERE is_current AND NOT is_deleted"""),
    "dim_infrastructure": ("""
        SELECT resource_id, valid_from, valid_to, resource_type, region, availability_zone, instance_type, cpu_count, memory_gb,
               storage_gb, storage_type, vpc_id, subnet_id, security_group_ids, hourly_cost_usd, monthly_cost_usd, tags
        FROM oracle.infra_versions""", """
        SELECT resource_id, valid_from, valid_to, resource_type, region, availability_zone, instance_type, cpu_count, memory_gb,
               storage_gb, storage_type, vpc_id, subnet_id, security_group_ids::text, hourly_cost_usd, monthly_cost_usd, tags::text
        FROM devflow.dim_infrastructure WHERE NOT is_deleted"""),
    "dim_agent": ("""
        SELECT agent_id, agent_name, agent_type, ai_model, max_concurrent_tasks, cost_per_hour_usd FROM devflow_src.agents""", """
        SELECT agent_id, agent_name, agent_type, ai_model, max_concurrent_tasks, cost_per_hour_usd FROM devflow.dim_agent
        WHERE is_current AND NOT is_deleted"""),
    "dim_label": ("""
        SELECT label_name, label_category, color, description, is_active FROM devflow_src.labels""", """
        SELECT label_name, label_category, color, description, is_active FROM devflow.dim_label WHERE is_current AND NOT is_deleted"""),
    "dim_worktree": ("""
        SELECT DISTINCT ON (worktree_path) worktree_path, branch_name, status, associated_issue_id, created_at, cleaned_up_at
        FROM devflow_src.worktree_states ORDER BY worktree_path, updated_at DESC, id DESC""", """
        SELECT worktree_path, branch_name, status, associated_issue_id, created_at, cleaned_up_at FROM devflow.dim_worktree
        WHERE is_current AND NOT is_deleted"""),
    # mart 1 (the volumes, costs and DORA counts; per week of the start, priority / complexity of the issue
    # version the processing started under, agent type of the main agent)
    "mart_development_performance": (f"""
        WITH p AS (SELECT issue_id, count(*) AS n, count(*) FILTER (WHERE deployment_status IN ('FAILED', 'ROLLED_BACK')) AS failed
                   FROM f_dep WHERE environment = 'production' GROUP BY 1)
        SELECT t.year, t.quarter, t.month, t.week_of_year, COALESCE(v.priority, 'unknown'), COALESCE(v.complexity, 'unknown'),
               COALESCE(a.agent_type, 'unknown'), count(*), sum(f.files), sum(f.lines), sum(f.ai_cost), sum(f.infra_cost),
               COALESCE(sum(p.n), 0), {R6.format('100.0 * sum(p.failed) / NULLIF(sum(p.n), 0)')}
        FROM f_fip AS f JOIN devflow.dim_time AS t USING (time_key)
        JOIN oracle.issue_versions AS v ON v.issue_id = f.issue_id AND v.valid_from = f.issue_from
        LEFT JOIN devflow_src.agents AS a ON a.agent_id = f.agent_id LEFT JOIN p ON p.issue_id = f.issue_id
        GROUP BY 1, 2, 3, 4, 5, 6, 7""", f"""
        SELECT year, quarter, month, week_of_year, priority, complexity, agent_type, total_issues, total_files_modified,
               total_lines_generated, total_ai_cost_usd, total_infra_cost_usd, production_deployments, {R6.format('change_failure_rate')}
        FROM devflow.mart_development_performance"""),
    "mart_agent_performance": ("""
        SELECT t.year, t.month, a.agent_name, a.agent_type, COALESCE(a.ai_model, 'none'), count(*), count(*) FILTER (WHERE e.success),
               sum(e.tokens_in), sum(e.tokens_out), sum(e.cost), sum(e.errors), sum(e.retries)
        FROM f_exec AS e JOIN devflow.dim_time AS t USING (time_key) JOIN devflow_src.agents AS a USING (agent_id)
        GROUP BY 1, 2, 3, 4, 5""", """
        SELECT year, month, agent_name, agent_type, ai_model, total_executions, successful_executions, total_input_tokens,
               total_output_tokens, total_llm_cost, total_errors, total_retries FROM devflow.mart_agent_performance"""),
    "mart_infrastructure_cost": (f"""
        WITH d AS (SELECT time_key, resource_id, infra_from, count(*) AS n, sum(infra_cost) AS ic, sum(transfer_cost) AS tc,
                          sum(errors) AS errors, sum(rollbacks) AS rollbacks FROM f_dep GROUP BY 1, 2, 3),
             s AS (SELECT time_key, resource_id, infra_from, sum(cpu) AS cpu, count(cpu) AS cpu_n FROM f_sample GROUP BY 1, 2, 3)
        SELECT t.year, t.month, t.day_of_month, v.resource_type, v.region, v.instance_type, sum(d.n), sum(d.ic), sum(d.tc),
               sum(d.ic + d.tc), sum(d.errors), sum(d.rollbacks), {R6.format('sum(s.cpu) / NULLIF(sum(s.cpu_n), 0)')}
        FROM d JOIN devflow.dim_time AS t ON t.time_key = d.time_key
        JOIN oracle.infra_versions AS v ON v.resource_id = d.resource_id AND v.valid_from = d.infra_from
        LEFT JOIN s ON s.time_key = d.time_key AND s.resource_id = d.resource_id AND s.infra_from = d.infra_from
        GROUP BY 1, 2, 3, 4, 5, 6""", f"""
        SELECT year, month, day_of_month, resource_type, region, instance_type, total_deployments, total_infrastructure_cost,
               total_data_transfer_cost, total_cost, total_errors, total_rollbacks, {R6.format('avg_cpu_utilization')}
        FROM devflow.mart_infrastructure_cost"""),
    "kpi_issue_lead_time": ("""
        SELECT f.issue_id, i.number, i.priority, i.complexity, i.created_at, f.started_at, f.completed_at,
               round(extract(epoch FROM f.completed_at - i.created_at) / 3600, 2),
               round(extract(epoch FROM f.completed_at - f.started_at) / 3600, 2), 1::bigint
        FROM f_fip AS f JOIN exp_issue AS i ON i.id = f.issue_id""", """
        SELECT issue_id, issue_number, priority, complexity, created_at, first_started_at, done_at, lead_time_hours,
               cycle_time_hours, processing_count FROM devflow.kpi_issue_lead_time"""),
    "kpi_system_health": ("""
        SELECT s.time_key, s.resource_id, v.resource_type, count(*),
               round(100.0 * count(*) FILTER (WHERE COALESCE(s.cpu < 85, true) AND COALESCE(s.mem < 90, true)
                                              AND COALESCE(s.disk < 90, true)
                                              AND COALESCE(round(s.errors::numeric / NULLIF(s.requests, 0), 4) < 0.05, true)
                                              AND COALESCE(s.p95 < 1000, true)) / count(*), 2)
        FROM f_sample AS s JOIN oracle.infra_versions AS v ON v.resource_id = s.resource_id AND v.valid_from = s.infra_from
        GROUP BY 1, 2, 3""", """
        SELECT time_key, resource_id, resource_type, samples, health_score FROM devflow.kpi_system_health"""),
}

# the silver event tables: open quarantine = the invalid source rows; every finished or invalid source row is
# in its fact or in quarantine, never both
EVENT_TABLES = {
    "agent_execution_logs": ("exp_exec", "devflow.fact_agent_execution", "execution_id", "completed_at IS NOT NULL"),
    "code_gen_tasks": ("exp_gen", "devflow.fact_code_generation", "code_gen_id", "true"),
    "deployment_pipelines": ("exp_dep", "devflow.fact_deployment", "deployment_id", "finished"),
}
for _t, (_exp, _fact, _fkey, _done) in EVENT_TABLES.items():
    _open = f"""(SELECT DISTINCT record_key FROM dwh_etl.quarantine
                 WHERE target_table = 'silver.devflow_{_t}' AND resolved_at IS NULL)"""
    CHECKS[f"quarantine_{_t}"] = (f"SELECT id::text FROM {_exp} WHERE NOT valid", f"SELECT record_key FROM {_open} AS q")
    CHECKS[f"accounting_{_t}"] = (f"SELECT id, 1 FROM {_exp} WHERE NOT valid OR ({_done})", f"""
        SELECT s.id, (f.{_fkey} IS NOT NULL)::int + (q.record_key IS NOT NULL)::int
        FROM {_exp} AS s LEFT JOIN {_fact} AS f ON f.{_fkey} = s.id
        LEFT JOIN {_open} AS q ON q.record_key = s.id::text
        WHERE NOT s.valid OR ({_done.replace('completed_at', 's.completed_at').replace('finished', 's.finished')})""")
CHECKS["quarantine_review_results"] = (
    "SELECT id::text FROM exp_review WHERE NOT valid",
    "SELECT DISTINCT record_key FROM dwh_etl.quarantine WHERE target_table = 'silver.devflow_review_results' AND resolved_at IS NULL")
CHECKS["quarantine_issues"] = (
    "SELECT id FROM devflow_src.issues EXCEPT SELECT id FROM exp_issue",
    "SELECT DISTINCT record_key FROM dwh_etl.quarantine WHERE target_table = 'silver.devflow_issues' AND resolved_at IS NULL")
# a bad metric sample: one open entry naming its resource and instant (the key is silver's)
CHECKS["quarantine_metric_samples"] = (
    "SELECT resource_id, measured_at FROM exp_sample WHERE NOT valid", """
    SELECT DISTINCT payload->>'resource_id', (payload->>'timestamp')::timestamptz FROM dwh_etl.quarantine
    WHERE target_table = 'silver.devflow_metric_samples' AND resolved_at IS NULL""")


def compare(conn):
    """{check: (missing from gold, unexpected in gold)} for every check that differs."""
    compute_oracle(conn)
    found = {}
    with conn.transaction():
        conn.execute(EXPECTED)
        for name, (expected_sql, actual_sql) in CHECKS.items():
            expected = set(rows(conn, expected_sql))
            actual = set(rows(conn, actual_sql))
            if expected != actual:
                found[name] = (sorted(expected - actual, key=repr)[:6], sorted(actual - expected, key=repr)[:6])
    return found


GOLD_CHECKS = ("fact_agent_execution", "fact_code_generation", "fact_deployment", "fact_performance_metrics",
               "fact_issue_processing", "dim_issue", "dim_infrastructure", "dim_agent", "dim_label", "dim_worktree", "mart_development_performance",
               "mart_agent_performance", "mart_infrastructure_cost", "kpi_issue_lead_time", "kpi_system_health")


def gold_state(conn):
    """Gold's devflow tables, marts and KPI views without surrogate keys or load stamps."""
    return {name: sorted(rows(conn, CHECKS[name][1]), key=repr) for name in GOLD_CHECKS}


# ---------------------------------------------------------------------------------------------------
# the simulated days
# ---------------------------------------------------------------------------------------------------

def iso(t):
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Operations:
    """The operational system: writes the day's changes into devflow_src."""

    def __init__(self, conn, dsn, tmp, rng):
        self.conn, self.dsn, self.tmp, self.rng = conn, dsn, tmp, rng
        self.next_id = 15_000_000
        self.next_number = 1_500_000
        self.last_metrics = None
        self.running = None
        self.fix_tomorrow = None

    def new_id(self):
        self.next_id += 1
        return self.next_id

    def ids(self, sql, params=None):
        return [r[0] for r in rows(self.conn, sql, params)]

    def insert(self, table, vals):
        cols = ", ".join(vals)
        self.conn.execute(f"INSERT INTO devflow_src.{table} ({cols}) VALUES ({', '.join(['%s'] * len(vals))})",
                          list(vals.values()))

    def row(self, table, key, value):
        cur = self.conn.execute(f"SELECT * FROM devflow_src.{table} WHERE {key} = %s", (value,))
        names = [d.name for d in cur.description]
        return {k: v for k, v in zip(names, cur.fetchone()) if k != "_dwh_arrived_at"}

    def agents(self):
        return self.ids("SELECT agent_id FROM devflow_src.agents ORDER BY 1")

    def resources(self):
        return self.ids("SELECT resource_id FROM devflow_src.infrastructure ORDER BY 1")

    def execution(self, iid, start, minutes, stamp=None, eid=None, **extra):
        eid = eid or self.new_id()
        rng = self.rng
        vals = {"id": eid, "issue_id": iid, "agent_id": rng.choice(self.agents()), "started_at": start,
                "completed_at": start + dt.timedelta(minutes=minutes) if minutes is not None else None,
                "execution_duration_ms": rng.choice([None, int(minutes or 0) * 60_000]),
                "cpu_usage_percent": Decimal(rng.randint(100, 9000)) / 100, "llm_provider": "anthropic",
                "llm_model": rng.choice(["claude-a", "claude-b"]), "llm_tokens_input": rng.randint(100, 9000),
                "llm_tokens_output": rng.randint(100, 9000), "llm_cost_usd": Decimal(rng.randint(1, 9999)) / 10000,
                "exit_code": rng.choice([0, 0, 0, 1, None]), "error_count": rng.randint(0, 3), "retry_count": rng.randint(0, 2),
                "cache_hit_count": rng.randint(0, 50), "cache_miss_count": rng.randint(0, 50),
                "created_at": start, "updated_at": stamp or start, **extra}
        self.insert("agent_execution_logs", vals)
        return eid

    def generation(self, iid, at, gid=None, **extra):
        gid = gid or self.new_id()
        rng = self.rng
        vals = {"id": gid, "issue_id": iid, "agent_id": rng.choice(self.agents()), "total_files_generated": rng.randint(1, 9),
                "total_lines_generated": rng.randint(10, 900), "clippy_warnings": rng.choice([0, 0, 2]),
                "fmt_issues": rng.choice([0, 0, 1]), "ai_model_name": "claude-a",
                "ai_generation_cost_usd": Decimal(rng.randint(1, 9999)) / 10000, "generation_duration_ms": rng.randint(1000, 900_000),
                "commit_sha": f"{gid:040x}", "created_at": at, "updated_at": at, **extra}
        self.insert("code_gen_tasks", vals)
        return gid

    def review(self, iid, at, **extra):
        rid = self.new_id()
        vals = {"id": rid, "issue_id": iid, "agent_id": self.rng.choice(self.agents()),
                "review_score": Decimal(self.rng.randint(0, 100)) / 100,
                "test_coverage_percent": Decimal(self.rng.randint(4000, 9900)) / 100, "approved": True,
                "reviewed_at": at, "created_at": at, "updated_at": at, **extra}
        self.insert("review_results", vals)
        return rid

    def deployment(self, iid, start, env, status, minutes=12, **extra):
        did = self.new_id()
        rng = self.rng
        vals = {"id": did, "pipeline_id": f"pl-{did}", "issue_id": iid, "agent_id": rng.choice(self.agents()),
                "resource_id": rng.choice(self.resources()), "commit_sha": rng.choice([None, f"{did:040x}"]),
                "environment": env, "deployment_type": rng.choice(["ROLLING", "CANARY"]), "deployment_status": status,
                "started_at": start, "completed_at": start + dt.timedelta(minutes=minutes),
                "deployment_duration_seconds": rng.choice([None, minutes * 60]), "rollback_count": rng.randint(0, 1),
                "error_count": rng.randint(0, 2), "health_check_pass_rate": Decimal(rng.randint(5000, 10000)) / 100,
                "infrastructure_cost_usd": Decimal(rng.randint(1, 9999)) / 100,
                "data_transfer_cost_usd": Decimal(rng.randint(1, 999)) / 100, "created_at": start, "updated_at": start, **extra}
        self.insert("deployment_pipelines", vals)
        return did

    def label(self, iid, name, at, action="added"):
        hid = self.new_id()
        self.insert("label_history", {"id": hid, "issue_id": iid, "label_name": name, "action": action,
                                      "changed_at": at, "updated_at": at})
        return hid

    def issue(self, at, priority="P2", **extra):
        self.next_number += 1
        iid = f"a15e-{self.next_number}"
        self.insert("issues", {"id": iid, "number": self.next_number, "title": f"attack 15e {self.next_number}",
                               "priority": priority, "complexity": self.rng.choice(["low", "medium", "high"]),
                               "issue_type": "feature", "category": "core", "repository": "miyabi", "labels": [priority],
                               "created_at": at, "updated_at": at, **extra})
        return iid, self.next_number

    def pull(self, number, at, state="open", pr_number=None):
        return {"number": pr_number or 900_000 + number, "state": state, "title": f"Resolve #{number}",
                "body": f"Closes #{number}\n\nattack 15e", "draft": False, "merged": state == "closed",
                "user": {"login": "a15e", "type": "Bot"}, "head": {"ref": f"feature-{number}", "sha": "f" * 40},
                "created_at": iso(at), "updated_at": iso(at), "closed_at": None, "merged_at": None}

    def payload(self, feed, payload):
        self.conn.execute("INSERT INTO devflow_src.api_payloads (feed, source, payload) VALUES (%s, %s, %s)",
                          (feed, "github" if feed == "github_pulls" else "prometheus", Jsonb(payload)))

    def sample(self, rid, at, cpu=None):
        rng = self.rng
        requests = rng.randint(100, 5000)
        return {"resource_id": rid, "namespace": "Miyabi/Production", "timestamp": iso(at), "period": 300,
                "metrics": {"cpu_utilization_percent": cpu if cpu is not None else round(rng.uniform(10, 95), 2),
                            "memory_utilization_percent": round(rng.uniform(30, 95), 2),
                            "disk_usage_percent": round(rng.uniform(35, 75), 2), "request_count": requests,
                            "error_count": rng.randint(0, requests // 15), "p95_latency_ms": rng.randint(100, 1200)}}

    def day(self, d, bday):
        rng, conn = self.rng, self.conn
        start = dt.datetime.combine(bday, dt.time(8), tzinfo=dt.timezone.utc)
        now = scalar(conn, "SELECT now()")
        # the day's issues: executions, generations, a review, deployments (staging, production), labels, a PR
        pulls = []
        for k in range(3):
            at = start + dt.timedelta(hours=k)
            iid, number = self.issue(at - dt.timedelta(hours=2), priority=rng.choice(["P1", "P2", "P3"]))
            self.label(iid, rng.choice(["P1", "P2"]), at - dt.timedelta(hours=1))
            self.label(iid, "type:bug" if rng.random() < 0.5 else "type:feature", at - dt.timedelta(minutes=50))
            for j in range(rng.randint(2, 3)):
                self.execution(iid, at + dt.timedelta(minutes=20 * j), rng.randint(3, 15))
            for j in range(rng.randint(1, 2)):
                self.generation(iid, at + dt.timedelta(minutes=30 + 10 * j))
            self.review(iid, at + dt.timedelta(minutes=70))
            self.deployment(iid, at + dt.timedelta(minutes=80), "staging", "SUCCESS")
            self.deployment(iid, at + dt.timedelta(minutes=100), "production", rng.choice(["SUCCESS", "FAILED"]))
            if rng.random() < 0.5:
                self.deployment(iid, at + dt.timedelta(minutes=130), "production", "SUCCESS")
            pulls.append(self.pull(number, at + dt.timedelta(minutes=45)))
        self.payload("github_pulls", pulls)
        generated = self.ids("""SELECT issue_id FROM devflow_src.agent_execution_logs WHERE id < 15000000
                                GROUP BY issue_id HAVING count(*) >= 3 ORDER BY 1""")
        # a late execution: earlier than its issue's first, written now with its old times
        iid = rng.choice(generated)
        first = scalar(conn, "SELECT min(started_at) FROM devflow_src.agent_execution_logs WHERE issue_id = %s", (iid,))
        self.execution(iid, first - dt.timedelta(minutes=40), 7)
        # an execution updated three times in this window: only the last state counts
        eid = rng.choice(self.ids("SELECT id FROM devflow_src.agent_execution_logs WHERE completed_at IS NOT NULL ORDER BY 1"))
        for cost in ("0.1111", "0.2222", f"0.333{d}"):
            conn.execute("UPDATE devflow_src.agent_execution_logs SET llm_cost_usd = %s, updated_at = clock_timestamp() WHERE id = %s",
                         (Decimal(cost), eid))
        # deletes: an execution; a code generation deleted and re-inserted (new figures) in this window; a deployment
        conn.execute("DELETE FROM devflow_src.agent_execution_logs WHERE id = %s",
                     (rng.choice(self.ids("SELECT id FROM devflow_src.agent_execution_logs WHERE id < 15000000 ORDER BY 1")),))
        gid = rng.choice(self.ids("SELECT id FROM devflow_src.code_gen_tasks ORDER BY 1"))
        old = self.row("code_gen_tasks", "id", gid)
        conn.execute("DELETE FROM devflow_src.code_gen_tasks WHERE id = %s", (gid,))
        self.insert("code_gen_tasks", {**old, "total_lines_generated": 4242, "clippy_warnings": 0, "fmt_issues": 0, "updated_at": now})
        conn.execute("DELETE FROM devflow_src.deployment_pipelines WHERE id = %s",
                     (rng.choice(self.ids("""SELECT id FROM devflow_src.deployment_pipelines WHERE completed_at IS NOT NULL
                                             AND deployment_status <> 'RUNNING' ORDER BY 1""")),))
        # issues: one's priority changed three times in this window, another's complexity corrected late
        i1, i2 = rng.sample(generated, 2)
        for p in ("P0", "P4", rng.choice(["P1", "P3"])):
            conn.execute("UPDATE devflow_src.issues SET priority = %s, updated_at = clock_timestamp() WHERE id = %s", (p, i1))
        last = scalar(conn, "SELECT updated_at FROM devflow_src.issues WHERE id = %s", (i2,))
        conn.execute("""UPDATE devflow_src.issues SET complexity = CASE complexity WHEN 'critical' THEN 'low' ELSE 'critical' END,
                               updated_at = %s WHERE id = %s""", (last + (now - last) / 2, i2))
        # resources: an instance type changed now, another's cost corrected late; an agent's model (Type 1)
        r1, r2 = rng.sample(self.resources(), 2)
        conn.execute("UPDATE devflow_src.infrastructure SET instance_type = %s, updated_at = clock_timestamp() WHERE resource_id = %s",
                     (f"m{d}.large", r1))
        last = scalar(conn, "SELECT updated_at FROM devflow_src.infrastructure WHERE resource_id = %s", (r2,))
        conn.execute("""UPDATE devflow_src.infrastructure SET hourly_cost_usd = COALESCE(hourly_cost_usd, 0) + 0.01, updated_at = %s
                        WHERE resource_id = %s""", (last + (now - last) / 2, r2))
        conn.execute("UPDATE devflow_src.agents SET ai_model = %s, updated_at = clock_timestamp() WHERE agent_id = %s",
                     (f"model-{d}", rng.choice(self.agents())))
        # metrics: the day's samples (hourly), one bad; samples three days late; yesterday's payload again
        samples = [self.sample(rid, start + dt.timedelta(hours=h)) for rid in self.resources() for h in range(0, 12, 3)]
        samples.append(self.sample(rng.choice(self.resources()), start + dt.timedelta(hours=1, minutes=1), cpu=150))
        self.payload("metrics", samples)
        self.payload("metrics", [self.sample(rid, start - dt.timedelta(days=3, minutes=-7)) for rid in self.resources()[:4]])
        if self.last_metrics:
            self.payload("metrics", self.last_metrics)
        self.last_metrics = samples
        # bad rows, each its own record
        bi = rng.choice(generated)
        self.execution(bi, start + dt.timedelta(hours=5), 5, cpu_usage_percent=Decimal(150))
        self.execution(bi, start + dt.timedelta(hours=5), -5)
        self.generation(bi, start + dt.timedelta(hours=5), total_lines_generated=-3)
        self.review(bi, start + dt.timedelta(hours=5), review_score=Decimal(2))
        self.deployment(bi, start + dt.timedelta(hours=5), "production", "WEIRD")
        if self.fix_tomorrow:
            conn.execute("UPDATE devflow_src.agent_execution_logs SET cpu_usage_percent = 50, updated_at = now() WHERE id = %s",
                         (self.fix_tomorrow,))
        self.fix_tomorrow = self.execution(bi, start + dt.timedelta(hours=6), 5, cpu_usage_percent=Decimal(-1))
        getattr(self, f"day{d}", lambda *a: None)(start, generated)

    # --- the days' own stories ---------------------------------------------------------------------

    def day1(self, start, generated):
        # an execution still running today, finished tomorrow
        iid = self.rng.choice(generated)
        self.running = self.execution(iid, start + dt.timedelta(hours=7), None)
        # an issue with a bad priority (no events)
        self.issue(start, priority="P9")

    def day2(self, start, generated):
        conn = self.conn
        conn.execute("""UPDATE devflow_src.agent_execution_logs SET completed_at = started_at + interval '25 minutes',
                               execution_duration_ms = 1500000, updated_at = now() WHERE id = %s""", (self.running,))
        self.doomed, _ = self.issue(start - dt.timedelta(hours=3))
        # Type 1 changes: a worktree merged and cleaned up, a label recoloured
        conn.execute("""UPDATE devflow_src.worktree_states SET status = 'merged', cleaned_up_at = now(), updated_at = now()
                        WHERE id = (SELECT min(id) FROM devflow_src.worktree_states WHERE status = 'active')""")
        conn.execute("UPDATE devflow_src.labels SET color = '#a15e00', updated_at = now() WHERE label_name = 'type:bug'")
        # a file of pull requests landed by `dwh load`: one closing an existing issue (a newer PR for it)
        number = scalar(conn, "SELECT number FROM devflow_src.issues WHERE id = %s", (generated[3],))
        # (opened now: later than the generator's pull request for it)
        recs = [self.pull(number, scalar(conn, "SELECT now()"), state="closed", pr_number=950_000 + number)]
        path = self.tmp / "pulls-a15e.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")
        ok(dwh(self.dsn, "load", "bronze.devflow_pull_requests", path))
        for r in recs:
            conn.execute("INSERT INTO oracle_pr_files VALUES (%s, %s, %s, %s, %s, now())",
                         (r["number"], r["state"], r["body"], r["created_at"], r["updated_at"]))

    def day3(self, start, generated):
        conn = self.conn
        # an issue without events (written yesterday) deleted; a label change deleted (its issue's primary
        # label changes)
        conn.execute("DELETE FROM devflow_src.issues WHERE id = %s", (self.doomed,))
        hid = scalar(conn, """SELECT h.id FROM devflow_src.label_history AS h WHERE h.label_name ~ '^P[0-4]$' AND h.action = 'added'
                              AND h.issue_id = ANY (%s) ORDER BY h.id LIMIT 1""", (generated,))
        conn.execute("DELETE FROM devflow_src.label_history WHERE id = %s", (hid,))


@pytest.fixture(scope="module")
def world(postgresql_proc, tmp_path_factory):
    """The devflow area alone, two generated days loaded, then DAYS simulated days, each followed by `daily`
    and the comparison with the oracle. Yields (conn, dsn, {day: differences}, operations)."""
    proc = postgresql_proc
    with cloned_database(proc, proc.template_dbname, "a15e") as conn:
        dsn = make_conninfo(proc.host, proc.port, proc.user, conn.info.dbname, proc.password)
        conn.execute("SET TimeZone = 'UTC'")
        disable_other_areas(conn, "devflow")
        conn.execute("CALL devflow_src.generate(p_days => 2, p_seed => 0.15)")
        conn.execute(ORACLE_DDL)
        conn.execute("CREATE TABLE oracle_pr_files (number integer, state text, body text, created_at text, "
                     "updated_at timestamptz, delivered timestamptz)")
        ops = Operations(conn, dsn, tmp_path_factory.mktemp("a15e"), random.Random(SEED))
        found = {}
        snapshot_source(conn, 0)
        run_daily(conn)
        found[0] = compare(conn)
        today = scalar(conn, "SELECT (now() AT TIME ZONE 'UTC')::date")
        for d in range(1, DAYS + 1):
            ops.day(d, today - dt.timedelta(days=DAYS + 1 - d))
            snapshot_source(conn, d)
            run_daily(conn)
            found[d] = compare(conn)
        yield conn, dsn, found, ops


def differences(world, check):
    return {d: f[check] for d, f in world[2].items() if check in f}


# ---------------------------------------------------------------------------------------------------
# the tests
# ---------------------------------------------------------------------------------------------------

FACT_CHECKS = ["fact_agent_execution", "fact_code_generation", "fact_deployment", "fact_performance_metrics",
               "fact_issue_processing"]
QUARANTINE_CHECKS = ["quarantine_agent_execution_logs", "quarantine_code_gen_tasks", "quarantine_deployment_pipelines",
                     "quarantine_review_results", "quarantine_issues", "quarantine_metric_samples",
                     "accounting_agent_execution_logs", "accounting_code_gen_tasks", "accounting_deployment_pipelines"]


def test_the_stories_happened(world):
    """Held (the oracle's own check): every story of the days reached the source, so the comparisons below
    compare something: issues and resources with several versions, invalid rows of every table, late
    metric samples, a redelivered payload, a landed file, a finished execution that was running."""
    conn, _dsn, _found, ops = world
    compute_oracle(conn)
    assert scalar(conn, "SELECT count(*) FROM (SELECT issue_id FROM oracle.issue_versions GROUP BY 1 HAVING count(*) > 1) AS x") >= 3
    assert scalar(conn, "SELECT count(*) FROM (SELECT resource_id FROM oracle.infra_versions GROUP BY 1 HAVING count(*) > 1) AS x") >= 3
    assert scalar(conn, "SELECT count(*) FROM oracle.issue_versions WHERE valid_to IS NOT NULL AND issue_id IN "
                        "(SELECT record_id FROM devflow_src.deleted_records WHERE table_name = 'issues')") == 1
    with conn.transaction():
        conn.execute(EXPECTED)
        for t in ("exp_exec", "exp_gen", "exp_review", "exp_dep", "exp_sample"):
            assert scalar(conn, f"SELECT count(*) FROM {t} WHERE NOT valid") >= DAYS, t
        assert scalar(conn, "SELECT count(*) FROM f_exec WHERE id = %s", (ops.running,)) == 1
        assert scalar(conn, "SELECT count(*) FROM f_fip WHERE pr_number BETWEEN 950000 AND 999999") == 1, rows(conn, "SELECT * FROM exp_pr WHERE pr_number BETWEEN 950000 AND 999999")
    assert scalar(conn, "SELECT count(*) FROM devflow_src.deleted_records") >= 3 * DAYS
    assert scalar(conn, "SELECT count(*) FROM dwh_etl.quarantine WHERE target_table LIKE 'silver.devflow%%' AND resolved_at IS NOT NULL") >= 1


@pytest.mark.parametrize("check", FACT_CHECKS)
def test_every_fact_equals_the_source(world, check):
    """Held: every fact holds exactly the valid rows of the source's final state with the seed's values and
    defaults, each at the issue / resource version valid at its event, every day: executions (a late one
    before its issue's first start, one updated three times in a window, one running then finished, one
    deleted), code generations (one deleted and re-inserted in a window), deployments (one deleted),
    metric samples (days late, a payload delivered again), and fact_issue_processing by the seed's transform
    (the late execution moves its start and replaces its row; a pull request landed from a file; a deleted
    label change moves its primary label; a late complexity change re-points it)."""
    assert differences(world, check) == {}


@pytest.mark.parametrize("check", QUARANTINE_CHECKS)
def test_quarantine_holds_exactly_the_bad_rows(world, check):
    """Held: the open quarantine of each silver event table (and of issues, metric samples) is exactly the
    source's invalid rows (CPU 150 %, completed before started, negative lines, review score 2, an unknown
    deployment status, priority P9, a sample at 150 % CPU), a bad execution corrected the next day is
    resolved, and every finished or invalid source row is in its fact or in quarantine, never both."""
    assert differences(world, check) == {}


@pytest.mark.parametrize("check", ["dim_issue", "dim_issue_type1", "dim_infrastructure"])
def test_type2_dimensions_equal_the_source_history(world, check):
    """Held: dim_issue and dim_infrastructure hold exactly the versions the source's states give (the first
    from the creation, three priority changes in one window one version, a late complexity change or cost
    correction stamped in the past opening its version at its own time, a deleted issue closed at its
    deletion, a bad issue nowhere), Type 1 columns the latest."""
    assert differences(world, check) == {}


@pytest.mark.parametrize("check", ["dim_agent", "dim_label", "dim_worktree", "mart_agent_performance"])
def test_type1_changes_reach_their_dimension(world, check):
    """DEFECT (high), fixed: no change of an existing agent, label or worktree ever reached dim_agent,
    dim_label or dim_worktree. Their change views (devflow.dim_*_changes) gave every row its creation as
    change time (a Type 1 dimension keeps one version per key), so dwh_etl.apply_dimension saw a changed
    agent as a row "older than the key's current version" (change time <= valid_from): historical, and a
    historical row's Type 1 values never overwrite newer ones. An agent's model switched in the source stayed
    the old one in dim_agent for good, and mart_agent_performance (grouped by the agent's model) kept
    counting its executions under it; a worktree stayed `active` after being merged and cleaned up; a
    label's new colour never arrived. Only a rebuild picked them up. Now the change time of a key already
    in the dimension is its updated_at, and never before its current version."""
    assert differences(world, check) == {}


@pytest.mark.parametrize("check", ["mart_development_performance", "mart_infrastructure_cost", "kpi_issue_lead_time",
                                   "kpi_system_health"])
def test_marts_and_kpis_equal_the_oracle(world, check):
    """Held: mart_development_performance (issues, files, lines, AI and infrastructure cost, production
    deployments and change failure rate per week, priority, complexity of the issue version the processing
    started under, and agent type), mart_infrastructure_cost (deployments, costs, errors, rollbacks and the
    CPU of the resource version's samples per day), kpi_issue_lead_time and kpi_system_health equal the
    same figures computed from the oracle's facts, every day."""
    assert differences(world, check) == {}


def test_a_rerun_changes_nothing(world):
    """Held: `daily` again with no source change leaves gold as it is."""
    conn = world[0]
    before = gold_state(conn)
    run_daily(conn)
    assert gold_state(conn) == before
    assert compare(conn) == {}


# a restatement or rebuild of a tiny area takes seconds (attack 15c found citizen's took 190 s)
TINY_AREA_SECONDS = 20


def test_a_restatement_of_every_date_reproduces_gold_in_seconds(world):
    """Held: a restatement of every loaded date (from the earliest fact) gives the same facts, dimensions,
    marts and KPIs, equal to the oracle, in seconds."""
    conn = world[0]
    before = gold_state(conn)
    first = scalar(conn, """SELECT least((SELECT min(started_at) FROM devflow.fact_agent_execution),
                                         (SELECT min(measured_at) FROM devflow.fact_performance_metrics))""")
    t0 = time.monotonic()
    conn.execute("CALL dwh_etl.restate(p_pipeline => 'daily', p_from => %s, p_to => CURRENT_DATE)",
                 ((first.astimezone(dt.timezone.utc)).date(),))
    took = time.monotonic() - t0
    assert gold_state(conn) == before
    assert compare(conn) == {}
    assert took < TINY_AREA_SECONDS, f"restatement took {took:.1f} s"


def test_a_rebuild_of_the_area_reproduces_gold_in_seconds(world):
    """Held: `dwh rebuild devflow` (dwh_etl.rebuild(p_target => 'devflow')) gives the same facts, dimensions,
    marts and KPIs, equal to the oracle, in seconds."""
    conn = world[0]
    before = gold_state(conn)
    t0 = time.monotonic()
    conn.execute("CALL dwh_etl.rebuild(p_target => 'devflow')")
    took = time.monotonic() - t0
    after = gold_state(conn)
    assert {k: v for k, v in after.items() if v != before[k]} == {}
    assert compare(conn) == {}
    assert took < TINY_AREA_SECONDS, f"rebuild took {took:.1f} s"
