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
    {"step": "sales_silver_customers", "procedure": "sales.load_silver_customers", "layer": "silver",
     "depends_on": ["sales_extract"],
     "sources": ["bronze.sales_customers", "bronze.sales_deleted_records"], "targets": ["silver.sales_customers"]},
    {"step": "sales_silver_products", "procedure": "sales.load_silver_products", "layer": "silver",
     "depends_on": ["sales_extract"],
     "sources": ["bronze.sales_products", "bronze.sales_deleted_records"], "targets": ["silver.sales_products"]},
    {"step": "sales_silver_sales", "procedure": "sales.load_silver_sales", "layer": "silver",
     "depends_on": ["sales_extract", "sales_silver_customers", "sales_silver_products"],
     "sources": ["bronze.sales_sales", "bronze.sales_deleted_records", "silver.sales_customers", "silver.sales_products"],
     "targets": ["silver.sales_sales"]},
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
BEGIN
    CALL dwh_etl.register_steps(p_pipeline => 'daily', p_area => 'sales', p_steps => v_steps);
    CALL dwh_etl.register_steps(p_pipeline => 'incremental', p_area => 'sales', p_steps => v_steps);
END
$register$;
