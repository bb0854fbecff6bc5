-- Bronze extraction by high-water mark: copies the source rows whose p_ts_column lies in
-- [watermark, upper bound) into an append-only, text-typed bronze table with _batch_id, _ingested_at
-- and _source, logs the ingestion and advances the watermark, all in the caller's transaction.
-- The bronze table's columns not starting with '_' are read from the source by name; one that has a
-- DEFAULT is optional in the source (a source without it loads the default: a column added to an area
-- later, such as sales' tax_amount, does not break a source attached before it).
-- p_ts_column should be the source's arrival column (_dwh_arrived_at, see dwh_etl.track_arrival), not a
-- change timestamp the writer supplies: a window on updated_at skipped every row written with a time
-- behind the watermark, and never reached one stamped 'infinity' (issue 9). The arrival stamp is
-- clock_timestamp() at write, >= the writing transaction's start, which is what safe_upper_bound() caps
-- the window at, so a late-committing row is not skipped either.
-- The window column's value is kept in bronze's _source_arrived_at when the bronze table has that column
-- and the window column is a timestamptz (migration 0049): it orders a row and a tombstone of one window,
-- which share the extraction's _ingested_at (dwh_etl._load_silver: a re-insert after its delete).
-- p_run_id: the run extracting (rows stamped with its batch, the ingestion logged for it and its step;
-- dwh_etl.get_run_context); NULL outside a pipeline (a fresh batch).
-- The earlier signature, replaced by this one (a new argument list would otherwise add an overload).
DROP FUNCTION IF EXISTS dwh_etl.extract_incremental(text, text, text, timestamptz);
CREATE OR REPLACE FUNCTION dwh_etl.extract_incremental(
    p_source    text,
    p_target    text,
    p_ts_column text,
    p_cap       timestamptz DEFAULT NULL,
    p_run_id    bigint DEFAULT NULL
)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_src     regclass := to_regclass(p_source);
    v_tgt     regclass := to_regclass(p_target);
    v_cols    text[];
    v_missing text[];
    v_from    timestamptz;
    v_to      timestamptz;
    v_rows    bigint;
    v_run     dwh_etl.run_context := dwh_etl.get_run_context(p_run_id);
    v_arrival boolean;
    v_empty   boolean := false;
    v_idx_add text[] := '{}'::text[];  -- bulk path into an empty table: its secondary indexes, built after the write
    v_stmt    text;
BEGIN
    IF v_src IS NULL OR v_tgt IS NULL THEN
        RAISE EXCEPTION 'extract % -> %: % does not exist', p_source, p_target,
                        CASE WHEN v_src IS NULL THEN p_source ELSE p_target END
            USING ERRCODE = 'undefined_table',
                  HINT = 'check the source schema setting and run dwh migrate';
    END IF;
    PERFORM dwh_etl.lock_step('extract:' || p_target);

    SELECT array_agg(a.attname::text ORDER BY a.attnum)
    INTO v_cols
    FROM pg_catalog.pg_attribute AS a
    WHERE a.attrelid = v_tgt AND a.attnum > 0 AND NOT a.attisdropped AND a.attname !~ '^_';

    SELECT array_agg(c)
    INTO v_missing
    FROM unnest(v_cols || p_ts_column) AS c
    WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute AS a
                      WHERE a.attrelid = v_src AND a.attname = c AND a.attnum > 0 AND NOT a.attisdropped)
      AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute AS a
                      WHERE a.attrelid = v_tgt AND a.attname = c AND a.atthasdef);
    IF v_missing IS NOT NULL THEN
        RAISE EXCEPTION 'source % lacks column(s) % expected by %', v_src, array_to_string(v_missing, ', '), v_tgt
            USING ERRCODE = 'undefined_column',
                  HINT = CASE WHEN p_ts_column = ANY (v_missing) AND p_ts_column = '_dwh_arrived_at'
                              THEN format('Track arrivals of the source first (as its owner): CALL dwh_etl.track_arrival(%L, p_backfill_from => ''updated_at'');', v_src::text)
                              ELSE 'The bronze table''s columns not starting with _ are read from the source by name.'
                         END;
    END IF;

    -- the optional columns the source lacks take their default
    v_cols := ARRAY(SELECT c FROM unnest(v_cols) WITH ORDINALITY AS u (c, n)
                    WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_attribute AS a
                                  WHERE a.attrelid = v_src AND a.attname = u.c AND a.attnum > 0 AND NOT a.attisdropped)
                    ORDER BY u.n);

    v_arrival := EXISTS (SELECT 1 FROM pg_catalog.pg_attribute AS a
                         WHERE a.attrelid = v_tgt AND a.attname = '_source_arrived_at' AND NOT a.attisdropped
                           AND a.atttypid = 'timestamptz'::regtype)
                 AND EXISTS (SELECT 1 FROM pg_catalog.pg_attribute AS a
                             WHERE a.attrelid = v_src AND a.attname = p_ts_column AND NOT a.attisdropped
                               AND a.atttypid = 'timestamptz'::regtype);

    v_from := dwh_etl.get_watermark(p_target);
    v_to   := dwh_etl.safe_upper_bound(p_cap);
    IF v_to <= v_from THEN
        PERFORM dwh_lineage.log_ingestion(p_target, v_run.batch_id, p_source, 0, v_run.run_id);
        RETURN 0;
    END IF;

    -- Bulk path of a first extraction into an empty table (issue 15): its secondary indexes (the
    -- _ingested_at btree) are dropped for the write and built after it, in this transaction
    -- (dwh_etl._drop_secondary_indexes, as the silver and fact steps do; 300k sales lines: the INSERT
    -- 0.67 -> 0.45 s, the index built in 0.06 s). The primary key stays. DROP INDEX locks the table
    -- (ACCESS EXCLUSIVE until the step commits: a file load into it waits); 2 s at most to get the
    -- lock, else the indexes stay. Not on Citus.
    IF v_from = '-infinity'::timestamptz
       AND dwh_etl.citus_table_type(v_tgt) IS NULL
       AND pg_has_role(current_user, (SELECT c.relowner FROM pg_catalog.pg_class AS c WHERE c.oid = v_tgt), 'USAGE') THEN
        EXECUTE format('SELECT NOT EXISTS (SELECT 1 FROM ONLY %s)', v_tgt) INTO v_empty;
        IF v_empty THEN
            v_idx_add := dwh_etl._drop_secondary_indexes_if_free(v_tgt, format('extract into %s', v_tgt));
        END IF;
    END IF;
    EXECUTE format(
        'INSERT INTO %s (%s, _batch_id, _ingested_at, _source%s)
         SELECT %s, $1, now(), $2%s
         FROM %s AS s
         WHERE s.%I >= $3 AND s.%I < $4',
        v_tgt,
        dwh_etl._col_list(v_cols),
        CASE WHEN v_arrival THEN ', _source_arrived_at' ELSE '' END,
        (SELECT string_agg(format('s.%I::text', c), ', ') FROM unnest(v_cols) AS c),
        CASE WHEN v_arrival THEN format(', s.%I', p_ts_column) ELSE '' END,
        v_src, p_ts_column, p_ts_column)
    USING v_run.batch_id, p_source, v_from, v_to;
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    FOREACH v_stmt IN ARRAY v_idx_add LOOP
        EXECUTE v_stmt;
    END LOOP;

    PERFORM dwh_lineage.log_ingestion(p_target, v_run.batch_id, p_source, v_rows, v_run.run_id);
    CALL dwh_etl.set_watermark(p_target, p_ts_column, v_to);
    RETURN v_rows;
END;
$$;
COMMENT ON FUNCTION dwh_etl.extract_incremental(text, text, text, timestamptz, bigint) IS 'Copy source rows changed in [watermark, safe upper bound) into a bronze table and advance the watermark, in one transaction.';
