-- Seed 003 Business KPI "Service Usage Trends: growth in service queries", per service and day from
-- citizen.dm_service_analytics, per service (service_id: the versions of a service add up; its current
-- name, department and category):
--   total_queries            the day's queries
--   prev_day_queries         the previous calendar day's (0 when it had none)
--   day_over_day_growth_pct  100 * (total - prev) / prev; NULL when the previous day had none
--   avg_7d_queries           average daily queries over the 7 calendar days ending that day (days without
--                            queries count as 0)
--   week_over_week_growth_pct 100 * (this 7-day sum - the previous 7-day sum) / previous sum
-- Reads the star schema only.
CREATE OR REPLACE VIEW citizen.kpi_service_usage_trend AS
WITH daily AS (
    SELECT s.service_id, a.date_key, sum(a.total_queries) AS total_queries
    FROM citizen.dm_service_analytics AS a
    JOIN citizen.dim_service AS s
      ON s.service_key = a.service_key
    GROUP BY s.service_id, a.date_key
),
windows AS (
    SELECT d.service_id, d.date_key, cal.full_date, d.total_queries,
           COALESCE((SELECT sum(p.total_queries) FROM daily AS p
                     JOIN gold.dim_date AS pd ON pd.date_key = p.date_key
                     WHERE p.service_id = d.service_id AND pd.full_date = cal.full_date - 1), 0) AS prev_day_queries,
           (SELECT COALESCE(sum(p.total_queries), 0) FROM daily AS p
            JOIN gold.dim_date AS pd ON pd.date_key = p.date_key
            WHERE p.service_id = d.service_id AND pd.full_date BETWEEN cal.full_date - 6 AND cal.full_date) AS last_7d,
           (SELECT COALESCE(sum(p.total_queries), 0) FROM daily AS p
            JOIN gold.dim_date AS pd ON pd.date_key = p.date_key
            WHERE p.service_id = d.service_id AND pd.full_date BETWEEN cal.full_date - 13 AND cal.full_date - 7) AS prev_7d
    FROM daily AS d
    JOIN gold.dim_date AS cal
      ON cal.date_key = d.date_key
)
SELECT w.date_key,
       w.full_date,
       w.service_id,
       cur.service_name,
       cur.department,
       cur.service_category,
       w.total_queries,
       w.prev_day_queries,
       round(100.0 * (w.total_queries - w.prev_day_queries) / NULLIF(w.prev_day_queries, 0), 2) AS day_over_day_growth_pct,
       round(w.last_7d / 7.0, 2) AS avg_7d_queries,
       round(100.0 * (w.last_7d - w.prev_7d) / NULLIF(w.prev_7d, 0), 2) AS week_over_week_growth_pct
FROM windows AS w
JOIN citizen.dim_service AS cur
  ON cur.service_id = w.service_id AND cur.is_current;
COMMENT ON VIEW citizen.kpi_service_usage_trend IS 'Seed 003 Service Usage Trends: queries per service and day with day-over-day growth, 7-day average and week-over-week growth (versions of a service add up; current name, department, category). Formulas: docs/CITIZEN.md.';
REVOKE ALL ON citizen.kpi_service_usage_trend FROM PUBLIC;
GRANT SELECT ON citizen.kpi_service_usage_trend TO analyst_role, etl_service;
