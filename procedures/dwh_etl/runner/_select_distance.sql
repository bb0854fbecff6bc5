-- Edit distance (Levenshtein) between two names, for the "did you mean" of an unknown selector
-- (dwh_etl._select_resolve). Written here rather than taken from fuzzystrmatch: one small function is
-- not worth an extension on every server the warehouse is installed on. Only called on an error path,
-- over a few hundred short names.
CREATE OR REPLACE FUNCTION dwh_etl._select_distance(
    p_a text,
    p_b text
)
RETURNS integer
LANGUAGE plpgsql
IMMUTABLE
STRICT
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_la   integer := length(p_a);
    v_lb   integer := length(p_b);
    v_prev integer[];
    v_cur  integer[];
    v_cost integer;
BEGIN
    IF v_la = 0 OR v_lb = 0 THEN
        RETURN GREATEST(v_la, v_lb);
    END IF;
    v_prev := ARRAY(SELECT generate_series(0, v_lb));   -- v_prev[j + 1]: distance of '' .. b[1..j]
    FOR i IN 1 .. v_la LOOP
        v_cur := ARRAY[i];
        FOR j IN 1 .. v_lb LOOP
            v_cost := CASE WHEN substr(p_a, i, 1) = substr(p_b, j, 1) THEN 0 ELSE 1 END;
            v_cur := v_cur || LEAST(v_prev[j + 1] + 1, v_cur[j] + 1, v_prev[j] + v_cost);
        END LOOP;
        v_prev := v_cur;
    END LOOP;
    RETURN v_prev[v_lb + 1];
END;
$$;
COMMENT ON FUNCTION dwh_etl._select_distance(text, text) IS 'Levenshtein distance of two names (close matches of an unknown selector).';
REVOKE EXECUTE ON FUNCTION dwh_etl._select_distance(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl._select_distance(text, text) TO etl_service;
