"""Attack 15d: is gold right? An independent oracle over several simulated days of the agents area (seed 001).

The source is driven as an operational system would (rows written into agents_src.*: INSERT, UPDATE,
DELETE, which leave tombstones in agents_src.deleted_records), with a deterministic random generator
(random.Random, fixed seed) choosing the day's changes: new conversations with their queries, approval
requests and feedback; late-arriving queries with old timestamps; pending approvals resolved, queries
reviewed later; a query updated three times in one run's window; a query deleted, a feedback entry deleted
and re-inserted (in one window and across two), an approval restored from a backup (its old row, old
updated_at); agents and users changing Type 2 attributes (capabilities, SLA, cost; team), one agent three
times in one window, an agent change stamped late (an old updated_at), an agent deleted, a user deleted and
re-created, a user restored from a backup; bad rows (and a bad row corrected the next day); an agent and a
conversation that arrive after the facts naming them; a file of queries landed by `dwh load` and delivered
again with `--force` after the source changed and deleted some of them; change events applied to
agents_src by dwh_etl.ingest_cdc_events. `daily` runs after each day.

After every day the gold layer is compared with the same figures computed here by plain SQL (and a few
lines of Python for the SCD2 timeline) from the source's state, never from the pipeline's tables:

- agents and users as the warehouse could see them: each run extracts the rows that reached the source
  since the last one, so the oracle keeps every row state present when a run started (a CDC log would);
  dim_agent / dim_user versions follow from those states ordered by their change time (updated_at),
  consecutive states with the same Type 2 values (agent: type, capabilities, SLA with the seed's default
  300, cost with default 0; user: type, team) being one version, a tombstone closing the version open at
  its deletion time, a row back after a deletion (a restore with its old updated_at) starting just after
  it, invalid states (seed 001's CHECKs: quarantined) ignored; an agent named by a fact before its row
  arrived starts at -infinity (the inferred member completed in place);
- a query / approval / feedback is valid when seed 001's CHECKs and the README's rules accept it (required
  references, latency 0..1 h, status of the seed's enum, pending exactly when unresolved, resolution and
  annotation not before creation, scores 1..5, sane times); fact_agent_query, fact_approval and
  fact_training hold exactly the valid rows of the source's final state, each pointing at the agent and
  user versions valid at its event (the approver's at the resolution), with the seed's derived values
  (query_hash = md5 of the query, resolution_time_seconds, sla_met against the SLA of the agent version
  valid at the request, overall_score the mean of the scores given);
- dim_conversation: every valid conversation (user, channel, metadata) and an inferred member for one a
  fact names without a valid row; total_queries / total_approvals / total_feedback counted from the valid
  facts, first_seen_at / last_seen_at the earliest / latest of its start and its facts' times (an
  approval's resolution included);
- agg_agent_daily_performance (seed 001, every column computed): per agent version and day of the facts.
- quarantine: the open entries of silver.agents_agent_queries / _approvals / _feedback are exactly the
  source's invalid rows, and every source row is in gold or in quarantine, never both (gold + quarantine =
  source).

Then: a rerun changes nothing, a restatement of every loaded date and a rebuild of the area give the same
gold, equal to the oracle.

A test whose docstring says DEFECT exposed one (fixed unless marked xfail); the others held and stay as
regression tests. The days are simulated once per module (fixture `world`, agents scale 0.005, ~4,000
queries); the tests read what each day's comparison found.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections import defaultdict

import pytest
from psycopg.types.json import Jsonb

from conftest import cloned_database, disable_other_areas, make_conninfo
from oracle_common import rows, run_daily, scalar
from test_load_files import dwh, ok

SEED = 15_004
DAYS = 3
MICRO = dt.timedelta(microseconds=1)



# ---------------------------------------------------------------------------------------------------
# the oracle
# ---------------------------------------------------------------------------------------------------

ORACLE_DDL = """
CREATE SCHEMA oracle;
CREATE TABLE oracle.agent_states AS SELECT 0 AS day, a.* FROM agents_src.agents AS a WITH NO DATA;
CREATE TABLE oracle.user_states AS SELECT 0 AS day, u.* FROM agents_src.users AS u WITH NO DATA;
-- valid_from NULL: -infinity (an inferred member completed in place)
CREATE TABLE oracle.agent_versions (agent_name text, valid_from timestamptz, valid_to timestamptz, agent_type text,
    capabilities text, sla_target_seconds integer, cost_per_query_usd numeric);
CREATE TABLE oracle.user_versions (user_id text, valid_from timestamptz, valid_to timestamptz, user_type text, team text);
"""

SANE = "({0} >= TIMESTAMPTZ '1990-01-01 00:00Z' AND {0} < now() + interval '1 day')"

AGENT_STATE_SQL = f"""
SELECT agent_name, updated_at, _dwh_arrived_at,
       COALESCE(btrim(agent_type) IN ('data', 'engineer', 'support', 'marketing', 'ai', 'qa', 'ops')
                AND jsonb_typeof(capabilities) = 'array'
                AND (sla_target_seconds IS NULL OR sla_target_seconds > 0)
                AND (cost_per_query_usd IS NULL OR cost_per_query_usd >= 0)
                AND {SANE.format('updated_at')} AND {SANE.format('created_at')}, false) AS valid,
       btrim(agent_type), capabilities::text, COALESCE(sla_target_seconds, 300), COALESCE(cost_per_query_usd, 0)
FROM oracle.agent_states
"""
USER_STATE_SQL = f"""
SELECT user_id, updated_at, _dwh_arrived_at,
       COALESCE(btrim(user_type) IN ('annotator', 'approver', 'qa_team', 'operator')
                AND {SANE.format('updated_at')} AND {SANE.format('created_at')}, false) AS valid,
       btrim(user_type), NULLIF(btrim(team), '')
