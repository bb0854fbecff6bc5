-- depends: 0007_pg_cron
-- devflow._load_silver gained a p_run_date parameter (the sane range of instants is relative to the run
-- date, issue 9). The procedure file creates the new signature; the old one must go, or every 6-argument
-- call would be ambiguous between the two.
DROP FUNCTION IF EXISTS devflow._load_silver(text, text, text, text[], text, text[]);
