-- One line naming the failed error rules of a result array, for errors and status.
CREATE OR REPLACE FUNCTION dwh_etl.quality_gate_message(p_results jsonb)
RETURNS text
LANGUAGE sql
IMMUTABLE
SET search_path = dwh_etl, pg_temp
AS $$
    SELECT 'quality gate failed: ' || string_agg(format('%s (%s failing of %s)', r->>'rule_name', r->>'failing', r->>'rows_checked'), ', ' ORDER BY r->>'rule_name')
    FROM jsonb_array_elements(p_results) AS r
    WHERE NOT (r->>'passed')::boolean
      AND r->>'severity' = 'error';
$$;
COMMENT ON FUNCTION dwh_etl.quality_gate_message(jsonb) IS 'Message listing the failed error-severity rules of quality results.';
