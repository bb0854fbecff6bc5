-- Silver typing view of the content events (bronze.citizen_content_events, landed from the collector's
-- JSON), as silver.citizen_query_logs_typed: typed, every reason a row cannot load in _reasons (the seed's
-- action vocabulary view/download/share/bookmark, scroll depth 0-100, rating 1-5, durations and ranks
-- not negative), the IP address reduced to its network and the user agent to device / browser / OS.
-- The collector's event_id is the usage_id of silver and of the fact.
CREATE OR REPLACE VIEW silver.citizen_content_events_typed AS
SELECT b._bronze_id,
       b._batch_id,
       b._ingested_at,
       COALESCE(dwh_etl.try_trim(b.event_id), '(no event_id)') AS _record_key,
       t.usage_id,
       t.used_at,
       t.content_id,
       t.service_id,
       t.user_id,
       t.session_id,
       t.action_type,
       t.duration_seconds,
       t.scroll_depth_percent,
       t.search_rank_position,
       t.user_rating,
       t.query_id,
       citizen._ip_network(b.ip_address)   AS ip_network,
       citizen._device_type(b.user_agent)  AS device_type,
       citizen._browser_type(b.user_agent) AS browser_type,
       citizen._os_type(b.user_agent)      AS os_type,
       dwh_etl.reasons(
           CASE WHEN dwh_etl.try_trim(b.event_id) IS NULL THEN 'event_id is missing' END,
           CASE WHEN dwh_etl.try_trim(b.event_id) IS NOT NULL AND t.usage_id IS NULL THEN dwh_etl.reason_integer('event_id', b.event_id, dwh_etl.try_bigint(b.event_id)) END,
           CASE WHEN dwh_etl.try_trim(b.occurred_at) IS NULL THEN 'occurred_at is missing' END,
           CASE WHEN dwh_etl.try_trim(b.occurred_at) IS NOT NULL AND t.used_at IS NULL THEN format('occurred_at %s is not an ISO 8601 timestamp', dwh_etl.quote_value(b.occurred_at)) END,
           CASE WHEN dwh_etl.try_trim(b.content_id) IS NULL THEN 'content_id is missing' END,
           CASE WHEN dwh_etl.try_trim(b.content_id) IS NOT NULL AND t.content_id IS NULL THEN dwh_etl.reason_integer('content_id', b.content_id, dwh_etl.try_bigint(b.content_id)) END,
           CASE WHEN dwh_etl.try_trim(b.service_id) IS NULL THEN 'service_id is missing' END,
           CASE WHEN dwh_etl.try_trim(b.service_id) IS NOT NULL AND t.service_id IS NULL THEN dwh_etl.reason_integer('service_id', b.service_id, dwh_etl.try_bigint(b.service_id), 'integer') END,
           CASE WHEN dwh_etl.try_trim(b.user_id) IS NOT NULL AND t.user_id IS NULL THEN dwh_etl.reason_integer('user_id', b.user_id, dwh_etl.try_bigint(b.user_id)) END,
           CASE WHEN t.session_id IS NULL THEN 'session_id is missing' END,
           dwh_etl.reason_text('session_id', t.session_id, 255),
           CASE WHEN t.action_type IS NULL THEN 'action_type is missing' END,
           CASE WHEN t.action_type NOT IN ('view', 'download', 'share', 'bookmark')
                THEN format('action_type %s is not view, download, share or bookmark', dwh_etl.quote_value(t.action_type)) END,
           CASE WHEN dwh_etl.try_trim(b.duration_seconds) IS NOT NULL AND t.duration_seconds IS NULL THEN dwh_etl.reason_integer('duration_seconds', b.duration_seconds, dwh_etl.try_bigint(b.duration_seconds), 'integer') END,
           CASE WHEN t.duration_seconds < 0 THEN format('duration_seconds %s is negative', t.duration_seconds) END,
           CASE WHEN dwh_etl.try_trim(b.scroll_depth_percent) IS NOT NULL AND t.scroll_depth_percent IS NULL THEN dwh_etl.reason_integer('scroll_depth_percent', b.scroll_depth_percent, dwh_etl.try_bigint(b.scroll_depth_percent), 'smallint') END,
           CASE WHEN t.scroll_depth_percent NOT BETWEEN 0 AND 100 THEN format('scroll_depth_percent %s is not between 0 and 100', t.scroll_depth_percent) END,
           CASE WHEN dwh_etl.try_trim(b.search_rank) IS NOT NULL AND t.search_rank_position IS NULL THEN dwh_etl.reason_integer('search_rank', b.search_rank, dwh_etl.try_bigint(b.search_rank), 'integer') END,
           CASE WHEN t.search_rank_position < 1 THEN format('search_rank %s is not a position (1 or more)', t.search_rank_position) END,
           CASE WHEN dwh_etl.try_trim(b.rating) IS NOT NULL AND t.user_rating IS NULL THEN dwh_etl.reason_integer('rating', b.rating, dwh_etl.try_bigint(b.rating), 'smallint') END,
           CASE WHEN t.user_rating NOT BETWEEN 1 AND 5 THEN format('rating %s is not between 1 and 5', t.user_rating) END,
           CASE WHEN dwh_etl.try_trim(b.query_id) IS NOT NULL AND t.query_id IS NULL THEN dwh_etl.reason_integer('query_id', b.query_id, dwh_etl.try_bigint(b.query_id)) END
       ) AS _reasons,
       -- the order of the versions of one event: its delivery (migration 0048, attack 9a)
       b._ingested_at AS delivered_at
