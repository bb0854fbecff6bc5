-- Step (gold): finished deployments changed in silver -> fact_deployment, one row per deployment run,
-- pointing at the issue and resource versions current at its start.
CREATE OR REPLACE PROCEDURE devflow.load_fact_deployment(
    p_run_id   bigint,
    p_run_date date
)
LANGUAGE plpgsql
SET search_path = devflow, pg_temp
AS $$
DECLARE
    v_win   record := dwh_etl.window_bounds('devflow.fact_deployment');
    v_batch uuid := COALESCE((dwh_lineage._current_run()).batch_id, gen_random_uuid());
    v_read  bigint;
    v_rows  bigint;
BEGIN
    PERFORM 'PRAGMA:TABLE: _fd_delta (LIKE silver.devflow_deployment_pipelines)';
    CREATE TEMP TABLE _fd_delta ON COMMIT DROP AS
    SELECT d.*
    FROM silver.devflow_deployment_pipelines AS d
    WHERE (d._loaded_at >= v_win.from_ts AND d._loaded_at < v_win.to_ts
           -- rows that waited for their dimension row (a late-arriving issue or resource), up to a week
           OR (d._loaded_at >= v_win.to_ts - interval '7 days' AND d._loaded_at < v_win.from_ts
               AND NOT EXISTS (SELECT 1 FROM devflow.fact_deployment AS x WHERE x.deployment_id = d.id)))
      -- a row whose dimension row has not arrived yet waits (next runs retry it)
      AND EXISTS (SELECT 1 FROM devflow.dim_issue AS k WHERE k.issue_id = d.issue_id)
      AND (d.resource_id IS NULL OR EXISTS (SELECT 1 FROM devflow.dim_infrastructure AS k WHERE k.resource_id = d.resource_id))
      AND d.completed_at IS NOT NULL
      AND d.deployment_status IN ('SUCCESS', 'FAILED', 'ROLLED_BACK', 'PARTIAL');
    GET DIAGNOSTICS v_read = ROW_COUNT;
    PERFORM devflow._ensure_calendar((SELECT devflow._utc_date(min(d.started_at)) FROM _fd_delta AS d), (SELECT devflow._utc_date(max(d.started_at)) FROM _fd_delta AS d));

    INSERT INTO devflow.fact_deployment AS f (
        deployment_id, infrastructure_key, time_key, issue_key, agent_key, deployment_duration_seconds,
        rollback_count, resource_count, container_count, health_check_pass_rate, error_count, warning_count,
        infrastructure_cost_usd, data_transfer_cost_usd, deployment_status, deployment_type, environment,
        started_at, completed_at, commit_sha, pipeline_id, _batch_id
    )
    SELECT d.id, devflow.infrastructure_key_at(d.resource_id, d.started_at), devflow._time_key(d.started_at),
           devflow.issue_key_at(d.issue_id, d.started_at), a.agent_key,
           COALESCE(d.deployment_duration_seconds, EXTRACT(EPOCH FROM d.completed_at - d.started_at)::integer),
           COALESCE(d.rollback_count, 0), COALESCE(d.resource_count, 0), COALESCE(d.container_count, 0),
           d.health_check_pass_rate, COALESCE(d.error_count, 0), COALESCE(d.warning_count, 0),
           COALESCE(d.infrastructure_cost_usd, 0), COALESCE(d.data_transfer_cost_usd, 0),
           d.deployment_status, d.deployment_type, d.environment, d.started_at, d.completed_at,
           COALESCE(d.commit_sha, 'unknown'), d.pipeline_id, v_batch
    FROM _fd_delta AS d
    LEFT JOIN devflow.dim_agent AS a
      ON a.agent_id = d.agent_id AND a.is_current
    ON CONFLICT (deployment_id) DO UPDATE
    SET infrastructure_key = EXCLUDED.infrastructure_key, time_key = EXCLUDED.time_key, issue_key = EXCLUDED.issue_key,
        agent_key = EXCLUDED.agent_key, deployment_duration_seconds = EXCLUDED.deployment_duration_seconds,
        rollback_count = EXCLUDED.rollback_count, resource_count = EXCLUDED.resource_count,
        container_count = EXCLUDED.container_count, health_check_pass_rate = EXCLUDED.health_check_pass_rate,
        error_count = EXCLUDED.error_count, warning_count = EXCLUDED.warning_count,
        infrastructure_cost_usd = EXCLUDED.infrastructure_cost_usd, data_transfer_cost_usd = EXCLUDED.data_transfer_cost_usd,
        deployment_status = EXCLUDED.deployment_status, deployment_type = EXCLUDED.deployment_type,
        environment = EXCLUDED.environment, started_at = EXCLUDED.started_at, completed_at = EXCLUDED.completed_at,
        commit_sha = EXCLUDED.commit_sha, pipeline_id = EXCLUDED.pipeline_id, _batch_id = EXCLUDED._batch_id, _loaded_at = now();
    GET DIAGNOSTICS v_rows = ROW_COUNT;

    PERFORM dwh_lineage.log_transformation(
        in_source_table  => 'silver.devflow_deployment_pipelines',
        in_target_table  => 'devflow.fact_deployment',
        in_batch_id      => v_batch,
        in_rows_inserted => v_rows,
        in_notes         => format('%s finished deployments read', v_read));
    CALL dwh_etl.set_watermark('devflow.fact_deployment', '_loaded_at', v_win.to_ts);
    DROP TABLE _fd_delta;
END;
$$;
COMMENT ON PROCEDURE devflow.load_fact_deployment(bigint, date) IS 'Step: silver deployments -> devflow.fact_deployment (one row per deployment run).';
