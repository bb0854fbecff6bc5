-- Adds the day after citizen_src.generator_state.simulated_through (an IST day) to the demo source,
-- reproducibly (every draw is citizen_src._rand(seed, what, day)):
--  * every third day a service moves to another department (a reorganisation: dim_service opens a
--    version), and a content item is re-sourced (dim_content opens a version);
--  * a citizen moves to another district (dim_user opens a version);
--  * new citizens register (about 0.2% of the users), a new content item appears;
--  * the day's sessions, queries, content events and source syncs (citizen_src._simulate).
-- Each change carries its own change time (updated_at) within the day.
--   CALL citizen_src.generate_next_day();
CREATE OR REPLACE PROCEDURE citizen_src.generate_next_day()
LANGUAGE plpgsql
SET search_path = citizen_src, pg_temp
-- the row estimates of generate_series and the lateral draws are huge: JIT would compile for seconds
SET jit = off
AS $$
DECLARE
    v_state citizen_src.generator_state;
    v_day   date;
    v_dn    bigint;
    v_start timestamptz;
    v_new   integer;
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtext('citizen_src.generate')) THEN
        RAISE EXCEPTION 'another session is generating data in citizen_src'
            USING ERRCODE = 'lock_not_available',
                  HINT = 'Wait for the other citizen_src.generate / generate_next_day call to finish.';
    END IF;
    SELECT * INTO v_state FROM citizen_src.generator_state AS s WHERE s.id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'citizen_src has not been generated yet'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'CALL citizen_src.generate() first.';
    END IF;
    v_day   := v_state.simulated_through + 1;
    v_dn    := v_day - DATE '2020-01-01';
    v_start := v_day::timestamp AT TIME ZONE 'Asia/Kolkata';

    IF v_dn % 3 = 0 THEN
        -- a service moves to another department
        UPDATE citizen_src.services AS s
        SET department_id = x.department_id,
            updated_at    = v_start + interval '10 hours'
        FROM (
            SELECT sv.service_id,
                   (SELECT d.department_id
                    FROM citizen_src.departments AS d
                    WHERE d.department_id <> sv.department_id
                    ORDER BY citizen_src._rand(v_state.seed, 'move_dept_' || d.department_id, v_dn), d.department_id
                    LIMIT 1) AS department_id
            FROM citizen_src.services AS sv
            WHERE sv.is_active
            ORDER BY citizen_src._rand(v_state.seed, 'move_service', v_dn * 1000 + sv.service_id), sv.service_id
            LIMIT 1
        ) AS x
        WHERE s.service_id = x.service_id;

        -- a content item is re-sourced
        UPDATE citizen_src.contents AS c
        SET source_name = x.source_name,
            updated_at  = v_start + interval '11 hours'
        FROM (
            SELECT ct.content_id,
                   (SELECT cs.source_name
                    FROM citizen_src.content_sources AS cs
                    WHERE cs.source_name <> ct.source_name AND cs.is_active
                    ORDER BY citizen_src._rand(v_state.seed, 'resource_' || cs.source_name, v_dn), cs.source_name
                    LIMIT 1) AS source_name
            FROM citizen_src.contents AS ct
            WHERE ct.is_active
            ORDER BY citizen_src._rand(v_state.seed, 'resource_content', v_dn * 1000000 + ct.content_id), ct.content_id
            LIMIT 1
        ) AS x
        WHERE c.content_id = x.content_id;
    END IF;

    -- a citizen moves
    UPDATE citizen_src.users AS u
    SET location_state    = x.location_state,
        location_district = x.location_district,
        updated_at        = v_start + interval '12 hours'
    FROM (
        SELECT us.user_id, r.location_state, r.location_district
        FROM (SELECT uu.user_id, uu.location_district
              FROM citizen_src.users AS uu
              WHERE uu.user_type = 'citizen'
              ORDER BY citizen_src._rand(v_state.seed, 'move_user', v_dn * 10000000 + uu.user_id), uu.user_id
              LIMIT 1) AS us
        CROSS JOIN LATERAL (SELECT rg.location_state, rg.location_district
                            FROM citizen_src._regions() AS rg
                            WHERE rg.location_district IS DISTINCT FROM us.location_district
                            ORDER BY citizen_src._rand(v_state.seed, 'move_region_' || rg.ord, v_dn), rg.ord
                            LIMIT 1) AS r
    ) AS x
    WHERE u.user_id = x.user_id;

    -- new registrations
    v_new := greatest(1, round((SELECT count(*) FROM citizen_src.users) * 0.002))::integer;
    INSERT INTO citizen_src.users (user_id, user_type, location_state, location_district, language_preference,
                                   registration_date, created_at, updated_at)
    SELECT (SELECT max(u.user_id) FROM citizen_src.users AS u) + g.i, 'citizen', r.location_state, r.location_district,
           r.language_code, v_day, v_start + make_interval(hours => 8, mins => g.i), v_start + make_interval(hours => 8, mins => g.i)
    FROM generate_series(1, v_new) AS g (i)
    JOIN citizen_src._regions() AS r
      ON r.ord = 1 + floor(citizen_src._rand(v_state.seed, 'new_user_region', v_dn * 1000 + g.i) * (SELECT count(*) FROM citizen_src._regions()))::integer
    ORDER BY g.i;

    -- a new content item: an FAQ of a service in a language it lacks one in
    INSERT INTO citizen_src.contents (content_id, content_type, title, language_code, service_id, source_name,
                                      is_active, created_at, updated_at)
    SELECT (SELECT max(c.content_id) FROM citizen_src.contents AS c) + 1, 'faq',
           format('%s · %s — %s', l.native_name, s.service_name, 'Frequently asked questions'),
           l.language_code, s.service_id, s.data_source, true,
           v_start + interval '9 hours', v_start + interval '9 hours'
    FROM citizen_src.services AS s
    CROSS JOIN citizen_src.languages AS l
    WHERE s.is_active
      AND NOT EXISTS (SELECT 1 FROM citizen_src.contents AS c
                      WHERE c.service_id = s.service_id AND c.language_code = l.language_code AND c.content_type = 'faq')
    ORDER BY citizen_src._rand(v_state.seed, 'new_content', v_dn * 100000 + s.service_id * 100 + length(l.language_code)), s.service_id, l.language_code
    LIMIT 1;

    CALL citizen_src._simulate(p_from => v_day, p_to => v_day);

    UPDATE citizen_src.generator_state SET simulated_through = v_day WHERE id;
END;
$$;
COMMENT ON PROCEDURE citizen_src.generate_next_day() IS 'Adds one simulated IST day (the day after generator_state.simulated_through) to the citizen demo source: a department move of a service and a re-sourced content item every third day, a citizen who moves, new registrations, a new FAQ, and the day''s sessions, queries, content events and source syncs.';
REVOKE EXECUTE ON PROCEDURE citizen_src.generate_next_day() FROM PUBLIC;
