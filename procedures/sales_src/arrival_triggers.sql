-- Capture by arrival order (issue 9): the tables extracted incrementally get trigger zz_dwh_arrival,
-- which stamps _dwh_arrived_at with clock_timestamp() whatever the writer supplied (ENABLE ALWAYS: also
-- for rows applied by logical replication). Column, backfill and index come from migration 0011;
-- dwh_etl.track_arrival finds them and only attaches the trigger. Re-applying this file is harmless.
CALL dwh_etl.track_arrival('sales_src.customers', p_backfill_from => 'updated_at');
CALL dwh_etl.track_arrival('sales_src.products', p_backfill_from => 'updated_at');
CALL dwh_etl.track_arrival('sales_src.sales', p_backfill_from => 'updated_at');
CALL dwh_etl.track_arrival('sales_src.deleted_records', p_backfill_from => 'deleted_at');
