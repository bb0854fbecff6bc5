-- Initial load of the agents demo source (seed 001), set-based and reproducible for a seed:
-- 10-18 agents of the seed's types, ~1000 * p_scale users (at least 20; ~100 at the demo's 0.1) and the
-- activity of every day from 2025-01-01 through yesterday (UTC): conversations, queries with latencies
-- and errors, approval requests that resolve minutes to hours later or expire after 24 hours (the last
-- hours' still pending), feedback with partial scores (see agents_src._simulate for the volumes: about
-- 150 queries a weekday at scale 0.1). The seed's queries then find rows in 2025 and in the last 30 days.
--   CALL agents_src.generate(p_scale => 0.1, p_seed => 0.42);
-- A seed outside [-1, 1] (setseed's range) is mapped to (p_seed mod 1000003) / 1000003.
CREATE OR REPLACE PROCEDURE agents_src.generate(
    p_scale numeric DEFAULT 0.1,
    p_seed  double precision DEFAULT 0.42
)
LANGUAGE plpgsql
SET search_path = agents_src, pg_temp
AS $$
DECLARE
    c_first_day CONSTANT date := DATE '2025-01-01';
    v_today     date := (now() AT TIME ZONE 'UTC')::date;
    v_seed      double precision;
    v_agents    integer;
    v_users     integer;
BEGIN
    IF p_scale IS NULL OR p_scale <= 0 OR p_scale > 100 THEN
        RAISE EXCEPTION 'invalid scale %', p_scale
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'p_scale must be > 0 and <= 100 (scale 1 is about 1,500 queries a weekday).',
                  HINT = 'CALL agents_src.generate(p_scale => 0.01) for a small data set.';
    END IF;
    IF p_seed IS NULL OR p_seed = 'NaN'::double precision OR p_seed IN ('Infinity', '-Infinity') THEN
        RAISE EXCEPTION 'invalid seed %', p_seed
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass a finite number, e.g. p_seed => 0.42.';
    END IF;
    IF NOT pg_try_advisory_xact_lock(hashtext('agents_src.generate')) THEN
        RAISE EXCEPTION 'another session is generating data in agents_src'
            USING ERRCODE = 'lock_not_available',
                  HINT = 'Wait for the other agents_src.generate / generate_next_day call to finish.';
    END IF;
    IF EXISTS (SELECT 1 FROM agents_src.agents) OR EXISTS (SELECT 1 FROM agents_src.agent_queries) THEN
        RAISE EXCEPTION 'agents_src already holds data'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'agents_src.generate() makes the initial load and only runs on empty tables.',
                  HINT = 'Add a day with CALL agents_src.generate_next_day().';
    END IF;
    IF v_today <= c_first_day THEN
        RAISE EXCEPTION 'today (%) is not after %: nothing to generate', v_today, c_first_day
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    v_seed := CASE WHEN p_seed BETWEEN -1 AND 1 THEN p_seed ELSE ((p_seed::numeric % 1000003) / 1000003)::double precision END;
    PERFORM setseed(v_seed);

    v_agents := 10 + floor(random() * 9)::integer;
    INSERT INTO agents_src.agents (agent_name, agent_type, capabilities, sla_target_seconds, cost_per_query_usd,
                                   is_active, created_at, updated_at)
    SELECT c.agent_name, c.agent_type, c.capabilities, c.sla_target_seconds, c.cost_per_query_usd, true,
           TIMESTAMPTZ '2024-12-01 00:00:00+00' + make_interval(days => c.ord),
           TIMESTAMPTZ '2024-12-01 00:00:00+00' + make_interval(days => c.ord)
    FROM agents_src._agent_catalog() AS c
    WHERE c.ord <= v_agents
    ORDER BY c.ord;

    v_users := greatest(20, round(1000 * p_scale))::integer;
    INSERT INTO agents_src.users (user_id, user_type, team, display_name, is_active, created_at, updated_at)
    SELECT 'u' || lpad(u.i::text, 5, '0'),
           -- every type present from the first four users on
           CASE WHEN u.i <= 4 THEN (ARRAY['annotator', 'approver', 'qa_team', 'operator'])[u.i]
                WHEN u.r < 0.40 THEN 'annotator' WHEN u.r < 0.65 THEN 'approver' WHEN u.r < 0.80 THEN 'qa_team' ELSE 'operator' END,
           (ARRAY['platform', 'support', 'growth', 'research', 'trust_safety'])[1 + floor(u.r2 * 5)::integer],
           initcap((ARRAY['ada', 'alan', 'grace', 'edsger', 'barbara', 'donald', 'frances', 'ken', 'margaret', 'linus'])[1 + floor(u.r2 * 10)::integer])
               || ' ' || upper(chr(65 + floor(u.r * 26)::integer)) || '.',
           true,
           TIMESTAMPTZ '2024-12-01 00:00:00+00' + make_interval(hours => u.i),
           TIMESTAMPTZ '2024-12-01 00:00:00+00' + make_interval(hours => u.i)
    FROM (SELECT g.i, random() AS r, random() AS r2 FROM generate_series(1, v_users) AS g (i)) AS u
    ORDER BY u.i;

    CALL agents_src._simulate(p_from => c_first_day, p_to => v_today - 1, p_scale => p_scale,
                              p_horizon => v_today::timestamp AT TIME ZONE 'UTC');

    INSERT INTO agents_src.generator_state (id, simulated_through, seed, scale)
    VALUES (true, v_today - 1, v_seed, p_scale)
    ON CONFLICT (id) DO UPDATE
    SET simulated_through = EXCLUDED.simulated_through, seed = EXCLUDED.seed, scale = EXCLUDED.scale;
END;
$$;
COMMENT ON PROCEDURE agents_src.generate(numeric, double precision) IS 'Initial load of the agents demo source, reproducible by seed: 10-18 agents, max(20, 1000*p_scale) users, and every day from 2025-01-01 through yesterday (UTC) of conversations, queries (~1500*p_scale a weekday), approvals and feedback. Refuses (SQLSTATE 55000) when agents_src already holds rows.';
REVOKE EXECUTE ON PROCEDURE agents_src.generate(numeric, double precision) FROM PUBLIC;
