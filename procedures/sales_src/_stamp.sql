-- The change time the demo source's triggers write: now(), unless sales_src.generate_next_day(p_stamp => ...)
-- set another one for its transaction (the setting sales_src.stamp, an ISO 8601 UTC instant, read the same
-- under any DateStyle or TimeZone). A trigger takes no arguments, hence the transaction-local setting:
-- it lets a reproducible demo day stamp updated_at (trg_touch_updated_at) and deleted_at
-- (trg_record_delete) with a fixed instant instead of the wall clock.
CREATE OR REPLACE FUNCTION sales_src._stamp()
RETURNS timestamptz
LANGUAGE sql
STABLE
SET search_path = sales_src, pg_temp
AS $$
    SELECT coalesce(nullif(current_setting('sales_src.stamp', true), '')::timestamptz, now());
$$;
COMMENT ON FUNCTION sales_src._stamp() IS 'Change time for the demo source''s triggers: the transaction''s setting sales_src.stamp (set by generate_next_day(p_stamp => ...)) or now().';
