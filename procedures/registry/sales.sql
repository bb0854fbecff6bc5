-- Registry data of the sales area (applied by dwh migrate whenever this file changes; idempotent).
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

INSERT INTO dwh_etl.dimension_specs AS d (
    dimension_name, target_table, surrogate_key, natural_key, type2_columns, type1_columns,
    change_ts_column, deleted_flag_column, delete_policy, type1_scope, description
) VALUES
    ('sales.silver_customers', 'silver.sales_customers', 'customer_sk', '{customer_id}',
     '{first_name,last_name,email,phone,city,country,customer_segment,signup_date}', '{}',
     'change_ts', 'is_deleted', 'close_marker', 'all_versions',
     'Silver keeps every version of every customer; a deletion is a marker version.'),
    ('sales.silver_products', 'silver.sales_products', 'product_sk', '{product_id}',
     '{product_name,product_group,category,brand,unit_price,unit_cost,is_active}', '{}',
     'change_ts', 'is_deleted', 'close_marker', 'all_versions',
     'Silver keeps every version of every product; a deletion is a marker version.'),
    ('sales.dim_customer', 'sales.dim_customer', 'customer_key', '{customer_id}',
     '{email,email_domain,city,country,customer_segment}', '{full_name,phone,signup_date}',
     'change_ts', 'is_deleted', 'close', 'all_versions',
     'Customer dimension: location, segment and email are history; name, phone and signup date are corrections.'),
    ('sales.dim_product', 'sales.dim_product', 'product_key', '{product_id}',
     '{product_name,product_group,category,brand,list_price,is_active}', '{unit_cost}',
     'change_ts', 'is_deleted', 'close', 'all_versions',
     'Product dimension: descriptive attributes and list price are history; unit cost is a correction.')
ON CONFLICT (dimension_name) DO UPDATE
SET target_table = EXCLUDED.target_table,
    surrogate_key = EXCLUDED.surrogate_key,
    natural_key = EXCLUDED.natural_key,
    type2_columns = EXCLUDED.type2_columns,
    type1_columns = EXCLUDED.type1_columns,
    change_ts_column = EXCLUDED.change_ts_column,
    deleted_flag_column = EXCLUDED.deleted_flag_column,
    delete_policy = EXCLUDED.delete_policy,
    type1_scope = EXCLUDED.type1_scope,
    description = EXCLUDED.description;

-- The same steps serve both pipelines: daily (the whole warehouse) and the 6-hourly incremental run.
-- Shared steps are serialized by dwh_etl.lock_step and move their own watermarks, so the two
-- pipelines never load a row twice.
DO $register$
DECLARE
    v_steps jsonb := '[
    {"step": "sales_extract", "procedure": "sales.extract_source", "layer": "bronze",
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
    {"step": "sales_dim_customer", "procedure": "sales.load_dim_customer", "layer": "gold",
     "depends_on": ["sales_silver_customers"],
     "sources": ["silver.sales_customers"], "targets": ["sales.dim_customer"]},
    {"step": "sales_dim_product", "procedure": "sales.load_dim_product", "layer": "gold",
     "depends_on": ["sales_silver_products"],
     "sources": ["silver.sales_products"], "targets": ["sales.dim_product"]},
    {"step": "sales_fact_sales", "procedure": "sales.load_fact_sales", "layer": "gold",
     "depends_on": ["sales_silver_sales", "sales_dim_customer", "sales_dim_product"],
     "sources": ["silver.sales_sales", "sales.dim_customer", "sales.dim_product", "gold.dim_date"], "targets": ["sales.fact_sales"]},
    {"step": "sales_agg_daily_sales", "procedure": "sales.refresh_agg_daily_sales", "layer": "mart",
     "depends_on": ["sales_fact_sales"],
     "sources": ["sales.fact_sales", "sales.dim_customer", "sales.dim_product"], "targets": ["sales.agg_daily_sales"]},
    {"step": "sales_customer_ltv", "procedure": "sales.refresh_customer_ltv", "layer": "mart",
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
