-- Text to numeric, NULL unless it is a plain decimal with a dot (a comma is not accepted: '1,5' is
-- ambiguous between a decimal comma and a thousands separator). Surrounding Unicode white space is
-- trimmed for the check and the cast alike (dwh_etl.try_trim). Any number of digits up to 1000
-- characters: the range of the target column is the caller's check (dwh_etl.reason_numeric), so a
-- too-large value is reported as out of range, not as "not a number". Nothing is rounded here.
-- Fast path first (issue 15: the regex cost ~3 us a value): ASCII digits around at most one dot, with
-- at least one digit ('12', '12.50', '.5', '5.'), is exactly what the general check accepts without a
-- sign or white space, so it is cast at once (ltrim/rtrim with a character set: no regex). Anything
-- else takes the general check, unchanged: the result is the same for every input.
CREATE OR REPLACE FUNCTION dwh_etl.try_numeric(p_value text)
RETURNS numeric
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
-- No SET clause: it would stop the planner from inlining this into set-based loads (names are qualified).
AS $$
    SELECT CASE WHEN length(p_value) BETWEEN 1 AND 1000 AND p_value <> '.'
                 AND ltrim(rtrim(p_value, '0123456789'), '0123456789') IN ('', '.')
                THEN p_value::numeric
                WHEN length(p_value) <= 1000
                 AND dwh_etl.try_trim(p_value) ~ '^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$'
                THEN dwh_etl.try_trim(p_value)::numeric END;
$$;
COMMENT ON FUNCTION dwh_etl.try_numeric(text) IS 'p_value as numeric (surrounding Unicode white space trimmed, never rounded), or NULL when it is not a plain decimal number (dot as decimal separator) of at most 1000 characters.';
