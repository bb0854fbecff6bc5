-- depends: 0012_runner_robustness
-- Files (issue 13): CSV, TSV and JSON Lines land in the bronze tables with `dwh load TABLE FILE` or,
-- from psql, with `\copy` between CALL dwh_etl.file_begin(...) and CALL dwh_etl.file_end().
--
-- 1. dwh_etl.loaded_files: one row per file load (name, size, sha256, rows landed and rejected, batch,
--    status); the same content loaded twice into the same table is refused unless forced.
-- 2. Every bronze table gets _source_line: the line of its file a row came from, when a row was landed
--    from a file by the parsing (slow) path. The fast path (COPY straight into bronze) lands a file's rows
--    with consecutive _bronze_id values instead (file_begin locks the table against other writers), so
--    the line of a row is loaded_files.first_line + (_bronze_id - first_bronze_id) and costs nothing
--    per row. dwh_etl.file_line() resolves either; quarantine_rows puts it in front of the reasons.
-- 3. _batch_id and _source default to the load's batch and source label, read from session settings
--    that file_begin sets, so COPY's column list names only the file's columns. The default functions
--    are IMMUTABLE on purpose: the planner evaluates them once per statement (a COPY of a million rows
--    reads the settings once). Measured on 1M rows: current_setting() in the defaults cost 0.55 s per
--    load (the raw \copy of the file takes 1.25 s). Every writer other than a file load (extraction,
--    ingest_json, quarantine retry) names _batch_id and _source explicitly, so it never uses them.

CREATE TABLE dwh_etl.loaded_files (
    file_id          bigint GENERATED ALWAYS AS IDENTITY,
    target_table     text NOT NULL,
    file_name        text NOT NULL,
    source           text NOT NULL,
    format           text NOT NULL,
    size_bytes       bigint,
    sha256           text,
    rows_landed      bigint NOT NULL DEFAULT 0,
    rows_rejected    bigint NOT NULL DEFAULT 0,
    batch_id         uuid NOT NULL,
    first_line       integer NOT NULL DEFAULT 2,
    first_bronze_id  bigint,
    is_forced        boolean NOT NULL DEFAULT false,
    status           text NOT NULL DEFAULT 'loading',
    error            text,
    started_at       timestamptz NOT NULL DEFAULT now(),
    loaded_at        timestamptz,
    loaded_by        text NOT NULL DEFAULT session_user,
    CONSTRAINT loaded_files_pk PRIMARY KEY (file_id),
    CONSTRAINT loaded_files_status_ck CHECK (status IN ('loading', 'loaded', 'skipped', 'failed')),
    CONSTRAINT loaded_files_format_ck CHECK (format IN ('csv', 'tsv', 'jsonl')),
    CONSTRAINT loaded_files_sha256_ck CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    CONSTRAINT loaded_files_rows_ck CHECK (rows_landed >= 0 AND rows_rejected >= 0)
);
CREATE UNIQUE INDEX loaded_files_batch_uq ON dwh_etl.loaded_files (batch_id);
-- the duplicate check's guarantee: one unforced load of a content per table (an empty file, whose
-- sha256 is that of no bytes, lands nothing and is never a duplicate)
CREATE UNIQUE INDEX loaded_files_content_uq ON dwh_etl.loaded_files (target_table, sha256)
    WHERE status = 'loaded' AND NOT is_forced
      AND sha256 <> 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
