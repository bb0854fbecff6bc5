-- What sales.dim_customer is loaded from (its `dimension` step, dwh_etl.step_dimension): every silver
-- customer version with the dimension's columns (full_name and email_domain derived here), the change
-- time (silver's valid_from, the source's change time) and deleted flag of its registration, and the
-- load time the step's window reads. Silver data with personal details: not for analysts.
CREATE OR REPLACE VIEW sales.dim_customer_changes AS
SELECT c.customer_id,
       concat_ws(' ', c.first_name, c.last_name) AS full_name,
       c.email,
       NULLIF(split_part(c.email, '@', 2), '')   AS email_domain,
       c.phone,
       c.city,
       c.country,
       c.customer_segment,
       c.signup_date,
       c.valid_from                              AS change_ts,
       c.is_deleted,
       c._loaded_at,
       c._source_bronze_id
FROM silver.sales_customers AS c;
COMMENT ON VIEW sales.dim_customer_changes IS 'Silver customer versions shaped as sales.dim_customer rows (change_ts, is_deleted, _loaded_at): the input of its dimension step.';
REVOKE ALL ON sales.dim_customer_changes FROM analyst_role, PUBLIC;
GRANT SELECT ON sales.dim_customer_changes TO etl_service;
