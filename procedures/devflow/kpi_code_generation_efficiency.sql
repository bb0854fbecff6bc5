-- Seed 000 F2 key metrics "Lines per Hour" and "Cost per Line", per day (time_key) and agent: the lines
-- generated over the generation time (generation_duration_ms, in hours), and the AI generation cost over
-- the lines. NULL where there is nothing to divide by (no lines, no time), never a division error.
CREATE OR REPLACE VIEW devflow.kpi_code_generation_efficiency AS
SELECT f.time_key,
       a.agent_id,
       a.agent_name,
       count(*)                                                        AS generations,
       sum(f.total_lines_generated)                                    AS lines_generated,
       round(sum(f.generation_duration_ms) / 3600000.0, 4)             AS generation_hours,
       round(sum(f.total_lines_generated) / NULLIF(sum(f.generation_duration_ms) / 3600000.0, 0), 2) AS lines_per_hour,
       sum(f.ai_generation_cost_usd)                                   AS cost_usd,
       round(sum(f.ai_generation_cost_usd) / NULLIF(sum(f.total_lines_generated), 0), 6) AS cost_per_line
FROM devflow.fact_code_generation AS f
LEFT JOIN devflow.dim_agent AS a
  ON a.agent_key = f.agent_key
GROUP BY f.time_key, a.agent_id, a.agent_name;
COMMENT ON VIEW devflow.kpi_code_generation_efficiency IS 'Seed 000 lines per hour (lines / generation hours) and cost per line (AI generation cost / lines), per day and agent.';
REVOKE ALL ON devflow.kpi_code_generation_efficiency FROM PUBLIC;
GRANT SELECT ON devflow.kpi_code_generation_efficiency TO analyst_role, etl_service;
