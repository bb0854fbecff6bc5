-- BEFORE INSERT OR UPDATE row trigger of a source table: stamps the row's arrival column with
-- clock_timestamp(), whatever the writer supplied. Incremental extraction reads windows on this column,
-- never on the source's own change timestamp: a row written with updated_at two days in the past, or
-- 'infinity', was skipped forever by a window on updated_at (issue 9). The arrival stamp follows the
-- order rows reached the table, and clock_timestamp() inside a transaction is >= that transaction's
-- start, which is what dwh_etl.safe_upper_bound() caps the window at: a late-committing row is never
-- passed by a window either.
-- The arrival column is _dwh_arrived_at, or the trigger's argument (e.g. an inbox's received_at).
-- An UPDATE that changes nothing else keeps the old stamp (the row has nothing new to extract); an
-- attempt to set the stamp itself is ignored. What the windows need of a stamp is only that it lies in
-- [the writing transaction's start, the time of the write]: then no window has passed it before its
-- transaction commits. So the trigger's WHEN clause (see track_arrival) skips the call for a row that
-- already holds such a stamp (an INSERT that took the column's DEFAULT clock_timestamp()): a stamp
-- outside it (the writer's, a replicated one, an UPDATE's old one) is replaced here.
-- Attach it with dwh_etl.track_arrival(table), which names
-- the trigger so it fires after the table's other BEFORE triggers (the stamp is the last word, and their
-- WHEN (OLD.* IS DISTINCT FROM NEW.*) conditions do not see it) and sets it ENABLE ALWAYS, so it also
-- fires for rows applied by logical replication (session_replication_role = replica).
-- No SET clause and schema-qualified calls: it runs once per written row.
CREATE OR REPLACE FUNCTION dwh_etl.trg_stamp_arrival()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF TG_WHEN <> 'BEFORE' OR TG_LEVEL <> 'ROW' OR TG_OP NOT IN ('INSERT', 'UPDATE') OR TG_NARGS > 1 THEN
        RAISE EXCEPTION 'trigger % on %.% is not a BEFORE INSERT OR UPDATE row trigger with at most one argument',
                        TG_NAME, TG_TABLE_SCHEMA, TG_TABLE_NAME
            USING DETAIL = pg_catalog.format('%s %s %s trigger, %s argument(s)', TG_WHEN, TG_LEVEL, TG_OP, TG_NARGS),
                  HINT = 'Attach it with CALL dwh_etl.track_arrival(''<schema.table>'').';
    END IF;

    IF TG_NARGS = 0 OR TG_ARGV[0] = '_dwh_arrived_at' THEN
        IF TG_OP = 'UPDATE' THEN
            NEW._dwh_arrived_at := OLD._dwh_arrived_at;
            IF NEW OPERATOR(pg_catalog.*=) OLD THEN  -- byte-identical: nothing changed
                RETURN NEW;
            END IF;
        END IF;
        NEW._dwh_arrived_at := pg_catalog.clock_timestamp();
    ELSE
        -- another column: set by name (slower; for inboxes that already have a receive time)
        IF TG_OP = 'UPDATE' THEN
            NEW := pg_catalog.jsonb_populate_record(NEW, pg_catalog.jsonb_build_object(TG_ARGV[0], pg_catalog.to_jsonb(OLD) -> TG_ARGV[0]));
            IF NEW OPERATOR(pg_catalog.*=) OLD THEN
                RETURN NEW;
            END IF;
        END IF;
        NEW := pg_catalog.jsonb_populate_record(NEW, pg_catalog.jsonb_build_object(TG_ARGV[0], pg_catalog.clock_timestamp()));
    END IF;
    RETURN NEW;
END;
$$;
COMMENT ON FUNCTION dwh_etl.trg_stamp_arrival() IS 'Row trigger (BEFORE INSERT OR UPDATE, ENABLE ALWAYS): stamps the arrival column (_dwh_arrived_at, or the trigger argument) with clock_timestamp(), overriding the writer; a no-op UPDATE keeps the old stamp. Attached by dwh_etl.track_arrival.';
