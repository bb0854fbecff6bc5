-- Seals the landing table of a file load (dwh_etl.sec_file_landing) into bronze.<table>_f<file_id>, an
-- inheritance child of bronze.<table>: called by dwh_etl.file_end once the copy is done. Readers of
-- bronze.<table> see its rows once the transaction commits, not before (until then it is no child).
--   1. _batch_id and _source are added with constant defaults: PostgreSQL stores such a value once, in
--      the catalog, for the rows already in the table (no rewrite), then the defaults are dropped.
--      _ingested_at (this transaction's start, as now() would have stamped each row) came with the
--      landing table (sec_file_landing), a constant default.
--   2. Two CHECK constraints: every row has this load's _ingested_at, and its _bronze_id lies in the
--      block of ids the load reserved. sec_file_landing made them with the (then empty) landing table,
--      so the COPY checked each row and nothing is scanned here. A landing table made in an earlier
--      transaction (file_begin committed apart from the seal) gets this transaction's _ingested_at
--      instead (its rows become visible now), as a constant default of a new column, and both checks are
--      validated in one scan, the id check then tight. The planner excludes the child from any
--      plan whose window on _ingested_at (or _bronze_id range) misses it (constraint_exclusion =
--      partition, the default; every reader of bronze runs its window as a one-shot EXECUTE, so the
--      bounds are constants at plan time). No index: a btree's sort is what made landing slow, and a
--      BRIN index on (_ingested_at, _bronze_id) cost 0.42-0.68 s per 1M rows against 0.17-0.31 s for
--      the two checks (same table, interleaved); readers join a child by hash over their window, and
--      the child lives until dwh_etl.op_compact_bronze folds it into the indexed table (a day).
--      The parent's CHECK constraints, if any, are added too.
--   3. (No statistics are needed for the exclusion; autovacuum analyzes the child later.)
--   4. Renamed, made a child of the table (INHERIT: SHARE UPDATE EXCLUSIVE on the table, readers not
--      blocked), read-only for etl_service (bronze is append-only: the BRIN ranges stay tight).
--   5. The unused part of the reserved id block is given back when nobody drew ids after it and the
--      child's id check is the tight one (a check over the whole block keeps the block: 2^32 ids per
--      load, of the 2^63 of a bigint).
-- An empty landing table is dropped instead. Returns the child's name, or NULL when nothing landed.
-- SECURITY DEFINER (INHERIT needs ownership of the bronze table): the load must be in progress and its
-- landing table the one sec_file_landing made for its target (the name is derived, not taken from the
-- caller), never attached before.
CREATE OR REPLACE FUNCTION dwh_etl.sec_file_seal(
    p_file_id bigint
)
RETURNS text
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_file    record;
    v_parent  regclass;
    v_nsp     name;
    v_rel     name;
    v_name    name;
    v_child   name;
    v_landing regclass;
    v_at      timestamptz;
    v_seq     regclass;
    v_idseq   regclass;
    v_seqmin  bigint;
    v_seqmax  bigint;
    v_used    bigint;
    v_empty   boolean;
    v_last    bigint;
    v_check   record;
    v_made    boolean := false;  -- the landing table came with its CHECKs (no scan here)
