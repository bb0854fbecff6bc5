-- Applies the Citus distribution plan (dwh_etl.distribution_plan, issue 17) after every area is
-- registered: distributed and reference tables where the citus extension is installed, nothing
-- elsewhere (a NOTICE). Named zz_ so it sorts after the areas.
CALL dwh_etl.apply_distribution_plan();
