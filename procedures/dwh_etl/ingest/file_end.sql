-- Ends the file load begun by dwh_etl.file_begin in this session (or p_file_id): counts what landed,
-- refuses a content already loaded into the table (DW030, unless the load was forced: the caller rolls
-- back, nothing lands), seals the landing table into a child of the bronze table
-- (dwh_etl.sec_file_seal: its rows become visible with the parent's when this transaction commits),
-- marks the load 'loaded', logs the ingestion in the lineage and clears the session's load settings.
-- p_rows: the row count of the caller's COPY (dwh load passes it); NULL counts the batch's rows
-- (the psql recipe). Rows of one COPY into the landing table (or, under file_begin's lock, into the
-- bronze table) have consecutive _bronze_id values:
-- first_bronze_id is recorded so dwh_etl.file_line finds each row's line. p_lines_in_rows: the rows
-- carry their line in _source_line (dwh load's parsing path), the ids are not used.
CREATE OR REPLACE PROCEDURE dwh_etl.file_end(
    p_file_id       bigint DEFAULT NULL,
    p_rows          bigint DEFAULT NULL,
    p_size          bigint DEFAULT NULL,
    p_sha256        text DEFAULT NULL,
    p_lines_in_rows boolean DEFAULT false,
    INOUT p_status  text DEFAULT NULL
)
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_id    bigint := COALESCE(p_file_id, NULLIF(current_setting('dwh.file_id', true), '')::bigint);
    v_file  dwh_etl.loaded_files%ROWTYPE;
    v_sha   text := lower(btrim(p_sha256));
    v_rows  bigint := p_rows;
    v_first bigint;
    v_min   bigint;
    v_max   bigint;
    v_prows bigint;
    v_pmin  bigint;
    v_pmax  bigint;
    v_dup   bigint;
BEGIN
    SELECT * INTO v_file FROM dwh_etl.loaded_files AS f WHERE f.file_id = v_id FOR UPDATE;
    IF NOT FOUND OR v_file.status <> 'loading' THEN
        RAISE EXCEPTION 'no file load in progress%', COALESCE(' (file ' || v_id || ' is ' || v_file.status || ')', '')
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'CALL dwh_etl.file_begin(...) first, in the same session';
    END IF;
    IF v_sha IS NOT NULL AND v_sha !~ '^[0-9a-f]{64}$' THEN
        RAISE EXCEPTION 'p_sha256 % is not a sha256 (64 hex digits)', quote_literal(p_sha256)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    v_sha := COALESCE(v_sha, v_file.sha256);

    IF v_sha IS NOT NULL AND NOT v_file.is_forced THEN
        v_dup := dwh_etl._file_duplicate(v_file.target_table, v_sha, v_id);
        IF v_dup IS NOT NULL THEN
            PERFORM dwh_etl._file_duplicate_error(v_file.file_name, v_file.target_table, v_dup);
        END IF;
    END IF;

    IF v_rows IS NULL THEN
        -- the psql recipe: count what it copied into the landing table, and what a \copy into the bronze
        -- table itself landed there (its rows were ingested after file_begin, with the batch's default)
        IF to_regclass(v_file.landed_in) IS NOT NULL THEN
            EXECUTE format('SELECT count(*), min(b._bronze_id), max(b._bronze_id) FROM %s AS b', to_regclass(v_file.landed_in))
            INTO v_rows, v_min, v_max;
        END IF;
        EXECUTE format('SELECT count(*), min(b._bronze_id), max(b._bronze_id) FROM ONLY %s AS b
                        WHERE b._batch_id = $1 AND b._ingested_at >= $2 AND b._source_line IS NULL',
                       to_regclass(v_file.target_table))
        INTO v_prows, v_pmin, v_pmax
        USING v_file.batch_id, v_file.started_at;
        IF COALESCE(v_rows, 0) = 0 THEN
            v_rows := v_prows;
            v_min := v_pmin;
            v_max := v_pmax;
        ELSIF v_prows > 0 THEN
            v_rows := v_rows + v_prows;
            v_max := NULL;
        END IF;
        IF v_rows > 0 AND v_max - v_min + 1 = v_rows THEN
            v_first := v_min;
        ELSIF v_rows > 0 THEN
            RAISE NOTICE 'file %: its rows are not consecutive in % (another writer inserted during the copy): lines of its rows are unknown',
                         v_id, v_file.target_table
                USING HINT = 'run file_begin, \copy and file_end in one transaction (psql -1) so file_begin''s lock holds';
        END IF;
    ELSIF v_rows > 0 AND NOT p_lines_in_rows THEN
        -- the COPY that just ran in this session drew the last ids: currval is its last row
        v_first := currval(pg_catalog.pg_get_serial_sequence(COALESCE(v_file.landed_in, v_file.target_table), '_bronze_id')) - v_rows + 1;
    END IF;

    -- the landing table becomes a child of the bronze table (or is dropped when empty)
    IF to_regclass(v_file.landed_in) IS NOT NULL THEN
        PERFORM dwh_etl.sec_file_seal(v_id);
    END IF;

    UPDATE dwh_etl.loaded_files AS f
    SET status          = 'loaded',
        rows_landed     = v_rows,
        size_bytes      = COALESCE(p_size, f.size_bytes),
        sha256          = v_sha,
        first_bronze_id = v_first,
        loaded_at       = clock_timestamp()
    WHERE f.file_id = v_id;

    PERFORM dwh_lineage.log_ingestion(v_file.target_table, v_file.batch_id, v_file.source, v_rows);
    PERFORM set_config('dwh.file_id', '', false),
            set_config('dwh.file_batch_id', '', false),
            set_config('dwh.file_source', '', false);
    RAISE NOTICE 'file %: % row(s) of % landed in % (batch %)%', v_id, v_rows, v_file.file_name, v_file.target_table,
                 v_file.batch_id,
                 CASE WHEN v_file.rows_rejected > 0
                      THEN format('; %s line(s) quarantined (dwh_etl.quarantine)', v_file.rows_rejected) ELSE '' END;
    p_status := 'loaded';
END;
$$;
REVOKE EXECUTE ON PROCEDURE dwh_etl.file_end(bigint, bigint, bigint, text, boolean, text) FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE dwh_etl.file_end(bigint, bigint, bigint, text, boolean, text) TO etl_service;
COMMENT ON PROCEDURE dwh_etl.file_end(bigint, bigint, bigint, text, boolean, text) IS 'End a file load begun by dwh_etl.file_begin: count its rows, refuse a content already loaded (DW030, unless forced), mark it loaded, log the ingestion, clear the session''s load settings.';
