-- Creates the monthly range partitions of a table partitioned on an integer YYYYMMDD date key (or a
-- date / timestamptz column) from p_from up to p_months_ahead months after p_until. Idempotent.
CREATE OR REPLACE FUNCTION dwh_etl.ensure_partitions(
    p_table        text,
    p_from         date,
    p_until        date DEFAULT CURRENT_DATE,
    p_months_ahead integer DEFAULT 3
)
RETURNS integer
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_rel     regclass := to_regclass(p_table);
    v_keytype regtype;
    v_month   date;
    v_name    text;
    v_created integer := 0;
    v_lo      text;
    v_hi      text;
BEGIN
    IF v_rel IS NULL OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_partitioned_table WHERE partrelid = v_rel) THEN
        RAISE EXCEPTION '% is not a partitioned table', quote_literal(p_table)
            USING ERRCODE = 'wrong_object_type';
    END IF;
    SELECT a.atttypid::regtype
    INTO v_keytype
    FROM pg_catalog.pg_partitioned_table AS pt
    JOIN pg_catalog.pg_attribute AS a
      ON a.attrelid = pt.partrelid
     AND a.attnum = pt.partattrs[0]
    WHERE pt.partrelid = v_rel;

    FOR v_month IN
        SELECT g::date
        FROM generate_series(date_trunc('month', p_from), date_trunc('month', p_until) + make_interval(months => p_months_ahead), interval '1 month') AS g
    LOOP
        v_name := format('%s_p%s', (SELECT c.relname FROM pg_catalog.pg_class AS c WHERE c.oid = v_rel), to_char(v_month, 'YYYYMM'));
        CONTINUE WHEN EXISTS (
            SELECT 1 FROM pg_catalog.pg_inherits AS i
            JOIN pg_catalog.pg_class AS c ON c.oid = i.inhrelid
            WHERE i.inhparent = v_rel AND c.relname = v_name);
        IF v_keytype IN ('integer'::regtype, 'bigint'::regtype) THEN
            v_lo := to_char(v_month, 'YYYYMMDD');
            v_hi := to_char((v_month + interval '1 month')::date, 'YYYYMMDD');
        ELSE
            v_lo := quote_literal(v_month::text);
            v_hi := quote_literal(((v_month + interval '1 month')::date)::text);
        END IF;
        EXECUTE format('CREATE TABLE %I.%I PARTITION OF %s FOR VALUES FROM (%s) TO (%s)',
                       (SELECT n.nspname FROM pg_catalog.pg_class AS c JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace WHERE c.oid = v_rel),
                       v_name, v_rel, v_lo, v_hi);
        v_created := v_created + 1;
    END LOOP;
    RETURN v_created;
END;
$$;
COMMENT ON FUNCTION dwh_etl.ensure_partitions(text, date, date, integer) IS 'Create missing monthly partitions of a range-partitioned table (integer YYYYMMDD, date or timestamptz key) from p_from to p_months_ahead months past p_until.';
