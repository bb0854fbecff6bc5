-- Debezium's ts_ms fields (payload.ts_ms, payload.source.ts_ms) are epoch milliseconds: an instant,
-- whatever the session's TimeZone. Not an integral number (or out of range): NULL.
-- No SET search_path (only pg_catalog names): so it is inlined into the caller's query, called per event.
CREATE OR REPLACE FUNCTION dwh_etl._cdc_epoch_ms(
    p_ms jsonb
)
RETURNS timestamptz
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT CASE WHEN jsonb_typeof(p_ms) IN ('number', 'string') AND p_ms #>> '{}' ~ '^-?[0-9]{1,15}$'
                THEN TIMESTAMPTZ 'epoch' + (p_ms #>> '{}')::bigint * INTERVAL '1 millisecond' END;
$$;
COMMENT ON FUNCTION dwh_etl._cdc_epoch_ms(jsonb) IS 'Epoch milliseconds (a JSON number or digits) as timestamptz, independent of TimeZone; NULL when not an integral number of at most 15 digits.';
