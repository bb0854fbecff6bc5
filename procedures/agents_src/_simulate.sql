-- The activity of the agents demo source for the days [p_from, p_to] (UTC), set-based, in the order
-- conversations -> queries -> approvals -> feedback. Ids continue after the largest ones present, so the
-- same random stream (setseed by the caller) gives the same rows. Times are built in UTC whatever the
-- session's TimeZone. Anything that would happen at or after p_horizon (the end of the simulated time)
-- has not happened yet: such approvals stay pending (resolved later by agents_src.generate_next_day),
-- such annotations are unfinished (annotated_at NULL).
-- Volumes per day: round(1500 * p_scale) queries on a weekday, about 40% of that on a weekend (scale 1 is
-- about 500k queries a year; the seed's 10M a year is scale 20), one conversation per ~4 queries, an
-- approval request for ~10% of the queries, a feedback entry for ~5%.
CREATE OR REPLACE PROCEDURE agents_src._simulate(
    p_from    date,
    p_to      date,
    p_scale   numeric,
    p_horizon timestamptz
)
LANGUAGE plpgsql
SET search_path = agents_src, pg_temp
AS $$
DECLARE
    v_conv0     bigint;
    v_query0    bigint;
    v_approval0 bigint;
    v_feedback0 bigint;
    v_agents    text[];
    v_users     text[];
    v_approvers text[];
    v_annotators text[];
BEGIN
    SELECT COALESCE(max(substr(c.conversation_id, 2)::bigint), 0) INTO v_conv0 FROM agents_src.conversations AS c
    WHERE c.conversation_id ~ '^c[0-9]+$';
    SELECT COALESCE(max(q.query_id), 0) INTO v_query0 FROM agents_src.agent_queries AS q;
    SELECT COALESCE(max(a.approval_id), 0) INTO v_approval0 FROM agents_src.agent_approvals AS a;
    SELECT COALESCE(max(f.feedback_id), 0) INTO v_feedback0 FROM agents_src.agent_feedback AS f;
    SELECT array_agg(a.agent_name ORDER BY a.agent_name) INTO v_agents FROM agents_src.agents AS a WHERE a.is_active;
    SELECT array_agg(u.user_id ORDER BY u.user_id) INTO v_users FROM agents_src.users AS u WHERE u.is_active;
    SELECT array_agg(u.user_id ORDER BY u.user_id) INTO v_approvers FROM agents_src.users AS u
    WHERE u.is_active AND u.user_type IN ('approver', 'operator');
    SELECT array_agg(u.user_id ORDER BY u.user_id) INTO v_annotators FROM agents_src.users AS u
    WHERE u.is_active AND u.user_type IN ('annotator', 'qa_team');
    IF v_agents IS NULL OR v_users IS NULL OR v_approvers IS NULL OR v_annotators IS NULL THEN
        RAISE EXCEPTION 'agents_src has no active agents, users, approvers or annotators to simulate with'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'CALL agents_src.generate() creates them.';
    END IF;

    PERFORM 'PRAGMA:TABLE: _sim_days (day date, n_queries integer, n_conv integer, conv_before bigint, queries_before bigint)';
    PERFORM 'PRAGMA:TABLE: _sim_conv (conv_no bigint, day date, idx integer, started_at timestamptz, user_id text, channel text, r double precision)';
    PERFORM 'PRAGMA:TABLE: _sim_query (query_id bigint, conv_no bigint, user_id text, created_at timestamptz, agent text, '
            'r1 double precision, r2 double precision, r3 double precision, r4 double precision, r5 double precision, '
            'r6 double precision, r7 double precision, r8 double precision)';
    PERFORM 'PRAGMA:TABLE: _sim_approval (query_id bigint, conv_no bigint, agent text, created_at timestamptz, delay interval, '
            'r1 double precision, r2 double precision, r3 double precision)';
    -- queries per day (fewer on weekends, +-15%), conversations per day
    CREATE TEMP TABLE _sim_days ON COMMIT DROP AS
    SELECT d.day, d.n_queries, greatest(1, ceil(d.n_queries / 4.0))::integer AS n_conv,
           sum(greatest(1, ceil(d.n_queries / 4.0))::integer) OVER (ORDER BY d.day) - greatest(1, ceil(d.n_queries / 4.0))::integer AS conv_before,
           sum(d.n_queries) OVER (ORDER BY d.day) - d.n_queries AS queries_before
    FROM (
        SELECT g.day::date AS day,
               greatest(1, round(1500 * p_scale
                                 * CASE WHEN EXTRACT(isodow FROM g.day) >= 6 THEN 0.4 ELSE 1.0 END
                                 * (0.85 + 0.3 * random())))::integer AS n_queries
        FROM generate_series(p_from::timestamp, p_to::timestamp, interval '1 day') AS g (day)
        ORDER BY g.day
    ) AS d;

    -- conversations: started during the day, mostly in working hours (UTC 06-20)
    CREATE TEMP TABLE _sim_conv ON COMMIT DROP AS
    SELECT v_conv0 + d.conv_before + i AS conv_no,
           d.day, i AS idx,
           (d.day::timestamp + make_interval(secs => CASE WHEN random() < 0.85 THEN 6 * 3600 + random() * 14 * 3600
                                                          ELSE random() * 86400 END)) AT TIME ZONE 'UTC' AS started_at,
           v_users[1 + floor(random() * cardinality(v_users))::integer] AS user_id,
           (ARRAY['slack', 'web', 'api', 'cli'])[1 + floor(random() * 4)::integer] AS channel,
           random() AS r
    FROM _sim_days AS d
    CROSS JOIN LATERAL generate_series(1, d.n_conv) AS i;

    INSERT INTO agents_src.conversations (conversation_id, user_id, channel, metadata, started_at, created_at, updated_at)
    SELECT 'c' || lpad(c.conv_no::text, 8, '0'), c.user_id, c.channel,
           jsonb_build_object('client', CASE WHEN c.r < 0.6 THEN 'sdk-python' WHEN c.r < 0.9 THEN 'sdk-typescript' ELSE 'sdk-go' END,
                              'locale', CASE WHEN c.r < 0.7 THEN 'en' WHEN c.r < 0.85 THEN 'de' ELSE 'ja' END),
           c.started_at, c.started_at, c.started_at
    FROM _sim_conv AS c
    ORDER BY c.conv_no;

    -- queries: each in a conversation of its day, after the conversation's start
    CREATE TEMP TABLE _sim_query ON COMMIT DROP AS
    SELECT v_query0 + d.queries_before + i AS query_id,
           c.conv_no, c.user_id,
           LEAST(c.started_at + make_interval(secs => random() * 5400), (d.day + 1)::timestamp AT TIME ZONE 'UTC' - interval '1 second') AS created_at,
           v_agents[1 + floor(random() * cardinality(v_agents))::integer] AS agent,
           random() AS r1, random() AS r2, random() AS r3, random() AS r4, random() AS r5,
           random() AS r6, random() AS r7, random() AS r8
    FROM _sim_days AS d
    CROSS JOIN LATERAL generate_series(1, d.n_queries) AS i
    JOIN _sim_conv AS c
      ON c.day = d.day
     AND c.idx = 1 + (i - 1) % d.n_conv;

    INSERT INTO agents_src.agent_queries (
        query_id, conversation_id, agent, user_id, query, result_size_bytes, latency_ms,
        approved, human_edited, error_occurred, error_message, created_at, updated_at)
    SELECT q.query_id, 'c' || lpad(q.conv_no::text, 8, '0'), q.agent, q.user_id,
           format('%s request #%s: %s', q.agent, q.query_id,
                  (ARRAY['summarize the incident', 'draft a reply', 'explain this query plan', 'write a test',
                         'classify the ticket', 'translate the release notes', 'check the schema', 'plan the rollout'])[1 + floor(q.r1 * 8)::integer]),
           CASE WHEN q.r2 < 0.03 THEN NULL ELSE 200 + floor(-ln(1 - q.r3) * 4000)::integer END,
           -- latency: an agent-specific base (longer for engineer / ai agents) times an exponential tail
           (80 + floor(-ln(1 - q.r4) * CASE a.agent_type WHEN 'engineer' THEN 2400 WHEN 'ai' THEN 1800
                                                           WHEN 'data' THEN 1200 ELSE 700 END))::integer,
           CASE WHEN q.r2 < 0.03 THEN false WHEN q.r5 < 0.10 THEN NULL ELSE q.r5 < 0.88 END,
           q.r2 >= 0.03 AND q.r6 < 0.12,
           q.r2 < 0.03,
           CASE WHEN q.r2 < 0.03 THEN (ARRAY['timeout', 'rate limited', 'tool call failed'])[1 + floor(q.r2 * 100)::integer] END,
           q.created_at, q.created_at
    FROM _sim_query AS q
    JOIN agents_src.agents AS a
      ON a.agent_name = q.agent
    ORDER BY q.query_id;

    -- approval requests (~10% of the queries): resolved by an approver after an exponential delay around
    -- the agent's SLA (some take hours), expired after 24 hours, or still pending at the horizon
    CREATE TEMP TABLE _sim_approval ON COMMIT DROP AS
    SELECT q.query_id, q.conv_no, q.agent, q.created_at + make_interval(secs => 1 + random() * 60) AS created_at,
           -- most within minutes around the SLA, 15% wait for hours (overnight ones are resolved next day)
           CASE WHEN random() < 0.15 THEN make_interval(secs => 3600 + random() * 20 * 3600)
                ELSE make_interval(secs => -ln(1 - random()) * COALESCE(a.sla_target_seconds, 300) * 1.2) END AS delay,
           random() AS r1, random() AS r2, random() AS r3
    FROM _sim_query AS q
    JOIN agents_src.agents AS a
      ON a.agent_name = q.agent
    WHERE q.r7 < 0.10;

    INSERT INTO agents_src.agent_approvals (
        approval_id, query_id, conversation_id, agent, status, resolved_by, interruption_count, created_at, resolved_at, updated_at)
    SELECT v_approval0 + row_number() OVER (ORDER BY x.created_at, x.query_id),
           x.query_id, 'c' || lpad(x.conv_no::text, 8, '0'), x.agent,
           x.status,
           CASE WHEN x.status IN ('approved', 'rejected') THEN v_approvers[1 + floor(x.r3 * cardinality(v_approvers))::integer] END,
           CASE WHEN x.status = 'pending' THEN 0 ELSE floor(-ln(1 - x.r2) * 0.8)::integer END,
           x.created_at, x.resolved_at, COALESCE(x.resolved_at, x.created_at)
    FROM (
        SELECT s.*,
               CASE WHEN s.r1 < 0.08 OR s.delay >= interval '24 hours' THEN
                        CASE WHEN s.created_at + interval '24 hours' < p_horizon THEN 'expired' ELSE 'pending' END
                    WHEN s.created_at + s.delay < p_horizon THEN CASE WHEN s.r2 < 0.78 THEN 'approved' ELSE 'rejected' END
                    ELSE 'pending'
               END AS status,
               CASE WHEN s.r1 < 0.08 OR s.delay >= interval '24 hours' THEN
                        CASE WHEN s.created_at + interval '24 hours' < p_horizon THEN s.created_at + interval '24 hours' END
                    WHEN s.created_at + s.delay < p_horizon THEN s.created_at + s.delay
               END AS resolved_at
        FROM _sim_approval AS s
    ) AS x
    ORDER BY 1;

    -- feedback (~5% of the queries) by annotators: a score is missing 10% of the time, labels 0-3
    INSERT INTO agents_src.agent_feedback (
        feedback_id, query_id, conversation_id, agent, annotator_id, safe_to_send, clarity_score, accuracy_score,
        tone_score, labels, comment, created_at, annotated_at, updated_at)
    SELECT v_feedback0 + row_number() OVER (ORDER BY f.created_at, f.query_id),
           f.query_id, 'c' || lpad(f.conv_no::text, 8, '0'), f.agent,
           v_annotators[1 + floor(f.r1 * cardinality(v_annotators))::integer],
           CASE WHEN f.r2 < 0.03 THEN NULL ELSE f.r2 >= 0.09 END,
           CASE WHEN f.s1 < 0.10 THEN NULL ELSE 1 + floor(f.s1 * 5 * 0.999)::integer END,
           CASE WHEN f.s2 < 0.10 THEN NULL ELSE 1 + floor(sqrt(f.s2) * 5 * 0.999)::integer END,
           CASE WHEN f.s3 < 0.10 THEN NULL ELSE 1 + floor(sqrt(f.s3) * 5 * 0.999)::integer END,
           ARRAY(SELECT l FROM unnest(ARRAY['helpful', 'verbose', 'hallucination', 'off_topic', 'needs_citation', 'great_tone']) WITH ORDINALITY AS u (l, o)
                 WHERE (floor(f.r3 * 4096)::integer >> (2 * (o::integer - 1))) & 3 = 0 ORDER BY o),
           CASE WHEN f.r2 < 0.09 THEN 'flagged for review' END,
           f.created_at,
           CASE WHEN f.annotated_at < p_horizon THEN f.annotated_at END,
           CASE WHEN f.annotated_at < p_horizon THEN f.annotated_at ELSE f.created_at END
    FROM (
        SELECT g.*, g.created_at + make_interval(secs => CASE WHEN g.d2 < 0.1 THEN 4 * 3600 + g.d2 * 260000 ELSE 120 + g.d2 * 3600 END) AS annotated_at
        FROM (
            SELECT q.query_id, q.conv_no, q.agent,
                   q.created_at + make_interval(secs => 60 + random() * 7200) AS created_at,
                   random() AS d2, random() AS r1, random() AS r2, random() AS r3, random() AS s1, random() AS s2, random() AS s3
            FROM _sim_query AS q
            WHERE q.r8 < 0.05
        ) AS g
    ) AS f
    WHERE f.created_at < p_horizon
    ORDER BY 1;

    DROP TABLE _sim_approval, _sim_query, _sim_conv, _sim_days;
END;
$$;
COMMENT ON PROCEDURE agents_src._simulate(date, date, numeric, timestamptz) IS 'Generator helper: conversations, queries, approval requests and feedback of the days [p_from, p_to] (UTC) at p_scale; what would happen at or after p_horizon stays pending / unfinished.';
REVOKE EXECUTE ON PROCEDURE agents_src._simulate(date, date, numeric, timestamptz) FROM PUBLIC;
