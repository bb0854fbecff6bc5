-- The run lock of a pipeline: a session-level advisory lock on this key, taken by dwh_etl.run_steps for a
-- run, by dwh_etl._restate_lock for a restatement or rebuild, checked by dwh_etl.sec_cancel_run.
-- _run_lock_key: the key; _run_lock_held: whether backend p_pid holds it now (pg_locks shows a bigint
-- advisory lock as classid = its high 32 bits, objid = its low 32 bits, objsubid = 1).
CREATE OR REPLACE FUNCTION dwh_etl._run_lock_held(p_pipeline text, p_pid integer)
RETURNS boolean
LANGUAGE sql
STABLE
AS $$
    SELECT EXISTS (
        SELECT 1
        FROM pg_catalog.pg_locks AS l
        CROSS JOIN (SELECT dwh_etl._run_lock_key(p_pipeline) AS k) AS x
        WHERE l.locktype = 'advisory'
          AND l.pid = p_pid
          AND l.granted
          AND l.objsubid = 1
          AND l.classid = ((x.k >> 32) & 4294967295)::bigint::oid
          AND l.objid = (x.k & 4294967295)::bigint::oid);
$$;
COMMENT ON FUNCTION dwh_etl._run_lock_held(text, integer) IS 'Whether backend p_pid holds the run lock of pipeline p_pipeline now.';
REVOKE EXECUTE ON FUNCTION dwh_etl._run_lock_held(text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl._run_lock_held(text, integer) TO etl_service;
