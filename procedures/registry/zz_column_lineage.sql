-- Column lineage of every registered area (issue 16), on a database whose areas were registered before
-- column lineage existed: register_area derives an area's lineage each time it runs, so on a new
-- database (or after any registry change) there is nothing left to do here.
DO $lineage$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM dwh_lineage.column_lineage WHERE lineage_id IS NULL) THEN
        PERFORM dwh_lineage.refresh_column_lineage();
    END IF;
END
$lineage$;
