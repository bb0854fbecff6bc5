-- A pseudo-random number in [0, 1) from the generator's seed, a salt naming what is drawn and a number
-- (an id, a day): the demo source is reproducible whatever order the planner evaluates rows in (random()
-- after setseed() depends on it), and a day generated later draws the same numbers as the same day
-- generated in the initial load.
CREATE OR REPLACE FUNCTION citizen_src._rand(
    p_seed double precision,
    p_salt text,
    p_n    bigint
)
RETURNS double precision
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
-- No SET clause: it would stop the planner from inlining this into the set-based generator.
AS $$
    SELECT (hashtextextended(p_salt || ':' || p_n::text, (p_seed * 1000000007)::bigint) & 9007199254740991)::double precision
           / 9007199254740992.0::double precision;
$$;
COMMENT ON FUNCTION citizen_src._rand(double precision, text, bigint) IS 'Deterministic pseudo-random number in [0, 1) for (seed, salt, n): the demo generator''s only source of randomness.';
REVOKE EXECUTE ON FUNCTION citizen_src._rand(double precision, text, bigint) FROM PUBLIC;
