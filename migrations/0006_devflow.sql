-- depends: 0005_quality
-- The devflow subject area (seed 000): AI-driven software delivery analytics, issue -> code -> review ->
-- deploy. The operational source (devflow_src), its bronze and silver layers, and the star schema in
-- schema devflow. Routines, views and the generator live in procedures/devflow_src/ and procedures/devflow/,
-- registration in procedures/registry/devflow.sql and devflow_rules.sql.

CREATE SCHEMA IF NOT EXISTS devflow_src;
COMMENT ON SCHEMA devflow_src IS 'Demo operational source of the devflow area: issues, agents, labels, worktrees, infrastructure inventory, agent execution logs, code generation tasks, reviews, deployment pipelines, label history, and an inbox of raw API payloads (GitHub pull requests, Prometheus/CloudWatch metric samples). Filled by CALL devflow_src.generate().';
GRANT USAGE ON SCHEMA devflow_src TO etl_service;
GRANT ALL ON SCHEMA devflow_src TO dwh_owner;

CREATE SCHEMA IF NOT EXISTS devflow;
COMMENT ON SCHEMA devflow IS 'devflow star schema (seed 000): dim_time (view over gold.dim_date), dim_issue, dim_infrastructure (SCD2), dim_agent, dim_label, dim_worktree (SCD1), five facts and three marts. SET search_path = devflow, gold runs the seed''s SQL unchanged.';
GRANT USAGE ON SCHEMA devflow TO analyst_role, etl_service;
GRANT ALL ON SCHEMA devflow TO dwh_owner;
ALTER DEFAULT PRIVILEGES IN SCHEMA devflow GRANT SELECT ON TABLES TO analyst_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA devflow GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO etl_service;
ALTER DEFAULT PRIVILEGES IN SCHEMA devflow GRANT EXECUTE ON FUNCTIONS TO etl_service;

-- ---------------------------------------------------------------------------------------------
-- Source (operational). Every table has updated_at: the high-water mark of incremental extraction.
-- No foreign keys: a real feed can reference rows the warehouse has not seen yet.
-- ---------------------------------------------------------------------------------------------

CREATE TABLE devflow_src.issues (
    id              text NOT NULL,
    number          integer NOT NULL,
    title           text NOT NULL,
    description     text,
    priority        text,
    complexity      text,
    issue_type      text,
    category        text,
    repository      text,
    created_by      text,
    assigned_to     text,
    labels          text[] NOT NULL DEFAULT '{}',
    state           text NOT NULL DEFAULT 'open',
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    closed_at       timestamptz,
    CONSTRAINT issues_pk PRIMARY KEY (id),
    CONSTRAINT issues_number_uq UNIQUE (number)
);
CREATE INDEX issues_updated_at_idx ON devflow_src.issues (updated_at);
COMMENT ON TABLE devflow_src.issues IS 'Issues as the tracker keeps them, updated in place; labels is the current label set (label_history has every change).';

CREATE TABLE devflow_src.agents (
    agent_id            text NOT NULL,
    agent_name          text NOT NULL,
    agent_type          text,
    agent_category      text,
    ai_model            text,
    ai_provider         text,
    model_version       text,
    framework_version   text,
    capabilities        text[],
    max_concurrent_tasks integer,
    cost_per_hour_usd   numeric(10,4),
    cost_per_token_usd  numeric(10,8),
    is_active           boolean NOT NULL DEFAULT true,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT agents_pk PRIMARY KEY (agent_id)
);
CREATE INDEX agents_updated_at_idx ON devflow_src.agents (updated_at);
COMMENT ON TABLE devflow_src.agents IS 'The agent registry (CodeGen, Review, Deployment, Issue, Coordinator, Business agents).';

CREATE TABLE devflow_src.labels (
    label_name          text NOT NULL,
    label_category      text NOT NULL,
    label_priority      text,
    color               text,
    icon                text,
    description         text,
    usage_guidelines    text,
    is_active           boolean NOT NULL DEFAULT true,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT labels_pk PRIMARY KEY (label_name)
);
CREATE INDEX labels_updated_at_idx ON devflow_src.labels (updated_at);
COMMENT ON TABLE devflow_src.labels IS 'The 57-label system: 11 categories (Status, Priority, Type, Component, Effort, Impact, Technology, Phase, Quality, Meta, Custom).';

CREATE TABLE devflow_src.worktree_states (
    id                   bigint NOT NULL,
    worktree_path        text NOT NULL,
    branch_name          text,
    base_branch          text,
    status               text,
    associated_issue_id  text,
    associated_pr_number integer,
    created_by           text,
    purpose              text,
    created_at           timestamptz NOT NULL DEFAULT now(),
    last_used_at         timestamptz,
    cleaned_up_at        timestamptz,
    updated_at           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT worktree_states_pk PRIMARY KEY (id),
    CONSTRAINT worktree_states_path_uq UNIQUE (worktree_path)
);
CREATE INDEX worktree_states_updated_at_idx ON devflow_src.worktree_states (updated_at);
COMMENT ON TABLE devflow_src.worktree_states IS 'Git worktrees the agents work in, one per issue attempt; status active -> merged / abandoned.';

CREATE TABLE devflow_src.infrastructure (
    resource_id         text NOT NULL,
    resource_type       text,
    resource_name       text,
    cloud_provider      text,
    region              text,
    availability_zone   text,
    instance_type       text,
    cpu_count           integer,
    memory_gb           integer,
    storage_gb          integer,
    storage_type        text,
    vpc_id              text,
    subnet_id           text,
    security_group_ids  text[],
    hourly_cost_usd     numeric(10,4),
    monthly_cost_usd    numeric(10,2),
    tags                jsonb,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT infrastructure_pk PRIMARY KEY (resource_id)
);
CREATE INDEX infrastructure_updated_at_idx ON devflow_src.infrastructure (updated_at);
COMMENT ON TABLE devflow_src.infrastructure IS 'Cloud resource inventory (seed 000 names AWS resources); a resize updates the row in place.';

CREATE TABLE devflow_src.label_history (
    id              bigint NOT NULL,
    issue_id        text NOT NULL,
    label_name      text NOT NULL,
    action          text NOT NULL,
    changed_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT label_history_pk PRIMARY KEY (id),
    CONSTRAINT label_history_action_ck CHECK (action IN ('added', 'removed'))
);
CREATE INDEX label_history_updated_at_idx ON devflow_src.label_history (updated_at);
COMMENT ON TABLE devflow_src.label_history IS 'Every label added to or removed from an issue.';

CREATE TABLE devflow_src.agent_execution_logs (
    id                   bigint NOT NULL,
    issue_id             text,
    agent_id             text,
    worktree_path        text,
    started_at           timestamptz NOT NULL,
    completed_at         timestamptz,
    execution_duration_ms bigint,
    memory_usage_mb      integer,
    cpu_usage_percent    numeric(5,2),
    disk_io_mb           integer,
    api_calls_count      integer,
    api_errors_count     integer,
    cache_hit_count      integer,
    cache_miss_count     integer,
    llm_provider         text,
    llm_model            text,
    llm_tokens_input     integer,
    llm_tokens_output    integer,
    llm_requests_count   integer,
    llm_cost_usd         numeric(10,4),
    exit_code            integer,
    error_count          integer,
    warning_count        integer,
    retry_count          integer,
    error_message        text,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT agent_execution_logs_pk PRIMARY KEY (id)
);
CREATE INDEX agent_execution_logs_updated_at_idx ON devflow_src.agent_execution_logs (updated_at);
COMMENT ON TABLE devflow_src.agent_execution_logs IS 'One row per agent run (several per issue: analysis, code generation, review, deployment).';

