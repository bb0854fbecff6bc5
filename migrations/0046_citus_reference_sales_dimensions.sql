-- depends: 0045_ltv_from_customer_metrics
-- Citus plan, third round (issue 17): the sales dimensions become reference tables (a copy on every
-- node), so the sales fact load joins them on the workers shard by shard (the colocated INSERT..SELECT)
-- and sales.fact_sales keeps its foreign keys to them (Citus allows a key from a distributed table to a
-- reference table) instead of the quality rules that replaced them.
--
-- What made the second round (0044) keep them local, and how it is answered (docs/SCALE.md):
--   * dwh_etl.apply_dimension closed versions with UPDATE ... FROM (SELECT ... FROM pg_temp._scd_ch),
--     which Citus refuses on a reference table: on a Citus target its modifications now read the temp
--     tables inline (jsonb_to_recordset over a constant, dwh_etl._scd_rows_inline);
--   * the statement-level no-overlap triggers of the SCD2 tables (migration 0032), which Citus refuses
--     on a reference table: apply_distribution_plan replaces them, on a planned reference table only,
--     by the exclusion constraint they replaced (key WITH =, tstzrange(valid_from, valid_to) WITH &&),
--     which Citus supports, and records that in replaced_triggers;
--   * DDL on the distributed fact after a read of a reference table in the same transaction (the fact
--     step makes the partitions of its months): the fact step runs its commands sequentially when its
--     target is distributed and has a foreign key to a reference table.
-- The calendar and the devflow dimensions stay local (a reference calendar turns 29 tables of every area
-- into Citus local tables), and so do silver.sales_customers and silver.sales_products (the relationships
-- rules of silver.sales_sales into them work as NOT IN on Citus; nothing on the workers joins them).
ALTER TABLE dwh_etl.distribution_plan
    ADD COLUMN replaced_triggers jsonb NOT NULL DEFAULT '[]'::jsonb;
COMMENT ON COLUMN dwh_etl.distribution_plan.replaced_triggers IS
    'Triggers of a reference table that Citus refuses and apply_distribution_plan replaced: the no-overlap triggers of an SCD2 table (trigger names, natural key) by the exclusion constraint named here.';

INSERT INTO dwh_etl.distribution_plan (table_name, area, kind, distribution_column, colocate_with, apply_order, note)
VALUES
    ('sales.dim_customer', 'sales', 'reference', NULL, NULL, 22, 'SCD2 dimension, joined by the sales fact load on the workers; its no-overlap triggers become an exclusion constraint'),
    ('sales.dim_product',  'sales', 'reference', NULL, NULL, 23, 'SCD2 dimension, joined by the sales fact load on the workers; its no-overlap triggers become an exclusion constraint')
ON CONFLICT (table_name) DO NOTHING;

UPDATE dwh_etl.distribution_plan
SET note = 'sales fact, partitioned by date_key, loaded from silver.sales_sales by sale_id; keeps its keys to the reference dimensions, its keys to the local calendar become quality rules'
WHERE table_name = 'sales.fact_sales';
