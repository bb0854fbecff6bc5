-- depends: 0012_runner_robustness
-- Change events (CDC, issue 13; seed 002 names ingest_cdc_event).
--
-- Debezium-shaped change events are landed raw in bronze.cdc_events, one row per delivery, then applied
-- to the warehouse's mirror of the operational source (the area's source schema, e.g. sales_src) by
-- dwh_etl.ingest_cdc_events (procedures/dwh_etl/ingest_cdc_events.sql; its writes to the mirror go
-- through the SECURITY DEFINER dwh_etl.sec_cdc_apply). From there the area's normal
-- pipeline (extract by arrival -> bronze -> silver -> gold) carries the changes on.
--
-- dwh_etl.cdc_key_state keeps, per target table and key, the position of the last change applied,
-- deletes included: a change delivered late that is older than it is stale and never resurrects a
-- deleted row or overwrites a newer state.

CREATE TABLE bronze.cdc_events (
    cdc_event_id    bigint GENERATED ALWAYS AS IDENTITY,
    batch_id        uuid NOT NULL,
    event_no        integer NOT NULL,
    received_at     timestamptz NOT NULL DEFAULT now(),
    source          text NOT NULL,
    into_schema     text NOT NULL,
    source_schema   text,
    source_table    text,
    op              text,
    record_key      jsonb,
    lsn             pg_lsn,
    source_ts       timestamptz,
    event_ts        timestamptz,
    tx_id           text,
    fingerprint     text NOT NULL,
    status          text NOT NULL,
    reasons         text[],
    event           jsonb NOT NULL,
    CONSTRAINT cdc_events_pk PRIMARY KEY (cdc_event_id),
    CONSTRAINT cdc_events_batch_event_uq UNIQUE (batch_id, event_no),
    CONSTRAINT cdc_events_status_ck CHECK (status IN ('applied', 'stale', 'duplicate', 'quarantined')),
    CONSTRAINT cdc_events_reasons_ck CHECK ((status = 'quarantined') = (COALESCE(cardinality(reasons), 0) > 0))
);
-- An event is recorded (applied or judged stale) once: any further delivery is a duplicate.
CREATE UNIQUE INDEX cdc_events_recorded_uq ON bronze.cdc_events (fingerprint) WHERE status IN ('applied', 'stale');
CREATE INDEX cdc_events_received_at_idx ON bronze.cdc_events (received_at);
COMMENT ON TABLE bronze.cdc_events IS 'Change events (Debezium envelope or bare payload) as delivered to dwh_etl.ingest_cdc_events: append-only, one row per delivery, with what became of it (status). Landed and applied by SELECT * FROM dwh_etl.ingest_cdc_events(events, ''sales_src'').';
COMMENT ON COLUMN bronze.cdc_events.batch_id IS 'One per call of dwh_etl.ingest_cdc_events (the run''s batch inside a pipeline run).';
COMMENT ON COLUMN bronze.cdc_events.event_no IS 'Position of the event in its batch, from 1: the last tie-breaker of the apply order.';
COMMENT ON COLUMN bronze.cdc_events.source IS 'Who delivered the batch (p_source, e.g. the connector or file name).';
COMMENT ON COLUMN bronze.cdc_events.into_schema IS 'The warehouse schema the batch was applied to (p_into): the event''s source.table names a table of it.';
COMMENT ON COLUMN bronze.cdc_events.source_schema IS 'payload.source.schema as received (recorded, not used to route: p_into decides).';
COMMENT ON COLUMN bronze.cdc_events.source_table IS 'payload.source.table: the table of into_schema the change applies to.';
COMMENT ON COLUMN bronze.cdc_events.op IS 'payload.op: c create, u update, d delete, r snapshot read (t truncate and others are quarantined).';
COMMENT ON COLUMN bronze.cdc_events.record_key IS 'Primary key of the changed row as a JSON object of typed values (from the after image, the before image for d).';
COMMENT ON COLUMN bronze.cdc_events.lsn IS 'payload.source.lsn (a number or an X/Y string) as pg_lsn: the order changes of one key are applied in.';
COMMENT ON COLUMN bronze.cdc_events.source_ts IS 'payload.source.ts_ms (epoch milliseconds): when the change was committed at the source. Second key of the apply order.';
COMMENT ON COLUMN bronze.cdc_events.event_ts IS 'payload.ts_ms (epoch milliseconds): when the connector processed the event (differs between redeliveries).';
COMMENT ON COLUMN bronze.cdc_events.tx_id IS 'payload.source.txId as text (recorded, not used for ordering).';
COMMENT ON COLUMN bronze.cdc_events.fingerprint IS 'Identity of the change: md5 of target table, key, lsn, op and row image (of the event without its ts_ms when it has no usable key). Deliveries of one fingerprint are one change.';
COMMENT ON COLUMN bronze.cdc_events.status IS 'applied: written to the target; stale: a newer change of its key was (or is being) applied instead; duplicate: this change was already recorded (earlier in the batch or in an earlier batch); quarantined: rejected, see reasons and dwh_etl.quarantine.';
COMMENT ON COLUMN bronze.cdc_events.reasons IS 'Why a quarantined event was rejected (NULL otherwise).';
COMMENT ON COLUMN bronze.cdc_events.event IS 'The event exactly as received (envelope with schema, or the bare payload).';

