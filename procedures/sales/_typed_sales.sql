-- The sales lines of bronze typed for silver (the source of the silver step sales_silver_sales, "typing":
-- "source": its checks in procedures/registry/sales.sql say why a line is rejected), with what those
-- checks need besides the values:
--   _customer_known, _product_known  a current silver row of the key exists (every key silver ever
--                                    loaded has one: deletions are marker versions)
--   _max_quantity, _max_unit_price   the row-level limits of silver's error range rules: a row past them
--                                    is quarantined instead of failing the whole step when the rule is
--                                    evaluated after it (quantity 20000 or a price of 5,000,000 rolled back
--                                    every good row of the batch). The rules stay as a safety net.
-- Every value is typed once (the lateral x) by a try_* function, NULL when it does not parse; zone-less
-- source timestamps are read in current_setting('TimeZone'), which dwh_etl.step_silver sets to the shop's
-- zone (setting sales.source_timezone) while it types. A missing (NULL or blank) discount is no discount,
-- a missing tax no tax (a source without the column: bronze's default ''). The columns added later
-- (tax) come last: CREATE OR REPLACE VIEW only appends.
CREATE OR REPLACE VIEW sales._typed_sales AS
SELECT b._bronze_id,
       b._ingested_at,
       -- the key as typed when it is one (so a later valid version supersedes the entry),
       -- else as received, cut to 200 characters (plus its md5) when longer
       COALESCE(x.sale_id::text,
                CASE WHEN length(b.sale_id) > 200 THEN left(b.sale_id, 200) || '…md5:' || md5(b.sale_id)
                     ELSE b.sale_id END)       AS _record_key,
       x.sale_id,
       x.order_id,
       x.line_number,
       x.customer_id,
       x.product_id,
       x.quantity,
       x.unit_price,
       x.discount_amount,
       x.transaction_at,
       -- a line never updated carries its transaction time as its change time, as the same text: parsed
       -- once (issue 15: the timestamp parser is ~4 us a value, a third of this view's cost; the same
       -- text gives the same value, so the result is the same row for row)
       CASE WHEN b.updated_at = b.transaction_date THEN x.transaction_at
            ELSE dwh_etl.try_timestamptz(b.updated_at, current_setting('TimeZone')) END AS source_updated_at,
       b.sale_id          AS _raw_sale_id,
       b.order_id         AS _raw_order_id,
       b.line_number      AS _raw_line_number,
       b.quantity         AS _raw_quantity,
       b.customer_id      AS _raw_customer_id,
       b.product_id       AS _raw_product_id,
       b.unit_price       AS _raw_unit_price,
       b.discount_amount  AS _raw_discount_amount,
       b.transaction_date AS _raw_transaction_date,
       b.updated_at       AS _raw_updated_at,
       c.customer_id IS NOT NULL AS _customer_known,
       p.product_id IS NOT NULL  AS _product_known,
       lim.max_quantity   AS _max_quantity,
       lim.max_unit_price AS _max_unit_price,
       x.tax_amount,
       b.tax_amount       AS _raw_tax_amount
FROM bronze.sales_sales AS b
-- OFFSET 0: typed once per row, not once per reference
CROSS JOIN LATERAL (
    SELECT dwh_etl.try_bigint(b.sale_id)               AS sale_id,
           dwh_etl.try_bigint(b.order_id)              AS order_id,
           dwh_etl.try_bigint(b.line_number)           AS line_number,
           dwh_etl.try_bigint(b.customer_id)           AS customer_id,
           dwh_etl.try_bigint(b.product_id)            AS product_id,
           dwh_etl.try_bigint(b.quantity)              AS quantity,
           dwh_etl.try_numeric(b.unit_price)           AS unit_price,
           COALESCE(dwh_etl.try_numeric(b.discount_amount),
                    CASE WHEN dwh_etl.try_trim(b.discount_amount) IS NULL THEN 0 END) AS discount_amount,
           COALESCE(dwh_etl.try_numeric(b.tax_amount),
                    CASE WHEN dwh_etl.try_trim(b.tax_amount) IS NULL THEN 0 END) AS tax_amount,
           dwh_etl.try_timestamptz(b.transaction_date, current_setting('TimeZone')) AS transaction_at
    OFFSET 0
) AS x
LEFT JOIN silver.sales_customers AS c
  ON c.customer_id = x.customer_id
 AND c.is_current
LEFT JOIN silver.sales_products AS p
  ON p.product_id = x.product_id
 AND p.is_current
CROSS JOIN (
    SELECT min((r.params->>'max')::numeric) FILTER (WHERE 'quantity' = ANY (r.column_names))   AS max_quantity,
           min((r.params->>'max')::numeric) FILTER (WHERE 'unit_price' = ANY (r.column_names)) AS max_unit_price
    FROM dwh_etl.quality_rules AS r
    WHERE r.table_name = 'silver.sales_sales'
      AND r.rule_type = 'range'
      AND r.severity = 'error'
      AND r.is_enabled
      AND r.params ? 'max'
      AND NOT r.params ? 'where'
) AS lim;
COMMENT ON VIEW sales._typed_sales IS 'bronze.sales_sales typed for the silver step sales_silver_sales (dwh_etl.step_silver), with the known-key flags and quality-rule limits its checks use.';
