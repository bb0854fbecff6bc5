-- AFTER DELETE statement trigger of the operational tables: writes one tombstone per deleted row into
-- sales_src.deleted_records, set-based from the transition table old_rows. The key column of the
-- table is the trigger's argument. TRUNCATE fires no DELETE trigger and so writes no tombstone.
-- Re-applying this file is harmless (CREATE OR REPLACE).
CREATE OR REPLACE FUNCTION sales_src.trg_record_delete()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = sales_src, pg_temp
AS $$
BEGIN
    IF TG_NARGS <> 1 OR TG_LEVEL <> 'STATEMENT' OR TG_OP <> 'DELETE' THEN
        RAISE EXCEPTION 'trigger % on %.% is not an AFTER DELETE statement trigger with one argument', TG_NAME, TG_TABLE_SCHEMA, TG_TABLE_NAME
            USING DETAIL = format('level %s, operation %s, %s argument(s)', TG_LEVEL, TG_OP, TG_NARGS),
                  HINT = 'CREATE TRIGGER ... AFTER DELETE ... REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION sales_src.trg_record_delete(''<key column>'')';
    END IF;

    EXECUTE format(
        'INSERT INTO sales_src.deleted_records (table_name, record_id, deleted_at)
         SELECT $1, o.%I, sales_src._stamp()
         FROM old_rows AS o
         ON CONFLICT ON CONSTRAINT deleted_records_pk DO NOTHING',
        TG_ARGV[0])
    USING TG_TABLE_NAME;

    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION sales_src.trg_record_delete() IS 'Statement trigger (AFTER DELETE, REFERENCING OLD TABLE AS old_rows): records every deleted row''s key, given as the trigger argument, in sales_src.deleted_records.';

CREATE OR REPLACE TRIGGER customers_record_delete
    AFTER DELETE ON sales_src.customers
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION sales_src.trg_record_delete('customer_id');
COMMENT ON TRIGGER customers_record_delete ON sales_src.customers IS 'Writes a tombstone (deleted_records) per deleted customer.';

CREATE OR REPLACE TRIGGER products_record_delete
    AFTER DELETE ON sales_src.products
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION sales_src.trg_record_delete('product_id');
COMMENT ON TRIGGER products_record_delete ON sales_src.products IS 'Writes a tombstone (deleted_records) per deleted product.';

CREATE OR REPLACE TRIGGER sales_record_delete
    AFTER DELETE ON sales_src.sales
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION sales_src.trg_record_delete('sale_id');
COMMENT ON TRIGGER sales_record_delete ON sales_src.sales IS 'Writes a tombstone (deleted_records) per deleted sales line.';
