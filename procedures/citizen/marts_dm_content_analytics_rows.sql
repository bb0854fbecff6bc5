-- The rows of citizen.dm_content_analytics (content x day) for one day, and the view its mart step reads
-- (kind mart, table form, queue dwh_staging.citizen_affected_days_content; the date_key filter selects the
-- days of gold.dim_date and each is computed with the day as a parameter). Formulas (docs/CITIZEN.md):
--   view_count, download_count, share_count, bookmark_count   events of that action_type
--   avg_view_duration_seconds   avg(duration_seconds) of the views that report one, rounded
--   bounce_rate                 100 * views that were the only event (query or content event) of their
--                               session that day / views, 2 decimals; NULL without views
--   search_rank_position        avg(search_rank_position) of the events that came from a search, rounded
--   user_rating                 avg(user_rating) of the events that carry one, 2 decimals
-- The session sizes come from both facts, counted apart from the content's own aggregation (no join of
-- events to events, so no row is multiplied).
CREATE OR REPLACE FUNCTION citizen.marts_content_analytics(
    p_date_key integer
)
RETURNS TABLE (
    date_key                  integer,
    content_key               bigint,
    view_count                bigint,
    download_count            bigint,
    share_count               bigint,
    bookmark_count            bigint,
    avg_view_duration_seconds integer,
    bounce_rate               numeric(5,2),
    search_rank_position      integer,
    user_rating               numeric(3,2)
)
LANGUAGE sql
STABLE
SET search_path = citizen, pg_temp
AS $$
    WITH session_sizes AS (
        SELECT s.session_id, count(*) AS events
        FROM (SELECT q.session_id FROM citizen.fct_service_queries AS q WHERE q.date_key = p_date_key
              UNION ALL
              SELECT u.session_id FROM citizen.fct_content_usage AS u WHERE u.date_key = p_date_key) AS s
        GROUP BY s.session_id
    )
    SELECT p_date_key,
           u.content_key,
           count(*) FILTER (WHERE u.action_type = 'view'),
           count(*) FILTER (WHERE u.action_type = 'download'),
           count(*) FILTER (WHERE u.action_type = 'share'),
           count(*) FILTER (WHERE u.action_type = 'bookmark'),
           round(avg(u.duration_seconds) FILTER (WHERE u.action_type = 'view'))::integer,
           round(100.0 * count(*) FILTER (WHERE u.action_type = 'view' AND ss.events = 1)
                 / NULLIF(count(*) FILTER (WHERE u.action_type = 'view'), 0), 2)::numeric(5,2),
           round(avg(u.search_rank_position))::integer,
           round(avg(u.user_rating), 2)::numeric(3,2)
    FROM citizen.fct_content_usage AS u
    JOIN session_sizes AS ss
      ON ss.session_id = u.session_id
    WHERE u.date_key = p_date_key
    GROUP BY u.content_key;
$$;
COMMENT ON FUNCTION citizen.marts_content_analytics(integer) IS 'The rows of citizen.dm_content_analytics for one day (formulas in the header and docs/CITIZEN.md).';
REVOKE EXECUTE ON FUNCTION citizen.marts_content_analytics(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION citizen.marts_content_analytics(integer) TO etl_service;

CREATE OR REPLACE VIEW silver.citizen_dm_content_analytics_rows AS
SELECT d.date_key, r.content_key, r.view_count, r.download_count, r.share_count, r.bookmark_count,
       r.avg_view_duration_seconds, r.bounce_rate, r.search_rank_position, r.user_rating
FROM gold.dim_date AS d
CROSS JOIN LATERAL citizen.marts_content_analytics(d.date_key) AS r;
COMMENT ON VIEW silver.citizen_dm_content_analytics_rows IS 'The rows of citizen.dm_content_analytics (content x day), for its mart step, which reads the queued days only.';
REVOKE ALL ON silver.citizen_dm_content_analytics_rows FROM PUBLIC;
GRANT SELECT ON silver.citizen_dm_content_analytics_rows TO etl_service;
