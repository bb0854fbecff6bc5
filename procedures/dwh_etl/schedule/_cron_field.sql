-- The values one field of a cron expression stands for: comma-separated items, each *, n or n-m,
-- optionally /step (n/step means n-max/step); names (jan, mon, ...) when p_names is given (index 0 =
-- p_min). NULL when the field is not valid.
CREATE OR REPLACE FUNCTION dwh_etl._cron_field(
    p_field text,
    p_min   integer,
    p_max   integer,
    p_names text[] DEFAULT NULL
)
RETURNS integer[]
LANGUAGE plpgsql
IMMUTABLE
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_item   text;
    v_m      text[];
    v_lo     integer;
    v_hi     integer;
    v_step   integer;
    v_values integer[] := '{}'::integer[];
    v_field  text := lower(p_field);
BEGIN
    IF v_field IS NULL OR v_field = '' THEN
        RETURN NULL;
    END IF;
    IF p_names IS NOT NULL THEN
        FOR v_i IN 1 .. cardinality(p_names) LOOP
            v_field := regexp_replace(v_field, '\m' || p_names[v_i] || '\M', (p_min + v_i - 1)::text, 'g');
        END LOOP;
    END IF;
    FOREACH v_item IN ARRAY string_to_array(v_field, ',') LOOP
        v_m := regexp_match(v_item, '^(\*|(\d{1,2})(?:-(\d{1,2}))?)(?:/(\d{1,2}))?$');
        IF v_m IS NULL THEN
            RETURN NULL;
        END IF;
        v_step := COALESCE(v_m[4]::integer, 1);
        IF v_m[1] = '*' THEN
            v_lo := p_min;
            v_hi := p_max;
        ELSE
            v_lo := v_m[2]::integer;
            v_hi := COALESCE(v_m[3]::integer, CASE WHEN v_m[4] IS NOT NULL THEN p_max ELSE v_lo END);
        END IF;
        IF v_step < 1 OR v_lo < p_min OR v_hi > p_max OR v_lo > v_hi THEN
            RETURN NULL;
        END IF;
        v_values := v_values || ARRAY(SELECT generate_series(v_lo, v_hi, v_step));
    END LOOP;
    RETURN ARRAY(SELECT DISTINCT v FROM unnest(v_values) AS v ORDER BY v);
END;
$$;
COMMENT ON FUNCTION dwh_etl._cron_field(text, integer, integer, text[]) IS 'Values of one cron field (*, lists, ranges, steps, names), NULL when invalid.';
