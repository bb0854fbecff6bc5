-- The general check of dwh_etl.try_timestamptz(text, text) (see it for the rules): its inlined fast path
-- handles the usual form and calls this for every other value (white space, a date alone, ' +02',
-- garbage). The regex is the definition of what is accepted; the fast path accepts a subset of it.
-- PL/pgSQL without exception handling: the trimmed value is computed once (inlined as SQL, the trim was
-- evaluated some twenty times per value: three times slower on 200k values).
CREATE OR REPLACE FUNCTION dwh_etl._try_timestamptz_general(
    p_value text,
    p_zone  text
)
RETURNS timestamptz
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
-- No SET clause: it would make every call pay a GUC save/restore (names are qualified).
AS $$
DECLARE
    v text := dwh_etl.try_trim(p_value);
BEGIN
    IF v ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}([ T]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?)? ?(Z|[+-](0[0-9]|1[0-5])(:?[0-5][0-9])?)?$'
       AND dwh_etl._iso_date_exists(left(v, 10)) THEN
        IF substr(v, 11) ~ '(Z|[+-][0-9]{2}(:?[0-9]{2})?)$' THEN
            RETURN v::timestamptz;
        END IF;
        RETURN v::timestamp AT TIME ZONE p_zone;
    END IF;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION dwh_etl._try_timestamptz_general(text, text) IS 'The general check of dwh_etl.try_timestamptz(text, text), for the values its fast path does not take: p_value as timestamptz (zone-less values read in p_zone), or NULL when it is not an existing ISO 8601 date-time.';
