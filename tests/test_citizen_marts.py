"""The citizen area's measurements, marts and KPIs (issue 12, migration 0029, procedures/citizen/marts_*.sql
and kpi_*.sql): every measure of dm_service_analytics, dm_user_analytics, dm_content_analytics,
dm_system_analytics, fct_data_quality and fct_system_performance equals an independent computation from the
facts written here in plain SQL (not the rows views or functions of the marts); the marts are rebuilt for
the affected days only; a re-delivered batch changes nothing; the KPI views return rows.

The citizen-only warehouse is built once per module (`citizen_marts_template`: generated at a small scale,
`daily` run once); each test gets its own clone of it."""

from __future__ import annotations

import datetime as dt
import json

import psycopg
import pytest

from conftest import database_template

RUN_DAILY = "CALL dwh_etl.run_pipeline(p_pipeline => 'daily', p_run_date => CURRENT_DATE, p_run_id => NULL)"

MARTS = {
    "citizen.dm_service_analytics": ["date_key", "service_key"],
    "citizen.dm_user_analytics": ["date_key", "user_key"],
    "citizen.dm_content_analytics": ["date_key", "content_key"],
    "citizen.dm_system_analytics": ["date_key", "time_key"],
}
KPI_VIEWS = ["citizen.kpi_data_quality", "citizen.kpi_performance", "citizen.kpi_service_usage_trend",
             "citizen.kpi_user_engagement", "citizen.kpi_content_performance", "citizen.kpi_system_health"]
# an extra row-level rule so that consistency has failures to count (the area's own rules pass on the demo)
TEST_RULE = ("INSERT INTO dwh_etl.quality_rules (rule_name, table_name, rule_type, column_names, params, severity, "
             "scope, threshold_type, threshold, area, description) VALUES ('citizen_marts_test_slow_query', "
             "'citizen.fct_service_queries', 'range', '{response_time_ms}', '{\"max\": 1500}', 'warn', 'batch', "
             "'percent', 100, 'citizen', 'test: a query slower than 1.5 s')")


def scalar(conn, sql, params=None):
    return conn.execute(sql, params).fetchone()[0]


def rows(conn, sql, params=None):
    return conn.execute(sql, params).fetchall()


def only_citizen(conn):
    conn.execute("UPDATE dwh_etl.steps SET is_enabled = false WHERE area NOT IN ('citizen', 'engine')")
    conn.execute("UPDATE dwh_etl.quality_rules SET is_enabled = false WHERE area IS DISTINCT FROM 'citizen'")


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
def citizen_marts_template(conn):
    """Only the citizen area: its demo source generated (scale 0.05, 10 days, seed 0.42), a few bad events
    delivered, `daily` run once."""
    only_citizen(conn)
    conn.execute(TEST_RULE)
    conn.execute("CALL citizen_src.generate(p_scale => 0.05, p_seed => 0.42, p_days => 10)")
    conn.execute(RUN_DAILY)


@pytest.fixture
def loaded(citizen_marts_template, conn):
    return conn


def same(conn, actual_sql, expected_sql):
    """Both queries return the same multiset of rows (and some)."""
    actual = sorted(rows(conn, actual_sql), key=repr)
    expected = sorted(rows(conn, expected_sql), key=repr)
    assert actual, "no rows"
    missing = [r for r in expected if r not in actual][:5]
    extra = [r for r in actual if r not in expected][:5]
    assert (missing, extra, len(actual)) == ([], [], len(expected))


# ---------------------------------------------------------------------------------------------------------
# Shape
# ---------------------------------------------------------------------------------------------------------

def test_every_mart_has_a_primary_key_on_its_grain(conn):
    for table, grain in MARTS.items():
        pk = rows(conn, """
            SELECT array_agg(a.attname::text ORDER BY a.attname)
            FROM pg_constraint AS c
            JOIN pg_attribute AS a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
            WHERE c.conrelid = %s::regclass AND c.contype = 'p'
        """, (table,))[0][0]
        assert pk == sorted(grain), table
    # the two measurement facts: unique on their grain (NULL service = the warehouse, one row too)
    assert rows(conn, """
        SELECT conrelid::regclass::text, pg_get_constraintdef(oid) FROM pg_constraint
        WHERE conname IN ('fct_data_quality_grain_uq', 'fct_system_performance_grain_uq') ORDER BY 1
    """) == [("citizen.fct_data_quality", "UNIQUE (date_key, quality_metric_key, service_key, content_source_key)"),
             ("citizen.fct_system_performance",
              "UNIQUE NULLS NOT DISTINCT (date_key, time_key, quality_metric_key, service_key)")]


