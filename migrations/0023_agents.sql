-- depends: 0022_areas
-- The agents subject area (seed 001, issue 11): agent queries, human approvals and training feedback of an
-- agent SDK. The operational source (agents_src), its bronze and silver layers, and the star schema in
-- schema agents with the seed's table and column names, so the seed's SQL runs unchanged with
-- SET search_path = agents, gold. Views, the generator and the seed's routines live in
-- procedures/agents_src/ and procedures/agents/, registration in procedures/registry/agents.sql.
--
-- Fixed from the seed (each has a test in tests/test_agents_foundation.py):
--  * dim_agent / dim_user are Type 2 but declared UNIQUE(agent_name) / UNIQUE(user_id): a second version
--    could never be written. The natural key is unique among current versions only (partial unique index),
--    versions never overlap (exclusion constraint) and are numbered (UNIQUE (key, version)).
--  * facts took conv_key from a LEFT JOIN into a NOT NULL column (one unknown conversation failed the whole
--    day) and dropped unknown agents silently: the dimensions accept inferred (early-arriving) members,
--    flagged is_inferred and completed when the real row arrives; agent_type / user_type may be NULL only
--    on an inferred member.
--  * facts deduplicated on (created_at, agent_key) with no constraint behind it: each fact carries its
--    source id (query_id, approval_id, feedback_id) under a UNIQUE constraint.
--  * overall_score counted a missing score as 0 ((5, 5, NULL) gave 3.33): it is the mean of the scores given.
--  * fact_approval is an accumulating snapshot (created pending, updated when resolved or expired):
--    resolution time and sla_met are generated from the row, against the SLA the agent had at the request.
--  * agg_agent_daily_performance keeps the seed's PK on its grain; every column is computed by
--    agents.refresh_agg_agent_daily_performance.
--  * dim_time is a view over the conformed calendar (gold.dim_date): names are not blank-padded, the ISO
--    week comes with its ISO year.

CREATE SCHEMA IF NOT EXISTS agents_src;
COMMENT ON SCHEMA agents_src IS 'Demo operational source of the agents area (seed 001): agents, users, conversations, agent_queries, agent_approvals, agent_feedback, deletes in deleted_records. Filled by CALL agents_src.generate(), one more day by CALL agents_src.generate_next_day().';
GRANT USAGE ON SCHEMA agents_src TO etl_service;
GRANT ALL ON SCHEMA agents_src TO dwh_owner;

CREATE SCHEMA IF NOT EXISTS agents;
COMMENT ON SCHEMA agents IS 'agents star schema (seed 001): dim_agent, dim_user (SCD2), dim_conversation, dim_time (view over gold.dim_date), fact_agent_query, fact_approval (accumulating snapshot), fact_training, agg_agent_daily_performance. SET search_path = agents, gold runs the seed''s SQL unchanged.';
GRANT USAGE ON SCHEMA agents TO analyst_role, etl_service;
GRANT ALL ON SCHEMA agents TO dwh_owner;
-- Fail-closed for analysts (as migration 0008 made sales and devflow): the star tables are granted below,
-- one by one; a new relation here is not readable by analysts until granted on purpose.
ALTER DEFAULT PRIVILEGES IN SCHEMA agents GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO etl_service;
ALTER DEFAULT PRIVILEGES IN SCHEMA agents GRANT EXECUTE ON FUNCTIONS TO etl_service;

-- ---------------------------------------------------------------------------------------------
-- Source (operational). Every table has updated_at (the change time); extraction reads the arrival
-- column _dwh_arrived_at that dwh_etl.track_arrival adds (procedures/agents_src/arrival_triggers.sql).
-- No foreign keys and no checks on enums or scores: a real feed has bad rows the warehouse must
-- quarantine, so the source must be able to hold them.
-- ---------------------------------------------------------------------------------------------

CREATE TABLE agents_src.agents (
    agent_name          text NOT NULL,
    agent_type          text,
    capabilities        jsonb NOT NULL DEFAULT '[]'::jsonb,
    sla_target_seconds  integer,
    cost_per_query_usd  numeric(10,6),
    is_active           boolean NOT NULL DEFAULT true,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT agents_pk PRIMARY KEY (agent_name)
);
CREATE INDEX agents_updated_at_idx ON agents_src.agents (updated_at);
COMMENT ON TABLE agents_src.agents IS 'The agent registry of the SDK, updated in place: a change of capabilities, SLA or cost overwrites the row and bumps updated_at.';
COMMENT ON COLUMN agents_src.agents.agent_name IS 'Natural key: the name queries, approvals and feedback refer to (agent_queries.agent).';
COMMENT ON COLUMN agents_src.agents.agent_type IS 'data, engineer, support, marketing, ai, qa or ops (seed 001); not validated here.';
COMMENT ON COLUMN agents_src.agents.capabilities IS 'JSON array of capability names, e.g. ["query", "analytics"].';
COMMENT ON COLUMN agents_src.agents.sla_target_seconds IS 'Time within which an approval request of this agent should be resolved.';
COMMENT ON COLUMN agents_src.agents.cost_per_query_usd IS 'Cost of one query in USD.';
COMMENT ON COLUMN agents_src.agents.updated_at IS 'When the row last changed: the change time of the dimension history.';

CREATE TABLE agents_src.users (
    user_id             text NOT NULL,
    user_type           text,
    team                text,
    display_name        text,
    is_active           boolean NOT NULL DEFAULT true,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_pk PRIMARY KEY (user_id)
);
CREATE INDEX users_updated_at_idx ON agents_src.users (updated_at);
COMMENT ON TABLE agents_src.users IS 'People who talk to agents, approve their actions or annotate their answers; a move to another team updates the row.';
COMMENT ON COLUMN agents_src.users.user_id IS 'Natural key (e.g. u0042).';
COMMENT ON COLUMN agents_src.users.user_type IS 'annotator, approver, qa_team or operator (seed 001); not validated here.';
COMMENT ON COLUMN agents_src.users.updated_at IS 'When the row last changed: the change time of the dimension history.';