CREATE INDEX loaded_files_started_idx ON dwh_etl.loaded_files (started_at);
COMMENT ON TABLE dwh_etl.loaded_files IS 'Every file load into bronze (dwh load, or \copy between dwh_etl.file_begin and file_end): name, size, sha256 of the bytes read, rows landed and rejected, batch, status. The same content loaded twice into one table is refused (DW030) unless forced.';
COMMENT ON COLUMN dwh_etl.loaded_files.sha256 IS 'sha256 of the bytes as read (a .gz file: of the compressed bytes), lowercase hex; the identity of the content for the duplicate check.';
COMMENT ON COLUMN dwh_etl.loaded_files.batch_id IS 'The _batch_id of the rows this load landed (bronze) and of its quarantined lines.';
COMMENT ON COLUMN dwh_etl.loaded_files.first_line IS 'Line of the file that holds its first data record (2 after a header line, else 1).';
COMMENT ON COLUMN dwh_etl.loaded_files.first_bronze_id IS 'Set when the rows landed with consecutive _bronze_id values: the line of a row is first_line + (_bronze_id - first_bronze_id). NULL: each row carries its line in _source_line.';
COMMENT ON COLUMN dwh_etl.loaded_files.status IS 'loading (begun, not ended: a psql load in progress or abandoned), loaded, skipped (same content already loaded), failed (error holds why).';
COMMENT ON COLUMN dwh_etl.loaded_files.loaded_by IS 'session_user of the load.';
-- run state, not registry: etl_service loads files (0008 made new dwh_etl tables read-only by default);
-- deleting an entry lets its content be loaded again without --force
GRANT SELECT, INSERT, UPDATE, DELETE ON dwh_etl.loaded_files TO etl_service;

-- Defaults of a file load (see 3. above). Defined here, not in procedures/, because the column defaults
-- below reference them.
CREATE OR REPLACE FUNCTION dwh_etl.file_batch_id()
RETURNS uuid
LANGUAGE sql
IMMUTABLE
SET search_path = dwh_etl, pg_temp
AS $$
    SELECT NULLIF(pg_catalog.current_setting('dwh.file_batch_id', true), '')::uuid;
$$;
REVOKE EXECUTE ON FUNCTION dwh_etl.file_batch_id() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl.file_batch_id() TO etl_service;
COMMENT ON FUNCTION dwh_etl.file_batch_id() IS 'Default of bronze _batch_id: the batch of the file load in progress in this session (set by dwh_etl.file_begin), NULL otherwise. IMMUTABLE on purpose: evaluated once per statement, not per row.';

CREATE OR REPLACE FUNCTION dwh_etl.file_source()
RETURNS text
LANGUAGE sql
IMMUTABLE
SET search_path = dwh_etl, pg_temp
AS $$
    SELECT NULLIF(pg_catalog.current_setting('dwh.file_source', true), '');
$$;
REVOKE EXECUTE ON FUNCTION dwh_etl.file_source() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl.file_source() TO etl_service;
COMMENT ON FUNCTION dwh_etl.file_source() IS 'Default of bronze _source: the source label of the file load in progress in this session (set by dwh_etl.file_begin), NULL otherwise. IMMUTABLE on purpose: evaluated once per statement, not per row.';

DO $bronze$
DECLARE
    v_table regclass;
BEGIN
    FOR v_table IN
        SELECT c.oid::regclass
        FROM pg_catalog.pg_class AS c
        JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
        WHERE n.nspname = 'bronze'
          AND c.relkind IN ('r', 'p')
          AND EXISTS (SELECT 1 FROM pg_catalog.pg_attribute AS a
                      WHERE a.attrelid = c.oid AND a.attname = '_batch_id' AND NOT a.attisdropped)
        ORDER BY 1
    LOOP
        -- no default on _source_line: adding the column rewrites nothing
        EXECUTE format('ALTER TABLE %s ADD COLUMN IF NOT EXISTS _source_line bigint, '
                       'ALTER COLUMN _batch_id SET DEFAULT dwh_etl.file_batch_id(), '
                       'ALTER COLUMN _source SET DEFAULT dwh_etl.file_source()', v_table);
        EXECUTE format('COMMENT ON COLUMN %s._source_line IS %L', v_table,
                       'Line of its file a row was landed from by the parsing path of a file load; NULL otherwise (see dwh_etl.file_line).');
    END LOOP;
END
$bronze$;
