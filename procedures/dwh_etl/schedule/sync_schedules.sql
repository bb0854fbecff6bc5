-- psql entry point: CALL dwh_etl.sync_schedules(); makes pg_cron's jobs match the registry (see
-- dwh_etl.schedule_sync), prints one NOTICE per change and returns the counts.
CREATE OR REPLACE PROCEDURE dwh_etl.sync_schedules(
    INOUT p_created   integer DEFAULT NULL,
    INOUT p_updated   integer DEFAULT NULL,
    INOUT p_removed   integer DEFAULT NULL,
    INOUT p_unchanged integer DEFAULT NULL
)
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_row record;
BEGIN
    p_created := 0; p_updated := 0; p_removed := 0; p_unchanged := 0;
    FOR v_row IN SELECT s.action, s.job_name, s.schedule FROM dwh_etl.schedule_sync() AS s LOOP
        CASE v_row.action
            WHEN 'created' THEN p_created := p_created + 1;
            WHEN 'updated' THEN p_updated := p_updated + 1;
            WHEN 'removed' THEN p_removed := p_removed + 1;
            ELSE p_unchanged := p_unchanged + 1;
        END CASE;
        IF v_row.action <> 'unchanged' THEN
            RAISE NOTICE '% job % (%)', v_row.action, v_row.job_name, v_row.schedule;
        END IF;
    END LOOP;
    RAISE NOTICE 'schedules synced: % created, % updated, % removed, % unchanged',
        p_created, p_updated, p_removed, p_unchanged;
END;
$$;
COMMENT ON PROCEDURE dwh_etl.sync_schedules(integer, integer, integer, integer) IS 'Make pg_cron''s dwh:* jobs of this database match the registry (idempotent); NOTICEs each change, returns the counts. Example: CALL dwh_etl.sync_schedules();';
-- The registry is code: only the owner changes it (issue 9: etl_service could write what the pipeline
-- executes). Routines of dwh_etl are granted to etl_service by default: not this one.
REVOKE EXECUTE ON PROCEDURE dwh_etl.sync_schedules(integer, integer, integer, integer) FROM etl_service, PUBLIC;