CREATE TABLE agents_src.conversations (
    conversation_id     text NOT NULL,
    user_id             text,
    channel             text,
    metadata            jsonb NOT NULL DEFAULT '{}'::jsonb,
    started_at          timestamptz NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT conversations_pk PRIMARY KEY (conversation_id)
);
CREATE INDEX conversations_updated_at_idx ON agents_src.conversations (updated_at);
COMMENT ON TABLE agents_src.conversations IS 'Conversation sessions; queries, approvals and feedback name theirs by conversation_id (the row may arrive after them).';
COMMENT ON COLUMN agents_src.conversations.user_id IS 'The user who opened the conversation (agents_src.users.user_id, not enforced).';
COMMENT ON COLUMN agents_src.conversations.channel IS 'Where it happened: slack, web, api or cli.';

CREATE TABLE agents_src.agent_queries (
    query_id            bigint NOT NULL,
    conversation_id     text,
    agent               text,
    user_id             text,
    query               text,
    result_size_bytes   integer,
    latency_ms          integer,
    approved            boolean,
    human_edited        boolean,
    error_occurred      boolean,
    error_message       text,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT agent_queries_pk PRIMARY KEY (query_id)
);
CREATE INDEX agent_queries_updated_at_idx ON agents_src.agent_queries (updated_at);
CREATE INDEX agent_queries_created_at_idx ON agents_src.agent_queries (created_at);
COMMENT ON TABLE agents_src.agent_queries IS 'One row per query answered by an agent (seed 001 "agent_queries"); approved / human_edited are set when the answer is reviewed.';
COMMENT ON COLUMN agents_src.agent_queries.query_id IS 'Source id of the query: the fact''s natural key (idempotent reloads).';
COMMENT ON COLUMN agents_src.agent_queries.agent IS 'agents_src.agents.agent_name, not enforced.';
COMMENT ON COLUMN agents_src.agent_queries.query IS 'The query text (the warehouse keeps only its md5, query_hash).';
COMMENT ON COLUMN agents_src.agent_queries.latency_ms IS 'Time to answer in milliseconds.';
COMMENT ON COLUMN agents_src.agent_queries.approved IS 'The answer was approved by its reviewer; NULL while not reviewed.';
COMMENT ON COLUMN agents_src.agent_queries.error_occurred IS 'The agent failed to answer (error_message says why).';
COMMENT ON COLUMN agents_src.agent_queries.created_at IS 'When the query was made: the event time of the fact.';

CREATE TABLE agents_src.agent_approvals (
    approval_id         bigint NOT NULL,
    query_id            bigint,
    conversation_id     text,
    agent               text,
    status              text NOT NULL DEFAULT 'pending',
    resolved_by         text,
    interruption_count  integer NOT NULL DEFAULT 0,
    created_at          timestamptz NOT NULL,
    resolved_at         timestamptz,
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT agent_approvals_pk PRIMARY KEY (approval_id)
);
CREATE INDEX agent_approvals_updated_at_idx ON agents_src.agent_approvals (updated_at);
COMMENT ON TABLE agents_src.agent_approvals IS 'Human approval requests of agent actions: created pending, updated in place when approved, rejected or expired (hours later).';
COMMENT ON COLUMN agents_src.agent_approvals.status IS 'pending, approved, rejected or expired; not validated here.';
COMMENT ON COLUMN agents_src.agent_approvals.resolved_by IS 'user_id of the approver (NULL while pending or when expired).';
COMMENT ON COLUMN agents_src.agent_approvals.interruption_count IS 'How often the request interrupted its approver (reminders).';
COMMENT ON COLUMN agents_src.agent_approvals.resolved_at IS 'When it was approved, rejected or expired.';

CREATE TABLE agents_src.agent_feedback (
    feedback_id         bigint NOT NULL,
    query_id            bigint,
    conversation_id     text,
    agent               text,
    annotator_id        text,
    safe_to_send        boolean,
    clarity_score       integer,
    accuracy_score      integer,
    tone_score          integer,
    labels              text[] NOT NULL DEFAULT '{}',
    comment             text,
    created_at          timestamptz NOT NULL,
    annotated_at        timestamptz,
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT agent_feedback_pk PRIMARY KEY (feedback_id)
);
CREATE INDEX agent_feedback_updated_at_idx ON agents_src.agent_feedback (updated_at);
COMMENT ON TABLE agents_src.agent_feedback IS 'Training feedback on agent answers by annotators: safety verdict, 1-5 scores (any may be missing), labels.';
COMMENT ON COLUMN agents_src.agent_feedback.annotator_id IS 'agents_src.users.user_id of the annotator.';
COMMENT ON COLUMN agents_src.agent_feedback.clarity_score IS '1-5, NULL when not scored; not validated here.';
COMMENT ON COLUMN agents_src.agent_feedback.created_at IS 'When the feedback entry was opened: the event time of the fact.';
COMMENT ON COLUMN agents_src.agent_feedback.annotated_at IS 'When the annotator finished it.';

CREATE TABLE agents_src.deleted_records (
    table_name          text NOT NULL,
    record_id           text NOT NULL,
    deleted_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT deleted_records_pk PRIMARY KEY (table_name, record_id, deleted_at)
);
CREATE INDEX deleted_records_deleted_at_idx ON agents_src.deleted_records (deleted_at);
COMMENT ON TABLE agents_src.deleted_records IS 'Tombstones: one row per row deleted from an agents_src table (trigger dwh_etl.trg_source_tombstone, procedures/agents_src/tombstone_triggers.sql); record_id is the key as text.';

CREATE TABLE agents_src.generator_state (
    id                  boolean NOT NULL DEFAULT true,
    simulated_through   date NOT NULL,
    seed                double precision NOT NULL,
    scale               numeric NOT NULL,
    CONSTRAINT generator_state_pk PRIMARY KEY (id),
    CONSTRAINT generator_state_single_ck CHECK (id)
);
COMMENT ON TABLE agents_src.generator_state IS 'The demo generator''s simulated clock: activity exists through simulated_through; generate_next_day adds the day after it.';