def test_one_status_vocabulary_judged_by_the_metric_direction(conn):
    cases = [(99, True, 98, 95, "good"), (98, True, 98, 95, "good"), (96, True, 98, 95, "warning"),
             (95, True, 98, 95, "warning"), (94.9, True, 98, 95, "critical"), (500, False, 1000, 3000, "good"),
             (3000, False, 1000, 3000, "warning"), (3001, False, 1000, 3000, "critical"), (5, True, None, None, None)]
    for value, higher, good, warning, expected in cases:
        assert scalar(conn, "SELECT citizen.kpi_status(%s::numeric, %s, %s::numeric, %s::numeric)", (value, higher, good, warning)) == expected
    # every metric has a unit and a direction; thresholds come in pairs in the right order
    with pytest.raises(psycopg.errors.CheckViolation):
        conn.execute("""INSERT INTO citizen.dim_quality_metric (metric_code, metric_name, metric_category, measurement_unit,
                        higher_is_better, threshold_good, threshold_warning, description)
                        VALUES ('bad', 'Bad', 'data_quality', 'percent', true, 90, 95, 'warning above good')""")
    with pytest.raises(psycopg.errors.CheckViolation):
        conn.execute("""INSERT INTO citizen.fct_data_quality (date_key, service_key, content_source_key, quality_metric_key,
                        metric_value, unit, status, rows_measured, _batch_id)
                        VALUES (20250101, 1, 1, 1, 50, 'percent', 'pass', 1, gen_random_uuid())""")


def test_daily_fills_every_mart_and_measurement_fact(loaded):
    status, steps = last_run(loaded)
    assert status == "completed", steps
    assert {s.split(":")[0] for s in steps} >= {
        "citizen_quality_days", "citizen_fct_data_quality", "citizen_fct_system_performance",
        "citizen_dm_service_analytics", "citizen_dm_user_analytics", "citizen_dm_content_analytics",
        "citizen_dm_system_analytics"}
    for table in [*MARTS, "citizen.fct_data_quality", "citizen.fct_system_performance"]:
        assert scalar(loaded, f"SELECT count(*) FROM {table}") > 0, table
    # every day with facts has its rows; the queues were consumed
    assert scalar(loaded, """
        SELECT count(*) FROM (SELECT date_key FROM citizen.fct_service_queries UNION SELECT date_key FROM citizen.fct_content_usage) AS d
        WHERE NOT EXISTS (SELECT 1 FROM citizen.dm_service_analytics AS m WHERE m.date_key = d.date_key)
    """) == 0
    for queue in ["citizen_affected_days_service", "citizen_affected_days_user", "citizen_affected_days_content",
                  "citizen_affected_days_system", "citizen_dq_days", "citizen_perf_days"]:
        assert scalar(loaded, f"SELECT count(*) FROM dwh_staging.{queue}") == 0, queue
    # every data quality metric is measured, and the warehouse's own ETL metrics
    assert {r[0] for r in rows(loaded, """
        SELECT DISTINCT m.metric_code FROM citizen.fct_data_quality AS f JOIN citizen.dim_quality_metric AS m USING (quality_metric_key)
    """)} == {"completeness", "accuracy", "freshness", "consistency"}
    assert {r[0] for r in rows(loaded, "SELECT DISTINCT metric_type FROM citizen.fct_system_performance")} == {
        "request_count", "response_time_ms", "throughput_rps", "error_rate",
        "etl_step_seconds", "etl_step_runs", "etl_failed_steps"}


# ---------------------------------------------------------------------------------------------------------
# Every measure equals an independent computation from the facts
# ---------------------------------------------------------------------------------------------------------

def test_dm_service_analytics_equals_an_independent_computation(loaded):
    same(loaded, """
        SELECT date_key, service_key, total_queries, successful_queries, failed_queries, avg_response_time_ms,
               unique_users, satisfaction_score, content_views, content_downloads
        FROM citizen.dm_service_analytics
    """, """
        WITH keys AS (
            SELECT date_key, service_key FROM citizen.fct_service_queries
            UNION SELECT date_key, service_key FROM citizen.fct_content_usage
        )
        SELECT k.date_key, k.service_key,
               (SELECT count(*) FROM citizen.fct_service_queries q WHERE q.date_key = k.date_key AND q.service_key = k.service_key),
               (SELECT count(*) FROM citizen.fct_service_queries q WHERE q.date_key = k.date_key AND q.service_key = k.service_key AND q.success_flag),
               (SELECT count(*) FROM citizen.fct_service_queries q WHERE q.date_key = k.date_key AND q.service_key = k.service_key AND NOT q.success_flag),
               (SELECT round(sum(q.response_time_ms)::numeric / count(q.response_time_ms), 2) FROM citizen.fct_service_queries q
                WHERE q.date_key = k.date_key AND q.service_key = k.service_key),
               (SELECT count(*) FROM (
                    SELECT DISTINCT CASE WHEN u.user_id IS NULL THEN 'anon/' || q.session_id ELSE 'user/' || u.user_id END
                    FROM citizen.fct_service_queries q LEFT JOIN citizen.dim_user u ON u.user_key = q.user_key
                    WHERE q.date_key = k.date_key AND q.service_key = k.service_key
                    UNION
                    SELECT DISTINCT CASE WHEN u.user_id IS NULL THEN 'anon/' || c.session_id ELSE 'user/' || u.user_id END
                    FROM citizen.fct_content_usage c LEFT JOIN citizen.dim_user u ON u.user_key = c.user_key
                    WHERE c.date_key = k.date_key AND c.service_key = k.service_key) AS v),
               (SELECT round(sum(q.user_satisfaction_score)::numeric / count(q.user_satisfaction_score), 2)
                FROM citizen.fct_service_queries q WHERE q.date_key = k.date_key AND q.service_key = k.service_key),
               (SELECT count(*) FROM citizen.fct_content_usage c WHERE c.date_key = k.date_key AND c.service_key = k.service_key AND c.action_type = 'view'),
               (SELECT count(*) FROM citizen.fct_content_usage c WHERE c.date_key = k.date_key AND c.service_key = k.service_key AND c.action_type = 'download')
        FROM keys k
    """)
    # anonymous visitors are counted (by session), not dropped
    assert scalar(loaded, "SELECT count(*) FROM citizen.fct_service_queries WHERE user_key IS NULL") > 0
    # no row multiplication: the mart's views add up to the fact's
    assert scalar(loaded, "SELECT sum(content_views) FROM citizen.dm_service_analytics") == scalar(
        loaded, "SELECT count(*) FROM citizen.fct_content_usage WHERE action_type = 'view'")


