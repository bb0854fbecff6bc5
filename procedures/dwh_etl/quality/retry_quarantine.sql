-- dwh quarantine retry: replays open quarantined rows (all, those of p_ids, or those of one target
-- table) into the bronze table they came from, as a new batch, so the next run re-validates them with
-- the current rules and reference data. Each replayed row is resolved 'retried'; if it fails again it is
-- quarantined again with its new reasons; if it passes it loads once (silver keys and SCD dedupe make
-- a replay idempotent). Rows recorded by the SCD engine (duplicates, conflicts) are not replayable.
CREATE OR REPLACE FUNCTION dwh_etl.retry_quarantine(
    p_ids   bigint[] DEFAULT NULL,
    p_table text DEFAULT NULL
)
RETURNS TABLE (quarantine_id bigint, action text, detail text)
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_src  record;
    v_cols text[];
BEGIN
    -- tells plpgsql_check the shape of the temp table created below
    PERFORM 'PRAGMA:TABLE: _retry (quarantine_id bigint, source_table text, payload jsonb)';
    CREATE TEMP TABLE _retry ON COMMIT DROP AS
    SELECT q.quarantine_id, q.source_table, q.payload
    FROM dwh_etl.quarantine AS q
    WHERE q.resolved_at IS NULL
      AND (p_ids IS NULL OR q.quarantine_id = ANY (p_ids))
      AND (p_table IS NULL OR q.target_table = p_table);

    FOR v_src IN SELECT DISTINCT r.source_table FROM _retry AS r LOOP
        SELECT array_agg(a.attname::text ORDER BY a.attnum)
        INTO v_cols
        FROM pg_catalog.pg_attribute AS a
        WHERE a.attrelid = to_regclass(v_src.source_table) AND a.attnum > 0 AND NOT a.attisdropped
          AND a.attname !~ '^_';
        IF v_cols IS NULL OR NOT EXISTS (
            SELECT 1 FROM pg_catalog.pg_attribute AS a
            WHERE a.attrelid = to_regclass(v_src.source_table) AND a.attname = '_bronze_id') THEN
            RETURN QUERY SELECT r.quarantine_id, 'skipped'::text,
                                format('%s is not a bronze table: nothing to replay', v_src.source_table)
                         FROM _retry AS r WHERE r.source_table = v_src.source_table;
            CONTINUE;
        END IF;
        EXECUTE format(
            'INSERT INTO %1$s (%2$s, _batch_id, _ingested_at, _source)
             SELECT %3$s, gen_random_uuid(), now(), ''quarantine retry #'' || r.quarantine_id
             FROM _retry AS r
             CROSS JOIN LATERAL jsonb_populate_record(NULL::%1$s, r.payload) AS p
             WHERE r.source_table = $1',
            to_regclass(v_src.source_table), dwh_etl._col_list(v_cols), dwh_etl._col_list(v_cols, 'p'))
        USING v_src.source_table;
        UPDATE dwh_etl.quarantine AS q
        SET resolved_at = now(),
            resolution = 'retried: replayed into ' || v_src.source_table || ' for the next run'
        FROM _retry AS r
        WHERE r.quarantine_id = q.quarantine_id
          AND r.source_table = v_src.source_table;
        RETURN QUERY SELECT r.quarantine_id, 'retried'::text, format('replayed into %s', v_src.source_table)
                     FROM _retry AS r WHERE r.source_table = v_src.source_table;
    END LOOP;
    DROP TABLE _retry;
END;
$$;
COMMENT ON FUNCTION dwh_etl.retry_quarantine(bigint[], text) IS 'Replay open quarantined rows into their bronze table for re-validation by the next run; resolves them as retried.';
