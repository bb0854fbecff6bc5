-- Maintenance step: deletes finished runs of dwh_lineage.pipeline_runs that started more than setting
-- history.keep (default '90 days') ago, with their step runs, lineage and quality metrics (ON DELETE
-- CASCADE); and the rows of cron.job_run_details of this database's jobs that ended more than
-- cron_history.keep (default '30 days') ago (pg_cron never prunes them), when pg_cron is available.
-- Through dblink the cron purge commits on its own.
CREATE OR REPLACE PROCEDURE dwh_etl.op_purge_history(
    p_run_id   bigint,
    p_run_date date
)
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_keep      interval := dwh_etl.get_setting('history.keep', '90 days')::interval;
    v_cron_keep interval := dwh_etl.get_setting('cron_history.keep', '30 days')::interval;
    v_runs      bigint;
    v_cron      bigint;
    v_cron_ok   boolean := true;
BEGIN
    DELETE FROM dwh_lineage.pipeline_runs AS pr
    WHERE pr.started_at < now() - v_keep
      AND pr.status <> 'running';
    GET DIAGNOSTICS v_runs = ROW_COUNT;
    PERFORM dwh_lineage.log_transformation(
        in_source_table => 'dwh_etl.settings',
        in_target_table => 'dwh_lineage.pipeline_runs',
        in_batch_id     => NULL,
        in_rows_deleted => v_runs,
        in_operation    => 'delete',
        in_notes        => format('history.keep %s: runs started before %s deleted with their steps and lineage', v_keep, now() - v_keep),
        in_run_id       => p_run_id);
    RAISE NOTICE 'purged % run(s) older than %', v_runs, v_keep;

    -- pg_cron's history is the owner's (its jobs run as the user who synced, and row security hides
    -- them from etl_service): the SECURITY DEFINER routine purges it.
    BEGIN
        v_cron := dwh_etl.sec_purge_cron_history();
    EXCEPTION WHEN SQLSTATE 'DW010' THEN
        v_cron_ok := false;
        RAISE NOTICE 'pg_cron is not available: cron.job_run_details not purged';
    END;
    IF v_cron_ok THEN
        PERFORM dwh_lineage.log_transformation(
            in_source_table => 'dwh_etl.settings',
            in_target_table => 'cron.job_run_details',
            in_batch_id     => NULL,
            in_rows_deleted => v_cron,
            in_operation    => 'delete',
            in_notes        => format('cron_history.keep %s: job run details of database %s deleted', v_cron_keep, current_database()),
            in_run_id       => p_run_id);
        RAISE NOTICE 'purged % cron job run detail(s) older than %', v_cron, v_cron_keep;
    END IF;
END;
$$;
COMMENT ON PROCEDURE dwh_etl.op_purge_history(bigint, date) IS 'Maintenance step: delete run history older than history.keep and cron.job_run_details older than cron_history.keep. Example: CALL dwh_etl.op_purge_history(NULL, CURRENT_DATE);';