GRANT SELECT ON agents_src.agents, agents_src.users, agents_src.conversations, agents_src.agent_queries,
    agents_src.agent_approvals, agents_src.agent_feedback, agents_src.deleted_records TO etl_service;

-- ---------------------------------------------------------------------------------------------
-- Bronze: append-only text copies of the operational tables, column for column (extraction reads the
-- bronze columns not starting with _ from the source by name).
-- ---------------------------------------------------------------------------------------------

DO $bronze$
DECLARE
    v_table text;
BEGIN
    FOREACH v_table IN ARRAY ARRAY['agents', 'users', 'conversations', 'agent_queries', 'agent_approvals',
                                   'agent_feedback', 'deleted_records']
    LOOP
        EXECUTE format(
            'CREATE TABLE bronze.%1$I (_bronze_id bigint GENERATED ALWAYS AS IDENTITY, %2$s, '
            '_batch_id uuid NOT NULL, _ingested_at timestamptz NOT NULL DEFAULT now(), _source text NOT NULL, '
            'CONSTRAINT %3$I PRIMARY KEY (_bronze_id))',
            'agents_' || v_table,
            (SELECT string_agg(format('%I text', a.attname), ', ' ORDER BY a.attnum)
             FROM pg_catalog.pg_attribute AS a
             WHERE a.attrelid = format('agents_src.%I', v_table)::regclass AND a.attnum > 0 AND NOT a.attisdropped
               AND a.attname !~ '^_'),
            'agents_' || v_table || '_pk');
        EXECUTE format('CREATE INDEX %I ON bronze.%I (_ingested_at)', 'agents_' || v_table || '_ingested_idx', 'agents_' || v_table);
        EXECUTE format('COMMENT ON TABLE bronze.%I IS %L', 'agents_' || v_table,
                       format('agents_src.%s as extracted: every column as text, append-only, with batch, ingestion time and source.', v_table));
    END LOOP;
END
$bronze$;

-- ---------------------------------------------------------------------------------------------
-- Silver: typed, trimmed and validated, latest state per source key (the typing views
-- silver.agents_*_typed in procedures/agents/ say how bronze text becomes these types); rejected rows go
-- to dwh_etl.quarantine with their raw bronze row.
-- ---------------------------------------------------------------------------------------------

DO $silver$
DECLARE
    v_spec record;
BEGIN
    FOR v_spec IN
        SELECT * FROM (VALUES
            ('agents', 'agent_name'), ('users', 'user_id'), ('conversations', 'conversation_id'),
            ('agent_queries', 'query_id'), ('agent_approvals', 'approval_id'), ('agent_feedback', 'feedback_id')
        ) AS s (source_table, natural_key)
    LOOP
        EXECUTE format(
            'CREATE TABLE silver.%1$I (LIKE agents_src.%2$I INCLUDING DEFAULTS, _batch_id uuid NOT NULL, '
            '_loaded_at timestamptz NOT NULL DEFAULT now(), CONSTRAINT %3$I PRIMARY KEY (%4$I))',
            'agents_' || v_spec.source_table, v_spec.source_table, 'agents_' || v_spec.source_table || '_pk', v_spec.natural_key);
        EXECUTE format('CREATE INDEX %I ON silver.%I (_loaded_at)', 'agents_' || v_spec.source_table || '_loaded_idx', 'agents_' || v_spec.source_table);
        EXECUTE format('COMMENT ON TABLE silver.%I IS %L', 'agents_' || v_spec.source_table,
                       format('agents_src.%s typed and validated, latest state per %s.', v_spec.source_table, v_spec.natural_key));
    END LOOP;
END
$silver$;
CREATE INDEX agents_agent_queries_created_idx ON silver.agents_agent_queries (created_at);
CREATE INDEX agents_agent_approvals_created_idx ON silver.agents_agent_approvals (created_at);
CREATE INDEX agents_agent_feedback_created_idx ON silver.agents_agent_feedback (created_at);

-- ---------------------------------------------------------------------------------------------
-- Gold: dimensions. dim_agent and dim_user carry the engine's SCD columns (dwh_etl.apply_dimension).
-- ---------------------------------------------------------------------------------------------

CREATE TABLE agents.dim_agent (
    agent_key           bigint GENERATED ALWAYS AS IDENTITY,
    agent_name          text NOT NULL,
    agent_type          text,
    capabilities        jsonb DEFAULT '[]'::jsonb,
    sla_target_seconds  integer DEFAULT 300,
    cost_per_query_usd  numeric(10,6) DEFAULT 0,
    is_inferred         boolean NOT NULL DEFAULT false,
    valid_from          timestamptz NOT NULL DEFAULT now(),
    valid_to            timestamptz,
    is_current          boolean NOT NULL DEFAULT true,
    version             integer NOT NULL DEFAULT 1,
    is_deleted          boolean NOT NULL DEFAULT false,
    _batch_id           uuid NOT NULL,
    _loaded_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT dim_agent_pk PRIMARY KEY (agent_key),
    CONSTRAINT dim_agent_agent_type_check CHECK (agent_type IN ('data', 'engineer', 'support', 'marketing', 'ai', 'qa', 'ops')),
    CONSTRAINT dim_agent_type_known_ck CHECK (agent_type IS NOT NULL OR is_inferred),
    CONSTRAINT dim_agent_sla_ck CHECK (sla_target_seconds > 0),
    CONSTRAINT dim_agent_cost_ck CHECK (cost_per_query_usd >= 0),
    CONSTRAINT dim_agent_capabilities_ck CHECK (jsonb_typeof(capabilities) = 'array'),
    CONSTRAINT dim_agent_validity_ck CHECK (valid_to > valid_from),
    CONSTRAINT dim_agent_current_ck CHECK (is_current = (valid_to IS NULL)),
    CONSTRAINT dim_agent_version_ck CHECK (version >= 1),
    CONSTRAINT dim_agent_version_uq UNIQUE (agent_name, version),
    CONSTRAINT dim_agent_no_overlap EXCLUDE USING gist (agent_name WITH =, tstzrange(valid_from, valid_to) WITH &&)
);
-- The seed's UNIQUE (agent_name) made a second version impossible: unique among current versions only.
CREATE UNIQUE INDEX dim_agent_current_uq ON agents.dim_agent (agent_name) WHERE is_current;
CREATE INDEX dim_agent_name_idx ON agents.dim_agent (agent_name, valid_from);
CREATE INDEX dim_agent_type_idx ON agents.dim_agent (agent_type);
CREATE INDEX dim_agent_current_idx ON agents.dim_agent (is_current) WHERE is_current = true;
COMMENT ON TABLE agents.dim_agent IS 'Agent dimension (seed 001), SCD Type 2 over agent_name: a change of type, capabilities, SLA or cost opens a new version. Inferred members (is_inferred) stand in for agents a fact names before the agent row arrives.';

