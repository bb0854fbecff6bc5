-- What the conversation step reads for agents.dim_conversation (Type 1, one row per conversation): the
-- attributes of each conversation; first_seen_at / last_seen_at start at its start and are widened, and
-- the counters kept, after the fact loads (agents.step_conversation_counters). _loaded_at: the window
-- column of agents.step_dim_conversation.
CREATE OR REPLACE VIEW silver.agents_dim_conversation_source AS
SELECT s.conversation_id,
       s.user_id,
       s.channel,
       s.metadata,
       s.started_at AS first_seen_at,
       s.started_at AS last_seen_at,
       s.updated_at AS change_ts,
       s._loaded_at
FROM silver.agents_conversations AS s;
COMMENT ON VIEW silver.agents_dim_conversation_source IS 'Source of agents.dim_conversation (natural key conversation_id).';
REVOKE ALL ON silver.agents_dim_conversation_source FROM PUBLIC, analyst_role;
