-- Initial load of the devflow demo source, set-based and reproducible for a seed: the reference data
-- (57 labels, 8 agents, 12 resources) and p_days days of activity up to now (about 20 issues a day, each
-- issue -> code -> review -> deploy with several executions, generations, reviews and deployments; 20%
-- of production deployments fail and are recovered), stamped with their own event times; a metric
-- payload every 5 minutes and the GitHub pull request payload in the inbox.
--   CALL devflow_src.generate(p_days => 7, p_seed => 0.42);
-- p_to (default now()) is the end of the generated activity, truncated to the minute: fixing it (with the
-- seed) makes the load reproducible at any time (scripts/table_fingerprint.py).
DROP PROCEDURE IF EXISTS devflow_src.generate(integer, double precision);
CREATE OR REPLACE PROCEDURE devflow_src.generate(
    p_days  integer DEFAULT 7,
    p_seed  double precision DEFAULT 0.42,
    p_to    timestamptz DEFAULT NULL
)
LANGUAGE plpgsql
SET search_path = devflow_src, pg_temp
AS $$
DECLARE
    v_to   timestamptz := date_trunc('minute', coalesce(p_to, now()));
    v_from timestamptz;
BEGIN
    IF p_days IS NULL OR p_days < 1 OR p_days > 3650 THEN
        RAISE EXCEPTION 'invalid p_days %', p_days
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass 1 to 3650 days, e.g. CALL devflow_src.generate(p_days => 7);';
    END IF;
    IF p_seed IS NULL OR p_seed = 'NaN'::double precision OR p_seed IN ('Infinity', '-Infinity') THEN
        RAISE EXCEPTION 'invalid seed %', p_seed
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass a finite number, e.g. p_seed => 0.42.';
    END IF;
    IF NOT pg_try_advisory_xact_lock(hashtext('devflow_src.generate')) THEN
        RAISE EXCEPTION 'another session is generating data in devflow_src'
            USING ERRCODE = 'lock_not_available';
    END IF;
    IF EXISTS (SELECT 1 FROM devflow_src.issues) OR EXISTS (SELECT 1 FROM devflow_src.agents) THEN
        RAISE EXCEPTION 'devflow_src already holds data'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'devflow_src.generate() makes the initial load and only runs on empty tables.',
                  HINT = 'Add activity with CALL devflow_src.generate_next_hour() or generate_next_day().';
    END IF;
    PERFORM setseed(CASE WHEN p_seed BETWEEN -1 AND 1 THEN p_seed ELSE ((p_seed::numeric % 1000003) / 1000003)::double precision END);

    v_from := v_to - make_interval(days => p_days);
    CALL devflow_src._reference_data(v_from - interval '30 days');
    CALL devflow_src._simulate(p_from => v_from, p_to => v_to, p_stamp => NULL, p_cutoff => v_to);
    CALL devflow_src._metric_samples(p_from => v_from, p_to => v_to, p_stamp => NULL, p_cutoff => v_to);
    INSERT INTO devflow_src.generator_state (id, horizon) VALUES (true, v_to)
    ON CONFLICT (id) DO UPDATE SET horizon = EXCLUDED.horizon;
END;
$$;
COMMENT ON PROCEDURE devflow_src.generate(integer, double precision, timestamptz) IS 'Initial load of the devflow demo source: reference data and p_days days of activity up to p_to (default now).';
