CREATE OR REPLACE PROCEDURE dwh_etl.register_pipeline(
    p_pipeline    text,
    p_description text DEFAULT NULL,
    p_schedules   text[] DEFAULT '{}'
)
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
BEGIN
    INSERT INTO dwh_etl.pipelines (pipeline_name, description, schedules)
    VALUES (p_pipeline, p_description, COALESCE(p_schedules, '{}'))
    ON CONFLICT (pipeline_name) DO UPDATE
    SET description = EXCLUDED.description,
        schedules   = EXCLUDED.schedules;
END;
$$;
COMMENT ON PROCEDURE dwh_etl.register_pipeline(text, text, text[]) IS 'Create or update a pipeline in the registry (idempotent).';
-- The registry is code: only the owner changes it (issue 9: etl_service could write what the pipeline
-- executes). Routines of dwh_etl are granted to etl_service by default: not this one.
REVOKE EXECUTE ON PROCEDURE dwh_etl.register_pipeline(text, text, text[]) FROM etl_service, PUBLIC;
