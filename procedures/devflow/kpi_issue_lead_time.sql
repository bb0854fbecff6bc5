-- Seed 000 F1 key metrics "Lead Time (issue created -> done)" and "Cycle Time (work started -> done)",
-- one row per issue that has been processed: created_at from dim_issue (the source's creation, Type 1),
-- work from fact_issue_processing (first start, last completion, over every processing of the issue,
-- whichever version of the issue each fact points at). Hours, to two decimals. Priority and complexity
-- are the issue's current ones.
CREATE OR REPLACE VIEW devflow.kpi_issue_lead_time AS
WITH processing AS (
    SELECT d.issue_id,
           min(f.started_at)                  AS first_started_at,
           max(f.completed_at)                AS done_at,
           count(*)                           AS processing_count,
           sum(f.ai_cost_usd + f.infrastructure_cost_usd) AS cost_usd
    FROM devflow.fact_issue_processing AS f
    JOIN devflow.dim_issue AS d
      ON d.issue_key = f.issue_key
    GROUP BY d.issue_id
)
SELECT c.issue_id,
       c.issue_number,
       c.priority,
       c.complexity,
       c.created_at,
       p.first_started_at,
       p.done_at,
       round(extract(epoch FROM p.done_at - c.created_at) / 3600, 2)          AS lead_time_hours,
       round(extract(epoch FROM p.done_at - p.first_started_at) / 3600, 2)    AS cycle_time_hours,
       p.processing_count,
       p.cost_usd
FROM processing AS p
JOIN devflow.dim_issue AS c
  ON c.issue_id = p.issue_id
 AND c.is_current;
COMMENT ON VIEW devflow.kpi_issue_lead_time IS 'Seed 000 lead time (created -> last completion) and cycle time (first start -> last completion) per processed issue, in hours; with its processing count and cost.';
REVOKE ALL ON devflow.kpi_issue_lead_time FROM PUBLIC;
GRANT SELECT ON devflow.kpi_issue_lead_time TO analyst_role, etl_service;