CREATE TABLE agents.dim_user (
    user_key            bigint GENERATED ALWAYS AS IDENTITY,
    user_id             text NOT NULL,
    user_type           text,
    team                text,
    is_inferred         boolean NOT NULL DEFAULT false,
    valid_from          timestamptz NOT NULL DEFAULT now(),
    valid_to            timestamptz,
    is_current          boolean NOT NULL DEFAULT true,
    version             integer NOT NULL DEFAULT 1,
    is_deleted          boolean NOT NULL DEFAULT false,
    _batch_id           uuid NOT NULL,
    _loaded_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT dim_user_pk PRIMARY KEY (user_key),
    CONSTRAINT dim_user_user_type_check CHECK (user_type IN ('annotator', 'approver', 'qa_team', 'operator')),
    CONSTRAINT dim_user_type_known_ck CHECK (user_type IS NOT NULL OR is_inferred),
    CONSTRAINT dim_user_validity_ck CHECK (valid_to > valid_from),
    CONSTRAINT dim_user_current_ck CHECK (is_current = (valid_to IS NULL)),
    CONSTRAINT dim_user_version_ck CHECK (version >= 1),
    CONSTRAINT dim_user_version_uq UNIQUE (user_id, version),
    CONSTRAINT dim_user_no_overlap EXCLUDE USING gist (user_id WITH =, tstzrange(valid_from, valid_to) WITH &&)
);
CREATE UNIQUE INDEX dim_user_current_uq ON agents.dim_user (user_id) WHERE is_current;
CREATE INDEX dim_user_id_idx ON agents.dim_user (user_id, valid_from);
CREATE INDEX dim_user_type_idx ON agents.dim_user (user_type);
CREATE INDEX dim_user_current_idx ON agents.dim_user (is_current) WHERE is_current = true;
COMMENT ON TABLE agents.dim_user IS 'User / annotator dimension (seed 001), SCD Type 2 over user_id: a change of type or team opens a new version; inferred members as in dim_agent.';

CREATE TABLE agents.dim_conversation (
    conv_key            bigint GENERATED ALWAYS AS IDENTITY,
    conversation_id     text NOT NULL,
    user_id             text,
    channel             text,
    first_seen_at       timestamptz NOT NULL,
    last_seen_at        timestamptz NOT NULL,
    total_queries       integer NOT NULL DEFAULT 0,
    total_approvals     integer NOT NULL DEFAULT 0,
    total_feedback      integer NOT NULL DEFAULT 0,
    metadata            jsonb DEFAULT '{}'::jsonb,
    is_inferred         boolean NOT NULL DEFAULT false,
    _batch_id           uuid NOT NULL,
    _loaded_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT dim_conversation_pk PRIMARY KEY (conv_key),
    CONSTRAINT dim_conversation_id_uq UNIQUE (conversation_id),
    CONSTRAINT dim_conversation_seen_ck CHECK (last_seen_at >= first_seen_at),
    CONSTRAINT dim_conversation_counts_ck CHECK (total_queries >= 0 AND total_approvals >= 0 AND total_feedback >= 0),
    CONSTRAINT dim_conversation_metadata_ck CHECK (jsonb_typeof(metadata) = 'object')
);
CREATE INDEX dim_conversation_first_seen_idx ON agents.dim_conversation (first_seen_at);
COMMENT ON TABLE agents.dim_conversation IS 'Conversation dimension (seed 001), one row per conversation (Type 1): first/last seen and the query, approval and feedback counters are maintained incrementally by the loads; a conversation first named by a fact is an inferred member until its source row arrives.';

-- The seed's dim_time (day grain) over the conformed calendar: no copy to keep in step.
CREATE VIEW agents.dim_time AS
SELECT d.date_key                  AS time_key,
       d.full_date,
       d.year::integer             AS year,
       d.quarter::integer          AS quarter,
       d.month::integer            AS month,
       d.week::integer             AS week,
       d.iso_year::integer         AS iso_year,
       d.day_of_month::integer     AS day_of_month,
       d.day_of_week::integer      AS day_of_week,
       d.day_of_year::integer      AS day_of_year,
       d.day_name,
       d.month_name,
       d.is_weekend,
       d.is_holiday,
       d.fiscal_year::integer      AS fiscal_year,
       d.fiscal_quarter::integer   AS fiscal_quarter,
       NULL::integer               AS hour,
       NULL::integer               AS minute
FROM gold.dim_date AS d;
COMMENT ON VIEW agents.dim_time IS 'Seed 001 dim_time over gold.dim_date, day grain: time_key = date_key (YYYYMMDD). week is the ISO week: pair it with iso_year (2025-12-29 is week 1 of ISO year 2026), not with year. Names are not blank-padded. Extended by agents.populate_dim_time(start, end).';

