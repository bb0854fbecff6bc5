-- The last time at or before p_before (minute resolution) at which a cron expression fired, in UTC as
-- pg_cron 1.4 evaluates it. NULL if it did not fire in the 8 years before.
CREATE OR REPLACE FUNCTION dwh_etl._cron_prev(
    p_expr   text,
    p_before timestamptz DEFAULT now()
)
RETURNS timestamptz
LANGUAGE plpgsql
STABLE
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_c     record := dwh_etl._cron_parse(p_expr);
    v_to    timestamp := date_trunc('minute', p_before AT TIME ZONE 'UTC');
    v_day   date;
    v_found timestamp;
BEGIN
    FOR v_i IN 0 .. 366 * 8 LOOP
        v_day := v_to::date - v_i;
        CONTINUE WHEN NOT extract(month FROM v_day)::integer = ANY (v_c.months);
        CONTINUE WHEN NOT dwh_etl._cron_day_matches(v_day, v_c.days, v_c.weekdays, v_c.days_or);
        SELECT max(v_day + make_interval(hours => h, mins => m))
        INTO v_found
        FROM unnest(v_c.hours) AS h
        CROSS JOIN unnest(v_c.minutes) AS m
        WHERE v_day + make_interval(hours => h, mins => m) <= v_to;
        IF v_found IS NOT NULL THEN
            RETURN v_found AT TIME ZONE 'UTC';
        END IF;
    END LOOP;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION dwh_etl._cron_prev(text, timestamptz) IS 'Last fire time (UTC evaluation) of a cron expression at or before p_before.';
