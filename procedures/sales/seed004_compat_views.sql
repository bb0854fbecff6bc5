-- Several small views in one file: the seed 004 aliases belong together and change together.
-- Seed 004 compatibility views (SET search_path = sales, gold): the seed's layer-prefixed names over
-- the warehouse's own tables. MRR = bronze, STG = silver, DWH = gold.
CREATE OR REPLACE VIEW sales.dwh_fact_sales AS
SELECT f.* FROM sales.fact_sales AS f;
COMMENT ON VIEW sales.dwh_fact_sales IS 'Seed 004 name for sales.fact_sales.';

CREATE OR REPLACE VIEW sales.dwh_dim_customers AS
SELECT c.* FROM sales.dim_customer AS c;
COMMENT ON VIEW sales.dwh_dim_customers IS 'Seed 004 name for sales.dim_customer (SCD2; WHERE is_current for current customers).';

CREATE OR REPLACE VIEW sales.dwh_dim_products AS
SELECT p.* FROM sales.dim_product AS p;
COMMENT ON VIEW sales.dwh_dim_products IS 'Seed 004 name for sales.dim_product (SCD2; WHERE is_current for current products).';

CREATE OR REPLACE VIEW sales.dwh_dim_date AS
SELECT d.* FROM gold.dim_date AS d;
COMMENT ON VIEW sales.dwh_dim_date IS 'Seed 004 name for the conformed calendar gold.dim_date.';

CREATE OR REPLACE VIEW sales.mrr_fact_sales AS
SELECT b.* FROM bronze.sales_sales AS b;
COMMENT ON VIEW sales.mrr_fact_sales IS 'Seed 004 MRR (raw mirror) sales: bronze.sales_sales.';

CREATE OR REPLACE VIEW sales.mrr_dim_customers AS
SELECT b.* FROM bronze.sales_customers AS b;
COMMENT ON VIEW sales.mrr_dim_customers IS 'Seed 004 MRR customers: bronze.sales_customers.';

CREATE OR REPLACE VIEW sales.mrr_dim_products AS
SELECT b.* FROM bronze.sales_products AS b;
COMMENT ON VIEW sales.mrr_dim_products IS 'Seed 004 MRR products: bronze.sales_products.';

-- STG derives the date parts (seed 004: "Derived columns (date parts)"), of the sale's moment in the
-- shop's zone (setting sales.source_timezone, read once per query), as the fact's date_key is.
CREATE OR REPLACE VIEW sales.stg_fact_sales AS
SELECT s.*,
       l.local_at::date                              AS transaction_day,
       extract(year FROM l.local_at)::smallint       AS transaction_year,
       extract(quarter FROM l.local_at)::smallint    AS transaction_quarter,
       extract(month FROM l.local_at)::smallint      AS transaction_month,
       extract(day FROM l.local_at)::smallint        AS transaction_day_of_month,
       extract(isodow FROM l.local_at)::smallint     AS transaction_day_of_week,
       extract(hour FROM l.local_at)::smallint       AS transaction_hour,
       to_char(l.local_at, 'YYYYMMDD')::integer      AS transaction_date_key
FROM silver.sales_sales AS s
CROSS JOIN LATERAL (
    SELECT s.transaction_at AT TIME ZONE (SELECT dwh_etl.setting_timezone('sales.source_timezone')) AS local_at
) AS l;
COMMENT ON VIEW sales.stg_fact_sales IS 'Seed 004 STG sales: silver.sales_sales with the sale''s date parts in the shop''s zone (day, year, quarter, month, day of month, ISO day of week 1 = Monday, hour, YYYYMMDD key).';

CREATE OR REPLACE VIEW sales.stg_dim_customers AS
SELECT s.* FROM silver.sales_customers AS s;
COMMENT ON VIEW sales.stg_dim_customers IS 'Seed 004 STG customers: silver.sales_customers (all versions).';

CREATE OR REPLACE VIEW sales.stg_dim_products AS
SELECT s.* FROM silver.sales_products AS s;
COMMENT ON VIEW sales.stg_dim_products IS 'Seed 004 STG products: silver.sales_products (all versions).';

-- The operational table of the seed's "row counts by layer" query (FROM sales). Points at the demo
-- source schema; recreate it if sales.source_schema names another schema.
CREATE OR REPLACE VIEW sales.sales AS
SELECT s.* FROM sales_src.sales AS s;
COMMENT ON VIEW sales.sales IS 'Seed 004 operational sales table (the demo source sales_src.sales).';

-- Analysts read gold only (seed 002; issue 9: they read bronze and silver, personal data included,
-- through the mrr_/stg_ views). Relations of schema sales are not granted to analyst_role by default
-- (migration 0008): the gold aliases are granted here, the lower-layer ones are the ETL role's.
GRANT SELECT ON sales.dwh_fact_sales, sales.dwh_dim_customers, sales.dwh_dim_products, sales.dwh_dim_date TO analyst_role;
REVOKE ALL ON sales.mrr_fact_sales, sales.mrr_dim_customers, sales.mrr_dim_products,
              sales.stg_fact_sales, sales.stg_dim_customers, sales.stg_dim_products, sales.sales
    FROM analyst_role, PUBLIC;
-- The ETL role reads them; it writes neither bronze nor the source through them (attack 13d: the default
-- privileges of schema sales gave it INSERT, UPDATE, DELETE on these simple, auto-updatable views, checked
-- against the views' owner: through sales.sales it rewrote sales_src.sales, which it may only read).
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON sales.mrr_fact_sales, sales.mrr_dim_customers, sales.mrr_dim_products, sales.sales
    FROM etl_service;
