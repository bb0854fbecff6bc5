-- The agents the demo source can have, in the order they are introduced (the seed's four sample agents
-- first; every type of the seed's CHECK at least twice). generate takes the first 10-18, generate_next_day
-- adds the next one now and then.
CREATE OR REPLACE FUNCTION agents_src._agent_catalog()
RETURNS TABLE (
    ord                 integer,
    agent_name          text,
    agent_type          text,
    capabilities        jsonb,
    sla_target_seconds  integer,
    cost_per_query_usd  numeric
)
LANGUAGE sql
IMMUTABLE
SET search_path = agents_src, pg_temp
AS $$
    SELECT c.ord, c.agent_name, c.agent_type, c.capabilities::jsonb, c.sla, c.cost
    FROM (VALUES
        (1, 'data', 'data', '["query", "analytics", "schema"]', 300, 0.004),
        (2, 'engineer', 'engineer', '["code", "debug", "deploy"]', 600, 0.012),
        (3, 'support', 'support', '["ticket", "escalation", "knowledge"]', 180, 0.002),
        (4, 'marketing', 'marketing', '["content", "seo", "social"]', 900, 0.003),
        (5, 'research-ai', 'ai', '["research", "summarize", "cite"]', 1200, 0.020),
        (6, 'qa-bot', 'qa', '["test", "regression", "triage"]', 600, 0.005),
        (7, 'ops-oncall', 'ops', '["alerts", "runbooks", "rollback"]', 120, 0.006),
        (8, 'data-pipeline', 'data', '["etl", "quality", "lineage"]', 600, 0.005),
        (9, 'frontend-engineer', 'engineer', '["ui", "accessibility", "code"]', 600, 0.010),
        (10, 'billing-support', 'support', '["invoices", "refunds", "ticket"]', 240, 0.002),
        (11, 'growth-marketing', 'marketing', '["campaigns", "ab_tests", "copy"]', 900, 0.003),
        (12, 'vision-ai', 'ai', '["image", "ocr", "classify"]', 900, 0.025),
        (13, 'security-qa', 'qa', '["audit", "pentest", "compliance"]', 1800, 0.008),
        (14, 'platform-ops', 'ops', '["capacity", "cost", "deploy"]', 300, 0.006),
        (15, 'analytics', 'data', '["dashboards", "sql", "forecast"]', 600, 0.004),
        (16, 'backend-engineer', 'engineer', '["api", "database", "code"]', 600, 0.011),
        (17, 'onboarding-support', 'support', '["setup", "faq", "knowledge"]', 180, 0.002),
        (18, 'docs-ai', 'ai', '["docs", "summarize", "translate"]', 600, 0.008),
        (19, 'release-qa', 'qa', '["release", "smoke", "checklist"]', 900, 0.004),
        (20, 'incident-ops', 'ops', '["incident", "postmortem", "paging"]', 120, 0.007)
    ) AS c (ord, agent_name, agent_type, capabilities, sla, cost);
$$;
COMMENT ON FUNCTION agents_src._agent_catalog() IS 'Generator helper: the 20 agents the demo source may have (name, seed 001 type, capabilities, SLA, cost per query), in order of introduction.';
REVOKE EXECUTE ON FUNCTION agents_src._agent_catalog() FROM PUBLIC;
