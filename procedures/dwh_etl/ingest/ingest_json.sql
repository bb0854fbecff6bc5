-- Seed 002's API/JSON ingestion, generic: lands a JSON payload in any bronze table, one row per element:
-- each key that names a column of the table (not starting with '_') is stored as text, exactly as
-- received; other keys are ignored for the columns but kept whole in _raw_payload when the table has
-- that column (when it has not, a WARNING names them and how many elements had them). One batch id for
-- the call.
-- Accepted shapes (issue 9: a wrong shape failed the whole feed, or was consumed without a trace):
-- - an array of objects: one row per object;
-- - an object with a "data" key (an API response; unless the table has a column named data): its
--   array of objects, or its single object;
-- - any other object: a single row (read as a one-element array).
-- What cannot be a row never fails the call and is never dropped: it goes to dwh_etl.quarantine
-- (target_table = p_target, source_table = 'dwh_etl.ingest_json', which `dwh quarantine retry` does
-- not replay: there is nothing to replay it into; record_key = md5 of the rejected JSON; payload =
-- {"source": p_source, "element": ...} or {"source": ..., "payload": ...}) with its reason:
-- - a payload that is a string, number, boolean or null, or whose "data" is none of the above;
-- - an element that is not an object (a string, number, nested array, null), an empty object, or an
--   object with none of the table's columns (its keys are listed, cut to 200 characters).
-- The good elements of the same payload land. p_payload is jsonb: text that is not JSON is refused by
-- the caller's cast before anything is read (nothing consumed). A NULL payload lands nothing.
-- Example: CALL dwh_etl.ingest_json('bronze.sales_sales', '[{"sale_id": "1", "quantity": "abc"}]', 'feed');
-- p_run_id: the run the payload is landed for (quarantine entries and lineage carry it); NULL outside a run.
DROP PROCEDURE IF EXISTS dwh_etl.ingest_json(text, jsonb, text, uuid);
CREATE OR REPLACE PROCEDURE dwh_etl.ingest_json(
    p_target   text,
    p_payload  jsonb,
    p_source   text,
    INOUT p_batch_id uuid DEFAULT NULL,
    p_run_id   bigint DEFAULT NULL
)
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_tgt  regclass := to_regclass(p_target);
    v_run  dwh_etl.run_context := dwh_etl.get_run_context(p_run_id);
    v_rows jsonb;
    v_cols text[];
    v_raw  boolean;
    v_n    bigint := 0;
    v_bad  bigint := 0;
    v_unknown text;
