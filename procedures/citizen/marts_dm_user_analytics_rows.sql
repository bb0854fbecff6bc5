-- The rows of citizen.dm_user_analytics (registered user x day) for one day, and the view its mart step
-- reads (kind mart, table form: dwh_etl.step_mart rebuilds the days queued in
-- dwh_staging.citizen_affected_days_user from silver.citizen_dm_user_analytics_rows, filtering on date_key:
-- the filter selects the days of gold.dim_date, and this function computes each of them with the day as a
-- parameter, so only the queued days' partitions are read, whatever the measures' several groupings).
-- A user's events of the day are their queries and content events (user_key set: anonymous visitors have no
-- user row and are counted by session in dm_service_analytics). Formulas (docs/CITIZEN.md):
--   session_count                 distinct session_id
--   avg_session_duration_seconds  per session: end of its last activity (a content event ends at used_at +
--                                 duration_seconds, a query at queried_at) - its first event; averaged,
--                                 rounded to whole seconds
--   most_used_service             most events; ties: used first that day, then lower service_key
--   language_preference           language of most queries (ties: lower code); no query: dim_user's
--   device_type                   device of most events (ties: alphabetical)
--   engagement_score              0.4 * least(queries, 10) / 10 + 0.3 * least(content actions, 10) / 10
--                                 + 0.3 * least(avg session seconds, 600) / 600, rounded to 0.01
CREATE OR REPLACE FUNCTION citizen.marts_user_analytics(
    p_date_key integer
)
RETURNS TABLE (
    date_key                     integer,
    user_key                     bigint,
    session_count                bigint,
    total_queries                bigint,
    content_actions              bigint,
    avg_session_duration_seconds integer,
    most_used_service            text,
    language_preference          text,
    device_type                  text,
    engagement_score             numeric(3,2)
)
LANGUAGE sql
STABLE
SET search_path = citizen, pg_temp
AS $$
    WITH events AS (
        SELECT q.user_key, q.session_id, q.service_key, q.queried_at AS started_at, q.queried_at AS ended_at,
               true AS is_query, q.language_key, q.device_type
        FROM citizen.fct_service_queries AS q
        WHERE q.date_key = p_date_key AND q.user_key IS NOT NULL
        UNION ALL
        SELECT u.user_key, u.session_id, u.service_key, u.used_at,
               u.used_at + make_interval(secs => COALESCE(u.duration_seconds, 0)),
               false, NULL::bigint, u.device_type
        FROM citizen.fct_content_usage AS u
        WHERE u.date_key = p_date_key AND u.user_key IS NOT NULL
    ),
    per_user AS (
        SELECT e.user_key,
               count(DISTINCT e.session_id) AS session_count,
               count(*) FILTER (WHERE e.is_query) AS total_queries,
               count(*) FILTER (WHERE NOT e.is_query) AS content_actions
        FROM events AS e
        GROUP BY e.user_key
    ),
    sessions AS (
        SELECT s.user_key,
               round(avg(s.seconds))::integer AS avg_session_duration_seconds
        FROM (SELECT e.user_key, e.session_id,
                     EXTRACT(EPOCH FROM max(e.ended_at) - min(e.started_at)) AS seconds
              FROM events AS e
              GROUP BY e.user_key, e.session_id) AS s
        GROUP BY s.user_key
    ),
    top_service AS (
        SELECT DISTINCT ON (x.user_key) x.user_key, x.service_key
        FROM (SELECT e.user_key, e.service_key, count(*) AS n, min(e.started_at) AS first_at
              FROM events AS e
              GROUP BY e.user_key, e.service_key) AS x
        ORDER BY x.user_key, x.n DESC, x.first_at, x.service_key
    ),
    top_language AS (
        SELECT DISTINCT ON (x.user_key) x.user_key, l.language_code
        FROM (SELECT e.user_key, e.language_key, count(*) AS n
              FROM events AS e
              WHERE e.is_query
              GROUP BY e.user_key, e.language_key) AS x
        JOIN citizen.dim_language AS l
          ON l.language_key = x.language_key
        ORDER BY x.user_key, x.n DESC, l.language_code COLLATE "C"
    ),
    top_device AS (
        SELECT DISTINCT ON (x.user_key) x.user_key, x.device_type
        FROM (SELECT e.user_key, e.device_type, count(*) AS n
              FROM events AS e
              GROUP BY e.user_key, e.device_type) AS x
        ORDER BY x.user_key, x.n DESC, x.device_type COLLATE "C"
    )
    SELECT p_date_key,
           pu.user_key,
           pu.session_count,
           pu.total_queries,
           pu.content_actions,
           se.avg_session_duration_seconds,
           -- an inferred service (its row not arrived yet) has no name: named by its id until it arrives
           COALESCE(ds.service_name, 'service ' || ds.service_id::text),
           COALESCE(tl.language_code, du.language_preference),
           td.device_type,
           round(0.4 * LEAST(pu.total_queries, 10) / 10.0
                 + 0.3 * LEAST(pu.content_actions, 10) / 10.0
                 + 0.3 * LEAST(se.avg_session_duration_seconds, 600) / 600.0, 2)::numeric(3,2)
    FROM per_user AS pu
    JOIN sessions AS se
      ON se.user_key = pu.user_key
    JOIN top_service AS ts
      ON ts.user_key = pu.user_key
    JOIN citizen.dim_service AS ds
      ON ds.service_key = ts.service_key
    JOIN top_device AS td
      ON td.user_key = pu.user_key
    JOIN citizen.dim_user AS du
      ON du.user_key = pu.user_key
    LEFT JOIN top_language AS tl
      ON tl.user_key = pu.user_key;
$$;
COMMENT ON FUNCTION citizen.marts_user_analytics(integer) IS 'The rows of citizen.dm_user_analytics for one day (registered users; formulas in the header and docs/CITIZEN.md).';
REVOKE EXECUTE ON FUNCTION citizen.marts_user_analytics(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION citizen.marts_user_analytics(integer) TO etl_service;

CREATE OR REPLACE VIEW silver.citizen_dm_user_analytics_rows AS
SELECT d.date_key, r.user_key, r.session_count, r.total_queries, r.content_actions,
       r.avg_session_duration_seconds, r.most_used_service, r.language_preference, r.device_type,
       r.engagement_score
FROM gold.dim_date AS d
CROSS JOIN LATERAL citizen.marts_user_analytics(d.date_key) AS r;
COMMENT ON VIEW silver.citizen_dm_user_analytics_rows IS 'The rows of citizen.dm_user_analytics (user x day), for its mart step, which reads the queued days only (a filter on date_key picks the days of gold.dim_date computed).';
REVOKE ALL ON silver.citizen_dm_user_analytics_rows FROM PUBLIC;
GRANT SELECT ON silver.citizen_dm_user_analytics_rows TO etl_service;
