-- The time zone named by a setting (an area's zone, e.g. sales.source_timezone), checked once per
-- step: an unknown name is a clear configuration error, not a per-row failure deep in a load.
CREATE OR REPLACE FUNCTION dwh_etl.setting_timezone(
    p_key     text,
    p_default text DEFAULT 'UTC'
)
RETURNS text
LANGUAGE plpgsql
STABLE
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_zone text := dwh_etl.get_setting(p_key, p_default);
BEGIN
    PERFORM now() AT TIME ZONE v_zone;
    RETURN v_zone;
EXCEPTION WHEN invalid_parameter_value THEN
    RAISE EXCEPTION 'setting %: % is not a time zone', p_key, quote_literal(v_zone)
        USING ERRCODE = 'invalid_parameter_value',
              HINT = 'use a name of pg_timezone_names, e.g. UTC or Europe/Berlin (UPDATE dwh_etl.settings)';
END;
$$;
COMMENT ON FUNCTION dwh_etl.setting_timezone(text, text) IS 'The time zone a setting names (default p_default), raising a clear error when PostgreSQL does not know it.';
