-- Step agents_dim_conversation (custom): agents.dim_conversation is a Type 1 dimension, one row per
-- conversation, whose first/last seen and counters are maintained from the facts. No engine kind fits:
-- the dimension kind applies SCD history (dwh_etl.apply_dimension: valid_from, versions), and this table
-- has none. What it does, set-based, for the silver conversations loaded since its watermark
-- (dwh_etl.window_bounds on _loaded_at, which also serializes it across pipelines):
--   * a new conversation is inserted (not inferred);
--   * a known one takes the source's attributes (user, channel, metadata); an INFERRED member (created by
--     a fact step for a conversation a fact named first, lookup option "inferred") is completed in place:
--     same conv_key, is_inferred false, first_seen_at widened to the conversation's start;
--   * counters are not touched here (agents.step_conversation_counters recounts them from the facts);
--     a conversation updated here is queued for it (dwh_staging.agents_affected_conversations), which
--     computes first / last seen again from its start and facts (a corrected start; attack 13a).
CREATE OR REPLACE PROCEDURE agents.step_dim_conversation(
    p_run_id   bigint,
    p_run_date date
)
LANGUAGE plpgsql
SET search_path = agents, pg_temp
AS $$
DECLARE
    v_batch    uuid := COALESCE((dwh_etl.get_run_context(p_run_id)).batch_id, gen_random_uuid());
    v_win      record := dwh_etl.window_bounds('agents.dim_conversation');
    v_read     bigint;
    v_inserted bigint;
    v_updated  bigint;
BEGIN
    SELECT count(*) INTO v_read
    FROM silver.agents_dim_conversation_source AS s
    WHERE s._loaded_at >= v_win.from_ts AND s._loaded_at < v_win.to_ts;

    WITH upserted AS (
        INSERT INTO agents.dim_conversation AS c (
            conversation_id, user_id, channel, metadata, first_seen_at, last_seen_at, is_inferred, _batch_id)
        SELECT s.conversation_id, s.user_id, s.channel, COALESCE(s.metadata, '{}'::jsonb), s.first_seen_at, s.last_seen_at,
               false, v_batch
        FROM silver.agents_dim_conversation_source AS s
        WHERE s._loaded_at >= v_win.from_ts AND s._loaded_at < v_win.to_ts
        ON CONFLICT (conversation_id) DO UPDATE
        SET user_id       = EXCLUDED.user_id,
            channel       = EXCLUDED.channel,
            metadata      = EXCLUDED.metadata,
            first_seen_at = LEAST(c.first_seen_at, EXCLUDED.first_seen_at),
            last_seen_at  = GREATEST(c.last_seen_at, EXCLUDED.last_seen_at),
            is_inferred   = false,
            _batch_id     = EXCLUDED._batch_id,
            _loaded_at    = now()
        WHERE (c.user_id, c.channel, c.metadata, c.is_inferred, c.first_seen_at, c.last_seen_at)
              IS DISTINCT FROM (EXCLUDED.user_id, EXCLUDED.channel, EXCLUDED.metadata, false,
                                LEAST(c.first_seen_at, EXCLUDED.first_seen_at), GREATEST(c.last_seen_at, EXCLUDED.last_seen_at))
        RETURNING c.conv_key, (c.xmax = 0) AS inserted
    ),
    -- a changed conversation (a corrected start) gets its first / last seen computed again from its start
    -- and its facts by agents.step_conversation_counters; here they are only widened (attack 13a)
    queued AS (
        INSERT INTO dwh_staging.agents_affected_conversations (conv_key, run_id)
        SELECT u.conv_key, p_run_id FROM upserted AS u WHERE NOT u.inserted
        ON CONFLICT (conv_key) DO NOTHING
    )
    SELECT count(*) FILTER (WHERE u.inserted), count(*) FILTER (WHERE NOT u.inserted)
    INTO v_inserted, v_updated
    FROM upserted AS u;

    PERFORM dwh_lineage.log_transformation(
        in_source_table   => 'silver.agents_conversations',
        in_target_table   => 'agents.dim_conversation',
        in_batch_id       => v_batch,
        in_rows_inserted  => v_inserted,
        in_rows_updated   => v_updated,
        in_rows_unchanged => v_read - v_inserted - v_updated,
        in_notes          => format('%s conversations read: %s inserted, %s updated (inferred members completed in place)', v_read, v_inserted, v_updated),
        in_run_id         => p_run_id);
    CALL dwh_etl.set_watermark('agents.dim_conversation', '_loaded_at', v_win.to_ts);
END;
$$;
COMMENT ON PROCEDURE agents.step_dim_conversation(bigint, date) IS 'Step agents_dim_conversation: upsert the conversations loaded into silver since the watermark into agents.dim_conversation (Type 1), completing inferred members in place.';
REVOKE EXECUTE ON PROCEDURE agents.step_dim_conversation(bigint, date) FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE agents.step_dim_conversation(bigint, date) TO etl_service;