def test_dm_user_analytics_equals_an_independent_computation(loaded):
    same(loaded, """
        SELECT date_key, user_key, session_count, total_queries, content_actions, avg_session_duration_seconds,
               most_used_service, language_preference, device_type, engagement_score
        FROM citizen.dm_user_analytics
    """, """
        WITH ev AS (
            SELECT date_key, user_key, session_id, service_key, queried_at AS t0, queried_at AS t1, 1 AS q, 0 AS c,
                   language_key, device_type
            FROM citizen.fct_service_queries WHERE user_key IS NOT NULL
            UNION ALL
            SELECT date_key, user_key, session_id, service_key, used_at, used_at + COALESCE(duration_seconds, 0) * interval '1 second',
                   0, 1, NULL, device_type
            FROM citizen.fct_content_usage WHERE user_key IS NOT NULL
        ),
        base AS (
            SELECT date_key, user_key, count(DISTINCT session_id) AS sessions, sum(q) AS queries, sum(c) AS actions
            FROM ev GROUP BY 1, 2
        ),
        sess AS (
            SELECT date_key, user_key, round(avg(secs))::int AS avg_secs
            FROM (SELECT date_key, user_key, session_id, EXTRACT(EPOCH FROM max(t1) - min(t0)) AS secs FROM ev GROUP BY 1, 2, 3) s
            GROUP BY 1, 2
        ),
        svc AS (
            SELECT date_key, user_key, service_key,
                   rank() OVER (PARTITION BY date_key, user_key ORDER BY count(*) DESC, min(t0), service_key) AS r
            FROM ev GROUP BY date_key, user_key, service_key
        ),
        lang AS (
            SELECT e.date_key, e.user_key, l.language_code,
                   rank() OVER (PARTITION BY e.date_key, e.user_key ORDER BY count(*) DESC, l.language_code COLLATE "C") AS r
            FROM ev e JOIN citizen.dim_language l ON l.language_key = e.language_key
            GROUP BY e.date_key, e.user_key, l.language_code
        ),
        dev AS (
            SELECT date_key, user_key, device_type,
                   rank() OVER (PARTITION BY date_key, user_key ORDER BY count(*) DESC, device_type COLLATE "C") AS r
            FROM ev GROUP BY date_key, user_key, device_type
        )
        SELECT b.date_key, b.user_key, b.sessions, b.queries, b.actions, s.avg_secs, ds.service_name,
               COALESCE(l.language_code, u.language_preference), d.device_type,
               round(0.4 * LEAST(b.queries, 10) / 10.0 + 0.3 * LEAST(b.actions, 10) / 10.0 + 0.3 * LEAST(s.avg_secs, 600) / 600.0, 2)
        FROM base b
        JOIN sess s USING (date_key, user_key)
        JOIN svc v ON v.date_key = b.date_key AND v.user_key = b.user_key AND v.r = 1
        JOIN citizen.dim_service ds ON ds.service_key = v.service_key
        JOIN dev d ON d.date_key = b.date_key AND d.user_key = b.user_key AND d.r = 1
        JOIN citizen.dim_user u ON u.user_key = b.user_key
        LEFT JOIN lang l ON l.date_key = b.date_key AND l.user_key = b.user_key AND l.r = 1
    """)


def test_dm_content_analytics_equals_an_independent_computation(loaded):
    same(loaded, """
        SELECT date_key, content_key, view_count, download_count, share_count, bookmark_count,
               avg_view_duration_seconds, bounce_rate, search_rank_position, user_rating
        FROM citizen.dm_content_analytics
    """, """
        WITH sizes AS (
            SELECT date_key, session_id, count(*) AS n FROM (
                SELECT date_key, session_id FROM citizen.fct_service_queries
                UNION ALL SELECT date_key, session_id FROM citizen.fct_content_usage) s
            GROUP BY 1, 2
        )
        SELECT c.date_key, c.content_key,
               sum((c.action_type = 'view')::int), sum((c.action_type = 'download')::int),
               sum((c.action_type = 'share')::int), sum((c.action_type = 'bookmark')::int),
               round(sum(c.duration_seconds) FILTER (WHERE c.action_type = 'view')::numeric
                     / NULLIF(count(c.duration_seconds) FILTER (WHERE c.action_type = 'view'), 0))::int,
               CASE WHEN sum((c.action_type = 'view')::int) > 0 THEN
                    round(100.0 * sum((c.action_type = 'view' AND z.n = 1)::int) / sum((c.action_type = 'view')::int), 2) END,
               round(sum(c.search_rank_position)::numeric / NULLIF(count(c.search_rank_position), 0))::int,
               round(sum(c.user_rating)::numeric / NULLIF(count(c.user_rating), 0), 2)
        FROM citizen.fct_content_usage c
        JOIN sizes z ON z.date_key = c.date_key AND z.session_id = c.session_id
        GROUP BY c.date_key, c.content_key
    """)


