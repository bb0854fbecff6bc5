-- Creates the missing monthly range partitions of a registered partitioned table on behalf of
-- etl_service, which may not create tables in the area schemas (the loads failed as etl_service with
-- "permission denied for schema sales"). SECURITY DEFINER, so it is narrow:
--   * the table must be registered in dwh_etl.table_registry (not a source table), range-partitioned on
--     one column of type integer/bigint (YYYYMMDD), date, timestamp or timestamptz; else 42501;
--   * the months created, [month of p_from, month of p_until + p_months_ahead], must lie inside the window
--     [setting partitions.min_date, current month + setting partitions.max_months_ahead]; else 22023 and
--     nothing is created. A row dated 0001-01-01 made the old code create partitions from year 1 and fail
--     with "out of shared memory" after minutes: such rows belong in quarantine, not in a partition;
--   * names and bounds are built from the catalog and from dates (format %I / %L), never from the caller.
-- Idempotent: returns the number of partitions created.
--   SELECT dwh_etl.sec_ensure_partitions('sales.fact_sales', DATE '2025-01-01', CURRENT_DATE, 3);
CREATE OR REPLACE FUNCTION dwh_etl.sec_ensure_partitions(
    p_table        regclass,
    p_from         date,
    p_until        date,
    p_months_ahead integer
)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_rel       record;
    v_min_text  text;
    v_max_text  text;
    v_min_date  date;
    v_max_ahead integer;
    v_first     date;
    v_last      date;
    v_limit     date;
    v_month     date;
    v_name      text;
    v_lo        text;
    v_hi        text;
    v_created   integer := 0;