BEGIN
    -- all three landing columns: silver and gold tables have a _batch_id too (they failed later, on a
    -- missing _ingested_at, with an error that did not say why)
    IF v_tgt IS NULL OR (SELECT count(*) FROM pg_catalog.pg_attribute AS a
                         WHERE a.attrelid = v_tgt AND a.attnum > 0 AND NOT a.attisdropped
                           AND a.attname IN ('_batch_id', '_ingested_at', '_source')) < 3 THEN
        RAISE EXCEPTION '% is not a bronze table (with _batch_id, _ingested_at, _source)', quote_literal(COALESCE(p_target, 'NULL'))
            USING ERRCODE = 'undefined_table',
                  HINT = 'dwh_etl.table_registry lists the bronze tables (layer bronze)';
    END IF;
    p_batch_id := COALESCE(p_batch_id, v_run.batch_id, gen_random_uuid());

    SELECT array_agg(a.attname::text ORDER BY a.attnum)
    INTO v_cols
    FROM pg_catalog.pg_attribute AS a
    WHERE a.attrelid = v_tgt AND a.attnum > 0 AND NOT a.attisdropped AND a.attname !~ '^_';
    v_raw := EXISTS (SELECT 1 FROM pg_catalog.pg_attribute AS a
                     WHERE a.attrelid = v_tgt AND a.attname = '_raw_payload' AND NOT a.attisdropped);

    v_rows := CASE jsonb_typeof(p_payload)
                  WHEN 'array' THEN p_payload
                  WHEN 'object' THEN
                      CASE WHEN p_payload ? 'data' AND NOT 'data' = ANY (v_cols) THEN
                               CASE jsonb_typeof(p_payload->'data')
                                   WHEN 'array' THEN p_payload->'data'
                                   WHEN 'object' THEN jsonb_build_array(p_payload->'data')
                               END
                           ELSE jsonb_build_array(p_payload)
                      END
              END;

    IF p_payload IS NOT NULL AND v_rows IS NULL THEN
        -- the whole payload is of a shape that holds no row
        INSERT INTO dwh_etl.quarantine AS q (target_table, source_table, record_key, payload, reasons, run_id, batch_id)
        VALUES (p_target, 'dwh_etl.ingest_json', md5(p_payload::text),
                jsonb_build_object('source', p_source, 'payload', p_payload),
                ARRAY[CASE WHEN jsonb_typeof(p_payload) = 'object'
                           THEN format('payload "data" is a JSON %s, not an array of objects', jsonb_typeof(p_payload->'data'))
                           ELSE format('payload is a JSON %s, not an array of objects', jsonb_typeof(p_payload)) END],
                v_run.run_id, p_batch_id)
        -- one open entry per record: the same payload delivered again counts a delivery
        ON CONFLICT (fingerprint) WHERE resolved_at IS NULL DO UPDATE
        SET deliveries = q.deliveries + 1, last_delivered_at = now(),
            run_id = EXCLUDED.run_id, batch_id = EXCLUDED.batch_id;
        v_bad := 1;
    ELSIF v_rows IS NOT NULL THEN
        -- elements that cannot be a row of the table, each with its reason
        -- one open entry per record: an element delivered again (the same payload sent twice, or twice
        -- in one payload) counts deliveries on its open entry
        INSERT INTO dwh_etl.quarantine AS q (target_table, source_table, record_key, payload, reasons, run_id, batch_id, deliveries)
        SELECT DISTINCT ON (md5(e.elem::text))
               p_target, 'dwh_etl.ingest_json', md5(e.elem::text),
               jsonb_build_object('source', p_source, 'element', e.elem),
               ARRAY[CASE WHEN jsonb_typeof(e.elem) <> 'object'
                          THEN format('element %s of the payload is a JSON %s, not an object', e.n, jsonb_typeof(e.elem))
                          WHEN e.elem = '{}'::jsonb
                          THEN format('element %s of the payload is an empty object', e.n)
                          ELSE format('element %s of the payload has none of the columns of %s (keys: %s)', e.n, p_target,
                                      left((SELECT string_agg(k, ', ' ORDER BY k) FROM jsonb_object_keys(e.elem) AS k), 200))
                     END],
               v_run.run_id, p_batch_id, count(*) OVER (PARTITION BY md5(e.elem::text))
        FROM jsonb_array_elements(v_rows) WITH ORDINALITY AS e (elem, n)
        WHERE jsonb_typeof(e.elem) <> 'object'
           OR NOT EXISTS (SELECT 1 FROM jsonb_object_keys(e.elem) AS k WHERE k = ANY (v_cols))
        ORDER BY md5(e.elem::text), e.n
        ON CONFLICT (fingerprint) WHERE resolved_at IS NULL DO UPDATE
        SET deliveries = q.deliveries + EXCLUDED.deliveries, last_delivered_at = now(),
            reasons = EXCLUDED.reasons, run_id = EXCLUDED.run_id, batch_id = EXCLUDED.batch_id;
        GET DIAGNOSTICS v_bad = ROW_COUNT;

        EXECUTE format('INSERT INTO %s (%s, _batch_id, _ingested_at, _source%s)
                        SELECT %s, $1, now(), $2%s
                        FROM jsonb_array_elements($3) WITH ORDINALITY AS x (e, n)
                        WHERE jsonb_typeof(x.e) = ''object''
                          AND EXISTS (SELECT 1 FROM jsonb_object_keys(x.e) AS k WHERE k = ANY ($4))
                        ORDER BY x.n',
                       v_tgt, dwh_etl._col_list(v_cols), CASE WHEN v_raw THEN ', _raw_payload' ELSE '' END,
                       (SELECT string_agg(format('x.e->>%L', c), ', ' ORDER BY o) FROM unnest(v_cols) WITH ORDINALITY AS u (c, o)),
                       CASE WHEN v_raw THEN ', x.e' ELSE '' END)
        USING p_batch_id, p_source, v_rows, v_cols;
        GET DIAGNOSTICS v_n = ROW_COUNT;

        -- keys of landed elements that name no column are not stored when the table has no _raw_payload:
        -- said, not dropped silently (a misspelt "e_mail" left email NULL without a trace)
        IF NOT v_raw THEN
            SELECT string_agg(format('%s (%s element(s))', x.k, x.n), ', ' ORDER BY x.k)
            INTO v_unknown
            FROM (SELECT k.k, count(*) AS n
                  FROM jsonb_array_elements(v_rows) AS e (elem)
                  CROSS JOIN LATERAL jsonb_object_keys(CASE WHEN jsonb_typeof(e.elem) = 'object' THEN e.elem ELSE '{}'::jsonb END) AS k (k)
                  WHERE NOT k.k = ANY (v_cols)
                    AND EXISTS (SELECT 1 FROM jsonb_object_keys(CASE WHEN jsonb_typeof(e.elem) = 'object' THEN e.elem ELSE '{}'::jsonb END) AS c
                                WHERE c = ANY (v_cols))
                  GROUP BY k.k) AS x;
            IF v_unknown IS NOT NULL THEN
                RAISE WARNING 'keys that name no column of % were not stored: %', p_target, left(v_unknown, 500)
                    USING HINT = 'check the feed''s field names against the table''s columns (\d ' || p_target || ')';
            END IF;
        END IF;
    END IF;

    PERFORM dwh_lineage.log_ingestion(p_target, p_batch_id, p_source, v_n, in_run_id => p_run_id);
    IF v_bad > 0 THEN
        RAISE NOTICE '% element(s) of the payload for % quarantined: not rows (dwh_etl.quarantine)', v_bad, p_target;
    END IF;
    RAISE NOTICE 'ingested % row(s) into % (batch %)', v_n, p_target, p_batch_id;
END;
$$;
COMMENT ON PROCEDURE dwh_etl.ingest_json(text, jsonb, text, uuid, bigint) IS 'Land a JSON payload (array of objects, {"data": [...] or {...}}, or one object) in a bronze table, values as text, with batch id, time and source; elements that cannot be rows are quarantined with their reason; logged as an ingestion.';