def test_dm_system_analytics_equals_an_independent_computation(loaded):
    same(loaded, """
        SELECT date_key, time_key, total_requests, avg_response_time_ms, error_rate, throughput_rps,
               cpu_usage_percent, memory_usage_percent, disk_usage_percent
        FROM citizen.dm_system_analytics
    """, """
        SELECT date_key, (time_key / 10000) * 10000, count(*),
               round(sum(response_time_ms)::numeric / NULLIF(count(response_time_ms), 0), 2),
               round(100.0 * sum((NOT success_flag)::int) / count(*), 2),
               round(count(*) / 3600.0, 4),
               NULL::numeric, NULL::numeric, NULL::numeric
        FROM citizen.fct_service_queries
        GROUP BY 1, 2
    """)


def test_fct_system_performance_equals_an_independent_computation(loaded):
    # the portal's metrics per service and hour
    same(loaded, """
        SELECT date_key, time_key, service_key, metric_type, metric_value, unit, status
        FROM citizen.fct_system_performance WHERE service_key IS NOT NULL
    """, """
        WITH h AS (
            SELECT date_key, time_key / 10000 * 10000 AS hour, service_key, count(*) AS n,
                   sum((NOT success_flag)::int) AS failed, sum(response_time_ms) AS ms, count(response_time_ms) AS timed
            FROM citizen.fct_service_queries GROUP BY 1, 2, 3
        )
        SELECT date_key, hour, service_key, 'request_count', n::numeric(14,4), 'count', NULL FROM h
        UNION ALL
        SELECT date_key, hour, service_key, 'throughput_rps', round(n / 3600.0, 4), 'rps', NULL FROM h
        UNION ALL
        SELECT date_key, hour, service_key, 'error_rate', round(100.0 * failed / n, 4), 'percent',
               CASE WHEN 100.0 * failed / n <= 1 THEN 'good' WHEN 100.0 * failed / n <= 5 THEN 'warning' ELSE 'critical' END
        FROM h
        UNION ALL
        SELECT date_key, hour, service_key, 'response_time_ms', round(ms::numeric / timed, 4), 'ms',
               CASE WHEN ms::numeric / timed <= 1000 THEN 'good' WHEN ms::numeric / timed <= 3000 THEN 'warning' ELSE 'critical' END
        FROM h WHERE timed > 0
    """)
    # the warehouse's own steps: every citizen step that had finished when the measurement ran (the mart
    # step's transaction start, its rows' _loaded_at), per hour of its end in citizen.timezone
    measured_until = scalar(loaded, """SELECT max(_loaded_at) FROM citizen.fct_system_performance
                                       WHERE service_key IS NULL""")
    same(loaded, """
        SELECT date_key, time_key, metric_type, metric_value
        FROM citizen.fct_system_performance WHERE service_key IS NULL
    """, """
        WITH z AS (SELECT COALESCE((SELECT value FROM dwh_etl.settings WHERE key = 'citizen.timezone'), 'Asia/Kolkata') AS tz),
        s AS (
            SELECT to_char(sr.completed_at AT TIME ZONE z.tz, 'YYYYMMDD')::int AS date_key,
                   extract(hour FROM sr.completed_at AT TIME ZONE z.tz)::int * 10000 AS hour,
                   sr.duration_ms, sr.status
            FROM dwh_lineage.step_runs sr
            JOIN dwh_lineage.pipeline_runs pr USING (run_id)
            JOIN dwh_etl.steps st ON st.pipeline_name = pr.pipeline_name AND st.step_name = sr.step_name
            CROSS JOIN z
            WHERE st.area = 'citizen' AND sr.status IN ('completed', 'failed') AND sr.completed_at <= %(until)s
        )
        SELECT date_key, hour, 'etl_step_seconds', round(sum(duration_ms) / 1000.0, 4) FROM s GROUP BY 1, 2
        UNION ALL SELECT date_key, hour, 'etl_step_runs', count(*) FROM s GROUP BY 1, 2
        UNION ALL SELECT date_key, hour, 'etl_failed_steps', sum((status = 'failed')::int) FROM s GROUP BY 1, 2
    """.replace("%(until)s", "'" + measured_until.isoformat() + "'::timestamptz"))


RULE_PREDICATE = {
    "not_null": lambda r: " OR ".join(f"t.{c} IS NULL" for c in r["columns"]),
    "accepted_values": lambda r: f"t.{r['columns'][0]}::text <> ALL (ARRAY{[str(v) for v in r['params']['values']]}::text[])",
    "range": lambda r: " OR ".join(([f"t.{r['columns'][0]} < {r['params']['min']}"] if "min" in r["params"] else [])
                                  + ([f"t.{r['columns'][0]} > {r['params']['max']}"] if "max" in r["params"] else [])),
    "regex": lambda r: f"t.{r['columns'][0]}::text !~ '{r['params']['pattern']}'",
}


