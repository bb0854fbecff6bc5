-- The landing table of a file load (migration 0027): bronze.<table>_landing, created by dwh_etl.file_begin
-- for the load it has just recorded, in the same transaction. `dwh load` and the psql recipe COPY the
-- file into it; dwh_etl.file_end seals it (dwh_etl.sec_file_seal) into a child of bronze.<table>.
-- Why a table of its own: a COPY into bronze.<table> maintains its primary key and _ingested_at btree row
-- by row and draws every _bronze_id from an uncached identity; here the COPY writes only the file's
-- columns and _bronze_id, with no index and no constraint to maintain:
--   * columns: the table's columns except the landing metadata (_batch_id, _source, added by the seal
--     as constant defaults, stored once; _source_arrived_at, unknown for a file: added NULL by the seal), in table order, plus _source_line when p_lines_in_rows (dwh
--     load's parsing path, which calls this again to recreate the table with it), and _ingested_at, this
--     transaction's start (as now() would have stamped each row), a constant default;
--   * the CHECKs the planner excludes the sealed child by (its one _ingested_at, its block of ids), made
--     here on the empty table: the COPY checks each row as it lands (measured: 1M rows 1.60 s copy +
--     0.18 s to validate the checks at the seal, against 1.56-1.73 s with them in the table);
--   * _bronze_id: a block of 2^32 ids is reserved from the table's identity (under the lock below, so
--     no other writer draws from it) and the landing table numbers its rows from an identity of its own
--     over that block, with a cache: the rows of one COPY get consecutive ids (the line of a row is
--     first_line + (_bronze_id - first_bronze_id)), ids stay unique across the table and its children,
--     and a row landed later has a higher id than the rows before it. The block stays the load's (its
--     child's id check covers it whole): 2^32 ids a load, of a bigint's 2^63;
-- One load per table at a time (the lock, SHARE ROW EXCLUSIVE, conflicts with itself and with other
-- writers, not with readers), so the name is fixed and a DBA's \copy can name it. A landing table left by
-- a load whose file_begin committed apart from its copy (psql without -1) is dropped here and that load
-- recorded failed: its rows were never visible.
-- SECURITY DEFINER (etl_service loads files but cannot create tables in bronze): the load must be in
-- progress and begun in this transaction, its target a registered bronze table (file_target_columns).
CREATE OR REPLACE FUNCTION dwh_etl.sec_file_landing(
    p_file_id       bigint,
    p_lines_in_rows boolean DEFAULT false
)
RETURNS text
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c_block   constant bigint := 4294967296;
    v_file    record;
    v_parent  regclass;
    v_nsp     name;
    v_rel     name;
    v_landing text;
    v_name    name;
    v_old     regclass;
    v_idseq   text;
    v_base    bigint;
    v_cols    text;
    v_child   name;
    v_stamp   text;
