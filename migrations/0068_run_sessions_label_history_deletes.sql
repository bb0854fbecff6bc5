-- depends: 0067_mart_refresh_setting
-- Review 13 of the watermark guard (0066): etl_service moves a watermark while its backend has a run
-- recorded 'running' (dwh_lineage.pipeline_runs.backend_pid). But the run records did not hold that
-- column: etl_service could UPDATE a running run of another session (the scheduled daily) to its own
-- pid, then move watermarks under that run's name (and the daily's next step was refused its own
-- watermark, failing the run), or INSERT a running run for another backend's pid. And a run left
-- 'running' by a session that ended (a crash, a killed psql) lent its rights to whichever later session
-- was given the same pid. Now, for a role that does not own the table:
-- - pipeline_runs INSERT of a running run only with this session's backend_pid (the column's default,
--   as every engine path records it); UPDATE never changes a run's backend_pid, run_id, pipeline_name
--   or started_at (trigger run_record_guard, now also BEFORE INSERT);
-- - trg_watermark_guard counts only a run started since this backend started.
-- Tests: tests/test_review13.py.
--
-- Also (review 13 of migration 0064): devflow_src.label_history had no tombstones. A label change recorded
-- by mistake and deleted from the source stayed in silver, so the issue's processing row kept that label
-- (its label_key, the marts' grouping) for good. silver.devflow_label_history gets is_deleted like the
-- other event tables; procedures/devflow_src/tombstone_triggers.sql tombstones label_history's deletes,
-- the silver load flags them, devflow.load_fact_issue_processing ignores flagged changes.
CREATE OR REPLACE FUNCTION dwh_etl.trg_run_record_guard()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_keep    interval;
    v_running boolean;
BEGIN
    -- the owner (a superuser, a SECURITY DEFINER routine of the owner) keeps every right
    IF pg_catalog.pg_has_role(current_user,
                              (SELECT c.relowner FROM pg_catalog.pg_class AS c WHERE c.oid = TG_RELID), 'USAGE') THEN
        RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
    END IF;

    IF TG_TABLE_NAME = 'pipeline_runs' THEN
        -- a run is recorded by the session that runs it (backend_pid defaults to it), and stays its
        -- session's: the watermark guard (0066) and dwh cancel trust backend_pid (review 13)
        IF TG_OP = 'INSERT' THEN
            IF NEW.status = 'running' AND NEW.backend_pid IS DISTINCT FROM pg_catalog.pg_backend_pid() THEN
                RAISE EXCEPTION 'a running run is recorded by the session that runs it: backend_pid % is not this session''s (%)',
                                COALESCE(NEW.backend_pid::text, 'NULL'), pg_catalog.pg_backend_pid()
                    USING ERRCODE = 'insufficient_privilege',
                          HINT = 'dwh run, CALL dwh_etl.run_pipeline(...) or SELECT dwh_lineage.start_pipeline(...) record a run';
            END IF;
            RETURN NEW;
        END IF;
        IF TG_OP = 'UPDATE' AND (NEW.backend_pid IS DISTINCT FROM OLD.backend_pid OR NEW.run_id IS DISTINCT FROM OLD.run_id
                                 OR NEW.pipeline_name IS DISTINCT FROM OLD.pipeline_name
                                 OR NEW.started_at IS DISTINCT FROM OLD.started_at) THEN
            RAISE EXCEPTION 'run % (%): its session, name and start are not the caller''s to rewrite', OLD.run_id, OLD.pipeline_name
                USING ERRCODE = 'insufficient_privilege',
                      HINT = 'a new run (dwh run, dwh retry) records a new attempt';
        END IF;
        IF TG_OP = 'DELETE' THEN
            v_keep := dwh_etl.get_setting('history.keep', '90 days')::interval;
            IF OLD.status = 'running' OR OLD.started_at >= now() - v_keep THEN
                RAISE EXCEPTION 'run % (%, %) is part of the run history: only runs started before history.keep (%) are deleted',
                                OLD.run_id, OLD.pipeline_name, OLD.status, v_keep
                    USING ERRCODE = 'insufficient_privilege',
                          HINT = 'the maintenance step purge_history (dwh_etl.op_purge_history) deletes old runs';
            END IF;
            RETURN OLD;
        END IF;
        IF OLD.status <> 'running'
           AND ((pg_catalog.to_jsonb(NEW) - 'parameters') IS DISTINCT FROM (pg_catalog.to_jsonb(OLD) - 'parameters')
                OR NOT (NEW.parameters @> OLD.parameters)) THEN
            RAISE EXCEPTION 'run % (%) is %: the record of a finished run is final', OLD.run_id, OLD.pipeline_name, OLD.status
                USING ERRCODE = 'insufficient_privilege',
                      HINT = 'a new run (dwh run, dwh retry) records a new attempt';
        END IF;
        RETURN NEW;
    END IF;

    -- step_runs, table_lineage: written while their run runs
    IF TG_TABLE_NAME = 'table_lineage' AND OLD.run_id IS NULL THEN
        RETURN NEW;
    END IF;
    SELECT pr.status = 'running' INTO v_running FROM dwh_lineage.pipeline_runs AS pr WHERE pr.run_id = OLD.run_id;
    IF v_running IS NOT TRUE OR NEW.run_id IS DISTINCT FROM OLD.run_id THEN
        RAISE EXCEPTION '%.% of run % refused: the record of a finished run is final', TG_TABLE_SCHEMA, TG_TABLE_NAME, OLD.run_id
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'a new run (dwh run, dwh retry) records a new attempt';
    END IF;
    RETURN NEW;
END;
$$;
REVOKE ALL ON FUNCTION dwh_etl.trg_run_record_guard() FROM PUBLIC, etl_service;

DROP TRIGGER run_record_guard ON dwh_lineage.pipeline_runs;
CREATE TRIGGER run_record_guard BEFORE INSERT OR UPDATE OR DELETE ON dwh_lineage.pipeline_runs
    FOR EACH ROW EXECUTE FUNCTION dwh_etl.trg_run_record_guard();

CREATE OR REPLACE FUNCTION dwh_etl.trg_watermark_guard()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
BEGIN
    IF pg_catalog.pg_has_role(current_user,
                              (SELECT c.relowner FROM pg_catalog.pg_class AS c WHERE c.oid = TG_RELID), 'USAGE') THEN
        RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
    END IF;
    IF NOT EXISTS (SELECT 1
                   FROM dwh_lineage.pipeline_runs AS pr
                   WHERE pr.status = 'running'
                     AND pr.backend_pid = pg_catalog.pg_backend_pid()
                     -- recorded by this session, not by an ended one whose pid it was given again
                     AND pr.started_at >= (SELECT a.backend_start FROM pg_catalog.pg_stat_activity AS a
                                           WHERE a.pid = pg_catalog.pg_backend_pid())) THEN
        RAISE EXCEPTION 'watermark of % not changed: % moves watermarks only inside a pipeline run of its session',
                        CASE TG_OP WHEN 'DELETE' THEN OLD.table_name ELSE NEW.table_name END, current_user
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'a watermark moved by hand makes the next run skip rows, or load them twice',
                  HINT = 'dwh run (the steps move them), dwh run --restate to load dates again; the owner may call dwh_etl.set_watermark';
    END IF;
    RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
END;
$$;
REVOKE ALL ON FUNCTION dwh_etl.trg_watermark_guard() FROM PUBLIC, etl_service;
COMMENT ON FUNCTION dwh_etl.trg_run_record_guard() IS 'Row trigger of dwh_lineage.pipeline_runs, step_runs and table_lineage (migrations 0065, 0068): a role that does not own them records a running run only for its own session, never rewrites a run''s session, name or start, deletes only runs older than history.keep, and changes nothing of a finished run but keys added to its parameters.';
COMMENT ON FUNCTION dwh_etl.trg_watermark_guard() IS 'Row trigger of dwh_etl.watermarks (migrations 0066, 0068): a role that does not own it writes watermarks only while its backend has a pipeline run recorded running, started since the backend started.';

ALTER TABLE silver.devflow_label_history ADD COLUMN is_deleted boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN silver.devflow_label_history.is_deleted IS 'The source row was deleted (a tombstone in devflow_src.deleted_records); false again when a later state of the key loads.';
COMMENT ON TABLE devflow_src.deleted_records IS 'Tombstones: one row per row deleted from agent_execution_logs, code_gen_tasks, review_results, deployment_pipelines, issues, agents, labels, infrastructure or label_history (trigger dwh_etl.trg_source_tombstone, procedures/devflow_src/tombstone_triggers.sql); record_id is the key as text.';
