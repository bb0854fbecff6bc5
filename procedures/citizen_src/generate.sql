-- Initial load of the citizen demo source (seed 003), reproducible for a seed: the portal's reference data
-- (12 departments, 24 services in 11 categories, 10 content sources with sync schedules, the 22 scheduled
-- languages and English, query and content types), max(50, 20000 * p_scale) registered users (citizens,
-- admins, API clients) across states and districts, content items of every service in English, Hindi and
-- regional languages, and p_days days of activity through p_through (default yesterday, UTC): sessions of
-- registered and anonymous visitors, their queries and content events as JSON web-analytics payloads (with
-- IP address and user agent) in citizen_src.analytics_payloads, and content source syncs. About 1 in 250
-- events is bad (see citizen_src._simulate), as a real collector's feed is.
--   CALL citizen_src.generate(p_scale => 0.1, p_seed => 0.42);
-- Every random draw is citizen_src._rand(seed, what, id): the same seed and dates give the same rows.
-- A seed outside [-1, 1] is mapped to (p_seed mod 1000003) / 1000003.
CREATE OR REPLACE PROCEDURE citizen_src.generate(
    p_scale   numeric DEFAULT 0.1,
    p_seed    double precision DEFAULT 0.42,
    p_days    integer DEFAULT 28,
    p_through date DEFAULT NULL
)
LANGUAGE plpgsql
SET search_path = citizen_src, pg_temp
-- the row estimates of generate_series and the lateral draws are huge: JIT would compile for seconds
SET jit = off
AS $$
DECLARE
    v_through date := COALESCE(p_through, (now() AT TIME ZONE 'UTC')::date - 1);
    v_from    date;
    v_epoch   timestamptz;
    v_seed    double precision;
    v_users   integer;