def test_fct_data_quality_equals_an_independent_computation(loaded):
    groups = """
        SELECT q.date_key, q.service_key, cs.content_source_key, 'q' AS kind, q.query_id AS id,
               (q.response_time_ms IS NOT NULL AND q.result_count IS NOT NULL AND q.ip_network IS NOT NULL) AS complete,
               EXTRACT(EPOCH FROM q._loaded_at - q.queried_at) / 3600 AS lag
        FROM citizen.fct_service_queries q
        JOIN citizen.dim_service s ON s.service_key = q.service_key
        JOIN citizen.dim_content_source cs ON cs.source_name = s.data_source
        UNION ALL
        SELECT u.date_key, u.service_key, cs.content_source_key, 'c', u.usage_id,
               u.ip_network IS NOT NULL AND (u.action_type <> 'view' OR (u.duration_seconds IS NOT NULL AND u.scroll_depth_percent IS NOT NULL)),
               EXTRACT(EPOCH FROM u._loaded_at - u.used_at) / 3600
        FROM citizen.fct_content_usage u
        JOIN citizen.dim_content c ON c.content_key = u.content_key
        JOIN citizen.dim_content_source cs ON cs.source_name = c.content_source
    """
    dq = """SELECT f.date_key, f.service_key, f.content_source_key, f.metric_value, f.rows_measured, f.status
            FROM citizen.fct_data_quality f JOIN citizen.dim_quality_metric m USING (quality_metric_key)
            WHERE m.metric_code = '{}'"""
    same(loaded, dq.format("completeness"), f"""
        SELECT date_key, service_key, content_source_key, round(100.0 * sum(complete::int) / count(*), 4), count(*),
               CASE WHEN 100.0 * sum(complete::int) / count(*) >= 98 THEN 'good'
                    WHEN 100.0 * sum(complete::int) / count(*) >= 95 THEN 'warning' ELSE 'critical' END
        FROM ({groups}) g GROUP BY 1, 2, 3
    """)
    same(loaded, dq.format("freshness"), f"""
        SELECT date_key, service_key, content_source_key, round(avg(lag), 4), count(*),
               CASE WHEN avg(lag) <= 24 THEN 'good' WHEN avg(lag) <= 48 THEN 'warning' ELSE 'critical' END
        FROM ({groups}) g GROUP BY 1, 2, 3
    """)
    # accuracy: accepted rows against the open quarantine entries placed by their raw payload
    same(loaded, dq.format("accuracy"), f"""
        WITH z AS (SELECT COALESCE((SELECT value FROM dwh_etl.settings WHERE key = 'citizen.timezone'), 'Asia/Kolkata') AS tz),
        bad AS (
            SELECT DISTINCT q.target_table, q.record_key,
                   to_char((q.payload->>'occurred_at')::timestamptz AT TIME ZONE z.tz, 'YYYYMMDD')::int AS date_key,
                   s.service_key,
                   cs.content_source_key
            FROM dwh_etl.quarantine q CROSS JOIN z
            JOIN citizen.dim_service s ON s.service_id = dwh_etl.try_bigint(q.payload->>'service_id')
             AND (q.payload->>'occurred_at')::timestamptz <@ tstzrange(s.valid_from, s.valid_to)
            LEFT JOIN citizen.dim_content c ON c.content_id = dwh_etl.try_bigint(q.payload->>'content_id')
             AND (q.payload->>'occurred_at')::timestamptz <@ tstzrange(c.valid_from, c.valid_to)
            JOIN citizen.dim_content_source cs
              ON cs.source_name = CASE WHEN q.target_table = 'silver.citizen_query_logs' THEN s.data_source ELSE c.content_source END
            WHERE q.resolved_at IS NULL AND q.target_table IN ('silver.citizen_query_logs', 'silver.citizen_content_events')
              AND q.payload->>'occurred_at' ~ '^\\d{{4}}-\\d\\d-\\d\\d[ T]\\d\\d:\\d\\d(:\\d\\d(\\.\\d+)?)?(Z|[+-]\\d\\d(:?\\d\\d)?)$'
        ),
        good AS (SELECT date_key, service_key, content_source_key, count(*) AS n FROM ({groups}) g GROUP BY 1, 2, 3),
        badn AS (SELECT date_key, service_key, content_source_key, count(*) AS n FROM bad GROUP BY 1, 2, 3)
        SELECT date_key, service_key, content_source_key,
               round(100.0 * COALESCE(g.n, 0) / (COALESCE(g.n, 0) + COALESCE(b.n, 0)), 4), COALESCE(g.n, 0) + COALESCE(b.n, 0),
               CASE WHEN 100.0 * COALESCE(g.n, 0) / (COALESCE(g.n, 0) + COALESCE(b.n, 0)) >= 99 THEN 'good'
                    WHEN 100.0 * COALESCE(g.n, 0) / (COALESCE(g.n, 0) + COALESCE(b.n, 0)) >= 95 THEN 'warning' ELSE 'critical' END
        FROM good g FULL JOIN badn b USING (date_key, service_key, content_source_key)
    """)
    # the demo delivers bad events: some group accepted less than everything
    assert scalar(loaded, """SELECT min(f.metric_value) FROM citizen.fct_data_quality f
                             JOIN citizen.dim_quality_metric m USING (quality_metric_key)
                             WHERE m.metric_code = 'accuracy'""") < 100
    # consistency: the enabled row-level rules of the facts, evaluated here by their own predicates
    rules = [dict(zip(("name", "table", "type", "columns", "params", "where"), r)) for r in rows(loaded, """
        SELECT rule_name, table_name, rule_type, column_names, params, params->>'where'
        FROM dwh_etl.quality_rules
        WHERE is_enabled AND table_name IN ('citizen.fct_service_queries', 'citizen.fct_content_usage')
          AND rule_type IN ('not_null', 'accepted_values', 'range', 'regex')
    """)]
    assert any(r["name"] == "citizen_marts_test_slow_query" for r in rules)
    checks = []
    for r in rules:
        kind = "q" if r["table"] == "citizen.fct_service_queries" else "c"
        id_col = "query_id" if kind == "q" else "usage_id"
        checks.append(f"""
            SELECT g.date_key, g.service_key, g.content_source_key, 1 AS checks, ({RULE_PREDICATE[r['type']](r)})::int AS failing
            FROM ({groups}) g JOIN {r['table']} t ON t.{id_col} = g.id AND t.date_key = g.date_key
            WHERE g.kind = '{kind}' AND ({r['where'] or 'true'})""")
    same(loaded, dq.format("consistency"), f"""
        SELECT date_key, service_key, content_source_key, round(100.0 * (1 - sum(failing)::numeric / count(*)), 4), count(*),
               CASE WHEN 100.0 * (1 - sum(failing)::numeric / count(*)) >= 99 THEN 'good'
                    WHEN 100.0 * (1 - sum(failing)::numeric / count(*)) >= 95 THEN 'warning' ELSE 'critical' END
        FROM ({' UNION ALL '.join(checks)}) c GROUP BY 1, 2, 3
    """)
    # the test rule fails somewhere: consistency is not trivially 100
    assert scalar(loaded, """SELECT min(f.metric_value) FROM citizen.fct_data_quality f
                             JOIN citizen.dim_quality_metric m USING (quality_metric_key)
                             WHERE m.metric_code = 'consistency'""") < 100


