-- Seed 000 F4 key metric "Agent Utilization", per day (time_key, the execution's start day) and agent:
-- busy time over capacity, where busy time is the sum of its executions' durations and capacity is the
-- day (24 h) times the tasks it may run at once (dim_agent.max_concurrent_tasks; 1 when unknown, zero or
-- negative). With success rate and cost per task (seed: "Cost Efficiency (Cost per Task)").
-- capacity_hours is a bigint (migration 0069): 24 x an integer concurrency of 89,478,486 or more overflowed
-- integer and every read of the view failed; a zero concurrency gave a capacity of 0 beside a utilization
-- computed on 1.
CREATE OR REPLACE VIEW devflow.kpi_agent_utilization AS
SELECT f.time_key,
       a.agent_id,
       a.agent_name,
       a.agent_type,
       count(*)                                                         AS executions,
       round(sum(f.execution_duration_ms) / 3600000.0, 4)               AS busy_hours,
       24::bigint * CASE WHEN a.max_concurrent_tasks > 0 THEN a.max_concurrent_tasks ELSE 1 END AS capacity_hours,
       round(100 * sum(f.execution_duration_ms) / 3600000.0
             / (24::bigint * CASE WHEN a.max_concurrent_tasks > 0 THEN a.max_concurrent_tasks ELSE 1 END), 2) AS utilization_percent,
       round(100.0 * count(*) FILTER (WHERE f.success) / count(*), 2)   AS success_rate_percent,
       round(sum(f.llm_cost_usd) / count(*), 4)                         AS cost_per_task_usd
FROM devflow.fact_agent_execution AS f
JOIN devflow.dim_agent AS a
  ON a.agent_key = f.agent_key
GROUP BY f.time_key, a.agent_id, a.agent_name, a.agent_type, a.max_concurrent_tasks;
COMMENT ON VIEW devflow.kpi_agent_utilization IS 'Seed 000 agent utilization per day: execution hours / (24 h x max_concurrent_tasks), in percent; with executions, success rate and LLM cost per task.';
REVOKE ALL ON devflow.kpi_agent_utilization FROM PUBLIC;
GRANT SELECT ON devflow.kpi_agent_utilization TO analyst_role, etl_service;
