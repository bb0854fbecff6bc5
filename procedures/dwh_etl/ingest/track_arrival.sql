-- Makes a source table capturable by arrival order, in one call (idempotent):
--   CALL dwh_etl.track_arrival('shop.orders', p_backfill_from => 'updated_at');
-- 1. adds the arrival column (p_column, default _dwh_arrived_at timestamptz NOT NULL DEFAULT
--    clock_timestamp()) when it is missing, filling the existing rows from p_backfill_from (their change
--    timestamp, capped at now(): a watermark kept on that timestamp then continues on the arrival column
--    without a gap or a full reload; rows without one, and rows stamped in the future or 'infinity',
--    arrive now). The fill is a table rewrite (ALTER COLUMN ... TYPE ... USING), not an UPDATE: the
--    table's own UPDATE triggers (e.g. one that bumps updated_at) must not fire for it;
-- 2. indexes it (unless p_index is false or an index already leads with it);
-- 3. attaches dwh_etl.trg_stamp_arrival() as the BEFORE INSERT OR UPDATE row trigger zz_dwh_arrival (the
--    name sorts last, so it fires after the table's other BEFORE triggers), ENABLE ALWAYS so rows
--    applied by logical replication are stamped too. It fires only when the row's stamp is not one this
--    transaction could have given it now (outside [now(), clock_timestamp()]): an INSERT that took the
--    column's DEFAULT clock_timestamp() costs no function call; an UPDATE carries the old stamp and is
--    restamped (unless it changed nothing).
-- Then extract with dwh_etl.extract_incremental(source, bronze, p_column). Run it as the table's owner
-- (DDL; a rewrite and an index build lock the table while they run). Not for the ETL role: what the
-- pipeline reads is the owner's code.
CREATE OR REPLACE PROCEDURE dwh_etl.track_arrival(
    p_table         regclass,
    p_backfill_from text DEFAULT NULL,
    p_column        text DEFAULT '_dwh_arrived_at',
    p_index         boolean DEFAULT true
)
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_type    regtype;
    v_notnull boolean;
    v_relname text;
BEGIN
    IF p_table IS NULL OR p_column IS NULL OR p_column = '' THEN
        RAISE EXCEPTION 'track_arrival needs a table and a column name'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT c.relname INTO v_relname
    FROM pg_catalog.pg_class AS c
    WHERE c.oid = p_table AND c.relkind IN ('r', 'p');
    IF v_relname IS NULL THEN
        RAISE EXCEPTION 'track_arrival: % is not a table', p_table
            USING ERRCODE = 'wrong_object_type';
    END IF;
    IF p_backfill_from IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM pg_catalog.pg_attribute AS a
        WHERE a.attrelid = p_table AND a.attname = p_backfill_from AND a.attnum > 0 AND NOT a.attisdropped) THEN
        RAISE EXCEPTION 'track_arrival: % has no column %', p_table, quote_literal(p_backfill_from)
            USING ERRCODE = 'undefined_column';
    END IF;

    SELECT a.atttypid::regtype, a.attnotnull INTO v_type, v_notnull
    FROM pg_catalog.pg_attribute AS a
    WHERE a.attrelid = p_table AND a.attname = p_column AND a.attnum > 0 AND NOT a.attisdropped;

    IF v_type IS NULL THEN
        EXECUTE format('ALTER TABLE %s ADD COLUMN %I timestamptz', p_table, p_column);
        EXECUTE format('ALTER TABLE %s ALTER COLUMN %I TYPE timestamptz USING LEAST(%s, now())',
                       p_table, p_column, CASE WHEN p_backfill_from IS NULL THEN 'NULL::timestamptz' ELSE format('%I', p_backfill_from) END);
        EXECUTE format('ALTER TABLE %s ALTER COLUMN %I SET DEFAULT clock_timestamp(), ALTER COLUMN %I SET NOT NULL',
                       p_table, p_column, p_column);
        EXECUTE format('COMMENT ON COLUMN %s.%I IS %L', p_table, p_column,
                       'When the row last reached this table (clock_timestamp(), stamped by trigger zz_dwh_arrival whatever '
                       'the writer supplied): the column incremental extraction reads its windows on.');
    ELSIF v_type <> 'timestamptz'::regtype THEN
        RAISE EXCEPTION 'track_arrival: %.% is %, not timestamptz', p_table, p_column, v_type
            USING ERRCODE = 'datatype_mismatch';
    ELSIF NOT v_notnull THEN
        EXECUTE format('ALTER TABLE %s ALTER COLUMN %I TYPE timestamptz USING LEAST(%I, now())', p_table, p_column, p_column);
        EXECUTE format('ALTER TABLE %s ALTER COLUMN %I SET NOT NULL', p_table, p_column);
    END IF;

    IF p_index AND NOT EXISTS (
        SELECT 1 FROM pg_catalog.pg_index AS i
        JOIN pg_catalog.pg_attribute AS a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
        WHERE i.indrelid = p_table AND a.attname = p_column) THEN
        EXECUTE format('CREATE INDEX %I ON %s (%I)', left(v_relname || '_arrival_idx', 63), p_table, p_column);
    END IF;

    -- The WHEN clause (evaluated in C, no PL/pgSQL call) lets through the value the column's DEFAULT
    -- clock_timestamp() just gave an INSERT: bulk loads pay no PL/pgSQL call per row.
    -- Any stamp within [the writing transaction's start, the time of the write] keeps the guarantees of
    -- the window (see dwh_etl.trg_stamp_arrival); everything else is restamped.
    EXECUTE format('CREATE OR REPLACE TRIGGER zz_dwh_arrival BEFORE INSERT OR UPDATE ON %1$s FOR EACH ROW '
                   'WHEN (NEW.%2$I IS NULL OR NEW.%2$I < pg_catalog.now() OR NEW.%2$I > pg_catalog.clock_timestamp()) '
                   'EXECUTE FUNCTION dwh_etl.trg_stamp_arrival(%3$s)',
                   p_table, p_column, CASE WHEN p_column <> '_dwh_arrived_at' THEN quote_literal(p_column) ELSE '' END);
    EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER zz_dwh_arrival', p_table);
    EXECUTE format('COMMENT ON TRIGGER zz_dwh_arrival ON %s IS %L', p_table,
                   format('Stamps %s with clock_timestamp() on every INSERT and changing UPDATE, replicated ones included (ENABLE ALWAYS).', p_column));
END;
$$;
COMMENT ON PROCEDURE dwh_etl.track_arrival(regclass, text, text, boolean) IS 'Make a source table capturable by arrival order: add (and backfill from p_backfill_from) the arrival column, index it, attach trigger zz_dwh_arrival (dwh_etl.trg_stamp_arrival, ENABLE ALWAYS). Idempotent; run as the table owner.';
REVOKE EXECUTE ON PROCEDURE dwh_etl.track_arrival(regclass, text, text, boolean) FROM PUBLIC, etl_service;
