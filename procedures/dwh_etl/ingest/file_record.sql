-- Records a file load that landed nothing: 'skipped' (its content was already loaded into the table,
-- DW030) or 'failed' (with the error). `dwh load` calls it after rolling its transaction back, so every
-- attempt is in dwh_etl.loaded_files, not only the loads that succeeded.
CREATE OR REPLACE FUNCTION dwh_etl.file_record(
    p_target    text,
    p_file_name text,
    p_status    text,
    p_error     text DEFAULT NULL,
    p_source    text DEFAULT NULL,
    p_format    text DEFAULT 'csv',
    p_size      bigint DEFAULT NULL,
    p_sha256    text DEFAULT NULL
)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_id bigint;
BEGIN
    IF p_status IS NULL OR p_status NOT IN ('skipped', 'failed') THEN
        RAISE EXCEPTION 'p_status must be skipped or failed, not %', quote_literal(COALESCE(p_status, 'NULL'))
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO dwh_etl.loaded_files (target_table, file_name, source, format, size_bytes, sha256, batch_id,
                                      status, error, loaded_at)
    VALUES (COALESCE(p_target, '?'), COALESCE(p_file_name, '?'),
            COALESCE(NULLIF(btrim(p_source), ''), 'file:' || COALESCE(p_file_name, '?')),
            CASE WHEN p_format IN ('csv', 'tsv', 'jsonl') THEN p_format ELSE 'csv' END,
            p_size, CASE WHEN lower(p_sha256) ~ '^[0-9a-f]{64}$' THEN lower(p_sha256) END, gen_random_uuid(),
            p_status, left(p_error, 2000), clock_timestamp())
    RETURNING file_id INTO v_id;
    RETURN v_id;
END;
$$;
REVOKE EXECUTE ON FUNCTION dwh_etl.file_record(text, text, text, text, text, text, bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl.file_record(text, text, text, text, text, text, bigint, text) TO etl_service;
COMMENT ON FUNCTION dwh_etl.file_record(text, text, text, text, text, text, bigint, text) IS 'Record a file load that landed nothing (skipped: already loaded; failed: with its error) in dwh_etl.loaded_files.';