CREATE TABLE devflow_src.code_gen_tasks (
    id                        bigint NOT NULL,
    issue_id                  text,
    agent_id                  text,
    execution_id              bigint,
    total_files_generated     integer,
    total_lines_generated     integer,
    total_functions_generated integer,
    total_tests_generated     integer,
    compilation_time_ms       integer,
    clippy_warnings           integer,
    clippy_errors             integer,
    fmt_issues                integer,
    ai_model_name             text,
    ai_model_tokens_input     integer,
    ai_model_tokens_output    integer,
    ai_generation_cost_usd    numeric(10,4),
    ai_prompt_count           integer,
    cyclomatic_complexity_avg numeric(5,2),
    code_duplication_percent  numeric(5,2),
    maintainability_index     numeric(5,2),
    test_count                integer,
    generation_duration_ms    bigint,
    commit_sha                text,
    created_at                timestamptz NOT NULL DEFAULT now(),
    updated_at                timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT code_gen_tasks_pk PRIMARY KEY (id)
);
CREATE INDEX code_gen_tasks_updated_at_idx ON devflow_src.code_gen_tasks (updated_at);
COMMENT ON TABLE devflow_src.code_gen_tasks IS 'One row per code generation attempt of an issue (a commit).';

CREATE TABLE devflow_src.review_results (
    id                    bigint NOT NULL,
    issue_id              text,
    code_gen_task_id      bigint,
    agent_id              text,
    review_score          numeric(3,2),
    test_coverage_percent numeric(5,2),
    approved              boolean,
    reviewed_at           timestamptz NOT NULL,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT review_results_pk PRIMARY KEY (id)
);
CREATE INDEX review_results_updated_at_idx ON devflow_src.review_results (updated_at);
COMMENT ON TABLE devflow_src.review_results IS 'One row per review of a code generation attempt.';

CREATE TABLE devflow_src.deployment_pipelines (
    id                          bigint NOT NULL,
    pipeline_id                 text,
    issue_id                    text,
    agent_id                    text,
    resource_id                 text,
    commit_sha                  text,
    environment                 text,
    deployment_type             text,
    deployment_status           text,
    started_at                  timestamptz NOT NULL,
    completed_at                timestamptz,
    deployment_duration_seconds integer,
    rollback_count              integer,
    resource_count              integer,
    container_count             integer,
    health_check_pass_rate      numeric(5,2),
    error_count                 integer,
    warning_count               integer,
    infrastructure_cost_usd     numeric(10,2),
    data_transfer_cost_usd      numeric(10,2),
    created_at                  timestamptz NOT NULL DEFAULT now(),
    updated_at                  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT deployment_pipelines_pk PRIMARY KEY (id)
);
CREATE INDEX deployment_pipelines_updated_at_idx ON devflow_src.deployment_pipelines (updated_at);
COMMENT ON TABLE devflow_src.deployment_pipelines IS 'One row per deployment run (staging, production; a failed production deployment is followed by a recovery run).';

CREATE TABLE devflow_src.api_payloads (
    payload_id      bigint GENERATED BY DEFAULT AS IDENTITY,
    feed            text NOT NULL,
    source          text NOT NULL,
    payload         jsonb NOT NULL,
    received_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT api_payloads_pk PRIMARY KEY (payload_id),
    CONSTRAINT api_payloads_feed_ck CHECK (feed IN ('github_pulls', 'metrics'))
);
CREATE INDEX api_payloads_received_at_idx ON devflow_src.api_payloads (feed, received_at);
COMMENT ON TABLE devflow_src.api_payloads IS 'Inbox of raw API responses as the collectors received them: GitHub pulls?state=all&since= (feed github_pulls, a JSON array of pull requests) and Prometheus/CloudWatch metric samples (feed metrics, a JSON array of per-resource samples). Landed in bronze by dwh_etl.ingest_json.';

CREATE TABLE devflow_src.generator_state (
    id              boolean NOT NULL DEFAULT true,
    horizon         timestamptz NOT NULL,
    CONSTRAINT generator_state_pk PRIMARY KEY (id),
    CONSTRAINT generator_state_single_ck CHECK (id)
);
COMMENT ON TABLE devflow_src.generator_state IS 'The demo generator''s simulated clock: activity is generated up to horizon; generate_next_hour / generate_next_day move it forward.';

GRANT SELECT ON ALL TABLES IN SCHEMA devflow_src TO etl_service;

-- ---------------------------------------------------------------------------------------------
-- Bronze: raw text copies (append-only) of every operational table, column for column, plus the two
-- JSON feeds with the whole element in _raw_payload.
-- ---------------------------------------------------------------------------------------------

DO $bronze$
DECLARE
    v_table text;
BEGIN
    FOREACH v_table IN ARRAY ARRAY['issues', 'agents', 'labels', 'worktree_states', 'infrastructure', 'label_history',
                                   'agent_execution_logs', 'code_gen_tasks', 'review_results', 'deployment_pipelines']
    LOOP
        EXECUTE format(
            'CREATE TABLE bronze.%1$I (_bronze_id bigint GENERATED ALWAYS AS IDENTITY, %2$s, '
            '_batch_id uuid NOT NULL, _ingested_at timestamptz NOT NULL DEFAULT now(), _source text NOT NULL, '
            'CONSTRAINT %3$I PRIMARY KEY (_bronze_id))',
            'devflow_' || v_table,
            (SELECT string_agg(format('%I text', a.attname), ', ' ORDER BY a.attnum)
             FROM pg_catalog.pg_attribute AS a
             WHERE a.attrelid = format('devflow_src.%I', v_table)::regclass AND a.attnum > 0 AND NOT a.attisdropped),
            'devflow_' || v_table || '_pk');
        EXECUTE format('CREATE INDEX %I ON bronze.%I (_ingested_at)', 'devflow_' || v_table || '_ingested_idx', 'devflow_' || v_table);
        EXECUTE format('COMMENT ON TABLE bronze.%I IS %L', 'devflow_' || v_table,
                       format('Raw devflow_src.%s rows extracted by high-water mark on updated_at, as text. Append-only.', v_table));
    END LOOP;
END
$bronze$;

CREATE TABLE bronze.devflow_pull_requests (
    _bronze_id      bigint GENERATED ALWAYS AS IDENTITY,
    number          text,
    state           text,
    title           text,
    body            text,
    draft           text,
    merged          text,
    created_at      text,
    updated_at      text,
    closed_at       text,
    merged_at       text,
    additions       text,
    deletions       text,
    changed_files   text,
    html_url        text,
    _raw_payload    jsonb,
    _batch_id       uuid NOT NULL,
    _ingested_at    timestamptz NOT NULL DEFAULT now(),
    _source         text NOT NULL,
    CONSTRAINT devflow_pull_requests_pk PRIMARY KEY (_bronze_id)
);
CREATE INDEX devflow_pull_requests_ingested_idx ON bronze.devflow_pull_requests (_ingested_at);
COMMENT ON TABLE bronze.devflow_pull_requests IS 'GitHub API pull requests (GET /repos/{owner}/{repo}/pulls?state=all&since=), one row per element, top-level keys as text, the whole element (user, head, base ...) in _raw_payload. Landed by CALL dwh_etl.ingest_json(''bronze.devflow_pull_requests'', payload, ''github'').';

CREATE TABLE bronze.devflow_metric_samples (
    _bronze_id      bigint GENERATED ALWAYS AS IDENTITY,
    resource_id     text,
    namespace       text,
    timestamp       text,
    period          text,
    metrics         text,
    _raw_payload    jsonb,
    _batch_id       uuid NOT NULL,
    _ingested_at    timestamptz NOT NULL DEFAULT now(),
    _source         text NOT NULL,
    CONSTRAINT devflow_metric_samples_pk PRIMARY KEY (_bronze_id)
);
CREATE INDEX devflow_metric_samples_ingested_idx ON bronze.devflow_metric_samples (_ingested_at);
COMMENT ON TABLE bronze.devflow_metric_samples IS 'Per-resource metric samples as the Prometheus / CloudWatch collectors export them: {"resource_id", "namespace", "timestamp", "period", "metrics": {"cpu_utilization_percent": ..., ...}}. Landed by CALL dwh_etl.ingest_json(''bronze.devflow_metric_samples'', payload, ''prometheus'').';

