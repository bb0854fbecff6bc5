-- What sales.dim_product is loaded from (its `dimension` step, dwh_etl.step_dimension): every silver
-- product version with the dimension's columns (silver's unit_price is the list price), the change time
-- (silver's valid_from) and deleted flag of its registration, and the load time the step's window reads.
CREATE OR REPLACE VIEW sales.dim_product_changes AS
SELECT p.product_id,
       p.product_name,
       p.product_group,
       p.category,
       p.brand,
       p.unit_price AS list_price,
       p.unit_cost,
       p.is_active,
       p.valid_from AS change_ts,
       p.is_deleted,
       p._loaded_at,
       p._source_bronze_id
FROM silver.sales_products AS p;
COMMENT ON VIEW sales.dim_product_changes IS 'Silver product versions shaped as sales.dim_product rows (change_ts, is_deleted, _loaded_at): the input of its dimension step.';
REVOKE ALL ON sales.dim_product_changes FROM analyst_role, PUBLIC;
GRANT SELECT ON sales.dim_product_changes TO etl_service;
