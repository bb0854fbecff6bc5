-- depends: 0067_mart_refresh_setting
-- devflow.kpi_agent_utilization.capacity_hours becomes a bigint (24 x an integer concurrency overflowed
-- integer: one agent with max_concurrent_tasks >= 89,478,486 made every read of the view fail).
-- CREATE OR REPLACE VIEW cannot change a column's type: the view is dropped here and created again by
-- procedures/devflow/kpi_agent_utilization.sql, which `dwh migrate` applies right after (nothing depends
-- on it).
DROP VIEW IF EXISTS devflow.kpi_agent_utilization;