-- ---------------------------------------------------------------------------------------------
-- Gold: facts, each with its source id under a UNIQUE constraint (reloads and duplicate deliveries
-- are idempotent) and dimension keys pointing at the versions valid at the event time. time_key is the
-- event's date in the area's zone (setting agents.timezone, default UTC), whatever the session's zone.
-- ---------------------------------------------------------------------------------------------

CREATE TABLE agents.fact_agent_query (
    query_key           bigint GENERATED ALWAYS AS IDENTITY,
    query_id            bigint NOT NULL,
    agent_key           bigint NOT NULL,
    time_key            integer NOT NULL,
    conv_key            bigint NOT NULL,
    user_key            bigint,
    query_hash          text NOT NULL,
    result_size_bytes   integer,
    latency_ms          integer NOT NULL,
    approved            boolean,
    human_edited        boolean NOT NULL DEFAULT false,
    error_occurred      boolean NOT NULL DEFAULT false,
    created_at          timestamptz NOT NULL,
    _batch_id           uuid NOT NULL,
    _loaded_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT fact_agent_query_pk PRIMARY KEY (query_key),
    CONSTRAINT fact_agent_query_source_uq UNIQUE (query_id),
    CONSTRAINT fact_agent_query_agent_fk FOREIGN KEY (agent_key) REFERENCES agents.dim_agent (agent_key),
    CONSTRAINT fact_agent_query_time_fk FOREIGN KEY (time_key) REFERENCES gold.dim_date (date_key),
    CONSTRAINT fact_agent_query_conv_fk FOREIGN KEY (conv_key) REFERENCES agents.dim_conversation (conv_key),
    CONSTRAINT fact_agent_query_user_fk FOREIGN KEY (user_key) REFERENCES agents.dim_user (user_key),
    CONSTRAINT fact_agent_query_latency_ck CHECK (latency_ms >= 0),
    CONSTRAINT fact_agent_query_size_ck CHECK (result_size_bytes >= 0)
);
CREATE INDEX fact_agent_query_agent_idx ON agents.fact_agent_query (agent_key, time_key);
CREATE INDEX fact_agent_query_time_idx ON agents.fact_agent_query (time_key);
CREATE INDEX fact_agent_query_conv_idx ON agents.fact_agent_query (conv_key);
CREATE INDEX fact_agent_query_created_idx ON agents.fact_agent_query (created_at DESC);
CREATE INDEX fact_agent_query_latency_idx ON agents.fact_agent_query (latency_ms DESC) WHERE latency_ms > 100;
COMMENT ON TABLE agents.fact_agent_query IS 'One row per agent query (natural key query_id); approved / human_edited follow the source when a review arrives later (upsert by query_id).';

CREATE TABLE agents.fact_approval (
    approval_key            bigint GENERATED ALWAYS AS IDENTITY,
    approval_id             bigint NOT NULL,
    query_id                bigint,
    agent_key               bigint,
    time_key                integer NOT NULL,
    conv_key                bigint NOT NULL,
    approved_by_key         bigint,
    status                  text NOT NULL,
    resolution_time_seconds integer GENERATED ALWAYS AS (
        floor(EXTRACT(EPOCH FROM (resolved_at - created_at)))::integer) STORED,
    interruption_count      integer DEFAULT 0,
    sla_target_seconds      integer,
    sla_met                 boolean GENERATED ALWAYS AS (
        CASE WHEN status IN ('approved', 'rejected')
             THEN EXTRACT(EPOCH FROM (resolved_at - created_at)) <= sla_target_seconds
             WHEN status = 'expired' THEN false
        END) STORED,
    created_at              timestamptz NOT NULL,
    resolved_at             timestamptz,
    resolved_time_key       integer,
    _batch_id               uuid NOT NULL,
    _loaded_at              timestamptz NOT NULL DEFAULT now(),
    _updated_at             timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT fact_approval_pk PRIMARY KEY (approval_key),
    CONSTRAINT fact_approval_source_uq UNIQUE (approval_id),
    CONSTRAINT fact_approval_agent_fk FOREIGN KEY (agent_key) REFERENCES agents.dim_agent (agent_key),
    CONSTRAINT fact_approval_time_fk FOREIGN KEY (time_key) REFERENCES gold.dim_date (date_key),
    CONSTRAINT fact_approval_resolved_time_fk FOREIGN KEY (resolved_time_key) REFERENCES gold.dim_date (date_key),
    CONSTRAINT fact_approval_conv_fk FOREIGN KEY (conv_key) REFERENCES agents.dim_conversation (conv_key),
    CONSTRAINT fact_approval_approver_fk FOREIGN KEY (approved_by_key) REFERENCES agents.dim_user (user_key),
    CONSTRAINT fact_approval_status_check CHECK (status IN ('pending', 'approved', 'rejected', 'expired')),
    CONSTRAINT fact_approval_resolution_ck CHECK ((status = 'pending') = (resolved_at IS NULL)),
    CONSTRAINT fact_approval_resolved_after_ck CHECK (resolved_at >= created_at),
    CONSTRAINT fact_approval_interruptions_ck CHECK (interruption_count >= 0),
    CONSTRAINT fact_approval_sla_target_ck CHECK (sla_target_seconds > 0)
);
CREATE INDEX fact_approval_agent_idx ON agents.fact_approval (agent_key, time_key);
CREATE INDEX fact_approval_time_idx ON agents.fact_approval (time_key);
CREATE INDEX fact_approval_status_idx ON agents.fact_approval (status);
CREATE INDEX fact_approval_sla_idx ON agents.fact_approval (sla_met) WHERE sla_met = false;
CREATE INDEX fact_approval_created_idx ON agents.fact_approval (created_at DESC);
CREATE INDEX fact_approval_pending_idx ON agents.fact_approval (created_at) WHERE status = 'pending';
COMMENT ON TABLE agents.fact_approval IS 'Accumulating snapshot, one row per approval request (natural key approval_id): inserted pending, updated in place when approved, rejected or expired (the seed called facts immutable; this grain cannot be). time_key is the request''s date, resolved_time_key the resolution''s.';

