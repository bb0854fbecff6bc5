-- Lands the API payloads of one feed that arrived in the source's inbox (devflow_src.api_payloads) in
-- the window [watermark, safe upper bound) on received_at: their elements, in arrival order, go to the
-- bronze table through dwh_etl.ingest_json as one batch. Returns the number of elements landed.
--
-- Payload shapes (issue 9: one payload of the wrong shape used to fail the ingest and block every good
-- payload of the window; a single object was consumed with no trace):
--   [obj, ...]              each element that is a JSON object lands; any other element (a number, a
--                           string, a nested array, null) is quarantined with its position and type
--   {"data": [obj, ...]}    the same for the elements of "data"
--   {"data": <not array>}   the payload is quarantined ("data" is a JSON object, not an array)
--   {...} without "data"    a single element: lands as a one-element array (GitHub returns one pull
--                           request as an object; an error body such as {"message": ...} lands too and
--                           silver quarantines it for its missing keys, so it is never silently lost)
--   a string, number, null  the payload is quarantined
-- Quarantined payloads and elements go to dwh_etl.quarantine (target = the bronze table, source =
-- <source schema>.api_payloads, record key payload_id or payload_id[n], the payload or element whole),
-- reasons quoting at most 200 characters. The watermark moves past them: they are not re-read.
DROP FUNCTION IF EXISTS devflow._ingest_feed(text, text, text, date);
CREATE OR REPLACE FUNCTION devflow._ingest_feed(
    p_feed     text,
    p_target   text,
    p_source   text,
    p_run_date date,
    p_run_id   bigint DEFAULT NULL
)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = devflow, pg_temp
AS $$
DECLARE
    v_schema  text := dwh_etl.get_setting('devflow.source_schema', 'devflow_src');
    -- the run date is a UTC day: (p_run_date + 1)::timestamptz followed the session's TimeZone
    v_win     record := dwh_etl.window_bounds(p_target, (p_run_date + 1)::timestamp AT TIME ZONE 'UTC');
    v_payload jsonb;
    v_run     dwh_etl.run_context := dwh_etl.get_run_context(p_run_id);
    v_batch   uuid := v_run.batch_id;
    v_bad     bigint;
