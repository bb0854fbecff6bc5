-- True when 'YYYY-MM-DD' names a real calendar day (checked arithmetically, no exception handling).
CREATE OR REPLACE FUNCTION dwh_etl._iso_date_exists(p_value text)
RETURNS boolean
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
-- No SET clause: it would stop the planner from inlining this into set-based loads (names are qualified).
AS $$
    SELECT p_value ~ '^\d{4}-\d{2}-\d{2}$'
       AND substr(p_value, 1, 4)::int BETWEEN 1 AND 9999
       AND substr(p_value, 6, 2)::int BETWEEN 1 AND 12
       AND substr(p_value, 9, 2)::int BETWEEN 1 AND
           CASE WHEN substr(p_value, 6, 2)::int IN (4, 6, 9, 11) THEN 30
                WHEN substr(p_value, 6, 2)::int = 2 THEN
                     CASE WHEN (substr(p_value, 1, 4)::int % 4 = 0 AND substr(p_value, 1, 4)::int % 100 <> 0)
                               OR substr(p_value, 1, 4)::int % 400 = 0 THEN 29 ELSE 28 END
                ELSE 31 END;
$$;
COMMENT ON FUNCTION dwh_etl._iso_date_exists(text) IS 'Whether an ISO date string names a real day.';
