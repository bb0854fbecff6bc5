-- Where a bronze row came from when a file load landed it: the load, the file name and the line. The
-- line is the row's _source_line (parsing path) or first_line + (_bronze_id - first_bronze_id) (fast
-- path: one COPY under file_begin's lock lands consecutive ids). No row when the batch is not a file
-- load (an extraction, ingest_json). dwh_etl.quarantine_rows puts "file F line N: " in front of the
-- reasons of such rows, so `dwh quarantine list` says where to look.
-- Example: SELECT * FROM dwh_etl.file_line(b._batch_id, b._bronze_id, b._source_line) FROM bronze.sales_sales AS b;
CREATE OR REPLACE FUNCTION dwh_etl.file_line(
    p_batch_id    uuid,
    p_bronze_id   bigint,
    p_source_line bigint,
    OUT file_id   bigint,
    OUT file_name text,
    OUT line      bigint
)
RETURNS SETOF record
LANGUAGE sql
STABLE
SET search_path = dwh_etl, pg_temp
AS $$
    SELECT f.file_id, f.file_name, COALESCE(p_source_line, f.first_line + (p_bronze_id - f.first_bronze_id))
    FROM dwh_etl.loaded_files AS f
    WHERE f.batch_id = p_batch_id;
$$;
REVOKE EXECUTE ON FUNCTION dwh_etl.file_line(uuid, bigint, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl.file_line(uuid, bigint, bigint) TO etl_service;
COMMENT ON FUNCTION dwh_etl.file_line(uuid, bigint, bigint) IS 'The file load, file name and line a bronze row (batch, _bronze_id, _source_line) was landed from; no row when its batch is not a file load.';
