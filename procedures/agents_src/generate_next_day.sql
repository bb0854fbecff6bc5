-- Adds the day after agents_src.generator_state.simulated_through to the demo source, reproducibly (the
-- random stream is seeded from the initial seed and the day):
--  * late resolutions: requests still pending are approved or rejected during the day (about 75%), or
--    expire 24 hours after they were made; unfinished annotations are finished;
--  * agent changes: about two agents gain a capability and get a new SLA; every 30th day a new agent of the
--    catalog joins (its first queries come the same day); a user moves to another team;
--  * the day's conversations, queries, approvals and feedback (agents_src._simulate).
-- Each change carries its own change time (updated_at) within the day.
--   CALL agents_src.generate_next_day();
CREATE OR REPLACE PROCEDURE agents_src.generate_next_day()
LANGUAGE plpgsql
SET search_path = agents_src, pg_temp
AS $$
DECLARE
    v_state     agents_src.generator_state;
    v_day       date;
    v_start     timestamptz;
    v_horizon   timestamptz;
    v_approvers text[];
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtext('agents_src.generate')) THEN
        RAISE EXCEPTION 'another session is generating data in agents_src'
            USING ERRCODE = 'lock_not_available',
                  HINT = 'Wait for the other agents_src.generate / generate_next_day call to finish.';
    END IF;
    SELECT * INTO v_state FROM agents_src.generator_state AS s WHERE s.id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'agents_src has not been generated yet'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'CALL agents_src.generate() first.';
    END IF;
    v_day     := v_state.simulated_through + 1;
    v_start   := v_day::timestamp AT TIME ZONE 'UTC';
    v_horizon := (v_day + 1)::timestamp AT TIME ZONE 'UTC';
    PERFORM setseed(((v_state.seed::numeric * 1000003 + (v_day - DATE '2025-01-01')) % 1000003 / 1000003)::double precision);

    SELECT array_agg(u.user_id ORDER BY u.user_id) INTO v_approvers
    FROM agents_src.users AS u
    WHERE u.is_active AND u.user_type IN ('approver', 'operator');

    -- late resolutions of the requests still pending
    UPDATE agents_src.agent_approvals AS a
    SET status             = x.status,
        resolved_at        = x.resolved_at,
        resolved_by        = CASE WHEN x.status IN ('approved', 'rejected') THEN v_approvers[1 + floor(x.r2 * cardinality(v_approvers))::integer] END,
        interruption_count = a.interruption_count + 1,
        updated_at         = x.resolved_at
    FROM (
        SELECT p.approval_id,
               CASE WHEN p.created_at + interval '24 hours' < v_horizon AND p.r1 >= 0.75 THEN 'expired'
                    WHEN p.r2 < 0.78 THEN 'approved' ELSE 'rejected' END AS status,
               CASE WHEN p.created_at + interval '24 hours' < v_horizon AND p.r1 >= 0.75 THEN p.created_at + interval '24 hours'
                    ELSE GREATEST(p.created_at, v_start) + (v_horizon - GREATEST(p.created_at, v_start)) * p.r3 END AS resolved_at,
               p.r2
        FROM (
            SELECT ap.approval_id, ap.created_at, random() AS r1, random() AS r2, random() AS r3
            FROM agents_src.agent_approvals AS ap
            WHERE ap.status = 'pending'
            ORDER BY ap.approval_id
        ) AS p
        WHERE p.r1 < 0.75 OR p.created_at + interval '24 hours' < v_horizon
    ) AS x
    WHERE a.approval_id = x.approval_id;

    -- unfinished annotations are finished during the day
    UPDATE agents_src.agent_feedback AS f
    SET annotated_at = x.annotated_at,
        updated_at   = x.annotated_at
    FROM (
        SELECT fb.feedback_id, GREATEST(fb.created_at, v_start) + (v_horizon - GREATEST(fb.created_at, v_start)) * random() AS annotated_at
        FROM agents_src.agent_feedback AS fb
        WHERE fb.annotated_at IS NULL
        ORDER BY fb.feedback_id
    ) AS x
    WHERE f.feedback_id = x.feedback_id;

    -- agent changes: about two agents gain a capability and a new SLA (a new dimension version)
    UPDATE agents_src.agents AS a
    SET capabilities       = a.capabilities || to_jsonb(format('skill_%s', to_char(v_day, 'YYYYMMDD'))),
        sla_target_seconds = greatest(60, a.sla_target_seconds + (x.r2 * 240)::integer - 120),
        updated_at         = v_start + make_interval(hours => 9, secs => x.r * 3600)
    FROM (
        SELECT ag.agent_name, random() AS r, random() AS r2
        FROM agents_src.agents AS ag
        WHERE ag.is_active
        ORDER BY ag.agent_name
    ) AS x
    WHERE a.agent_name = x.agent_name
      AND x.r < 2.0 / (SELECT count(*) FROM agents_src.agents AS c WHERE c.is_active);

    -- every 30th day a new agent joins
    IF (v_day - DATE '2025-01-01') % 30 = 0 THEN
        INSERT INTO agents_src.agents (agent_name, agent_type, capabilities, sla_target_seconds, cost_per_query_usd,
                                       is_active, created_at, updated_at)
        SELECT c.agent_name, c.agent_type, c.capabilities, c.sla_target_seconds, c.cost_per_query_usd, true,
               v_start + interval '8 hours', v_start + interval '8 hours'
        FROM agents_src._agent_catalog() AS c
        WHERE NOT EXISTS (SELECT 1 FROM agents_src.agents AS a WHERE a.agent_name = c.agent_name)
        ORDER BY c.ord
        LIMIT 1;
    END IF;

    -- a user moves to another team
    UPDATE agents_src.users AS u
    SET team       = (ARRAY['platform', 'support', 'growth', 'research', 'trust_safety'])[1 + floor(x.r * 5)::integer],
        updated_at = v_start + make_interval(hours => 10, secs => x.r * 3600)
    FROM (
        SELECT us.user_id, random() AS r
        FROM agents_src.users AS us
        WHERE us.is_active
        ORDER BY random(), us.user_id
        LIMIT 1
    ) AS x
    WHERE u.user_id = x.user_id
      AND u.team IS DISTINCT FROM (ARRAY['platform', 'support', 'growth', 'research', 'trust_safety'])[1 + floor(x.r * 5)::integer];

    CALL agents_src._simulate(p_from => v_day, p_to => v_day, p_scale => v_state.scale, p_horizon => v_horizon);

    UPDATE agents_src.generator_state SET simulated_through = v_day WHERE id;
END;
$$;
COMMENT ON PROCEDURE agents_src.generate_next_day() IS 'Adds one simulated day (the day after generator_state.simulated_through) to the agents demo source: late approval resolutions and expiries, finished annotations, agent capability/SLA changes, a new agent every 30th day, a team change, and the day''s conversations, queries, approvals and feedback.';
REVOKE EXECUTE ON PROCEDURE agents_src.generate_next_day() FROM PUBLIC;
