-- depends: 0041_record_lineage
-- Scale-out on Citus (issue 17): the distribution plan, as data.
--
-- One row per table that leaves the coordinator: "distributed" (hash-sharded over the workers by
-- distribution_column, colocated with colocate_with so their joins stay on one worker) or "reference"
-- (a full copy on every node, for dimensions and the calendar). Every other table stays on the
-- coordinator: the engine (dwh_etl, dwh_lineage, dwh_staging) as plain tables, and a table with a
-- foreign key to a reference table (the facts of the areas not planned here reference gold.dim_date)
-- as a Citus local table, which Citus makes of it by itself.
-- dwh_etl.apply_distribution_plan() applies it when the citus extension is installed in this database
-- (procedures/registry/zz_distribution.sql calls it on every dwh migrate that changes that file, and
-- after CREATE EXTENSION citus on an existing warehouse a DBA calls it, or runs dwh migrate --force).
-- Without Citus nothing changes: the procedure returns with a NOTICE.
--
-- Citus accepts a distribution column only if it is part of every primary key and unique constraint of
-- the table. Under the current keys (docs/SCALE.md has the whole list):
--   silver.sales_sales            key (sale_id)                         -> sale_id
--   sales.fact_sales              key (sale_id, date_key)               -> sale_id, colocated with silver
--   silver.devflow_metric_samples key (resource_id, measured_at)        -> resource_id
--   devflow.fact_performance_metrics keys (metric_key, time_key) and
--                                 (resource_id, measured_at, time_key)  -> time_key only
--   the other devflow facts       surrogate key + natural key, disjoint -> none
-- The devflow metrics are not planned: their silver and fact tables cannot be colocated under these
-- keys, and the fact step joins them (NOT EXISTS), which Citus refuses between non-colocated tables.
-- bronze.sales_sales is not planned either: the silver typing query of dwh_etl._load_silver is not
-- one Citus can run over a distributed table (docs/SCALE.md, probe results).
CREATE TABLE dwh_etl.distribution_plan (
    table_name          text        NOT NULL,
    area                text        NOT NULL,
    kind                text        NOT NULL,
    distribution_column text,
    colocate_with       text,
    apply_order         integer     NOT NULL,
    note                text,
    applied_at          timestamptz,
    CONSTRAINT distribution_plan_pk PRIMARY KEY (table_name),
    CONSTRAINT distribution_plan_kind_ck CHECK (kind IN ('distributed', 'reference')),
    CONSTRAINT distribution_plan_column_ck CHECK ((kind = 'distributed') = (distribution_column IS NOT NULL)),
    CONSTRAINT distribution_plan_colocate_ck CHECK (kind = 'distributed' OR colocate_with IS NULL)
);
COMMENT ON TABLE dwh_etl.distribution_plan IS
    'Citus distribution plan (issue 17): the tables that are distributed over the workers or copied to every node as reference tables. Applied by dwh_etl.apply_distribution_plan() only where the citus extension is installed; every table not listed stays on the coordinator.';
COMMENT ON COLUMN dwh_etl.distribution_plan.table_name IS 'schema.table';
COMMENT ON COLUMN dwh_etl.distribution_plan.area IS 'Subject area the table belongs to (engine for the shared calendar).';
COMMENT ON COLUMN dwh_etl.distribution_plan.kind IS 'distributed: hash-sharded by distribution_column. reference: a copy on every node.';
COMMENT ON COLUMN dwh_etl.distribution_plan.distribution_column IS 'Shard key of a distributed table: must belong to every primary key and unique constraint of the table.';
COMMENT ON COLUMN dwh_etl.distribution_plan.colocate_with IS 'A distributed table whose shards this one shares (same distribution column type): joins and INSERT..SELECT on the shard key then run on the workers.';
COMMENT ON COLUMN dwh_etl.distribution_plan.apply_order IS 'Order of application within a kind; a table comes after the table it is colocated with.';
COMMENT ON COLUMN dwh_etl.distribution_plan.applied_at IS 'When apply_distribution_plan last found the table as planned (NULL: never applied, e.g. no Citus).';

INSERT INTO dwh_etl.distribution_plan (table_name, area, kind, distribution_column, colocate_with, apply_order, note)
VALUES
    ('gold.dim_date',              'engine',  'reference', NULL, NULL, 10, 'conformed calendar, joined by every fact'),
    ('gold.dim_time_of_day',       'engine',  'reference', NULL, NULL, 11, 'conformed time of day'),
    ('gold.holidays',              'engine',  'reference', NULL, NULL, 12, 'holiday calendar behind dim_date flags'),
    ('silver.sales_customers',     'sales',   'reference', NULL, NULL, 20, 'SCD2 silver customers: the relationships rules of silver.sales_sales look them up'),
    ('silver.sales_products',      'sales',   'reference', NULL, NULL, 21, 'SCD2 silver products: the relationships rules of silver.sales_sales look them up'),
    ('sales.dim_customer',         'sales',   'reference', NULL, NULL, 22, 'SCD2 dimension'),
    ('sales.dim_product',          'sales',   'reference', NULL, NULL, 23, 'SCD2 dimension'),
    ('devflow.dim_agent',          'devflow', 'reference', NULL, NULL, 30, 'dimension'),
    ('devflow.dim_infrastructure', 'devflow', 'reference', NULL, NULL, 31, 'SCD2 dimension'),
    ('devflow.dim_issue',          'devflow', 'reference', NULL, NULL, 32, 'SCD2 dimension'),
    ('devflow.dim_label',          'devflow', 'reference', NULL, NULL, 33, 'dimension'),
    ('devflow.dim_worktree',       'devflow', 'reference', NULL, NULL, 34, 'dimension'),
    ('silver.sales_sales',         'sales',   'distributed', 'sale_id', NULL, 100, 'sales lines, the largest silver table'),
    ('sales.fact_sales',           'sales',   'distributed', 'sale_id', 'silver.sales_sales', 101, 'sales fact, partitioned by date_key, loaded from silver.sales_sales by sale_id');
