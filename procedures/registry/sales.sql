-- Registry data of the sales area (seed 004): ONE dwh_etl.register_area call declares it all (issue 10):
-- the area and its demo source (read by `dwh demo`), settings, tables and their layers, the SCD specs,
-- the steps of daily and incremental, and the quality rules. Applied by dwh migrate whenever this file
-- changes; idempotent; an entry removed here is removed from the registry.
--
-- The same steps serve both pipelines: daily (the whole warehouse) and the 6-hourly incremental run.
-- Shared steps are serialized by dwh_etl.lock_step and move their own watermarks, so the two
-- pipelines never load a row twice.
--
-- Quality rules:
-- Every key: not null and unique; every fact foreign key: relationships; quantities and amounts: ranges.
-- Batch-scoped rules look at the rows the current run wrote; uniqueness of a batch's keys is checked
-- against the whole table.
-- Row-level limits: sales._typed_sales (the silver step's view) reads the max of silver_sales_quantity_range and
-- silver_sales_price_range and quarantines the rows past them (issue 9: one such row used to roll back
-- the whole step); these rules stay as the safety net, and the fact rules still stop the fact step.
DO $register$
DECLARE
    v_tables jsonb := '[
        {"table": "sales_src.customers", "layer": "source", "description": "operational customers"},
        {"table": "sales_src.products", "layer": "source", "description": "operational products"},
        {"table": "sales_src.sales", "layer": "source", "description": "operational sales lines"},
        {"table": "sales_src.deleted_records", "layer": "source", "description": "operational tombstones"},
        {"table": "bronze.sales_customers", "layer": "bronze"},
        {"table": "bronze.sales_products", "layer": "bronze"},
        {"table": "bronze.sales_sales", "layer": "bronze"},
        {"table": "bronze.sales_deleted_records", "layer": "bronze"},
        {"table": "silver.sales_customers", "layer": "silver"},
        {"table": "silver.sales_products", "layer": "silver"},
        {"table": "silver.sales_sales", "layer": "silver"},
        {"table": "sales.dim_customer", "layer": "gold"},
        {"table": "sales.dim_product", "layer": "gold"},
        {"table": "sales.fact_sales", "layer": "gold"},
        {"table": "sales.agg_daily_sales", "layer": "mart"},
        {"table": "sales.mv_customer_lifetime_value", "layer": "mart"},
        {"table": "sales.customer_metrics", "layer": "mart"}
    ]';
    -- Silver keeps every version of customers and products (deletions as marker versions); the gold
    -- dimensions keep location, segment, email and list price as history, the rest as corrections.
    v_dimensions jsonb := '[
        {"dimension": "sales.silver_customers", "target": "silver.sales_customers", "surrogate_key": "customer_sk", "natural_key": ["customer_id"], "type2_columns": ["first_name", "last_name", "email", "phone", "city", "country", "customer_segment", "signup_date"], "type1_columns": [], "change_ts": "change_ts", "deleted_flag": "is_deleted", "delete_policy": "close_marker", "type1_scope": "all_versions", "description": "Silver keeps every version of every customer; a deletion is a marker version."},
        {"dimension": "sales.silver_products", "target": "silver.sales_products", "surrogate_key": "product_sk", "natural_key": ["product_id"], "type2_columns": ["product_name", "product_group", "category", "brand", "unit_price", "unit_cost", "is_active"], "type1_columns": [], "change_ts": "change_ts", "deleted_flag": "is_deleted", "delete_policy": "close_marker", "type1_scope": "all_versions", "description": "Silver keeps every version of every product; a deletion is a marker version."},
        {"dimension": "sales.dim_customer", "target": "sales.dim_customer", "surrogate_key": "customer_key", "natural_key": ["customer_id"], "type2_columns": ["email", "email_domain", "city", "country", "customer_segment"], "type1_columns": ["full_name", "phone", "signup_date"], "change_ts": "change_ts", "deleted_flag": "is_deleted", "delete_policy": "close", "type1_scope": "all_versions", "description": "Customer dimension: location, segment and email are history; name, phone and signup date are corrections."},
        {"dimension": "sales.dim_product", "target": "sales.dim_product", "surrogate_key": "product_key", "natural_key": ["product_id"], "type2_columns": ["product_name", "product_group", "category", "brand", "list_price", "is_active"], "type1_columns": ["unit_cost"], "change_ts": "change_ts", "deleted_flag": "is_deleted", "delete_policy": "close", "type1_scope": "all_versions", "description": "Product dimension: descriptive attributes and list price are history; unit cost is a correction."}
    ]';
    v_steps jsonb := '[
    {"step": "sales_extract", "kind": "extract", "layer": "bronze",
     "depends_on": ["sources"],
     "spec": {"schema_setting": "sales.source_schema", "default_schema": "sales_src",
              "tables": [["customers", "bronze.sales_customers"], ["products", "bronze.sales_products"],
                         ["sales", "bronze.sales_sales"], ["deleted_records", "bronze.sales_deleted_records"]]},
     "description": "customers, products, sales lines and tombstones that arrived in the source, into bronze, in one snapshot",
     "sources": ["sales_src.customers", "sales_src.products", "sales_src.sales", "sales_src.deleted_records"],
     "targets": ["bronze.sales_customers", "bronze.sales_products", "bronze.sales_sales", "bronze.sales_deleted_records"],
     "feeds": [["sales_src.customers", "bronze.sales_customers"], ["sales_src.products", "bronze.sales_products"],
               ["sales_src.sales", "bronze.sales_sales"], ["sales_src.deleted_records", "bronze.sales_deleted_records"]]},
    {"step": "sales_dim_customer", "kind": "dimension", "layer": "gold",
     "spec": {"dimension": "sales.dim_customer", "view": "sales.dim_customer_changes", "lineage_source": "silver.sales_customers"},
     "depends_on": ["sales_silver_customers"],
     "sources": ["silver.sales_customers"], "targets": ["sales.dim_customer"]},
    {"step": "sales_dim_product", "kind": "dimension", "layer": "gold",
     "spec": {"dimension": "sales.dim_product", "view": "sales.dim_product_changes", "lineage_source": "silver.sales_products"},
     "depends_on": ["sales_silver_products"],
     "sources": ["silver.sales_products"], "targets": ["sales.dim_product"]},
    {"step": "sales_fact_sales", "kind": "fact", "layer": "gold",
     "spec": {"view": "silver.sales_fact_sales_rows", "target": "sales.fact_sales", "natural_key": ["sale_id"],
              "mode": "replace", "deleted_column": "is_deleted", "event_time": "transaction_at",
              "lookups": [{"dimension": "sales.dim_customer"}, {"dimension": "sales.dim_product"}],
              "date_key": "date_key", "partitioned": true, "time_of_day": true,
              "affected_queue": [{"table": "dwh_staging.sales_affected_dates", "column": "date_key"},
                                 {"table": "dwh_staging.sales_affected_customers", "column": "customer_key"}],
              "lineage_source": "silver.sales_sales"},
     "depends_on": ["sales_silver_sales", "sales_dim_customer", "sales_dim_product"],
     "sources": ["silver.sales_sales", "sales.dim_customer", "sales.dim_product", "gold.dim_date"], "targets": ["sales.fact_sales"]},
    {"step": "sales_agg_daily_sales", "kind": "mart", "layer": "mart",
     "spec": {"table": "sales.agg_daily_sales", "view": "silver.sales_agg_daily_sales_rows", "key_column": "date_key",
              "queue": {"table": "dwh_staging.sales_affected_dates", "column": "date_key"},
              "lineage_source": "sales.fact_sales"},
     "depends_on": ["sales_fact_sales"],
     "sources": ["sales.fact_sales", "sales.dim_customer", "sales.dim_product"], "targets": ["sales.agg_daily_sales"]},
    {"step": "sales_customer_ltv", "kind": "mart", "layer": "mart",
     "spec": {"view": "sales.mv_customer_lifetime_value", "lineage_source": "sales.customer_metrics"},
     "depends_on": ["sales_customer_metrics"],
     "sources": ["sales.customer_metrics", "sales.dim_customer"], "targets": ["sales.mv_customer_lifetime_value"]},
    {"step": "sales_customer_metrics", "procedure": "sales.step_customer_metrics", "layer": "mart",
     "depends_on": ["sales_fact_sales"],
     "sources": ["sales.fact_sales", "sales.dim_customer"], "targets": ["sales.customer_metrics"],
     "columns": {"sales.customer_metrics.customer_id": ["sales.dim_customer.customer_id"],
                 "sales.customer_metrics.customer_name": {"from": ["sales.dim_customer.full_name"], "how": "latest version"},
                 "sales.customer_metrics.customer_segment": {"from": ["sales.dim_customer.customer_segment"], "how": "latest version"},
                 "sales.customer_metrics.total_orders": {"from": ["sales.fact_sales.order_id"], "how": "count distinct"},
                 "sales.customer_metrics.total_quantity": {"from": ["sales.fact_sales.quantity"], "how": "sum"},
                 "sales.customer_metrics.total_spent": {"from": ["sales.fact_sales.line_total"], "how": "sum"},
                 "sales.customer_metrics.avg_order_value": {"from": ["sales.fact_sales.line_total", "sales.fact_sales.order_id"], "how": "sum / count distinct"},
                 "sales.customer_metrics.first_purchase_date": {"from": ["sales.fact_sales.transaction_at"], "how": "min, as date"},
                 "sales.customer_metrics.last_purchase_date": {"from": ["sales.fact_sales.transaction_at"], "how": "max, as date"},
                 "sales.customer_metrics.days_since_last_purchase": {"from": ["sales.fact_sales.transaction_at"], "how": "days since max"},
                 "sales.customer_metrics.customer_tier": {"from": ["sales.fact_sales.line_total"], "how": "tier of the sum"}}}
]';
    -- The silver steps (kind silver, dwh_etl.step_silver): the views sales._typed_* type and standardize
    -- bronze; the checks give every reason a row is quarantined (run.min_ts / run.max_ts: the sane event
    -- range, dwh_etl.event_time_bounds); customers and products keep SCD2 history in silver, sales lines
    -- their latest state; tombstones of bronze.sales_deleted_records close, or flag, the key. A sales line
    -- quarantined only for an unknown customer or product waits there: once the customers or products step
    -- has loaded that key, its "after" function sales.requeue_waiting_sales replays the line into bronze, and
    -- the sales step of the same run loads it (attack 15b: an order that reached the source before its new
    -- customer stayed out of gold for good).
    v_silver jsonb := $json$[
    {"step": "sales_silver_customers", "kind": "silver", "layer": "silver",
     "depends_on": ["sales_extract"],
     "sources": ["bronze.sales_customers", "bronze.sales_deleted_records"], "targets": ["silver.sales_customers"],
     "spec": {"target": "silver.sales_customers", "bronze": "bronze.sales_customers", "source": "sales._typed_customers",
              "after": ["sales.requeue_waiting_sales"],
              "typing": "source", "mode": "scd2", "dimension": "sales.silver_customers", "ts_column": "updated_at",
              "timezone_setting": "sales.source_timezone",
              "tombstones": {"table": "bronze.sales_deleted_records", "key": "record_id", "deleted_at": "deleted_at",
                             "match": {"table_name": "customers"}},
              "checks": [
                  "CASE WHEN t.customer_id IS NULL THEN dwh_etl.reason_integer('customer_id', b._raw_customer_id, NULL) END",
                  "CASE WHEN t.first_name IS NULL THEN 'first_name is empty' END",
                  "CASE WHEN t.last_name IS NULL THEN 'last_name is empty' END",
                  "CASE WHEN t.email IS NOT NULL AND t.email !~ '^[^@[:space:]]+@[^@[:space:]]+\\.[^@[:space:]]+$' THEN format('email %s is not an address', dwh_etl.quote_value(t.email)) END",
                  "dwh_etl.reason_text('customer_segment', t.customer_segment, 200)",
                  "CASE WHEN dwh_etl.try_trim(b._raw_signup_date) IS NULL THEN NULL WHEN t.signup_date IS NULL THEN format('signup_date %s is not a valid date', dwh_etl.quote_value(b._raw_signup_date)) ELSE dwh_etl.reason_timestamp('signup_date', b._raw_signup_date, t.signup_date::timestamp AT TIME ZONE 'UTC', run.min_ts, run.max_ts) END",
                  "dwh_etl.reason_timestamp('updated_at', b._raw_updated_at, t.updated_at, run.min_ts, run.max_ts)"]}},
    {"step": "sales_silver_products", "kind": "silver", "layer": "silver",
     "depends_on": ["sales_extract"],
     "sources": ["bronze.sales_products", "bronze.sales_deleted_records"], "targets": ["silver.sales_products"],
     "spec": {"target": "silver.sales_products", "bronze": "bronze.sales_products", "source": "sales._typed_products",
              "after": ["sales.requeue_waiting_sales"],
              "typing": "source", "mode": "scd2", "dimension": "sales.silver_products", "ts_column": "updated_at",
              "timezone_setting": "sales.source_timezone",
              "tombstones": {"table": "bronze.sales_deleted_records", "key": "record_id", "deleted_at": "deleted_at",
                             "match": {"table_name": "products"}},
              "checks": [
                  "CASE WHEN t.product_id IS NULL THEN dwh_etl.reason_integer('product_id', b._raw_product_id, NULL) END",
                  "CASE WHEN t.product_name IS NULL THEN 'product_name is empty' END",
                  "CASE WHEN t.product_group IS NULL THEN 'product_group is empty' END",
                  "dwh_etl.reason_text('product_group', t.product_group, 200)",
                  "CASE WHEN t.unit_price IS NULL AND dwh_etl.try_trim(b._raw_unit_price) IS NULL THEN 'unit_price is missing' ELSE COALESCE(dwh_etl.reason_numeric('unit_price', b._raw_unit_price, t.unit_price, 10, 2), CASE WHEN t.unit_price < 0 THEN format('unit_price %s is negative', t.unit_price) END) END",
                  "CASE WHEN dwh_etl.try_trim(b._raw_unit_cost) IS NULL THEN NULL ELSE COALESCE(dwh_etl.reason_numeric('unit_cost', b._raw_unit_cost, t.unit_cost, 10, 2), CASE WHEN t.unit_cost < 0 THEN format('unit_cost %s is negative', t.unit_cost) END) END",
                  "CASE WHEN t.is_active IS NULL THEN 'is_active is not a boolean' END",
                  "dwh_etl.reason_timestamp('updated_at', b._raw_updated_at, t.updated_at, run.min_ts, run.max_ts)"]}},
    {"step": "sales_silver_sales", "kind": "silver", "layer": "silver",
     "depends_on": ["sales_extract", "sales_silver_customers", "sales_silver_products"],
     "sources": ["bronze.sales_sales", "bronze.sales_deleted_records", "silver.sales_customers", "silver.sales_products"],
     "targets": ["silver.sales_sales"],
     "spec": {"target": "silver.sales_sales", "bronze": "bronze.sales_sales", "source": "sales._typed_sales",
              "typing": "source", "key": ["sale_id"], "ts_column": "source_updated_at",
              "unchanged_columns": ["source_updated_at"], "timezone_setting": "sales.source_timezone",
              "tombstones": {"table": "bronze.sales_deleted_records", "key": "record_id", "deleted_at": "deleted_at",
                             "match": {"table_name": "sales"}, "flag": "is_deleted"},
              "checks": [
                  "CASE WHEN t.sale_id IS NULL THEN dwh_etl.reason_integer('sale_id', b._raw_sale_id, NULL) END",
                  "CASE WHEN t.order_id IS NULL THEN dwh_etl.reason_integer('order_id', b._raw_order_id, NULL) END",
                  "CASE WHEN t.line_number IS NULL THEN dwh_etl.reason_integer('line_number', b._raw_line_number, NULL) WHEN t.line_number NOT BETWEEN 1 AND 32767 THEN format('line_number %s is not between 1 and 32767', t.line_number) END",
                  "CASE WHEN t.customer_id IS NULL THEN dwh_etl.reason_integer('customer_id', b._raw_customer_id, NULL) WHEN NOT b._customer_known THEN format('unknown customer_id %s', t.customer_id) END",
                  "CASE WHEN t.product_id IS NULL THEN dwh_etl.reason_integer('product_id', b._raw_product_id, NULL) WHEN NOT b._product_known THEN format('unknown product_id %s', t.product_id) END",
                  "COALESCE(dwh_etl.reason_integer('quantity', b._raw_quantity, t.quantity, 'integer'), CASE WHEN t.quantity <= 0 THEN format('quantity %s is not positive', t.quantity) WHEN t.quantity > b._max_quantity THEN format('quantity %s is above the limit %s (quality rule)', t.quantity, b._max_quantity) END)",
                  "CASE WHEN t.unit_price IS NULL AND dwh_etl.try_trim(b._raw_unit_price) IS NULL THEN 'unit_price is missing' ELSE COALESCE(dwh_etl.reason_numeric('unit_price', b._raw_unit_price, t.unit_price, 10, 2), CASE WHEN t.unit_price < 0 THEN format('unit_price %s is negative', t.unit_price) WHEN t.unit_price > b._max_unit_price THEN format('unit_price %s is above the limit %s (quality rule)', t.unit_price, b._max_unit_price) END) END",
                  "COALESCE(dwh_etl.reason_numeric('discount_amount', b._raw_discount_amount, t.discount_amount, 10, 2), CASE WHEN t.discount_amount < 0 THEN format('discount_amount %s is negative', t.discount_amount) END)",
                  "COALESCE(dwh_etl.reason_numeric('tax_amount', b._raw_tax_amount, t.tax_amount, 10, 2), CASE WHEN t.tax_amount < 0 THEN format('tax_amount %s is negative', t.tax_amount) END)",
                  "CASE WHEN abs(t.quantity * t.unit_price - t.discount_amount) >= 10000000000 THEN format('line_total %s (quantity x unit_price - discount_amount) is out of range for numeric(12,2)', t.quantity * t.unit_price - t.discount_amount) END",
                  "dwh_etl.reason_timestamp('transaction_date', b._raw_transaction_date, t.transaction_at, run.min_ts, run.max_ts)",
                  "dwh_etl.reason_timestamp('updated_at', b._raw_updated_at, t.source_updated_at, run.min_ts, run.max_ts)"]}}
]$json$;
    v_rules jsonb := '[
    {"name": "silver_customers_key_not_null", "table": "silver.sales_customers", "type": "not_null", "columns": ["customer_id", "first_name", "last_name"]},
    {"name": "silver_customers_version_unique", "table": "silver.sales_customers", "type": "unique", "columns": ["customer_id", "version"]},
    {"name": "silver_customers_current_unique", "table": "silver.sales_customers", "type": "unique", "columns": ["customer_id"], "params": {"where": "is_current"}},
    {"name": "silver_customers_segment_accepted", "table": "silver.sales_customers", "type": "accepted_values", "columns": ["customer_segment"],
     "params": {"values": ["Consumer", "Corporate", "Home Office"]}, "severity": "warn"},
    {"name": "silver_products_key_not_null", "table": "silver.sales_products", "type": "not_null", "columns": ["product_id", "product_name", "product_group"]},
    {"name": "silver_products_version_unique", "table": "silver.sales_products", "type": "unique", "columns": ["product_id", "version"]},
    {"name": "silver_products_price_range", "table": "silver.sales_products", "type": "range", "columns": ["unit_price"], "params": {"min": 0}},
    {"name": "silver_sales_key_not_null", "table": "silver.sales_sales", "type": "not_null", "columns": ["sale_id", "order_id", "customer_id", "product_id"]},
    {"name": "silver_sales_key_unique", "table": "silver.sales_sales", "type": "unique", "columns": ["sale_id"]},
    {"name": "silver_sales_customer_known", "table": "silver.sales_sales", "type": "relationships", "columns": ["customer_id"],
     "params": {"to_table": "silver.sales_customers", "to_column": "customer_id"}},
    {"name": "silver_sales_product_known", "table": "silver.sales_sales", "type": "relationships", "columns": ["product_id"],
     "params": {"to_table": "silver.sales_products", "to_column": "product_id"}},
    {"name": "silver_sales_quantity_range", "table": "silver.sales_sales", "type": "range", "columns": ["quantity"], "params": {"min": 1, "max": 10000}},
    {"name": "silver_sales_price_range", "table": "silver.sales_sales", "type": "range", "columns": ["unit_price"], "params": {"min": 0, "max": 1000000}},
    {"name": "silver_sales_discount_range", "table": "silver.sales_sales", "type": "range", "columns": ["discount_amount"], "params": {"min": 0}},
    {"name": "dim_customer_key_not_null", "table": "sales.dim_customer", "type": "not_null", "columns": ["customer_key", "customer_id"]},
    {"name": "dim_customer_key_unique", "table": "sales.dim_customer", "type": "unique", "columns": ["customer_key"]},
    {"name": "dim_customer_current_unique", "table": "sales.dim_customer", "type": "unique", "columns": ["customer_id"], "params": {"where": "is_current"}},
    {"name": "dim_product_key_not_null", "table": "sales.dim_product", "type": "not_null", "columns": ["product_key", "product_id"]},
    {"name": "dim_product_key_unique", "table": "sales.dim_product", "type": "unique", "columns": ["product_key"]},
    {"name": "dim_product_current_unique", "table": "sales.dim_product", "type": "unique", "columns": ["product_id"], "params": {"where": "is_current"}},
    {"name": "dim_product_price_range", "table": "sales.dim_product", "type": "range", "columns": ["list_price"], "params": {"min": 0}},
    {"name": "fact_sales_keys_not_null", "table": "sales.fact_sales", "type": "not_null", "columns": ["sale_id", "date_key", "customer_key", "product_key"]},
    {"name": "fact_sales_sale_unique", "table": "sales.fact_sales", "type": "unique", "columns": ["sale_id"]},
    {"name": "fact_sales_customer_fk", "table": "sales.fact_sales", "type": "relationships", "columns": ["customer_key"],
     "params": {"to_table": "sales.dim_customer", "to_column": "customer_key"}},
    {"name": "fact_sales_product_fk", "table": "sales.fact_sales", "type": "relationships", "columns": ["product_key"],
     "params": {"to_table": "sales.dim_product", "to_column": "product_key"}},
    {"name": "fact_sales_date_fk", "table": "sales.fact_sales", "type": "relationships", "columns": ["date_key"],
     "params": {"to_table": "gold.dim_date", "to_column": "date_key"}},
    {"name": "fact_sales_quantity_range", "table": "sales.fact_sales", "type": "range", "columns": ["quantity"], "params": {"min": 1, "max": 10000}},
    {"name": "fact_sales_price_range", "table": "sales.fact_sales", "type": "range", "columns": ["unit_price"], "params": {"min": 0, "max": 1000000}},
    {"name": "fact_sales_line_total_range", "table": "sales.fact_sales", "type": "range", "columns": ["line_total"], "params": {"min": 0}, "severity": "warn"},
    {"name": "fact_sales_volume", "table": "sales.fact_sales", "type": "volume_change", "params": {"max_change_pct": 300, "runs": 7}, "severity": "warn"},
    {"name": "agg_daily_sales_key_unique", "table": "sales.agg_daily_sales", "type": "unique", "columns": ["date_key", "customer_segment", "product_category"]},
    {"name": "agg_daily_sales_key_not_null", "table": "sales.agg_daily_sales", "type": "not_null", "columns": ["date_key", "customer_segment", "product_category"]},
    {"name": "agg_daily_sales_revenue_range", "table": "sales.agg_daily_sales", "type": "range", "columns": ["net_revenue"], "params": {"min": 0}, "severity": "warn"},
    {"name": "customer_metrics_key_unique", "table": "sales.customer_metrics", "type": "unique", "columns": ["customer_id"], "scope": "table"},
    {"name": "customer_metrics_key_not_null", "table": "sales.customer_metrics", "type": "not_null", "columns": ["customer_id"], "scope": "table"},
    {"name": "ltv_key_unique", "table": "sales.mv_customer_lifetime_value", "type": "unique", "columns": ["customer_id"], "scope": "table"},
    {"name": "ltv_fresh", "table": "sales.mv_customer_lifetime_value", "type": "freshness", "params": {"max_age": "26 hours"}, "severity": "warn", "scope": "table",
     "description": "SLA: the lifetime value mart is refreshed at least daily"},
    {"name": "fact_sales_fresh", "table": "sales.fact_sales", "type": "freshness", "params": {"max_age": "26 hours"}, "severity": "warn", "scope": "table",
     "description": "SLA: the sales facts are loaded at least daily"},
    {"name": "source_sales_fresh", "table": "sales_src.sales", "type": "freshness", "columns": ["updated_at"], "params": {"max_age": "26 hours"},
     "severity": "warn", "scope": "table", "description": "SLA: the operational source delivered changes within a day"}
]';
BEGIN
    CALL dwh_etl.register_area('sales', jsonb_build_object(
        'description', 'Seed 004: e-commerce sales lines, customers and products; star schema sales, daily aggregates and customer lifetime value.',
        'demo', '{"generate": "sales_src.generate", "generated_when": "sales_src.customers",
                  "next_day": "sales_src.generate_next_day", "clock": "sales_src.sales.transaction_date", "order": 10}'::jsonb,
        'settings', '[{"key": "sales.source_schema", "value": "sales_src",
                       "description": "Schema of the operational sales source (customers, products, sales, deleted_records)."}]'::jsonb,
        'tables', v_tables,
        'dimensions', v_dimensions,
        'step_pipelines', '["daily", "incremental"]'::jsonb,
        'steps', v_steps || v_silver,
        'rules', v_rules));
END
$register$;
