-- Parses a pg_cron 1.4 schedule: five fields (minute hour day-of-month month day-of-week, UTC) or a
-- macro (@hourly, @daily, @midnight, @weekly, @monthly, @yearly, @annually). pg_cron 1.4 has no
-- seconds. Raises DW012 when the expression is not valid. Day of week 7 is Sunday (0). As in cron, when
-- both day fields are restricted (neither starts with *), a day matches if either matches.
CREATE OR REPLACE FUNCTION dwh_etl._cron_parse(
    p_expr       text,
    OUT minutes  integer[],
    OUT hours    integer[],
    OUT days     integer[],
    OUT months   integer[],
    OUT weekdays integer[],
    OUT days_or  boolean
)
LANGUAGE plpgsql
IMMUTABLE
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_expr   text := lower(btrim(COALESCE(p_expr, '')));
    v_fields text[];
BEGIN
    v_expr := CASE v_expr
                  WHEN '@hourly' THEN '0 * * * *'
                  WHEN '@daily' THEN '0 0 * * *'
                  WHEN '@midnight' THEN '0 0 * * *'
                  WHEN '@weekly' THEN '0 0 * * 0'
                  WHEN '@monthly' THEN '0 0 1 * *'
                  WHEN '@yearly' THEN '0 0 1 1 *'
                  WHEN '@annually' THEN '0 0 1 1 *'
                  ELSE v_expr
              END;
    v_fields := regexp_split_to_array(v_expr, '\s+');
    IF cardinality(v_fields) <> 5 THEN
        RAISE EXCEPTION 'invalid cron expression %: % fields', quote_literal(COALESCE(p_expr, 'NULL')),
                        CASE WHEN v_expr = '' THEN 0 ELSE cardinality(v_fields) END
            USING ERRCODE = 'DW012',
                  DETAIL = 'pg_cron 1.4 takes five fields, in UTC: minute hour day-of-month month day-of-week (no seconds)',
                  HINT = 'e.g. ''0 2 * * *'' (02:00 UTC every day), ''*/15 * * * *'', ''0 3 * * 1-5'', or @hourly / @daily / @weekly / @monthly';
    END IF;
    minutes  := dwh_etl._cron_field(v_fields[1], 0, 59);
    hours    := dwh_etl._cron_field(v_fields[2], 0, 23);
    days     := dwh_etl._cron_field(v_fields[3], 1, 31);
    months   := dwh_etl._cron_field(v_fields[4], 1, 12,
                    ARRAY['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec']);
    weekdays := dwh_etl._cron_field(v_fields[5], 0, 7, ARRAY['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat']);
    IF minutes IS NULL OR hours IS NULL OR days IS NULL OR months IS NULL OR weekdays IS NULL THEN
        RAISE EXCEPTION 'invalid cron expression %: bad % field', quote_literal(p_expr),
                        CASE WHEN minutes IS NULL THEN 'minute (0-59)'
                             WHEN hours IS NULL THEN 'hour (0-23)'
                             WHEN days IS NULL THEN 'day-of-month (1-31)'
                             WHEN months IS NULL THEN 'month (1-12 or jan-dec)'
                             ELSE 'day-of-week (0-7 or sun-sat)' END
            USING ERRCODE = 'DW012',
                  DETAIL = 'each field is *, n, n-m or a comma list of them, optionally with /step',
                  HINT = 'e.g. ''0 2 * * *'' (02:00 UTC every day), ''*/15 * * * *'', ''0 3 * * 1-5''';
    END IF;
    weekdays := ARRAY(SELECT DISTINCT CASE WHEN w = 7 THEN 0 ELSE w END FROM unnest(weekdays) AS w ORDER BY 1);
    days_or := left(v_fields[3], 1) <> '*' AND left(v_fields[5], 1) <> '*';
END;
$$;
COMMENT ON FUNCTION dwh_etl._cron_parse(text) IS 'Parse a 5-field cron expression (or @macro) into its minute, hour, day, month and weekday sets; raises DW012 when invalid.';
