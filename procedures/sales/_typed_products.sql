-- The products of bronze typed and standardized for silver (the source of the silver step
-- sales_silver_products, "typing": "source": its checks in procedures/registry/sales.sql say why a row
-- is rejected: prices must fit numeric(10,2) exactly, never rounded). Text is trimmed of every Unicode
-- space (dwh_etl.try_trim). Zone-less source timestamps are read in current_setting('TimeZone'), which
-- dwh_etl.step_silver sets to the shop's zone (setting sales.source_timezone) while it types.
CREATE OR REPLACE VIEW sales._typed_products AS
SELECT b._bronze_id,
       b._ingested_at,
       -- the key as typed when it is one, else as received (cut to 200 characters plus its md5)
       COALESCE(dwh_etl.try_bigint(b.product_id)::text,
                CASE WHEN length(b.product_id) > 200 THEN left(b.product_id, 200) || '…md5:' || md5(b.product_id)
                     ELSE b.product_id END)  AS _record_key,
       dwh_etl.try_bigint(b.product_id)           AS product_id,
       dwh_etl.try_trim(b.product_name)           AS product_name,
       initcap(dwh_etl.try_trim(b.product_group)) AS product_group,
       dwh_etl.try_trim(b.category)               AS category,
       dwh_etl.try_trim(b.brand)                  AS brand,
       dwh_etl.try_numeric(b.unit_price)          AS unit_price,
       dwh_etl.try_numeric(b.unit_cost)           AS unit_cost,
       CASE lower(dwh_etl.try_trim(b.is_active)) WHEN 'true' THEN true WHEN 'false' THEN false END AS is_active,
       dwh_etl.try_timestamptz(b.updated_at, current_setting('TimeZone')) AS updated_at,
       b.product_id AS _raw_product_id,
       b.unit_price AS _raw_unit_price,
       b.unit_cost  AS _raw_unit_cost,
       b.updated_at AS _raw_updated_at
FROM bronze.sales_products AS b;
COMMENT ON VIEW sales._typed_products IS 'bronze.sales_products typed and standardized for the silver step sales_silver_products (dwh_etl.step_silver).';
