-- Step (bronze): the web-analytics payloads that arrived in the collector's inbox
-- (citizen_src.analytics_payloads, by its arrival column _dwh_arrived_at, window [watermark, safe upper
-- bound) capped at the end of the run date) land in bronze through the engine's JSON path,
-- dwh_etl.ingest_json: query_logs into bronze.citizen_query_logs, content_events into
-- bronze.citizen_content_events, one row per event, values as text, with the run's batch.
-- Why custom: no step kind lands JSON (extract copies tables column for column).
-- The payloads of a feed in the window go to ingest_json as arrays of their elements (20,000 at a time), in arrival order
-- (an array payload's elements, a {"data": [...]} payload's data); a payload of another shape (a bare
-- string, {"data": "..."}) goes on its own, and ingest_json quarantines it with its reason, as it does an
-- element that is not an event (a "heartbeat" string, {"ping": true}). Nothing is dropped. A payload
-- delivered twice lands twice in bronze; the silver step keeps one row per event id. The source schema is
-- the setting citizen.source_schema.
CREATE OR REPLACE PROCEDURE citizen.step_ingest_events(
    p_run_id   bigint,
    p_run_date date
)
LANGUAGE plpgsql
SET search_path = citizen, pg_temp
AS $$
DECLARE
    v_schema  text := dwh_etl.get_setting('citizen.source_schema', 'citizen_src');
    v_run     dwh_etl.run_context := dwh_etl.get_run_context(p_run_id);
    v_feed    record;
    v_win     record;
    v_payload jsonb;
    v_odd     jsonb;
    v_batch   uuid;
    v_n       bigint;
BEGIN
    FOR v_feed IN
        SELECT f.feed, f.target
        FROM (VALUES ('query_logs', 'bronze.citizen_query_logs'),
                     ('content_events', 'bronze.citizen_content_events')) AS f (feed, target)
    LOOP
        -- the run date is a UTC day: its end caps the window
        v_batch := v_run.batch_id;
        v_win := dwh_etl.window_bounds(v_feed.target, (p_run_date + 1)::timestamp AT TIME ZONE 'UTC');
        -- in chunks of 20,000 elements, in arrival order: one jsonb value holds at most 256 MB, so a
        -- backlog (a catch-up after an outage) must not become one array
        v_n := 0;
        FOR v_payload IN EXECUTE format($q$
            WITH elems AS (
                SELECT e.elem, row_number() OVER (ORDER BY p._dwh_arrived_at, p.payload_id, e.n) AS rn
                FROM %I.analytics_payloads AS p
                CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(p.payload) = 'array' THEN p.payload
                                                             ELSE p.payload->'data' END) WITH ORDINALITY AS e (elem, n)
                WHERE p.feed = $1 AND p._dwh_arrived_at >= $2 AND p._dwh_arrived_at < $3
                  AND (jsonb_typeof(p.payload) = 'array'
                       OR (jsonb_typeof(p.payload) = 'object' AND jsonb_typeof(p.payload->'data') = 'array'))
            )
            SELECT jsonb_agg(x.elem ORDER BY x.rn)
            FROM elems AS x
            GROUP BY (x.rn - 1) / 20000
            ORDER BY (x.rn - 1) / 20000
            $q$, v_schema)
            USING v_feed.feed, v_win.from_ts, v_win.to_ts
        LOOP
            CALL dwh_etl.ingest_json(v_feed.target, v_payload, format('%s.analytics_payloads/%s', v_schema, v_feed.feed),
                                     v_batch, p_run_id);
            v_n := v_n + jsonb_array_length(v_payload);
        END LOOP;

        -- payloads of any other shape: each on its own, so ingest_json quarantines it whole with its reason
        FOR v_odd IN EXECUTE format($q$
            SELECT p.payload
            FROM %I.analytics_payloads AS p
            WHERE p.feed = $1 AND p._dwh_arrived_at >= $2 AND p._dwh_arrived_at < $3
              AND NOT (jsonb_typeof(p.payload) = 'array'
                       OR (jsonb_typeof(p.payload) = 'object' AND jsonb_typeof(p.payload->'data') = 'array'))
            ORDER BY p._dwh_arrived_at, p.payload_id
            $q$, v_schema)
            USING v_feed.feed, v_win.from_ts, v_win.to_ts
        LOOP
            CALL dwh_etl.ingest_json(v_feed.target, v_odd, format('%s.analytics_payloads/%s', v_schema, v_feed.feed),
                                     v_batch, p_run_id);
        END LOOP;

        CALL dwh_etl.set_watermark(v_feed.target, '_dwh_arrived_at', v_win.to_ts);
        RAISE NOTICE 'citizen: % element(s) of feed % landed in %', v_n, v_feed.feed, v_feed.target;
    END LOOP;
END;
$$;
COMMENT ON PROCEDURE citizen.step_ingest_events(bigint, date) IS 'Step: land the web-analytics payloads (query logs, content events) that arrived in citizen_src.analytics_payloads in bronze through dwh_etl.ingest_json; payloads and elements that are not events are quarantined.';
REVOKE EXECUTE ON PROCEDURE citizen.step_ingest_events(bigint, date) FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE citizen.step_ingest_events(bigint, date) TO etl_service;