BEGIN
    SELECT f.file_id, f.target_table, f.status, f.started_at
    INTO v_file
    FROM dwh_etl.loaded_files AS f
    WHERE f.file_id = p_file_id;
    IF NOT FOUND OR v_file.status <> 'loading' OR v_file.started_at <> now() THEN
        RAISE EXCEPTION 'file load % was not begun in this transaction', COALESCE(p_file_id::text, 'NULL')
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'CALL dwh_etl.file_begin(...) creates the landing table';
    END IF;
    v_parent := to_regclass((dwh_etl.file_target_columns(v_file.target_table)).target);
    SELECT n.nspname, c.relname INTO v_nsp, v_rel
    FROM pg_catalog.pg_class AS c
    JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
    WHERE c.oid = v_parent;
    EXECUTE format('LOCK TABLE ONLY %I.%I IN SHARE ROW EXCLUSIVE MODE', v_nsp, v_rel);

    v_name := left(v_rel, 50) || '_landing';
    v_landing := format('%I.%I', v_nsp, v_name);
    v_old := to_regclass(v_landing);
    IF v_old IS NOT NULL THEN
        -- ours (nobody else creates tables in bronze) and never attached: a landing table has no parent
        IF EXISTS (SELECT 1 FROM pg_catalog.pg_inherits AS i WHERE i.inhrelid = v_old)
           OR EXISTS (SELECT 1 FROM dwh_etl.table_registry AS r WHERE to_regclass(r.table_name) = v_old) THEN
            RAISE EXCEPTION '% exists and is not a landing table', v_landing
                USING ERRCODE = 'duplicate_table';
        END IF;
        UPDATE dwh_etl.loaded_files AS f
        SET status = 'failed',
            error  = format('abandoned: file_begin, the copy and file_end did not run in one transaction; its landing table was dropped by file %s', p_file_id)
        WHERE f.landed_in = v_landing
          AND f.status = 'loading'
          AND f.file_id <> p_file_id;
        EXECUTE format('DROP TABLE %s', v_old);
    END IF;

    v_idseq := pg_catalog.pg_get_serial_sequence(format('%I.%I', v_nsp, v_rel), '_bronze_id');
    v_base := pg_catalog.nextval(v_idseq::regclass);
    PERFORM pg_catalog.setval(v_idseq::regclass, v_base + c_block - 1);

    SELECT string_agg(format('%I %s', a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod))
                      || CASE WHEN a.attcollation <> t.typcollation
                              THEN format(' COLLATE %I.%I', cn.nspname, co.collname) ELSE '' END,
                      ', ' ORDER BY a.attnum)
    INTO v_cols
    FROM pg_catalog.pg_attribute AS a
    JOIN pg_catalog.pg_type AS t ON t.oid = a.atttypid
    LEFT JOIN pg_catalog.pg_collation AS co ON co.oid = a.attcollation
    LEFT JOIN pg_catalog.pg_namespace AS cn ON cn.oid = co.collnamespace
    WHERE a.attrelid = v_parent
      AND a.attnum > 0
      AND NOT a.attisdropped
      AND a.attname NOT IN ('_bronze_id', '_batch_id', '_ingested_at', '_source', '_source_line', '_source_arrived_at');

    -- _bronze_id: an identity over the reserved block (cached), not a default calling nextval(): the
    -- executor draws an identity's values without the function call and its per-row privilege check
    -- (a COPY of 1M rows: 1.76-1.98 s with nextval(), 1.50-1.68 s with the identity, 1.54-1.77 s with
    -- no id at all; same session, interleaved). BY DEFAULT: a copy that lists _bronze_id meets the check.
    -- The two CHECKs the child is excluded by, made with the table (empty: nothing to scan) and checked
    -- by the COPY row by row; named after the child the seal makes (left(rel, 40) || '_f' || file id)
    v_child := left(v_rel, 40) || '_f' || p_file_id;
    v_stamp := to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00';
    EXECUTE format('CREATE TABLE %I.%I (_bronze_id bigint GENERATED BY DEFAULT AS IDENTITY '
                   '(START %s MINVALUE %s MAXVALUE %s CACHE 8192) '
                   'CONSTRAINT %I CHECK (_bronze_id BETWEEN %s AND %s), %s%s, '
                   '_ingested_at timestamptz NOT NULL DEFAULT %L::timestamptz CONSTRAINT %I CHECK (_ingested_at = %L::timestamptz))',
                   v_nsp, v_name, v_base, v_base, v_base + c_block - 1,
                   v_child || '_ids', v_base, v_base + c_block - 1, v_cols,
                   CASE WHEN p_lines_in_rows THEN ', _source_line bigint' ELSE '' END,
                   v_stamp, v_child || '_ingested', v_stamp);
    EXECUTE format('COMMENT ON TABLE %I.%I IS %L', v_nsp, v_name,
                   format('Landing table of file load %s into %I.%I (dwh_etl.file_begin); dwh_etl.file_end makes it a child of %I.%I.',
                          p_file_id, v_nsp, v_rel, v_nsp, v_rel));
    EXECUTE format('REVOKE ALL ON %I.%I FROM PUBLIC', v_nsp, v_name);
    EXECUTE format('GRANT SELECT, INSERT ON %I.%I TO etl_service', v_nsp, v_name);
    -- file_end reads currval() of it (the last id the COPY drew)
    EXECUTE format('GRANT USAGE, SELECT ON SEQUENCE %s TO etl_service',
                   pg_catalog.pg_get_serial_sequence(v_landing, '_bronze_id')::regclass);

    UPDATE dwh_etl.loaded_files AS f
    SET landed_in = v_landing
    WHERE f.file_id = p_file_id;
    RETURN v_landing;
END;
$$;
REVOKE ALL ON FUNCTION dwh_etl.sec_file_landing(bigint, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl.sec_file_landing(bigint, boolean) TO etl_service;
COMMENT ON FUNCTION dwh_etl.sec_file_landing(bigint, boolean) IS 'SECURITY DEFINER: create (or recreate, with _source_line) the landing table bronze.<table>_landing of the file load begun in this transaction, with its own cached id sequence over a reserved block of the table''s ids; returns its name.';
