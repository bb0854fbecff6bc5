-- One value of a change event's row image, made readable by the column's input function (called by
-- jsonb_populate_record in dwh_etl.ingest_cdc_events). Debezium encodes some types as numbers:
--   date                    io.debezium.time.Date: days since 1970-01-01 (any number into a date column)
--   timestamp, timestamptz  io.debezium.time.Timestamp / Kafka Timestamp: epoch milliseconds (the default
--                           for a number), MicroTimestamp: microseconds, NanoTimestamp: nanoseconds, as
--                           said by the field's schema when the event came in its envelope
--   numeric                 precise mode: base64 of the unscaled value (Kafka Decimal, scale in the
--                           field schema's parameters) or {"scale": s, "value": base64}
--                           (io.debezium.data.VariableScaleDecimal)
--   json, jsonb             io.debezium.data.Json: the document as a string, parsed (not JSON: raises, the
--                           caller quarantines); without the envelope's field schema a string stays a string
-- Timestamps are written out in UTC with their zone ('...Z'), so neither TimeZone nor DateStyle changes
-- them; a zone-less timestamp string is read by the caller in UTC. Dates and timestamps carry their era
-- (' AD' / ' BC'): 'YYYY' alone wrote 1 BC as 1 AD. A Decimal whose field type is bytes is always
-- decoded (base64 of a negative value may start with a digit); one without a field type only when it
-- does not read as a number. Everything else passes unchanged.
-- No SET search_path and no sub-select (only pg_catalog names and the qualified dwh_etl._cdc_decimal): so
-- it is inlined into the caller's query, called per value.
CREATE OR REPLACE FUNCTION dwh_etl._cdc_value(
    p_value jsonb,
    p_type  regtype,
    p_field jsonb
)
RETURNS jsonb
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT CASE
               WHEN p_value IS NULL OR jsonb_typeof(p_value) = 'null' THEN p_value
               WHEN p_type = 'date'::regtype AND jsonb_typeof(p_value) = 'number' AND p_value::text ~ '^-?[0-9]{1,7}$' THEN
                   to_jsonb(to_char(DATE '1970-01-01' + (p_value::text)::integer, 'YYYY-MM-DD AD'))
               WHEN p_type IN ('timestamptz'::regtype, 'timestamp'::regtype) AND jsonb_typeof(p_value) = 'number'
                    AND p_value::text ~ '^-?[0-9]{1,19}$' THEN
                   to_jsonb(to_char((TIMESTAMPTZ 'epoch'
                                     + trunc((p_value::text)::numeric
                                             * CASE p_field ->> 'name'
                                                   WHEN 'io.debezium.time.MicroTimestamp' THEN 1
                                                   WHEN 'io.debezium.time.NanoTimestamp' THEN 0.001
                                                   ELSE 1000 END)::bigint * INTERVAL '1 microsecond') AT TIME ZONE 'UTC',
                                    CASE WHEN p_type = 'timestamptz'::regtype THEN 'YYYY-MM-DD"T"HH24:MI:SS.US"Z" AD'
                                         ELSE 'YYYY-MM-DD"T"HH24:MI:SS.US AD' END))
               WHEN p_type = 'numeric'::regtype AND jsonb_typeof(p_value) = 'string'
                    AND p_field ->> 'name' = 'org.apache.kafka.connect.data.Decimal'
                    AND (p_field ->> 'type' = 'bytes' OR p_value #>> '{}' !~ '^\s*[-+]?([0-9]|\.[0-9]|NaN|Infinity)') THEN
                   to_jsonb(dwh_etl._cdc_decimal(p_value #>> '{}',
                                                 CASE WHEN p_field -> 'parameters' ->> 'scale' ~ '^[0-9]{1,4}$'
                                                      THEN (p_field -> 'parameters' ->> 'scale')::integer END))
               WHEN p_type = 'numeric'::regtype AND jsonb_typeof(p_value) = 'object'
                    AND jsonb_typeof(p_value -> 'value') = 'string' AND p_value ->> 'scale' ~ '^[0-9]{1,4}$' THEN
                   to_jsonb(dwh_etl._cdc_decimal(p_value ->> 'value', (p_value ->> 'scale')::integer))
               WHEN p_type IN ('json'::regtype, 'jsonb'::regtype) AND jsonb_typeof(p_value) = 'string'
                    AND p_field ->> 'name' = 'io.debezium.data.Json' THEN
                   (p_value #>> '{}')::jsonb
               ELSE p_value
           END;
$$;
COMMENT ON FUNCTION dwh_etl._cdc_value(jsonb, regtype, jsonb) IS 'A row image value of a Debezium event decoded for its column type (epoch-day dates, epoch milli/micro/nano timestamps, base64 decimals); other values unchanged.';
