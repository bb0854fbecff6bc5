-- Step (gold): finished agent executions changed in silver -> fact_agent_execution, one row per
-- execution (upsert on execution_id), pointing at the issue version current at its start.
CREATE OR REPLACE PROCEDURE devflow.load_fact_agent_execution(
    p_run_id   bigint,
    p_run_date date
)
LANGUAGE plpgsql
SET search_path = devflow, pg_temp
AS $$
DECLARE
    v_win   record := dwh_etl.window_bounds('devflow.fact_agent_execution');
    v_batch uuid := COALESCE((dwh_lineage._current_run()).batch_id, gen_random_uuid());
    v_read  bigint;
    v_rows  bigint;
BEGIN
    PERFORM 'PRAGMA:TABLE: _fae_delta (LIKE silver.devflow_agent_execution_logs)';
    CREATE TEMP TABLE _fae_delta ON COMMIT DROP AS
    SELECT e.*
    FROM silver.devflow_agent_execution_logs AS e
    WHERE (e._loaded_at >= v_win.from_ts AND e._loaded_at < v_win.to_ts
           -- rows that waited for their dimension row (a late-arriving issue or resource), up to a week
           OR (e._loaded_at >= v_win.to_ts - interval '7 days' AND e._loaded_at < v_win.from_ts
               AND NOT EXISTS (SELECT 1 FROM devflow.fact_agent_execution AS x WHERE x.execution_id = e.id)))
      -- a row whose dimension row has not arrived yet waits (next runs retry it)
      AND EXISTS (SELECT 1 FROM devflow.dim_issue AS k WHERE k.issue_id = e.issue_id)
      AND e.completed_at IS NOT NULL;
    GET DIAGNOSTICS v_read = ROW_COUNT;
    PERFORM devflow._ensure_calendar((SELECT devflow._utc_date(min(d.started_at)) FROM _fae_delta AS d), (SELECT devflow._utc_date(max(d.started_at)) FROM _fae_delta AS d));

    INSERT INTO devflow.fact_agent_execution AS f (
        execution_id, agent_key, time_key, issue_key, worktree_key, execution_duration_ms, memory_usage_mb,
        cpu_usage_percent, disk_io_mb, api_calls_count, api_errors_count, cache_hit_count, cache_miss_count,
        llm_provider, llm_model, llm_tokens_input, llm_tokens_output, llm_requests_count, llm_cost_usd,
        exit_code, error_count, warning_count, retry_count, success, error_message, started_at, completed_at, _batch_id
    )
    SELECT e.id, a.agent_key, devflow._time_key(e.started_at), devflow.issue_key_at(e.issue_id, e.started_at),
           w.worktree_key,
           COALESCE(e.execution_duration_ms, (EXTRACT(EPOCH FROM e.completed_at - e.started_at) * 1000)::bigint),
           e.memory_usage_mb, e.cpu_usage_percent, e.disk_io_mb,
           COALESCE(e.api_calls_count, 0), COALESCE(e.api_errors_count, 0), COALESCE(e.cache_hit_count, 0), COALESCE(e.cache_miss_count, 0),
           e.llm_provider, e.llm_model, COALESCE(e.llm_tokens_input, 0), COALESCE(e.llm_tokens_output, 0),
           COALESCE(e.llm_requests_count, 0), COALESCE(e.llm_cost_usd, 0),
           COALESCE(e.exit_code, -1), COALESCE(e.error_count, 0), COALESCE(e.warning_count, 0), COALESCE(e.retry_count, 0),
           COALESCE(e.exit_code, -1) = 0, e.error_message, e.started_at, e.completed_at, v_batch
    FROM _fae_delta AS e
    LEFT JOIN devflow.dim_agent AS a
      ON a.agent_id = e.agent_id AND a.is_current
    LEFT JOIN devflow.dim_worktree AS w
      ON w.worktree_path = e.worktree_path AND w.is_current
    ON CONFLICT (execution_id) DO UPDATE
    SET agent_key = EXCLUDED.agent_key, time_key = EXCLUDED.time_key, issue_key = EXCLUDED.issue_key,
        worktree_key = EXCLUDED.worktree_key, execution_duration_ms = EXCLUDED.execution_duration_ms,
        memory_usage_mb = EXCLUDED.memory_usage_mb, cpu_usage_percent = EXCLUDED.cpu_usage_percent,
        disk_io_mb = EXCLUDED.disk_io_mb, api_calls_count = EXCLUDED.api_calls_count,
        api_errors_count = EXCLUDED.api_errors_count, cache_hit_count = EXCLUDED.cache_hit_count,
        cache_miss_count = EXCLUDED.cache_miss_count, llm_provider = EXCLUDED.llm_provider,
        llm_model = EXCLUDED.llm_model, llm_tokens_input = EXCLUDED.llm_tokens_input,
        llm_tokens_output = EXCLUDED.llm_tokens_output, llm_requests_count = EXCLUDED.llm_requests_count,
        llm_cost_usd = EXCLUDED.llm_cost_usd, exit_code = EXCLUDED.exit_code, error_count = EXCLUDED.error_count,
        warning_count = EXCLUDED.warning_count, retry_count = EXCLUDED.retry_count, success = EXCLUDED.success,
        error_message = EXCLUDED.error_message, started_at = EXCLUDED.started_at, completed_at = EXCLUDED.completed_at,
        _batch_id = EXCLUDED._batch_id, _loaded_at = now();
    GET DIAGNOSTICS v_rows = ROW_COUNT;

    PERFORM dwh_lineage.log_transformation(
        in_source_table  => 'silver.devflow_agent_execution_logs',
        in_target_table  => 'devflow.fact_agent_execution',
        in_batch_id      => v_batch,
        in_rows_inserted => v_rows,
        in_notes         => format('%s finished executions read', v_read));
    CALL dwh_etl.set_watermark('devflow.fact_agent_execution', '_loaded_at', v_win.to_ts);
    DROP TABLE _fae_delta;
END;
$$;
COMMENT ON PROCEDURE devflow.load_fact_agent_execution(bigint, date) IS 'Step: silver agent executions -> devflow.fact_agent_execution (one row per execution).';
