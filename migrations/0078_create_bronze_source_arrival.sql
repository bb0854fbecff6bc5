-- depends: 0075_drop_fact_sales_sale_id_idx
-- dwh_etl.create_bronze gives a bronze table _source_arrived_at too (docs17: a stranger adding an area by
-- docs/ADDING_AN_AREA.md). Migration 0049 added the column to the bronze tables of its time only, and the
-- areas created later added it by hand after create_bronze (0064, 0074); a new area following the guide
-- had none: its extraction dropped the source's arrival time and a record deleted and restored with its
-- old updated_at stayed deleted in silver and gold while the source held it (attack 9a's bug, back).
-- Every bronze table that lacks the column gets it here as well.
CREATE OR REPLACE PROCEDURE dwh_etl.create_bronze(
    p_table   text,
    p_columns text[] DEFAULT NULL,
    p_like    text DEFAULT NULL,
    p_comment text DEFAULT NULL,
    p_exclude text DEFAULT '^_'
)
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_schema text := split_part(p_table, '.', 1);
    v_name   text := split_part(p_table, '.', 2);
    v_cols   text[];
    v_rel    regclass;
BEGIN
    IF v_schema <> 'bronze' OR v_name = '' OR split_part(p_table, '.', 3) <> '' OR v_name !~ '^[a-z][a-z0-9_]*$' THEN
        RAISE EXCEPTION 'create_bronze: % is not bronze.<lower-case name>', quote_nullable(p_table)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_columns IS NOT NULL AND p_like IS NOT NULL THEN
        RAISE EXCEPTION 'create_bronze %: give the columns or a table to copy them from, not both', p_table
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    v_cols := p_columns;
    IF p_like IS NOT NULL THEN
        IF to_regclass(p_like) IS NULL THEN
            RAISE EXCEPTION 'create_bronze %: table % does not exist', p_table, p_like
                USING ERRCODE = 'undefined_table';
        END IF;
        SELECT array_agg(a.attname::text ORDER BY a.attnum) INTO v_cols
        FROM pg_catalog.pg_attribute AS a
        WHERE a.attrelid = to_regclass(p_like) AND a.attnum > 0 AND NOT a.attisdropped
          AND (p_exclude IS NULL OR a.attname !~ p_exclude);
    END IF;
    IF EXISTS (SELECT 1 FROM unnest(v_cols) AS c WHERE c !~ '^[a-z_][a-z0-9_]*$' OR c ~ '^_(bronze_id|batch_id|ingested_at|source|source_line)$') THEN
        RAISE EXCEPTION 'create_bronze %: column names must be lower-case identifiers other than the engine''s own', p_table
            USING ERRCODE = 'invalid_parameter_value', DETAIL = format('columns: %s', v_cols);
    END IF;

    v_rel := to_regclass(p_table);
    IF v_rel IS NULL THEN
        IF COALESCE(cardinality(v_cols), 0) = 0 THEN
            RAISE EXCEPTION 'create_bronze %: no columns', p_table USING ERRCODE = 'invalid_parameter_value';
        END IF;
        EXECUTE format(
            'CREATE TABLE bronze.%1$I (_bronze_id bigint GENERATED ALWAYS AS IDENTITY, %2$s, '
            '_batch_id uuid NOT NULL, _ingested_at timestamptz NOT NULL DEFAULT now(), _source text NOT NULL, '
            'CONSTRAINT %3$I PRIMARY KEY (_bronze_id))',
            v_name,
            (SELECT string_agg(format('%I text', c), ', ' ORDER BY o) FROM unnest(v_cols) WITH ORDINALITY AS t(c, o)),
            v_name || '_pk');
        EXECUTE format('CREATE INDEX %I ON bronze.%I (_ingested_at)', v_name || '_ingested_idx', v_name);
        v_rel := to_regclass(p_table);
    ELSIF v_cols IS NOT NULL THEN
        -- an existing table gains the columns it lacks (a source column added later), as text
        EXECUTE (SELECT 'ALTER TABLE ' || v_rel::text || ' '
                        || string_agg(format('ADD COLUMN IF NOT EXISTS %I text', c), ', ' ORDER BY o)
                 FROM unnest(v_cols) WITH ORDINALITY AS t(c, o));
    END IF;
    -- what every bronze table has for file loads (migration 0013): the line of its file a row came from,
    -- and the load's batch and source label as defaults (NULL outside a file load, so NOT NULL still
    -- catches a writer that forgets them)
    EXECUTE format('ALTER TABLE %s ADD COLUMN IF NOT EXISTS _source_line bigint, '
                   'ALTER COLUMN _batch_id SET DEFAULT dwh_etl.file_batch_id(), '
                   'ALTER COLUMN _source SET DEFAULT dwh_etl.file_source()', v_rel);
    EXECUTE format('COMMENT ON COLUMN %s._source_line IS %L', v_rel,
                   'Line of its file a row was landed from by the parsing path of a file load; NULL otherwise (see dwh_etl.file_line).');
    -- when the row arrived at the source (migration 0049): the extraction copies the source's arrival column
    -- into it, and the silver load orders a re-insert after its tombstone by it (a record deleted and
    -- restored with its old updated_at comes back); without it a new area's restores stayed deleted
    EXECUTE format('ALTER TABLE %s ADD COLUMN IF NOT EXISTS _source_arrived_at timestamptz', v_rel);
    EXECUTE format('COMMENT ON COLUMN %s._source_arrived_at IS %L', v_rel,
                   'When the row arrived at the source (its extraction window column, _dwh_arrived_at): orders a re-insert after its tombstone within one extraction. NULL when unknown (file loads, change events, JSON).');
    IF p_comment IS NOT NULL THEN
        EXECUTE format('COMMENT ON TABLE %s IS %L', v_rel, p_comment);
    END IF;
    -- append-only (migration 0033): no UPDATE/DELETE/TRUNCATE but through retention
    CALL dwh_etl.bronze_append_only(v_rel);
