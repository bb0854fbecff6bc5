-- depends: 0023_agents
-- The agents area on the step kinds (issue 11 / issue 10): the two queues its fact steps feed
-- (dwh_etl.step_fact "affected_queue") and its downstream steps consume, so a day or a conversation is
-- recomputed only when one of its facts changed, and a failed downstream step is redone by the next run.

CREATE TABLE dwh_staging.agents_affected_days (
    time_key         integer NOT NULL,
    run_id           bigint,
    noted_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT agents_affected_days_pk PRIMARY KEY (time_key)
);
COMMENT ON TABLE dwh_staging.agents_affected_days IS 'Days (time_key) whose agents facts changed and whose agg_agent_daily_performance rows are not yet recomputed; written by the fact steps, consumed by agents.step_agg_daily_performance.';

CREATE TABLE dwh_staging.agents_affected_conversations (
    conv_key         bigint NOT NULL,
    run_id           bigint,
    noted_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT agents_affected_conversations_pk PRIMARY KEY (conv_key)
);
COMMENT ON TABLE dwh_staging.agents_affected_conversations IS 'Conversations (conv_key) whose agents facts changed and whose dim_conversation counters and first/last seen are not yet recomputed; written by the fact steps, consumed by agents.step_conversation_counters.';

GRANT SELECT, INSERT, UPDATE, DELETE ON dwh_staging.agents_affected_days, dwh_staging.agents_affected_conversations TO etl_service;

-- An inferred member is completed in place now (dwh_etl.apply_dimension), not by a second version.
COMMENT ON COLUMN agents.dim_agent.is_inferred IS 'true: created by a fact load for an agent a fact named before its source row arrived (valid from -infinity); completed in place (same agent_key, is_inferred false) when the row arrives.';
COMMENT ON COLUMN agents.dim_user.is_inferred IS 'true: created for a user a fact named before the user row arrived; completed in place when it arrives.';

-- Deletes: the silver tables carry the deletion flag the silver step sets from the source's tombstones
-- (bronze.agents_deleted_records); the fact steps remove a deleted fact row, the SCD dimensions close a
-- deleted agent or user.
DO $flags$
DECLARE
    v_table text;
BEGIN
    FOREACH v_table IN ARRAY ARRAY['agents', 'users', 'conversations', 'agent_queries', 'agent_approvals', 'agent_feedback']
    LOOP
        EXECUTE format('ALTER TABLE silver.%I ADD COLUMN is_deleted boolean NOT NULL DEFAULT false', 'agents_' || v_table);
        EXECUTE format('COMMENT ON COLUMN silver.%I.is_deleted IS %L', 'agents_' || v_table,
                       'The source row was deleted (a tombstone in agents_src.deleted_records); false again when a later state of the key loads.');
    END LOOP;
END
$flags$;

-- agents.step_conversation_counters recounts the touched conversations from the three facts: by conv_key
-- (fact_agent_query has its index since 0023).
CREATE INDEX fact_approval_conv_idx ON agents.fact_approval (conv_key);
CREATE INDEX fact_training_conv_idx ON agents.fact_training (conv_key);
