-- The position of a change event: Debezium's PostgreSQL connector gives source.lsn as a number (the
-- 64-bit WAL position); other producers write the pg_lsn text form 'X/Y'. Both (and a number sent as a
-- string of digits) become pg_lsn, which orders correctly; anything else (negative, fractional, above
-- 2^64 - 1, another shape) is NULL and the event is quarantined by the caller.
-- No SET search_path (only pg_catalog names): so it is inlined into the caller's query, called per event.
CREATE OR REPLACE FUNCTION dwh_etl._cdc_lsn(
    p_lsn jsonb
)
RETURNS pg_lsn
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT CASE
               WHEN jsonb_typeof(p_lsn) NOT IN ('number', 'string') THEN NULL
               WHEN p_lsn #>> '{}' ~ '^[0-9]{1,20}$' THEN
                   CASE WHEN (p_lsn #>> '{}')::numeric <= 18446744073709551615
                        THEN '0/0'::pg_lsn + (p_lsn #>> '{}')::numeric END
               WHEN jsonb_typeof(p_lsn) = 'string' AND p_lsn #>> '{}' ~ '^[0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8}$' THEN
                   (p_lsn #>> '{}')::pg_lsn
           END;
$$;
COMMENT ON FUNCTION dwh_etl._cdc_lsn(jsonb) IS 'source.lsn of a change event (number, digits, or X/Y text) as pg_lsn; NULL when it is none of these.';