CREATE TABLE agents.fact_training (
    training_key        bigint GENERATED ALWAYS AS IDENTITY,
    feedback_id         bigint NOT NULL,
    query_id            bigint,
    agent_key           bigint,
    time_key            integer NOT NULL,
    conv_key            bigint NOT NULL,
    annotator_key       bigint,
    safe_to_send        boolean,
    clarity_score       integer,
    accuracy_score      integer,
    tone_score          integer,
    overall_score       numeric(3,2) GENERATED ALWAYS AS (
        round((COALESCE(clarity_score, 0) + COALESCE(accuracy_score, 0) + COALESCE(tone_score, 0))::numeric
              / NULLIF(num_nonnulls(clarity_score, accuracy_score, tone_score), 0), 2)) STORED,
    labels              text[] NOT NULL DEFAULT '{}',
    created_at          timestamptz NOT NULL,
    annotated_at        timestamptz,
    _batch_id           uuid NOT NULL,
    _loaded_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT fact_training_pk PRIMARY KEY (training_key),
    CONSTRAINT fact_training_source_uq UNIQUE (feedback_id),
    CONSTRAINT fact_training_agent_fk FOREIGN KEY (agent_key) REFERENCES agents.dim_agent (agent_key),
    CONSTRAINT fact_training_time_fk FOREIGN KEY (time_key) REFERENCES gold.dim_date (date_key),
    CONSTRAINT fact_training_conv_fk FOREIGN KEY (conv_key) REFERENCES agents.dim_conversation (conv_key),
    CONSTRAINT fact_training_annotator_fk FOREIGN KEY (annotator_key) REFERENCES agents.dim_user (user_key),
    CONSTRAINT fact_training_clarity_score_check CHECK (clarity_score BETWEEN 1 AND 5),
    CONSTRAINT fact_training_accuracy_score_check CHECK (accuracy_score BETWEEN 1 AND 5),
    CONSTRAINT fact_training_tone_score_check CHECK (tone_score BETWEEN 1 AND 5),
    CONSTRAINT fact_training_annotated_after_ck CHECK (annotated_at >= created_at)
);
CREATE INDEX fact_training_agent_idx ON agents.fact_training (agent_key, time_key);
CREATE INDEX fact_training_time_idx ON agents.fact_training (time_key);
CREATE INDEX fact_training_annotator_idx ON agents.fact_training (annotator_key);
CREATE INDEX fact_training_safe_idx ON agents.fact_training (safe_to_send) WHERE safe_to_send = false;
CREATE INDEX fact_training_score_idx ON agents.fact_training (overall_score DESC);
CREATE INDEX fact_training_labels_gin ON agents.fact_training USING gin (labels);
COMMENT ON TABLE agents.fact_training IS 'One row per training feedback entry (natural key feedback_id); overall_score is the mean of the scores given (a missing score is not a 0).';

-- ---------------------------------------------------------------------------------------------
-- Aggregate: one row per agent version and day, every column computed by
-- agents.refresh_agg_agent_daily_performance(p_date) for the affected day only.
-- ---------------------------------------------------------------------------------------------

CREATE TABLE agents.agg_agent_daily_performance (
    agent_key               bigint NOT NULL,
    time_key                integer NOT NULL,
    total_queries           integer NOT NULL,
    avg_latency_ms          numeric(10,2),
    p95_latency_ms          numeric(10,2),
    approval_rate_pct       numeric(5,2),
    edit_rate_pct           numeric(5,2),
    error_rate_pct          numeric(5,2),
    total_approvals         integer NOT NULL DEFAULT 0,
    total_feedback          integer NOT NULL DEFAULT 0,
    unsafe_feedback_count   integer NOT NULL DEFAULT 0,
    sla_compliance_pct      numeric(5,2),
    refreshed_at            timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT agg_agent_daily_performance_pk PRIMARY KEY (agent_key, time_key),
    CONSTRAINT agg_agent_daily_performance_agent_fk FOREIGN KEY (agent_key) REFERENCES agents.dim_agent (agent_key),
    CONSTRAINT agg_agent_daily_performance_time_fk FOREIGN KEY (time_key) REFERENCES gold.dim_date (date_key),
    CONSTRAINT agg_agent_daily_performance_counts_ck CHECK (total_queries >= 0 AND total_approvals >= 0
                                                            AND total_feedback >= 0 AND unsafe_feedback_count >= 0),
    CONSTRAINT agg_agent_daily_performance_pct_ck CHECK (approval_rate_pct BETWEEN 0 AND 100 AND edit_rate_pct BETWEEN 0 AND 100
                                                         AND error_rate_pct BETWEEN 0 AND 100 AND sla_compliance_pct BETWEEN 0 AND 100)
);
CREATE INDEX agg_agent_daily_time_idx ON agents.agg_agent_daily_performance (time_key);
COMMENT ON TABLE agents.agg_agent_daily_performance IS 'Daily metrics per agent version (seed 001 aggregation table): queries, latency, approval / edit / error rates from fact_agent_query; approvals and SLA compliance from fact_approval (by request day); feedback and unsafe feedback from fact_training (by entry day). Refreshed per affected day.';

-- ---------------------------------------------------------------------------------------------
-- Column comments of the star schema (analysts read \d+).
-- ---------------------------------------------------------------------------------------------

DO $comments$
DECLARE
    v record;
