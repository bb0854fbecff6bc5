-- The portal's activity for the days [p_from, p_to] (days in India, Asia/Kolkata), set-based, for the
-- demo source: sessions, queries and content events, sent by the web-analytics collector as JSON payloads
-- into citizen_src.analytics_payloads (one payload per feed and UTC hour, received a few minutes after
-- the hour), and the content sources' syncs on their schedules (content_syncs; last_sync moves).
--
-- Volumes per day: round(1500 * scale) sessions on a weekday (60% on weekends, +-15%), busiest 09:00-21:00
-- IST; 45% anonymous (no user id, a session id only); 1-5 queries a session (about 2); a successful search
-- or information query leads to 0-2 content events, and 30% of sessions open one content item directly.
-- Each event carries the client's IP address (IPv4 from Indian ISPs' ranges, 15% IPv6) and user agent
-- (phones, desktops, tablets, API clients for API-client users, a few bots).
-- Ids depend on the day and position only (query_id = (day number * 10^6 + session) * 10 + query), and
-- every draw is citizen_src._rand(seed, what, id): a day is the same whether generated in the initial
-- load or by generate_next_day.
-- Bad data, as a real collector sends it (each must reach dwh_etl.quarantine with its reason, never fail
-- the load): about 1 in 250 events has a defect (a response time 'n/a', a satisfaction of 9, no session
-- id, a non-ISO time, an unknown query type; an action 'like', a scroll depth of 140, a negative duration,
-- a content id 'abc', no event time); every day one payload of query logs is delivered twice, one
-- content-events payload carries a "heartbeat" string and a {"ping": true} object among its events, and
-- the collector sends one bare string payload.
CREATE OR REPLACE PROCEDURE citizen_src._simulate(
    p_from date,
    p_to   date
)
LANGUAGE plpgsql
SET search_path = citizen_src, pg_temp
-- the row estimates of generate_series and the lateral draws are huge: JIT would compile for seconds
SET jit = off
AS $$
DECLARE
    c_day0     CONSTANT date := DATE '2020-01-01';
    v_seed     double precision;
    v_scale    numeric;
    v_users    bigint[];
    v_services text[];
    v_sweights numeric[];
    v_langs    text[] := ARRAY['en', 'hi', 'bn', 'mr', 'te', 'ta', 'gu', 'ur', 'kn', 'ml', 'or', 'pa', 'as', 'mai',
                               'sat', 'ks', 'ne', 'sd', 'doi', 'kok', 'mni', 'brx', 'sa'];
    v_lweights numeric[] := ARRAY[30, 30, 6, 5, 5, 5, 3, 3, 3, 2, 2, 2, 1, 1, 0.5, 0.3, 0.3, 0.3, 0.2, 0.2, 0.2, 0.2, 0.1];
    v_hours    text[] := ARRAY['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '10', '11', '12', '13', '14', '15',
                               '16', '17', '18', '19', '20', '21', '22', '23'];
    v_hweights numeric[] := ARRAY[1, 0.5, 0.3, 0.3, 0.3, 0.5, 1, 2, 4, 6, 8, 8, 7, 6, 6, 6, 6, 6, 7, 8, 8, 6, 4, 2];
    v_agents   text[] := ARRAY[
        'Mozilla/5.0 (Linux; Android 13; SM-A536E) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Mobile Safari/537.36',
        'Mozilla/5.0 (Linux; Android 12; Redmi Note 11) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/118.0.0.0 Mobile Safari/537.36',
        'Mozilla/5.0 (Linux; Android 13; SM-M336B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36',
        'Mozilla/5.0 (Linux; U; Android 10; en-US; RMX2185) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 UCBrowser/13.4.0.1306 Mobile Safari/537.36',
        'Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1',
        'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36',
        'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.61',
        'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:120.0) Gecko/20100101 Firefox/120.0',
        'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15',
        'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36',
        'Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1',
        'Mozilla/5.0 (Linux; Android 13; SM-X200) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36',
        'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)',
        'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36 OPR/105.0.0.0'];
    v_aweights numeric[] := ARRAY[22, 14, 8, 4, 10, 12, 4, 3, 2, 2, 3, 2, 1, 1];
    v_api_agents text[] := ARRAY['python-requests/2.31.0', 'okhttp/4.12.0', 'Java/17.0.8', 'curl/8.4.0'];
