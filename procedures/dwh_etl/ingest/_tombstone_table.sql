-- Whether p_table is a tombstone table the warehouse itself writes: the first argument of a trigger
-- calling dwh_etl.trg_source_tombstone (agents_src.deleted_records, sales_src.deleted_records, the
-- deleted_records that dwh_etl.source_add creates for an attached source). Such a table records the
-- deletes of its schema's tables as the mirror applied them; a change event naming it would forge a
-- deletion of a row the source still holds, or erase a real one before silver reads it (attack 13a),
-- so dwh_etl.ingest_cdc_events quarantines such events and dwh_etl.sec_cdc_apply refuses the table. A
-- source's own deleted_records (attached with its tables: no trigger writes it) is not one.
-- sales_src.deleted_records is written by the demo mirror's own trigger function,
-- sales_src.trg_record_delete (one table, named in its body): it is one too (the lead's decision on
-- attack 8's open question: a sales deletion arrives as the 'd' event of the row itself).
CREATE OR REPLACE FUNCTION dwh_etl._tombstone_table(p_table regclass)
RETURNS boolean
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
    SELECT EXISTS (SELECT 1
                   FROM pg_catalog.pg_trigger AS tg
                   WHERE tg.tgfoid = 'dwh_etl.trg_source_tombstone()'::pg_catalog.regprocedure
                     AND tg.tgnargs > 0
                     AND pg_catalog.to_regclass(pg_catalog.split_part(pg_catalog.encode(tg.tgargs, 'escape'), '\000', 1)) = p_table)
        OR (p_table = pg_catalog.to_regclass('sales_src.deleted_records')
            AND EXISTS (SELECT 1
                        FROM pg_catalog.pg_trigger AS tg
                        WHERE tg.tgfoid = pg_catalog.to_regprocedure('sales_src.trg_record_delete()')));
$$;
COMMENT ON FUNCTION dwh_etl._tombstone_table(regclass) IS 'p_table is a tombstone table written by the warehouse''s delete triggers (dwh_etl.trg_source_tombstone): change events may not write it.';
REVOKE EXECUTE ON FUNCTION dwh_etl._tombstone_table(regclass) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl._tombstone_table(regclass) TO etl_service;
