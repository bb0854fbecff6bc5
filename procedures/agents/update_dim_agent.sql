-- The seed's update_dim_agent(name, capabilities), as a DBA calls it when an agent's capabilities change:
--   SELECT agents.update_dim_agent('data', '["query", "analytics", "schema", "forecast"]');
-- A new Type 2 version through the engine (dwh_etl.apply_dimension with the area's spec agents.dim_agent),
-- valid from now: the current version is closed, the new one keeps every other attribute of it. Returns
-- the new version's agent_key (the current one when the capabilities are unchanged: nothing is written).
-- Fixed from the seed: it inserted agent_type 'unknown' (violating the CHECK), could not insert a second
-- row under UNIQUE (agent_name), and reset type, SLA and cost to their defaults.
CREATE OR REPLACE FUNCTION agents.update_dim_agent(
    p_agent_name       text,
    p_new_capabilities jsonb
)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = agents, pg_temp
AS $$
DECLARE
    v_key bigint;
BEGIN
    IF p_new_capabilities IS NULL OR jsonb_typeof(p_new_capabilities) <> 'array' THEN
        RAISE EXCEPTION 'capabilities of agent % must be a JSON array, got %', quote_nullable(p_agent_name),
                        COALESCE(p_new_capabilities::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'e.g. ''["query", "analytics"]''::jsonb';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM agents.dim_agent AS d WHERE d.agent_name = p_agent_name AND d.is_current AND NOT d.is_deleted) THEN
        RAISE EXCEPTION 'agent % has no current version in agents.dim_agent', quote_nullable(p_agent_name)
            USING ERRCODE = 'no_data_found',
                  HINT = 'SELECT agent_name FROM agents.dim_agent WHERE is_current lists the agents.';
    END IF;

    PERFORM 'PRAGMA:TABLE: _agents_dim_agent_change (agent_name text, agent_type text, capabilities jsonb, '
            'sla_target_seconds integer, cost_per_query_usd numeric, is_inferred boolean, change_ts timestamptz, is_deleted boolean)';
    DROP TABLE IF EXISTS pg_temp._agents_dim_agent_change;
    CREATE TEMP TABLE _agents_dim_agent_change ON COMMIT DROP AS
    SELECT d.agent_name, d.agent_type, p_new_capabilities AS capabilities, d.sla_target_seconds,
           d.cost_per_query_usd, false AS is_inferred, clock_timestamp() AS change_ts, false AS is_deleted
    FROM agents.dim_agent AS d
    WHERE d.agent_name = p_agent_name
      AND d.is_current;

    PERFORM dwh_etl.apply_dimension(p_dimension => 'agents.dim_agent', p_source => 'pg_temp._agents_dim_agent_change',
                                    p_lineage_source => 'agents.update_dim_agent');
    DROP TABLE pg_temp._agents_dim_agent_change;

    SELECT d.agent_key INTO v_key FROM agents.dim_agent AS d WHERE d.agent_name = p_agent_name AND d.is_current;
    RETURN v_key;
END;
$$;
COMMENT ON FUNCTION agents.update_dim_agent(text, jsonb) IS 'Seed 001 update_dim_agent: a new Type 2 version of the agent with new capabilities (every other attribute kept), through dwh_etl.apply_dimension; returns the current agent_key.';
REVOKE EXECUTE ON FUNCTION agents.update_dim_agent(text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION agents.update_dim_agent(text, jsonb) TO etl_service;