-- ---------------------------------------------------------------------------------------------
-- Silver: typed and validated, latest state per natural key (devflow._load_silver); rejected rows are
-- in dwh_etl.quarantine with their raw bronze row.
-- ---------------------------------------------------------------------------------------------

DO $silver$
DECLARE
    v_spec record;
BEGIN
    FOR v_spec IN
        SELECT * FROM (VALUES
            ('issues', 'id'), ('agents', 'agent_id'), ('labels', 'label_name'), ('worktree_states', 'worktree_path'),
            ('infrastructure', 'resource_id'), ('label_history', 'id'), ('agent_execution_logs', 'id'),
            ('code_gen_tasks', 'id'), ('review_results', 'id'), ('deployment_pipelines', 'id')
        ) AS s (source_table, natural_key)
    LOOP
        EXECUTE format(
            'CREATE TABLE silver.%1$I (LIKE devflow_src.%2$I, _batch_id uuid NOT NULL, _loaded_at timestamptz NOT NULL DEFAULT now(), '
            'CONSTRAINT %3$I PRIMARY KEY (%4$I))',
            'devflow_' || v_spec.source_table, v_spec.source_table, 'devflow_' || v_spec.source_table || '_pk', v_spec.natural_key);
        EXECUTE format('CREATE INDEX %I ON silver.%I (_loaded_at)', 'devflow_' || v_spec.source_table || '_loaded_idx', 'devflow_' || v_spec.source_table);
        EXECUTE format('COMMENT ON TABLE silver.%I IS %L', 'devflow_' || v_spec.source_table,
                       format('devflow_src.%s typed and validated, latest state per %s.', v_spec.source_table, v_spec.natural_key));
    END LOOP;
END
$silver$;

CREATE TABLE silver.devflow_pull_requests (
    pr_number       integer NOT NULL,
    issue_number    integer,
    state           text NOT NULL,
    title           text,
    author          text,
    head_ref        text,
    head_sha        text,
    draft           boolean,
    merged          boolean,
    additions       integer,
    deletions       integer,
    changed_files   integer,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    closed_at       timestamptz,
    merged_at       timestamptz,
    _batch_id       uuid NOT NULL,
    _loaded_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT devflow_pull_requests_pk PRIMARY KEY (pr_number)
);
CREATE INDEX devflow_pull_requests_loaded_idx ON silver.devflow_pull_requests (_loaded_at);
CREATE INDEX devflow_pull_requests_issue_idx ON silver.devflow_pull_requests (issue_number);
COMMENT ON TABLE silver.devflow_pull_requests IS 'Pull requests from the GitHub feed, latest state per number; issue_number parsed from "Closes #N" in the body, else from the head branch issue-N.';

CREATE TABLE silver.devflow_metric_samples (
    resource_id                      text NOT NULL,
    measured_at                      timestamptz NOT NULL,
    namespace                        text,
    measurement_interval_seconds     integer NOT NULL,
    cpu_utilization_percent          numeric(5,2),
    memory_utilization_percent       numeric(5,2),
    disk_usage_percent               numeric(5,2),
    disk_io_mbps                     numeric(10,2),
    network_in_mbps                  numeric(10,2),
    network_out_mbps                 numeric(10,2),
    request_count                    bigint,
    request_rate_per_sec             numeric(10,2),
    error_count                      integer,
    p50_latency_ms                   integer,
    p90_latency_ms                   integer,
    p95_latency_ms                   integer,
    p99_latency_ms                   integer,
    max_latency_ms                   integer,
    db_connection_count              integer,
    db_connection_pool_usage_percent numeric(5,2),
    db_query_count                   bigint,
    db_query_time_avg_ms             numeric(10,2),
    db_query_time_p95_ms             integer,
    db_deadlock_count                integer,
    db_slow_query_count              integer,
    cache_hit_count                  bigint,
    cache_miss_count                 bigint,
    cache_eviction_count             integer,
    cache_size_mb                    integer,
    updated_at                       timestamptz NOT NULL,
    _batch_id                        uuid NOT NULL,
    _loaded_at                       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT devflow_metric_samples_pk PRIMARY KEY (resource_id, measured_at)
);
CREATE INDEX devflow_metric_samples_loaded_idx ON silver.devflow_metric_samples (_loaded_at);
COMMENT ON TABLE silver.devflow_metric_samples IS 'Metric samples, one per resource and measurement time (a re-sent sample replaces the earlier one); updated_at is the time the sample was ingested.';

-- ---------------------------------------------------------------------------------------------
-- Gold: dimensions. Engine SCD columns (valid_from, valid_to, is_current, version, is_deleted,
-- _batch_id, _loaded_at) plus the seed's names as generated columns (effective_date, expiration_date
-- as UTC dates; record_updated_at = _loaded_at).
-- ---------------------------------------------------------------------------------------------

-- The seed's dim_time, exposed over the conformed calendar (no copy). The seed names a fiscal year after
-- the calendar year it starts in (April 2025 -> 2025), gold after the year it ends in: the view derives
-- the seed's from gold's fiscal month.
CREATE VIEW devflow.dim_time AS
SELECT d.date_key          AS time_key,
       d.full_date,
       d.iso_day_of_week::integer AS day_of_week,
       d.day_name,
       d.day_of_month::integer    AS day_of_month,
       d.day_of_year::integer     AS day_of_year,
       d.week::integer            AS week_of_year,
       d.week_of_month::integer   AS week_of_month,
       d.month::integer           AS month,
       d.month_name,
       d.month_short              AS month_abbr,
       d.quarter::integer         AS quarter,
       d.quarter_name,
       d.year::integer            AS year,
       d.is_weekend,
       d.is_holiday,
       d.is_business_day,
       d.holiday_name,
       EXTRACT(YEAR FROM d.full_date - make_interval(months => d.fiscal_month - 1))::integer AS fiscal_year,
       d.fiscal_quarter::integer  AS fiscal_quarter,
       d.fiscal_month::integer    AS fiscal_month,
       ((d.full_date - (date_trunc('month', d.full_date) - make_interval(months => d.fiscal_month - 1))::date) / 7 + 1)::integer AS fiscal_week
FROM gold.dim_date AS d;
COMMENT ON VIEW devflow.dim_time IS 'Seed 000 dim_time over gold.dim_date: time_key = date_key (YYYYMMDD), day_of_week ISO (1 = Monday), week_of_year ISO; fiscal year named after the year it starts in (setting calendar.fiscal_year_start_month), fiscal_week counted from the fiscal year''s first day.';