BEGIN
    SELECT s.seed, s.scale INTO v_seed, v_scale FROM citizen_src.generator_state AS s WHERE s.id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'citizen_src.generator_state is empty'
            USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'CALL citizen_src.generate() first.';
    END IF;
    SELECT array_agg(u.user_id ORDER BY u.user_id) INTO v_users FROM citizen_src.users AS u;
    SELECT array_agg(s.service_id::text ORDER BY s.service_id),
           array_agg(CASE s.priority_level WHEN 1 THEN 8 WHEN 2 THEN 5 WHEN 3 THEN 3 WHEN 4 THEN 2 ELSE 1 END::numeric ORDER BY s.service_id)
    INTO v_services, v_sweights
    FROM citizen_src.services AS s
    WHERE s.is_active;
    IF v_users IS NULL OR v_services IS NULL THEN
        RAISE EXCEPTION 'citizen_src has no users or no active services to simulate with'
            USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'CALL citizen_src.generate() creates them.';
    END IF;

    PERFORM 'PRAGMA:TABLE: _sim_sessions (day date, skey bigint, session_id text, user_id bigint, user_type text, lang_pref text, '
            'started_at timestamptz, n_queries integer, ip text, ua text)';
    PERFORM 'PRAGMA:TABLE: _sim_queries (qid bigint, skey bigint, k integer, queried_at timestamptz, service_id integer, query_type text, '
            'language_code text, response_time_ms integer, success boolean, result_count integer, satisfaction integer)';
    PERFORM 'PRAGMA:TABLE: _sim_events (usage_id bigint, skey bigint, qid bigint, used_at timestamptz, service_id integer, '
            'content_id bigint, action_type text, duration_seconds integer, scroll_depth integer, search_rank integer, rating integer)';
    PERFORM 'PRAGMA:TABLE: _sim_elements (feed text, hour_at timestamptz, id bigint, elem jsonb)';

    -- sessions: how many a day, who, when (IST), from where and with what
    CREATE TEMP TABLE _sim_sessions ON COMMIT DROP AS
    WITH days AS (
        SELECT g.day::date AS day, (g.day::date - c_day0) AS dn,
               greatest(1, round(1500 * v_scale
                                 * CASE WHEN EXTRACT(isodow FROM g.day) >= 6 THEN 0.6 ELSE 1.0 END
                                 * (0.85 + 0.3 * citizen_src._rand(v_seed, 'day_volume', (g.day::date - c_day0)))))::integer AS n
        FROM generate_series(p_from::timestamp, p_to::timestamp, interval '1 day') AS g (day)
    ), s AS (
        SELECT d.day, d.dn::bigint * 1000000 + i AS skey
        FROM days AS d
        CROSS JOIN LATERAL generate_series(1, d.n) AS i
    ), drawn AS (
        SELECT s.day, s.skey,
               citizen_src._rand(v_seed, 'anonymous', s.skey) < 0.45 AS anonymous,
               v_users[1 + floor(citizen_src._rand(v_seed, 'session_user', s.skey) * cardinality(v_users))::integer] AS user_id,
               citizen_src._pick(v_hours, v_hweights, citizen_src._rand(v_seed, 'session_hour', s.skey))::integer AS hour,
               citizen_src._rand(v_seed, 'session_second', s.skey) AS r_sec,
               citizen_src._rand(v_seed, 'session_queries', s.skey) AS r_nq,
               citizen_src._rand(v_seed, 'ip6', s.skey) AS r_ip6,
               citizen_src._rand(v_seed, 'ip_a', s.skey) AS r_ip_a,
               citizen_src._rand(v_seed, 'ip_b', s.skey) AS r_ip_b,
               citizen_src._rand(v_seed, 'ip_c', s.skey) AS r_ip_c,
               citizen_src._rand(v_seed, 'ua', s.skey) AS r_ua
        FROM s
    )
    SELECT d.day, d.skey,
           's' || substr(md5(v_seed::text || ':' || d.skey::text), 1, 24) AS session_id,
           CASE WHEN NOT d.anonymous THEN d.user_id END AS user_id,
           CASE WHEN NOT d.anonymous THEN u.user_type END AS user_type,
           CASE WHEN NOT d.anonymous THEN u.language_preference END AS lang_pref,
           (d.day::timestamp + make_interval(hours => d.hour, secs => d.r_sec * 3600)) AT TIME ZONE 'Asia/Kolkata' AS started_at,
           1 + floor(power(d.r_nq, 1.6) * 5)::integer AS n_queries,
           CASE WHEN d.r_ip6 < 0.15
                THEN format('2409:40%s:%s:%s::%s', lpad(to_hex(floor(d.r_ip_a * 256)::integer), 2, '0'),
                            to_hex(floor(d.r_ip_b * 65536)::integer), to_hex(floor(d.r_ip_c * 65536)::integer),
                            to_hex(1 + floor(d.r_ip_c * 4000)::integer))
                ELSE format('%s.%s.%s', (ARRAY['49.36', '106.210', '117.239', '223.187', '157.47', '103.21', '152.58', '182.69'])[1 + floor(d.r_ip_a * 8)::integer],
                            floor(d.r_ip_b * 256)::integer, 1 + floor(d.r_ip_c * 254)::integer)
           END AS ip,
           CASE WHEN NOT d.anonymous AND u.user_type = 'api_client'
                THEN v_api_agents[1 + floor(d.r_ua * cardinality(v_api_agents))::integer]
                ELSE citizen_src._pick(v_agents, v_aweights, d.r_ua) END AS ua
    FROM drawn AS d
    LEFT JOIN citizen_src.users AS u
      ON u.user_id = d.user_id;

    -- queries of each session
    CREATE TEMP TABLE _sim_queries ON COMMIT DROP AS
    WITH q AS (
        SELECT s.skey, k, s.skey * 10 + k AS qid, s.started_at, s.lang_pref
        FROM _sim_sessions AS s
        CROSS JOIN LATERAL generate_series(1, s.n_queries) AS k
    ), drawn AS (
        SELECT q.*,
               citizen_src._pick(v_services, v_sweights, citizen_src._rand(v_seed, 'query_service', q.qid))::integer AS service_id,
               citizen_src._pick(ARRAY['search', 'information', 'status_check', 'verification'], ARRAY[45, 25, 20, 10]::numeric[],
                                 citizen_src._rand(v_seed, 'query_type', q.qid)) AS query_type,
               CASE WHEN q.lang_pref IS NOT NULL AND citizen_src._rand(v_seed, 'query_pref', q.qid) < 0.75 THEN q.lang_pref
                    ELSE citizen_src._pick(v_langs, v_lweights, citizen_src._rand(v_seed, 'query_lang', q.qid)) END AS language_code,
               citizen_src._rand(v_seed, 'query_gap', q.qid) AS r_gap,
               citizen_src._rand(v_seed, 'query_rt', q.qid) AS r_rt,
               citizen_src._rand(v_seed, 'query_slow', q.qid) AS r_slow,
               citizen_src._rand(v_seed, 'query_ok', q.qid) AS r_ok,
               citizen_src._rand(v_seed, 'query_results', q.qid) AS r_res,
               citizen_src._rand(v_seed, 'query_rated', q.qid) AS r_rated,
               citizen_src._rand(v_seed, 'query_rating', q.qid) AS r_rating
        FROM q
    )
    SELECT d.qid, d.skey, d.k,
           d.started_at + make_interval(secs => (d.k - 1) * (20 + d.r_gap * 240)) AS queried_at,
           d.service_id, d.query_type, d.language_code,
           round(t.expected_response_time_ms * (0.3 + 1.4 * d.r_rt) * CASE WHEN d.r_slow < 0.03 THEN 6 ELSE 1 END)::integer AS response_time_ms,
           d.r_ok >= CASE WHEN d.query_type IN ('status_check', 'verification') THEN 0.09 ELSE 0.03 END AS success,
           CASE WHEN d.r_ok < CASE WHEN d.query_type IN ('status_check', 'verification') THEN 0.09 ELSE 0.03 END THEN 0
                WHEN d.query_type = 'search' THEN floor(d.r_res * 26)::integer
                ELSE 1 END AS result_count,
           CASE WHEN d.r_rated < 0.2
                THEN citizen_src._pick(ARRAY['1', '2', '3', '4', '5'],
                                       CASE WHEN d.r_ok < 0.09 THEN ARRAY[40, 30, 15, 10, 5] ELSE ARRAY[4, 7, 17, 42, 30] END::numeric[],
                                       d.r_rating)::integer END AS satisfaction
    FROM drawn AS d
    JOIN citizen_src.query_types AS t
      ON t.query_type = d.query_type;

    -- content events: after a successful search or information query (0-2), or a direct visit (30% of sessions)
    CREATE TEMP TABLE _sim_events ON COMMIT DROP AS
    WITH contents AS (
        SELECT c.service_id, c.language_code, array_agg(c.content_id ORDER BY c.content_id) AS ids
        FROM citizen_src.contents AS c
        WHERE c.is_active
        GROUP BY GROUPING SETS ((c.service_id, c.language_code), (c.service_id))
    ), e AS (
        SELECT q.qid * 4 + e AS usage_id, q.skey, q.qid, q.queried_at AS at, q.service_id, q.language_code, q.query_type,
               q.result_count
        FROM _sim_queries AS q
        CROSS JOIN LATERAL generate_series(1, floor(citizen_src._rand(v_seed, 'query_events', q.qid) * 3)::integer) AS e
        WHERE q.success AND q.result_count > 0 AND q.query_type IN ('search', 'information')
        UNION ALL
        SELECT (s.skey * 10 + 9) * 4, s.skey, NULL, s.started_at,
               citizen_src._pick(v_services, v_sweights, citizen_src._rand(v_seed, 'direct_service', s.skey))::integer,
               COALESCE(s.lang_pref, 'en'), NULL, NULL
        FROM _sim_sessions AS s
        WHERE citizen_src._rand(v_seed, 'direct', s.skey) < 0.3
    )
    SELECT e.usage_id, e.skey, e.qid,
           e.at + make_interval(secs => 5 + citizen_src._rand(v_seed, 'event_gap', e.usage_id) * 120) AS used_at,
           e.service_id,
           CASE WHEN cl.ids IS NOT NULL AND citizen_src._rand(v_seed, 'event_in_lang', e.usage_id) < 0.8
                THEN cl.ids[1 + floor(citizen_src._rand(v_seed, 'event_content', e.usage_id) * cardinality(cl.ids))::integer]
                ELSE ca.ids[1 + floor(citizen_src._rand(v_seed, 'event_content', e.usage_id) * cardinality(ca.ids))::integer]
           END AS content_id,
           a.action_type,
           CASE WHEN a.action_type = 'view' THEN round(5 + power(citizen_src._rand(v_seed, 'event_duration', e.usage_id), 2) * 600)::integer END AS duration_seconds,
           CASE WHEN a.action_type = 'view' THEN round(5 + citizen_src._rand(v_seed, 'event_scroll', e.usage_id) * 95)::integer END AS scroll_depth,
           CASE WHEN e.query_type = 'search'
                THEN 1 + floor(power(citizen_src._rand(v_seed, 'event_rank', e.usage_id), 2) * least(e.result_count, 10))::integer END AS search_rank,
           CASE WHEN citizen_src._rand(v_seed, 'event_rated', e.usage_id) < 0.08
                THEN citizen_src._pick(ARRAY['1', '2', '3', '4', '5'], ARRAY[5, 8, 20, 40, 27]::numeric[],
                                       citizen_src._rand(v_seed, 'event_rating', e.usage_id))::integer END AS rating
    FROM e
    LEFT JOIN contents AS cl
      ON cl.service_id = e.service_id AND cl.language_code = e.language_code
    LEFT JOIN contents AS ca
      ON ca.service_id = e.service_id AND ca.language_code IS NULL
    CROSS JOIN LATERAL (SELECT citizen_src._pick(ARRAY['view', 'download', 'bookmark', 'share'], ARRAY[70, 15, 8, 7]::numeric[],
                                                 citizen_src._rand(v_seed, 'event_action', e.usage_id)) AS action_type) AS a
    WHERE ca.ids IS NOT NULL;

    -- the collector's JSON: local time with its offset, the client's IP and user agent; some defects
    CREATE TEMP TABLE _sim_elements ON COMMIT DROP AS
    SELECT 'query_logs' AS feed,
           (date_trunc('hour', q.queried_at AT TIME ZONE 'UTC')) AT TIME ZONE 'UTC' AS hour_at,
           q.qid AS id,
           jsonb_build_object(
               'query_id', q.qid,
               'occurred_at', CASE WHEN x.bad = 3 THEN to_char(q.queried_at AT TIME ZONE 'Asia/Kolkata', 'DD/MM/YYYY HH24:MI:SS')
                                   ELSE to_char(q.queried_at AT TIME ZONE 'Asia/Kolkata', 'YYYY-MM-DD"T"HH24:MI:SS.MS') || '+05:30' END,
               'service_id', q.service_id,
               'user_id', s.user_id,
               'session_id', CASE WHEN x.bad = 2 THEN NULL ELSE s.session_id END,
               'query_type', CASE WHEN x.bad = 4 THEN 'complaint' ELSE q.query_type END,
               'language_code', q.language_code,
               'response_time_ms', CASE WHEN x.bad = 0 THEN to_jsonb('n/a'::text) ELSE to_jsonb(q.response_time_ms) END,
               'success', q.success,
               'result_count', q.result_count,
               'satisfaction_score', CASE WHEN x.bad = 1 THEN 9 ELSE q.satisfaction END,
               'ip_address', s.ip,
               'user_agent', s.ua) AS elem
    FROM _sim_queries AS q
    JOIN _sim_sessions AS s
      ON s.skey = q.skey
    CROSS JOIN LATERAL (SELECT CASE WHEN citizen_src._rand(v_seed, 'query_bad', q.qid) < 0.004
                                    THEN floor(citizen_src._rand(v_seed, 'query_bad_kind', q.qid) * 5)::integer END AS bad) AS x
    UNION ALL
    SELECT 'content_events',
           (date_trunc('hour', e.used_at AT TIME ZONE 'UTC')) AT TIME ZONE 'UTC',
           e.usage_id,
           jsonb_build_object(
               'event_id', e.usage_id,
               'occurred_at', CASE WHEN x.bad = 4 THEN NULL
                                   ELSE to_char(e.used_at AT TIME ZONE 'Asia/Kolkata', 'YYYY-MM-DD"T"HH24:MI:SS.MS') || '+05:30' END,
               'content_id', CASE WHEN x.bad = 3 THEN to_jsonb('abc'::text) ELSE to_jsonb(e.content_id) END,
               'service_id', e.service_id,
               'user_id', s.user_id,
               'session_id', s.session_id,
               'action_type', CASE WHEN x.bad = 0 THEN 'like' ELSE e.action_type END,
               'duration_seconds', CASE WHEN x.bad = 2 THEN -3 ELSE e.duration_seconds END,
               'scroll_depth_percent', CASE WHEN x.bad = 1 THEN 140 ELSE e.scroll_depth END,
               'search_rank', e.search_rank,
               'rating', e.rating,
               'query_id', e.qid,
               'ip_address', s.ip,
               'user_agent', s.ua)
    FROM _sim_events AS e
    JOIN _sim_sessions AS s
      ON s.skey = e.skey
    CROSS JOIN LATERAL (SELECT CASE WHEN citizen_src._rand(v_seed, 'event_bad', e.usage_id) < 0.004
                                    THEN floor(citizen_src._rand(v_seed, 'event_bad_kind', e.usage_id) * 5)::integer END AS bad) AS x;

    -- one payload per feed and hour, received 2-7 minutes after the hour ends; even hours wrapped in
    -- {"data": [...]} as the collector's API does, odd hours a bare array
    INSERT INTO citizen_src.analytics_payloads (feed, source, received_at, payload)
    SELECT p.feed, 'portal_collector', p.received_at, p.payload
    FROM (
        SELECT e.feed, e.hour_at + interval '1 hour'
                       + make_interval(secs => 120 + 300 * citizen_src._rand(v_seed, 'received_' || e.feed, EXTRACT(EPOCH FROM e.hour_at)::bigint)) AS received_at,
               CASE WHEN EXTRACT(HOUR FROM e.hour_at AT TIME ZONE 'UTC')::integer % 2 = 0
                    THEN jsonb_build_object('data', jsonb_agg(e.elem ORDER BY e.id))
                    ELSE jsonb_agg(e.elem ORDER BY e.id) END AS payload
        FROM _sim_elements AS e
        GROUP BY e.feed, e.hour_at
        UNION ALL
        -- every day: the 05:00 UTC hour of query logs delivered a second time (a collector retry)
        SELECT e.feed, e.hour_at + interval '1 hour 15 minutes', jsonb_agg(e.elem ORDER BY e.id)
        FROM _sim_elements AS e
        WHERE e.feed = 'query_logs' AND EXTRACT(HOUR FROM e.hour_at AT TIME ZONE 'UTC') = 5
        GROUP BY e.feed, e.hour_at
        UNION ALL
        -- every day: a payload of content events with a heartbeat string and a ping object among them
        SELECT e.feed, e.hour_at + interval '1 hour 20 minutes',
               jsonb_agg(e.elem ORDER BY e.id) || jsonb_build_array('heartbeat', jsonb_build_object('ping', true))
        FROM _sim_elements AS e
        WHERE e.feed = 'content_events' AND EXTRACT(HOUR FROM e.hour_at AT TIME ZONE 'UTC') = 6
        GROUP BY e.feed, e.hour_at
        UNION ALL
        -- every day: the collector's restart message, a bare JSON string
        SELECT 'query_logs', (g.day::timestamp + interval '7 hours 30 minutes') AT TIME ZONE 'UTC',
               to_jsonb(format('collector restarted on %s', to_char(g.day, 'YYYY-MM-DD')))
        FROM generate_series(p_from::timestamp, p_to::timestamp, interval '1 day') AS g (day)
    ) AS p
    ORDER BY p.received_at, p.feed;

    -- content source syncs on their schedules (minute hour day-of-month month day-of-week, UTC): each
    -- succeeds (95%) or fails; a success moves the source's last_sync
    INSERT INTO citizen_src.content_syncs (sync_id, source_name, started_at, finished_at, status, items_fetched,
                                           items_changed, error_message, updated_at)
    SELECT y.sync_id, y.source_name, y.started_at, y.finished_at,
           CASE WHEN y.failed THEN 'failed' ELSE 'succeeded' END,
           CASE WHEN y.failed THEN 0 ELSE y.fetched END,
           CASE WHEN y.failed THEN 0 ELSE floor(y.fetched * 0.1 * citizen_src._rand(v_seed, 'sync_changed', y.sync_id))::integer END,
           CASE WHEN y.failed THEN (ARRAY['HTTP 503 from upstream', 'timeout after 300 s', 'HTML layout changed: 0 items parsed'])[1 + floor(citizen_src._rand(v_seed, 'sync_error', y.sync_id) * 3)::integer] END,
           y.finished_at
    FROM (
        SELECT x.sync_id, x.source_name, x.started_at,
               x.started_at + make_interval(secs => 20 + 600 * citizen_src._rand(v_seed, 'sync_duration', x.sync_id)) AS finished_at,
               citizen_src._rand(v_seed, 'sync_failed', x.sync_id) < 0.05 AS failed,
               floor(500 * citizen_src._rand(v_seed, 'sync_items', x.sync_id))::integer AS fetched
        FROM (
            SELECT (g.day::date - c_day0)::bigint * 1000 + row_number() OVER (PARTITION BY g.day ORDER BY h, cs.source_name) AS sync_id,
                   cs.source_name,
                   (g.day + make_interval(hours => h, mins => split_part(cs.sync_schedule, ' ', 1)::integer)) AT TIME ZONE 'UTC' AS started_at
            FROM generate_series(p_from::timestamp, p_to::timestamp, interval '1 day') AS g (day)
            CROSS JOIN generate_series(0, 23) AS h
            JOIN citizen_src.content_sources AS cs
              ON cs.is_active
             AND split_part(cs.sync_schedule, ' ', 1) ~ '^[0-9]+$'
             AND (split_part(cs.sync_schedule, ' ', 2) = '*' OR split_part(cs.sync_schedule, ' ', 2) = h::text)
             AND (split_part(cs.sync_schedule, ' ', 3) = '*' OR split_part(cs.sync_schedule, ' ', 3) = EXTRACT(DAY FROM g.day)::text)
             AND (split_part(cs.sync_schedule, ' ', 5) = '*' OR split_part(cs.sync_schedule, ' ', 5) = EXTRACT(DOW FROM g.day)::text)
        ) AS x
    ) AS y
    ORDER BY y.sync_id;

    UPDATE citizen_src.content_sources AS cs
    SET last_sync  = x.last_sync,
        updated_at = x.last_sync
    FROM (
        SELECT y.source_name, max(y.finished_at) AS last_sync
        FROM citizen_src.content_syncs AS y
        WHERE y.status = 'succeeded'
        GROUP BY y.source_name
    ) AS x
    WHERE cs.source_name = x.source_name
      AND cs.last_sync IS DISTINCT FROM x.last_sync;

    DROP TABLE _sim_elements, _sim_events, _sim_queries, _sim_sessions;
END;
$$;
COMMENT ON PROCEDURE citizen_src._simulate(date, date) IS 'The citizen demo portal''s activity for the IST days [p_from, p_to]: sessions, queries and content events as hourly JSON payloads of the web-analytics collector (with IP and user agent, and a few bad events), and the content sources'' syncs.';
REVOKE EXECUTE ON PROCEDURE citizen_src._simulate(date, date) FROM PUBLIC;
