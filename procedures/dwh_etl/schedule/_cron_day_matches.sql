-- Does a day match the day-of-month and day-of-week sets of a parsed cron expression? With p_or (both
-- fields restricted) either may match, as in cron; otherwise both must.
CREATE OR REPLACE FUNCTION dwh_etl._cron_day_matches(
    p_day      date,
    p_days     integer[],
    p_weekdays integer[],
    p_or       boolean
)
RETURNS boolean
LANGUAGE sql
IMMUTABLE
SET search_path = dwh_etl, pg_temp
AS $$
    SELECT CASE WHEN p_or
                THEN extract(day FROM p_day)::integer = ANY (p_days) OR extract(dow FROM p_day)::integer = ANY (p_weekdays)
                ELSE extract(day FROM p_day)::integer = ANY (p_days) AND extract(dow FROM p_day)::integer = ANY (p_weekdays)
           END;
$$;
COMMENT ON FUNCTION dwh_etl._cron_day_matches(date, integer[], integer[], boolean) IS 'Day-of-month / day-of-week match of a parsed cron expression (cron''s OR rule when both are restricted).';
