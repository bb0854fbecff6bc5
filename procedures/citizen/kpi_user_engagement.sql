-- Seed 003 Business KPI "User Engagement: user activity and retention", per day:
--   active_users             registered users with a query or content event that day (by user_id)
--   anonymous_sessions       sessions of visitors without a user row (counted by session, not dropped)
--   visitors                 active_users + anonymous_sessions
--   avg_engagement_score     average dm_user_analytics.engagement_score of the day's active users
--   avg_session_duration_seconds  average over the day's registered users of their average session
--   returning_users          active users who were also active on one of the 7 previous days
--   retention_pct            100 * returning_users / users active in the 7 previous days (the share of
--                            last week's users who came back that day); NULL without earlier users
-- From the facts (sessions, anonymous visitors) and dm_user_analytics (scores); reads the star schema only.
CREATE OR REPLACE VIEW citizen.kpi_user_engagement AS
WITH activity AS (
    SELECT q.date_key, q.user_key, q.session_id FROM citizen.fct_service_queries AS q
    UNION
    SELECT u.date_key, u.user_key, u.session_id FROM citizen.fct_content_usage AS u
),
active AS (
    -- registered users active per day, with the day they were active before
    SELECT x.user_id, x.full_date, lag(x.full_date) OVER (PARTITION BY x.user_id ORDER BY x.full_date) AS previous_day
    FROM (SELECT DISTINCT du.user_id, d.full_date
          FROM activity AS a
          JOIN citizen.dim_user AS du
            ON du.user_key = a.user_key
          JOIN gold.dim_date AS d
            ON d.date_key = a.date_key) AS x
),
days AS (
    SELECT a.date_key, d.full_date,
           count(DISTINCT a.session_id) FILTER (WHERE a.user_key IS NULL) AS anonymous_sessions
    FROM activity AS a
    JOIN gold.dim_date AS d
      ON d.date_key = a.date_key
    GROUP BY a.date_key, d.full_date
),
per_day AS (
    SELECT ac.full_date,
           count(*) AS active_users,
           count(*) FILTER (WHERE ac.previous_day >= ac.full_date - 7) AS returning_users
    FROM active AS ac
    GROUP BY ac.full_date
),
earlier AS (
    SELECT dd.full_date, count(DISTINCT ac.user_id) AS earlier_users
    FROM days AS dd
    JOIN active AS ac
      ON ac.full_date BETWEEN dd.full_date - 7 AND dd.full_date - 1
    GROUP BY dd.full_date
),
scores AS (
    SELECT m.date_key,
           round(avg(m.engagement_score), 3) AS avg_engagement_score,
           round(avg(m.avg_session_duration_seconds), 1) AS avg_session_duration_seconds
    FROM citizen.dm_user_analytics AS m
    GROUP BY m.date_key
)
SELECT dd.date_key,
       dd.full_date,
       COALESCE(p.active_users, 0) AS active_users,
       dd.anonymous_sessions,
       COALESCE(p.active_users, 0) + dd.anonymous_sessions AS visitors,
       s.avg_engagement_score,
       s.avg_session_duration_seconds,
       COALESCE(p.returning_users, 0) AS returning_users,
       round(100.0 * COALESCE(p.returning_users, 0) / NULLIF(e.earlier_users, 0), 2) AS retention_pct
FROM days AS dd
LEFT JOIN per_day AS p
  ON p.full_date = dd.full_date
LEFT JOIN earlier AS e
  ON e.full_date = dd.full_date
LEFT JOIN scores AS s
  ON s.date_key = dd.date_key;
COMMENT ON VIEW citizen.kpi_user_engagement IS 'Seed 003 User Engagement per day: active registered users, anonymous sessions, visitors, average engagement score and session duration, returning users and 7-day retention. Formulas: docs/CITIZEN.md.';
REVOKE ALL ON citizen.kpi_user_engagement FROM PUBLIC;
GRANT SELECT ON citizen.kpi_user_engagement TO analyst_role, etl_service;
