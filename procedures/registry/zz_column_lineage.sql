-- Column lineage of every registered area (issue 16). register_area derives an area's lineage each time
-- it runs; this file runs once more after all of them (files of a folder apply in name order), and on a
-- database that had its areas registered before column lineage existed.
DO $lineage$
BEGIN
    PERFORM dwh_lineage.refresh_column_lineage();
END
$lineage$;
