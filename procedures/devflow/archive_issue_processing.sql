-- Retention of devflow.fact_issue_processing, as seed 000 says ("Move data older than 2 years to
-- archive"): the rows completed before the horizon (setting devflow.issue_processing_retention,
-- default 2 years, counted back from LEAST(run date, today) as dwh_etl.op_retention does, so a backfill
-- never archives more than a run today would) move to devflow.fact_issue_processing_archive, in one
-- statement (moved rows are deleted only once inserted; a row archived before is kept as it was).
-- The seed copied them and never deleted them from the fact. Step devflow_archive_issue_processing of
-- the maintenance pipeline (nightly; the seed archived weekly); by hand:
--   CALL devflow.archive_issue_processing(NULL, CURRENT_DATE);
-- The marts read the fact only: after a refresh, archived processing no longer counts in them.
CREATE OR REPLACE PROCEDURE devflow.archive_issue_processing(
    p_run_id   bigint,
    p_run_date date
)
LANGUAGE plpgsql
SET search_path = devflow, pg_temp
AS $$
DECLARE
    v_keep    interval := dwh_etl.get_setting('devflow.issue_processing_retention', '2 years')::interval;
    v_cutoff  timestamptz := (LEAST(COALESCE(p_run_date, CURRENT_DATE), (now() AT TIME ZONE 'UTC')::date) - v_keep)::timestamp AT TIME ZONE 'UTC';
    v_run     dwh_etl.run_context := dwh_etl.get_run_context(p_run_id);
    v_moved    bigint;
    v_archived bigint;
BEGIN
    WITH moved AS (
        DELETE FROM devflow.fact_issue_processing AS f
        WHERE f.completed_at < v_cutoff
        RETURNING f.*
    ),
    archived AS (
        INSERT INTO devflow.fact_issue_processing_archive (
            issue_processing_key, issue_key, agent_key, time_key, label_key, worktree_key,
            processing_duration_seconds, lines_of_code_generated, files_modified, review_score,
            test_coverage_percent, clippy_warnings, fmt_issues, build_success, test_success,
            deployment_success, ai_cost_usd, infrastructure_cost_usd, started_at, completed_at,
            issue_number, commit_sha, pr_number, _batch_id, _loaded_at)
        SELECT m.issue_processing_key, m.issue_key, m.agent_key, m.time_key, m.label_key, m.worktree_key,
               m.processing_duration_seconds, m.lines_of_code_generated, m.files_modified, m.review_score,
               m.test_coverage_percent, m.clippy_warnings, m.fmt_issues, m.build_success, m.test_success,
               m.deployment_success, m.ai_cost_usd, m.infrastructure_cost_usd, m.started_at, m.completed_at,
               m.issue_number, m.commit_sha, m.pr_number, m._batch_id, m._loaded_at
        FROM moved AS m
        ON CONFLICT (issue_number, started_at) DO NOTHING
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM moved), (SELECT count(*) FROM archived) INTO v_moved, v_archived;
    PERFORM dwh_lineage.log_transformation(
        in_source_table  => 'devflow.fact_issue_processing',
        in_target_table  => 'devflow.fact_issue_processing_archive',
        in_batch_id      => v_run.batch_id,
        in_rows_inserted => v_archived,
        in_rows_deleted  => v_moved,
        in_operation     => 'transform',
        in_notes         => format('moved the processing completed before %s (retention %s); %s already archived',
                                   v_cutoff, v_keep, v_moved - v_archived),
        in_run_id        => p_run_id);
    RAISE NOTICE 'archived % issue processing row(s) completed before %', v_moved, v_cutoff;
END;
$$;
COMMENT ON PROCEDURE devflow.archive_issue_processing(bigint, date) IS 'Seed 000 retention: move fact_issue_processing rows completed before devflow.issue_processing_retention (2 years) into fact_issue_processing_archive. Example: CALL devflow.archive_issue_processing(NULL, CURRENT_DATE);';
REVOKE EXECUTE ON PROCEDURE devflow.archive_issue_processing(bigint, date) FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE devflow.archive_issue_processing(bigint, date) TO etl_service;
