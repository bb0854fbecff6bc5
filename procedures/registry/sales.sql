-- Registry data of the sales area (applied by dwh migrate whenever this file changes; idempotent).
-- The area itself and its demo source (read by `dwh demo`); the rest of its registry follows.
CALL dwh_etl.register_area('sales', '{
    "description": "Seed 004: e-commerce sales lines, customers and products; star schema sales, daily aggregates and customer lifetime value.",
    "demo": {"generate": "sales_src.generate", "generated_when": "sales_src.customers",
             "next_day": "sales_src.generate_next_day", "clock": "sales_src.sales.transaction_date", "order": 10}
}');
INSERT INTO dwh_etl.settings (key, value, description) VALUES
    ('sales.source_schema', 'sales_src', 'Schema of the operational sales source (customers, products, sales, deleted_records).')
ON CONFLICT (key) DO NOTHING;

CALL dwh_etl.register_tables(
    p_area   => 'sales',
    p_tables => '[
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
    ]');

CALL dwh_etl.register_dimension(
    p_dimension => 'sales.silver_customers', p_target => 'silver.sales_customers', p_surrogate_key => 'customer_sk', p_natural_key => '{customer_id}',
    p_type2_columns => '{first_name,last_name,email,phone,city,country,customer_segment,signup_date}',
    p_type1_columns => '{}',
    p_change_ts => 'change_ts', p_deleted_flag => 'is_deleted', p_delete_policy => 'close_marker', p_type1_scope => 'all_versions',
    p_description => 'Silver keeps every version of every customer; a deletion is a marker version.');
CALL dwh_etl.register_dimension(
    p_dimension => 'sales.silver_products', p_target => 'silver.sales_products', p_surrogate_key => 'product_sk', p_natural_key => '{product_id}',
    p_type2_columns => '{product_name,product_group,category,brand,unit_price,unit_cost,is_active}',
    p_type1_columns => '{}',
    p_change_ts => 'change_ts', p_deleted_flag => 'is_deleted', p_delete_policy => 'close_marker', p_type1_scope => 'all_versions',
    p_description => 'Silver keeps every version of every product; a deletion is a marker version.');
CALL dwh_etl.register_dimension(
    p_dimension => 'sales.dim_customer', p_target => 'sales.dim_customer', p_surrogate_key => 'customer_key', p_natural_key => '{customer_id}',
    p_type2_columns => '{email,email_domain,city,country,customer_segment}',
    p_type1_columns => '{full_name,phone,signup_date}',
    p_change_ts => 'change_ts', p_deleted_flag => 'is_deleted', p_delete_policy => 'close', p_type1_scope => 'all_versions',
    p_description => 'Customer dimension: location, segment and email are history; name, phone and signup date are corrections.');
CALL dwh_etl.register_dimension(
    p_dimension => 'sales.dim_product', p_target => 'sales.dim_product', p_surrogate_key => 'product_key', p_natural_key => '{product_id}',
    p_type2_columns => '{product_name,product_group,category,brand,list_price,is_active}',
    p_type1_columns => '{unit_cost}',
    p_change_ts => 'change_ts', p_deleted_flag => 'is_deleted', p_delete_policy => 'close', p_type1_scope => 'all_versions',
    p_description => 'Product dimension: descriptive attributes and list price are history; unit cost is a correction.');

-- The same steps serve both pipelines: daily (the whole warehouse) and the 6-hourly incremental run.
-- Shared steps are serialized by dwh_etl.lock_step and move their own watermarks, so the two
-- pipelines never load a row twice.
DO $register$
DECLARE
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
              "affected_queue": {"table": "dwh_staging.sales_affected_dates", "column": "date_key"},
              "lineage_source": "silver.sales_sales"},
     "depends_on": ["sales_silver_sales", "sales_dim_customer", "sales_dim_product"],
     "sources": ["silver.sales_sales", "sales.dim_customer", "sales.dim_product", "gold.dim_date"], "targets": ["sales.fact_sales"]},
    {"step": "sales_agg_daily_sales", "procedure": "sales.refresh_agg_daily_sales", "layer": "mart",
     "depends_on": ["sales_fact_sales"],
     "sources": ["sales.fact_sales", "sales.dim_customer", "sales.dim_product"], "targets": ["sales.agg_daily_sales"]},
    {"step": "sales_customer_ltv", "kind": "mart", "layer": "mart",
     "spec": {"view": "sales.mv_customer_lifetime_value", "lineage_source": "sales.fact_sales"},
     "depends_on": ["sales_fact_sales"],
     "sources": ["sales.fact_sales", "sales.dim_customer"], "targets": ["sales.mv_customer_lifetime_value"]},
    {"step": "sales_customer_metrics", "procedure": "sales.step_customer_metrics", "layer": "mart",
     "depends_on": ["sales_fact_sales"],
     "sources": ["sales.fact_sales", "sales.dim_customer"], "targets": ["sales.customer_metrics"]}
]';
    -- The silver steps (kind silver, dwh_etl.step_silver): the views sales._typed_* type and standardize
    -- bronze; the checks give every reason a row is quarantined (run.min_ts / run.max_ts: the sane event
    -- range, dwh_etl.event_time_bounds); customers and products keep SCD2 history in silver, sales lines
    -- their latest state; tombstones of bronze.sales_deleted_records close, or flag, the key.
    v_silver jsonb := $json$[
    {"step": "sales_silver_customers", "kind": "silver", "layer": "silver",
     "depends_on": ["sales_extract"],
     "sources": ["bronze.sales_customers", "bronze.sales_deleted_records"], "targets": ["silver.sales_customers"],
     "spec": {"target": "silver.sales_customers", "bronze": "bronze.sales_customers", "source": "sales._typed_customers",
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
                  "CASE WHEN abs(t.quantity * t.unit_price - t.discount_amount) >= 10000000000 THEN format('line_total %s (quantity x unit_price - discount_amount) is out of range for numeric(12,2)', t.quantity * t.unit_price - t.discount_amount) END",
                  "dwh_etl.reason_timestamp('transaction_date', b._raw_transaction_date, t.transaction_at, run.min_ts, run.max_ts)",
                  "dwh_etl.reason_timestamp('updated_at', b._raw_updated_at, t.source_updated_at, run.min_ts, run.max_ts)"]}}
]$json$;
BEGIN
    v_steps := v_steps || v_silver;
    CALL dwh_etl.register_steps(p_pipeline => 'daily', p_area => 'sales', p_steps => v_steps);
    CALL dwh_etl.register_steps(p_pipeline => 'incremental', p_area => 'sales', p_steps => v_steps);
END
$register$;
