-- Applies the Citus distribution plan (dwh_etl.distribution_plan, issue 17) after every area is
-- registered: distributed and reference tables where the citus extension is installed, nothing
-- elsewhere (a NOTICE). Named zz_ so it sorts after the areas. A change of the plan (a migration such
-- as 0046, the sales dimensions as reference tables) comes with a change of this file, so that the next
-- dwh migrate applies it.
CALL dwh_etl.apply_distribution_plan();
