-- Seed 002: start a pipeline run, return its batch id.
CREATE OR REPLACE FUNCTION dwh_lineage.start_pipeline(
    in_pipeline_name text,
    in_parameters    jsonb DEFAULT '{}'
)
RETURNS uuid
LANGUAGE plpgsql
SET search_path = dwh_lineage, pg_temp
AS $$
DECLARE
    l_batch_id uuid := gen_random_uuid();
BEGIN
    INSERT INTO dwh_lineage.pipeline_runs (batch_id, pipeline_name, parameters)
    VALUES (l_batch_id, in_pipeline_name, COALESCE(in_parameters, '{}'));
    RETURN l_batch_id;
END;
$$;
COMMENT ON FUNCTION dwh_lineage.start_pipeline(text, jsonb) IS 'Record the start of a pipeline run (seed 002); returns its batch id. dwh_etl.run_pipeline uses the same table.';
