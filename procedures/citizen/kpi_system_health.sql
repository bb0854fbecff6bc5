-- Seed 003 Business KPI "System Health: overall system performance", per day: one status from the day's
-- judged measurements of both facts.
--   perf_critical_hours   (service or warehouse) x hour x metric rows of fct_system_performance judged critical
--   perf_warning_hours    ... judged warning
--   dq_critical, dq_warning   fct_data_quality rows judged critical / warning
--   health_status         critical when any measurement is critical, warning when any is warning, else
--                         good (a day without judged measurements has no row)
--   health_score          100 * good judgements / all judgements of the day (both facts)
CREATE OR REPLACE VIEW citizen.kpi_system_health AS
WITH judged AS (
    SELECT p.date_key, 'performance' AS fact, p.status
    FROM citizen.fct_system_performance AS p
    WHERE p.status IS NOT NULL
    UNION ALL
    SELECT q.date_key, 'data_quality', q.status
    FROM citizen.fct_data_quality AS q
    WHERE q.status IS NOT NULL
)
SELECT j.date_key,
       cal.full_date,
       count(*) FILTER (WHERE j.fact = 'performance' AND j.status = 'critical') AS perf_critical,
       count(*) FILTER (WHERE j.fact = 'performance' AND j.status = 'warning') AS perf_warning,
       count(*) FILTER (WHERE j.fact = 'data_quality' AND j.status = 'critical') AS dq_critical,
       count(*) FILTER (WHERE j.fact = 'data_quality' AND j.status = 'warning') AS dq_warning,
       count(*) AS judgements,
       round(100.0 * count(*) FILTER (WHERE j.status = 'good') / count(*), 2) AS health_score,
       CASE WHEN bool_or(j.status = 'critical') THEN 'critical'
            WHEN bool_or(j.status = 'warning') THEN 'warning'
            ELSE 'good' END AS health_status
FROM judged AS j
JOIN gold.dim_date AS cal
  ON cal.date_key = j.date_key
GROUP BY j.date_key, cal.full_date;
COMMENT ON VIEW citizen.kpi_system_health IS 'Seed 003 System Health per day: critical and warning judgements of fct_system_performance and fct_data_quality, a health score (percent of judgements good) and one status. Formulas: docs/CITIZEN.md.';
REVOKE ALL ON citizen.kpi_system_health FROM PUBLIC;
GRANT SELECT ON citizen.kpi_system_health TO analyst_role, etl_service;