BEGIN
    PERFORM 'PRAGMA:TABLE: _feed_elements (payload_id bigint, received_at timestamptz, source text, payload jsonb, n bigint, elem jsonb, reason text)';
    IF to_regclass('pg_temp._feed_elements') IS NOT NULL THEN DROP TABLE pg_temp._feed_elements; END IF;
    EXECUTE format($q$
        CREATE TEMP TABLE _feed_elements ON COMMIT DROP AS
        SELECT p.payload_id, p.received_at, p.source, p.payload, e.n, e.elem,
               CASE
                   WHEN s.payload_reason IS NOT NULL THEN s.payload_reason
                   WHEN jsonb_typeof(e.elem) <> 'object'
                       THEN format('element %%s of the payload is a JSON %%s, not an object: %%s',
                                   e.n, jsonb_typeof(e.elem), devflow._quote(e.elem::text))
               END AS reason
        FROM %I.api_payloads AS p
        CROSS JOIN LATERAL (
            SELECT CASE jsonb_typeof(p.payload)
                       WHEN 'array' THEN p.payload
                       WHEN 'object' THEN CASE WHEN NOT p.payload ? 'data' THEN jsonb_build_array(p.payload)
                                               WHEN jsonb_typeof(p.payload->'data') = 'array' THEN p.payload->'data' END
                   END AS elements,
                   CASE
                       WHEN jsonb_typeof(p.payload) NOT IN ('array', 'object')
                           THEN format('payload is a JSON %%s, not an array of objects: %%s', jsonb_typeof(p.payload), devflow._quote(p.payload::text))
                       WHEN jsonb_typeof(p.payload) = 'object' AND p.payload ? 'data' AND jsonb_typeof(p.payload->'data') <> 'array'
                           THEN format('"data" is a JSON %%s, not an array of objects: %%s', jsonb_typeof(p.payload->'data'), devflow._quote((p.payload->'data')::text))
                   END AS payload_reason
        ) AS s
        LEFT JOIN LATERAL jsonb_array_elements(s.elements) WITH ORDINALITY AS e (elem, n)
          ON true
        WHERE p.feed = $1 AND p.received_at >= $2 AND p.received_at < $3
          -- an empty array has nothing to land (and nothing wrong)
          AND (s.payload_reason IS NOT NULL OR e.n IS NOT NULL)
        $q$, v_schema)
    USING p_feed, v_win.from_ts, v_win.to_ts;

    -- One open entry per record: the record is the feed, the source and the rejected JSON; where and when
    -- it arrived (payload id, element position, receive time) are technical (_-prefixed), so the same
    -- payload delivered again (sent twice, a rewound watermark) counts a delivery on its open entry.
    -- record_key is the md5 of the rejected JSON (as dwh_etl.ingest_json does); the payload keeps where it
    -- arrived first.
    INSERT INTO dwh_etl.quarantine AS q (target_table, source_table, record_key, payload, reasons, run_id, batch_id, deliveries)
    SELECT DISTINCT ON (x.fp) x.target_table, x.source_table, x.record_key, x.payload, x.reasons, x.run_id, x.batch_id,
           count(*) OVER (PARTITION BY x.fp)
    FROM (SELECT p_target AS target_table, format('%I.api_payloads', v_schema) AS source_table,
                 md5(CASE WHEN f.n IS NULL THEN f.payload ELSE f.elem END::text) AS record_key,
                 jsonb_build_object('_payload_id', f.payload_id, 'feed', p_feed, 'source', f.source, '_received_at', f.received_at)
                 || CASE WHEN f.n IS NULL THEN jsonb_build_object('payload', f.payload)
                         ELSE jsonb_build_object('_element', f.n, 'value', f.elem) END AS payload,
                 ARRAY[f.reason] AS reasons, v_run.run_id, COALESCE(v_batch, gen_random_uuid()) AS batch_id,
                 f.received_at, f.payload_id, f.n
          FROM _feed_elements AS f
          WHERE f.reason IS NOT NULL) AS x0
    CROSS JOIN LATERAL (SELECT x0.*, dwh_etl.quarantine_fingerprint(x0.target_table, x0.record_key, x0.payload) AS fp) AS x
    ORDER BY x.fp, x.received_at, x.payload_id, x.n
    ON CONFLICT (fingerprint) WHERE resolved_at IS NULL DO UPDATE
    SET deliveries = q.deliveries + EXCLUDED.deliveries, last_delivered_at = now(),
        reasons = EXCLUDED.reasons, run_id = EXCLUDED.run_id, batch_id = EXCLUDED.batch_id;
    GET DIAGNOSTICS v_bad = ROW_COUNT;
    IF v_bad > 0 THEN
        RAISE NOTICE '% payload(s) or element(s) of feed % quarantined (dwh_etl.quarantine)', v_bad, p_feed;
    END IF;

    SELECT jsonb_agg(f.elem ORDER BY f.received_at, f.payload_id, f.n)
    INTO v_payload
    FROM _feed_elements AS f
    WHERE f.reason IS NULL;
    IF v_payload IS NOT NULL THEN
        CALL dwh_etl.ingest_json(p_target, v_payload, p_source, v_batch, p_run_id);
    ELSE
        PERFORM dwh_lineage.log_ingestion(p_target, NULL, p_source, 0, in_run_id => p_run_id);
    END IF;
    CALL dwh_etl.set_watermark(p_target, 'received_at', v_win.to_ts);
    DROP TABLE _feed_elements;
    RETURN COALESCE(jsonb_array_length(v_payload), 0);
END;
$$;
COMMENT ON FUNCTION devflow._ingest_feed(text, text, text, date, bigint) IS 'Land the new payloads of one API feed of the inbox in bronze via dwh_etl.ingest_json; payloads and elements of the wrong shape go to dwh_etl.quarantine.';