CREATE TABLE devflow.dim_issue (
    issue_key           bigint GENERATED ALWAYS AS IDENTITY,
    issue_id            text NOT NULL,
    issue_number        integer NOT NULL,
    title               text,
    description         text,
    priority            text,
    complexity          text,
    issue_type          text,
    category            text,
    repository          text,
    created_by          text,
    assigned_to         text,
    labels              text[],
    valid_from          timestamptz NOT NULL,
    valid_to            timestamptz,
    is_current          boolean NOT NULL,
    version             integer NOT NULL,
    is_deleted          boolean NOT NULL DEFAULT false,
    _batch_id           uuid NOT NULL,
    _loaded_at          timestamptz NOT NULL DEFAULT now(),
    effective_date      date GENERATED ALWAYS AS ((valid_from AT TIME ZONE 'UTC')::date) STORED,
    expiration_date     date GENERATED ALWAYS AS ((valid_to AT TIME ZONE 'UTC')::date) STORED,
    record_created_at   timestamptz NOT NULL DEFAULT now(),
    record_updated_at   timestamptz GENERATED ALWAYS AS (_loaded_at) STORED,
    CONSTRAINT dim_issue_pk PRIMARY KEY (issue_key),
    CONSTRAINT dim_issue_priority_ck CHECK (priority IN ('P0', 'P1', 'P2', 'P3', 'P4')),
    CONSTRAINT dim_issue_complexity_ck CHECK (complexity IN ('trivial', 'low', 'medium', 'high', 'critical')),
    CONSTRAINT dim_issue_validity_ck CHECK (valid_to > valid_from),
    CONSTRAINT dim_issue_version_ck CHECK (version >= 1),
    CONSTRAINT dim_issue_current_ck CHECK (is_current = (valid_to IS NULL)),
    CONSTRAINT dim_issue_no_overlap EXCLUDE USING gist (issue_id WITH =, tstzrange(valid_from, valid_to) WITH &&),
    CONSTRAINT dim_issue_version_uq UNIQUE (issue_id, version)
);
CREATE UNIQUE INDEX dim_issue_current_uq ON devflow.dim_issue (issue_id) WHERE is_current;
CREATE UNIQUE INDEX idx_di_natural_key_current ON devflow.dim_issue (issue_id, issue_number) WHERE is_current;
CREATE INDEX idx_di_issue_id ON devflow.dim_issue (issue_id, valid_from);
CREATE INDEX idx_di_current ON devflow.dim_issue (is_current) WHERE is_current;
CREATE INDEX idx_di_effective ON devflow.dim_issue (effective_date, expiration_date);
CREATE INDEX idx_di_number ON devflow.dim_issue (issue_number);
COMMENT ON TABLE devflow.dim_issue IS 'Issue dimension, SCD Type 2 (priority, complexity, type, category, assignee, labels tracked; title, description, repository, author overwritten). The first version of an issue is valid from its creation.';

CREATE TABLE devflow.dim_agent (
    agent_key           bigint GENERATED ALWAYS AS IDENTITY,
    agent_id            text NOT NULL,
    agent_name          text NOT NULL,
    agent_type          text,
    agent_category      text,
    ai_model            text,
    ai_provider         text,
    model_version       text,
    framework_version   text,
    capabilities        text[],
    max_concurrent_tasks integer,
    cost_per_hour_usd   numeric(10,4),
    cost_per_token_usd  numeric(10,8),
    is_active           boolean DEFAULT true,
    created_at          timestamptz,
    updated_at          timestamptz,
    valid_from          timestamptz NOT NULL,
    valid_to            timestamptz,
    is_current          boolean NOT NULL,
    version             integer NOT NULL,
    is_deleted          boolean NOT NULL DEFAULT false,
    _batch_id           uuid NOT NULL,
    _loaded_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT dim_agent_pk PRIMARY KEY (agent_key),
    CONSTRAINT dim_agent_type_ck CHECK (agent_type IN ('CodeGen', 'Review', 'Deployment', 'Issue', 'Coordinator', 'Business', 'Marketing', 'Sales')),
    CONSTRAINT dim_agent_category_ck CHECK (agent_category IN ('Technical', 'Business')),
    CONSTRAINT dim_agent_validity_ck CHECK (valid_to > valid_from),
    CONSTRAINT dim_agent_current_ck CHECK (is_current = (valid_to IS NULL)),
    CONSTRAINT dim_agent_version_uq UNIQUE (agent_id, version)
);
CREATE UNIQUE INDEX dim_agent_current_uq ON devflow.dim_agent (agent_id) WHERE is_current;
CREATE INDEX idx_da_type ON devflow.dim_agent (agent_type);
CREATE INDEX idx_da_active ON devflow.dim_agent (is_active) WHERE is_active;
COMMENT ON TABLE devflow.dim_agent IS 'Agent dimension, SCD Type 1 (every attribute overwritten: one version per agent).';

CREATE TABLE devflow.dim_infrastructure (
    infrastructure_key  bigint GENERATED ALWAYS AS IDENTITY,
    resource_id         text NOT NULL,
    resource_type       text,
    resource_name       text,
    cloud_provider      text DEFAULT 'AWS',
    region              text,
    availability_zone   text,
    instance_type       text,
    cpu_count           integer,
    memory_gb           integer,
    storage_gb          integer,
    storage_type        text,
    vpc_id              text,
    subnet_id           text,
    security_group_ids  text[],
    hourly_cost_usd     numeric(10,4),
    monthly_cost_usd    numeric(10,2),
    tags                jsonb,
    valid_from          timestamptz NOT NULL,
    valid_to            timestamptz,
    is_current          boolean NOT NULL,
    version             integer NOT NULL,
    is_deleted          boolean NOT NULL DEFAULT false,
    _batch_id           uuid NOT NULL,
    _loaded_at          timestamptz NOT NULL DEFAULT now(),
    effective_date      date GENERATED ALWAYS AS ((valid_from AT TIME ZONE 'UTC')::date) STORED,
    expiration_date     date GENERATED ALWAYS AS ((valid_to AT TIME ZONE 'UTC')::date) STORED,
    record_created_at   timestamptz NOT NULL DEFAULT now(),
    record_updated_at   timestamptz GENERATED ALWAYS AS (_loaded_at) STORED,
    CONSTRAINT dim_infrastructure_pk PRIMARY KEY (infrastructure_key),
    CONSTRAINT dim_infrastructure_type_ck CHECK (resource_type IN ('VPC', 'Subnet', 'EC2', 'ECS', 'RDS', 'S3', 'Lambda', 'ALB', 'CloudFront', 'Route53')),
    CONSTRAINT dim_infrastructure_validity_ck CHECK (valid_to > valid_from),
    CONSTRAINT dim_infrastructure_version_ck CHECK (version >= 1),
    CONSTRAINT dim_infrastructure_current_ck CHECK (is_current = (valid_to IS NULL)),
    CONSTRAINT dim_infrastructure_no_overlap EXCLUDE USING gist (resource_id WITH =, tstzrange(valid_from, valid_to) WITH &&),
    CONSTRAINT dim_infrastructure_version_uq UNIQUE (resource_id, version)
);
CREATE UNIQUE INDEX dim_infrastructure_current_uq ON devflow.dim_infrastructure (resource_id) WHERE is_current;
CREATE INDEX idx_dinf_resource_id ON devflow.dim_infrastructure (resource_id, valid_from);
CREATE INDEX idx_dinf_current ON devflow.dim_infrastructure (is_current) WHERE is_current;
CREATE INDEX idx_dinf_type ON devflow.dim_infrastructure (resource_type);
CREATE INDEX idx_dinf_region ON devflow.dim_infrastructure (region);
CREATE INDEX idx_dinf_tags ON devflow.dim_infrastructure USING gin (tags);
COMMENT ON TABLE devflow.dim_infrastructure IS 'Infrastructure dimension, SCD Type 2 (configuration, location, cost, tags tracked; name and provider overwritten). The first version of a resource is valid from its creation.';

CREATE TABLE devflow.dim_label (
    label_key           bigint GENERATED ALWAYS AS IDENTITY,
    label_name          text NOT NULL,
    label_category      text,
    label_priority      text,
    color               text,
    icon                text,
    description         text,
    usage_guidelines    text,
    is_active           boolean DEFAULT true,
    created_at          timestamptz,
    updated_at          timestamptz,
    valid_from          timestamptz NOT NULL,
    valid_to            timestamptz,
    is_current          boolean NOT NULL,
    version             integer NOT NULL,
    is_deleted          boolean NOT NULL DEFAULT false,
    _batch_id           uuid NOT NULL,
    _loaded_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT dim_label_pk PRIMARY KEY (label_key),
    CONSTRAINT dim_label_category_ck CHECK (label_category IN ('Status', 'Priority', 'Type', 'Component', 'Effort',
                                                              'Impact', 'Technology', 'Phase', 'Quality', 'Meta', 'Custom')),
    CONSTRAINT dim_label_validity_ck CHECK (valid_to > valid_from),
    CONSTRAINT dim_label_current_ck CHECK (is_current = (valid_to IS NULL)),
    CONSTRAINT dim_label_version_uq UNIQUE (label_name, version)
);
CREATE UNIQUE INDEX dim_label_current_uq ON devflow.dim_label (label_name) WHERE is_current;
CREATE INDEX idx_dl_category ON devflow.dim_label (label_category);
CREATE INDEX idx_dl_active ON devflow.dim_label (is_active) WHERE is_active;
COMMENT ON TABLE devflow.dim_label IS 'Label dimension (the 57-label system, 11 categories), SCD Type 1.';