BEGIN
    IF p_scale IS NULL OR p_scale <= 0 OR p_scale > 100 THEN
        RAISE EXCEPTION 'invalid scale %', p_scale
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'p_scale must be > 0 and <= 100 (scale 1 is about 3,700 queries a weekday).',
                  HINT = 'CALL citizen_src.generate(p_scale => 0.01) for a small data set.';
    END IF;
    IF p_seed IS NULL OR p_seed = 'NaN'::double precision OR p_seed IN ('Infinity', '-Infinity') THEN
        RAISE EXCEPTION 'invalid seed %', p_seed
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass a finite number, e.g. p_seed => 0.42.';
    END IF;
    IF p_days IS NULL OR p_days < 1 OR p_days > 3660 THEN
        RAISE EXCEPTION 'invalid number of days %', p_days
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'p_days is between 1 and 3660 (28 by default).';
    END IF;
    IF NOT pg_try_advisory_xact_lock(hashtext('citizen_src.generate')) THEN
        RAISE EXCEPTION 'another session is generating data in citizen_src'
            USING ERRCODE = 'lock_not_available',
                  HINT = 'Wait for the other citizen_src.generate / generate_next_day call to finish.';
    END IF;
    IF EXISTS (SELECT 1 FROM citizen_src.services) OR EXISTS (SELECT 1 FROM citizen_src.analytics_payloads) THEN
        RAISE EXCEPTION 'citizen_src already holds data'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'citizen_src.generate() makes the initial load and only runs on empty tables.',
                  HINT = 'Add a day with CALL citizen_src.generate_next_day().';
    END IF;
    v_seed  := CASE WHEN p_seed BETWEEN -1 AND 1 THEN p_seed ELSE ((p_seed::numeric % 1000003) / 1000003)::double precision END;
    v_from  := v_through - p_days + 1;
    v_epoch := (v_from - 400)::timestamp AT TIME ZONE 'UTC';

    CALL citizen_src._reference_data(v_epoch);

    -- registered users: 93% citizens, 5% API clients (agencies, banks, CSC operators), 2% admins; where
    -- they live by the regions' weights; most prefer their region's language, else Hindi or English
    v_users := greatest(50, round(20000 * p_scale))::integer;
    WITH regions AS (
        SELECT array_agg(r.ord::text ORDER BY r.ord) AS ords, array_agg(r.weight ORDER BY r.ord) AS weights
        FROM citizen_src._regions() AS r
    ), drawn AS (
        SELECT g.i, 100000 + g.i AS user_id,
               citizen_src._rand(v_seed, 'user_type', g.i) AS r_type,
               citizen_src._pick(rg.ords, rg.weights, citizen_src._rand(v_seed, 'user_region', g.i))::integer AS region,
               citizen_src._rand(v_seed, 'user_lang', g.i) AS r_lang,
               v_from - floor(citizen_src._rand(v_seed, 'user_registered', g.i) * 700)::integer AS registered,
               citizen_src._rand(v_seed, 'user_time', g.i) AS r_time
        FROM generate_series(1, v_users) AS g (i)
        CROSS JOIN regions AS rg
    )
    INSERT INTO citizen_src.users (user_id, user_type, location_state, location_district, language_preference,
                                   registration_date, created_at, updated_at)
    SELECT d.user_id,
           CASE WHEN d.i = 1 THEN 'admin' WHEN d.i = 2 THEN 'api_client'
                WHEN d.r_type < 0.93 THEN 'citizen' WHEN d.r_type < 0.98 THEN 'api_client' ELSE 'admin' END,
           r.location_state, r.location_district,
           CASE WHEN d.r_lang < 0.6 THEN r.language_code WHEN d.r_lang < 0.8 THEN 'hi' ELSE 'en' END,
           d.registered,
           d.registered::timestamp AT TIME ZONE 'Asia/Kolkata' + make_interval(secs => d.r_time * 86400),
           d.registered::timestamp AT TIME ZONE 'Asia/Kolkata' + make_interval(secs => d.r_time * 86400)
    FROM drawn AS d
    JOIN citizen_src._regions() AS r
      ON r.ord = d.region
    ORDER BY d.user_id;

    -- content: every service has each content type in English, most in Hindi, and in regional languages
    -- with the language's coverage; mostly from the service's own data source
    WITH candidates AS (
        SELECT s.service_id, s.service_name, s.data_source, ct.content_type, ct.type_name, ct.ord AS ct_ord,
               l.language_code, l.native_name, l.ord AS l_ord,
               CASE l.language_code WHEN 'en' THEN 1.0 WHEN 'hi' THEN 0.9
                    WHEN 'bn' THEN 0.5 WHEN 'mr' THEN 0.5 WHEN 'ta' THEN 0.5 WHEN 'te' THEN 0.45
                    WHEN 'gu' THEN 0.4 WHEN 'kn' THEN 0.4 WHEN 'ml' THEN 0.35 WHEN 'ur' THEN 0.3
                    WHEN 'or' THEN 0.3 WHEN 'pa' THEN 0.3 WHEN 'as' THEN 0.25 ELSE 0.1 END AS coverage,
               s.service_id::bigint * 10000 + ct.ord * 100 + l.ord AS n
        FROM citizen_src.services AS s
        CROSS JOIN (SELECT c.content_type, c.type_name, row_number() OVER (ORDER BY c.content_type) AS ord
                    FROM citizen_src.content_types AS c) AS ct
        CROSS JOIN (SELECT x.language_code, x.native_name, row_number() OVER (ORDER BY x.language_code) AS ord
                    FROM citizen_src.languages AS x) AS l
    ), chosen AS (
        SELECT c.*, row_number() OVER (ORDER BY c.service_id, c.ct_ord, c.l_ord) AS content_no
        FROM candidates AS c
        WHERE citizen_src._rand(v_seed, 'content', c.n) < c.coverage
    )
    INSERT INTO citizen_src.contents (content_id, content_type, title, language_code, service_id, source_name,
                                      is_active, created_at, updated_at)
    SELECT 500000 + c.content_no,
           c.content_type,
           format('%s · %s — %s', c.native_name, c.service_name, c.type_name),
           c.language_code, c.service_id,
           CASE WHEN citizen_src._rand(v_seed, 'content_source', c.n) < 0.75 THEN c.data_source
                WHEN c.content_type = 'document' THEN 'digilocker'
                ELSE 'mygov_editorial' END,
           true,
           v_epoch + make_interval(secs => citizen_src._rand(v_seed, 'content_time', c.n) * 300 * 86400),
           v_epoch + make_interval(secs => citizen_src._rand(v_seed, 'content_time', c.n) * 300 * 86400)
    FROM chosen AS c
    ORDER BY c.content_no;

    INSERT INTO citizen_src.generator_state (id, simulated_through, seed, scale)
    VALUES (true, v_from - 1, v_seed, p_scale);

    CALL citizen_src._simulate(p_from => v_from, p_to => v_through);

    UPDATE citizen_src.generator_state SET simulated_through = v_through WHERE id;
END;
$$;
COMMENT ON PROCEDURE citizen_src.generate(numeric, double precision, integer, date) IS 'Initial load of the citizen demo source, reproducible by seed: reference data (departments, services, content sources, 23 languages, query and content types), max(50, 20000*p_scale) users, content items, and p_days days through p_through (default yesterday, UTC) of sessions, queries and content events as JSON payloads, and content syncs. Refuses (SQLSTATE 55000) when citizen_src already holds rows.';
REVOKE EXECUTE ON PROCEDURE citizen_src.generate(numeric, double precision, integer, date) FROM PUBLIC;
