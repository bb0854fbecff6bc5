-- Begins a file load into a bronze table: what `dwh load` does first, and what a DBA calls before a
-- `\copy` into the load's landing table (README, "Loading files"):
--   CALL dwh_etl.file_begin(p_target => 'bronze.sales_sales', p_file_name => 'sales.csv', p_sha256 => '...');
--   \copy bronze.sales_sales_landing (sale_id, ...) FROM 'sales.csv' WITH (FORMAT csv, HEADER)
--   CALL dwh_etl.file_end();
-- It creates that landing table (dwh_etl.sec_file_landing: the file's columns and _bronze_id, no index;
-- file_end makes it a child of the bronze table, see migration 0027). A \copy into the bronze table
-- itself still works, row by row through its indexes.
-- It validates the table, records the load in dwh_etl.loaded_files (status loading) with a new batch
-- id, and sets the session settings the bronze defaults read (dwh.file_batch_id, dwh.file_source), so
-- the copy names only the file's columns. It locks the table against other writers (SHARE ROW
-- EXCLUSIVE, until the transaction ends; readers are not blocked): the rows of one COPY then get
-- consecutive _bronze_id values, which is how file_end and dwh_etl.file_line know each row's line
-- without storing it per row. When p_sha256 is given and that content is already loaded into the
-- table, DW030 is raised (unless p_force): run the recipe with ON_ERROR_STOP and nothing lands.
CREATE OR REPLACE PROCEDURE dwh_etl.file_begin(
    p_target    text,
    p_file_name text,
    p_source    text DEFAULT NULL,
    p_format    text DEFAULT 'csv',
    p_header    boolean DEFAULT true,
    p_size      bigint DEFAULT NULL,
    p_sha256    text DEFAULT NULL,
    p_force     boolean DEFAULT false,
    INOUT p_file_id bigint DEFAULT NULL
)
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_target text := (dwh_etl.file_target_columns(p_target)).target;
    v_sha    text := lower(btrim(p_sha256));
    v_source text := COALESCE(NULLIF(btrim(p_source), ''), 'file:' || p_file_name);
    v_batch  uuid := gen_random_uuid();
    v_dup    bigint;
BEGIN
    IF p_file_name IS NULL OR btrim(p_file_name) = '' THEN
        RAISE EXCEPTION 'a file load needs a file name' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_format IS NULL OR p_format NOT IN ('csv', 'tsv', 'jsonl') THEN
        RAISE EXCEPTION 'unknown file format %', quote_literal(COALESCE(p_format, 'NULL'))
            USING ERRCODE = 'invalid_parameter_value', HINT = 'csv, tsv or jsonl';
    END IF;
    IF v_sha IS NOT NULL AND v_sha !~ '^[0-9a-f]{64}$' THEN
        RAISE EXCEPTION 'p_sha256 % is not a sha256 (64 hex digits)', quote_literal(p_sha256)
            USING ERRCODE = 'invalid_parameter_value', HINT = 'sha256sum FILE | cut -d'' '' -f1';
    END IF;

    -- loads of one table, one at a time from here to their commit: the duplicate check below sees the
    -- loads committed before. An advisory lock on the table (not LOCK TABLE: SHARE ROW EXCLUSIVE needs
    -- UPDATE or DELETE on it, which etl_service has not: bronze is append-only, migration 0033);
    -- dwh_etl.sec_file_landing then takes the table's own lock, as the owner.
    PERFORM pg_catalog.pg_advisory_xact_lock((pg_catalog.hashtext('dwh_etl.file_begin')::bigint << 32) | to_regclass(v_target)::oid::bigint);
    IF v_sha IS NOT NULL AND NOT p_force THEN
        v_dup := dwh_etl._file_duplicate(v_target, v_sha);
        IF v_dup IS NOT NULL THEN
            PERFORM dwh_etl._file_duplicate_error(p_file_name, v_target, v_dup);
        END IF;
    END IF;

    INSERT INTO dwh_etl.loaded_files (target_table, file_name, source, format, size_bytes, sha256, batch_id,
                                      first_line, is_forced)
    VALUES (v_target, p_file_name, v_source, p_format, p_size, v_sha, v_batch,
            CASE WHEN p_header AND p_format <> 'jsonl' THEN 2 ELSE 1 END, COALESCE(p_force, false))
    RETURNING file_id INTO p_file_id;

    PERFORM dwh_etl.sec_file_landing(p_file_id);
    PERFORM set_config('dwh.file_id', p_file_id::text, false),
            set_config('dwh.file_batch_id', v_batch::text, false),
            set_config('dwh.file_source', v_source, false);
END;
$$;
REVOKE EXECUTE ON PROCEDURE dwh_etl.file_begin(text, text, text, text, boolean, bigint, text, boolean, bigint) FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE dwh_etl.file_begin(text, text, text, text, boolean, bigint, text, boolean, bigint) TO etl_service;
COMMENT ON PROCEDURE dwh_etl.file_begin(text, text, text, text, boolean, bigint, text, boolean, bigint) IS 'Begin a file load into a bronze table: validate, lock the table against other writers, record it in dwh_etl.loaded_files, create its landing table bronze.<table>_landing, set the batch and source the bronze defaults use; DW030 when p_sha256 is already loaded (unless p_force).';
