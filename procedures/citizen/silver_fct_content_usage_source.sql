-- What the generic fact step reads for citizen.fct_content_usage: one row per silver content event with
-- its source id (usage_id), event time (used_at), date and time-of-day keys in the area's zone, and the
-- natural keys of its dimensions. The content type is that of the content's version valid at the event
-- (citizen.dim_content: content_type is Type 2, so a later change of type does not rewrite old usage),
-- else the content's latest (silver.citizen_contents: an event before the first version, or a content
-- loaded as an inferred member); an event whose content is not known yet has none, and its content lookup
-- waits for the content (the step's "wait": "always", retried within late_window, then quarantined)
-- rather than load a usage without a type.
CREATE OR REPLACE VIEW silver.citizen_fct_content_usage_source AS
SELECT e.usage_id,
       e.used_at,
       citizen._date_key(e.used_at, z.zone) AS date_key,
       citizen._time_key(e.used_at, z.zone) AS time_key,
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
 AND (dc.valid_to IS NULL OR e.used_at < dc.valid_to)
CROSS JOIN (SELECT dwh_etl.setting_timezone('citizen.timezone', 'Asia/Kolkata') AS zone) AS z;
COMMENT ON VIEW silver.citizen_fct_content_usage_source IS 'Source of citizen.fct_content_usage: source id usage_id, event time used_at, natural keys content_id / service_id / user_id / content_type, date and time keys in citizen.timezone.';
REVOKE ALL ON silver.citizen_fct_content_usage_source FROM PUBLIC, analyst_role;
