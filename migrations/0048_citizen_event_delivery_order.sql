-- depends: 0046_citus_reference_sales_dimensions
-- Attack 9a: the versions of one citizen event are ordered by their delivery, not by their event time.
-- The collector re-sends an event with its clock corrected (same id, an earlier occurred_at): silver
-- ordered versions by occurred_at (ts_column queried_at / used_at) and dropped the correction as an
-- older state, without a trace. delivered_at is when the version reached bronze (its _ingested_at):
-- the silver loads order and upsert by it (procedures/registry/citizen.sql), and list it in
-- unchanged_columns, so a replay of the same values changes nothing.
ALTER TABLE silver.citizen_query_logs ADD COLUMN delivered_at timestamptz;
UPDATE silver.citizen_query_logs SET delivered_at = _loaded_at WHERE delivered_at IS NULL;
ALTER TABLE silver.citizen_query_logs ALTER COLUMN delivered_at SET NOT NULL;
COMMENT ON COLUMN silver.citizen_query_logs.delivered_at IS 'When this version of the event reached bronze (its _ingested_at): the order of the versions of one query_id (a redelivery with a corrected, earlier occurred_at replaces the first).';

ALTER TABLE silver.citizen_content_events ADD COLUMN delivered_at timestamptz;
UPDATE silver.citizen_content_events SET delivered_at = _loaded_at WHERE delivered_at IS NULL;
ALTER TABLE silver.citizen_content_events ALTER COLUMN delivered_at SET NOT NULL;
COMMENT ON COLUMN silver.citizen_content_events.delivered_at IS 'When this version of the event reached bronze (its _ingested_at): the order of the versions of one usage_id (a redelivery with a corrected, earlier occurred_at replaces the first).';