CREATE TABLE devflow.dim_worktree (
    worktree_key         bigint GENERATED ALWAYS AS IDENTITY,
    worktree_path        text NOT NULL,
    branch_name          text,
    base_branch          text,
    status               text,
    associated_issue_id  text,
    associated_pr_number integer,
    created_by           text,
    purpose              text,
    created_at           timestamptz,
    last_used_at         timestamptz,
    cleaned_up_at        timestamptz,
    valid_from           timestamptz NOT NULL,
    valid_to             timestamptz,
    is_current           boolean NOT NULL,
    version              integer NOT NULL,
    is_deleted           boolean NOT NULL DEFAULT false,
    _batch_id            uuid NOT NULL,
    _loaded_at           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT dim_worktree_pk PRIMARY KEY (worktree_key),
    CONSTRAINT dim_worktree_status_ck CHECK (status IN ('active', 'completed', 'abandoned', 'merged')),
    CONSTRAINT dim_worktree_validity_ck CHECK (valid_to > valid_from),
    CONSTRAINT dim_worktree_current_ck CHECK (is_current = (valid_to IS NULL)),
    CONSTRAINT dim_worktree_version_uq UNIQUE (worktree_path, version)
);
CREATE UNIQUE INDEX dim_worktree_current_uq ON devflow.dim_worktree (worktree_path) WHERE is_current;
CREATE INDEX idx_dw_branch ON devflow.dim_worktree (branch_name);
CREATE INDEX idx_dw_status ON devflow.dim_worktree (status);
CREATE INDEX idx_dw_issue ON devflow.dim_worktree (associated_issue_id);
COMMENT ON TABLE devflow.dim_worktree IS 'Worktree dimension, SCD Type 1.';

