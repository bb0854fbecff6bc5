-- The element of p_items that a number in [0, 1) selects, with p_weights (same length, > 0) as relative
-- weights: the generator's weighted choices (languages by speakers, actions by frequency).
CREATE OR REPLACE FUNCTION citizen_src._pick(
    p_items   text[],
    p_weights numeric[],
    p_r       double precision
)
RETURNS text
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
-- No SET clause: it would stop the planner from inlining this into the set-based generator.
AS $$
    SELECT COALESCE(
        (SELECT c.item
         FROM (SELECT u.item, sum(u.w) OVER (ORDER BY u.o) / sum(u.w) OVER () AS upto
               FROM unnest(p_items, p_weights) WITH ORDINALITY AS u (item, w, o)) AS c
         WHERE c.upto > p_r
         ORDER BY c.upto
         LIMIT 1),
        p_items[cardinality(p_items)]);
$$;
COMMENT ON FUNCTION citizen_src._pick(text[], numeric[], double precision) IS 'Weighted choice: the item of p_items whose cumulative weight share first exceeds p_r (0 <= p_r < 1).';
REVOKE EXECUTE ON FUNCTION citizen_src._pick(text[], numeric[], double precision) FROM PUBLIC;
