-- What the generic fact step reads for citizen.fct_content_usage: one row per silver content event with
-- its source id (usage_id), event time (used_at), date and time-of-day keys in the area's zone, and the
-- natural keys of its dimensions. The content type is that of the content's version valid at the event
-- (citizen.dim_content: content_type is Type 2, so a later change of type does not rewrite old usage),
-- else the content's latest (silver.citizen_contents: an event before the first version, or a content
-- loaded as an inferred member); an event whose content is not known yet has none, and its content lookup
-- waits for the content (the step's "wait": "always", retried within late_window, then quarantined)
-- rather than load a usage without a type.
-- The zone is a scalar subquery (an InitPlan: read once per statement). As a one-row subquery in FROM it
-- was pulled up and every row called dwh_etl.setting_timezone again (agents queries over 880k rows: 8.9 s
-- against 2.3 s); kept apart with OFFSET 0 it became a join of its own that the planner put first, and
-- citizen's content usage scanned its events once per content (46 s for a next day at scale 1).
CREATE OR REPLACE VIEW silver.citizen_fct_content_usage_source AS
SELECT e.usage_id,
       e.used_at,
       citizen._date_key(e.used_at, (SELECT dwh_etl.setting_timezone('citizen.timezone', 'Asia/Kolkata'))) AS date_key,
       citizen._time_key(e.used_at, (SELECT dwh_etl.setting_timezone('citizen.timezone', 'Asia/Kolkata'))) AS time_key,
       e.content_id,
       e.service_id,
       e.user_id,
       COALESCE(dc.content_type, c.content_type) AS content_type,
       e.action_type,
       e.duration_seconds,
       e.scroll_depth_percent,
       e.search_rank_position,
       e.user_rating,
       e.query_id,
       e.session_id,
       e.ip_network,
       e.device_type,
       e.browser_type,
       e.os_type,
       e._loaded_at,
       e._source_bronze_id
FROM silver.citizen_content_events AS e
LEFT JOIN silver.citizen_contents AS c
  ON c.content_id = e.content_id
LEFT JOIN citizen.dim_content AS dc
  ON dc.content_id = e.content_id
 AND e.used_at >= dc.valid_from
 AND (dc.valid_to IS NULL OR e.used_at < dc.valid_to);
COMMENT ON VIEW silver.citizen_fct_content_usage_source IS 'Source of citizen.fct_content_usage: source id usage_id, event time used_at, natural keys content_id / service_id / user_id / content_type, date and time keys in citizen.timezone.';
REVOKE ALL ON silver.citizen_fct_content_usage_source FROM PUBLIC, analyst_role;