FROM oracle.user_states
"""


def snapshot_source(conn, day):
    """Keep every agent and user state that reached the source since the last snapshot (= what the next
    run extracts)."""
    for table, key, src in (("agent_states", "agent_name", "agents"), ("user_states", "user_id", "users")):
        conn.execute(f"""INSERT INTO oracle.{table} SELECT %s, s.* FROM agents_src.{src} AS s
                         WHERE NOT EXISTS (SELECT 1 FROM oracle.{table} AS o
                                           WHERE o.{key} = s.{key} AND o._dwh_arrived_at = s._dwh_arrived_at)""", (day,))


def versions(states, tombstones, inferred_first):
    """SCD2 versions of one key from its states (ts, arrived, valid, type 2 values...) and tombstones
    (deleted_at, arrived): [[valid_from, valid_to, values]]. A state that reached the source after a
    tombstone of its key (and not before the deletion's time) starts after it, whatever its own updated_at
    (a restore from a backup is the record's next life, not a late change inside the closed history)."""
    valid_states = sorted((s for s in states if s[2]), key=lambda s: s[1])
    kept = []
    for d, a in tombstones:
        # a restore (a state back after the deletion with its old updated_at and the values the deletion
        # closed) voids it: the record "stays loaded" (README, Capture); nothing changed
        before = [s for s in valid_states if s[1] < a]
        restored = [s for s in valid_states if s[1] > a and s[0] <= d]
        if before and restored and restored[0][3:] == before[-1][3:]:
            continue
        kept.append((d, a))
    tombstones = kept
    events = []
    for ts, arr, valid, *vals in states:
        if not valid:
            continue
        before = [d for d, a in tombstones if a < arr and d <= arr]
        if before:
            ts = max(ts, max(before) + MICRO)
        events.append((ts, arr, "state", vals))
    events += [(d, a, "delete", None) for d, a in tombstones]
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
    if out and inferred_first:
        out[0][0] = None
    return out


def compute_oracle(conn, early_agents):
    conn.execute("TRUNCATE oracle.agent_versions, oracle.user_versions")
    for state_sql, table, tomb_name in ((AGENT_STATE_SQL, "oracle.agent_versions", "agents"),
                                        (USER_STATE_SQL, "oracle.user_versions", "users")):
        by_key = defaultdict(list)
        for r in rows(conn, state_sql):
            by_key[r[0]].append(r[1:])
        tombs = defaultdict(list)
        for k, ts, arr in rows(conn, """SELECT record_id, deleted_at, _dwh_arrived_at FROM agents_src.deleted_records
                                        WHERE table_name = %s""", (tomb_name,)):
            tombs[k].append((ts, arr))
        out = []
        for key, states in by_key.items():
            for vf, vt, vals in versions(states, tombs.get(key, []), table == "oracle.agent_versions" and key in early_agents):
                out.append((key, vf, vt, *vals))
        with conn.cursor() as cur:
            cur.executemany(f"INSERT INTO {table} VALUES ({', '.join(['%s'] * len(out[0]))})", out)


# the version of a dimension valid at an instant: the latest starting at or before it, else the first
VERSION_AT = """(SELECT v.valid_from FROM {table} AS v WHERE v.{key} = {ref}
                 ORDER BY COALESCE(v.valid_from, '-infinity') <= {at} DESC NULLS LAST,
                          CASE WHEN COALESCE(v.valid_from, '-infinity') <= {at} THEN COALESCE(v.valid_from, '-infinity') END DESC NULLS LAST,
                          COALESCE(v.valid_from, '-infinity')
                 LIMIT 1)"""


def version_at(table, key, ref, at):
    return VERSION_AT.format(table=table, key=key, ref=ref, at=at)


EXPECTED = f"""
CREATE TEMP TABLE exp_q ON COMMIT DROP AS
SELECT q.query_id, btrim(q.conversation_id) AS conversation_id, btrim(q.agent) AS agent, NULLIF(btrim(q.user_id), '') AS user_id,
       md5(btrim(q.query)) AS query_hash, q.result_size_bytes, q.latency_ms, q.approved,
       COALESCE(q.human_edited, false) AS human_edited, COALESCE(q.error_occurred, false) AS error_occurred, q.created_at,
       to_char(q.created_at AT TIME ZONE 'UTC', 'YYYYMMDD')::integer AS time_key,
       COALESCE(btrim(q.conversation_id) <> '' AND btrim(q.agent) <> '' AND btrim(q.query) <> ''
                AND q.latency_ms BETWEEN 0 AND 3600000 AND (q.result_size_bytes IS NULL OR q.result_size_bytes >= 0)
                AND {SANE.format('q.created_at')} AND {SANE.format('q.updated_at')}, false) AS valid
FROM agents_src.agent_queries AS q;
CREATE TEMP TABLE exp_a ON COMMIT DROP AS
SELECT a.approval_id, a.query_id, btrim(a.conversation_id) AS conversation_id, btrim(a.agent) AS agent,
       NULLIF(btrim(a.resolved_by), '') AS resolved_by, btrim(a.status) AS status, a.interruption_count,
       a.created_at, a.resolved_at, to_char(a.created_at AT TIME ZONE 'UTC', 'YYYYMMDD')::integer AS time_key,
       COALESCE(btrim(a.conversation_id) <> '' AND btrim(a.agent) <> ''
                AND btrim(a.status) IN ('pending', 'approved', 'rejected', 'expired')
                AND (btrim(a.status) = 'pending') = (a.resolved_at IS NULL)
                AND (a.resolved_at IS NULL OR (a.resolved_at >= a.created_at AND {SANE.format('a.resolved_at')}))
                AND a.interruption_count >= 0
                AND {SANE.format('a.created_at')} AND {SANE.format('a.updated_at')}, false) AS valid
FROM agents_src.agent_approvals AS a;
CREATE TEMP TABLE exp_f ON COMMIT DROP AS
SELECT f.feedback_id, f.query_id, btrim(f.conversation_id) AS conversation_id, btrim(f.agent) AS agent,
       NULLIF(btrim(f.annotator_id), '') AS annotator_id, f.safe_to_send, f.clarity_score, f.accuracy_score, f.tone_score,
       f.labels, f.created_at, f.annotated_at, to_char(f.created_at AT TIME ZONE 'UTC', 'YYYYMMDD')::integer AS time_key,
       COALESCE(btrim(f.conversation_id) <> '' AND btrim(f.agent) <> ''
                AND (f.clarity_score IS NULL OR f.clarity_score BETWEEN 1 AND 5)
                AND (f.accuracy_score IS NULL OR f.accuracy_score BETWEEN 1 AND 5)
                AND (f.tone_score IS NULL OR f.tone_score BETWEEN 1 AND 5)
                AND (f.annotated_at IS NULL OR (f.annotated_at >= f.created_at AND {SANE.format('f.annotated_at')}))
                AND NOT EXISTS (SELECT 1 FROM unnest(f.labels) AS l WHERE length(l) > 200)
                AND {SANE.format('f.created_at')} AND {SANE.format('f.updated_at')}, false) AS valid
FROM agents_src.agent_feedback AS f;
-- an agent or user a valid fact names without a valid row of its own: an inferred member (the seed's defaults)
INSERT INTO oracle.agent_versions
SELECT DISTINCT x.agent, NULL::timestamptz, NULL::timestamptz, NULL, '[]', 300, 0
FROM (SELECT agent FROM exp_q WHERE valid UNION SELECT agent FROM exp_a WHERE valid UNION SELECT agent FROM exp_f WHERE valid) AS x
WHERE NOT EXISTS (SELECT 1 FROM oracle.agent_versions AS v WHERE v.agent_name = x.agent);
INSERT INTO oracle.user_versions
SELECT DISTINCT x.u, NULL::timestamptz, NULL::timestamptz, NULL, NULL
FROM (SELECT user_id FROM exp_q WHERE valid UNION SELECT resolved_by FROM exp_a WHERE valid
      UNION SELECT annotator_id FROM exp_f WHERE valid) AS x (u)
WHERE x.u IS NOT NULL AND NOT EXISTS (SELECT 1 FROM oracle.user_versions AS v WHERE v.user_id = x.u);
-- the facts with the versions valid at their events
CREATE TEMP TABLE exp_qv ON COMMIT DROP AS
SELECT q.*, {version_at('oracle.agent_versions', 'agent_name', 'q.agent', 'q.created_at')} AS agent_from,
       {version_at('oracle.user_versions', 'user_id', 'q.user_id', 'q.created_at')} AS user_from
FROM exp_q AS q WHERE q.valid;
ALTER TABLE exp_qv ADD COLUMN agent_grp timestamptz;
UPDATE exp_qv SET agent_grp = COALESCE(agent_from, '-infinity');
CREATE TEMP TABLE exp_av ON COMMIT DROP AS
SELECT a.*, v.agent_from, {version_at('oracle.user_versions', 'user_id', 'a.resolved_by', 'a.resolved_at')} AS approver_from,
       (SELECT s.sla_target_seconds FROM oracle.agent_versions AS s
        WHERE s.agent_name = a.agent AND s.valid_from IS NOT DISTINCT FROM v.agent_from) AS sla
FROM exp_a AS a
CROSS JOIN LATERAL (SELECT {version_at('oracle.agent_versions', 'agent_name', 'a.agent', 'a.created_at')} AS agent_from) AS v
WHERE a.valid;
ALTER TABLE exp_av ADD COLUMN agent_grp timestamptz;
UPDATE exp_av SET agent_grp = COALESCE(agent_from, '-infinity');
CREATE TEMP TABLE exp_fv ON COMMIT DROP AS
SELECT f.*, {version_at('oracle.agent_versions', 'agent_name', 'f.agent', 'f.created_at')} AS agent_from,
       {version_at('oracle.user_versions', 'user_id', 'f.annotator_id', 'f.created_at')} AS annotator_from
FROM exp_f AS f WHERE f.valid;
ALTER TABLE exp_fv ADD COLUMN agent_grp timestamptz;
UPDATE exp_fv SET agent_grp = COALESCE(agent_from, '-infinity');
"""

INF = "NULLIF({0}, '-infinity')"  # -infinity (inferred member's start) as NULL, as in the oracle

ACTUAL_Q = f"""
SELECT f.query_id, c.conversation_id, a.agent_name, u.user_id, f.query_hash, f.result_size_bytes, f.latency_ms,
       f.approved, f.human_edited, f.error_occurred, f.created_at, f.time_key,
       {INF.format('a.valid_from')} AS agent_from, {INF.format('u.valid_from')} AS user_from
FROM agents.fact_agent_query AS f JOIN agents.dim_agent AS a USING (agent_key)
JOIN agents.dim_conversation AS c USING (conv_key) LEFT JOIN agents.dim_user AS u USING (user_key)"""
ACTUAL_A = f"""
SELECT f.approval_id, f.query_id, c.conversation_id, a.agent_name, u.user_id, f.status, f.interruption_count,
       f.created_at, f.resolved_at, f.time_key, f.resolution_time_seconds, f.sla_target_seconds, f.sla_met,
       {INF.format('a.valid_from')} AS agent_from, {INF.format('u.valid_from')} AS approver_from
FROM agents.fact_approval AS f LEFT JOIN agents.dim_agent AS a USING (agent_key)
JOIN agents.dim_conversation AS c USING (conv_key) LEFT JOIN agents.dim_user AS u ON u.user_key = f.approved_by_key"""
ACTUAL_F = f"""
SELECT f.feedback_id, f.query_id, c.conversation_id, a.agent_name, u.user_id, f.safe_to_send, f.clarity_score,
       f.accuracy_score, f.tone_score, f.overall_score, f.labels::text, f.created_at, f.annotated_at, f.time_key,
       {INF.format('a.valid_from')} AS agent_from, {INF.format('u.valid_from')} AS annotator_from
FROM agents.fact_training AS f LEFT JOIN agents.dim_agent AS a USING (agent_key)
JOIN agents.dim_conversation AS c USING (conv_key) LEFT JOIN agents.dim_user AS u ON u.user_key = f.annotator_key"""

# every conversation's facts: (conversation, kind, first time, last time)
EXP_CONV_FACTS = """
SELECT conversation_id, 'q' AS kind, created_at AS first_at, created_at AS last_at FROM exp_qv
UNION ALL SELECT conversation_id, 'a', created_at, COALESCE(resolved_at, created_at) FROM exp_av
UNION ALL SELECT conversation_id, 'f', created_at, created_at FROM exp_fv"""

CHECKS = {
    "fact_agent_query": ("""
        SELECT query_id, conversation_id, agent, user_id, query_hash, result_size_bytes, latency_ms, approved,
               human_edited, error_occurred, created_at, time_key FROM exp_qv""",
                         f"SELECT query_id, conversation_id, agent_name, user_id, query_hash, result_size_bytes, latency_ms, "
                         f"approved, human_edited, error_occurred, created_at, time_key FROM ({ACTUAL_Q}) AS x"),
    "fact_approval": ("""
        SELECT approval_id, query_id, conversation_id, agent, resolved_by, status, interruption_count, created_at,
               resolved_at, time_key, floor(extract(epoch FROM resolved_at - created_at))::integer, sla,
               CASE WHEN status IN ('approved', 'rejected') THEN extract(epoch FROM resolved_at - created_at) <= sla
                    WHEN status = 'expired' THEN false END
        FROM exp_av""", f"""
        SELECT approval_id, query_id, conversation_id, agent_name, user_id, status, interruption_count, created_at,
               resolved_at, time_key, resolution_time_seconds, sla_target_seconds, sla_met FROM ({ACTUAL_A}) AS x"""),
    "fact_training": ("""
        SELECT feedback_id, query_id, conversation_id, agent, annotator_id, safe_to_send, clarity_score, accuracy_score,
               tone_score, round((COALESCE(clarity_score, 0) + COALESCE(accuracy_score, 0) + COALESCE(tone_score, 0))::numeric
                                 / NULLIF(num_nonnulls(clarity_score, accuracy_score, tone_score), 0), 2),
               labels::text, created_at, annotated_at, time_key FROM exp_fv""", f"""
        SELECT feedback_id, query_id, conversation_id, agent_name, user_id, safe_to_send, clarity_score, accuracy_score,
               tone_score, overall_score, labels, created_at, annotated_at, time_key FROM ({ACTUAL_F}) AS x"""),
    "fact_versions": ("""
        SELECT 'q', query_id, agent_from, user_from FROM exp_qv
        UNION ALL SELECT 'a', approval_id, agent_from, approver_from FROM exp_av
        UNION ALL SELECT 'f', feedback_id, agent_from, annotator_from FROM exp_fv""", f"""
        SELECT 'q', query_id, agent_from, user_from FROM ({ACTUAL_Q}) AS x
        UNION ALL SELECT 'a', approval_id, agent_from, approver_from FROM ({ACTUAL_A}) AS x
        UNION ALL SELECT 'f', feedback_id, agent_from, annotator_from FROM ({ACTUAL_F}) AS x"""),
    "dim_agent": ("""
        SELECT agent_name, valid_from, valid_to, agent_type, capabilities, sla_target_seconds, cost_per_query_usd
        FROM oracle.agent_versions""", f"""
        SELECT agent_name, {INF.format('valid_from')}, valid_to, agent_type, capabilities::text, sla_target_seconds,
               cost_per_query_usd FROM agents.dim_agent"""),
    "dim_agent_current": ("SELECT agent_name, agent_type, capabilities FROM oracle.agent_versions WHERE valid_to IS NULL",
                          "SELECT agent_name, agent_type, capabilities::text FROM agents.dim_agent WHERE is_current AND NOT is_deleted"),
    "dim_user": ("SELECT user_id, valid_from, valid_to, user_type, team FROM oracle.user_versions",
                 f"""SELECT user_id, {INF.format('valid_from')}, valid_to, user_type, team FROM agents.dim_user"""),
    "dim_conversation": (f"""
        WITH c AS (SELECT btrim(conversation_id) AS conversation_id, NULLIF(btrim(user_id), '') AS user_id,
                          NULLIF(btrim(channel), '') AS channel, metadata, started_at
                   FROM agents_src.conversations
                   WHERE jsonb_typeof(metadata) = 'object' AND {SANE.format('started_at')}
                     AND {SANE.format('updated_at')} AND {SANE.format('created_at')}),
             k AS (SELECT conversation_id, count(*) FILTER (WHERE kind = 'q') AS nq, count(*) FILTER (WHERE kind = 'a') AS na,
                          count(*) FILTER (WHERE kind = 'f') AS nf, min(first_at) AS first_at, max(last_at) AS last_at
                   FROM ({EXP_CONV_FACTS}) AS x GROUP BY conversation_id)
        SELECT conversation_id, c.user_id, c.channel, COALESCE(c.metadata, '{{}}')::text, c.conversation_id IS NULL,
               COALESCE(k.nq, 0)::integer, COALESCE(k.na, 0)::integer, COALESCE(k.nf, 0)::integer,
               CASE WHEN c.conversation_id IS NULL THEN k.first_at ELSE LEAST(c.started_at, k.first_at) END,
               CASE WHEN c.conversation_id IS NULL THEN k.last_at ELSE GREATEST(c.started_at, k.last_at) END
        FROM c FULL JOIN k USING (conversation_id)""", """
        SELECT conversation_id, user_id, channel, metadata::text, is_inferred, total_queries, total_approvals,
               total_feedback, first_seen_at, last_seen_at FROM agents.dim_conversation"""),
    "agg_agent_daily_performance": ("""
        WITH q AS (SELECT agent, agent_grp, time_key, count(*) AS n, round(avg(latency_ms), 2) AS avg_l,
                          round(percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms)::numeric, 2) AS p95,
                          round(100.0 * count(*) FILTER (WHERE approved) / count(*), 2) AS appr,
                          round(100.0 * count(*) FILTER (WHERE human_edited) / count(*), 2) AS edit,
                          round(100.0 * count(*) FILTER (WHERE error_occurred) / count(*), 2) AS err
                   FROM exp_qv GROUP BY 1, 2, 3),
             a AS (SELECT agent, agent_grp, time_key, count(*) AS n,
                          round(100.0 * count(*) FILTER (WHERE CASE WHEN status IN ('approved', 'rejected')
                                                                    THEN extract(epoch FROM resolved_at - created_at) <= sla END)
                                / NULLIF(count(*) FILTER (WHERE status <> 'pending'), 0), 2) AS sla
                   FROM exp_av GROUP BY 1, 2, 3),
             f AS (SELECT agent, agent_grp, time_key, count(*) AS n, count(*) FILTER (WHERE safe_to_send = false) AS unsafe
                   FROM exp_fv GROUP BY 1, 2, 3)
        SELECT agent, NULLIF(agent_grp, '-infinity'), time_key, COALESCE(q.n, 0)::integer, q.avg_l, q.p95, q.appr, q.edit, q.err,
               COALESCE(a.n, 0)::integer, COALESCE(f.n, 0)::integer, COALESCE(f.unsafe, 0)::integer, a.sla
        FROM q FULL JOIN a USING (agent, agent_grp, time_key) FULL JOIN f USING (agent, agent_grp, time_key)""", f"""
        SELECT a.agent_name, {INF.format('a.valid_from')}, g.time_key, g.total_queries, g.avg_latency_ms, g.p95_latency_ms,
               g.approval_rate_pct, g.edit_rate_pct, g.error_rate_pct, g.total_approvals, g.total_feedback,
               g.unsafe_feedback_count, g.sla_compliance_pct
        FROM agents.agg_agent_daily_performance AS g JOIN agents.dim_agent AS a USING (agent_key)"""),
    # the same per agent and day, counts only: holds whatever versions the facts point at
    "agg_day_counts": ("""
        WITH x AS (SELECT agent, time_key, 1 AS q, 0 AS a, 0 AS f, 0 AS u FROM exp_qv
                   UNION ALL SELECT agent, time_key, 0, 1, 0, 0 FROM exp_av
                   UNION ALL SELECT agent, time_key, 0, 0, 1, (safe_to_send = false)::int FROM exp_fv)
        SELECT agent, time_key, sum(q), sum(a), sum(f), sum(u) FROM x GROUP BY 1, 2""", """
        SELECT a.agent_name, g.time_key, sum(g.total_queries), sum(g.total_approvals), sum(g.total_feedback),
               sum(g.unsafe_feedback_count)
        FROM agents.agg_agent_daily_performance AS g JOIN agents.dim_agent AS a USING (agent_key) GROUP BY 1, 2"""),
}
for _name, _key, _exp in (("agent_queries", "query_id", "exp_q"), ("agent_approvals", "approval_id", "exp_a"),
                          ("agent_feedback", "feedback_id", "exp_f")):
    _open = f"""(SELECT DISTINCT record_key FROM dwh_etl.quarantine
                 WHERE target_table = 'silver.agents_{_name}' AND resolved_at IS NULL)"""
    _fact = {"agent_queries": "agents.fact_agent_query", "agent_approvals": "agents.fact_approval",
             "agent_feedback": "agents.fact_training"}[_name]
    CHECKS[f"quarantine_{_name}"] = (f"SELECT {_key}::text FROM {_exp} WHERE NOT valid", f"SELECT record_key FROM {_open} AS q")
    # every source row is in gold or in quarantine (open), never both, never neither
    CHECKS[f"accounting_{_name}"] = (f"SELECT {_key}, 1 FROM agents_src.{_name}", f"""
        SELECT s.{_key}, (f.{_key} IS NOT NULL)::int + (q.record_key IS NOT NULL)::int
        FROM agents_src.{_name} AS s LEFT JOIN {_fact} AS f USING ({_key})
        LEFT JOIN {_open} AS q ON q.record_key = s.{_key}::text""")


# keys compared apart: the user deleted and re-created in one window, the agent first named by facts
SPLIT = {"dim_user": ("dim_user_recreated", lambda ops: {ops.recreated_user}),
         "dim_agent": ("dim_agent_inferred", lambda ops: ops.early_agents)}


def compare(conn, ops):
    """{check: (missing from gold, unexpected in gold)} for every check that differs (SPLIT: some keys apart)."""
    compute_oracle(conn, ops.early_agents)
    found = {}
    with conn.transaction():
        conn.execute(EXPECTED)
        for name, (expected_sql, actual_sql) in CHECKS.items():
            expected = set(rows(conn, expected_sql))
            actual = set(rows(conn, actual_sql))
            parts = {name: (expected, actual)}
            if name in SPLIT:
                apart = SPLIT[name][1](ops)
                parts = {name: ({r for r in expected if r[0] not in apart}, {r for r in actual if r[0] not in apart}),
                         SPLIT[name][0]: ({r for r in expected if r[0] in apart}, {r for r in actual if r[0] in apart})}
            for part, (exp, act) in parts.items():
                if exp != act:
                    found[part] = (sorted(exp - act, key=repr)[:6], sorted(act - exp, key=repr)[:6])
    return found


GOLD_CHECKS = ("fact_agent_query", "fact_approval", "fact_training", "fact_versions", "dim_agent", "dim_user",
               "dim_conversation", "agg_agent_daily_performance")


def gold_state(conn):
    """Gold's agents tables without load stamps."""
    return {name: sorted(rows(conn, CHECKS[name][1]), key=repr) for name in GOLD_CHECKS}


# ---------------------------------------------------------------------------------------------------
# the simulated days
# ---------------------------------------------------------------------------------------------------

def iso(t):
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Operations:
    """The operational system: writes the day's changes into agents_src."""

    def __init__(self, conn, dsn, tmp, rng):
        self.conn, self.dsn, self.tmp, self.rng = conn, dsn, tmp, rng
        self.next = {k: scalar(conn, f"SELECT max({k}) FROM agents_src.{t}") + 1
                     for k, t in (("query_id", "agent_queries"), ("approval_id", "agent_approvals"),
                                  ("feedback_id", "agent_feedback"))}
        self.next_conv = 1
        self.early_agents = set()
        self.recreated_user = None
        self.lsn = 1_000

    def new_id(self, k):
        self.next[k] += 1
        return self.next[k] - 1

    def ids(self, sql, params=None):
        return [r[0] for r in rows(self.conn, sql, params)]

    def agents(self):
        return self.ids("SELECT agent_name FROM agents_src.agents WHERE is_active AND agent_name NOT LIKE 'a15d%' ORDER BY 1")

    def users(self, kind=None):
        return self.ids("SELECT user_id FROM agents_src.users WHERE user_type = COALESCE(%s, user_type) ORDER BY 1", (kind,))

    def conversation(self, started, conv_id=None, metadata='{"client": "a15d"}'):
        cid = conv_id or f"c-a15d-{self.next_conv:04d}"
        if conv_id is None:
            self.next_conv += 1
        self.conn.execute("""INSERT INTO agents_src.conversations (conversation_id, user_id, channel, metadata, started_at,
                                 created_at, updated_at) VALUES (%s, %s, %s, %s::jsonb, %s, %s, %s)""",
                          (cid, self.rng.choice(self.users()), self.rng.choice(["slack", "web", "api", "cli"]), metadata,
                           started, started, started))
        return cid

    def query(self, conv, agent, at, latency=None, stamp=None, qid=None, **extra):
        qid = qid or self.new_id("query_id")
        vals = {"query_id": qid, "conversation_id": conv, "agent": agent, "user_id": self.rng.choice(self.users()),
                "query": f"question {qid}", "result_size_bytes": self.rng.randint(100, 9000),
                "latency_ms": self.rng.randint(50, 4000) if latency is None else latency,
                "approved": self.rng.choice([True, False, None]), "human_edited": self.rng.random() < 0.2,
                "error_occurred": self.rng.random() < 0.1, "created_at": at, "updated_at": stamp or at, **extra}
        self.insert("agent_queries", vals)
        return qid

    def approval(self, qid, conv, agent, at, status="pending", resolved_after=None, stamp=None, **extra):
        aid = self.new_id("approval_id")
        resolved = at + resolved_after if resolved_after is not None else None
        vals = {"approval_id": aid, "query_id": qid, "conversation_id": conv, "agent": agent, "status": status,
                "resolved_by": self.rng.choice(self.users("approver")) if resolved else None,
                "interruption_count": self.rng.randint(0, 2), "created_at": at, "resolved_at": resolved,
                "updated_at": stamp or resolved or at, **extra}
        self.insert("agent_approvals", vals)
        return aid

    def feedback(self, qid, conv, agent, at, stamp=None, fid=None, **extra):
        fid = fid or self.new_id("feedback_id")
        vals = {"feedback_id": fid, "query_id": qid, "conversation_id": conv, "agent": agent,
                "annotator_id": self.rng.choice(self.users("annotator")), "safe_to_send": self.rng.choice([True, False, None]),
                "clarity_score": self.rng.choice([None, 1, 3, 5]), "accuracy_score": self.rng.randint(1, 5),
                "tone_score": self.rng.randint(1, 5), "labels": self.rng.sample(["tone", "facts", "format", "pii"], 2),
                "created_at": at, "annotated_at": at + dt.timedelta(hours=1), "updated_at": stamp or at, **extra}
        self.insert("agent_feedback", vals)
        return fid

    def insert(self, table, vals):
        cols = ", ".join(vals)
        self.conn.execute(f"INSERT INTO agents_src.{table} ({cols}) VALUES ({', '.join(['%s'] * len(vals))})",
                          list(vals.values()))

    def row(self, table, key, value):
        cur = self.conn.execute(f"SELECT * FROM agents_src.{table} WHERE {key} = %s", (value,))
        names = [d.name for d in cur.description]
        return {k: v for k, v in zip(names, cur.fetchone()) if k != "_dwh_arrived_at"}

    def day(self, d, bday):
        rng, conn = self.rng, self.conn
        start = dt.datetime.combine(bday, dt.time(8), tzinfo=dt.timezone.utc)
        now = scalar(conn, "SELECT now()")
        agents = self.agents()
        # the day's conversations: queries, approval requests (some resolved, one expired), feedback
        for _ in range(6):
            at = start + dt.timedelta(minutes=rng.randint(0, 600))
            conv = self.conversation(at)
            for i in range(rng.randint(1, 3)):
                agent = rng.choice(agents)
                qat = at + dt.timedelta(minutes=i * 7 + 1)
                qid = self.query(conv, agent, qat)
                r = rng.random()
                if r < 0.3:
                    self.approval(qid, conv, agent, qat + dt.timedelta(seconds=5))
                elif r < 0.6:
                    self.approval(qid, conv, agent, qat + dt.timedelta(seconds=5), status=rng.choice(["approved", "rejected"]),
                                  resolved_after=dt.timedelta(seconds=rng.randint(30, 3000)))
                elif r < 0.7:
                    self.approval(qid, conv, agent, qat + dt.timedelta(seconds=5), status="expired",
                                  resolved_after=dt.timedelta(hours=24))
                if rng.random() < 0.5:
                    self.feedback(qid, conv, agent, qat + dt.timedelta(minutes=3))
        # late-arriving queries: asked 5-15 days ago in an old conversation, written now with their old times
        for _ in range(3):
            conv, started = rows(conn, """SELECT conversation_id, started_at FROM agents_src.conversations
                                          WHERE started_at < %s ORDER BY conversation_id DESC LIMIT 1 OFFSET %s""",
                                 (start - dt.timedelta(days=rng.randint(5, 15)), rng.randint(0, 5)))[0]
            agent = rng.choice(agents)
            qid = self.query(conv, agent, started + dt.timedelta(minutes=rng.randint(1, 90)))
            self.feedback(qid, conv, agent, started + dt.timedelta(minutes=95))
        # pending approvals resolved now; queries reviewed later (approved, human edits)
        for aid, created in rows(conn, """SELECT approval_id, created_at FROM agents_src.agent_approvals
                                          WHERE status = 'pending' ORDER BY approval_id LIMIT 3"""):
            conn.execute("""UPDATE agents_src.agent_approvals SET status = %s, resolved_by = %s, resolved_at = %s,
                                   updated_at = now() WHERE approval_id = %s""",
                         (rng.choice(["approved", "rejected"]), rng.choice(self.users("approver")),
                          created + dt.timedelta(seconds=rng.randint(60, 2000)), aid))
        existing = self.ids("SELECT query_id FROM agents_src.agent_queries WHERE query_id < 9000000 ORDER BY 1")
        for qid in rng.sample(existing, 4):
            conn.execute("""UPDATE agents_src.agent_queries SET approved = true, human_edited = NOT COALESCE(human_edited, false),
                                   updated_at = now() WHERE query_id = %s""", (qid,))
        # one query three times in this window: only the last state counts
        thrice = rng.choice(existing)
        for lat in (100, 200, 300 + d):
            conn.execute("UPDATE agents_src.agent_queries SET latency_ms = %s, updated_at = clock_timestamp() WHERE query_id = %s",
                         (lat, thrice))
        # deletes: a query withdrawn; a feedback entry deleted and re-written in this window (new values);
        # an approval restored from a backup (its old row and updated_at) in this window
        conn.execute("DELETE FROM agents_src.agent_queries WHERE query_id = %s", (rng.choice(existing),))
        fid = rng.choice(self.ids("SELECT feedback_id FROM agents_src.agent_feedback ORDER BY 1"))
        old = self.row("agent_feedback", "feedback_id", fid)
        conn.execute("DELETE FROM agents_src.agent_feedback WHERE feedback_id = %s", (fid,))
        self.insert("agent_feedback", {**old, "clarity_score": 2, "labels": ["rewritten"], "updated_at": now})
        aid = rng.choice(self.ids("SELECT approval_id FROM agents_src.agent_approvals WHERE status <> 'pending' ORDER BY 1"))
        backup = self.row("agent_approvals", "approval_id", aid)
        conn.execute("DELETE FROM agents_src.agent_approvals WHERE approval_id = %s", (aid,))
        self.insert("agent_approvals", backup)
        # agents: a capability change, one agent's SLA changed three times in this window, a late change
        # (cost corrected with an updated_at between its last change and now); users: team changes
        a1, a2, late = rng.sample(agents, 3)
        conn.execute("""UPDATE agents_src.agents SET capabilities = capabilities || %s::jsonb, updated_at = clock_timestamp()
                        WHERE agent_name = %s""", (json.dumps([f"skill-{d}"]), a1))
        for sla in (100, 200, 250 + d):
            conn.execute("UPDATE agents_src.agents SET sla_target_seconds = %s, updated_at = clock_timestamp() WHERE agent_name = %s",
                         (sla, a2))
        last = scalar(conn, "SELECT updated_at FROM agents_src.agents WHERE agent_name = %s", (late,))
        conn.execute("UPDATE agents_src.agents SET cost_per_query_usd = cost_per_query_usd + 0.001, updated_at = %s WHERE agent_name = %s",
                     (last + (now - last) / 2, late))
        for uid in rng.sample(self.users("annotator") + self.users("approver"), 2):
            conn.execute("UPDATE agents_src.users SET team = %s, updated_at = clock_timestamp() WHERE user_id = %s",
                         (f"team-{d}-{rng.randint(1, 9)}", uid))
        # bad rows, each its own record
        conv = self.conversation(start + dt.timedelta(hours=11))
        agent = rng.choice(agents)
        bq = self.query(conv, agent, start + dt.timedelta(hours=11, minutes=1), latency=-5)
        self.notes_bad = [
            bq,
            self.approval(bq, conv, agent, start + dt.timedelta(hours=11, minutes=2), status="maybe"),
            self.approval(bq, conv, agent, start + dt.timedelta(hours=11, minutes=2), status="pending",
                          resolved_after=dt.timedelta(minutes=5)),
            self.feedback(bq, conv, agent, start + dt.timedelta(hours=11, minutes=3), clarity_score=9),
            self.feedback(bq, conv, agent, start + dt.timedelta(hours=11, minutes=3),
                          annotated_at=start + dt.timedelta(hours=10)),
            self.query(conv, agent, dt.datetime(2999, 1, 1, tzinfo=dt.timezone.utc)),
        ]
        getattr(self, f"day{d}", lambda *a: None)(start, agents)

    # --- the days' own stories ---------------------------------------------------------------------

    def day1(self, start, agents):
        conn, rng = self.conn, self.rng
        # an agent and a conversation named by facts before their rows arrive (tomorrow)
        self.early_agents.add("a15d-early")
        self.late_conv = "c-a15d-late"
        at = start + dt.timedelta(hours=2)
        qid = self.query(self.late_conv, "a15d-early", at)
        self.approval(qid, self.late_conv, "a15d-early", at + dt.timedelta(seconds=3), status="approved",
                      resolved_after=dt.timedelta(seconds=200))
        self.feedback(qid, self.late_conv, "a15d-early", at + dt.timedelta(minutes=2))
        self.early_at = at
        # a bad query corrected tomorrow
        conv = self.conversation(start + dt.timedelta(hours=3))
        self.fixed_tomorrow = self.query(conv, rng.choice(agents), start + dt.timedelta(hours=3, minutes=1), latency=-1)
        # a feedback entry deleted today, re-inserted tomorrow
        fid = self.ids("SELECT feedback_id FROM agents_src.agent_feedback ORDER BY feedback_id DESC LIMIT 1 OFFSET 20")[0]
        self.reinsert = self.row("agent_feedback", "feedback_id", fid)
        conn.execute("DELETE FROM agents_src.agent_feedback WHERE feedback_id = %s", (fid,))
        # a file of four queries (as the source has them) landed today
        self.file_queries = self.ids("""SELECT query_id FROM agents_src.agent_queries WHERE query_id < 9000000
                                        ORDER BY query_id DESC LIMIT 4 OFFSET 40""")
        self.file = self.write_file()
        ok(dwh(self.dsn, "load", "bronze.agents_agent_queries", self.file))

    def day2(self, start, agents):
        conn, rng = self.conn, self.rng
        conn.execute("""INSERT INTO agents_src.agents (agent_name, agent_type, capabilities, sla_target_seconds,
                            cost_per_query_usd, created_at, updated_at)
                        VALUES ('a15d-early', 'qa', '["late"]', 60, 0.001, now(), now())""")
        self.conversation(self.early_at - dt.timedelta(minutes=10), conv_id=self.late_conv)
        conn.execute("UPDATE agents_src.agent_queries SET latency_ms = 50, updated_at = now() WHERE query_id = %s",
                     (self.fixed_tomorrow,))
        self.insert("agent_feedback", {**self.reinsert, "updated_at": scalar(conn, "SELECT now()")})
        # the file's queries change in the source: two corrected, one deleted
        conn.execute("UPDATE agents_src.agent_queries SET latency_ms = latency_ms + 1, updated_at = now() WHERE query_id = ANY (%s)",
                     (self.file_queries[1:3],))
        conn.execute("DELETE FROM agents_src.agent_queries WHERE query_id = %s", (self.file_queries[3],))
        # an agent deleted (it has facts: they keep its closed version); a user deleted and re-created with
        # another team in one window; another user restored from a backup (its old row) in one window
        gone = agents[-1]
        conn.execute("DELETE FROM agents_src.agents WHERE agent_name = %s", (gone,))
        u1, u2 = rng.sample(self.users("annotator"), 2)
        self.recreated_user = u1
        old = self.row("users", "user_id", u1)
        conn.execute("DELETE FROM agents_src.users WHERE user_id = %s", (u1,))
        self.insert("users", {**old, "team": "recreated", "updated_at": scalar(conn, "SELECT clock_timestamp()")})
        backup = self.row("users", "user_id", u2)
        conn.execute("DELETE FROM agents_src.users WHERE user_id = %s", (u2,))
        self.insert("users", backup)

    def day3(self, start, agents):
        from test_cdc import ev

        conn = self.conn
        # the same file delivered again (--force): its rows are older than the source's now
        ok(dwh(self.dsn, "load", "bronze.agents_agent_queries", self.file, "--force"))
        # change events applied to agents_src: a query reviewed, a feedback entry withdrawn
        qid = self.ids("SELECT query_id FROM agents_src.agent_queries WHERE query_id < 9000000 ORDER BY query_id LIMIT 1 OFFSET 7")[0]
        q = self.row("agent_queries", "query_id", qid)
        after = {k: (iso(v) if isinstance(v, dt.datetime) else v) for k, v in q.items()}
        after.update(approved=True, human_edited=True, updated_at=iso(scalar(conn, "SELECT now()")))
        fid = self.ids("SELECT feedback_id FROM agents_src.agent_feedback ORDER BY feedback_id LIMIT 1 OFFSET 9")[0]
        self.lsn += 2
        events = [ev("u", "agent_queries", self.lsn, after=after, before={"query_id": qid}),
                  ev("d", "agent_feedback", self.lsn + 1, before={"feedback_id": fid})]
        res = rows(conn, "SELECT applied FROM dwh_etl.ingest_cdc_events(%s, 'agents_src')", (Jsonb(events),))[0]
        assert res[0] == 2, res

    def write_file(self):
        recs = []
        for qid in self.file_queries:
            r = self.row("agent_queries", "query_id", qid)
            recs.append({k: (iso(v) if isinstance(v, dt.datetime) else v) for k, v in r.items()})
        path = self.tmp / "queries-a15d.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")
        return path


@pytest.fixture(scope="module")
def world(postgresql_proc, tmp_path_factory):
    """The agents area alone, generated (scale 0.005) and loaded, then DAYS simulated days, each followed by
    `daily` and the comparison with the oracle. Yields (conn, dsn, {day: differences}, operations)."""
    proc = postgresql_proc
    with cloned_database(proc, proc.template_dbname, "a15d") as conn:
        dsn = make_conninfo(proc.host, proc.port, proc.user, conn.info.dbname, proc.password)
        conn.execute("SET TimeZone = 'UTC'")
        disable_other_areas(conn, "agents")
        conn.execute("CALL agents_src.generate(p_scale => 0.005, p_seed => 0.15)")
        conn.execute(ORACLE_DDL)
        ops = Operations(conn, dsn, tmp_path_factory.mktemp("a15d"), random.Random(SEED))
        found = {}
        snapshot_source(conn, 0)
        run_daily(conn)
        found[0] = compare(conn, ops)
        today = scalar(conn, "SELECT (now() AT TIME ZONE 'UTC')::date")
        for d in range(1, DAYS + 1):
            ops.day(d, today - dt.timedelta(days=DAYS + 1 - d))
            snapshot_source(conn, d)
            run_daily(conn)
            found[d] = compare(conn, ops)
        yield conn, dsn, found, ops


def differences(world, check):
    return {d: f[check] for d, f in world[2].items() if check in f}


# ---------------------------------------------------------------------------------------------------
# the tests
# ---------------------------------------------------------------------------------------------------

# the facts' version pointers and the per-version aggregate (what a late-arriving agent change left wrong
# before the fact steps re-pointed them: test_a_late_agent_change_repoints_the_facts_it_covers)
LATE_VERSION_CHECKS = {"fact_versions", "agg_agent_daily_performance"}


def without(found, checks):
    return {k: v for k, v in found.items() if k not in checks}


@pytest.mark.parametrize("check", ["fact_agent_query", "fact_training", "quarantine_agent_queries",
                                   "quarantine_agent_approvals", "quarantine_agent_feedback", "accounting_agent_queries",
                                   "accounting_agent_approvals", "accounting_agent_feedback"])
def test_every_valid_row_is_in_gold_and_every_bad_one_in_quarantine(world, check):
    """Held: every valid query and feedback entry of the source's final state is in its fact with the
    seed's values (late queries with old timestamps, a query updated three times in one window, reviews
    arriving later, a feedback entry deleted and re-written in one window and deleted and re-inserted
    across two, a query withdrawn, a file of queries delivered again with --force after the source
    corrected and deleted some of them, change events applied to agents_src), facts naming an agent and a
    conversation whose rows arrive the next day included; each bad row (negative latency, a status outside
    the seed's enum, pending with a resolution, clarity 9, annotated before created, a query of year 2999)
    is open in quarantine, a corrected one is resolved, and every source row is in exactly one of the two."""
    assert differences(world, check) == {}


def test_approvals_carry_the_sla_of_their_agent_version(world):
    """DEFECT (medium), fixed: an approval request whose agent row arrived after it (the request named the
    agent first: an inferred member, with the seed's default SLA 300 s) kept that default for good once the
    agent's row completed the member in place with its real SLA (60 s): fact_approval.sla_target_seconds
    stayed 300, so sla_met said true for a resolution after 200 s, and agg_agent_daily_performance's
    sla_compliance_pct of that day counted it as met. The fact copies the SLA at load time, and the in-place
    completion ("the facts never need a rewrite") never reached it. Now step agents_approval_sla
    (agents.step_approval_sla) gives the requests of the agent versions written since its last run their
    version's SLA and queues their days for the aggregate. The rest held: status, resolver, resolution time,
    interruptions of every request (resolved late, restored from a backup with its old row) as the source."""
    assert differences(world, "fact_approval") == {}


@pytest.mark.parametrize("check", ["dim_agent", "dim_agent_current", "dim_user"])
def test_scd2_dimensions_equal_the_source_history(world, check):
    """Held: dim_agent and dim_user hold exactly the versions the source's states give (valid_from = the
    change time, valid_to = the next version's or the deletion's; three SLA changes in one window are one
    version; a late cost correction stamped in the past opens its version at its own time; an agent named
    by facts first is its inferred member, completed in place; a deleted agent closed at its deletion; a
    user restored from a backup in one window stays as it was; an invalid state changes nothing)."""
    assert differences(world, check) == {}


@pytest.mark.xfail(strict=True, reason=(
    "agents silver keeps one row per key (the latest state), so a deletion followed in the same run's window "
    "by a re-creation never reaches dim_user as a deletion: the old version is closed at the new one's start, "
    "not at the deletion (sales keeps silver history and gets it right); fixing it needs silver history or "
    "tombstone rows in the dimension's change view that apply_dimension can tell from ones already applied"))
def test_a_user_deleted_and_recreated_in_one_window_is_closed_at_its_deletion(world):
    """DEFECT (low), xfail: a user deleted and re-created with another team before the next run gets its new
    version, but the old one is closed at the re-creation (valid_to = the new version's valid_from), not at
    the deletion: dim_user says the user existed, unchanged, in between. Facts are not affected (none can
    fall between); the history differs from the source's (and from sales, where the same story held in
    attack 15b)."""
    assert differences(world, "dim_user_recreated") == {}


def test_dim_conversation_equals_the_source_and_its_facts(world):
    """Held: dim_conversation holds every valid conversation with its user, channel and metadata, an
    inferred member completed in place for the conversation a query named a day before its row arrived,
    counters equal to the valid facts of the conversation (withdrawn and quarantined ones not counted), and
    first / last seen from its start and its facts' times, every day."""
    assert differences(world, "dim_conversation") == {}


def test_an_agent_named_by_facts_first_is_completed_in_place(world):
    """Held: the agent a query, an approval and a feedback entry named a day before its row arrived is an
    inferred member (the seed's defaults) on that day and its real row, completed in place, afterwards: one
    version from -infinity."""
    assert differences(world, "dim_agent_inferred") == {}


def test_daily_performance_counts_equal_the_facts(world):
    """Held: agg_agent_daily_performance's queries, approvals, feedback and unsafe feedback per agent and day
    equal the valid facts' (late facts re-aggregate their own old day; a withdrawn query leaves its day)."""
    assert differences(world, "agg_day_counts") == {}


def test_a_late_agent_change_repoints_the_facts_it_covers(world):
    """DEFECT (medium), fixed, the engine's, seen in sales by attack 15b: an agent's cost corrected late with an
    old change time split its history in dim_agent correctly, but the queries, approvals and feedback
    loaded earlier whose events lie after that change time kept pointing at the older version, and
    agg_agent_daily_performance (per agent version) counted them there, until a restatement or rebuild.
    The fact steps now re-point them (dwh_etl._fact_repoint) and queue their days."""
    assert {d: f for d, f in world[2].items() if LATE_VERSION_CHECKS & set(f)} == {}


def test_a_rerun_changes_nothing(world):
    """Held: `daily` again with no source change leaves gold as it is."""
    conn = world[0]
    before = gold_state(conn)
    run_daily(conn)
    assert gold_state(conn) == before
    assert without(compare(conn, world[3]), {"dim_user_recreated"}) == {}


def test_a_restatement_of_every_date_reproduces_gold(world):
    """Held: a restatement of every loaded date gives the same facts, dimensions, counters and aggregate;
    the facts of a late agent change are re-pointed at the version valid at their events."""
    conn = world[0]
    before = gold_state(conn)
    first = scalar(conn, "SELECT min(created_at AT TIME ZONE 'UTC')::date FROM agents.fact_agent_query")
    conn.execute("CALL dwh_etl.restate(p_pipeline => 'daily', p_from => %s, p_to => CURRENT_DATE)", (first,))
    assert gold_state(conn) == before
    assert without(compare(conn, world[3]), {"dim_user_recreated"}) == {}


# what the start of a once-inferred agent changes after a rebuild
INFERRED_START_CHECKS = {"dim_agent_inferred", "fact_versions", "agg_agent_daily_performance"}


@pytest.fixture(scope="module")
def rebuilt(world):
    """`dwh rebuild agents` once, after the rerun and the restatement: (gold before, gold after, differences
    from the oracle after)."""
    conn = world[0]
    # the facts' version pointers and the per-version aggregate are left out of the before/after
    # comparison: a once-inferred agent's first version starts elsewhere after a rebuild (the xfail below)
    before = without(gold_state(conn), LATE_VERSION_CHECKS)
    conn.execute("CALL dwh_etl.rebuild(p_target => 'agents')")
    return before, without(gold_state(conn), LATE_VERSION_CHECKS), compare(conn, world[3])


def test_a_rebuild_of_the_area_reproduces_gold(world, rebuilt):
    """Held: `dwh rebuild agents` gives the same facts, dimensions, counters and aggregate counts, equal to the
    oracle, facts at the versions valid at their events included (but for the start of a once-inferred
    agent: the xfail below)."""
    before, after, found = rebuilt
    early = world[3].early_agents
    strip = lambda rs: [r for r in rs if r[0] not in early]  # noqa: E731
    assert {k: strip(v) for k, v in after.items()} == {k: strip(v) for k, v in before.items()}
    assert without(found, {"dim_user_recreated"} | INFERRED_START_CHECKS) == {}
    # what differs in those is the once-inferred agent's start alone: its rows of the aggregate, the facts'
    # agent version (-infinity in the oracle)
    missing, unexpected = found.get("agg_agent_daily_performance", ([], []))
    assert all(r[0] in early for r in missing + unexpected), found
    missing, unexpected = found.get("fact_versions", ([], []))
    assert all(r[2] is None for r in missing), found


@pytest.mark.xfail(strict=True, reason=(
    "a rebuild loads dim_agent from silver before any fact, so no inferred member is created and the agent's "
    "first version starts at its first change time; keeping -infinity would need the rebuild to know the facts "
    "named the agent first (or the incremental completion to move valid_from), an engine change"))
def test_a_rebuild_keeps_the_start_of_a_once_inferred_agent(world, rebuilt):
    """DEFECT (low), xfail: an agent named by facts a day before its row arrived is an inferred member,
    completed in place: its first version starts at -infinity in daily loads (held every day), but at the
    agent's first change time after `dwh rebuild agents`, so gold is not reproduced (dim_agent.valid_from and
    the aggregate's version rows differ; the facts point at the same version either way: the lookup takes the
    first version for an event before it)."""
    assert {k: v for k, v in rebuilt[2].items() if k in INFERRED_START_CHECKS} == {}
