-- Step (silver): issues, agents, labels, worktrees, infrastructure and label history, typed and validated.
-- Besides the typing of devflow._load_silver, each entity checks what its dimension would refuse (the
-- dimensions' CHECK constraints, indexed text columns): such a row used to fail the dimension step.
-- Reasons quote values through devflow._quote (at most 200 characters).
CREATE OR REPLACE PROCEDURE devflow.load_silver_entities(
    p_run_id   bigint,
    p_run_date date
)
LANGUAGE plpgsql
SET search_path = devflow, pg_temp
AS $$
DECLARE
    v_max integer := dwh_etl.get_setting('devflow.max_key_length', '500')::integer;
BEGIN
    PERFORM devflow._load_silver('bronze.devflow_issues', 'bronze.devflow_issues', 'silver.devflow_issues', '{id}', 'updated_at',
        ARRAY[$c$CASE WHEN t.priority NOT IN ('P0', 'P1', 'P2', 'P3', 'P4') THEN 'priority ' || devflow._quote(t.priority) || ' is not P0..P4' END$c$,
              $c$CASE WHEN t.complexity NOT IN ('trivial', 'low', 'medium', 'high', 'critical') THEN 'complexity ' || devflow._quote(t.complexity) || ' is unknown' END$c$],
        p_run_date);
    PERFORM devflow._load_silver('bronze.devflow_agents', 'bronze.devflow_agents', 'silver.devflow_agents', '{agent_id}', 'updated_at',
        ARRAY[$c$CASE WHEN t.agent_type NOT IN ('CodeGen', 'Review', 'Deployment', 'Issue', 'Coordinator', 'Business', 'Marketing', 'Sales') THEN 'agent_type ' || devflow._quote(t.agent_type) || ' is unknown' END$c$,
              $c$CASE WHEN t.agent_category NOT IN ('Technical', 'Business') THEN 'agent_category ' || devflow._quote(t.agent_category) || ' is not Technical or Business' END$c$],
        p_run_date);
    PERFORM devflow._load_silver('bronze.devflow_labels', 'bronze.devflow_labels', 'silver.devflow_labels', '{label_name}', 'updated_at',
        ARRAY[$c$CASE WHEN t.label_category NOT IN ('Status', 'Priority', 'Type', 'Component', 'Effort', 'Impact', 'Technology', 'Phase', 'Quality', 'Meta', 'Custom') THEN 'label_category ' || devflow._quote(t.label_category) || ' is unknown' END$c$],
        p_run_date);
    -- branch_name and associated_issue_id are indexed in dim_worktree
    PERFORM devflow._load_silver('bronze.devflow_worktree_states', 'bronze.devflow_worktree_states', 'silver.devflow_worktree_states', '{worktree_path}', 'updated_at',
        ARRAY[$c$CASE WHEN t.status NOT IN ('active', 'completed', 'abandoned', 'merged') THEN 'status ' || devflow._quote(t.status) || ' is unknown' END$c$,
              format('devflow._check_length(%L, t.branch_name, %s)', 'branch_name', v_max),
              format('devflow._check_length(%L, t.associated_issue_id, %s)', 'associated_issue_id', v_max)],
        p_run_date);
    PERFORM devflow._load_silver('bronze.devflow_infrastructure', 'bronze.devflow_infrastructure', 'silver.devflow_infrastructure', '{resource_id}', 'updated_at',
        ARRAY[$c$CASE WHEN t.resource_type NOT IN ('VPC', 'Subnet', 'EC2', 'ECS', 'RDS', 'S3', 'Lambda', 'ALB', 'CloudFront', 'Route53') THEN 'resource_type ' || devflow._quote(t.resource_type) || ' is unknown' END$c$],
        p_run_date);
    PERFORM devflow._load_silver('bronze.devflow_label_history', 'bronze.devflow_label_history', 'silver.devflow_label_history', '{id}', 'updated_at',
        ARRAY[$c$CASE WHEN t.action NOT IN ('added', 'removed') THEN 'action ' || devflow._quote(t.action) || ' is not added or removed' END$c$],
        p_run_date);
END;
$$;
COMMENT ON PROCEDURE devflow.load_silver_entities(bigint, date) IS 'Step: bronze -> silver for issues, agents, labels, worktrees, infrastructure and label history.';
