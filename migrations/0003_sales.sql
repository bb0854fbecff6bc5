-- depends: 0002_sales_source
-- The sales subject area (seed 004 + seed 002's e-commerce example): bronze landing, silver history,
-- and the star schema in schema sales. Views and routines are in procedures/sales/, registration in
-- procedures/registry/sales.sql.

CREATE SCHEMA IF NOT EXISTS sales;
COMMENT ON SCHEMA sales IS 'Sales star schema (seed 004): dim_customer, dim_product (SCD2), fact_sales, aggregates, marts, and the seed''s compatibility views. SET search_path = sales, gold runs the seed''s SQL unchanged.';
GRANT USAGE ON SCHEMA sales TO analyst_role, etl_service;
GRANT ALL ON SCHEMA sales TO dwh_owner;
ALTER DEFAULT PRIVILEGES IN SCHEMA sales GRANT SELECT ON TABLES TO analyst_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA sales GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO etl_service;
ALTER DEFAULT PRIVILEGES IN SCHEMA sales GRANT EXECUTE ON FUNCTIONS TO etl_service;
GRANT SELECT ON ALL TABLES IN SCHEMA sales_src TO etl_service;

-- ---------------------------------------------------------------------------------------------
-- Bronze: raw, append-only, text-typed copies of the source rows, with ingestion metadata.
-- ---------------------------------------------------------------------------------------------

CREATE TABLE bronze.sales_customers (
    _bronze_id       bigint GENERATED ALWAYS AS IDENTITY,
    customer_id      text,
    first_name       text,
    last_name        text,
    email            text,
    phone            text,
    city             text,
    country          text,
    customer_segment text,
    signup_date      text,
    created_at       text,
    updated_at       text,
    _batch_id        uuid NOT NULL,
    _ingested_at     timestamptz NOT NULL DEFAULT now(),
    _source          text NOT NULL,
    CONSTRAINT sales_customers_pk PRIMARY KEY (_bronze_id)
);
CREATE INDEX sales_customers_ingested_idx ON bronze.sales_customers (_ingested_at);
COMMENT ON TABLE bronze.sales_customers IS 'Raw customers extracted from the source by high-water mark on updated_at. Append-only.';

CREATE TABLE bronze.sales_products (
    _bronze_id       bigint GENERATED ALWAYS AS IDENTITY,
    product_id       text,
    product_name     text,
    product_group    text,
    category         text,
    brand            text,
    unit_price       text,
    unit_cost        text,
    is_active        text,
    created_at       text,
    updated_at       text,
    _batch_id        uuid NOT NULL,
    _ingested_at     timestamptz NOT NULL DEFAULT now(),
    _source          text NOT NULL,
    CONSTRAINT sales_products_pk PRIMARY KEY (_bronze_id)
);
CREATE INDEX sales_products_ingested_idx ON bronze.sales_products (_ingested_at);
COMMENT ON TABLE bronze.sales_products IS 'Raw products extracted from the source by high-water mark on updated_at. Append-only.';

CREATE TABLE bronze.sales_sales (
    _bronze_id       bigint GENERATED ALWAYS AS IDENTITY,
    sale_id          text,
    order_id         text,
    line_number      text,
    customer_id      text,
    product_id       text,
    quantity         text,
    unit_price       text,
    discount_amount  text,
    transaction_date text,
    created_at       text,
    updated_at       text,
    _batch_id        uuid NOT NULL,
    _ingested_at     timestamptz NOT NULL DEFAULT now(),
    _source          text NOT NULL,
    CONSTRAINT sales_sales_pk PRIMARY KEY (_bronze_id)
);
CREATE INDEX sales_sales_ingested_idx ON bronze.sales_sales (_ingested_at);
COMMENT ON TABLE bronze.sales_sales IS 'Raw sales lines extracted from the source by high-water mark on updated_at (seed 004 mrr_fact_sales). Append-only.';

CREATE TABLE bronze.sales_deleted_records (
    _bronze_id       bigint GENERATED ALWAYS AS IDENTITY,
    table_name       text,
    record_id        text,
    deleted_at       text,
    _batch_id        uuid NOT NULL,
    _ingested_at     timestamptz NOT NULL DEFAULT now(),
    _source          text NOT NULL,
    CONSTRAINT sales_deleted_records_pk PRIMARY KEY (_bronze_id)
);
CREATE INDEX sales_deleted_records_ingested_idx ON bronze.sales_deleted_records (_ingested_at);
COMMENT ON TABLE bronze.sales_deleted_records IS 'Raw tombstones of rows deleted at the source, extracted by high-water mark on deleted_at.';

-- ---------------------------------------------------------------------------------------------
-- Silver: typed, standardized, validated; customers and products keep full SCD2 history.
-- ---------------------------------------------------------------------------------------------

CREATE TABLE silver.sales_customers (
    customer_sk      bigint GENERATED ALWAYS AS IDENTITY,
    customer_id      bigint NOT NULL,
    first_name       text NOT NULL,
    last_name        text NOT NULL,
    email            text,
    phone            text,
    city             text,
    country          text,
    customer_segment text,
    signup_date      date,
    valid_from       timestamptz NOT NULL,
    valid_to         timestamptz,
    is_current       boolean NOT NULL,
    version          integer NOT NULL,
    is_deleted       boolean NOT NULL DEFAULT false,
    _batch_id        uuid NOT NULL,
    _loaded_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT sales_customers_pk PRIMARY KEY (customer_sk),
    CONSTRAINT sales_customers_validity_ck CHECK (valid_to > valid_from),
    CONSTRAINT sales_customers_version_ck CHECK (version >= 1),
    CONSTRAINT sales_customers_current_ck CHECK (is_current = (valid_to IS NULL)),
    CONSTRAINT sales_customers_no_overlap EXCLUDE USING gist (customer_id WITH =, tstzrange(valid_from, valid_to) WITH &&),
    CONSTRAINT sales_customers_version_uq UNIQUE (customer_id, version)
);
CREATE UNIQUE INDEX sales_customers_current_uq ON silver.sales_customers (customer_id) WHERE is_current;
CREATE INDEX sales_customers_loaded_idx ON silver.sales_customers (_loaded_at);
COMMENT ON TABLE silver.sales_customers IS 'Customers, cleansed, with every version (SCD2 through dwh_etl.apply_dimension; a deletion is an is_deleted version).';

CREATE TABLE silver.sales_products (
    product_sk       bigint GENERATED ALWAYS AS IDENTITY,
    product_id       bigint NOT NULL,
    product_name     text NOT NULL,
    product_group    text NOT NULL,
    category         text,
    brand            text,
    unit_price       numeric(10,2) NOT NULL,
    unit_cost        numeric(10,2),
    is_active        boolean NOT NULL,
    valid_from       timestamptz NOT NULL,
    valid_to         timestamptz,
    is_current       boolean NOT NULL,
    version          integer NOT NULL,
    is_deleted       boolean NOT NULL DEFAULT false,
    _batch_id        uuid NOT NULL,
    _loaded_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT sales_products_pk PRIMARY KEY (product_sk),
    CONSTRAINT sales_products_validity_ck CHECK (valid_to > valid_from),
    CONSTRAINT sales_products_version_ck CHECK (version >= 1),
    CONSTRAINT sales_products_current_ck CHECK (is_current = (valid_to IS NULL)),
    CONSTRAINT sales_products_no_overlap EXCLUDE USING gist (product_id WITH =, tstzrange(valid_from, valid_to) WITH &&),
    CONSTRAINT sales_products_version_uq UNIQUE (product_id, version)
);
CREATE UNIQUE INDEX sales_products_current_uq ON silver.sales_products (product_id) WHERE is_current;
CREATE INDEX sales_products_loaded_idx ON silver.sales_products (_loaded_at);
COMMENT ON TABLE silver.sales_products IS 'Products, cleansed, with every version (SCD2; a deletion is an is_deleted version).';

CREATE TABLE silver.sales_sales (
    sale_id          bigint NOT NULL,
    order_id         bigint NOT NULL,
    line_number      smallint NOT NULL,
    customer_id      bigint NOT NULL,
    product_id       bigint NOT NULL,
    quantity         integer NOT NULL,
    unit_price       numeric(10,2) NOT NULL,
    discount_amount  numeric(10,2) NOT NULL,
    transaction_at   timestamptz NOT NULL,
    source_updated_at timestamptz NOT NULL,
    is_deleted       boolean NOT NULL DEFAULT false,
    _batch_id        uuid NOT NULL,
    _loaded_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT sales_sales_pk PRIMARY KEY (sale_id),
    CONSTRAINT sales_sales_quantity_ck CHECK (quantity > 0),
    CONSTRAINT sales_sales_price_ck CHECK (unit_price >= 0 AND discount_amount >= 0)
);
CREATE INDEX sales_sales_loaded_idx ON silver.sales_sales (_loaded_at);
COMMENT ON TABLE silver.sales_sales IS 'Sales lines, typed and validated, latest state per sale_id (seed 004 stg_fact_sales); deleted lines are flagged, not removed. Rejected lines are in dwh_etl.quarantine.';

-- ---------------------------------------------------------------------------------------------
-- Gold: the sales star schema
-- ---------------------------------------------------------------------------------------------

CREATE TABLE sales.dim_customer (
    customer_key     bigint GENERATED ALWAYS AS IDENTITY,
    customer_id      bigint NOT NULL,
    full_name        text NOT NULL,
    email            text,
    email_domain     text,
    phone            text,
    city             text,
    country          text,
    customer_segment text,
    signup_date      date,
    valid_from       timestamptz NOT NULL,
    valid_to         timestamptz,
    is_current       boolean NOT NULL,
    version          integer NOT NULL,
    is_deleted       boolean NOT NULL DEFAULT false,
    _batch_id        uuid NOT NULL,
    _loaded_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT dim_customer_pk PRIMARY KEY (customer_key),
    CONSTRAINT dim_customer_validity_ck CHECK (valid_to > valid_from),
    CONSTRAINT dim_customer_version_ck CHECK (version >= 1),
    CONSTRAINT dim_customer_current_ck CHECK (is_current = (valid_to IS NULL)),
    CONSTRAINT dim_customer_no_overlap EXCLUDE USING gist (customer_id WITH =, tstzrange(valid_from, valid_to) WITH &&),
    CONSTRAINT dim_customer_version_uq UNIQUE (customer_id, version)
);
CREATE UNIQUE INDEX dim_customer_current_uq ON sales.dim_customer (customer_id) WHERE is_current;
CREATE INDEX dim_customer_segment_idx ON sales.dim_customer (customer_segment) WHERE is_current;
CREATE INDEX dim_customer_lookup_idx ON sales.dim_customer (customer_id, valid_from);
COMMENT ON TABLE sales.dim_customer IS 'Customer dimension, SCD Type 2 (segment, city, country, email tracked; phone and name overwritten), one row per version. A deleted customer has no current row.';
COMMENT ON COLUMN sales.dim_customer.customer_key IS 'Surrogate key of the version; fact rows point at the version current at the sale.';
COMMENT ON COLUMN sales.dim_customer.valid_to IS 'End of validity (exclusive); NULL for the current version.';

CREATE TABLE sales.dim_product (
    product_key      bigint GENERATED ALWAYS AS IDENTITY,
    product_id       bigint NOT NULL,
    product_name     text NOT NULL,
    product_group    text NOT NULL,
    category         text,
    brand            text,
    list_price       numeric(10,2) NOT NULL,
    unit_cost        numeric(10,2),
    is_active        boolean NOT NULL,
    valid_from       timestamptz NOT NULL,
    valid_to         timestamptz,
    is_current       boolean NOT NULL,
    version          integer NOT NULL,
    is_deleted       boolean NOT NULL DEFAULT false,
    _batch_id        uuid NOT NULL,
    _loaded_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT dim_product_pk PRIMARY KEY (product_key),
    CONSTRAINT dim_product_validity_ck CHECK (valid_to > valid_from),
    CONSTRAINT dim_product_version_ck CHECK (version >= 1),
    CONSTRAINT dim_product_current_ck CHECK (is_current = (valid_to IS NULL)),
    CONSTRAINT dim_product_no_overlap EXCLUDE USING gist (product_id WITH =, tstzrange(valid_from, valid_to) WITH &&),
    CONSTRAINT dim_product_version_uq UNIQUE (product_id, version)
);
CREATE UNIQUE INDEX dim_product_current_uq ON sales.dim_product (product_id) WHERE is_current;
CREATE INDEX dim_product_group_idx ON sales.dim_product (product_group) WHERE is_current;
CREATE INDEX dim_product_lookup_idx ON sales.dim_product (product_id, valid_from);
COMMENT ON TABLE sales.dim_product IS 'Product dimension, SCD Type 2 (name, group, category, brand, list price, active flag tracked; unit cost overwritten).';

CREATE TABLE sales.fact_sales (
    sale_id          bigint NOT NULL,
    order_id         bigint NOT NULL,
    line_number      smallint NOT NULL,
    date_key         integer NOT NULL,
    time_key         integer NOT NULL,
    customer_key     bigint NOT NULL,
    product_key      bigint NOT NULL,
    quantity         integer NOT NULL,
    unit_price       numeric(10,2) NOT NULL,
    discount_amount  numeric(10,2) NOT NULL DEFAULT 0,
    line_total       numeric(12,2) GENERATED ALWAYS AS (quantity * unit_price - discount_amount) STORED,
    transaction_at   timestamptz NOT NULL,
    _batch_id        uuid NOT NULL,
    _loaded_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT fact_sales_pk PRIMARY KEY (sale_id, date_key),
    CONSTRAINT fact_sales_customer_fk FOREIGN KEY (customer_key) REFERENCES sales.dim_customer (customer_key),
    CONSTRAINT fact_sales_product_fk FOREIGN KEY (product_key) REFERENCES sales.dim_product (product_key),
    CONSTRAINT fact_sales_date_fk FOREIGN KEY (date_key) REFERENCES gold.dim_date (date_key),
    CONSTRAINT fact_sales_time_fk FOREIGN KEY (time_key) REFERENCES gold.dim_time_of_day (time_key),
    CONSTRAINT fact_sales_quantity_positive CHECK (quantity > 0),
    CONSTRAINT fact_sales_price_positive CHECK (unit_price >= 0)
) PARTITION BY RANGE (date_key);
CREATE INDEX fact_sales_sale_id_idx ON sales.fact_sales (sale_id);
CREATE INDEX fact_sales_customer_idx ON sales.fact_sales (customer_key);
CREATE INDEX fact_sales_product_idx ON sales.fact_sales (product_key);
COMMENT ON TABLE sales.fact_sales IS 'One row per sales line (grain: sale_id), monthly partitions on date_key created ahead by the load. customer_key / product_key are the dimension versions current at transaction_at.';
COMMENT ON COLUMN sales.fact_sales.line_total IS 'quantity * unit_price - discount_amount.';

CREATE TABLE sales.agg_daily_sales (
    date_key         integer NOT NULL,
    customer_segment text NOT NULL,
    product_category text NOT NULL,
    order_count      integer NOT NULL,
    item_count       integer NOT NULL,
    gross_revenue    numeric(14,2) NOT NULL,
    discount_total   numeric(14,2) NOT NULL,
    tax_total        numeric(14,2) NOT NULL DEFAULT 0,
    net_revenue      numeric(14,2) NOT NULL,
    avg_order_value  numeric(12,2) NOT NULL,
    _batch_id        uuid NOT NULL,
    _loaded_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT agg_daily_sales_pk PRIMARY KEY (date_key, customer_segment, product_category),
    CONSTRAINT agg_daily_sales_date_fk FOREIGN KEY (date_key) REFERENCES gold.dim_date (date_key)
);
COMMENT ON TABLE sales.agg_daily_sales IS 'Daily sales by customer segment and product group (seed 002), recomputed for the affected dates only.';
COMMENT ON COLUMN sales.agg_daily_sales.avg_order_value IS 'net_revenue / order_count. Seed 002 used AVG(line_total), the average line, not the average order.';
COMMENT ON COLUMN sales.agg_daily_sales.tax_total IS 'The source carries no tax: always 0, kept for seed 002 compatibility.';

CREATE TABLE sales.customer_metrics (
    customer_id      bigint NOT NULL,
    customer_name    text NOT NULL,
    customer_segment text,
    total_orders     integer NOT NULL,
    total_quantity   bigint NOT NULL,
    total_spent      numeric(14,2) NOT NULL,
    avg_order_value  numeric(12,2) NOT NULL,
    first_purchase_date date NOT NULL,
    last_purchase_date  date NOT NULL,
    days_since_last_purchase integer NOT NULL,
    customer_tier    text NOT NULL,
    refreshed_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT customer_metrics_pk PRIMARY KEY (customer_id),
    CONSTRAINT customer_metrics_tier_ck CHECK (customer_tier IN ('platinum', 'gold', 'silver', 'bronze'))
);
COMMENT ON TABLE sales.customer_metrics IS 'Per-customer purchase metrics (seed 004), refreshed by sales.sp_refresh_customer_metrics().';
COMMENT ON COLUMN sales.customer_metrics.customer_tier IS 'By total spent: platinum >= 10000, gold >= 5000, silver >= 1000, else bronze.';

-- Lifetime value per customer (seed 002). Fixed from the seed: facts point at the version current at
-- the sale, so the seed's join of facts to the *current* version only dropped every sale made under an
-- earlier version. Facts are joined to any version and grouped by the natural key; the attributes are
-- the current version's. avg_order_value is per order (the seed averaged lines).
CREATE MATERIALIZED VIEW sales.mv_customer_lifetime_value AS
WITH sales_by_customer AS (
    SELECT v.customer_id,
           count(DISTINCT f.order_id) AS total_orders,
           sum(f.line_total)          AS lifetime_value,
           min(f.transaction_at)::date AS first_order_date,
           max(f.transaction_at)::date AS last_order_date
    FROM sales.fact_sales AS f
    JOIN sales.dim_customer AS v
      ON v.customer_key = f.customer_key
    GROUP BY v.customer_id
)
SELECT c.customer_key,
       c.customer_id,
       c.email,
       c.full_name AS name,
       c.customer_segment,
       COALESCE(s.total_orders, 0)   AS total_orders,
       COALESCE(s.lifetime_value, 0) AS lifetime_value,
       CASE WHEN s.total_orders > 0 THEN round(s.lifetime_value / s.total_orders, 2) ELSE 0 END AS avg_order_value,
       s.first_order_date,
       s.last_order_date,
       s.last_order_date - s.first_order_date AS customer_tenure_days
FROM sales.dim_customer AS c
LEFT JOIN sales_by_customer AS s
  ON s.customer_id = c.customer_id
WHERE c.is_current;
CREATE UNIQUE INDEX mv_customer_ltv_pk ON sales.mv_customer_lifetime_value (customer_id);
CREATE INDEX mv_customer_ltv_value ON sales.mv_customer_lifetime_value (lifetime_value DESC);
COMMENT ON MATERIALIZED VIEW sales.mv_customer_lifetime_value IS 'Lifetime value of every current customer across all their versions (seed 002), refreshed CONCURRENTLY after each load.';

CREATE TABLE dwh_staging.sales_affected_dates (
    date_key         integer NOT NULL,
    run_id           bigint,
    noted_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT sales_affected_dates_pk PRIMARY KEY (date_key)
);
COMMENT ON TABLE dwh_staging.sales_affected_dates IS 'Dates whose facts changed and whose aggregates are not yet recomputed; written by the fact load, consumed by the aggregate step (so a failed aggregate is redone by the next run).';
