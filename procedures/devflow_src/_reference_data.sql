-- The reference data of the source: the 57 labels (11 categories), the 8 agents, 12 cloud resources.
CREATE OR REPLACE PROCEDURE devflow_src._reference_data(
    p_at timestamptz
)
LANGUAGE plpgsql
SET search_path = devflow_src, pg_temp
AS $$
BEGIN
    INSERT INTO devflow_src.labels (label_name, label_category, label_priority, color, icon, description, usage_guidelines, created_at, updated_at)
    SELECT l.name, l.category, CASE WHEN l.category = 'Priority' THEN l.name END,
           '#' || substr(md5(l.name), 1, 6), l.icon, l.category || ' label ' || l.name,
           'Apply one ' || lower(l.category) || ' label where relevant.', p_at, p_at
    FROM (VALUES
        ('status:backlog', 'Status', '📥'), ('status:todo', 'Status', '📋'), ('status:in-progress', 'Status', '🏗'),
        ('status:review', 'Status', '👀'), ('status:blocked', 'Status', '🚧'), ('status:done', 'Status', '✅'),
        ('status:deployed', 'Status', '🚀'), ('status:wontfix', 'Status', '⛔'),
        ('P0', 'Priority', '🔥'), ('P1', 'Priority', '⚠'), ('P2', 'Priority', '📌'), ('P3', 'Priority', '📎'), ('P4', 'Priority', '💤'),
        ('type:bug', 'Type', '🐛'), ('type:feature', 'Type', '✨'), ('type:refactor', 'Type', '♻'), ('type:docs', 'Type', '📝'),
        ('type:test', 'Type', '🧪'), ('type:chore', 'Type', '🧹'), ('type:security', 'Type', '🔒'),
        ('component:agent', 'Component', '🤖'), ('component:cli', 'Component', '⌨'), ('component:api', 'Component', '🔌'),
        ('component:db', 'Component', '🗄'), ('component:infra', 'Component', '☁'), ('component:ui', 'Component', '🎨'),
        ('component:ci', 'Component', '⚙'),
        ('effort:xs', 'Effort', '1'), ('effort:s', 'Effort', '2'), ('effort:m', 'Effort', '3'), ('effort:l', 'Effort', '5'), ('effort:xl', 'Effort', '8'),
        ('impact:critical', 'Impact', '💥'), ('impact:high', 'Impact', '⬆'), ('impact:medium', 'Impact', '➡'), ('impact:low', 'Impact', '⬇'),
        ('tech:rust', 'Technology', '🦀'), ('tech:typescript', 'Technology', '🟦'), ('tech:python', 'Technology', '🐍'),
        ('tech:postgres', 'Technology', '🐘'), ('tech:aws', 'Technology', '☁'),
        ('phase:planning', 'Phase', '🗺'), ('phase:implementation', 'Phase', '🔨'), ('phase:testing', 'Phase', '🧪'),
        ('phase:deployment', 'Phase', '🚀'), ('phase:monitoring', 'Phase', '📈'),
        ('quality:needs-tests', 'Quality', '🧪'), ('quality:tech-debt', 'Quality', '💳'), ('quality:performance', 'Quality', '⚡'),
        ('quality:flaky', 'Quality', '🎲'),
        ('meta:good-first-issue', 'Meta', '🌱'), ('meta:help-wanted', 'Meta', '🙋'), ('meta:duplicate', 'Meta', '👯'), ('meta:question', 'Meta', '❓'),
        ('custom:agent-generated', 'Custom', '🤖'), ('custom:dora', 'Custom', '📊'), ('custom:experiment', 'Custom', '🧫')
    ) AS l (name, category, icon);

    INSERT INTO devflow_src.agents (agent_id, agent_name, agent_type, agent_category, ai_model, ai_provider, model_version,
                                    framework_version, capabilities, max_concurrent_tasks, cost_per_hour_usd, cost_per_token_usd,
                                    created_at, updated_at)
    SELECT a.id, a.name, a.type, a.category, a.model, 'anthropic', '2025-05', '1.0.0', a.caps, a.tasks, a.cost, 0.00000300, p_at, p_at
    FROM (VALUES
        ('agent-coordinator', 'CoordinatorAgent', 'Coordinator', 'Technical', 'claude-haiku-4', ARRAY['plan', 'dispatch'], 10, 0.5000),
        ('agent-issue', 'IssueAgent', 'Issue', 'Technical', 'claude-haiku-4', ARRAY['triage', 'label'], 10, 0.4000),
        ('agent-codegen', 'CodeGenAgent', 'CodeGen', 'Technical', 'claude-sonnet-4', ARRAY['rust', 'typescript', 'tests'], 4, 2.0000),
        ('agent-review', 'ReviewAgent', 'Review', 'Technical', 'claude-sonnet-4', ARRAY['review', 'clippy', 'coverage'], 6, 1.2000),
        ('agent-deployment', 'DeploymentAgent', 'Deployment', 'Technical', 'claude-haiku-4', ARRAY['deploy', 'rollback'], 2, 0.8000),
        ('agent-business', 'BusinessAgent', 'Business', 'Business', 'claude-sonnet-4', ARRAY['strategy'], 2, 1.0000),
        ('agent-marketing', 'MarketingAgent', 'Marketing', 'Business', 'claude-sonnet-4', ARRAY['content'], 2, 1.0000),
        ('agent-sales', 'SalesAgent', 'Sales', 'Business', 'claude-haiku-4', ARRAY['outreach'], 2, 0.6000)
    ) AS a (id, name, type, category, model, caps, tasks, cost);

    INSERT INTO devflow_src.infrastructure (resource_id, resource_type, resource_name, cloud_provider, region, availability_zone,
                                            instance_type, cpu_count, memory_gb, storage_gb, storage_type, vpc_id, subnet_id,
                                            security_group_ids, hourly_cost_usd, monthly_cost_usd, tags, created_at, updated_at)
    SELECT r.id, r.type, r.id, 'AWS', r.region, r.region || 'a', r.instance, r.cpu, r.mem, r.storage, 'gp3',
           'vpc-' || substr(md5(r.region), 1, 8), 'subnet-' || substr(md5(r.id), 1, 8), ARRAY['sg-' || substr(md5(r.type), 1, 8)],
           r.hourly, round(r.hourly * 730, 2), jsonb_build_object('env', r.env, 'team', 'miyabi'), p_at, p_at
    FROM (VALUES
        ('ec2-prod-api-1', 'EC2', 'ap-northeast-1', 'm5.large', 2, 8, 100, 0.1240, 'production'),
        ('ec2-prod-api-2', 'EC2', 'ap-northeast-1', 'm5.large', 2, 8, 100, 0.1240, 'production'),
        ('ec2-prod-worker', 'EC2', 'us-east-1', 'c5.xlarge', 4, 8, 100, 0.1700, 'production'),
        ('ecs-prod-web', 'ECS', 'ap-northeast-1', 'fargate-1vcpu-2gb', 1, 2, 20, 0.0500, 'production'),
        ('ecs-prod-agents', 'ECS', 'us-east-1', 'fargate-2vcpu-4gb', 2, 4, 20, 0.0990, 'production'),
        ('ecs-staging', 'ECS', 'ap-northeast-1', 'fargate-0.5vcpu-1gb', 1, 1, 20, 0.0250, 'staging'),
        ('rds-prod-main', 'RDS', 'ap-northeast-1', 'db.r5.large', 2, 16, 500, 0.2900, 'production'),
        ('rds-staging', 'RDS', 'ap-northeast-1', 'db.t3.medium', 2, 4, 100, 0.0820, 'staging'),
        ('lambda-webhooks', 'Lambda', 'ap-northeast-1', 'lambda-512mb', 1, 1, 1, 0.0100, 'production'),
        ('lambda-etl', 'Lambda', 'us-east-1', 'lambda-1024mb', 1, 1, 1, 0.0200, 'production'),
        ('alb-prod', 'ALB', 'ap-northeast-1', 'alb', 0, 0, 0, 0.0225, 'production'),
        ('cf-prod', 'CloudFront', 'us-east-1', 'cloudfront', 0, 0, 0, 0.0100, 'production')
    ) AS r (id, type, region, instance, cpu, mem, storage, hourly, env);
END;
$$;
COMMENT ON PROCEDURE devflow_src._reference_data(timestamptz) IS 'Insert the labels, agents and infrastructure inventory of the demo source.';
