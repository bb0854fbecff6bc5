-- Takes the run lock (session-level advisory lock, the key dwh_etl.run_steps uses) of every pipeline
-- in p_pipelines for a restatement or rebuild, so no run of them starts meanwhile and none is running
-- now. When one is held by another session: the locks taken here are given back and DW002 names the
-- run holding it (like a concurrent run's refusal). Holds this session kept from an interrupted CALL
-- are given back first, so each lock is taken once. Release with dwh_etl._restate_unlock.
CREATE OR REPLACE FUNCTION dwh_etl._restate_lock(
    p_pipelines text[],
    p_what      text
)
RETURNS void
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_name   text;
    v_key    bigint;
    v_taken  text[] := '{}'::text[];
    v_n      integer;
    v_holder record;
BEGIN
    FOREACH v_name IN ARRAY p_pipelines LOOP
        v_key := dwh_etl._run_lock_key(v_name);
        v_n := 0;
        WHILE v_n < 100 AND dwh_etl._run_lock_held(v_name, pg_backend_pid())
        LOOP
            PERFORM pg_advisory_unlock(v_key);
            v_n := v_n + 1;
        END LOOP;
        IF NOT pg_try_advisory_lock(v_key) THEN
            PERFORM dwh_etl._restate_unlock(v_taken);
            SELECT pr.run_id, pr.started_at, pr.backend_pid, pr.parameters->>'mode' AS mode
            INTO v_holder
            FROM dwh_lineage.pipeline_runs AS pr
            WHERE pr.pipeline_name = v_name
              AND pr.status = 'running'
            ORDER BY pr.run_id DESC
            LIMIT 1;
            RAISE EXCEPTION 'pipeline % is already running: % refused', v_name, p_what
                USING ERRCODE = 'DW002',
                      DETAIL = format('run %s%s started at %s by backend %s', COALESCE(v_holder.run_id::text, '?'),
                                      COALESCE(' (' || v_holder.mode || ')', ''),
                                      COALESCE(v_holder.started_at::text, '?'), COALESCE(v_holder.backend_pid::text, '?')),
                      HINT = 'wait for it to finish (dwh status shows it), then try again';
        END IF;
        v_taken := v_taken || v_name;
    END LOOP;
END;
$$;
COMMENT ON FUNCTION dwh_etl._restate_lock(text[], text) IS 'Take the run locks of these pipelines for a restatement or rebuild, or raise DW002 naming the run that holds one.';
REVOKE EXECUTE ON FUNCTION dwh_etl._restate_lock(text[], text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl._restate_lock(text[], text) TO etl_service;
