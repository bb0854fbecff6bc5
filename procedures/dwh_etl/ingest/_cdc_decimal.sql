-- Debezium's default decimal.handling.mode=precise sends a numeric as the base64 of its unscaled value
-- (big-endian two's complement bytes), the scale in the field's schema (parameters.scale) or, for
-- io.debezium.data.VariableScaleDecimal, next to it. Invalid base64 raises (the caller quarantines).
CREATE OR REPLACE FUNCTION dwh_etl._cdc_decimal(
    p_base64 text,
    p_scale  integer
)
RETURNS numeric
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
SET search_path = dwh_etl, pg_temp
AS $$
    SELECT (sum(get_byte(x.b, i.i)::numeric * 256::numeric ^ (length(x.b) - 1 - i.i))
            - CASE WHEN get_byte(x.b, 0) >= 128 THEN 256::numeric ^ length(x.b) ELSE 0 END)
           / 10::numeric ^ COALESCE(p_scale, 0)
    FROM (SELECT decode(p_base64, 'base64') AS b) AS x
    CROSS JOIN LATERAL generate_series(0, length(x.b) - 1) AS i (i)
    GROUP BY x.b;
$$;
COMMENT ON FUNCTION dwh_etl._cdc_decimal(text, integer) IS 'Numeric from Debezium''s precise decimal encoding: base64 big-endian two''s complement unscaled value and its scale.';
