-- Seed 002's ingest_cdc_event: one change event (Debezium envelope or bare payload), landed and applied
-- exactly as a batch of one by dwh_etl.ingest_cdc_events (see there: order, deduplication, quarantine).
--   SELECT * FROM dwh_etl.ingest_cdc_event('{"op": "d", "before": {"customer_id": 7},
--            "source": {"table": "customers", "lsn": "0/16B3748", "ts_ms": 1735725600000}}', 'sales_src');
-- Many events: send them together to ingest_cdc_events (one set-based apply instead of one per event).
CREATE OR REPLACE FUNCTION dwh_etl.ingest_cdc_event(
    p_event    jsonb,
    p_into     text,
    p_source   text DEFAULT 'cdc',
    p_batch_id uuid DEFAULT NULL
)
RETURNS TABLE (
    batch_id    uuid,
    events      bigint,
    applied     bigint,
    stale       bigint,
    duplicate   bigint,
    quarantined bigint
)
LANGUAGE sql
SET search_path = dwh_etl, pg_temp
AS $$
    SELECT * FROM dwh_etl.ingest_cdc_events(jsonb_build_array(p_event), p_into, p_source, p_batch_id);
$$;
COMMENT ON FUNCTION dwh_etl.ingest_cdc_event(jsonb, text, text, uuid) IS 'Land and apply one change event (a batch of one of dwh_etl.ingest_cdc_events); returns the batch id and the counts applied / stale / duplicate / quarantined.';
REVOKE ALL ON FUNCTION dwh_etl.ingest_cdc_event(jsonb, text, text, uuid) FROM PUBLIC;
REVOKE ALL ON FUNCTION dwh_etl.ingest_cdc_event(jsonb, text, text, uuid) FROM analyst_role;
GRANT EXECUTE ON FUNCTION dwh_etl.ingest_cdc_event(jsonb, text, text, uuid) TO etl_service;