BEGIN
    FOR v IN
        SELECT * FROM (VALUES
        ('dim_agent', 'agent_key', 'Surrogate key of one version of an agent.'),
        ('dim_agent', 'agent_name', 'Natural key: the agent''s name (unique among current versions).'),
        ('dim_agent', 'agent_type', 'data, engineer, support, marketing, ai, qa or ops; NULL only on an inferred member.'),
        ('dim_agent', 'capabilities', 'JSON array of the capabilities of this version.'),
        ('dim_agent', 'sla_target_seconds', 'Approval SLA of this version in seconds (fact_approval.sla_met is measured against the version valid at the request).'),
        ('dim_agent', 'cost_per_query_usd', 'Cost of one query in USD in this version.'),
        ('dim_agent', 'is_inferred', 'true: created by a load for an agent a fact named before its source row arrived; completed (a new version) when it arrives.'),
        ('dim_agent', 'valid_from', 'Start of this version (the source''s change time).'),
        ('dim_agent', 'valid_to', 'End of this version (exclusive); NULL while current.'),
        ('dim_agent', 'is_current', 'This is the agent''s current version (valid_to IS NULL).'),
        ('dim_agent', 'version', 'Version number of the agent, 1..n in time order.'),
        ('dim_agent', 'is_deleted', 'The agent was deleted in the source (its last version is closed).'),
        ('dim_agent', '_batch_id', 'Batch (pipeline run) that wrote the row.'),
        ('dim_agent', '_loaded_at', 'When the row was last written.'),
        ('dim_user', 'user_key', 'Surrogate key of one version of a user.'),
        ('dim_user', 'user_id', 'Natural key: the user''s id (unique among current versions).'),
        ('dim_user', 'user_type', 'annotator, approver, qa_team or operator; NULL only on an inferred member.'),
        ('dim_user', 'team', 'The user''s team in this version.'),
        ('dim_user', 'is_inferred', 'true: created for a user a fact named before the user row arrived.'),
        ('dim_user', 'valid_from', 'Start of this version (the source''s change time).'),
        ('dim_user', 'valid_to', 'End of this version (exclusive); NULL while current.'),
        ('dim_user', 'is_current', 'This is the user''s current version (valid_to IS NULL).'),
        ('dim_user', 'version', 'Version number of the user, 1..n in time order.'),
        ('dim_user', 'is_deleted', 'The user was deleted in the source.'),
        ('dim_user', '_batch_id', 'Batch (pipeline run) that wrote the row.'),
        ('dim_user', '_loaded_at', 'When the row was last written.'),
        ('dim_conversation', 'conv_key', 'Surrogate key of the conversation.'),
        ('dim_conversation', 'conversation_id', 'Natural key: the source''s conversation id.'),
        ('dim_conversation', 'user_id', 'The user who opened the conversation (NULL on an inferred member).'),
        ('dim_conversation', 'channel', 'slack, web, api or cli.'),
        ('dim_conversation', 'first_seen_at', 'Earliest of the conversation''s start and its first query, approval or feedback.'),
        ('dim_conversation', 'last_seen_at', 'Latest query, approval or feedback of the conversation (or its start).'),
        ('dim_conversation', 'total_queries', 'Queries of the conversation in fact_agent_query.'),
        ('dim_conversation', 'total_approvals', 'Approval requests of the conversation in fact_approval.'),
        ('dim_conversation', 'total_feedback', 'Feedback entries of the conversation in fact_training.'),
        ('dim_conversation', 'metadata', 'The source''s metadata object (client, locale ...).'),
        ('dim_conversation', 'is_inferred', 'true: created for a conversation a fact named before the conversation row arrived.'),
        ('dim_conversation', '_batch_id', 'Batch (pipeline run) that last wrote the row.'),
        ('dim_conversation', '_loaded_at', 'When the row was last written.'),
        ('fact_agent_query', 'query_key', 'Surrogate key.'),
        ('fact_agent_query', 'query_id', 'Source id of the query (agents_src.agent_queries.query_id): unique, so reloads are idempotent.'),
        ('fact_agent_query', 'agent_key', 'The agent version valid at created_at (an inferred member when the agent was unknown).'),
        ('fact_agent_query', 'time_key', 'Date of created_at in the area''s zone (setting agents.timezone), YYYYMMDD = dim_time.time_key.'),
        ('fact_agent_query', 'conv_key', 'The conversation (an inferred member when it was unknown).'),
        ('fact_agent_query', 'user_key', 'The user version valid at created_at who asked; NULL when the source names none.'),
        ('fact_agent_query', 'query_hash', 'md5 of the query text (degenerate dimension).'),
        ('fact_agent_query', 'result_size_bytes', 'Size of the answer in bytes.'),
        ('fact_agent_query', 'latency_ms', 'Time to answer in milliseconds.'),
        ('fact_agent_query', 'approved', 'The answer was approved; NULL while not reviewed.'),
        ('fact_agent_query', 'human_edited', 'A human edited the answer before it was sent.'),
        ('fact_agent_query', 'error_occurred', 'The agent failed to answer.'),
        ('fact_agent_query', 'created_at', 'When the query was made.'),
        ('fact_agent_query', '_batch_id', 'Batch (pipeline run) that last wrote the row.'),
        ('fact_agent_query', '_loaded_at', 'When the row was last written.'),
        ('fact_approval', 'approval_key', 'Surrogate key.'),
        ('fact_approval', 'approval_id', 'Source id of the approval request: unique, the row is updated when the request resolves.'),
        ('fact_approval', 'query_id', 'The query whose action needed approval (degenerate).'),
        ('fact_approval', 'agent_key', 'The agent version valid at the request.'),
        ('fact_approval', 'time_key', 'Date of the request (created_at) in the area''s zone.'),
        ('fact_approval', 'conv_key', 'The conversation.'),
        ('fact_approval', 'approved_by_key', 'The user version who approved or rejected; NULL while pending and when expired.'),
        ('fact_approval', 'status', 'pending, approved, rejected or expired.'),
        ('fact_approval', 'resolution_time_seconds', 'resolved_at - created_at in whole seconds (generated); NULL while pending.'),
        ('fact_approval', 'interruption_count', 'How often the request interrupted its approver.'),
        ('fact_approval', 'sla_target_seconds', 'The SLA of the agent version valid at the request (dim_agent.sla_target_seconds), kept with the row.'),
        ('fact_approval', 'sla_met', 'Generated: approved or rejected within sla_target_seconds; false when expired; NULL while pending.'),
        ('fact_approval', 'created_at', 'When the approval was requested.'),
        ('fact_approval', 'resolved_at', 'When it was approved, rejected or expired; NULL while pending.'),
        ('fact_approval', 'resolved_time_key', 'Date of resolved_at in the area''s zone; NULL while pending.'),
        ('fact_approval', '_batch_id', 'Batch (pipeline run) that last wrote the row.'),
        ('fact_approval', '_loaded_at', 'When the row was first written.'),
        ('fact_approval', '_updated_at', 'When the row was last updated (a resolution).'),
        ('fact_training', 'training_key', 'Surrogate key.'),
        ('fact_training', 'feedback_id', 'Source id of the feedback entry: unique, so reloads are idempotent.'),
        ('fact_training', 'query_id', 'The query the feedback is about (degenerate).'),
        ('fact_training', 'agent_key', 'The agent version valid at created_at.'),
        ('fact_training', 'time_key', 'Date of created_at in the area''s zone.'),
        ('fact_training', 'conv_key', 'The conversation.'),
        ('fact_training', 'annotator_key', 'The annotator''s user version valid at created_at.'),
        ('fact_training', 'safe_to_send', 'The annotator judged the answer safe to send; NULL when not judged.'),
        ('fact_training', 'clarity_score', '1-5, NULL when not scored.'),
        ('fact_training', 'accuracy_score', '1-5, NULL when not scored.'),
        ('fact_training', 'tone_score', '1-5, NULL when not scored.'),
        ('fact_training', 'overall_score', 'Generated: mean of the scores given, rounded to 2 decimals; NULL when none was given.'),
        ('fact_training', 'labels', 'Labels the annotator attached (GIN-indexed).'),
        ('fact_training', 'created_at', 'When the feedback entry was opened.'),
        ('fact_training', 'annotated_at', 'When the annotator finished it.'),
        ('fact_training', '_batch_id', 'Batch (pipeline run) that last wrote the row.'),
        ('fact_training', '_loaded_at', 'When the row was last written.'),
        ('agg_agent_daily_performance', 'agent_key', 'The agent version the facts point at.'),
        ('agg_agent_daily_performance', 'time_key', 'The day (YYYYMMDD).'),
        ('agg_agent_daily_performance', 'total_queries', 'Queries of the agent version that day (0 on a day with approvals or feedback only).'),
        ('agg_agent_daily_performance', 'avg_latency_ms', 'Mean latency of the day''s queries.'),
        ('agg_agent_daily_performance', 'p95_latency_ms', '95th percentile (continuous) of the day''s query latencies.'),
        ('agg_agent_daily_performance', 'approval_rate_pct', 'Share of the day''s queries approved, in percent.'),
        ('agg_agent_daily_performance', 'edit_rate_pct', 'Share of the day''s queries edited by a human, in percent.'),
        ('agg_agent_daily_performance', 'error_rate_pct', 'Share of the day''s queries that failed, in percent.'),
        ('agg_agent_daily_performance', 'total_approvals', 'Approval requests made that day.'),
        ('agg_agent_daily_performance', 'total_feedback', 'Feedback entries opened that day.'),
        ('agg_agent_daily_performance', 'unsafe_feedback_count', 'Feedback entries of that day judged not safe to send.'),
        ('agg_agent_daily_performance', 'sla_compliance_pct', 'Share of the day''s resolved requests (approved, rejected, expired) that met the SLA; NULL when none resolved.'),
        ('agg_agent_daily_performance', 'refreshed_at', 'When the day was last refreshed.'),
        ('dim_time', 'time_key', 'YYYYMMDD (= gold.dim_date.date_key).'),
        ('dim_time', 'full_date', 'The day.'),
        ('dim_time', 'year', 'Calendar year.'),
        ('dim_time', 'quarter', 'Calendar quarter 1-4.'),
        ('dim_time', 'month', 'Month 1-12.'),
        ('dim_time', 'week', 'ISO 8601 week 1-53; belongs to iso_year.'),
        ('dim_time', 'iso_year', 'ISO 8601 year of the week (differs from year in the last days of December / first of January).'),
        ('dim_time', 'day_of_month', 'Day of the month 1-31.'),
        ('dim_time', 'day_of_week', '0 = Sunday .. 6 = Saturday (EXTRACT(dow), as the seed).'),
        ('dim_time', 'day_of_year', 'Day of the year 1-366.'),
        ('dim_time', 'day_name', 'Monday .. Sunday (not blank-padded).'),
        ('dim_time', 'month_name', 'January .. December (not blank-padded).'),
        ('dim_time', 'is_weekend', 'Saturday or Sunday.'),
        ('dim_time', 'is_holiday', 'A holiday of gold.holidays.'),
        ('dim_time', 'fiscal_year', 'Fiscal year (gold.dim_date: named after the calendar year it ends in).'),
        ('dim_time', 'fiscal_quarter', 'Fiscal quarter 1-4.'),
        ('dim_time', 'hour', 'Always NULL: the seed''s dim_time is used at day grain (time of day is gold.dim_time_of_day).'),
        ('dim_time', 'minute', 'Always NULL, as hour.')
        ) AS c (table_name, column_name, comment)
    LOOP
        EXECUTE format('COMMENT ON COLUMN agents.%I.%I IS %L', v.table_name, v.column_name, v.comment);
    END LOOP;
END
$comments$;

-- Analysts read the star schema (and nothing else of the area); etl_service writes it.
GRANT SELECT ON agents.dim_agent, agents.dim_user, agents.dim_conversation, agents.dim_time,
    agents.fact_agent_query, agents.fact_approval, agents.fact_training, agents.agg_agent_daily_performance
    TO analyst_role;
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON agents.dim_time FROM etl_service;
