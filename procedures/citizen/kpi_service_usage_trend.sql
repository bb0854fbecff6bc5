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
    SELECT s.service_id, d.full_date, sum(a.total_queries) AS total_queries
    FROM citizen.dm_service_analytics AS a
    JOIN citizen.dim_service AS s
      ON s.service_key = a.service_key
    JOIN gold.dim_date AS d
      ON d.date_key = a.date_key
    GROUP BY s.service_id, d.full_date
),
-- every calendar day of a service's active span, 0 on a day without queries, so that the windows below
-- count calendar days, not rows
calendar AS (
    SELECT x.service_id, g.day::date AS full_date, COALESCE(dl.total_queries, 0) AS total_queries,
           dl.service_id IS NOT NULL AS has_row
    FROM (SELECT service_id, min(full_date) AS first_day, max(full_date) AS last_day FROM daily GROUP BY service_id) AS x
    CROSS JOIN LATERAL generate_series(x.first_day, x.last_day, interval '1 day') AS g (day)
    LEFT JOIN daily AS dl
      ON dl.service_id = x.service_id AND dl.full_date = g.day::date
),
windows AS (
    SELECT c.service_id, c.full_date, c.total_queries, c.has_row,
           COALESCE(lag(c.total_queries) OVER w, 0) AS prev_day_queries,
           sum(c.total_queries) OVER (w ROWS BETWEEN 6 PRECEDING AND CURRENT ROW) AS last_7d,
           COALESCE(sum(c.total_queries) OVER (w ROWS BETWEEN 13 PRECEDING AND 7 PRECEDING), 0) AS prev_7d
    FROM calendar AS c
    WINDOW w AS (PARTITION BY c.service_id ORDER BY c.full_date)
)
SELECT d.date_key,
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
JOIN gold.dim_date AS d
  ON d.full_date = w.full_date
JOIN citizen.dim_service AS cur
  ON cur.service_id = w.service_id AND cur.is_current
WHERE w.has_row;
COMMENT ON VIEW citizen.kpi_service_usage_trend IS 'Seed 003 Service Usage Trends: queries per service and day with day-over-day growth, 7-day average and week-over-week growth (versions of a service add up; current name, department, category). Formulas: docs/CITIZEN.md.';
REVOKE ALL ON citizen.kpi_service_usage_trend FROM PUBLIC;
GRANT SELECT ON citizen.kpi_service_usage_trend TO analyst_role, etl_service;
