-- The days on which the citizen marts computed per day (the views silver.citizen_*_rows over gold.dim_date:
-- data quality, system performance, user, content and system analytics) can have rows: the days of the
-- queries and content events loaded, of the quarantine entries of the two event feeds (the payload's
-- occurred_at in citizen.timezone, a calendar day), and of the citizen steps that finished (in
-- citizen.timezone): every day the fact steps' queues and citizen.marts_queue_engine_days can queue.
-- Their mart steps name it as "rebuild_keys": a rebuild queues these days instead of every key of the
-- view, which computed each day of the calendar (2020 to two years ahead) by a function call: 190 s for
-- an area of 700 events (attack 15c); a restatement queues the days of its range among these or already
-- in the mart table (dwh_etl._restate_apply).
CREATE OR REPLACE VIEW silver.citizen_mart_days AS
WITH zone AS (
    SELECT dwh_etl.setting_timezone('citizen.timezone', 'Asia/Kolkata') AS name
)
SELECT q.date_key
FROM citizen.fct_service_queries AS q
UNION
SELECT u.date_key
FROM citizen.fct_content_usage AS u
UNION
SELECT d.date_key
FROM dwh_etl.quarantine AS qe
CROSS JOIN zone AS z
JOIN gold.dim_date AS d
  ON d.date_key = to_char(dwh_etl.try_timestamptz(qe.payload->>'occurred_at', z.name) AT TIME ZONE z.name, 'YYYYMMDD')::integer
WHERE qe.target_table IN ('silver.citizen_query_logs', 'silver.citizen_content_events')
UNION
SELECT to_char(sr.completed_at AT TIME ZONE z.name, 'YYYYMMDD')::integer
FROM dwh_lineage.step_runs AS sr
CROSS JOIN zone AS z
JOIN dwh_lineage.pipeline_runs AS pr
  ON pr.run_id = sr.run_id
WHERE sr.status IN ('completed', 'failed')
  AND sr.completed_at IS NOT NULL
  AND EXISTS (SELECT 1 FROM dwh_etl.steps AS st
              WHERE st.pipeline_name = pr.pipeline_name AND st.step_name = sr.step_name AND st.area = 'citizen');
COMMENT ON VIEW silver.citizen_mart_days IS 'The days the per-day citizen marts can have rows on (loaded events, quarantined event deliveries, finished citizen steps): what a rebuild of those marts queues (spec rebuild_keys).';
REVOKE ALL ON silver.citizen_mart_days FROM PUBLIC;
GRANT SELECT ON silver.citizen_mart_days TO etl_service;
