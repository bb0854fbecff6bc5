-- The rows of citizen.dm_service_analytics (service x day), for its mart step (kind mart, table form:
-- dwh_etl.step_mart rebuilds the days queued in dwh_staging.citizen_affected_days_service from this view,
-- filtering on date_key, which is pushed into both branches of the UNION ALL and prunes the facts'
-- partitions). Queries and content events are stacked, one row each, and grouped once on the grain: each
-- measure counts its own kind of row, so nothing is multiplied (the seed joined content usage to queries by
-- (service, day): every view counted once per query of the day), and a service with content use but no
-- query that day has its row. unique_users counts visitors across both facts: a registered user once (by
-- user_id, whatever version), an anonymous visitor once per session. In silver: analysts never read
-- silver; they read citizen.dm_service_analytics.
CREATE OR REPLACE VIEW silver.citizen_dm_service_analytics_rows AS
WITH events AS (
    SELECT q.date_key, q.service_key, true AS is_query, q.success_flag, q.response_time_ms,
           q.user_satisfaction_score, NULL::text AS action_type,
           COALESCE('user:' || du.user_id, 'session:' || q.session_id) AS visitor
    FROM citizen.fct_service_queries AS q
    LEFT JOIN citizen.dim_user AS du
      ON du.user_key = q.user_key
    UNION ALL
    SELECT u.date_key, u.service_key, false, NULL, NULL, NULL, u.action_type,
           COALESCE('user:' || du.user_id, 'session:' || u.session_id)
    FROM citizen.fct_content_usage AS u
    LEFT JOIN citizen.dim_user AS du
      ON du.user_key = u.user_key
)
SELECT e.date_key,
       e.service_key,
       count(*) FILTER (WHERE e.is_query) AS total_queries,
       count(*) FILTER (WHERE e.is_query AND e.success_flag) AS successful_queries,
       count(*) FILTER (WHERE e.is_query AND NOT e.success_flag) AS failed_queries,
       round(avg(e.response_time_ms), 2)::numeric(10,2) AS avg_response_time_ms,
       count(DISTINCT e.visitor) AS unique_users,
       round(avg(e.user_satisfaction_score), 2)::numeric(3,2) AS satisfaction_score,
       count(*) FILTER (WHERE e.action_type = 'view') AS content_views,
       count(*) FILTER (WHERE e.action_type = 'download') AS content_downloads
FROM events AS e
GROUP BY e.date_key, e.service_key;
COMMENT ON VIEW silver.citizen_dm_service_analytics_rows IS 'The rows of citizen.dm_service_analytics (service x day), for its mart step, which reads the queued days only.';
REVOKE ALL ON silver.citizen_dm_service_analytics_rows FROM PUBLIC;
GRANT SELECT ON silver.citizen_dm_service_analytics_rows TO etl_service;
