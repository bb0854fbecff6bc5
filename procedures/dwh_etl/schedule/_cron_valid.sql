-- Is a cron expression valid for pg_cron 1.4 (see _cron_parse)? Never raises.
CREATE OR REPLACE FUNCTION dwh_etl._cron_valid(
    p_expr text
)
RETURNS boolean
LANGUAGE plpgsql
IMMUTABLE
SET search_path = dwh_etl, pg_temp
AS $$
BEGIN
    PERFORM dwh_etl._cron_parse(p_expr);
    RETURN true;
EXCEPTION WHEN SQLSTATE 'DW012' THEN
    RETURN false;
END;
$$;
COMMENT ON FUNCTION dwh_etl._cron_valid(text) IS 'True when the cron expression parses (5 fields or @macro, pg_cron 1.4 syntax).';
