-- The seed's etl_load_agent_queries(p_date), as a DBA calls it: loads the queries of one day (the date of
-- created_at in the area's zone, setting agents.timezone) from silver into agents.fact_agent_query and
-- returns the rows inserted.
--   SELECT * FROM agents.etl_load_agent_queries('2025-03-14');
-- The pipelines load the fact with the typed step agents_fact_agent_query (dwh_etl.step_fact over
-- silver.agents_fact_agent_query_source, procedures/registry/agents.sql); this is the seed's own entry
-- point for a DBA (one day, by hand), self-contained, with the same rules:
--  * unknown agents and conversations become inferred members (the seed dropped unknown agents by its
--    inner join and failed the whole day on one unknown conversation: LEFT JOIN into a NOT NULL column);
--  * each query points at the agent / user version valid at created_at (the first version when it is
--    older than all of them);
--  * upsert by the source id query_id (the seed deduplicated on (created_at, agent_key) with nothing
--    behind it): a rerun inserts nothing, a later review updates approved / human_edited;
--  * the conversations touched get their counters and first/last seen recomputed from the fact.
CREATE OR REPLACE FUNCTION agents.etl_load_agent_queries(
    p_date date DEFAULT NULL
)
RETURNS TABLE (rows_inserted integer)
LANGUAGE plpgsql
SET search_path = agents, pg_temp
AS $$
DECLARE
    v_zone  text := dwh_etl.setting_timezone('agents.timezone');
    v_date  date := COALESCE(p_date, (now() AT TIME ZONE v_zone)::date - 1);
    v_key   integer;
    v_batch uuid := (dwh_etl.get_run_context(NULL)).batch_id;  -- a DBA's call: no run
BEGIN
    v_key := (EXTRACT(YEAR FROM v_date) * 10000 + EXTRACT(MONTH FROM v_date) * 100 + EXTRACT(DAY FROM v_date))::integer;
    PERFORM agents.populate_dim_time(v_date, v_date);

    -- inferred members: agents and conversations the day names before their own rows arrived
    INSERT INTO agents.dim_agent (agent_name, is_inferred, valid_from, _batch_id)
    SELECT DISTINCT s.agent_name, true, '-infinity'::timestamptz, v_batch
    FROM silver.agents_fact_agent_query_source AS s
    WHERE s.time_key = v_key
      AND NOT EXISTS (SELECT 1 FROM agents.dim_agent AS d WHERE d.agent_name = s.agent_name);
    INSERT INTO agents.dim_conversation (conversation_id, first_seen_at, last_seen_at, is_inferred, _batch_id)
    SELECT s.conversation_id, min(s.created_at), max(s.created_at), true, v_batch
    FROM silver.agents_fact_agent_query_source AS s
    WHERE s.time_key = v_key
    GROUP BY s.conversation_id
    ON CONFLICT (conversation_id) DO NOTHING;

    WITH upserted AS (
        INSERT INTO agents.fact_agent_query AS f (
            query_id, agent_key, time_key, conv_key, user_key, query_hash, result_size_bytes, latency_ms,
            approved, human_edited, error_occurred, created_at, _batch_id)
        SELECT s.query_id, a.agent_key, s.time_key, c.conv_key, u.user_key, s.query_hash, s.result_size_bytes,
               s.latency_ms, s.approved, s.human_edited, s.error_occurred, s.created_at, v_batch
        FROM silver.agents_fact_agent_query_source AS s
        JOIN agents.dim_conversation AS c
          ON c.conversation_id = s.conversation_id
        CROSS JOIN LATERAL (
            SELECT d.agent_key FROM agents.dim_agent AS d
            WHERE d.agent_name = s.agent_name
            ORDER BY (d.valid_from <= s.created_at) DESC,
                     CASE WHEN d.valid_from <= s.created_at THEN d.valid_from END DESC NULLS LAST,
                     d.valid_from
            LIMIT 1
        ) AS a
        LEFT JOIN LATERAL (
            SELECT d.user_key FROM agents.dim_user AS d
            WHERE d.user_id = s.user_id
            ORDER BY (d.valid_from <= s.created_at) DESC,
                     CASE WHEN d.valid_from <= s.created_at THEN d.valid_from END DESC NULLS LAST,
                     d.valid_from
            LIMIT 1
        ) AS u ON true
        WHERE s.time_key = v_key
        ON CONFLICT (query_id) DO UPDATE
        SET approved       = EXCLUDED.approved,
            human_edited   = EXCLUDED.human_edited,
            error_occurred = EXCLUDED.error_occurred,
            latency_ms     = EXCLUDED.latency_ms,
            _batch_id      = EXCLUDED._batch_id,
            _loaded_at     = now()
        WHERE (f.approved, f.human_edited, f.error_occurred, f.latency_ms)
              IS DISTINCT FROM (EXCLUDED.approved, EXCLUDED.human_edited, EXCLUDED.error_occurred, EXCLUDED.latency_ms)
        RETURNING (f.xmax = 0) AS inserted
    )
    SELECT count(*) FILTER (WHERE x.inserted)::integer INTO rows_inserted
    FROM upserted AS x;

    -- the day's conversations: counters and first/last seen from the fact (a separate statement: a
    -- CTE of the upsert would not see its rows)
    UPDATE agents.dim_conversation AS c
    SET total_queries = k.n,
        first_seen_at = LEAST(c.first_seen_at, k.first_at),
        last_seen_at  = GREATEST(c.last_seen_at, k.last_at),
        _loaded_at    = now()
    FROM (
        SELECT f.conv_key, count(*)::integer AS n, min(f.created_at) AS first_at, max(f.created_at) AS last_at
        FROM agents.fact_agent_query AS f
        WHERE f.conv_key IN (SELECT f2.conv_key FROM agents.fact_agent_query AS f2 WHERE f2.time_key = v_key)
        GROUP BY f.conv_key
    ) AS k
    WHERE c.conv_key = k.conv_key
      AND (c.total_queries, c.first_seen_at, c.last_seen_at)
          IS DISTINCT FROM (k.n, LEAST(c.first_seen_at, k.first_at), GREATEST(c.last_seen_at, k.last_at));
    RETURN NEXT;
END;
$$;
COMMENT ON FUNCTION agents.etl_load_agent_queries(date) IS 'Seed 001 nightly load of one day of queries (default yesterday in the area''s zone) from silver into agents.fact_agent_query, with inferred agents and conversations and upsert by query_id; returns rows_inserted. The pipelines use the typed fact step agents_fact_agent_query.';
REVOKE EXECUTE ON FUNCTION agents.etl_load_agent_queries(date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION agents.etl_load_agent_queries(date) TO etl_service;
