-- Moves the rows of a bronze table ingested in months that have ended (UTC) from the table itself into
-- their month partitions (dwh_etl._bronze_period), in one statement per month (a DELETE ... RETURNING
-- feeding the INSERT: one snapshot, so a row committed meanwhile is either moved or left, never lost or
-- doubled). Readers see the same rows before and after (one transaction; ids, batches, times, lines
-- unchanged). A row that commits later with an old month's time (a long transaction) is moved by the next
-- run. Returns the rows moved. SECURITY DEFINER (bronze is append-only: its trigger lets this statement
-- through, dwh_etl.bronze_purge naming the table); called by the maintenance step compact_bronze.
CREATE OR REPLACE FUNCTION dwh_etl.sec_seal_bronze_months(
    p_table regclass
)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_name  text;
    v_month timestamptz;
    v_end   timestamptz := (date_trunc('month', now() AT TIME ZONE 'UTC')) AT TIME ZONE 'UTC';
    v_child regclass;
    v_cols  text;
    v_n     bigint;
    v_rows  bigint := 0;
BEGIN
    SELECT format('%I.%I', n.nspname, c.relname) INTO v_name
    FROM pg_catalog.pg_class AS c
    JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
    WHERE c.oid = p_table AND c.relkind = 'r' AND n.nspname = 'bronze'
      AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_inherits AS i WHERE i.inhrelid = c.oid)
      -- the tables op_compact_bronze seals (attack 13c): not a file load's landing table (a month
      -- partition planted under it became a child of the load's child, whose DROP then failed every
      -- compaction: "other objects depend on it"), and of the bronze shape
      AND c.relname !~ '_landing$'
      AND NOT EXISTS (SELECT 1 FROM dwh_etl.loaded_files AS f WHERE f.landed_in = format('%I.%I', n.nspname, c.relname))
      AND (SELECT count(*) FROM pg_catalog.pg_attribute AS a
           WHERE a.attrelid = c.oid AND NOT a.attisdropped
             AND (a.attname, a.atttypid) IN (('_ingested_at', 'timestamptz'::regtype), ('_bronze_id', 'bigint'::regtype))) = 2;
    IF v_name IS NULL THEN
        RAISE EXCEPTION 'sec_seal_bronze_months: % is not a bronze table', COALESCE(p_table::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT string_agg(format('%I', a.attname), ', ' ORDER BY a.attnum) INTO v_cols
    FROM pg_catalog.pg_attribute AS a
    WHERE a.attrelid = p_table AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '';
    LOOP
        -- the oldest month still in the table itself (its _ingested_at index finds it)
        EXECUTE format('SELECT min(_ingested_at) FROM ONLY %s WHERE _ingested_at < $1', p_table)
        INTO v_month USING v_end;
        EXIT WHEN v_month IS NULL;
        v_child := dwh_etl._bronze_period(p_table, v_month);
        v_month := (date_trunc('month', v_month AT TIME ZONE 'UTC')) AT TIME ZONE 'UTC';
        PERFORM set_config('dwh_etl.bronze_purge', v_name, true);
        EXECUTE format('WITH moved AS (DELETE FROM ONLY %1$s WHERE _ingested_at >= $1 AND _ingested_at < $2 RETURNING %2$s) '
                       'INSERT INTO %3$s (%2$s) OVERRIDING SYSTEM VALUE SELECT %2$s FROM moved',
                       p_table, v_cols, v_child)
        USING v_month, (((v_month AT TIME ZONE 'UTC') + interval '1 month') AT TIME ZONE 'UTC');
        GET DIAGNOSTICS v_n = ROW_COUNT;
        PERFORM set_config('dwh_etl.bronze_purge', '', true);
        v_rows := v_rows + v_n;
    END LOOP;
    -- the current month's partition, created ahead (empty until the month ends): the move at the end of
    -- the month then goes into a partition that already existed, never one created in the moving
    -- transaction (a query planned before such a partition existed and run after the move commits would
    -- see neither the moved rows nor the partition). Only months older than the feature (the first
    -- run) are created and filled in one transaction.
    PERFORM dwh_etl._bronze_period(p_table, now());
    RETURN v_rows;
END;
$$;
REVOKE ALL ON FUNCTION dwh_etl.sec_seal_bronze_months(regclass) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl.sec_seal_bronze_months(regclass) TO etl_service;
COMMENT ON FUNCTION dwh_etl.sec_seal_bronze_months(regclass) IS 'SECURITY DEFINER: move the rows of a bronze table ingested in ended months (UTC) into its month partitions (bronze.<t>_pYYYYMM), one snapshot per month; returns the rows moved. Called by the maintenance step compact_bronze.';