FROM bronze.citizen_content_events AS b
-- zone-less times in the area's zone, read once per statement (dwh_etl.try_timestamptz(text) read them in
-- UTC: the collector's '10:00' in India landed at 15:30 India time, attack 9a)
CROSS JOIN (SELECT dwh_etl.setting_timezone('citizen.timezone', 'Asia/Kolkata') AS zone OFFSET 0) AS z  -- OFFSET 0: computed once, not pulled up into every row
CROSS JOIN LATERAL (SELECT dwh_etl.try_bigint(b.event_id) AS usage_id,
                     dwh_etl.try_timestamptz(dwh_etl.try_trim(b.occurred_at), z.zone) AS used_at,
                     dwh_etl.try_bigint(b.content_id) AS content_id,
                     CASE WHEN dwh_etl.try_bigint(b.service_id) BETWEEN -2147483648 AND 2147483647 THEN dwh_etl.try_bigint(b.service_id)::integer END AS service_id,
                     dwh_etl.try_bigint(b.user_id) AS user_id,
                     dwh_etl.try_trim(b.session_id) AS session_id,
                     lower(dwh_etl.try_trim(b.action_type)) AS action_type,
                     CASE WHEN dwh_etl.try_bigint(b.duration_seconds) BETWEEN -2147483648 AND 2147483647 THEN dwh_etl.try_bigint(b.duration_seconds)::integer END AS duration_seconds,
                     CASE WHEN dwh_etl.try_bigint(b.scroll_depth_percent) BETWEEN -32768 AND 32767 THEN dwh_etl.try_bigint(b.scroll_depth_percent)::smallint END AS scroll_depth_percent,
                     CASE WHEN dwh_etl.try_bigint(b.search_rank) BETWEEN -2147483648 AND 2147483647 THEN dwh_etl.try_bigint(b.search_rank)::integer END AS search_rank_position,
                     CASE WHEN dwh_etl.try_bigint(b.rating) BETWEEN -32768 AND 32767 THEN dwh_etl.try_bigint(b.rating)::smallint END AS user_rating,
                     dwh_etl.try_bigint(b.query_id) AS query_id
                    ) AS t;
COMMENT ON VIEW silver.citizen_content_events_typed IS 'bronze.citizen_content_events typed for silver.citizen_content_events (key usage_id = the collector''s event_id), IP reduced to its network and user agent to device / browser / OS; _reasons lists why a row must be quarantined.';
REVOKE ALL ON silver.citizen_content_events_typed FROM PUBLIC, analyst_role;
