-- A value as a reason quotes it: quote_literal, NULL as NULL, and at most p_max characters of it
-- (then an ellipsis and the original length). Why: a 10 MB value was copied whole into the quarantine
-- reason (the raw row is in the quarantine payload anyway).
CREATE OR REPLACE FUNCTION dwh_etl.quote_value(
    p_value text,
    p_max   integer DEFAULT 200
)
RETURNS text
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
-- No SET clause: it would stop the planner from inlining this into set-based loads (names are qualified).
AS $$
    SELECT CASE WHEN p_value IS NULL THEN 'NULL'
                WHEN length(p_value) <= p_max THEN quote_literal(p_value)
                ELSE quote_literal(left(p_value, p_max) || '…') || format(' (%s characters)', length(p_value))
           END;
$$;
COMMENT ON FUNCTION dwh_etl.quote_value(text, integer) IS 'p_value quoted for a reason: NULL, or quote_literal of at most p_max (200) characters, longer values cut with an ellipsis and their length.';
