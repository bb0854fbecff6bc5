-- Why the runner may leave a step out of this run, or NULL when it must call it (issue 15: a no-op run
-- under a second; per-run cost following the delta). A step is left out when nothing it reads moved
-- since its last success.
-- A silver step (kind silver): its last attempt succeeded, its spec is valid, and no row of any load's
-- source or tombstone table has _ingested_at at or past that load's watermark, i.e. its window is empty (the check reads what the load would read, whoever
-- wrote bronze). Any other step:
--   * every table it declares as a source (dwh_etl.steps.source_tables) is a silver, gold or mart table
--     of the registry that some step writes: writes to those go through the steps, which log them in
--     dwh_lineage.table_lineage. A step reading anything else (a source or bronze table, which loads,
--     CDC and file landing also write; engine tables; undeclared inputs: no source at all) always runs;
--   * its last attempt succeeded, in a run for the same run date, started today (UTC): steps read the run
--     date and the clock (event-time bounds, days since the last purchase, ...);
--   * neither that run nor this one had a load window held back by an open transaction (pipeline_runs
--     metrics window_held_back_by at the start, windows_held_back by a step: dwh_etl.window_bounds), as
--     a window held back left rows for later: the step must look again;
--   * no lineage row shows a row inserted, updated or deleted in one of its sources that the step's last
--     success may not have seen: written in this run, later in that run, or by another run (the other
--     pipeline, a restatement) that had not finished when it started; writes logged outside any run
--     count when logged after it started. Lineage older than a day before it is taken as seen.
-- Off with the setting runner.skip_unchanged = off. Only full runs ask (dwh_etl.run_steps): a selection,
-- a retry, a restatement or a rebuild always calls its steps.
CREATE OR REPLACE FUNCTION dwh_etl._step_unchanged(
    p_run_id    bigint,
    p_step_name text
)
RETURNS text
LANGUAGE plpgsql
STABLE
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_run    record;
    v_step   record;
    v_last   record;
    v_moved  text;
    v_load   jsonb;
    v_wm     timestamptz;
    v_rel    regclass;
    v_new    boolean;