-- ---------------------------------------------------------------------------------------------
-- Gold: facts, each at its own grain with a natural key and a unique index on it (the seed's extract
-- joined executions, generations, reviews, deployments and worktrees of an issue in one row and
-- multiplied them). Dimension keys point at the version current at the event time; time_key is the
-- conformed gold.dim_date key (the seed's dim_time.time_key).
-- ---------------------------------------------------------------------------------------------

CREATE TABLE devflow.fact_issue_processing (
    issue_processing_key        bigint GENERATED ALWAYS AS IDENTITY,
    issue_key                   bigint NOT NULL,
    agent_key                   bigint,
    time_key                    integer NOT NULL,
    label_key                   bigint,
    worktree_key                bigint,
    processing_duration_seconds integer NOT NULL,
    lines_of_code_generated     integer DEFAULT 0,
    files_modified              integer DEFAULT 0,
    review_score                numeric(3,2),
    test_coverage_percent       numeric(5,2),
    clippy_warnings             integer DEFAULT 0,
    fmt_issues                  integer DEFAULT 0,
    build_success               boolean NOT NULL,
    test_success                boolean NOT NULL,
    deployment_success          boolean,
    ai_cost_usd                 numeric(10,4) DEFAULT 0,
    infrastructure_cost_usd     numeric(10,4) DEFAULT 0,
    started_at                  timestamptz NOT NULL,
    completed_at                timestamptz NOT NULL,
    issue_number                integer NOT NULL,
    commit_sha                  varchar(40),
    pr_number                   integer,
    _batch_id                   uuid NOT NULL,
    _loaded_at                  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT fact_issue_processing_pk PRIMARY KEY (issue_processing_key),
    CONSTRAINT fact_issue_processing_issue_fk FOREIGN KEY (issue_key) REFERENCES devflow.dim_issue (issue_key),
    CONSTRAINT fact_issue_processing_agent_fk FOREIGN KEY (agent_key) REFERENCES devflow.dim_agent (agent_key),
    CONSTRAINT fact_issue_processing_time_fk FOREIGN KEY (time_key) REFERENCES gold.dim_date (date_key),
    CONSTRAINT fact_issue_processing_label_fk FOREIGN KEY (label_key) REFERENCES devflow.dim_label (label_key),
    CONSTRAINT fact_issue_processing_worktree_fk FOREIGN KEY (worktree_key) REFERENCES devflow.dim_worktree (worktree_key),
    CONSTRAINT fact_issue_processing_review_score_ck CHECK (review_score BETWEEN 0 AND 1),
    CONSTRAINT fact_issue_processing_coverage_ck CHECK (test_coverage_percent BETWEEN 0 AND 100),
    CONSTRAINT valid_duration CHECK (completed_at >= started_at)
);
-- The seed's load said ON CONFLICT (issue_number, started_at) without any such constraint: here it is.
CREATE UNIQUE INDEX fact_issue_processing_nk ON devflow.fact_issue_processing (issue_number, started_at);
CREATE INDEX idx_fip_time ON devflow.fact_issue_processing (time_key);
CREATE INDEX idx_fip_agent ON devflow.fact_issue_processing (agent_key);
CREATE INDEX idx_fip_issue ON devflow.fact_issue_processing (issue_key);
CREATE INDEX idx_fip_completed ON devflow.fact_issue_processing (completed_at);
COMMENT ON TABLE devflow.fact_issue_processing IS 'Accumulating snapshot, one row per issue processing (natural key issue_number + started_at = the first agent execution), updated as executions, generations, reviews, deployments and pull requests arrive.';
COMMENT ON COLUMN devflow.fact_issue_processing.processing_duration_seconds IS 'completed_at - started_at: first agent execution start to the last execution or deployment end.';
COMMENT ON COLUMN devflow.fact_issue_processing.build_success IS 'The latest code generation had no clippy warnings and no fmt issues.';
COMMENT ON COLUMN devflow.fact_issue_processing.test_success IS 'The latest review''s test coverage is above 70%.';
COMMENT ON COLUMN devflow.fact_issue_processing.deployment_success IS 'The latest production deployment succeeded; NULL when there was none.';
COMMENT ON COLUMN devflow.fact_issue_processing.ai_cost_usd IS 'Sum of the LLM cost of the issue''s agent executions.';
COMMENT ON COLUMN devflow.fact_issue_processing.infrastructure_cost_usd IS 'Sum of the total cost (infrastructure + data transfer) of the issue''s deployments.';
COMMENT ON COLUMN devflow.fact_issue_processing.label_key IS 'Primary label: the highest of P0..P4 the issue carries, else its first label (earliest added, then by name).';
COMMENT ON COLUMN devflow.fact_issue_processing.agent_key IS 'The agent that spent the most execution time on the issue.';

CREATE TABLE devflow.fact_code_generation (
    code_gen_key              bigint GENERATED ALWAYS AS IDENTITY,
    code_gen_id               bigint NOT NULL,
    agent_key                 bigint,
    time_key                  integer NOT NULL,
    issue_key                 bigint,
    total_files_generated     integer DEFAULT 0,
    total_lines_generated     integer DEFAULT 0,
    total_functions_generated integer DEFAULT 0,
    total_tests_generated     integer DEFAULT 0,
    compilation_time_ms       integer,
    clippy_warnings           integer DEFAULT 0,
    clippy_errors             integer DEFAULT 0,
    fmt_issues                integer DEFAULT 0,
    ai_model_name             varchar(100),
    ai_model_tokens_input     integer DEFAULT 0,
    ai_model_tokens_output    integer DEFAULT 0,
    ai_generation_cost_usd    numeric(10,4) DEFAULT 0,
    ai_prompt_count           integer DEFAULT 0,
    cyclomatic_complexity_avg numeric(5,2),
    code_duplication_percent  numeric(5,2),
    maintainability_index     numeric(5,2),
    test_count                integer DEFAULT 0,
    generation_duration_ms    bigint NOT NULL,
    created_at                timestamptz NOT NULL,
    commit_sha                varchar(40),
    _batch_id                 uuid NOT NULL,
    _loaded_at                timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT fact_code_generation_pk PRIMARY KEY (code_gen_key),
    CONSTRAINT fact_code_generation_nk UNIQUE (code_gen_id),
    CONSTRAINT fact_code_generation_agent_fk FOREIGN KEY (agent_key) REFERENCES devflow.dim_agent (agent_key),
    CONSTRAINT fact_code_generation_time_fk FOREIGN KEY (time_key) REFERENCES gold.dim_date (date_key),
    CONSTRAINT fact_code_generation_issue_fk FOREIGN KEY (issue_key) REFERENCES devflow.dim_issue (issue_key),
    CONSTRAINT positive_lines CHECK (total_lines_generated >= 0)
);
CREATE INDEX idx_fcg_agent ON devflow.fact_code_generation (agent_key);
CREATE INDEX idx_fcg_time ON devflow.fact_code_generation (time_key);
CREATE INDEX idx_fcg_created ON devflow.fact_code_generation (created_at);
CREATE INDEX idx_fcg_issue ON devflow.fact_code_generation (issue_key);
COMMENT ON TABLE devflow.fact_code_generation IS 'One row per code generation task (natural key code_gen_id).';

CREATE TABLE devflow.fact_deployment (
    deployment_key              bigint GENERATED ALWAYS AS IDENTITY,
    deployment_id               bigint NOT NULL,
    infrastructure_key          bigint,
    time_key                    integer NOT NULL,
    issue_key                   bigint,
    agent_key                   bigint,
    deployment_duration_seconds integer NOT NULL,
    rollback_count              integer DEFAULT 0,
    resource_count              integer DEFAULT 0,
    container_count             integer DEFAULT 0,
    health_check_pass_rate      numeric(5,2),
    error_count                 integer DEFAULT 0,
    warning_count               integer DEFAULT 0,
    infrastructure_cost_usd     numeric(10,2) DEFAULT 0,
    data_transfer_cost_usd      numeric(10,2) DEFAULT 0,
    total_cost_usd              numeric(10,2) GENERATED ALWAYS AS (infrastructure_cost_usd + data_transfer_cost_usd) STORED,
    deployment_status           varchar(20) NOT NULL,
    deployment_type             varchar(20),
    environment                 varchar(20),
    started_at                  timestamptz NOT NULL,
    completed_at                timestamptz NOT NULL,
    commit_sha                  varchar(40) NOT NULL,
    pipeline_id                 varchar(100),
    _batch_id                   uuid NOT NULL,
    _loaded_at                  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT fact_deployment_pk PRIMARY KEY (deployment_key),
    CONSTRAINT fact_deployment_nk UNIQUE (deployment_id),
    CONSTRAINT fact_deployment_infra_fk FOREIGN KEY (infrastructure_key) REFERENCES devflow.dim_infrastructure (infrastructure_key),
    CONSTRAINT fact_deployment_time_fk FOREIGN KEY (time_key) REFERENCES gold.dim_date (date_key),
    CONSTRAINT fact_deployment_issue_fk FOREIGN KEY (issue_key) REFERENCES devflow.dim_issue (issue_key),
    CONSTRAINT fact_deployment_agent_fk FOREIGN KEY (agent_key) REFERENCES devflow.dim_agent (agent_key),
    CONSTRAINT fact_deployment_health_ck CHECK (health_check_pass_rate BETWEEN 0 AND 100),
    CONSTRAINT fact_deployment_status_ck CHECK (deployment_status IN ('SUCCESS', 'FAILED', 'ROLLED_BACK', 'PARTIAL')),
    CONSTRAINT fact_deployment_type_ck CHECK (deployment_type IN ('BLUE_GREEN', 'CANARY', 'ROLLING', 'RECREATE')),
    CONSTRAINT fact_deployment_environment_ck CHECK (environment IN ('dev', 'staging', 'production')),
    CONSTRAINT fact_deployment_valid_duration CHECK (completed_at >= started_at)
);
CREATE INDEX idx_fd_infra ON devflow.fact_deployment (infrastructure_key);
CREATE INDEX idx_fd_time ON devflow.fact_deployment (time_key);
CREATE INDEX idx_fd_status ON devflow.fact_deployment (deployment_status);
CREATE INDEX idx_fd_env ON devflow.fact_deployment (environment);
CREATE INDEX idx_fd_issue ON devflow.fact_deployment (issue_key);
COMMENT ON TABLE devflow.fact_deployment IS 'One row per deployment run (natural key deployment_id); time_key is the start date.';

CREATE TABLE devflow.fact_agent_execution (
    execution_key         bigint GENERATED ALWAYS AS IDENTITY,
    execution_id          bigint NOT NULL,
    agent_key             bigint,
    time_key              integer NOT NULL,
    issue_key             bigint,
    worktree_key          bigint,
    execution_duration_ms bigint NOT NULL,
    memory_usage_mb       integer,
    cpu_usage_percent     numeric(5,2),
    disk_io_mb            integer,
    api_calls_count       integer DEFAULT 0,
    api_errors_count      integer DEFAULT 0,
    cache_hit_count       integer DEFAULT 0,
    cache_miss_count      integer DEFAULT 0,
    cache_hit_rate        numeric(5,2) GENERATED ALWAYS AS (
        CASE WHEN (cache_hit_count + cache_miss_count) > 0
             THEN (cache_hit_count::numeric / (cache_hit_count + cache_miss_count) * 100)
             ELSE 0 END) STORED,
    llm_provider          varchar(50),
    llm_model             varchar(100),
    llm_tokens_input      integer DEFAULT 0,
    llm_tokens_output     integer DEFAULT 0,
    llm_requests_count    integer DEFAULT 0,
    llm_cost_usd          numeric(10,4) DEFAULT 0,
    exit_code             integer NOT NULL,
    error_count           integer DEFAULT 0,
    warning_count         integer DEFAULT 0,
    retry_count           integer DEFAULT 0,
    success               boolean NOT NULL,
    error_message         text,
    started_at            timestamptz NOT NULL,
    completed_at          timestamptz NOT NULL,
    _batch_id             uuid NOT NULL,
    _loaded_at            timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT fact_agent_execution_pk PRIMARY KEY (execution_key),
    CONSTRAINT fact_agent_execution_nk UNIQUE (execution_id),
    CONSTRAINT fact_agent_execution_agent_fk FOREIGN KEY (agent_key) REFERENCES devflow.dim_agent (agent_key),
    CONSTRAINT fact_agent_execution_time_fk FOREIGN KEY (time_key) REFERENCES gold.dim_date (date_key),
    CONSTRAINT fact_agent_execution_issue_fk FOREIGN KEY (issue_key) REFERENCES devflow.dim_issue (issue_key),
    CONSTRAINT fact_agent_execution_worktree_fk FOREIGN KEY (worktree_key) REFERENCES devflow.dim_worktree (worktree_key),
    CONSTRAINT valid_execution_time CHECK (completed_at >= started_at)
);
CREATE INDEX idx_fae_agent ON devflow.fact_agent_execution (agent_key);
CREATE INDEX idx_fae_time ON devflow.fact_agent_execution (time_key);
CREATE INDEX idx_fae_success ON devflow.fact_agent_execution (success);
CREATE INDEX idx_fae_completed ON devflow.fact_agent_execution (completed_at);
CREATE INDEX idx_fae_issue ON devflow.fact_agent_execution (issue_key);
COMMENT ON TABLE devflow.fact_agent_execution IS 'One row per finished agent execution (natural key execution_id); success = exit code 0.';

CREATE TABLE devflow.fact_performance_metrics (
    metric_key                       bigint GENERATED ALWAYS AS IDENTITY,
    time_key                         integer NOT NULL,
    infrastructure_key               bigint,
    resource_id                      text NOT NULL,
    cpu_utilization_percent          numeric(5,2),
    memory_utilization_percent       numeric(5,2),
    disk_usage_percent               numeric(5,2),
    disk_io_mbps                     numeric(10,2),
    network_in_mbps                  numeric(10,2),
    network_out_mbps                 numeric(10,2),
    request_count                    bigint DEFAULT 0,
    request_rate_per_sec             numeric(10,2),
    error_count                      integer DEFAULT 0,
    error_rate                       numeric(5,4) GENERATED ALWAYS AS (
        CASE WHEN request_count > 0 THEN (error_count::numeric / request_count) ELSE 0 END) STORED,
    p50_latency_ms                   integer,
    p90_latency_ms                   integer,
    p95_latency_ms                   integer,
    p99_latency_ms                   integer,
    max_latency_ms                   integer,
    db_connection_count              integer DEFAULT 0,
    db_connection_pool_usage_percent numeric(5,2),
    db_query_count                   bigint DEFAULT 0,
    db_query_time_avg_ms             numeric(10,2),
    db_query_time_p95_ms             integer,
    db_deadlock_count                integer DEFAULT 0,
    db_slow_query_count              integer DEFAULT 0,
    cache_hit_count                  bigint DEFAULT 0,
    cache_miss_count                 bigint DEFAULT 0,
    cache_eviction_count             integer DEFAULT 0,
    cache_size_mb                    integer,
    measured_at                      timestamptz NOT NULL,
    measurement_interval_seconds     integer DEFAULT 60,
    _batch_id                        uuid NOT NULL,
    _loaded_at                       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT fact_performance_metrics_pk PRIMARY KEY (metric_key, time_key),
    CONSTRAINT fact_performance_metrics_nk UNIQUE (resource_id, measured_at, time_key),
    CONSTRAINT fact_performance_metrics_infra_fk FOREIGN KEY (infrastructure_key) REFERENCES devflow.dim_infrastructure (infrastructure_key),
    CONSTRAINT fact_performance_metrics_time_fk FOREIGN KEY (time_key) REFERENCES gold.dim_date (date_key),
    CONSTRAINT fact_performance_metrics_cpu_ck CHECK (cpu_utilization_percent BETWEEN 0 AND 100),
    CONSTRAINT fact_performance_metrics_memory_ck CHECK (memory_utilization_percent BETWEEN 0 AND 100),
    CONSTRAINT fact_performance_metrics_disk_ck CHECK (disk_usage_percent BETWEEN 0 AND 100)
) PARTITION BY RANGE (time_key);
CREATE INDEX idx_fpm_time ON devflow.fact_performance_metrics (time_key);
CREATE INDEX idx_fpm_infra ON devflow.fact_performance_metrics (infrastructure_key);
CREATE INDEX idx_fpm_measured ON devflow.fact_performance_metrics (measured_at);
COMMENT ON TABLE devflow.fact_performance_metrics IS 'One row per resource and 5-minute sample (natural key resource_id + measured_at; time_key is in the key because it is the partition key, monthly partitions created ahead by the load).';

-- ---------------------------------------------------------------------------------------------
-- Marts (materialized views, refreshed CONCURRENTLY; unique indexes equal to each mart's grain).
-- ---------------------------------------------------------------------------------------------

-- Fixed from the seed: facts point at the issue version current at processing, so the seed's join to
-- the current version only dropped every issue whose attributes changed since; the mart groups by the
-- version the fact points at (as processed). DORA from production deployments of the group's issues:
-- frequency = successful ones per day of the group's period (the days of that ISO week in that month),
-- lead time = processing start -> first successful production deployment, change failure rate = failed
-- or rolled back / all, mean time to recovery = failed deployment end -> the next successful one's end.
CREATE MATERIALIZED VIEW devflow.mart_development_performance AS
WITH facts AS (
    SELECT dt.year, dt.quarter, dt.month, dt.week_of_year,
           COALESCE(di.priority, 'unknown')   AS priority,
           COALESCE(di.complexity, 'unknown') AS complexity,
           COALESCE(da.agent_type, 'unknown') AS agent_type,
           di.issue_id,
           f.*
    FROM devflow.fact_issue_processing AS f
    JOIN devflow.dim_time AS dt
      ON dt.time_key = f.time_key
    JOIN devflow.dim_issue AS di
      ON di.issue_key = f.issue_key
    LEFT JOIN devflow.dim_agent AS da
      ON da.agent_key = f.agent_key
),
production AS (
    SELECT di.issue_id, fd.deployment_status, fd.completed_at
    FROM devflow.fact_deployment AS fd
    JOIN devflow.dim_issue AS di
      ON di.issue_key = fd.issue_key
    WHERE fd.environment = 'production'
),
recovery AS (
    SELECT p.issue_id,
           EXTRACT(EPOCH FROM (SELECT min(s.completed_at) FROM production AS s
                               WHERE s.issue_id = p.issue_id AND s.deployment_status = 'SUCCESS'
                                 AND s.completed_at > p.completed_at) - p.completed_at) / 3600.0 AS hours
    FROM production AS p
    WHERE p.deployment_status IN ('FAILED', 'ROLLED_BACK')
),
issue_dora AS (
    SELECT p.issue_id,
           count(*)                                                          AS deployments,
           count(*) FILTER (WHERE p.deployment_status = 'SUCCESS')          AS successful,
           count(*) FILTER (WHERE p.deployment_status IN ('FAILED', 'ROLLED_BACK')) AS failed,
           min(p.completed_at) FILTER (WHERE p.deployment_status = 'SUCCESS') AS first_success_at
    FROM production AS p
    GROUP BY p.issue_id
),
issue_recovery AS (
    SELECT r.issue_id, sum(r.hours) AS hours, count(r.hours) AS recovered
    FROM recovery AS r
    GROUP BY r.issue_id
),
period_days AS (
    SELECT t.year, t.quarter, t.month, t.week_of_year, count(*) AS days
    FROM devflow.dim_time AS t
    GROUP BY t.year, t.quarter, t.month, t.week_of_year
)
SELECT f.year, f.quarter, f.month, f.week_of_year, f.priority, f.complexity, f.agent_type,
       COUNT(DISTINCT f.issue_processing_key) AS total_issues,
       SUM(f.files_modified) AS total_files_modified,
       SUM(f.lines_of_code_generated) AS total_lines_generated,
       AVG(f.processing_duration_seconds) AS avg_processing_time_seconds,
       PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY f.processing_duration_seconds) AS median_processing_time,
       PERCENTILE_CONT(0.95) WITHIN GROUP (ORDER BY f.processing_duration_seconds) AS p95_processing_time,
       AVG(f.review_score) AS avg_review_score,
       AVG(f.test_coverage_percent) AS avg_test_coverage,
       SUM(f.clippy_warnings) AS total_clippy_warnings,
       SUM(f.fmt_issues) AS total_fmt_issues,
       AVG(CASE WHEN f.build_success THEN 100.0 ELSE 0.0 END) AS build_success_rate,
       AVG(CASE WHEN f.test_success THEN 100.0 ELSE 0.0 END) AS test_success_rate,
       AVG(CASE WHEN f.deployment_success THEN 100.0 ELSE 0.0 END) FILTER (WHERE f.deployment_success IS NOT NULL) AS deployment_success_rate,
       SUM(f.ai_cost_usd) AS total_ai_cost_usd,
       SUM(f.infrastructure_cost_usd) AS total_infra_cost_usd,
       AVG(f.ai_cost_usd) AS avg_cost_per_issue,
       COALESCE(SUM(d.deployments), 0) AS production_deployments,
       COALESCE(SUM(d.successful), 0)::numeric / MIN(pd.days) AS deployment_frequency_per_day,
       AVG(EXTRACT(EPOCH FROM d.first_success_at - f.started_at) / 3600.0) AS mean_lead_time_hours,
       100.0 * SUM(d.failed) / NULLIF(SUM(d.deployments), 0) AS change_failure_rate,
       SUM(r.hours) / NULLIF(SUM(r.recovered), 0) AS mean_time_to_recovery_hours
FROM facts AS f
JOIN period_days AS pd
  ON pd.year = f.year AND pd.quarter = f.quarter AND pd.month = f.month AND pd.week_of_year = f.week_of_year
LEFT JOIN issue_dora AS d
  ON d.issue_id = f.issue_id
LEFT JOIN issue_recovery AS r
  ON r.issue_id = f.issue_id
GROUP BY f.year, f.quarter, f.month, f.week_of_year, f.priority, f.complexity, f.agent_type;
CREATE UNIQUE INDEX idx_mart_dev_perf ON devflow.mart_development_performance (
    year, quarter, month, week_of_year, priority, complexity, agent_type);
COMMENT ON MATERIALIZED VIEW devflow.mart_development_performance IS 'Development performance by week, priority, complexity and agent type with the DORA metrics (deployment frequency, lead time, change failure rate, mean time to recovery). One fact row per issue, so no DORA count is multiplied.';

-- Fixed from the seed: the unique index now covers ai_model, a GROUP BY column (without it two models
-- of one agent make REFRESH ... CONCURRENTLY fail).
CREATE MATERIALIZED VIEW devflow.mart_agent_performance AS
SELECT dt.year, dt.month, da.agent_name, da.agent_type, COALESCE(da.ai_model, 'none') AS ai_model,
       COUNT(*) AS total_executions,
       SUM(CASE WHEN f.success THEN 1 ELSE 0 END) AS successful_executions,
       AVG(CASE WHEN f.success THEN 100.0 ELSE 0.0 END) AS success_rate,
       AVG(f.execution_duration_ms) AS avg_execution_ms,
       PERCENTILE_CONT(0.95) WITHIN GROUP (ORDER BY f.execution_duration_ms) AS p95_execution_ms,
       AVG(f.memory_usage_mb) AS avg_memory_mb,
       AVG(f.cpu_usage_percent) AS avg_cpu_percent,
       SUM(f.api_calls_count) AS total_api_calls,
       AVG(f.cache_hit_rate) AS avg_cache_hit_rate,
       SUM(f.llm_tokens_input) AS total_input_tokens,
       SUM(f.llm_tokens_output) AS total_output_tokens,
       SUM(f.llm_requests_count) AS total_llm_requests,
       SUM(f.llm_cost_usd) AS total_llm_cost,
       AVG(f.llm_cost_usd) AS avg_cost_per_execution,
       SUM(f.error_count) AS total_errors,
       SUM(f.retry_count) AS total_retries,
       SUM(f.llm_tokens_output) / NULLIF(SUM(f.execution_duration_ms) / 1000.0, 0) AS tokens_per_second,
       SUM(f.llm_cost_usd) / NULLIF(COUNT(*), 0) AS cost_efficiency_score
FROM devflow.fact_agent_execution AS f
JOIN devflow.dim_time AS dt
  ON dt.time_key = f.time_key
JOIN devflow.dim_agent AS da
  ON da.agent_key = f.agent_key
GROUP BY dt.year, dt.month, da.agent_name, da.agent_type, COALESCE(da.ai_model, 'none');
CREATE UNIQUE INDEX idx_mart_agent_perf ON devflow.mart_agent_performance (year, month, agent_name, agent_type, ai_model);
COMMENT ON MATERIALIZED VIEW devflow.mart_agent_performance IS 'Agent executions by month and agent (name, type, model).';

-- Fixed from the seed: it joined every 5-minute sample of the day to each deployment, so every
-- deployment sum was multiplied by the number of samples (288 a day per resource). Each side is first
-- aggregated to (day, resource version): deployments, and the samples of the resources deployed to that
-- day; then joined 1:1 and rolled up to the mart's grain. Deployments are grouped by the resource version
-- they ran on (the seed's current-version join dropped deployments to since-changed resources). The
-- unique index now covers instance_type, a GROUP BY column.
CREATE MATERIALIZED VIEW devflow.mart_infrastructure_cost AS
WITH deployments AS (
    SELECT fd.time_key, fd.infrastructure_key,
           count(*)                            AS deployments,
           sum(fd.deployment_duration_seconds) AS duration_seconds,
           sum(fd.infrastructure_cost_usd)     AS infrastructure_cost,
           sum(fd.data_transfer_cost_usd)      AS data_transfer_cost,
           sum(fd.total_cost_usd)              AS total_cost,
           sum(fd.health_check_pass_rate)      AS health_sum,
           count(fd.health_check_pass_rate)    AS health_n,
           sum(fd.error_count)                 AS errors,
           sum(fd.rollback_count)              AS rollbacks
    FROM devflow.fact_deployment AS fd
    GROUP BY fd.time_key, fd.infrastructure_key
),
samples AS (
    SELECT p.time_key, p.infrastructure_key,
           sum(p.cpu_utilization_percent)      AS cpu_sum,    count(p.cpu_utilization_percent)    AS cpu_n,
           sum(p.memory_utilization_percent)   AS memory_sum, count(p.memory_utilization_percent) AS memory_n,
           sum(p.disk_usage_percent)           AS disk_sum,   count(p.disk_usage_percent)         AS disk_n
    FROM devflow.fact_performance_metrics AS p
    JOIN deployments AS d
      ON d.time_key = p.time_key
     AND d.infrastructure_key = p.infrastructure_key
    GROUP BY p.time_key, p.infrastructure_key
)
SELECT dt.year, dt.month, dt.day_of_month, dinf.resource_type, dinf.region, dinf.instance_type,
       SUM(d.deployments) AS total_deployments,
       SUM(d.duration_seconds)::numeric / SUM(d.deployments) AS avg_deployment_duration,
       SUM(d.infrastructure_cost) AS total_infrastructure_cost,
       SUM(d.data_transfer_cost) AS total_data_transfer_cost,
       SUM(d.total_cost) AS total_cost,
       SUM(s.cpu_sum) / NULLIF(SUM(s.cpu_n), 0) AS avg_cpu_utilization,
       SUM(s.memory_sum) / NULLIF(SUM(s.memory_n), 0) AS avg_memory_utilization,
       SUM(s.disk_sum) / NULLIF(SUM(s.disk_n), 0) AS avg_disk_usage,
       SUM(d.total_cost) / NULLIF(SUM(d.deployments), 0) AS cost_per_deployment,
       SUM(d.total_cost) / NULLIF(SUM(d.duration_seconds) / 3600.0, 0) AS cost_per_hour,
       SUM(d.health_sum) / NULLIF(SUM(d.health_n), 0) AS avg_health_score,
       SUM(d.errors) AS total_errors,
       SUM(d.rollbacks) AS total_rollbacks
FROM deployments AS d
JOIN devflow.dim_time AS dt
  ON dt.time_key = d.time_key
JOIN devflow.dim_infrastructure AS dinf
  ON dinf.infrastructure_key = d.infrastructure_key
LEFT JOIN samples AS s
  ON s.time_key = d.time_key
 AND s.infrastructure_key = d.infrastructure_key
GROUP BY dt.year, dt.month, dt.day_of_month, dinf.resource_type, dinf.region, dinf.instance_type;
CREATE UNIQUE INDEX idx_mart_infra_cost ON devflow.mart_infrastructure_cost (
    year, month, day_of_month, resource_type, region, instance_type);
COMMENT ON MATERIALIZED VIEW devflow.mart_infrastructure_cost IS 'Deployment cost and the utilization of the resources deployed to, by day and resource type, region and instance type.';