BEGIN
    SELECT n.nspname, c.relname, a.atttypid::regtype AS keytype
    INTO v_rel
    FROM pg_catalog.pg_class AS c
    JOIN pg_catalog.pg_namespace AS n
      ON n.oid = c.relnamespace
    JOIN pg_catalog.pg_partitioned_table AS pt
      ON pt.partrelid = c.oid
    JOIN pg_catalog.pg_attribute AS a
      ON a.attrelid = c.oid
     AND a.attnum = pt.partattrs[0]
    WHERE c.oid = p_table
      AND c.relpersistence <> 't'
      AND pt.partstrat = 'r'
      AND pt.partnatts = 1
      AND a.atttypid IN ('integer'::regtype, 'bigint'::regtype, 'date'::regtype,
                         'timestamp without time zone'::regtype, 'timestamp with time zone'::regtype)
      AND EXISTS (SELECT 1 FROM dwh_etl.table_registry AS tr
                  WHERE tr.layer <> 'source'
                    AND to_regclass(tr.table_name) = c.oid);
    IF NOT FOUND THEN
        RAISE EXCEPTION '% is not a registered range-partitioned table', COALESCE(p_table::text, 'NULL')
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'dwh_etl.sec_ensure_partitions creates partitions of tables registered in dwh_etl.table_registry, range-partitioned on one integer (YYYYMMDD), date or timestamp column';
    END IF;
    IF p_from IS NULL OR p_until IS NULL OR p_months_ahead IS NULL OR p_months_ahead < 0 THEN
        RAISE EXCEPTION 'partitions of %: p_from, p_until and p_months_ahead must be given, p_months_ahead >= 0 (got %, %, %)',
                        p_table, COALESCE(p_from::text, 'NULL'), COALESCE(p_until::text, 'NULL'), COALESCE(p_months_ahead::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    v_min_text := (SELECT s.value FROM dwh_etl.settings AS s WHERE s.key = 'partitions.min_date');
    v_max_text := (SELECT s.value FROM dwh_etl.settings AS s WHERE s.key = 'partitions.max_months_ahead');
    BEGIN
        v_min_date := COALESCE(v_min_text, '2000-01-01')::date;
        v_max_ahead := COALESCE(v_max_text, '24')::integer;
    EXCEPTION WHEN invalid_datetime_format OR datetime_field_overflow OR invalid_text_representation
                   OR numeric_value_out_of_range THEN
        RAISE EXCEPTION 'settings partitions.min_date (%) and partitions.max_months_ahead (%) must be a date and an integer',
                        quote_literal(COALESCE(v_min_text, 'NULL')), quote_literal(COALESCE(v_max_text, 'NULL'))
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'UPDATE dwh_etl.settings SET value = ''2000-01-01'' WHERE key = ''partitions.min_date'' (and ''24'' for partitions.max_months_ahead)';
    END;

    v_first := date_trunc('month', p_from)::date;
    v_last  := (date_trunc('month', p_until) + make_interval(months => p_months_ahead))::date;
    v_limit := (date_trunc('month', CURRENT_DATE) + make_interval(months => GREATEST(v_max_ahead, 0)))::date;
    IF v_first < date_trunc('month', v_min_date)::date OR v_last > v_limit THEN
        RAISE EXCEPTION 'partitions of % from % to % are outside the allowed window [%, %]',
                        p_table, to_char(v_first, 'YYYY-MM'), to_char(v_last, 'YYYY-MM'),
                        to_char(v_min_date, 'YYYY-MM'), to_char(v_limit, 'YYYY-MM')
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('requested p_from %s, p_until %s, %s month(s) ahead; the window is settings partitions.min_date (%s) and partitions.max_months_ahead (%s months after the current month)',
                                  p_from, p_until, p_months_ahead, v_min_date, v_max_ahead),
                  HINT = 'rows dated outside the window belong in quarantine (a date of year 1 or decades ahead is a bad row); if the dates are real, the owner widens the window in dwh_etl.settings';
    END IF;

    -- Two sessions creating the same missing month at once (a fact load and maintenance's
    -- partitions_ahead, daily and incremental) both saw it missing and the later CREATE failed with
    -- "relation already exists" (attack 9b): one creator per table at a time, until its transaction
    -- ends; the existence check below then sees what the other committed.
    PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('dwh_etl.partitions:' || p_table::oid::text, 0));
    FOR v_month IN
        SELECT g::date FROM generate_series(v_first, v_last, interval '1 month') AS g
    LOOP
        v_name := format('%s_p%s', v_rel.relname, to_char(v_month, 'YYYYMM'));
        CONTINUE WHEN EXISTS (
            SELECT 1 FROM pg_catalog.pg_inherits AS i
            JOIN pg_catalog.pg_class AS c ON c.oid = i.inhrelid
            WHERE i.inhparent = p_table AND c.relname = v_name);
        IF v_rel.keytype IN ('integer'::regtype, 'bigint'::regtype) THEN
            v_lo := to_char(v_month, 'YYYYMMDD');
            v_hi := to_char((v_month + interval '1 month')::date, 'YYYYMMDD');
        ELSE
            v_lo := quote_literal(to_char(v_month, 'YYYY-MM-DD'));
            v_hi := quote_literal(to_char((v_month + interval '1 month')::date, 'YYYY-MM-DD'));
        END IF;
        EXECUTE format('CREATE TABLE %I.%I PARTITION OF %I.%I FOR VALUES FROM (%s) TO (%s)',
                       v_rel.nspname, v_name, v_rel.nspname, v_rel.relname, v_lo, v_hi);
        v_created := v_created + 1;
    END LOOP;
    RETURN v_created;
END;
$$;
REVOKE ALL ON FUNCTION dwh_etl.sec_ensure_partitions(regclass, date, date, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl.sec_ensure_partitions(regclass, date, date, integer) TO etl_service;
COMMENT ON FUNCTION dwh_etl.sec_ensure_partitions(regclass, date, date, integer) IS 'SECURITY DEFINER: create the missing monthly partitions of a registered range-partitioned table, only inside the window of settings partitions.min_date / partitions.max_months_ahead. Called by dwh_etl.ensure_partitions.';
