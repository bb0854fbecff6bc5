-- Seed 003 Data Quality KPIs (completeness, accuracy, freshness, consistency) per day, from
-- citizen.fct_data_quality (the warehouse measuring its own citizen data per service and source):
--   value        the day's value over all services and sources, weighted by what each group measured
--                (rows_measured): sum(metric_value * rows_measured) / sum(rows_measured); for
--                completeness, accuracy and consistency this is the ratio over all rows (or checks)
--   status       that value judged against the metric's current thresholds (good / warning / critical)
--   groups, good_groups, warning_groups, critical_groups   (service, source) groups and their statuses
--   worst_value  the worst group's value (lowest when higher is better)
-- Reads the star schema only: analysts may read it.
CREATE OR REPLACE VIEW citizen.kpi_data_quality AS
SELECT f.date_key,
       d.full_date,
       m.metric_code,
       m.metric_name,
       m.measurement_unit AS unit,
       round(sum(f.metric_value * f.rows_measured) / NULLIF(sum(f.rows_measured), 0), 2) AS value,
       citizen.kpi_status(sum(f.metric_value * f.rows_measured) / NULLIF(sum(f.rows_measured), 0),
                            m.higher_is_better, m.threshold_good, m.threshold_warning) AS status,
       m.threshold_good,
       m.threshold_warning,
       count(*) AS groups,
       count(*) FILTER (WHERE f.status = 'good') AS good_groups,
       count(*) FILTER (WHERE f.status = 'warning') AS warning_groups,
       count(*) FILTER (WHERE f.status = 'critical') AS critical_groups,
       CASE WHEN m.higher_is_better THEN min(f.metric_value) ELSE max(f.metric_value) END AS worst_value,
       sum(f.rows_measured) AS rows_measured
FROM citizen.fct_data_quality AS f
JOIN citizen.dim_quality_metric AS m
  ON m.quality_metric_key = f.quality_metric_key
JOIN gold.dim_date AS d
  ON d.date_key = f.date_key
GROUP BY f.date_key, d.full_date, m.quality_metric_key, m.metric_code, m.metric_name, m.measurement_unit,
         m.higher_is_better, m.threshold_good, m.threshold_warning;
COMMENT ON VIEW citizen.kpi_data_quality IS 'Seed 003 Data Quality KPIs per day and metric (completeness %, accuracy %, freshness hours, consistency %): the value over all services and sources weighted by rows measured, its status, and how many (service, source) groups were good, warning, critical. Formulas: docs/CITIZEN.md.';
REVOKE ALL ON citizen.kpi_data_quality FROM PUBLIC;
GRANT SELECT ON citizen.kpi_data_quality TO analyst_role, etl_service;
