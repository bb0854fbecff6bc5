-- Silver typing view of the query logs (bronze.citizen_query_logs, landed from the collector's JSON): the
-- text trimmed and typed (ISO 8601 times only, whatever DateStyle and TimeZone; zone-less ones are read in
-- citizen.timezone by the silver step), one row per bronze row, with every reason the row cannot go to
-- silver in _reasons: a missing required value, a value not of its type or out of its range, a value
-- outside the seed's vocabularies. Personal data is reduced here, before silver: the IP address becomes
-- its network (citizen._ip_network), the user agent its device, browser and OS; neither reaches silver or
-- gold (an unparsable address only loses its network, it is no reason to reject the event).
-- _record_key: the query id (the quarantine entry's key). In schema silver: analysts never read it.
CREATE OR REPLACE VIEW silver.citizen_query_logs_typed AS
SELECT b._bronze_id,
       b._batch_id,
       b._ingested_at,
       COALESCE(dwh_etl.try_trim(b.query_id), '(no query_id)') AS _record_key,
       t.query_id,
       t.queried_at,
       t.service_id,
       t.user_id,
       t.session_id,
       t.query_type,
       t.language_code,
       t.response_time_ms,
       t.success_flag,
       t.result_count,
       t.user_satisfaction_score,
       citizen._ip_network(b.ip_address)   AS ip_network,
       citizen._device_type(b.user_agent)  AS device_type,
       citizen._browser_type(b.user_agent) AS browser_type,
       citizen._os_type(b.user_agent)      AS os_type,
       dwh_etl.reasons(
           CASE WHEN dwh_etl.try_trim(b.query_id) IS NULL THEN 'query_id is missing' END,
           CASE WHEN dwh_etl.try_trim(b.query_id) IS NOT NULL AND t.query_id IS NULL THEN dwh_etl.reason_integer('query_id', b.query_id, dwh_etl.try_bigint(b.query_id)) END,
           CASE WHEN dwh_etl.try_trim(b.occurred_at) IS NULL THEN 'occurred_at is missing' END,
           CASE WHEN dwh_etl.try_trim(b.occurred_at) IS NOT NULL AND t.queried_at IS NULL THEN format('occurred_at %s is not an ISO 8601 timestamp', dwh_etl.quote_value(b.occurred_at)) END,
           CASE WHEN dwh_etl.try_trim(b.service_id) IS NULL THEN 'service_id is missing' END,
           CASE WHEN dwh_etl.try_trim(b.service_id) IS NOT NULL AND t.service_id IS NULL THEN dwh_etl.reason_integer('service_id', b.service_id, dwh_etl.try_bigint(b.service_id), 'integer') END,
           CASE WHEN dwh_etl.try_trim(b.user_id) IS NOT NULL AND t.user_id IS NULL THEN dwh_etl.reason_integer('user_id', b.user_id, dwh_etl.try_bigint(b.user_id)) END,
           CASE WHEN t.session_id IS NULL THEN 'session_id is missing' END,
           dwh_etl.reason_text('session_id', t.session_id, 255),
           CASE WHEN t.query_type IS NULL THEN 'query_type is missing' END,
           CASE WHEN t.query_type NOT IN ('search', 'status_check', 'verification', 'information')
                THEN format('query_type %s is not search, status_check, verification or information', dwh_etl.quote_value(t.query_type)) END,
           CASE WHEN t.language_code IS NULL THEN 'language_code is missing' END,
           CASE WHEN t.language_code !~ '^[a-z]{2,3}$' THEN format('language_code %s is not an ISO 639 code', dwh_etl.quote_value(t.language_code)) END,
           CASE WHEN dwh_etl.try_trim(b.response_time_ms) IS NOT NULL AND t.response_time_ms IS NULL THEN dwh_etl.reason_integer('response_time_ms', b.response_time_ms, dwh_etl.try_bigint(b.response_time_ms), 'integer') END,
           CASE WHEN t.response_time_ms < 0 THEN format('response_time_ms %s is negative', t.response_time_ms) END,
           -- the fact step's gate citizen_fsq_response_time_range (0 to 600000) failed the night for one such
           -- event (every event's facts with it): the event is quarantined here instead (attack 9a)
           CASE WHEN t.response_time_ms > 600000 THEN format('response_time_ms %s is more than 600000 (10 minutes, rule citizen_fsq_response_time_range)', t.response_time_ms) END,
           CASE WHEN dwh_etl.try_trim(b.success) IS NULL THEN 'success is missing' END,
           CASE WHEN dwh_etl.try_trim(b.success) IS NOT NULL AND t.success_flag IS NULL THEN format('success %s is not a boolean', dwh_etl.quote_value(b.success)) END,
           CASE WHEN dwh_etl.try_trim(b.result_count) IS NOT NULL AND t.result_count IS NULL THEN dwh_etl.reason_integer('result_count', b.result_count, dwh_etl.try_bigint(b.result_count), 'integer') END,
           CASE WHEN t.result_count < 0 THEN format('result_count %s is negative', t.result_count) END,
           CASE WHEN dwh_etl.try_trim(b.satisfaction_score) IS NOT NULL AND t.user_satisfaction_score IS NULL THEN dwh_etl.reason_integer('satisfaction_score', b.satisfaction_score, dwh_etl.try_bigint(b.satisfaction_score), 'smallint') END,
           CASE WHEN t.user_satisfaction_score NOT BETWEEN 1 AND 5 THEN format('satisfaction_score %s is not between 1 and 5', t.user_satisfaction_score) END
       ) AS _reasons,
       -- the order of the versions of one event: its delivery (migration 0048, attack 9a)
       b._ingested_at AS delivered_at
FROM bronze.citizen_query_logs AS b
-- zone-less times in the area's zone, read once per statement (dwh_etl.try_timestamptz(text) read them in
-- UTC: the collector's '10:00' in India landed at 15:30 India time, attack 9a)
CROSS JOIN (SELECT dwh_etl.setting_timezone('citizen.timezone', 'Asia/Kolkata') AS zone OFFSET 0) AS z  -- OFFSET 0: computed once, not pulled up into every row
CROSS JOIN LATERAL (SELECT dwh_etl.try_bigint(b.query_id) AS query_id,
                     dwh_etl.try_timestamptz(dwh_etl.try_trim(b.occurred_at), z.zone) AS queried_at,
                     CASE WHEN dwh_etl.try_bigint(b.service_id) BETWEEN -2147483648 AND 2147483647 THEN dwh_etl.try_bigint(b.service_id)::integer END AS service_id,
                     dwh_etl.try_bigint(b.user_id) AS user_id,
                     dwh_etl.try_trim(b.session_id) AS session_id,
                     lower(dwh_etl.try_trim(b.query_type)) AS query_type,
                     lower(dwh_etl.try_trim(b.language_code)) AS language_code,
                     CASE WHEN dwh_etl.try_bigint(b.response_time_ms) BETWEEN -2147483648 AND 2147483647 THEN dwh_etl.try_bigint(b.response_time_ms)::integer END AS response_time_ms,
                     CASE lower(dwh_etl.try_trim(b.success)) WHEN 'true' THEN true WHEN 't' THEN true WHEN '1' THEN true
                                                             WHEN 'false' THEN false WHEN 'f' THEN false WHEN '0' THEN false END AS success_flag,
                     CASE WHEN dwh_etl.try_bigint(b.result_count) BETWEEN -2147483648 AND 2147483647 THEN dwh_etl.try_bigint(b.result_count)::integer END AS result_count,
                     CASE WHEN dwh_etl.try_bigint(b.satisfaction_score) BETWEEN -32768 AND 32767 THEN dwh_etl.try_bigint(b.satisfaction_score)::smallint END AS user_satisfaction_score
                    ) AS t;
COMMENT ON VIEW silver.citizen_query_logs_typed IS 'bronze.citizen_query_logs typed for silver.citizen_query_logs (key query_id), IP reduced to its network and user agent to device / browser / OS; _reasons lists why a row must be quarantined (empty: it may load).';
REVOKE ALL ON silver.citizen_query_logs_typed FROM PUBLIC, analyst_role;