# ---------------------------------------------------------------------------------------------------------
# Refresh: affected days only; a re-delivered batch changes nothing
# ---------------------------------------------------------------------------------------------------------

BUSINESS = {
    "citizen.dm_service_analytics": "date_key, service_key, total_queries, successful_queries, failed_queries, avg_response_time_ms, unique_users, satisfaction_score, content_views, content_downloads",
    "citizen.dm_user_analytics": "date_key, user_key, session_count, total_queries, content_actions, avg_session_duration_seconds, most_used_service, language_preference, device_type, engagement_score",
    "citizen.dm_content_analytics": "date_key, content_key, view_count, download_count, share_count, bookmark_count, avg_view_duration_seconds, bounce_rate, search_rank_position, user_rating",
    "citizen.dm_system_analytics": "date_key, time_key, total_requests, avg_response_time_ms, error_rate, throughput_rps, cpu_usage_percent, memory_usage_percent, disk_usage_percent",
    "citizen.fct_data_quality": "date_key, service_key, content_source_key, quality_metric_key, metric_value, unit, threshold_value, status, rows_measured, details::text",
    # the portal's metrics; the warehouse's own (service_key NULL) measure each run, so they grow by design
    "citizen.fct_system_performance": "date_key, time_key, service_key, quality_metric_key, metric_type, metric_value, unit, threshold_value, status, details::text",
}


def snapshot(conn, table, with_batch=False):
    cols = BUSINESS[table] + (", _batch_id" if with_batch else "")
    where = " WHERE service_key IS NOT NULL" if table == "citizen.fct_system_performance" else ""
    return {tuple(r) for r in rows(conn, f"SELECT {cols} FROM {table}{where}")}


def test_a_redelivered_batch_changes_nothing(loaded):
    before = {t: snapshot(loaded, t, with_batch=True) for t in BUSINESS}
    facts = [rows(loaded, "SELECT count(*), max(_loaded_at) FROM citizen.fct_service_queries"),
             rows(loaded, "SELECT count(*), max(_loaded_at) FROM citizen.fct_content_usage")]
    # the collector delivers every payload of the two feeds a second time
    delivered = loaded.execute("""
        INSERT INTO citizen_src.analytics_payloads (feed, source, payload)
        SELECT feed, source, payload FROM citizen_src.analytics_payloads ORDER BY payload_id
    """).rowcount
    assert delivered > 0
    run_daily(loaded)
    assert [rows(loaded, "SELECT count(*), max(_loaded_at) FROM citizen.fct_service_queries"),
            rows(loaded, "SELECT count(*), max(_loaded_at) FROM citizen.fct_content_usage")] == facts
    for table in BUSINESS:
        if table == "citizen.fct_system_performance":
            # today's hours are re-measured (the run's own ETL steps): the portal's values are the same
            assert snapshot(loaded, table) == {r[:-1] for r in before[table]}, table
        else:
            # not even rebuilt: same rows, same batch (a re-delivered bad event counts a delivery on its
            # open quarantine entry, which accuracy does not count)
            assert snapshot(loaded, table, with_batch=True) == before[table], table
    assert scalar(loaded, """SELECT count(*) FROM dwh_etl.quarantine
                             WHERE target_table LIKE 'silver.citizen%' AND deliveries > 1""") > 0


