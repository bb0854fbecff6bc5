-- The queues a fact step's spec names in affected_queue ({table, column} or an array of them), as an
-- array of those objects ([] when there is none): dwh_etl.step_fact fills them, the restatement
-- (dwh_etl._restate_apply) and retention (dwh_etl.op_retention) queue what they remove from the fact.
CREATE OR REPLACE FUNCTION dwh_etl._affected_queues(
    p_spec jsonb
)
RETURNS jsonb
LANGUAGE sql
IMMUTABLE
SET search_path = dwh_etl, pg_temp
AS $$
    SELECT CASE jsonb_typeof(p_spec->'affected_queue')
               WHEN 'array' THEN p_spec->'affected_queue'
               WHEN 'object' THEN jsonb_build_array(p_spec->'affected_queue')
               ELSE '[]'::jsonb END;
$$;
COMMENT ON FUNCTION dwh_etl._affected_queues(jsonb) IS 'The affected_queue entries of a fact step spec as a JSON array ({table, column} objects; [] when none).';