BEGIN
    IF lower(dwh_etl.get_setting('runner.skip_unchanged', 'on')) NOT IN ('on', 'true', 'yes', '1') THEN
        RETURN NULL;
    END IF;
    SELECT pr.run_id, pr.pipeline_name, pr.run_date, pr.metrics INTO v_run
    FROM dwh_lineage.pipeline_runs AS pr
    WHERE pr.run_id = p_run_id;
    IF NOT FOUND OR COALESCE(v_run.metrics ?| ARRAY['window_held_back_by', 'windows_held_back'], false) THEN
        RETURN NULL;
    END IF;
    SELECT s.source_tables, s.target_tables, s.kind, s.spec INTO v_step
    FROM dwh_etl.steps AS s
    WHERE s.pipeline_name = v_run.pipeline_name
      AND s.step_name = p_step_name;
    IF NOT FOUND OR cardinality(v_step.source_tables) = 0 THEN
        RETURN NULL;
    END IF;
    -- a table of the step is missing (renamed, dropped): the step runs and fails with its own error
    IF EXISTS (SELECT 1 FROM unnest(v_step.source_tables || v_step.target_tables) AS t (table_name)
               WHERE to_regclass(t.table_name) IS NULL) THEN
        RETURN NULL;
    END IF;

    IF v_step.kind = 'silver' THEN
        -- never before its first success, nor after a failure, nor with a spec the step would refuse
        -- (a newly registered or changed load runs, and fails clearly when it is wrong)
        IF NOT EXISTS (SELECT 1 FROM (SELECT sr.status FROM dwh_lineage.step_runs AS sr
                                      WHERE sr.step_name = p_step_name AND sr.run_id <> p_run_id
                                        AND sr.status IN ('completed', 'failed', 'cancelled')
                                      ORDER BY sr.started_at DESC LIMIT 1) AS l
                       WHERE l.status = 'completed') THEN
            RETURN NULL;
        END IF;
        -- A silver load reads exactly the rows of its source (and of its tombstone table) in the window
        -- [its watermark, now) on _ingested_at (dwh_etl._load_silver): none there, it would write nothing
        -- but its watermark and lineage. Whoever wrote bronze (extract, file landing, CDC, a quarantine
        -- retry, a DBA), the rows are there to see; rows held back by an open transaction are too.
        FOR v_load IN
            SELECT (v_step.spec - 'loads') || e
            FROM jsonb_array_elements(CASE WHEN v_step.spec ? 'loads' THEN v_step.spec->'loads'
                                           ELSE jsonb_build_array(v_step.spec) END) AS e
        LOOP
            IF dwh_etl._silver_spec_problem(v_load) IS NOT NULL THEN
                RETURN NULL;
            END IF;
            v_wm := dwh_etl.get_watermark(v_load->>'target');
            FOR v_rel IN
                SELECT to_regclass(t) FROM unnest(ARRAY[COALESCE(v_load->>'source', v_load->>'bronze'),
                                                        v_load#>>'{tombstones,table}']) AS t
                WHERE t IS NOT NULL
            LOOP
                IF v_rel IS NULL OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute AS a
                                                WHERE a.attrelid = v_rel AND a.attname = '_ingested_at'
                                                  AND a.attnum > 0 AND NOT a.attisdropped) THEN
                    RETURN NULL;
                END IF;
                EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s WHERE _ingested_at >= $1)', v_rel)
                INTO v_new USING v_wm;
                IF v_new THEN
                    RETURN NULL;
                END IF;
            END LOOP;
        END LOOP;
        RETURN format('unchanged: no row of its sources arrived since its watermark (%s)',
                      array_to_string(v_step.source_tables, ', '));
    END IF;
    IF EXISTS (SELECT 1
               FROM unnest(v_step.source_tables) AS src (table_name)
               WHERE NOT EXISTS (SELECT 1 FROM dwh_etl.table_registry AS tr
                                 WHERE tr.table_name = src.table_name
                                   AND tr.layer IN ('silver', 'gold', 'mart'))
                  OR NOT EXISTS (SELECT 1 FROM dwh_etl.steps AS w
                                 WHERE src.table_name = ANY (w.target_tables))) THEN
        RETURN NULL;
    END IF;

    -- its last attempt (any pipeline: shared steps), which must be a success
    SELECT sr.run_id, sr.status, sr.started_at, pr.run_date, pr.metrics INTO v_last
    FROM dwh_lineage.step_runs AS sr
    JOIN dwh_lineage.pipeline_runs AS pr
      ON pr.run_id = sr.run_id
    WHERE sr.step_name = p_step_name
      AND sr.run_id <> p_run_id
      AND sr.status IN ('completed', 'failed', 'cancelled')
    ORDER BY sr.started_at DESC
    LIMIT 1;
    IF NOT FOUND OR v_last.status <> 'completed'
       OR v_last.run_date IS DISTINCT FROM v_run.run_date
       OR COALESCE(v_last.metrics ?| ARRAY['window_held_back_by', 'windows_held_back'], false)
       OR (v_last.started_at AT TIME ZONE 'UTC')::date <> (now() AT TIME ZONE 'UTC')::date THEN
        RETURN NULL;
    END IF;

    SELECT string_agg(DISTINCT tl.target_table, ', ') INTO v_moved
    FROM unnest(v_step.source_tables) AS src (table_name)
    JOIN dwh_lineage.table_lineage AS tl
      ON tl.target_table = src.table_name
     AND tl.completed_at >= v_last.started_at - interval '1 day'
    LEFT JOIN dwh_lineage.pipeline_runs AS wr
      ON wr.run_id = tl.run_id
    WHERE COALESCE(tl.rows_inserted, 0) + COALESCE(tl.rows_updated, 0) + COALESCE(tl.rows_deleted, 0) > 0
      AND (tl.run_id = p_run_id
           OR tl.completed_at >= v_last.started_at
           OR (tl.run_id IS DISTINCT FROM v_last.run_id AND tl.run_id IS NOT NULL
               AND (wr.completed_at IS NULL OR wr.completed_at >= v_last.started_at)));
    IF v_moved IS NOT NULL THEN
        RETURN NULL;
    END IF;
    RETURN format('unchanged: nothing it reads (%s) was written since its last success (run %s)',
                  array_to_string(v_step.source_tables, ', '), v_last.run_id);
END;
$$;
COMMENT ON FUNCTION dwh_etl._step_unchanged(bigint, text) IS 'Why run p_run_id may leave step p_step_name out (none of its silver/gold/mart sources was written since its last success, same run date, same day), or NULL: run it. Setting runner.skip_unchanged = off disables it.';
REVOKE EXECUTE ON FUNCTION dwh_etl._step_unchanged(bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl._step_unchanged(bigint, text) TO etl_service;
