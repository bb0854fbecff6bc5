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
    SELECT DISTINCT a.date_key, du.user_id
    FROM activity AS a
    JOIN citizen.dim_user AS du
      ON du.user_key = a.user_key
),
days AS (
    SELECT a.date_key,
           count(DISTINCT a.session_id) FILTER (WHERE a.user_key IS NULL) AS anonymous_sessions
    FROM activity AS a
    GROUP BY a.date_key
),
scores AS (
    SELECT m.date_key,
           round(avg(m.engagement_score), 3) AS avg_engagement_score,
           round(avg(m.avg_session_duration_seconds), 1) AS avg_session_duration_seconds
    FROM citizen.dm_user_analytics AS m
    GROUP BY m.date_key
),
retention AS (
    SELECT cal.date_key,
           (SELECT count(*) FROM active AS t WHERE t.date_key = cal.date_key) AS active_users,
           (SELECT count(DISTINCT p.user_id)
            FROM active AS p JOIN gold.dim_date AS pd ON pd.date_key = p.date_key
            WHERE pd.full_date BETWEEN cal.full_date - 7 AND cal.full_date - 1) AS earlier_users,
           (SELECT count(*)
            FROM active AS t
            WHERE t.date_key = cal.date_key
              AND EXISTS (SELECT 1 FROM active AS p JOIN gold.dim_date AS pd ON pd.date_key = p.date_key
                          WHERE p.user_id = t.user_id AND pd.full_date BETWEEN cal.full_date - 7 AND cal.full_date - 1)) AS returning_users
    FROM days AS dd
    JOIN gold.dim_date AS cal
      ON cal.date_key = dd.date_key
)
SELECT dd.date_key,
       cal.full_date,
       r.active_users,
       dd.anonymous_sessions,
       r.active_users + dd.anonymous_sessions AS visitors,
       s.avg_engagement_score,
       s.avg_session_duration_seconds,
       r.returning_users,
       round(100.0 * r.returning_users / NULLIF(r.earlier_users, 0), 2) AS retention_pct
FROM days AS dd
JOIN gold.dim_date AS cal
  ON cal.date_key = dd.date_key
JOIN retention AS r
  ON r.date_key = dd.date_key
LEFT JOIN scores AS s
  ON s.date_key = dd.date_key;
COMMENT ON VIEW citizen.kpi_user_engagement IS 'Seed 003 User Engagement per day: active registered users, anonymous sessions, visitors, average engagement score and session duration, returning users and 7-day retention. Formulas: docs/CITIZEN.md.';
REVOKE ALL ON citizen.kpi_user_engagement FROM PUBLIC;
GRANT SELECT ON citizen.kpi_user_engagement TO analyst_role, etl_service;
