-- Moves the simulated clock forward by p_span: the activity of the issues created in that span (all
-- their events, stamped updated_at = now() (or p_stamp) so the next incremental run picks them up), the metric
-- payloads of its 5-minute ticks, p_reprioritized open issues get a new priority (a new dim_issue
-- version) and, when p_resize, one production EC2 instance is resized (a new dim_infrastructure version).
-- p_stamp replaces now() as the change time (and as the salt of the re-prioritized issues' pick), so a
-- caller that fixes it and calls setseed() first gets the same rows at any time.
DROP PROCEDURE IF EXISTS devflow_src._advance(interval, integer, boolean);
CREATE OR REPLACE PROCEDURE devflow_src._advance(
    p_span          interval,
    p_reprioritized integer,
    p_resize        boolean,
    p_stamp         timestamptz DEFAULT NULL
)
LANGUAGE plpgsql
SET search_path = devflow_src, pg_temp
AS $$
DECLARE
    v_from  timestamptz;
    v_stamp timestamptz := coalesce(p_stamp, now());
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtext('devflow_src.generate')) THEN
        RAISE EXCEPTION 'another session is generating data in devflow_src'
            USING ERRCODE = 'lock_not_available';
    END IF;
    SELECT g.horizon INTO v_from FROM devflow_src.generator_state AS g;
    IF v_from IS NULL THEN
        RAISE EXCEPTION 'devflow_src has no initial load'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'CALL devflow_src.generate(p_days => 7) first.';
    END IF;
    CALL devflow_src._simulate(p_from => v_from, p_to => v_from + p_span, p_stamp => v_stamp, p_cutoff => NULL);
    CALL devflow_src._metric_samples(p_from => v_from, p_to => v_from + p_span, p_stamp => v_stamp, p_cutoff => NULL);

    UPDATE devflow_src.issues AS i
    SET priority = CASE i.priority WHEN 'P0' THEN 'P1' WHEN 'P4' THEN 'P3' ELSE 'P' || (substr(i.priority, 2)::integer - 1) END,
        updated_at = v_stamp
    WHERE i.id IN (SELECT o.id FROM devflow_src.issues AS o WHERE o.state = 'open' AND o.priority IS NOT NULL
                   ORDER BY md5(o.id || extract(epoch FROM v_stamp)::text) LIMIT p_reprioritized);
    IF p_resize THEN
        UPDATE devflow_src.infrastructure AS r
        SET instance_type = CASE r.instance_type WHEN 'm5.large' THEN 'm5.xlarge' ELSE 'm5.large' END,
            cpu_count = CASE r.instance_type WHEN 'm5.large' THEN 4 ELSE 2 END,
            memory_gb = CASE r.instance_type WHEN 'm5.large' THEN 16 ELSE 8 END,
            hourly_cost_usd = CASE r.instance_type WHEN 'm5.large' THEN 0.2480 ELSE 0.1240 END,
            monthly_cost_usd = CASE r.instance_type WHEN 'm5.large' THEN 181.04 ELSE 90.52 END,
            updated_at = v_stamp
        WHERE r.resource_id = 'ec2-prod-api-2';
    END IF;
    UPDATE devflow_src.generator_state SET horizon = v_from + p_span;
END;
$$;
COMMENT ON PROCEDURE devflow_src._advance(interval, integer, boolean, timestamptz) IS 'Generate the next p_span of devflow activity (stamped p_stamp, default now) and a few dimension changes.';
