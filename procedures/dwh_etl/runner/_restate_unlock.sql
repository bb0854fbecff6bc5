-- Gives back the run locks dwh_etl._restate_lock took.
CREATE OR REPLACE FUNCTION dwh_etl._restate_unlock(p_pipelines text[])
RETURNS void
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
BEGIN
    PERFORM pg_advisory_unlock(dwh_etl._run_lock_key(n))
    FROM unnest(p_pipelines) AS n;
END;
$$;
COMMENT ON FUNCTION dwh_etl._restate_unlock(text[]) IS 'Release the run locks of these pipelines taken by dwh_etl._restate_lock.';
REVOKE EXECUTE ON FUNCTION dwh_etl._restate_unlock(text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl._restate_unlock(text[]) TO etl_service;
