-- depends: 0060_scd_guard_large_statements
-- Attack 13d: the pipeline role runs pipelines; it does not rewrite the warehouse's bookkeeping.
-- etl_service held SELECT, INSERT, UPDATE, DELETE on every table of dwh_lineage (default privileges of
-- 0001) and on the run-state tables of dwh_etl (0008, 0013), so a session of it could, without going
-- through the engine: delete the record of a failed run (pipeline_runs, step_runs, table_lineage,
-- quality_metrics), rewrite a finished run as completed, delete quarantined rows, delete or rewrite a
-- file load's entry (its sha256, so the same content loads twice; its landed_in, so the compaction folds
-- another load's child), rewrite the registered column lineage. Tests: tests/test_attack13d.py.
--
-- 1. Privileges the engine never uses as etl_service are revoked (its writes of them happen in
--    SECURITY DEFINER routines, as the owner, or by ON DELETE CASCADE, which runs as the owner):
--      dwh_etl.loaded_files, dwh_etl.quarantine           DELETE
--      dwh_etl.archived_partitions                        UPDATE, DELETE (op_retention only inserts)
--      dwh_lineage.step_runs, table_lineage               DELETE (they go with their run: op_purge_history)
--      dwh_lineage.quality_metrics, statement_stats,
--                  table_dependencies                     UPDATE, DELETE
--      dwh_lineage.column_lineage                         INSERT, UPDATE, DELETE (refresh_column_lineage,
--                                                         owner only, writes it)
--    and a new table of dwh_lineage gets SELECT and INSERT only by default.
-- 2. Where the engine does write as etl_service, a row trigger refuses what it never does; the owner
--    (and a superuser, and so the sec_* routines) is not concerned (pg_has_role on the table's owner):
--      pipeline_runs  DELETE only of a run that is not running and started before history.keep
--                     (op_purge_history); UPDATE of a finished run only adds keys to parameters
--                     (retry's retry_of): status, error, times, metrics of a finished run are final.
--      step_runs, table_lineage  UPDATE only while their run is running (table_lineage: or of no run).
--      loaded_files   INSERT of a load that is begun, skipped or failed, never of one already 'loaded' or
--                     with a landed_in (file_begin, file_record); UPDATE only of a load in progress
--                     ('loading': file_end, file_reject), never of its identity (file, table, batch,
--                     source, forced, landed_in: the sec_file_* routines set that), and to 'loaded' only
--                     once its landing table is sealed (file_end calls sec_file_seal first).

-- ---------------------------------------------------------------------------------------------
-- 1. Privileges
-- ---------------------------------------------------------------------------------------------
REVOKE DELETE, TRUNCATE ON dwh_etl.loaded_files, dwh_etl.quarantine FROM etl_service;
REVOKE UPDATE, DELETE, TRUNCATE ON dwh_etl.archived_partitions FROM etl_service;
REVOKE DELETE, TRUNCATE ON dwh_lineage.step_runs, dwh_lineage.table_lineage FROM etl_service;
REVOKE UPDATE, DELETE, TRUNCATE ON dwh_lineage.quality_metrics, dwh_lineage.statement_stats,
    dwh_lineage.table_dependencies FROM etl_service;
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON dwh_lineage.column_lineage FROM etl_service;
ALTER DEFAULT PRIVILEGES IN SCHEMA dwh_lineage REVOKE UPDATE, DELETE, TRUNCATE ON TABLES FROM etl_service;

-- ---------------------------------------------------------------------------------------------
-- 2. Run records
-- ---------------------------------------------------------------------------------------------
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
COMMENT ON FUNCTION dwh_etl.trg_run_record_guard() IS 'Row trigger of dwh_lineage.pipeline_runs, step_runs and table_lineage (migration 0065): a role that does not own them deletes only runs older than history.keep, and changes nothing of a finished run but keys added to its parameters.';

CREATE TRIGGER run_record_guard BEFORE UPDATE OR DELETE ON dwh_lineage.pipeline_runs
    FOR EACH ROW EXECUTE FUNCTION dwh_etl.trg_run_record_guard();
CREATE TRIGGER run_record_guard BEFORE UPDATE ON dwh_lineage.step_runs
    FOR EACH ROW EXECUTE FUNCTION dwh_etl.trg_run_record_guard();
CREATE TRIGGER run_record_guard BEFORE UPDATE ON dwh_lineage.table_lineage
    FOR EACH ROW EXECUTE FUNCTION dwh_etl.trg_run_record_guard();

-- ---------------------------------------------------------------------------------------------
-- 3. The file-load registry
-- ---------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION dwh_etl.trg_loaded_files_guard()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    c_mutable constant text[] := ARRAY['status', 'rows_landed', 'rows_rejected', 'size_bytes', 'sha256',
                                       'first_bronze_id', 'loaded_at', 'error'];
    v_landed  regclass;
BEGIN
    IF pg_catalog.pg_has_role(current_user,
                              (SELECT c.relowner FROM pg_catalog.pg_class AS c WHERE c.oid = TG_RELID), 'USAGE') THEN
        RETURN NEW;
    END IF;

    IF TG_OP = 'INSERT' THEN
        IF NEW.status NOT IN ('loading', 'skipped', 'failed') OR NEW.landed_in IS NOT NULL
           OR NEW.rows_landed <> 0 OR NEW.first_bronze_id IS NOT NULL OR NEW.loaded_by IS DISTINCT FROM session_user THEN
            RAISE EXCEPTION 'dwh_etl.loaded_files: a file load is recorded by dwh_etl.file_begin (then file_end) or file_record, not written as %', NEW.status
                USING ERRCODE = 'insufficient_privilege',
                      HINT = 'dwh load FILE, or CALL dwh_etl.file_begin(...); \copy ...; CALL dwh_etl.file_end()';
        END IF;
        RETURN NEW;
    END IF;

    IF OLD.status <> 'loading' THEN
        RAISE EXCEPTION 'file load % (%) is %: the record of a finished load is final', OLD.file_id, OLD.file_name, OLD.status
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'a content loaded by mistake is loaded again with dwh load --force; the owner corrects the registry';
    END IF;
    IF (pg_catalog.to_jsonb(NEW) - c_mutable) IS DISTINCT FROM (pg_catalog.to_jsonb(OLD) - c_mutable)
       OR NEW.status NOT IN ('loading', 'loaded') THEN
        RAISE EXCEPTION 'file load % (%): its identity (table, file, batch, landed_in, ...) and status % are not the caller''s to write',
                        OLD.file_id, OLD.file_name, NEW.status
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'dwh_etl.file_end and file_reject record a load in progress';
    END IF;
    IF NEW.status = 'loaded' AND NEW.landed_in IS NOT NULL THEN
        v_landed := pg_catalog.to_regclass(NEW.landed_in);
        IF v_landed IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_inherits AS i WHERE i.inhrelid = v_landed) THEN
            RAISE EXCEPTION 'file load % (%): its landing table % is not sealed', OLD.file_id, OLD.file_name, NEW.landed_in
                USING ERRCODE = 'insufficient_privilege',
                      HINT = 'CALL dwh_etl.file_end() seals it (dwh_etl.sec_file_seal) and marks the load loaded';
        END IF;
    END IF;
    RETURN NEW;
END;
$$;
REVOKE ALL ON FUNCTION dwh_etl.trg_loaded_files_guard() FROM PUBLIC, etl_service;
COMMENT ON FUNCTION dwh_etl.trg_loaded_files_guard() IS 'Row trigger of dwh_etl.loaded_files (migration 0065): a role that does not own it records loads as file_begin/file_end/file_reject/file_record do, and leaves a finished load''s record, and every load''s identity and landed_in, alone.';

CREATE TRIGGER loaded_files_guard BEFORE INSERT OR UPDATE ON dwh_etl.loaded_files
    FOR EACH ROW EXECUTE FUNCTION dwh_etl.trg_loaded_files_guard();
