-- BEFORE UPDATE row trigger of the operational tables: stamps updated_at with now() (sales_src._stamp():
-- a reproducible generate_next_day(p_stamp => ...) sets another instant for its transaction), so every change
-- is seen by an incremental extraction on updated_at. The triggers fire only when the row really
-- changes (WHEN OLD.* IS DISTINCT FROM NEW.*): a no-op UPDATE does not make the row look changed.
-- Re-applying this file is harmless (CREATE OR REPLACE).
CREATE OR REPLACE FUNCTION sales_src.trg_touch_updated_at()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = sales_src, pg_temp
AS $$
BEGIN
    NEW.updated_at := sales_src._stamp();
    RETURN NEW;
END;
$$;
COMMENT ON FUNCTION sales_src.trg_touch_updated_at() IS 'Row trigger: sets NEW.updated_at = now() (transaction start; sales_src._stamp(): the p_stamp of generate_next_day) before an UPDATE of customers, products or sales.';

CREATE OR REPLACE TRIGGER customers_touch_updated_at
    BEFORE UPDATE ON sales_src.customers
    FOR EACH ROW
    WHEN (OLD.* IS DISTINCT FROM NEW.*)
    EXECUTE FUNCTION sales_src.trg_touch_updated_at();
COMMENT ON TRIGGER customers_touch_updated_at ON sales_src.customers IS 'Bumps updated_at on every UPDATE that changes the row.';

CREATE OR REPLACE TRIGGER products_touch_updated_at
    BEFORE UPDATE ON sales_src.products
    FOR EACH ROW
    WHEN (OLD.* IS DISTINCT FROM NEW.*)
    EXECUTE FUNCTION sales_src.trg_touch_updated_at();
COMMENT ON TRIGGER products_touch_updated_at ON sales_src.products IS 'Bumps updated_at on every UPDATE that changes the row.';

CREATE OR REPLACE TRIGGER sales_touch_updated_at
    BEFORE UPDATE ON sales_src.sales
    FOR EACH ROW
    WHEN (OLD.* IS DISTINCT FROM NEW.*)
    EXECUTE FUNCTION sales_src.trg_touch_updated_at();
COMMENT ON TRIGGER sales_touch_updated_at ON sales_src.sales IS 'Bumps updated_at on every UPDATE that changes the row.';
