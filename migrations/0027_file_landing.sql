-- depends: 0026_mart_dates
-- File landing without row-by-row index maintenance (issue 13, Performance: `dwh load` at >= 70% of a raw
-- \copy). Measured per 1M rows on a 1.3 s raw copy, a COPY into a bronze table paid +0.8 s for the
-- _bronze_id primary key, +0.85 s for the _ingested_at btree and +0.35 s for the identity: 0.34 of the
-- raw throughput. Since this migration a file load lands in a table of its own:
--
--   dwh_etl.file_begin creates bronze.<table>_landing (only the file's columns and _bronze_id, whose
--   default is a sequence of the load's own with a cache, over a block of ids reserved from the bronze
--   table's identity; no index, no constraint), the COPY writes there, and dwh_etl.file_end adds
--   _batch_id, _ingested_at and _source as constant column defaults (no row is rewritten: PostgreSQL
--   keeps them once, in the catalog, for the rows already there), builds one BRIN index on
--   (_ingested_at, _bronze_id) in a single pass, renames it bronze.<table>_f<file_id> and makes it an
--   inheritance child of the bronze table. Every reader of bronze.<table> (the silver steps, quarantine,
--   retry, extraction) reads the child with the parent, unchanged; until file_end commits, the child is
--   no child and its rows are seen by nobody.
--
-- Why a BRIN on both columns and nothing else: all rows of a child share one _ingested_at, so the window
-- read of a silver step (`_ingested_at >= $1 AND _ingested_at < $2`, a generic plan as often as not)
-- skips a child by reading a few BRIN pages, whatever the plan; the same index finds a row by _bronze_id
-- (quarantine_rows, devflow's join back to bronze) in 16 heap pages. Both in one scan of the child after
-- the COPY. The rows of a child are never written again (its INSERT/UPDATE/DELETE grants are revoked),
-- so the BRIN ranges stay tight. A btree primary key on the child would cost a sort; CHECK constraints a
-- validation scan and help only plans with constants.
--
-- This table records where a load's rows went; the bronze tables themselves are unchanged (other writers,
-- extraction, ingest_json, quarantine retry, insert into them as before, and a psql \copy into
-- bronze.<table> between file_begin and file_end still lands there, row by row).

ALTER TABLE dwh_etl.loaded_files
    ADD COLUMN landed_in text;
COMMENT ON COLUMN dwh_etl.loaded_files.landed_in IS 'The table holding the rows of this load: bronze.<table>_landing while it is loading, then bronze.<table>_f<file_id>, an inheritance child of target_table (NULL: the rows are in target_table itself, e.g. a psql \copy into it, or a load before migration 0027).';
COMMENT ON COLUMN dwh_etl.loaded_files.first_bronze_id IS 'Set when the rows landed with consecutive _bronze_id values (one COPY into the landing table, or into target_table under file_begin''s lock): the line of a row is first_line + (_bronze_id - first_bronze_id). NULL: each row carries its line in _source_line.';

-- The children of file loads are folded back into their tables by the maintenance pipeline
-- (dwh_etl.op_compact_bronze) once older than this.
INSERT INTO dwh_etl.settings (key, value, description)
VALUES ('bronze.compact_after', '1 day',
        'File loads land as inheritance children of their bronze table (fast, no index maintenance); the maintenance pipeline folds children older than this interval back into the table (dwh_etl.op_compact_bronze).')
ON CONFLICT (key) DO NOTHING;
