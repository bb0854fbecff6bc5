-- Folds the sealed child of one file load (bronze.<table>_f<file_id>, see dwh_etl.sec_file_seal) into
-- the month partition of its bronze table (bronze.<table>_pYYYYMM of the load's ingestion time, see
-- dwh_etl._bronze_period): INSERT the child's rows there, same _bronze_id, _batch_id, _ingested_at,
-- _source and _source_line, then DROP the child. Readers see the same rows before and
-- after (the move is one transaction; the table's ids, windows on _ingested_at and lines of quarantined
-- rows do not change). What it costs is what the load did not pay: the table's primary key and
-- _ingested_at index (the month partition's) are maintained for these rows now, in the maintenance window, instead of during the
-- load. Why fold at all: every child is one more relation to plan and lock for each read of the table
-- (hourly loads would make 8,760 a year).
-- SECURITY DEFINER (DROP and the insert into bronze need the owner): p_file_id must be a load whose rows
-- are in a sealed child of its target table, as dwh_etl.loaded_files records; the table and the child's
-- names are derived from that row, not taken from the caller. Returns the rows moved (NULL: nothing to
-- fold, e.g. folded already).
CREATE OR REPLACE FUNCTION dwh_etl.sec_compact_file_load(
    p_file_id bigint
)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_file   record;
    v_parent regclass;
    v_child  regclass;
    v_cols   text;
    v_rows   bigint;
    v_at     timestamptz;
BEGIN
    SELECT f.file_id, f.target_table, f.status, f.landed_in
    INTO v_file
    FROM dwh_etl.loaded_files AS f
    WHERE f.file_id = p_file_id
    FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no file load %', COALESCE(p_file_id::text, 'NULL')
            USING ERRCODE = 'no_data_found';
    END IF;
    IF v_file.status <> 'loaded' OR v_file.landed_in IS NULL THEN
        RETURN NULL;
    END IF;
    v_parent := to_regclass((dwh_etl.file_target_columns(v_file.target_table)).target);
    v_child := to_regclass(v_file.landed_in);
    IF v_child IS NULL OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_inherits AS i
                                      WHERE i.inhrelid = v_child AND i.inhparent = v_parent) THEN
        RAISE EXCEPTION 'file load %: % is not a child of %', p_file_id, v_file.landed_in, v_parent
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'dwh_etl.loaded_files.landed_in names the table holding the load''s rows';
    END IF;
    -- the file-load lock (file_begin's) keeps loads out; readers go on reading the parent and the child
    EXECUTE format('LOCK TABLE ONLY %s IN SHARE ROW EXCLUSIVE MODE', v_parent);
    SELECT string_agg(format('%I', a.attname), ', ' ORDER BY a.attnum)
    INTO v_cols
    FROM pg_catalog.pg_attribute AS a
    WHERE a.attrelid = v_parent AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '';
    -- every row of a load has the one ingestion time of its load
    EXECUTE format('SELECT _ingested_at FROM ONLY %s LIMIT 1', v_child) INTO v_at;
    IF v_at IS NULL THEN
        v_rows := 0;
    ELSE
        EXECUTE format('INSERT INTO %s (%s) OVERRIDING SYSTEM VALUE SELECT %s FROM ONLY %s',
                       dwh_etl._bronze_period(v_parent, v_at), v_cols, v_cols, v_child);
        GET DIAGNOSTICS v_rows = ROW_COUNT;
    END IF;
    EXECUTE format('DROP TABLE %s', v_child);
    UPDATE dwh_etl.loaded_files AS f
    SET landed_in = NULL
    WHERE f.file_id = p_file_id;
    RETURN v_rows;
END;
$$;
REVOKE ALL ON FUNCTION dwh_etl.sec_compact_file_load(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl.sec_compact_file_load(bigint) TO etl_service;
COMMENT ON FUNCTION dwh_etl.sec_compact_file_load(bigint) IS 'SECURITY DEFINER: move the rows of a file load''s sealed child (bronze.<table>_f<file_id>) into the month partition of its bronze table, ids and landing columns unchanged, and drop the child; returns the rows moved (NULL when nothing is left to fold).';
