-- The customers of bronze typed, trimmed and standardized for silver (the source of the silver step
-- sales_silver_customers, "typing": "source": its checks in procedures/registry/sales.sql say why a row
-- is rejected). Text is trimmed of every Unicode space (dwh_etl.try_trim: a name of only U+3000 spaces
-- is empty, like one of ASCII spaces). Zone-less source timestamps are read in current_setting('TimeZone'),
-- which dwh_etl.step_silver sets to the shop's zone (setting sales.source_timezone) while it types,
-- never the client's (issue 9). The _raw_* columns keep the text as received for the reasons.
CREATE OR REPLACE VIEW sales._typed_customers AS
SELECT b._bronze_id,
       b._ingested_at,
       -- the key as typed when it is one, else as received (cut to 200 characters plus its md5)
       COALESCE(dwh_etl.try_bigint(b.customer_id)::text,
                CASE WHEN length(b.customer_id) > 200 THEN left(b.customer_id, 200) || '…md5:' || md5(b.customer_id)
                     ELSE b.customer_id END)     AS _record_key,
       dwh_etl.try_bigint(b.customer_id)               AS customer_id,
       initcap(dwh_etl.try_trim(b.first_name))         AS first_name,
       initcap(dwh_etl.try_trim(b.last_name))          AS last_name,
       lower(dwh_etl.try_trim(b.email))                AS email,
       dwh_etl.try_trim(b.phone)                       AS phone,
       initcap(dwh_etl.try_trim(b.city))               AS city,
       dwh_etl.try_trim(b.country)                     AS country,
       dwh_etl.try_trim(b.customer_segment)            AS customer_segment,
       -- the date as written (try_timestamptz(...)::date shifted it by the session's TimeZone)
       dwh_etl.try_date(b.signup_date)                 AS signup_date,
       dwh_etl.try_timestamptz(b.updated_at, current_setting('TimeZone')) AS updated_at,
       b.customer_id AS _raw_customer_id,
       b.signup_date AS _raw_signup_date,
       b.updated_at  AS _raw_updated_at
FROM bronze.sales_customers AS b;
COMMENT ON VIEW sales._typed_customers IS 'bronze.sales_customers typed and standardized for the silver step sales_silver_customers (dwh_etl.step_silver).';
