CREATE OR REPLACE FUNCTION dwh_etl.get_setting(
    p_key     text,
    p_default text DEFAULT NULL
)
RETURNS text
LANGUAGE sql
STABLE
SET search_path = dwh_etl, pg_temp
AS $$
    SELECT COALESCE((SELECT s.value FROM dwh_etl.settings AS s WHERE s.key = p_key), p_default);
$$;
COMMENT ON FUNCTION dwh_etl.get_setting(text, text) IS 'Value of an engine setting from dwh_etl.settings, or p_default when it is not set.';
