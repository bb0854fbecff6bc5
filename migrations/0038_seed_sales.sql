-- depends: 0037_column_lineage
-- Seeds 002 and 004, what their users reach for and did not find (issue 18):
--
-- 1. tax_amount on a sales line, from the source to the aggregate (seed 002's fact_sales has it, and its
--    agg_daily_sales.tax_total is the sum of it; ours was always 0). The demo source computes it; bronze
--    keeps it as text like every column; silver types it (a blank or missing tax is no tax, a negative or
--    malformed one is quarantined); the fact carries it and sales.agg_daily_sales.tax_total sums it.
--    line_total stays quantity x unit_price - discount_amount (revenue net of tax): the seed added the
--    tax into line_total, which would make every revenue figure include tax collected for the state.
--    bronze.sales_sales.tax_amount has a DEFAULT: a bronze column with a default is optional in the
--    source (dwh_etl.extract_incremental), so a source attached before this column existed keeps loading
--    (its lines have no tax).
-- 2. The seed's relative flags on gold.dim_date (is_current_day/week/month/quarter/year), maintained by
--    dwh_etl.update_dim_date_flags() (maintenance step date_flags). Stored as in the seed; false until
--    the procedure first runs.
-- 3. The seed's indexes that were missing, each for a query that uses it (tests/test_seed_sales.py runs
--    the EXPLAIN of each):
--    dim_customer_email_idx        SELECT ... FROM sales.dim_customer WHERE email = $1 AND is_current
--                                  (find a customer by address: support, GDPR requests)
--    fact_sales_date_customer_idx  SELECT ... FROM sales.fact_sales WHERE date_key = $1 AND customer_key = $2
--                                  (what a customer bought on a day: both columns in the index condition,
--                                  where fact_sales_customer_idx reads all of the customer's sales); also
--                                  daily distinct customers of a period as an index-only scan
--    fact_sales_transaction_brin   SELECT ... FROM sales.fact_sales WHERE transaction_at >= $1
--                                  (the last hours' sales: lines arrive in time order, so a BRIN of a few
--                                  pages per partition narrows the scan; the monthly date_key partitions
--                                  only narrow it to a month)
--    fact_sales_date_covering_idx  SELECT date_key, sum(quantity), sum(line_total), sum(tax_amount) FROM
--                                  sales.fact_sales WHERE date_key BETWEEN $1 AND $2 GROUP BY date_key
--                                  (daily totals without reading the heap: index-only scan)
--    The seed's fact_sales_date_idx, _customer_idx, _product_idx exist already or are the partition key
--    (date_key); its covering index INCLUDE (quantity, amount) names a column no fact_sales has.

ALTER TABLE sales_src.sales
    ADD COLUMN IF NOT EXISTS tax_amount numeric(10,2) NOT NULL DEFAULT 0;
COMMENT ON COLUMN sales_src.sales.tax_amount IS 'Sales tax of the line (the demo: 8% of quantity x unit_price - discount_amount).';

ALTER TABLE bronze.sales_sales
    ADD COLUMN IF NOT EXISTS tax_amount text DEFAULT '';
COMMENT ON COLUMN bronze.sales_sales.tax_amount IS 'Sales tax as delivered. Optional in the source (the column has a default): a source without it loads with '''' here, no tax in silver.';

ALTER TABLE silver.sales_sales
    ADD COLUMN IF NOT EXISTS tax_amount numeric(10,2) NOT NULL DEFAULT 0;
ALTER TABLE silver.sales_sales
    ADD CONSTRAINT sales_sales_tax_ck CHECK (tax_amount >= 0);
COMMENT ON COLUMN silver.sales_sales.tax_amount IS 'Sales tax of the line (0 when the source gave none).';

ALTER TABLE sales.fact_sales
    ADD COLUMN IF NOT EXISTS tax_amount numeric(10,2) NOT NULL DEFAULT 0;
ALTER TABLE sales.fact_sales
    ADD CONSTRAINT fact_sales_tax_ck CHECK (tax_amount >= 0);
COMMENT ON COLUMN sales.fact_sales.tax_amount IS 'Sales tax of the line; not in line_total (revenue is net of tax).';
COMMENT ON COLUMN sales.agg_daily_sales.tax_total IS 'Sum of the lines'' tax_amount.';

ALTER TABLE gold.dim_date
    ADD COLUMN IF NOT EXISTS is_current_day boolean NOT NULL DEFAULT false,
    ADD COLUMN IF NOT EXISTS is_current_week boolean NOT NULL DEFAULT false,
    ADD COLUMN IF NOT EXISTS is_current_month boolean NOT NULL DEFAULT false,
    ADD COLUMN IF NOT EXISTS is_current_quarter boolean NOT NULL DEFAULT false,
    ADD COLUMN IF NOT EXISTS is_current_year boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN gold.dim_date.is_current_day IS 'Today (in calendar.timezone), as of the last dwh_etl.update_dim_date_flags() (maintenance step date_flags).';
COMMENT ON COLUMN gold.dim_date.is_current_week IS 'In the current ISO week, as of the last dwh_etl.update_dim_date_flags().';
COMMENT ON COLUMN gold.dim_date.is_current_month IS 'In the current month, as of the last dwh_etl.update_dim_date_flags().';
COMMENT ON COLUMN gold.dim_date.is_current_quarter IS 'In the current quarter, as of the last dwh_etl.update_dim_date_flags().';
COMMENT ON COLUMN gold.dim_date.is_current_year IS 'In the current year, as of the last dwh_etl.update_dim_date_flags().';
-- the flags are few rows at a time: a partial index finds the ones to clear
CREATE INDEX IF NOT EXISTS dim_date_current_idx ON gold.dim_date (date_key)
    WHERE is_current_day OR is_current_week OR is_current_month OR is_current_quarter OR is_current_year;

CREATE INDEX IF NOT EXISTS dim_customer_email_idx ON sales.dim_customer (email) WHERE is_current;
CREATE INDEX IF NOT EXISTS fact_sales_date_customer_idx ON sales.fact_sales (date_key, customer_key);
CREATE INDEX IF NOT EXISTS fact_sales_transaction_brin ON sales.fact_sales USING brin (transaction_at);
CREATE INDEX IF NOT EXISTS fact_sales_date_covering_idx ON sales.fact_sales (date_key)
    INCLUDE (quantity, unit_price, discount_amount, tax_amount, line_total);
