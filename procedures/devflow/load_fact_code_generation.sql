-- Step (gold): code generation tasks changed in silver -> fact_code_generation, one row per task.
CREATE OR REPLACE PROCEDURE devflow.load_fact_code_generation(
    p_run_id   bigint,
    p_run_date date
)
LANGUAGE plpgsql
SET search_path = devflow, pg_temp
AS $$
DECLARE
    v_win   record := dwh_etl.window_bounds('devflow.fact_code_generation');
    v_batch uuid := COALESCE((dwh_lineage._current_run()).batch_id, gen_random_uuid());
    v_read  bigint;
    v_rows  bigint;
BEGIN
    PERFORM 'PRAGMA:TABLE: _fcg_delta (LIKE silver.devflow_code_gen_tasks)';
    CREATE TEMP TABLE _fcg_delta ON COMMIT DROP AS
    SELECT c.*
    FROM silver.devflow_code_gen_tasks AS c
    WHERE (c._loaded_at >= v_win.from_ts AND c._loaded_at < v_win.to_ts
           -- rows that waited for their dimension row (a late-arriving issue or resource), up to a week
           OR (c._loaded_at >= v_win.to_ts - interval '7 days' AND c._loaded_at < v_win.from_ts
               AND NOT EXISTS (SELECT 1 FROM devflow.fact_code_generation AS x WHERE x.code_gen_id = c.id)))
      -- a row whose dimension row has not arrived yet waits (next runs retry it)
      AND EXISTS (SELECT 1 FROM devflow.dim_issue AS k WHERE k.issue_id = c.issue_id);
    GET DIAGNOSTICS v_read = ROW_COUNT;
    PERFORM devflow._ensure_calendar((SELECT devflow._utc_date(min(d.created_at)) FROM _fcg_delta AS d), (SELECT devflow._utc_date(max(d.created_at)) FROM _fcg_delta AS d));

    INSERT INTO devflow.fact_code_generation AS f (
        code_gen_id, agent_key, time_key, issue_key, total_files_generated, total_lines_generated,
        total_functions_generated, total_tests_generated, compilation_time_ms, clippy_warnings, clippy_errors,
        fmt_issues, ai_model_name, ai_model_tokens_input, ai_model_tokens_output, ai_generation_cost_usd,
        ai_prompt_count, cyclomatic_complexity_avg, code_duplication_percent, maintainability_index, test_count,
        generation_duration_ms, created_at, commit_sha, _batch_id
    )
    SELECT c.id, a.agent_key, devflow._time_key(c.created_at), devflow.issue_key_at(c.issue_id, c.created_at),
           COALESCE(c.total_files_generated, 0), COALESCE(c.total_lines_generated, 0),
           COALESCE(c.total_functions_generated, 0), COALESCE(c.total_tests_generated, 0), c.compilation_time_ms,
           COALESCE(c.clippy_warnings, 0), COALESCE(c.clippy_errors, 0), COALESCE(c.fmt_issues, 0), c.ai_model_name,
           COALESCE(c.ai_model_tokens_input, 0), COALESCE(c.ai_model_tokens_output, 0), COALESCE(c.ai_generation_cost_usd, 0),
           COALESCE(c.ai_prompt_count, 0), c.cyclomatic_complexity_avg, c.code_duplication_percent, c.maintainability_index,
           COALESCE(c.test_count, 0), COALESCE(c.generation_duration_ms, 0), c.created_at, c.commit_sha, v_batch
    FROM _fcg_delta AS c
    LEFT JOIN devflow.dim_agent AS a
      ON a.agent_id = c.agent_id AND a.is_current
    ON CONFLICT (code_gen_id) DO UPDATE
    SET agent_key = EXCLUDED.agent_key, time_key = EXCLUDED.time_key, issue_key = EXCLUDED.issue_key,
        total_files_generated = EXCLUDED.total_files_generated, total_lines_generated = EXCLUDED.total_lines_generated,
        total_functions_generated = EXCLUDED.total_functions_generated, total_tests_generated = EXCLUDED.total_tests_generated,
        compilation_time_ms = EXCLUDED.compilation_time_ms, clippy_warnings = EXCLUDED.clippy_warnings,
        clippy_errors = EXCLUDED.clippy_errors, fmt_issues = EXCLUDED.fmt_issues, ai_model_name = EXCLUDED.ai_model_name,
        ai_model_tokens_input = EXCLUDED.ai_model_tokens_input, ai_model_tokens_output = EXCLUDED.ai_model_tokens_output,
        ai_generation_cost_usd = EXCLUDED.ai_generation_cost_usd, ai_prompt_count = EXCLUDED.ai_prompt_count,
        cyclomatic_complexity_avg = EXCLUDED.cyclomatic_complexity_avg, code_duplication_percent = EXCLUDED.code_duplication_percent,
        maintainability_index = EXCLUDED.maintainability_index, test_count = EXCLUDED.test_count,
        generation_duration_ms = EXCLUDED.generation_duration_ms, created_at = EXCLUDED.created_at,
        commit_sha = EXCLUDED.commit_sha, _batch_id = EXCLUDED._batch_id, _loaded_at = now();
    GET DIAGNOSTICS v_rows = ROW_COUNT;

    PERFORM dwh_lineage.log_transformation(
        in_source_table  => 'silver.devflow_code_gen_tasks',
        in_target_table  => 'devflow.fact_code_generation',
        in_batch_id      => v_batch,
        in_rows_inserted => v_rows,
        in_notes         => format('%s code generation tasks read', v_read));
    CALL dwh_etl.set_watermark('devflow.fact_code_generation', '_loaded_at', v_win.to_ts);
    DROP TABLE _fcg_delta;
END;
$$;
COMMENT ON PROCEDURE devflow.load_fact_code_generation(bigint, date) IS 'Step: silver code generation tasks -> devflow.fact_code_generation (one row per task).';
