-- depends: 0040_seed_maintenance
-- Scale-out on Citus (issue 17): the distribution plan, as data.
--
-- One row per table that leaves the coordinator: "distributed" (hash-sharded over the workers by
-- distribution_column, colocated with colocate_with so their joins stay on one worker) or "reference"
-- (a full copy on every node, for dimensions and the calendar). Every other table, and all of the
-- engine (dwh_etl, dwh_lineage, dwh_staging), stays a plain table on the coordinator.
-- dwh_etl.apply_distribution_plan() applies it when the citus extension is installed in this database
-- (procedures/registry/zz_distribution.sql calls it on every dwh migrate that changes that file, and
-- after CREATE EXTENSION citus on an existing warehouse a DBA calls it, or runs dwh migrate --force).
-- Without Citus nothing changes: the procedure returns with a NOTICE.
--
-- Citus accepts a distribution column only if it is part of every primary key and unique constraint of
-- the table, so the columns below are the ones the current keys allow (docs/SCALE.md lists them all):
--   silver.sales_sales        key (sale_id)                                   -> sale_id
--   sales.fact_sales          key (sale_id, date_key)                         -> sale_id, colocated
--   silver.devflow_metric_samples key (resource_id, measured_at)              -> resource_id
--   devflow.fact_performance_metrics keys (metric_key, time_key) and
--                             (resource_id, measured_at, time_key)            -> time_key only
-- The devflow facts other than the metrics have a surrogate key and a natural key with no column in
-- common: no column is allowed, they stay on the coordinator.
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
    ('gold.dim_date',           'engine',  'reference', NULL, NULL, 10, 'conformed calendar, joined by every fact'),
    ('gold.dim_time_of_day',    'engine',  'reference', NULL, NULL, 11, 'conformed time of day'),
    ('gold.holidays',           'engine',  'reference', NULL, NULL, 12, 'holiday calendar behind dim_date flags'),
    ('sales.dim_customer',      'sales',   'reference', NULL, NULL, 20, 'SCD2 dimension'),
    ('sales.dim_product',       'sales',   'reference', NULL, NULL, 21, 'SCD2 dimension'),
    ('devflow.dim_agent',       'devflow', 'reference', NULL, NULL, 30, 'dimension'),
    ('devflow.dim_infrastructure', 'devflow', 'reference', NULL, NULL, 31, 'SCD2 dimension'),
    ('devflow.dim_issue',       'devflow', 'reference', NULL, NULL, 32, 'SCD2 dimension'),
    ('devflow.dim_label',       'devflow', 'reference', NULL, NULL, 33, 'dimension'),
    ('devflow.dim_worktree',    'devflow', 'reference', NULL, NULL, 34, 'dimension'),
    ('silver.sales_sales',      'sales',   'distributed', 'sale_id', NULL, 100, 'sales lines, the largest silver table'),
    ('sales.fact_sales',        'sales',   'distributed', 'sale_id', 'silver.sales_sales', 101, 'sales fact, partitioned by date_key, loaded from silver.sales_sales by sale_id'),
    ('bronze.sales_sales',      'sales',   'distributed', '_bronze_id', NULL, 102, 'raw sales lines (text columns: not colocatable with silver)'),
    ('silver.devflow_metric_samples', 'devflow', 'distributed', 'resource_id', NULL, 110, 'infrastructure metric samples'),
    ('bronze.devflow_metric_samples', 'devflow', 'distributed', '_bronze_id', NULL, 111, 'raw metric payloads'),
    ('devflow.fact_performance_metrics', 'devflow', 'distributed', 'time_key', NULL, 112, 'metrics fact, partitioned by time_key: its two keys share only time_key');
