-- Seed 003 Performance KPIs per day, from the star schema (fct_system_performance, dm_system_analytics):
--   etl_processing_seconds  ETL Processing Time: seconds spent by the citizen steps that finished that day
--                           (sum of etl_step_seconds; the warehouse measuring itself)
--   etl_step_runs, etl_failed_steps
--   etl_error_rate          Error Rate: 100 * failed citizen steps / finished citizen steps
--   avg_query_response_ms   Query Response Time: average response time of the portal's queries that day,
--                           weighted by the hours' queries (= the average over the day's timed queries
--                           as far as every query is timed)
--   data_availability_pct   Data Availability: 100 * hours with queries whose error_rate was not
--                           critical / hours with queries (an hour is "up" when the portal answered
--                           within its error budget); the warehouse cannot observe its own downtime
--   total_requests, error_rate (portal: 100 * failed queries / queries)
-- A day with only ETL activity (no queries) has NULL portal columns, and the other way round.
CREATE OR REPLACE VIEW citizen.kpi_performance AS
WITH etl AS (
    SELECT p.date_key,
           sum(p.metric_value) FILTER (WHERE p.metric_type = 'etl_step_seconds') AS etl_processing_seconds,
           sum(p.metric_value) FILTER (WHERE p.metric_type = 'etl_step_runs') AS etl_step_runs,
           sum(p.metric_value) FILTER (WHERE p.metric_type = 'etl_failed_steps') AS etl_failed_steps
    FROM citizen.fct_system_performance AS p
    WHERE p.metric_type IN ('etl_step_seconds', 'etl_step_runs', 'etl_failed_steps')
    GROUP BY p.date_key
),
portal AS (
    SELECT s.date_key,
           sum(s.total_requests) AS total_requests,
           round(sum(s.avg_response_time_ms * s.total_requests) FILTER (WHERE s.avg_response_time_ms IS NOT NULL)
                 / NULLIF(sum(s.total_requests) FILTER (WHERE s.avg_response_time_ms IS NOT NULL), 0), 2) AS avg_query_response_ms,
           round(sum(s.error_rate * s.total_requests) / NULLIF(sum(s.total_requests), 0), 2) AS error_rate,
           round(100.0 * count(*) FILTER (WHERE citizen.kpi_status(s.error_rate, m.higher_is_better, m.threshold_good, m.threshold_warning)
                                                IS DISTINCT FROM 'critical')
                 / count(*), 2) AS data_availability_pct
    FROM citizen.dm_system_analytics AS s
    CROSS JOIN citizen.dim_quality_metric AS m
    WHERE m.metric_code = 'error_rate' AND s.total_requests > 0
    GROUP BY s.date_key
)
SELECT COALESCE(e.date_key, p.date_key) AS date_key,
       d.full_date,
       round(e.etl_processing_seconds, 3) AS etl_processing_seconds,
       e.etl_step_runs::bigint AS etl_step_runs,
       e.etl_failed_steps::bigint AS etl_failed_steps,
       round(100.0 * e.etl_failed_steps / NULLIF(e.etl_step_runs, 0), 2) AS etl_error_rate,
       p.total_requests,
       p.avg_query_response_ms,
       p.error_rate,
       p.data_availability_pct
FROM etl AS e
FULL JOIN portal AS p
  ON p.date_key = e.date_key
JOIN gold.dim_date AS d
  ON d.date_key = COALESCE(e.date_key, p.date_key);
COMMENT ON VIEW citizen.kpi_performance IS 'Seed 003 Performance KPIs per day: ETL processing time, ETL step runs, failures and error rate (the warehouse''s own citizen steps), query response time, portal error rate and data availability (hours within the error budget). Formulas: docs/CITIZEN.md.';
REVOKE ALL ON citizen.kpi_performance FROM PUBLIC;
GRANT SELECT ON citizen.kpi_performance TO analyst_role, etl_service;
