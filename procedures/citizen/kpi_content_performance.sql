-- Seed 003 Business KPI "Content Performance: most / least used content", per day from
-- citizen.dm_content_analytics, per content (content_id: its versions add up; current title, type,
-- language, source):
--   uses            views + downloads + shares + bookmarks
--   most_used_rank  1 = most used that day (ties: more views, then lower content_id)
--   least_used_rank 1 = least used among the contents used that day (same tie rule, reversed)
-- Only the day's ten most and ten least used contents are listed (content never used that day has no
-- row in the mart: dim_content minus this list are the unused ones).
CREATE OR REPLACE VIEW citizen.kpi_content_performance AS
WITH daily AS (
    SELECT c.content_id, a.date_key,
           sum(a.view_count) AS views, sum(a.download_count) AS downloads,
           sum(a.share_count) AS shares, sum(a.bookmark_count) AS bookmarks,
           sum(a.view_count + a.download_count + a.share_count + a.bookmark_count) AS uses,
           round(sum(a.user_rating * (a.view_count + a.download_count + a.share_count + a.bookmark_count))
                 FILTER (WHERE a.user_rating IS NOT NULL)
                 / NULLIF(sum(a.view_count + a.download_count + a.share_count + a.bookmark_count)
                          FILTER (WHERE a.user_rating IS NOT NULL), 0), 2) AS user_rating
    FROM citizen.dm_content_analytics AS a
    JOIN citizen.dim_content AS c
      ON c.content_key = a.content_key
    GROUP BY c.content_id, a.date_key
),
ranked AS (
    SELECT d.*,
           row_number() OVER (PARTITION BY d.date_key ORDER BY d.uses DESC, d.views DESC, d.content_id) AS most_used_rank,
           row_number() OVER (PARTITION BY d.date_key ORDER BY d.uses, d.views, d.content_id DESC) AS least_used_rank
    FROM daily AS d
)
SELECT r.date_key,
       cal.full_date,
       r.content_id,
       cur.title,
       cur.content_type,
       cur.language,
       cur.content_source,
       r.uses, r.views, r.downloads, r.shares, r.bookmarks, r.user_rating,
       r.most_used_rank,
       r.least_used_rank
FROM ranked AS r
JOIN gold.dim_date AS cal
  ON cal.date_key = r.date_key
JOIN citizen.dim_content AS cur
  ON cur.content_id = r.content_id AND cur.is_current
WHERE r.most_used_rank <= 10 OR r.least_used_rank <= 10;
COMMENT ON VIEW citizen.kpi_content_performance IS 'Seed 003 Content Performance per day: the ten most and ten least used contents (uses = views + downloads + shares + bookmarks) with their ranks. Formulas: docs/CITIZEN.md.';
REVOKE ALL ON citizen.kpi_content_performance FROM PUBLIC;
GRANT SELECT ON citizen.kpi_content_performance TO analyst_role, etl_service;
