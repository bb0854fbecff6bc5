-- Step (gold): changed silver rows -> dim_agent, dim_label, dim_worktree (Type 1), dim_issue and
-- dim_infrastructure (Type 2), each through the SCD engine (specs in procedures/registry/devflow.sql).
-- A Type 2 key's first version is valid from the entity's creation (the facts before its first
-- change then find it); later versions from the source's updated_at.
CREATE OR REPLACE PROCEDURE devflow.load_dimensions(
    p_run_id   bigint,
    p_run_date date
)
LANGUAGE plpgsql
SET search_path = devflow, pg_temp
AS $$
DECLARE
    v_win record;
BEGIN
    v_win := dwh_etl.window_bounds('devflow.dim_agent');
    CREATE TEMP TABLE _dim_agent_stage ON COMMIT DROP AS
    SELECT a.agent_id, a.agent_name, a.agent_type, a.agent_category, a.ai_model, a.ai_provider, a.model_version,
           a.framework_version, a.capabilities, a.max_concurrent_tasks, a.cost_per_hour_usd, a.cost_per_token_usd,
           a.is_active, a.created_at, a.updated_at, a.created_at AS change_ts
    FROM silver.devflow_agents AS a
    WHERE a._loaded_at >= v_win.from_ts AND a._loaded_at < v_win.to_ts;
    PERFORM dwh_etl.apply_dimension('devflow.dim_agent', '_dim_agent_stage', p_lineage_source => 'silver.devflow_agents');
    CALL dwh_etl.set_watermark('devflow.dim_agent', '_loaded_at', v_win.to_ts);

    v_win := dwh_etl.window_bounds('devflow.dim_label');
    CREATE TEMP TABLE _dim_label_stage ON COMMIT DROP AS
    SELECT l.label_name, l.label_category, l.label_priority, l.color, l.icon, l.description, l.usage_guidelines,
           l.is_active, l.created_at, l.updated_at, l.created_at AS change_ts
    FROM silver.devflow_labels AS l
    WHERE l._loaded_at >= v_win.from_ts AND l._loaded_at < v_win.to_ts;
    PERFORM dwh_etl.apply_dimension('devflow.dim_label', '_dim_label_stage', p_lineage_source => 'silver.devflow_labels');
    CALL dwh_etl.set_watermark('devflow.dim_label', '_loaded_at', v_win.to_ts);

    v_win := dwh_etl.window_bounds('devflow.dim_worktree');
    CREATE TEMP TABLE _dim_worktree_stage ON COMMIT DROP AS
    SELECT w.worktree_path, w.branch_name, w.base_branch, w.status, w.associated_issue_id, w.associated_pr_number,
           w.created_by, w.purpose, w.created_at, w.last_used_at, w.cleaned_up_at, w.created_at AS change_ts
    FROM silver.devflow_worktree_states AS w
    WHERE w._loaded_at >= v_win.from_ts AND w._loaded_at < v_win.to_ts;
    PERFORM dwh_etl.apply_dimension('devflow.dim_worktree', '_dim_worktree_stage', p_lineage_source => 'silver.devflow_worktree_states');
    CALL dwh_etl.set_watermark('devflow.dim_worktree', '_loaded_at', v_win.to_ts);

    v_win := dwh_etl.window_bounds('devflow.dim_issue');
    CREATE TEMP TABLE _dim_issue_stage ON COMMIT DROP AS
    SELECT i.id AS issue_id, i.number AS issue_number, i.title, i.description, i.priority, i.complexity, i.issue_type,
           i.category, i.repository, i.created_by, i.assigned_to, i.labels,
           CASE WHEN EXISTS (SELECT 1 FROM devflow.dim_issue AS d WHERE d.issue_id = i.id) THEN i.updated_at
                ELSE i.created_at END AS change_ts
    FROM silver.devflow_issues AS i
    WHERE i._loaded_at >= v_win.from_ts AND i._loaded_at < v_win.to_ts;
    PERFORM dwh_etl.apply_dimension('devflow.dim_issue', '_dim_issue_stage', p_lineage_source => 'silver.devflow_issues');
    CALL dwh_etl.set_watermark('devflow.dim_issue', '_loaded_at', v_win.to_ts);

    v_win := dwh_etl.window_bounds('devflow.dim_infrastructure');
    CREATE TEMP TABLE _dim_infra_stage ON COMMIT DROP AS
    SELECT r.resource_id, r.resource_type, r.resource_name, r.cloud_provider, r.region, r.availability_zone, r.instance_type,
           r.cpu_count, r.memory_gb, r.storage_gb, r.storage_type, r.vpc_id, r.subnet_id, r.security_group_ids,
           r.hourly_cost_usd, r.monthly_cost_usd, r.tags,
           CASE WHEN EXISTS (SELECT 1 FROM devflow.dim_infrastructure AS d WHERE d.resource_id = r.resource_id) THEN r.updated_at
                ELSE r.created_at END AS change_ts
    FROM silver.devflow_infrastructure AS r
    WHERE r._loaded_at >= v_win.from_ts AND r._loaded_at < v_win.to_ts;
    PERFORM dwh_etl.apply_dimension('devflow.dim_infrastructure', '_dim_infra_stage', p_lineage_source => 'silver.devflow_infrastructure');
    CALL dwh_etl.set_watermark('devflow.dim_infrastructure', '_loaded_at', v_win.to_ts);

    DROP TABLE _dim_agent_stage, _dim_label_stage, _dim_worktree_stage, _dim_issue_stage, _dim_infra_stage;
END;
$$;
COMMENT ON PROCEDURE devflow.load_dimensions(bigint, date) IS 'Step: silver -> the five devflow dimensions through dwh_etl.apply_dimension.';
