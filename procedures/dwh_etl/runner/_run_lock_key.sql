-- The run lock of a pipeline: a session-level advisory lock on this key, taken by dwh_etl.run_steps for a
-- run, by dwh_etl._restate_lock for a restatement or rebuild, checked by dwh_etl.sec_cancel_run.
-- _run_lock_key: the key; _run_lock_held: whether backend p_pid holds it now (pg_locks shows a bigint
-- advisory lock as classid = its high 32 bits, objid = its low 32 bits, objsubid = 1).
CREATE OR REPLACE FUNCTION dwh_etl._run_lock_key(p_pipeline text)
RETURNS bigint
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT pg_catalog.hashtextextended('dwh_etl.run_pipeline:' || p_pipeline, 0);
$$;
COMMENT ON FUNCTION dwh_etl._run_lock_key(text) IS 'The advisory lock key of a pipeline''s run lock.';
REVOKE EXECUTE ON FUNCTION dwh_etl._run_lock_key(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl._run_lock_key(text) TO etl_service;
