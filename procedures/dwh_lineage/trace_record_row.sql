-- Per-record lineage (seed 002, issue 18): one row of a gold or silver table followed back, hop by hop, to
-- the bronze row it came from, and that row's raw payload. The walk uses the engine's own registry:
--   * a silver table loaded by a `silver` step: its row's _source_bronze_id is the _bronze_id of the row
--     of the load's bronze table (append-only: the id survives rebuilds of silver and gold);
--   * a fact or dimension table loaded by a `fact` / `dimension` step: its row's _source_bronze_id names
--     the same bronze row as the silver row it was built from; the silver table is the step's
--     lineage_source. A silver row since replaced by a later delivery of its key is reported as such, and
--     the walk still reaches the bronze row the gold row was built from.
-- in_key: the columns that pick the starting row(s), as JSON ({"sale_id": 42}; values in their text form,
-- read as the column's type); at most 100 rows (e.g. every version of a customer). in_column (or NULL):
-- the value to follow; each hop shows in `value` the columns of that table the value comes from
-- (dwh_lineage.column_upstream; a generated column is followed through the columns it is computed from).
-- A mart (aggregated rows) or a table no engine step loads has no per-record lineage: the hop says so.
-- Invoker rights: whoever traces must be allowed to read silver and bronze (the ETL role, a DBA).
-- The two-argument trace_record(table, batch_id) of the seed is the batch-level walk; this one is per row.
CREATE OR REPLACE FUNCTION dwh_lineage.trace_record(
    in_table_name text,
    in_key        jsonb,
    in_column     text
)
RETURNS TABLE (
    trace      integer,
    hop        integer,
    layer      text,
    table_name text,
    row_data   jsonb,
    value      jsonb,
    note       text
)
LANGUAGE plpgsql
STABLE
SET search_path = dwh_lineage, pg_temp
AS $$
DECLARE
    v_rel      regclass := to_regclass(in_table_name);
    v_where    text;
    v_missing  text;
    v_cols     text[];
    v_start    jsonb;
    v_n        integer := 0;
    v_table    regclass;
    v_data     jsonb;
    v_bid      bigint;
    v_next     regclass;
    v_bronze   regclass;
    v_hop      integer;
    v_found    jsonb;
BEGIN
    IF v_rel IS NULL THEN
        RAISE EXCEPTION 'table % does not exist', quote_literal(in_table_name)
            USING ERRCODE = 'undefined_table';
    END IF;
    IF jsonb_typeof(in_key) IS DISTINCT FROM 'object' OR in_key = '{}'::jsonb THEN
        RAISE EXCEPTION 'the key must be a JSON object of column values, e.g. {"sale_id": 42} (got %)', COALESCE(in_key::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT string_agg(quote_ident(k.key), ', ' ORDER BY k.key) INTO v_missing
    FROM jsonb_object_keys(in_key) AS k (key)
    WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute AS a
                      WHERE a.attrelid = v_rel AND a.attname = k.key AND a.attnum > 0 AND NOT a.attisdropped);
    IF v_missing IS NOT NULL THEN
        RAISE EXCEPTION '% has no column(s) %', v_rel, v_missing USING ERRCODE = 'undefined_column';
    END IF;
    IF in_column IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute AS a
                                             WHERE a.attrelid = v_rel AND a.attname = in_column AND a.attnum > 0 AND NOT a.attisdropped) THEN
        RAISE EXCEPTION '% has no column %', v_rel, quote_ident(in_column) USING ERRCODE = 'undefined_column';
    END IF;
    -- each key value read as its column's type (NULL matches NULL)
    SELECT string_agg(format('t.%1$I IS NOT DISTINCT FROM ($1->>%2$L)::%3$s', a.attname, a.attname, format_type(a.atttypid, a.atttypmod)), ' AND ')
    INTO v_where
    FROM pg_catalog.pg_attribute AS a
    WHERE a.attrelid = v_rel AND a.attnum > 0 AND NOT a.attisdropped AND in_key ? a.attname;
    -- the followed value, and for a generated column the columns it is computed from
    IF in_column IS NOT NULL THEN
        v_cols := ARRAY[in_column] || ARRAY(
            SELECT r.attname::text
            FROM pg_catalog.pg_attribute AS g
            JOIN pg_catalog.pg_attrdef AS ad ON ad.adrelid = v_rel AND ad.adnum = g.attnum
            JOIN pg_catalog.pg_depend AS d
              ON d.classid = 'pg_catalog.pg_attrdef'::regclass AND d.objid = ad.oid
             AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid = v_rel
             AND d.refobjsubid > 0 AND d.refobjsubid <> g.attnum
            JOIN pg_catalog.pg_attribute AS r ON r.attrelid = v_rel AND r.attnum = d.refobjsubid
            WHERE g.attrelid = v_rel AND g.attname = in_column AND g.attgenerated <> ''
            ORDER BY r.attnum);
    END IF;

    FOR v_start IN EXECUTE format('SELECT to_jsonb(t) FROM %s AS t WHERE %s LIMIT 101', v_rel, v_where) USING in_key LOOP
        v_n := v_n + 1;
        IF v_n > 100 THEN
            RAISE EXCEPTION 'the key % matches more than 100 rows of %', in_key, v_rel
                USING ERRCODE = 'invalid_parameter_value', HINT = 'give more key columns';
        END IF;
        v_table := v_rel;
        v_data := v_start;
        v_hop := 1;
        trace := v_n;
        hop := v_hop;
        layer := dwh_lineage._trace_layer(v_table);
        table_name := v_table::text;
        row_data := v_data;
        value := dwh_lineage._trace_values(v_data, v_cols, v_rel::text, v_table::text);
        note := NULL;
        LOOP
            v_bid := (v_data->>'_source_bronze_id')::bigint;
            -- a silver table: its load's bronze table
            SELECT to_regclass(l.value->>'bronze') INTO v_bronze
            FROM dwh_etl.steps AS s
            CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(s.spec->'loads') = 'array' THEN s.spec->'loads'
                                                         ELSE jsonb_build_array(s.spec) END) AS l
            WHERE s.kind = 'silver' AND to_regclass(l.value->>'target') = v_table
            LIMIT 1;
            IF v_bronze IS NOT NULL THEN
                IF v_bid IS NULL THEN
                    note := COALESCE(note || '; ', '') || 'no bronze row recorded: a deletion marker (tombstone or a key missing from a snapshot), or loaded before per-record lineage (migration 0041)';
                    RETURN NEXT;
                    EXIT;
                END IF;
                RETURN NEXT;
                EXECUTE format('SELECT to_jsonb(b) FROM %s AS b WHERE b._bronze_id = $1', v_bronze) INTO v_found USING v_bid;
                v_hop := v_hop + 1;
                hop := v_hop;
                layer := 'bronze';
                table_name := v_bronze::text;
                row_data := v_found;
                value := dwh_lineage._trace_values(v_found, v_cols, v_rel::text, v_bronze::text);
                note := CASE WHEN v_found IS NULL THEN format('bronze row %s is gone: purged by retention (dwh_etl.sec_purge_bronze)', v_bid)
                             WHEN v_found ? '_raw_payload' THEN 'the raw payload is row_data->''_raw_payload'''
                             ELSE 'the raw row as landed (text columns)' END;
                RETURN NEXT;
                EXIT;
            END IF;
            -- a fact or dimension table: the silver table its step reads
            SELECT to_regclass(x.src) INTO v_next
            FROM (
                SELECT COALESCE(s.spec->>'lineage_source', s.spec->>'view') AS src
                FROM dwh_etl.steps AS s
                WHERE s.kind = 'fact' AND to_regclass(s.spec->>'target') = v_table
                UNION ALL
                SELECT COALESCE(e.value->>'lineage_source', e.value->>'view')
                FROM dwh_etl.steps AS s
                CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(s.spec->'dimensions') = 'array' THEN s.spec->'dimensions'
                                                             ELSE jsonb_build_array(s.spec) END) AS e
                JOIN dwh_etl.dimension_specs AS d ON d.dimension_name = e.value->>'dimension'
                WHERE s.kind = 'dimension' AND to_regclass(d.target_table) = v_table
            ) AS x
            WHERE to_regclass(x.src) IS NOT NULL
            LIMIT 1;
            IF v_next IS NULL OR v_hop >= 5 THEN
                note := COALESCE(note || '; ', '') || format('%s is not loaded by a silver, fact or dimension step: no per-record lineage (the tables it comes from: dwh_lineage.get_upstream)', v_table);
                RETURN NEXT;
                EXIT;
            END IF;
            IF v_bid IS NULL THEN
                note := COALESCE(note || '; ', '') || format('no source row recorded (an inferred member, a row written by the SCD trigger API or loaded before per-record lineage); it was built from %s', v_next);
                RETURN NEXT;
                EXIT;
            END IF;
            RETURN NEXT;
            EXECUTE format('SELECT to_jsonb(s) FROM %s AS s WHERE s._source_bronze_id = $1 LIMIT 1', v_next) INTO v_found USING v_bid;
            v_hop := v_hop + 1;
            hop := v_hop;
            layer := dwh_lineage._trace_layer(v_next);
            table_name := v_next::text;
            row_data := v_found;
            value := dwh_lineage._trace_values(v_found, v_cols, v_rel::text, v_next::text);
            note := CASE WHEN v_found IS NULL THEN format('the %s row built from bronze row %s has since been replaced by a later delivery of its key', v_next, v_bid) END;
            v_table := v_next;
            v_data := COALESCE(v_found, jsonb_build_object('_source_bronze_id', v_bid));
        END LOOP;
    END LOOP;
END;
$$;
COMMENT ON FUNCTION dwh_lineage.trace_record(text, jsonb, text) IS 'Per-record lineage: the rows of a table matching a key (JSON), each followed back hop by hop (gold -> silver -> bronze) to the raw row it came from, with the values the given column comes from at each hop.';
REVOKE EXECUTE ON FUNCTION dwh_lineage.trace_record(text, jsonb, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_lineage.trace_record(text, jsonb, text) TO etl_service;