def late_query(conn, query_id, day):
    """A copy of an existing query event, with a new id, on `day` (late: it arrives now)."""
    element = scalar(conn, """
        SELECT e FROM citizen_src.analytics_payloads p, jsonb_array_elements(
                 CASE WHEN jsonb_typeof(p.payload) = 'array' THEN p.payload ELSE p.payload->'data' END) AS e
        WHERE p.feed = 'query_logs' AND e ? 'query_id' AND (e->>'success') IS NOT NULL
        ORDER BY p.payload_id LIMIT 1""")
    element = dict(element)
    element["query_id"] = query_id
    element["occurred_at"] = f"{day.isoformat()}T10:30:00+05:30"
    element["success"] = False
    conn.execute("INSERT INTO citizen_src.analytics_payloads (feed, source, payload) VALUES ('query_logs', 'test', %s)",
                 (json.dumps([element]),))
    return element


def test_a_late_event_rebuilds_only_its_day(loaded):
    days = [r[0] for r in rows(loaded, "SELECT DISTINCT date_key FROM citizen.dm_service_analytics ORDER BY 1")]
    assert len(days) >= 3
    target = days[len(days) // 2]
    before = {t: snapshot(loaded, t, with_batch=True) for t in BUSINESS if t.startswith("citizen.dm_")}
    element = late_query(loaded, 990000001, dt.datetime.strptime(str(target), "%Y%m%d").date())
    run_daily(loaded)
    assert scalar(loaded, "SELECT date_key FROM citizen.fct_service_queries WHERE query_id = 990000001") == target
    for table, old in before.items():
        new = snapshot(loaded, table, with_batch=True)
        untouched_old = {r for r in old if r[0] != target}
        untouched_new = {r for r in new if r[0] != target}
        # other days: not rebuilt (same rows, same batch)
        assert untouched_new == untouched_old, table
    # the day itself was rebuilt and counts the late failed query
    service = scalar(loaded, "SELECT service_key FROM citizen.fct_service_queries WHERE query_id = 990000001")
    old_row = next(r for r in before["citizen.dm_service_analytics"] if r[0] == target and r[1] == service) \
        if any(r[0] == target and r[1] == service for r in before["citizen.dm_service_analytics"]) else None
    new_row = rows(loaded, "SELECT total_queries, failed_queries FROM citizen.dm_service_analytics WHERE date_key = %s AND service_key = %s",
                   (target, service))[0]
    if old_row:
        assert (new_row[0], new_row[1]) == (old_row[2] + 1, old_row[4] + 1)
    assert element["service_id"]
    # the measurement facts were recomputed for that day too and still match the facts
    test_dm_service_analytics_equals_an_independent_computation(loaded)
    test_dm_system_analytics_equals_an_independent_computation(loaded)


def test_client_time_zone_and_date_style_do_not_change_the_marts(loaded):
    before = {t: snapshot(loaded, t) for t in BUSINESS if t.startswith("citizen.dm_")}
    loaded.execute("SET TimeZone = 'America/Los_Angeles'")
    loaded.execute("SET DateStyle = 'SQL, DMY'")
    # every day queued again: the marts are rebuilt under the client's odd settings
    for queue in ["service", "user", "content", "system"]:
        loaded.execute(f"INSERT INTO dwh_staging.citizen_affected_days_{queue} (date_key) "
                       "SELECT DISTINCT date_key FROM citizen.fct_service_queries ON CONFLICT DO NOTHING")
    run_daily(loaded)
    loaded.execute("RESET TimeZone")
    loaded.execute("RESET DateStyle")
    for table, old in before.items():
        assert snapshot(loaded, table) == old, table


# ---------------------------------------------------------------------------------------------------------
# KPIs
# ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("view", KPI_VIEWS)
def test_each_kpi_view_returns_rows_and_the_analyst_may_read_it(loaded, view):
    assert scalar(loaded, f"SELECT count(*) FROM {view}") > 0
    assert scalar(loaded, "SELECT obj_description(%s::regclass)", (view,))
    loaded.execute("SET ROLE analyst_role")
    try:
        assert scalar(loaded, f"SELECT count(*) FROM {view}") > 0
    finally:
        loaded.execute("RESET ROLE")


def test_the_data_quality_kpi_weights_the_groups_by_rows(loaded):
    same(loaded, """
        SELECT date_key, metric_code, value, groups FROM citizen.kpi_data_quality
    """, """
        SELECT f.date_key, m.metric_code, round(sum(f.metric_value * f.rows_measured) / sum(f.rows_measured), 2), count(*)
        FROM citizen.fct_data_quality f JOIN citizen.dim_quality_metric m USING (quality_metric_key)
        GROUP BY 1, 2
    """)
    # completeness over all groups is the ratio over all rows
    same(loaded, """
        SELECT date_key, value FROM citizen.kpi_data_quality WHERE metric_code = 'completeness'
    """, """
        SELECT f.date_key, round(100.0 * sum((f.details->>'complete')::bigint) / sum(f.rows_measured), 2)
        FROM citizen.fct_data_quality f JOIN citizen.dim_quality_metric m USING (quality_metric_key)
        WHERE m.metric_code = 'completeness' GROUP BY 1
    """)


def test_the_performance_kpi_counts_the_warehouses_own_steps(loaded):
    same(loaded, """
        SELECT date_key, etl_step_runs, etl_failed_steps, total_requests FROM citizen.kpi_performance
    """, """
        WITH e AS (SELECT date_key, sum(metric_value) FILTER (WHERE metric_type = 'etl_step_runs')::bigint AS runs,
                          sum(metric_value) FILTER (WHERE metric_type = 'etl_failed_steps')::bigint AS failed
                   FROM citizen.fct_system_performance WHERE service_key IS NULL GROUP BY 1),
             q AS (SELECT date_key, count(*) AS n FROM citizen.fct_service_queries GROUP BY 1)
        SELECT COALESCE(e.date_key, q.date_key), e.runs, e.failed, q.n FROM e FULL JOIN q USING (date_key)
    """)


def test_the_service_usage_trend_equals_an_independent_computation(loaded):
    same(loaded, """
        SELECT date_key, service_id, total_queries, prev_day_queries, day_over_day_growth_pct, avg_7d_queries,
               week_over_week_growth_pct
        FROM citizen.kpi_service_usage_trend
    """, """
        WITH daily AS (
            SELECT s.service_id, a.date_key, to_date(a.date_key::text, 'YYYYMMDD') AS day, sum(a.total_queries) AS n
            FROM citizen.dm_service_analytics a JOIN citizen.dim_service s USING (service_key)
            GROUP BY 1, 2
        ),
        w AS (
            SELECT d.service_id, d.date_key, d.n,
                   COALESCE((SELECT sum(p.n) FROM daily p WHERE p.service_id = d.service_id AND p.day = d.day - 1), 0) AS prev,
                   (SELECT sum(p.n) FROM daily p WHERE p.service_id = d.service_id AND p.day BETWEEN d.day - 6 AND d.day) AS last7,
                   COALESCE((SELECT sum(p.n) FROM daily p WHERE p.service_id = d.service_id
                             AND p.day BETWEEN d.day - 13 AND d.day - 7), 0) AS prev7
            FROM daily d
        )
        SELECT date_key, service_id, n, prev, round(100.0 * (n - prev) / NULLIF(prev, 0), 2), round(last7 / 7.0, 2),
               round(100.0 * (last7 - prev7) / NULLIF(prev7, 0), 2)
        FROM w
    """)


def test_the_user_engagement_kpi_equals_an_independent_computation(loaded):
    same(loaded, """
        SELECT date_key, active_users, anonymous_sessions, returning_users, retention_pct FROM citizen.kpi_user_engagement
    """, """
        WITH ev AS (
            SELECT date_key, user_key, session_id FROM citizen.fct_service_queries
            UNION ALL SELECT date_key, user_key, session_id FROM citizen.fct_content_usage
        ),
        act AS (
            SELECT DISTINCT to_date(ev.date_key::text, 'YYYYMMDD') AS day, u.user_id
            FROM ev JOIN citizen.dim_user u USING (user_key)
        ),
        days AS (SELECT DISTINCT date_key, to_date(date_key::text, 'YYYYMMDD') AS day FROM ev)
        SELECT d.date_key,
               (SELECT count(*) FROM act a WHERE a.day = d.day),
               (SELECT count(DISTINCT session_id) FROM ev WHERE ev.date_key = d.date_key AND ev.user_key IS NULL),
               (SELECT count(*) FROM act a WHERE a.day = d.day
                  AND EXISTS (SELECT 1 FROM act b WHERE b.user_id = a.user_id AND b.day BETWEEN d.day - 7 AND d.day - 1)),
               round(100.0 * (SELECT count(*) FROM act a WHERE a.day = d.day
                                AND EXISTS (SELECT 1 FROM act b WHERE b.user_id = a.user_id AND b.day BETWEEN d.day - 7 AND d.day - 1))
                     / NULLIF((SELECT count(DISTINCT b.user_id) FROM act b WHERE b.day BETWEEN d.day - 7 AND d.day - 1), 0), 2)
        FROM days d
    """)


# ---------------------------------------------------------------------------------------------------------
# After `dwh demo` (every area, through the CLI)
# ---------------------------------------------------------------------------------------------------------

@database_template(scope="module")
def citizen_demo_template(conn):
    """A database where `dwh demo --scale 0.005` ran once through the CLI (every area)."""
    from click.testing import CliRunner

    from dwh_cli.cli import cli

    info = conn.info
    dsn = psycopg.conninfo.make_conninfo(host=info.host, port=str(info.port), user=info.user, dbname=info.dbname,
                                         password=info.password or None)
    clean_env = {name: None for name in ("DWH_DSN", "PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGSERVICE", "PGPASSWORD")}
    result = CliRunner().invoke(cli, ["--dsn", dsn, "demo", "--scale", "0.005"], env=clean_env)
    assert result.exit_code == 0, result.output


def test_after_dwh_demo_every_mart_and_kpi_view_has_rows(citizen_demo_template, conn):
    assert scalar(conn, """SELECT count(*) FROM dwh_lineage.step_runs AS s
                           JOIN dwh_etl.steps AS st ON st.step_name = s.step_name AND st.pipeline_name = 'daily'
                           WHERE st.area = 'citizen' AND s.status <> 'completed'""") == 0
    for table in [*MARTS, "citizen.fct_data_quality", "citizen.fct_system_performance", *KPI_VIEWS]:
        assert scalar(conn, f"SELECT count(*) FROM {table}") > 0, table
