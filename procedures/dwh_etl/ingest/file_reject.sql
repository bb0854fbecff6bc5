-- Quarantines the lines of a file that could not even be landed in its bronze table (a wrong number of
-- fields, bytes that are not valid in the file's encoding, a NUL byte, a JSON line that is not an
-- object or not JSON), each with its line number and reason: `dwh load`'s parsing path sends them in
-- batches (arrays of the same length). They never fail the file; the other lines land.
-- Entry: target_table = the bronze table, source_table = 'dwh_etl.file_reject' (not replayable by
-- `dwh quarantine retry`: nothing can land it), record_key = md5 of the line, payload = {"raw": the line,
-- "_file", "_line", "_file_id", "_batch_id", "_source"}, reason "file F line N: ...". One open entry per
-- line content: the same bad line delivered again (a forced reload) counts a delivery.
-- Example: SELECT dwh_etl.file_reject(12, ARRAY[7], ARRAY['has 3 fields, expected 11'], ARRAY['1,2,3']);
CREATE OR REPLACE FUNCTION dwh_etl.file_reject(
    p_file_id bigint,
    p_lines   bigint[],
    p_reasons text[],
    p_raw     text[]
)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_file dwh_etl.loaded_files%ROWTYPE;
    v_run  record := dwh_lineage._current_run();
    v_n    bigint;
BEGIN
    SELECT * INTO v_file FROM dwh_etl.loaded_files AS f WHERE f.file_id = p_file_id;
    IF NOT FOUND OR v_file.status <> 'loading' THEN
        RAISE EXCEPTION 'file load % is not in progress', COALESCE(p_file_id::text, 'NULL')
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF cardinality(p_lines) IS DISTINCT FROM cardinality(p_reasons) OR cardinality(p_lines) IS DISTINCT FROM cardinality(p_raw) THEN
        RAISE EXCEPTION 'p_lines, p_reasons and p_raw must have the same length (% / % / %)',
                        cardinality(p_lines), cardinality(p_reasons), cardinality(p_raw)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    INSERT INTO dwh_etl.quarantine AS q (target_table, source_table, record_key, payload, reasons, run_id, batch_id, deliveries)
    SELECT DISTINCT ON (md5(r.raw))
           v_file.target_table, 'dwh_etl.file_reject', md5(r.raw),
           jsonb_build_object('raw', r.raw, '_file', v_file.file_name, '_line', r.line, '_file_id', v_file.file_id,
                              '_batch_id', v_file.batch_id, '_source', v_file.source),
           ARRAY[format('file %s line %s: %s', v_file.file_name, r.line, COALESCE(r.reason, 'rejected'))],
           v_run.run_id, v_file.batch_id, count(*) OVER (PARTITION BY md5(r.raw))
    FROM unnest(p_lines, p_reasons, COALESCE(p_raw, '{}')) AS r (line, reason, raw)
    ORDER BY md5(r.raw), r.line
    ON CONFLICT (fingerprint) WHERE resolved_at IS NULL DO UPDATE
    SET deliveries        = q.deliveries + EXCLUDED.deliveries,
        last_delivered_at = now(),
        payload           = EXCLUDED.payload,
        reasons           = EXCLUDED.reasons,
        run_id            = EXCLUDED.run_id,
        batch_id          = EXCLUDED.batch_id;
    v_n := COALESCE(cardinality(p_lines), 0);

    UPDATE dwh_etl.loaded_files AS f
    SET rows_rejected = f.rows_rejected + v_n
    WHERE f.file_id = p_file_id;
    RETURN v_n;
END;
$$;
REVOKE EXECUTE ON FUNCTION dwh_etl.file_reject(bigint, bigint[], text[], text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl.file_reject(bigint, bigint[], text[], text[]) TO etl_service;
COMMENT ON FUNCTION dwh_etl.file_reject(bigint, bigint[], text[], text[]) IS 'Quarantine lines of a file load in progress that cannot be landed, with line number and reason; counts them in dwh_etl.loaded_files.rows_rejected.';
