-- depends: 0065_run_records_guard
-- Attack 13d's left grant: etl_service held INSERT, UPDATE, DELETE on dwh_etl.watermarks (0008) and
-- could call dwh_etl.set_watermark from any session. A watermark moved forward outside a run makes the
-- next run skip the rows behind it for good (nothing records that they were never loaded); one moved
-- back or deleted loads them again. The steps do move watermarks as etl_service (they run as the
-- caller), always inside a recorded run of their own backend (dwh_lineage.pipeline_runs: run_pipeline,
-- retry, restate, rebuild, or seed 002's start_pipeline for a DBA's manual run).
-- So a role that does not own the table writes a watermark only while its backend has a run recorded
-- 'running' (every such move is then part of the run history); outside one it is refused with what to
-- do instead. The owner (a superuser, an operator re-extracting a day with set_watermark) is not
-- concerned. Tests: tests/test_attack13d.py.
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
                     AND pr.backend_pid = pg_catalog.pg_backend_pid()) THEN
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
COMMENT ON FUNCTION dwh_etl.trg_watermark_guard() IS 'Row trigger of dwh_etl.watermarks (migration 0066): a role that does not own it writes watermarks only while its backend has a pipeline run recorded running.';

CREATE TRIGGER watermark_guard BEFORE INSERT OR UPDATE OR DELETE ON dwh_etl.watermarks
    FOR EACH ROW EXECUTE FUNCTION dwh_etl.trg_watermark_guard();
REVOKE TRUNCATE ON dwh_etl.watermarks FROM etl_service;
