-- Retention of a bronze table (bronze is append-only, migration 0033: this is the one way rows leave
-- it). Drops its month partitions (dwh_etl._bronze_period) that end before the cutoff, then deletes the
-- rows ingested before it left in the table and its other children, but never
-- a row its readers have not read yet: the cutoff is at most the lowest watermark of the silver loads
-- that read the table (named as their "bronze" or as their tombstones' table; a silver load's
-- watermark is on _ingested_at, dwh_etl.window_bounds), and never younger than its retention setting
-- (retention.<table>, else bronze.min_retention, 7 days). A table no silver load reads is refused: nothing
-- would say its rows were read. Returns the number of rows deleted.
-- SECURITY DEFINER: etl_service has no DELETE on bronze; the trigger of 0033 lets this function's own
-- statement through (dwh_etl.bronze_purge names the table for that statement only).
DROP FUNCTION IF EXISTS dwh_etl.sec_purge_bronze(regclass, timestamptz);
CREATE OR REPLACE FUNCTION dwh_etl.sec_purge_bronze(
    p_table     regclass,
    p_before    timestamptz,
    p_retention text DEFAULT NULL
)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_name   text;
    v_safe   timestamptz;
    v_reader text;
    v_rows   bigint;
    v_n      bigint;
    v_part   record;
    v_keep   interval;
BEGIN
    SELECT format('%I.%I', n.nspname, c.relname) INTO v_name
    FROM pg_catalog.pg_class AS c
    JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
    WHERE c.oid = p_table AND c.relkind = 'r' AND n.nspname = 'bronze'
      AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_inherits AS i WHERE i.inhrelid = c.oid);
    IF v_name IS NULL OR p_before IS NULL THEN
        RAISE EXCEPTION 'purge_bronze: % is not a bronze table (or no cutoff given)', COALESCE(p_table::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT min(dwh_etl.get_watermark(l.target)), string_agg(DISTINCT l.target, ', ')
    INTO v_safe, v_reader
    FROM dwh_etl.steps AS s
    CROSS JOIN LATERAL (
        SELECT COALESCE(e->>'target', s.spec->>'target') AS target,
               COALESCE(e->>'bronze', s.spec->>'bronze') AS bronze,
               COALESCE(e #>> '{tombstones,table}', s.spec #>> '{tombstones,table}') AS tombstones
        FROM jsonb_array_elements(CASE jsonb_typeof(s.spec->'loads')
                                      WHEN 'array' THEN s.spec->'loads'
                                      WHEN 'object' THEN jsonb_build_array(s.spec->'loads')
                                      ELSE jsonb_build_array(s.spec) END) AS e
    ) AS l
    WHERE s.kind = 'silver'
      AND v_name IN (to_regclass(l.bronze)::text, to_regclass(l.tombstones)::text);
    IF v_reader IS NULL THEN
        RAISE EXCEPTION 'purge_bronze: no silver step reads %: nothing says its rows were read', v_name
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'register the silver load that reads it (dwh_etl.register_area), or drop the table if it is unused';
    END IF;
    -- and never younger than the table's retention: the setting p_retention names (a key ending in
    -- "retention", e.g. citizen.raw_retention), else retention.<table>, else bronze.min_retention (7
    -- days). Settings are the owner's, so a caller who can move watermarks (etl_service) still cannot
    -- empty bronze
    BEGIN
        v_keep := COALESCE(CASE WHEN p_retention ~ '(^|[._])retention$' THEN dwh_etl.get_setting(p_retention, NULL) END,
                           dwh_etl.get_setting('retention.' || v_name, NULL),
                           dwh_etl.get_setting('bronze.min_retention', '7 days'))::interval;
    EXCEPTION WHEN invalid_datetime_format OR datetime_field_overflow OR syntax_error THEN
        v_keep := NULL;
    END;
    IF v_keep IS NULL OR v_keep < interval '0' THEN
        RAISE EXCEPTION 'purge_bronze: the retention of % is not a positive interval', v_name
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = format('UPDATE dwh_etl.settings SET value = ''2 years'' WHERE key = %L (or bronze.min_retention)', 'retention.' || v_name);
    END IF;
    v_safe := LEAST(p_before, v_safe, now() - v_keep);
    -- month partitions (dwh_etl._bronze_period) that end before the cutoff are dropped whole
    v_rows := 0;
    FOR v_part IN
        SELECT c.oid::regclass AS rel
        FROM pg_catalog.pg_inherits AS i
        JOIN pg_catalog.pg_class AS c ON c.oid = i.inhrelid
        WHERE i.inhparent = p_table
          AND c.relname ~ '_p[0-9]{6}$'
          AND c.relname = left((SELECT p.relname FROM pg_catalog.pg_class AS p WHERE p.oid = p_table), 44)
                          || '_p' || right(c.relname, 6)
          AND (to_date(right(c.relname, 6), 'YYYYMM') + interval '1 month')::timestamp AT TIME ZONE 'UTC' <= v_safe
        ORDER BY c.relname
    LOOP
        EXECUTE format('SELECT count(*) FROM ONLY %s', v_part.rel) INTO v_n;
        EXECUTE format('DROP TABLE %s', v_part.rel);
        v_rows := v_rows + v_n;
    END LOOP;
    PERFORM set_config('dwh_etl.bronze_purge', v_name, true);
    EXECUTE format('DELETE FROM %s WHERE _ingested_at < $1', p_table) USING v_safe;
    GET DIAGNOSTICS v_n = ROW_COUNT;
    v_rows := v_rows + v_n;
    PERFORM set_config('dwh_etl.bronze_purge', '', true);
    RAISE NOTICE 'retention of %: % row(s) ingested before % deleted (asked: before %; % has read up to there)',
        v_name, v_rows, v_safe, p_before, v_reader;
    RETURN v_rows;
END;
$$;
REVOKE ALL ON FUNCTION dwh_etl.sec_purge_bronze(regclass, timestamptz, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl.sec_purge_bronze(regclass, timestamptz, text) TO etl_service;
COMMENT ON FUNCTION dwh_etl.sec_purge_bronze(regclass, timestamptz, text) IS 'Retention of a bronze table (append-only otherwise): delete the rows ingested before the cutoff, never past what its silver loads have read (their lowest watermark). SECURITY DEFINER. Example: SELECT dwh_etl.sec_purge_bronze(''bronze.sales_sales'', now() - interval ''2 years'');';
