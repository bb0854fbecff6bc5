-- Column lineage of every registered area (issue 16), derived again once everything is registered:
-- register_area derives an area's lineage each time it runs, but steps registered outside it (the
-- engine's seed-named maintenance steps) and views replaced after their area registered would leave the
-- stored lineage behind what the registry says (tests/test_docs.py compares the two).
DO $lineage$
BEGIN
    PERFORM dwh_lineage.refresh_column_lineage();
END
$lineage$;