END;
$$;
COMMENT ON PROCEDURE dwh_etl.create_bronze(text, text[], text, text, text) IS 'Create (or bring up to date) a bronze table: _bronze_id, the given columns (or those of p_like, names matching p_exclude left out) as text, _batch_id, _ingested_at, _source, _source_line, _source_arrived_at (migration 0078), the file-load defaults, the _ingested_at index, append-only (dwh_etl.bronze_append_only). For migrations; owner only.';
REVOKE EXECUTE ON PROCEDURE dwh_etl.create_bronze(text, text[], text, text, text) FROM PUBLIC;

DO $$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT c.oid::regclass AS rel
        FROM pg_catalog.pg_class AS c
        WHERE c.relnamespace = 'bronze'::regnamespace
          AND c.relkind IN ('r', 'p')
          AND NOT c.relispartition
          AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_inherits AS i WHERE i.inhrelid = c.oid)
          AND EXISTS (SELECT 1 FROM pg_catalog.pg_attribute AS a
                      WHERE a.attrelid = c.oid AND a.attname = '_bronze_id' AND NOT a.attisdropped)
          AND EXISTS (SELECT 1 FROM pg_catalog.pg_attribute AS a
                      WHERE a.attrelid = c.oid AND a.attname = '_ingested_at' AND NOT a.attisdropped)
          AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute AS a
                          WHERE a.attrelid = c.oid AND a.attname = '_source_arrived_at' AND NOT a.attisdropped)
          AND c.relname !~ '_landing$'
        ORDER BY c.relname
    LOOP
        EXECUTE format('ALTER TABLE %s ADD COLUMN IF NOT EXISTS _source_arrived_at timestamptz', r.rel);
        EXECUTE format('COMMENT ON COLUMN %s._source_arrived_at IS %L', r.rel,
                       'When the row arrived at the source (its extraction window column, _dwh_arrived_at): orders a re-insert after its tombstone within one extraction. NULL when unknown (file loads, change events, JSON).');
    END LOOP;
END;
$$;
