-- Lands the API payloads of one feed that arrived in the source's inbox (devflow_src.api_payloads) in
-- the window [watermark, safe upper bound) on received_at: their elements, in arrival order, go to the
-- bronze table through dwh_etl.ingest_json as one batch. Returns the number of elements landed.
CREATE OR REPLACE FUNCTION devflow._ingest_feed(
    p_feed     text,
    p_target   text,
    p_source   text,
    p_run_date date
)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = devflow, pg_temp
AS $$
DECLARE
    v_schema  text := dwh_etl.get_setting('devflow.source_schema', 'devflow_src');
    v_win     record := dwh_etl.window_bounds(p_target, (p_run_date + 1)::timestamptz);
    v_payload jsonb;
    v_batch   uuid := (dwh_lineage._current_run()).batch_id;
BEGIN
    EXECUTE format($q$
        SELECT jsonb_agg(e.elem ORDER BY p.received_at, p.payload_id, e.n)
        FROM %I.api_payloads AS p
        CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(p.payload) = 'array' THEN p.payload
                                                     ELSE p.payload->'data' END) WITH ORDINALITY AS e (elem, n)
        WHERE p.feed = $1 AND p.received_at >= $2 AND p.received_at < $3
        $q$, v_schema)
    INTO v_payload
    USING p_feed, v_win.from_ts, v_win.to_ts;
    IF v_payload IS NOT NULL THEN
        CALL dwh_etl.ingest_json(p_target, v_payload, p_source, v_batch);
    ELSE
        PERFORM dwh_lineage.log_ingestion(p_target, NULL, p_source, 0);
    END IF;
    CALL dwh_etl.set_watermark(p_target, 'received_at', v_win.to_ts);
    RETURN COALESCE(jsonb_array_length(v_payload), 0);
END;
$$;
COMMENT ON FUNCTION devflow._ingest_feed(text, text, text, date) IS 'Land the new payloads of one API feed of the inbox in bronze via dwh_etl.ingest_json.';
