-- Step agents_conversation_counters (custom, after the three fact steps): the conversations whose facts
-- changed (queued by the fact steps in dwh_staging.agents_affected_conversations, and by
-- agents.step_dim_conversation when a conversation's row changed) get their counters recounted from
-- fact_agent_query, fact_approval and fact_training, and first/last seen computed from the conversation's
-- start and its facts' times. Incremental in the sense of the issue: only touched conversations, and a recount (not
-- += n), so a rerun or a duplicate delivery cannot double a counter. The queue entries are consumed in
-- the step's transaction: a failed step leaves them for the next run.
CREATE OR REPLACE PROCEDURE agents.step_conversation_counters(
    p_run_id   bigint,
    p_run_date date
)
LANGUAGE plpgsql
SET search_path = agents, pg_temp
AS $$
DECLARE
    v_batch   uuid := COALESCE((dwh_etl.get_run_context(p_run_id)).batch_id, gen_random_uuid());
    v_queued  bigint;
    v_updated bigint;
BEGIN
    PERFORM dwh_etl.lock_step('agents.dim_conversation.counters');
    PERFORM 'PRAGMA:TABLE: _conv_touched (conv_key bigint)';
    CREATE TEMP TABLE _conv_touched ON COMMIT DROP AS
    SELECT q.conv_key FROM dwh_staging.agents_affected_conversations AS q;
    GET DIAGNOSTICS v_queued = ROW_COUNT;

    WITH q AS (
        SELECT f.conv_key, count(*)::integer AS n, min(f.created_at) AS first_at, max(f.created_at) AS last_at
        FROM agents.fact_agent_query AS f
        WHERE f.conv_key IN (SELECT t.conv_key FROM _conv_touched AS t)
        GROUP BY f.conv_key
    ),
    a AS (
        SELECT f.conv_key, count(*)::integer AS n, min(f.created_at) AS first_at, max(COALESCE(f.resolved_at, f.created_at)) AS last_at
        FROM agents.fact_approval AS f
        WHERE f.conv_key IN (SELECT t.conv_key FROM _conv_touched AS t)
        GROUP BY f.conv_key
    ),
    fb AS (
        SELECT f.conv_key, count(*)::integer AS n, min(f.created_at) AS first_at, max(f.created_at) AS last_at
        FROM agents.fact_training AS f
        WHERE f.conv_key IN (SELECT t.conv_key FROM _conv_touched AS t)
        GROUP BY f.conv_key
    ),
    k AS (
        SELECT t.conv_key,
               COALESCE(q.n, 0) AS total_queries,
               COALESCE(a.n, 0) AS total_approvals,
               COALESCE(fb.n, 0) AS total_feedback,
               LEAST(q.first_at, a.first_at, fb.first_at) AS first_at,
               GREATEST(q.last_at, a.last_at, fb.last_at) AS last_at
        FROM _conv_touched AS t
        LEFT JOIN q ON q.conv_key = t.conv_key
        LEFT JOIN a ON a.conv_key = t.conv_key
        LEFT JOIN fb ON fb.conv_key = t.conv_key
    ),
    -- first / last seen computed again from the conversation's start (silver) and its facts, not widened:
    -- widened, a query moved to another conversation, re-dated or deleted at the source left its time
    -- in the old conversation's last_seen_at for good, and a corrected start never reached first_seen_at
    -- (attack 13a). Without a start (an inferred member) and without facts, the row keeps its values.
    n AS (
        SELECT k.*,
               COALESCE(LEAST(s.started_at, k.first_at), c.first_seen_at) AS first_seen_at,
               COALESCE(GREATEST(s.started_at, k.last_at), c.last_seen_at) AS last_seen_at
        FROM k
        JOIN agents.dim_conversation AS c ON c.conv_key = k.conv_key
        LEFT JOIN silver.agents_conversations AS s ON s.conversation_id = c.conversation_id
    )
    UPDATE agents.dim_conversation AS c
    SET total_queries   = n.total_queries,
        total_approvals = n.total_approvals,
        total_feedback  = n.total_feedback,
        first_seen_at   = n.first_seen_at,
        last_seen_at    = n.last_seen_at,
        _batch_id       = v_batch,
        _loaded_at      = now()
    FROM n
    WHERE c.conv_key = n.conv_key
      AND (c.total_queries, c.total_approvals, c.total_feedback, c.first_seen_at, c.last_seen_at)
          IS DISTINCT FROM (n.total_queries, n.total_approvals, n.total_feedback, n.first_seen_at, n.last_seen_at);
    GET DIAGNOSTICS v_updated = ROW_COUNT;

    DELETE FROM dwh_staging.agents_affected_conversations AS q
    USING _conv_touched AS t
    WHERE q.conv_key = t.conv_key;

    PERFORM dwh_lineage.log_aggregation(
        in_source_table  => 'agents.fact_agent_query',
        in_target_table  => 'agents.dim_conversation',
        in_batch_id      => v_batch,
        in_rows_inserted => 0::bigint,
        in_rows_deleted  => 0::bigint,
        in_run_id        => p_run_id);
    RAISE DEBUG 'agents.step_conversation_counters: % conversations queued, % updated', v_queued, v_updated;
    DROP TABLE _conv_touched;
END;
$$;
COMMENT ON PROCEDURE agents.step_conversation_counters(bigint, date) IS 'Step agents_conversation_counters: recount total_queries / total_approvals / total_feedback and widen first/last seen of the conversations whose facts changed (dwh_staging.agents_affected_conversations).';
REVOKE EXECUTE ON PROCEDURE agents.step_conversation_counters(bigint, date) FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE agents.step_conversation_counters(bigint, date) TO etl_service;
