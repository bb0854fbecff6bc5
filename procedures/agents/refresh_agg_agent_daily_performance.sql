-- The seed's refresh_agg_agent_daily_performance(p_date): rebuilds one day of
-- agents.agg_agent_daily_performance from the three facts, every column computed (the seed left
-- approvals, feedback and unsafe counts at 0, SLA compliance NULL, and its error rate was always 0 since
-- error_occurred was never loaded). One row per agent version with a query, approval request or feedback
-- entry that day (total_queries 0 and NULL query rates when it had only approvals or feedback). Approvals
-- count on their request day, feedback on its entry day; SLA compliance = resolved requests that met the
-- SLA / resolved requests. Called for each affected day only (a late or updated fact re-aggregates its
-- own day); returns the rows written. Days are calendar days of time_key, never the session's zone.
--   SELECT agents.refresh_agg_agent_daily_performance('2025-03-14');
CREATE OR REPLACE FUNCTION agents.refresh_agg_agent_daily_performance(
    p_date date DEFAULT NULL
)
RETURNS integer
LANGUAGE plpgsql
SET search_path = agents, pg_temp
AS $$
DECLARE
    v_date date := COALESCE(p_date, (now() AT TIME ZONE dwh_etl.setting_timezone('agents.timezone'))::date - 1);
    v_key  integer;
    v_rows integer;
BEGIN
    v_key := (EXTRACT(YEAR FROM v_date) * 10000 + EXTRACT(MONTH FROM v_date) * 100 + EXTRACT(DAY FROM v_date))::integer;
    -- two refreshes of one day wait for each other instead of colliding on the primary key
    PERFORM pg_advisory_xact_lock(hashtext('agents.agg_agent_daily_performance'), v_key);

    DELETE FROM agents.agg_agent_daily_performance AS g WHERE g.time_key = v_key;

    WITH q AS (
        SELECT f.agent_key,
               count(*)                                                                      AS total_queries,
               round(avg(f.latency_ms), 2)                                                   AS avg_latency_ms,
               round(percentile_cont(0.95) WITHIN GROUP (ORDER BY f.latency_ms)::numeric, 2) AS p95_latency_ms,
               round(100.0 * count(*) FILTER (WHERE f.approved) / count(*), 2)               AS approval_rate_pct,
               round(100.0 * count(*) FILTER (WHERE f.human_edited) / count(*), 2)           AS edit_rate_pct,
               round(100.0 * count(*) FILTER (WHERE f.error_occurred) / count(*), 2)         AS error_rate_pct
        FROM agents.fact_agent_query AS f
        WHERE f.time_key = v_key
        GROUP BY f.agent_key
    ),
    a AS (
        SELECT f.agent_key,
               count(*) AS total_approvals,
               round(100.0 * count(*) FILTER (WHERE f.sla_met)
                     / NULLIF(count(*) FILTER (WHERE f.status <> 'pending'), 0), 2) AS sla_compliance_pct
        FROM agents.fact_approval AS f
        WHERE f.time_key = v_key
          AND f.agent_key IS NOT NULL
        GROUP BY f.agent_key
    ),
    t AS (
        SELECT f.agent_key,
               count(*)                                         AS total_feedback,
               count(*) FILTER (WHERE f.safe_to_send = false)   AS unsafe_feedback_count
        FROM agents.fact_training AS f
        WHERE f.time_key = v_key
          AND f.agent_key IS NOT NULL
        GROUP BY f.agent_key
    ),
    agent_keys AS (
        SELECT q.agent_key FROM q
        UNION
        SELECT a.agent_key FROM a
        UNION
        SELECT t.agent_key FROM t
    )
    INSERT INTO agents.agg_agent_daily_performance (
        agent_key, time_key, total_queries, avg_latency_ms, p95_latency_ms, approval_rate_pct, edit_rate_pct,
        error_rate_pct, total_approvals, total_feedback, unsafe_feedback_count, sla_compliance_pct, refreshed_at)
    SELECT k.agent_key, v_key,
           COALESCE(q.total_queries, 0), q.avg_latency_ms, q.p95_latency_ms, q.approval_rate_pct, q.edit_rate_pct,
           q.error_rate_pct,
           COALESCE(a.total_approvals, 0), COALESCE(t.total_feedback, 0), COALESCE(t.unsafe_feedback_count, 0),
           a.sla_compliance_pct, now()
    FROM agent_keys AS k
    LEFT JOIN q ON q.agent_key = k.agent_key
    LEFT JOIN a ON a.agent_key = k.agent_key
    LEFT JOIN t ON t.agent_key = k.agent_key;
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    RETURN v_rows;
END;
$$;
COMMENT ON FUNCTION agents.refresh_agg_agent_daily_performance(date) IS 'Seed 001 aggregate refresh: rebuild agents.agg_agent_daily_performance for one day (default yesterday in the area''s zone) from fact_agent_query, fact_approval and fact_training; returns the rows written.';
REVOKE EXECUTE ON FUNCTION agents.refresh_agg_agent_daily_performance(date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION agents.refresh_agg_agent_daily_performance(date) TO etl_service;
