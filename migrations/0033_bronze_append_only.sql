-- depends: 0032_scd_guard
-- Issue 18 (seed 002: "bronze is immutable, append-only"): nobody, the ETL role included, updates or
-- deletes bronze rows; they leave bronze only through retention (dwh_etl.sec_purge_bronze, called by the
-- maintenance step `retention` for a setting retention.bronze.<table>, and by the raw-payload purge of citizen).
--   1. etl_service loses UPDATE, DELETE and TRUNCATE on every bronze table, now and for tables created
--      later (default privileges of the owner). It keeps SELECT and INSERT (extraction, file landing,
--      CDC, quarantine retry all append).
--   2. A statement-level trigger on every bronze table refuses UPDATE, DELETE and TRUNCATE by anyone,
--      the owner included, unless dwh_etl.sec_purge_bronze (SECURITY DEFINER) is the one deleting: it sets
--      dwh_etl.bronze_purge to the table for its own statement. A superuser can still do anything; the
--      trigger stops mistakes, not a superuser. Statement-level: nothing per row on INSERT or COPY.
--   3. dwh_etl.create_bronze installs the trigger on the tables it creates (redefined in procedures/).

CREATE OR REPLACE FUNCTION dwh_etl.trg_bronze_append_only()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
BEGIN
    IF current_setting('dwh_etl.bronze_purge', true) IS DISTINCT FROM format('%I.%I', TG_TABLE_SCHEMA, TG_TABLE_NAME) THEN
        RAISE EXCEPTION 'bronze is append-only: % on %.% refused', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'rows leave bronze only by retention (setting retention.<bronze table>, dwh_etl.sec_purge_bronze); a wrong row is corrected by delivering the record again';
    END IF;
    RETURN NULL;
END;
$$;
REVOKE ALL ON FUNCTION dwh_etl.trg_bronze_append_only() FROM PUBLIC;
COMMENT ON FUNCTION dwh_etl.trg_bronze_append_only() IS 'Statement trigger of every bronze table: refuses UPDATE, DELETE and TRUNCATE (bronze is append-only) unless dwh_etl.sec_purge_bronze is deleting from that table.';

CREATE OR REPLACE PROCEDURE dwh_etl.bronze_append_only(p_table regclass)
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class AS c
                   WHERE c.oid = p_table AND c.relkind = 'r' AND c.relnamespace = 'bronze'::regnamespace) THEN
        RAISE EXCEPTION 'bronze_append_only: % is not a table of schema bronze', p_table
            USING ERRCODE = 'wrong_object_type';
    END IF;
    EXECUTE format('CREATE OR REPLACE TRIGGER bronze_append_only BEFORE UPDATE OR DELETE ON %s '
                   'FOR EACH STATEMENT EXECUTE FUNCTION dwh_etl.trg_bronze_append_only()', p_table);
    EXECUTE format('CREATE OR REPLACE TRIGGER bronze_append_only_truncate BEFORE TRUNCATE ON %s '
                   'FOR EACH STATEMENT EXECUTE FUNCTION dwh_etl.trg_bronze_append_only()', p_table);
    EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE ON %s FROM etl_service', p_table);
END;
$$;
REVOKE ALL ON PROCEDURE dwh_etl.bronze_append_only(regclass) FROM PUBLIC;
COMMENT ON PROCEDURE dwh_etl.bronze_append_only(regclass) IS 'Make a bronze table append-only: the trigger refusing UPDATE/DELETE/TRUNCATE, and no UPDATE/DELETE/TRUNCATE for etl_service. For migrations (dwh_etl.create_bronze calls it); owner only.';

-- create_bronze as in 0025, plus the append-only call at its end
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
    IF p_comment IS NOT NULL THEN
        EXECUTE format('COMMENT ON TABLE %s IS %L', v_rel, p_comment);
    END IF;
    -- append-only (migration 0033): no UPDATE/DELETE/TRUNCATE but through retention
    CALL dwh_etl.bronze_append_only(v_rel);
END;
$$;
COMMENT ON PROCEDURE dwh_etl.create_bronze(text, text[], text, text, text) IS 'Create (or bring up to date) a bronze table: _bronze_id, the given columns (or those of p_like, names matching p_exclude left out) as text, _batch_id, _ingested_at, _source, _source_line, the file-load defaults, the _ingested_at index, append-only (dwh_etl.bronze_append_only). For migrations; owner only.';
REVOKE EXECUTE ON PROCEDURE dwh_etl.create_bronze(text, text[], text, text, text) FROM PUBLIC;

-- every bronze table there is (file-load children and landing tables are not: children are read-only
-- for etl_service already and leave bronze whole, by compaction)
DO $$
DECLARE
    v_rel regclass;
BEGIN
    FOR v_rel IN
        SELECT c.oid::regclass
        FROM pg_catalog.pg_class AS c
        WHERE c.relnamespace = 'bronze'::regnamespace
          AND c.relkind = 'r'
          AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_inherits AS i WHERE i.inhrelid = c.oid)
          AND c.relname !~ '_landing$'
        ORDER BY c.relname
    LOOP
        CALL dwh_etl.bronze_append_only(v_rel);
    END LOOP;
END;
$$;
ALTER DEFAULT PRIVILEGES IN SCHEMA bronze REVOKE UPDATE, DELETE, TRUNCATE ON TABLES FROM etl_service;