CREATE TABLE dwh_etl.cdc_key_state (
    target_table    text NOT NULL,
    record_key      jsonb NOT NULL,
    lsn             pg_lsn NOT NULL,
    source_ts       timestamptz,
    op              text NOT NULL,
    batch_id        uuid NOT NULL,
    event_no        integer NOT NULL,
    applied_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT cdc_key_state_pk PRIMARY KEY (target_table, record_key),
    CONSTRAINT cdc_key_state_op_ck CHECK (op IN ('c', 'u', 'd', 'r'))
);
COMMENT ON TABLE dwh_etl.cdc_key_state IS 'Per target table and key, the last change dwh_etl.ingest_cdc_events applied (deletes included): a later delivery applies only when its (lsn, source_ts) is at least this one''s.';
COMMENT ON COLUMN dwh_etl.cdc_key_state.target_table IS 'Qualified name of the mirror table, e.g. sales_src.customers.';
COMMENT ON COLUMN dwh_etl.cdc_key_state.record_key IS 'Primary key as a JSON object of typed values (bronze.cdc_events.record_key).';
COMMENT ON COLUMN dwh_etl.cdc_key_state.op IS 'Op of the last applied change: d means the key is deleted in the mirror.';
COMMENT ON COLUMN dwh_etl.cdc_key_state.batch_id IS 'With event_no: the bronze.cdc_events delivery that was applied.';
-- Run state (like dwh_etl.watermarks): etl_service runs the ingestion, which writes it. The mirror
-- tables themselves stay read-only for etl_service: dwh_etl.sec_cdc_apply writes them.
GRANT SELECT, INSERT, UPDATE, DELETE ON dwh_etl.cdc_key_state TO etl_service;

INSERT INTO dwh_etl.table_registry (table_name, layer, area, description) VALUES
    ('bronze.cdc_events', 'bronze', 'engine', 'change events as delivered (dwh_etl.ingest_cdc_events)')
ON CONFLICT (table_name) DO NOTHING;

-- The mirror's own change-time column: sales_src stamps updated_at with now() on every UPDATE (trigger
-- *_touch_updated_at) and its tombstones with now() (trigger *_record_delete). If CDC inserts kept the
-- source's updated_at, a row deleted in one batch and re-inserted in a later one would carry a change
-- time older than its tombstone, and silver would keep it deleted. So CDC leaves updated_at to the
-- mirror (its DEFAULT now() on insert, the trigger on update): all change times of the mirror are
-- times of arrival, in the order the changes were applied.
INSERT INTO dwh_etl.settings (key, value, description) VALUES
    ('cdc.local_columns.sales_src', 'updated_at',
     'Comma-separated columns of the sales_src tables that dwh_etl.ingest_cdc_events never writes: the mirror fills them itself (DEFAULT on insert, triggers on update). Columns starting with _ are always left alone.')
ON CONFLICT (key) DO NOTHING;
