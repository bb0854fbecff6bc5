-- The keywords of a libpq connection string, in either form libpq accepts:
--   'host=db1 port=5432 dbname=shop user=dwh password=''it''''s'''   (key = value, values quoted with
--   single quotes and backslash escapes) or 'postgresql://dwh:secret@db1:5432/shop?sslmode=require'
--   (URI, percent-decoded). Used by dwh_etl.source_add to split a conninfo into postgres_fdw server
--   and user-mapping options, to add connect_timeout, and to show where a source is without its
--   password. Malformed input raises 22023 without quoting the string (it may hold a password).
CREATE OR REPLACE FUNCTION dwh_etl._conninfo_parse(
    p_conninfo text
)
RETURNS TABLE (keyword text, value text)
LANGUAGE plpgsql
IMMUTABLE
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_rest  text;
    v_m     text[];
    v_val   text;
    v_i     integer;
    v_ch    text;
BEGIN
    IF p_conninfo IS NULL OR btrim(p_conninfo) = '' THEN
        RAISE EXCEPTION 'the connection string is empty' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_conninfo ~* '^postgres(ql)?://' THEN
        -- postgresql://[user[:password]@][host][:port][/dbname][?key=value&...]
        v_m := regexp_match(p_conninfo, '^postgres(?:ql)?://(?:([^:@/?]*)(?::([^@/?]*))?@)?(\[[^\]]*\]|[^:/?]*)?(?::([0-9]*))?(?:/([^?]*))?(?:\?(.*))?$', 'i');
        IF v_m IS NULL OR position(',' IN COALESCE(v_m[3], '')) > 0 THEN
            RAISE EXCEPTION 'the connection URI is not of the form postgresql://user:password@host:port/dbname?key=value (one host)'
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        RETURN QUERY
        SELECT k, convert_from(decode(
                   (SELECT string_agg(CASE WHEN p ~ '^%[0-9A-Fa-f]{2}$' THEN substr(p, 2) ELSE encode(convert_to(p, 'UTF8'), 'hex') END, '' ORDER BY o)
                    FROM regexp_matches(v, '%[0-9A-Fa-f]{2}|.', 'g') WITH ORDINALITY AS x (pm, o), LATERAL (SELECT x.pm[1] AS p) AS pp),
                   'hex'), 'UTF8')
        FROM (VALUES ('user', v_m[1]), ('password', v_m[2]), ('host', btrim(v_m[3], '[]')), ('port', v_m[4]), ('dbname', v_m[5])) AS u (k, v)
        WHERE v IS NOT NULL AND v <> '';
        IF v_m[6] IS NOT NULL AND v_m[6] <> '' THEN
            RETURN QUERY
            SELECT split_part(q, '=', 1), substr(q, length(split_part(q, '=', 1)) + 2)
            FROM regexp_split_to_table(v_m[6], '&') AS q
            WHERE q <> '';
        END IF;
        RETURN;
    END IF;

    -- key = value pairs; a value is a run of non-space characters or a single-quoted string
    v_rest := p_conninfo;
    LOOP
        v_rest := ltrim(v_rest, E' \t\n\r');
        EXIT WHEN v_rest = '';
        v_m := regexp_match(v_rest, '^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*');
        IF v_m IS NULL THEN
            RAISE EXCEPTION 'the connection string is not a list of keyword=value pairs or a postgresql:// URI'
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        keyword := v_m[1];
        v_rest := substr(v_rest, length((regexp_match(v_rest, '^[A-Za-z_][A-Za-z0-9_]*\s*=\s*'))[1]) + 1);
        IF left(v_rest, 1) = '''' THEN
            v_val := '';
            v_i := 2;
            LOOP
                IF v_i > length(v_rest) THEN
                    RAISE EXCEPTION 'the connection string has an unterminated quoted value (for %)', keyword
                        USING ERRCODE = 'invalid_parameter_value';
                END IF;
                v_ch := substr(v_rest, v_i, 1);
                IF v_ch = '\' THEN
                    v_val := v_val || substr(v_rest, v_i + 1, 1);
                    v_i := v_i + 2;
                ELSIF v_ch = '''' THEN
                    v_i := v_i + 1;
                    EXIT;
                ELSE
                    v_val := v_val || v_ch;
                    v_i := v_i + 1;
                END IF;
            END LOOP;
            value := v_val;
            v_rest := substr(v_rest, v_i);
        ELSE
            v_m := regexp_match(v_rest, '^((?:[^\s\\]|\\.)*)');
            value := regexp_replace(v_m[1], '\\(.)', '\1', 'g');
            v_rest := substr(v_rest, length(v_m[1]) + 1);
        END IF;
        RETURN NEXT;
    END LOOP;
END;
$$;
REVOKE EXECUTE ON FUNCTION dwh_etl._conninfo_parse(text) FROM PUBLIC, etl_service;
COMMENT ON FUNCTION dwh_etl._conninfo_parse(text) IS 'Keywords and values of a libpq connection string (keyword=value form or postgresql:// URI).';

-- A connection string in keyword=value form with every value quoted, from keyword/value pairs.
CREATE OR REPLACE FUNCTION dwh_etl._conninfo_build(
    p_pairs jsonb
)
RETURNS text
LANGUAGE sql
IMMUTABLE
SET search_path = dwh_etl, pg_temp
AS $$
    SELECT string_agg(format('%s=''%s''', e.key, replace(replace(e.value, '\', '\\'), '''', '\''')), ' ' ORDER BY e.key)
    FROM jsonb_each_text(p_pairs) AS e;
$$;
REVOKE EXECUTE ON FUNCTION dwh_etl._conninfo_build(jsonb) FROM PUBLIC, etl_service;
COMMENT ON FUNCTION dwh_etl._conninfo_build(jsonb) IS 'keyword=''value'' connection string from a JSON object of keywords.';
