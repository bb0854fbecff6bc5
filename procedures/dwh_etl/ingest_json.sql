-- Seed 002's API/JSON ingestion, generic: lands a JSON array of objects (or an API response whose rows
-- are under "data") in any bronze table, one row per element: each key that names a column of the
-- table (not starting with '_') is stored as text, exactly as received; other keys are ignored for the
-- columns but kept whole in _raw_payload when the table has that column. One batch id for the call.
-- Example: CALL dwh_etl.ingest_json('bronze.sales_sales', '[{"sale_id": "1", "quantity": "abc"}]', 'feed');
CREATE OR REPLACE PROCEDURE dwh_etl.ingest_json(
    p_target   text,
    p_payload  jsonb,
    p_source   text,
    INOUT p_batch_id uuid DEFAULT NULL
)
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_tgt  regclass := to_regclass(p_target);
    v_rows jsonb;
    v_cols text[];
    v_raw  boolean;
    v_n    bigint;
BEGIN
    IF v_tgt IS NULL OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute AS a
                                    WHERE a.attrelid = v_tgt AND a.attname = '_batch_id' AND NOT a.attisdropped) THEN
        RAISE EXCEPTION '% is not a bronze table (with _batch_id, _ingested_at, _source)', quote_literal(COALESCE(p_target, 'NULL'))
            USING ERRCODE = 'undefined_table',
                  HINT = 'dwh_etl.table_registry lists the bronze tables (layer bronze)';
    END IF;
    v_rows := CASE WHEN jsonb_typeof(p_payload) = 'array' THEN p_payload
                   WHEN jsonb_typeof(p_payload->'data') = 'array' THEN p_payload->'data' END;
    IF v_rows IS NULL THEN
        RAISE EXCEPTION 'payload must be a JSON array of objects or an object with a "data" array, got %', jsonb_typeof(p_payload)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF EXISTS (SELECT 1 FROM jsonb_array_elements(v_rows) AS e WHERE jsonb_typeof(e) <> 'object') THEN
        RAISE EXCEPTION 'every element of the payload must be a JSON object'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    p_batch_id := COALESCE(p_batch_id, (dwh_lineage._current_run()).batch_id, gen_random_uuid());

    SELECT array_agg(a.attname::text ORDER BY a.attnum)
    INTO v_cols
    FROM pg_catalog.pg_attribute AS a
    WHERE a.attrelid = v_tgt AND a.attnum > 0 AND NOT a.attisdropped AND a.attname !~ '^_';
    v_raw := EXISTS (SELECT 1 FROM pg_catalog.pg_attribute AS a
                     WHERE a.attrelid = v_tgt AND a.attname = '_raw_payload' AND NOT a.attisdropped);

    EXECUTE format('INSERT INTO %s (%s, _batch_id, _ingested_at, _source%s)
                    SELECT %s, $1, now(), $2%s
                    FROM jsonb_array_elements($3) AS e',
                   v_tgt, dwh_etl._col_list(v_cols), CASE WHEN v_raw THEN ', _raw_payload' ELSE '' END,
                   (SELECT string_agg(format('e->>%L', c), ', ' ORDER BY o) FROM unnest(v_cols) WITH ORDINALITY AS u (c, o)),
                   CASE WHEN v_raw THEN ', e' ELSE '' END)
    USING p_batch_id, p_source, v_rows;
    GET DIAGNOSTICS v_n = ROW_COUNT;

    PERFORM dwh_lineage.log_ingestion(p_target, p_batch_id, p_source, v_n);
    RAISE NOTICE 'ingested % row(s) into % (batch %)', v_n, p_target, p_batch_id;
END;
$$;
COMMENT ON PROCEDURE dwh_etl.ingest_json(text, jsonb, text, uuid) IS 'Land a JSON array (or {"data": [...]}) in a bronze table, values as text, with batch id, time and source; logged as an ingestion.';