BEGIN
    SELECT f.file_id, f.target_table, f.status, f.batch_id, f.source, f.file_name, f.landed_in, f.started_at
    INTO v_file
    FROM dwh_etl.loaded_files AS f
    WHERE f.file_id = p_file_id;
    IF NOT FOUND OR v_file.status <> 'loading' THEN
        RAISE EXCEPTION 'file load % is not in progress', COALESCE(p_file_id::text, 'NULL')
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    v_parent := to_regclass((dwh_etl.file_target_columns(v_file.target_table)).target);
    SELECT n.nspname, c.relname INTO v_nsp, v_rel
    FROM pg_catalog.pg_class AS c
    JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
    WHERE c.oid = v_parent;
    v_name := left(v_rel, 50) || '_landing';
    v_landing := to_regclass(format('%I.%I', v_nsp, v_name));
    IF v_file.landed_in IS DISTINCT FROM format('%I.%I', v_nsp, v_name) OR v_landing IS NULL
       OR EXISTS (SELECT 1 FROM pg_catalog.pg_inherits AS i WHERE i.inhrelid = v_landing) THEN
        RAISE EXCEPTION 'file load % has no landing table', p_file_id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'its landing table was dropped by a later file_begin: run file_begin, the copy and file_end in one transaction (psql -1)';
    END IF;
    EXECUTE format('LOCK TABLE ONLY %I.%I IN SHARE ROW EXCLUSIVE MODE', v_nsp, v_rel);

    v_seq := pg_catalog.pg_get_serial_sequence(v_landing::text, '_bronze_id')::regclass;
    v_idseq := pg_catalog.pg_get_serial_sequence(format('%I.%I', v_nsp, v_rel), '_bronze_id')::regclass;
    SELECT s.seqmin, s.seqmax INTO v_seqmin, v_seqmax FROM pg_catalog.pg_sequence AS s WHERE s.seqrelid = v_seq;
    -- the highest id the landing sequence handed out: currval when this session did the copy, else
    -- (another session, or nothing copied) the end of what it cached
    BEGIN
        v_used := pg_catalog.currval(v_seq);
    EXCEPTION WHEN object_not_in_prerequisite_state THEN
        EXECUTE format('SELECT CASE WHEN s.is_called THEN s.last_value ELSE s.last_value - 1 END FROM %s AS s', v_seq)
        INTO v_used;
    END;

    EXECUTE format('SELECT NOT EXISTS (SELECT 1 FROM %s)', v_landing) INTO STRICT v_empty;
    IF v_empty THEN
        EXECUTE format('DROP TABLE %s', v_landing);
        v_child := NULL;
    ELSE
        v_child := left(v_rel, 40) || '_f' || p_file_id;
        IF EXISTS (SELECT 1 FROM pg_catalog.pg_attribute AS a
                   WHERE a.attrelid = v_landing AND a.attname = '_bronze_id' AND a.attidentity <> '') THEN
            EXECUTE format('ALTER TABLE %s ALTER COLUMN _bronze_id DROP IDENTITY', v_landing);  -- its sequence too
        ELSE  -- a landing table made before the identity (a default calling nextval of a sequence it owns)
            EXECUTE format('ALTER TABLE %s ALTER COLUMN _bronze_id DROP DEFAULT', v_landing);
            EXECUTE format('DROP SEQUENCE %s', v_seq);
        END IF;
        -- the landing table has its CHECKs (sec_file_landing) when it was made in this transaction: its
        -- _ingested_at is then this transaction's start. Made in an earlier one (file_begin committed
        -- apart from the seal), its rows become visible now: they are stamped with this transaction's
        -- start instead, and the checks made again over them (one scan)
        v_made := v_file.started_at = now()
                  AND (SELECT count(*) FROM pg_catalog.pg_constraint AS co
                       WHERE co.conrelid = v_landing AND co.contype = 'c' AND co.convalidated
                         AND co.conname IN (v_child || '_ingested', v_child || '_ids')) = 2;
        IF NOT v_made THEN
            EXECUTE format('ALTER TABLE %s DROP CONSTRAINT IF EXISTS %I, DROP CONSTRAINT IF EXISTS %I, '
                           'DROP COLUMN IF EXISTS _ingested_at',
                           v_landing, v_child || '_ingested', v_child || '_ids');
        END IF;
        EXECUTE format('ALTER TABLE %s ADD COLUMN _batch_id uuid NOT NULL DEFAULT %L::uuid, '
                       'ADD COLUMN _source text NOT NULL DEFAULT %L%s%s%s',
                       v_landing, v_file.batch_id, v_file.source,
                       CASE WHEN v_made THEN ''
                            ELSE format(', ADD COLUMN _ingested_at timestamptz NOT NULL DEFAULT %L::timestamptz',
                                        to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00') END,
                       CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_attribute AS a
                                         WHERE a.attrelid = v_landing AND a.attname = '_source_line' AND NOT a.attisdropped)
                            THEN '' ELSE ', ADD COLUMN _source_line bigint' END,
                       -- unknown for a file (migration 0049): NULL, no rewrite
                       CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_attribute AS a
                                         WHERE a.attrelid = v_parent AND a.attname = '_source_arrived_at' AND NOT a.attisdropped)
                             AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute AS a
                                             WHERE a.attrelid = v_landing AND a.attname = '_source_arrived_at' AND NOT a.attisdropped)
                            THEN ', ADD COLUMN _source_arrived_at timestamptz' ELSE '' END);
        EXECUTE format('ALTER TABLE %s ALTER COLUMN _batch_id DROP DEFAULT, ALTER COLUMN _ingested_at DROP DEFAULT, '
                       'ALTER COLUMN _source DROP DEFAULT', v_landing);
        FOR v_check IN
            SELECT co.conname, pg_catalog.pg_get_constraintdef(co.oid) AS def
            FROM pg_catalog.pg_constraint AS co
            WHERE co.conrelid = v_parent AND co.contype = 'c' AND NOT co.connoinherit
        LOOP
            EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I %s', v_landing, v_check.conname, v_check.def);
        END LOOP;
        IF NOT v_made THEN
            BEGIN
                EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I CHECK (_ingested_at = %L::timestamptz), '
                               'ADD CONSTRAINT %I CHECK (_bronze_id BETWEEN %s AND %s)',
                               v_landing, v_child || '_ingested', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00',
                               v_child || '_ids', v_seqmin, GREATEST(v_used, v_seqmin));
            EXCEPTION WHEN check_violation THEN
                RAISE EXCEPTION 'file load %: rows carry _bronze_id values the load did not assign', p_file_id
                    USING ERRCODE = 'check_violation',
                          HINT = 'leave _bronze_id (and the other _columns) out of the copy''s column list: the landing table fills them';
            END;
        END IF;
        EXECUTE format('ALTER TABLE %s RENAME TO %I', v_landing, v_child);
        EXECUTE format('ALTER TABLE %I.%I INHERIT %I.%I', v_nsp, v_child, v_nsp, v_rel);
        EXECUTE format('REVOKE ALL ON %I.%I FROM PUBLIC, etl_service', v_nsp, v_child);
        EXECUTE format('GRANT SELECT ON %I.%I TO etl_service', v_nsp, v_child);
        EXECUTE format('COMMENT ON TABLE %I.%I IS %L', v_nsp, v_child,
                       format('Rows of file load %s (%s) into %I.%I: an inheritance child of it, read with it; see dwh_etl.loaded_files.',
                              p_file_id, v_file.file_name, v_nsp, v_rel));
        -- the month partition compaction will fold this load into, made now (committed with the load)
        -- when missing (attack 13c): made by the compaction itself, a query on the table planned before
        -- that compaction committed and run after saw neither the dropped child nor the new partition
        EXECUTE format('SELECT _ingested_at FROM ONLY %I.%I LIMIT 1', v_nsp, v_child) INTO v_at;
        IF v_at IS NOT NULL THEN
            PERFORM dwh_etl._bronze_period(v_parent, v_at);
        END IF;
    END IF;

    -- give the unused ids of the block back, unless someone drew after it or the child's CHECK covers the
    -- whole block (made with the landing table, before its size was known)
    EXECUTE format('SELECT s.last_value FROM %s AS s', v_idseq) INTO v_last;
    IF v_last = v_seqmax AND NOT v_made THEN
        PERFORM pg_catalog.setval(v_idseq, GREATEST(v_used, v_seqmin));
    END IF;

    UPDATE dwh_etl.loaded_files AS f
    SET landed_in = CASE WHEN v_child IS NULL THEN NULL ELSE format('%I.%I', v_nsp, v_child) END
    WHERE f.file_id = p_file_id;
    RETURN CASE WHEN v_child IS NULL THEN NULL ELSE format('%I.%I', v_nsp, v_child) END;
END;
$$;
REVOKE ALL ON FUNCTION dwh_etl.sec_file_seal(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl.sec_file_seal(bigint) TO etl_service;
COMMENT ON FUNCTION dwh_etl.sec_file_seal(bigint) IS 'SECURITY DEFINER: seal the landing table of a file load in progress into bronze.<table>_f<file_id>, an inheritance child of the table (constant landing columns, CHECK constraints on its ingestion time and id block for constraint exclusion, read-only); drop it when empty; give back unused reserved ids.';
