-- depends: 0042_citus
-- sales.customer_metrics recomputed for the customers whose purchases changed (issue 15: the whole table
-- was recomputed from every fact row on every run, 3.8 s of a next day at scale 1). The fact step queues
-- the old and new customer_key of every fact row it touches (its affected_queue, like the dates of
-- agg_daily_sales); sales.step_customer_metrics consumes the queue in its own transaction, so a failed
-- refresh is redone by the next run.
CREATE TABLE dwh_staging.sales_affected_customers (
    customer_key     bigint NOT NULL,
    run_id           bigint,
    noted_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT sales_affected_customers_pk PRIMARY KEY (customer_key)
);
COMMENT ON TABLE dwh_staging.sales_affected_customers IS 'Customer keys whose facts changed and whose sales.customer_metrics row is not yet recomputed; written by the fact load, consumed by the customer metrics step.';
REVOKE ALL ON dwh_staging.sales_affected_customers FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON dwh_staging.sales_affected_customers TO etl_service;
