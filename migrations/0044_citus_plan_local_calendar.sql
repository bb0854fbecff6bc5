-- depends: 0043_customer_metrics_queue
-- Citus plan, second round (issue 17): the calendar and every dimension stay local.
--
-- Measured on Citus 13.2.2 (docs/SCALE.md): a reference table turns every table with a foreign key to it
-- into a Citus local table, and Citus follows the foreign keys from there. gold.dim_date as a reference
-- table made 29 tables of every area Citus local tables, with Citus limits of their own (no new
-- partitions under a parent with CHECK constraints, no DROP CONSTRAINT on a table with an identity
-- column, only IMMUTABLE functions in ON CONFLICT DO UPDATE SET). The devflow dimensions as reference
-- tables do the same to the devflow facts, and through their foreign keys to gold.dim_date to the
-- calendar and every other area again; and no devflow fact can be distributed under its current keys.
-- The sales dimensions and silver customers and products as reference tables load on the first day
-- but not on the next: dwh_etl.apply_dimension closes versions with UPDATE ... FROM a temp table of the
-- changes, and Citus refuses any join of a reference table modification with a temp table ("relation
-- _scd_ch is not distributed"), CTE or not.
-- So the plan keeps no reference table: the sales lines and the sales fact distributed and colocated by
-- sale_id, everything else local on the coordinator. The foreign keys of a distributed table to a local
-- table (sales.fact_sales to the calendar, the time of day and the two sales dimensions) cannot exist on
-- Citus: dwh_etl.apply_distribution_plan drops them, records each in dropped_foreign_keys and registers
-- a relationships quality rule in its place (severity error, batch scope: a load that writes a key the
-- referenced table lacks fails and is rolled back, as with the key).
ALTER TABLE dwh_etl.distribution_plan
    ADD COLUMN dropped_foreign_keys jsonb NOT NULL DEFAULT '[]'::jsonb;
COMMENT ON COLUMN dwh_etl.distribution_plan.dropped_foreign_keys IS
    'Foreign keys of the table that Citus cannot keep (they reference a table that stays local on the coordinator), dropped by apply_distribution_plan: one object per key (constraint, definition, quality_rule: the relationships rule of dwh_etl.quality_rules that replaces it).';

DELETE FROM dwh_etl.distribution_plan
WHERE kind = 'reference';

UPDATE dwh_etl.distribution_plan
SET note = 'sales fact, partitioned by date_key, loaded from silver.sales_sales by sale_id; its keys to the local calendar and dimensions become quality rules'
WHERE table_name = 'sales.fact_sales';
