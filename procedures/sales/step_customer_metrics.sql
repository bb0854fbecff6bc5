-- Step (mart): seed 004's sp_refresh_customer_metrics() for the customers whose purchases changed (issue
-- 15): the fact step queues the old and new customer_key of every fact row it touches
-- (dwh_staging.sales_affected_customers); this step reads and locks the queue, aggregates those
-- customers' purchases again (the others only get their current name, segment and recency) and deletes
-- the queue rows it read, in its one transaction: a failed step leaves them for the next run, a key
-- queued meanwhile by a concurrent run stays for the next one. An empty metrics table (a first load, a
-- rebuild) is computed whole. The same rows as the seed's full refresh (tests/test_sales_analytics.py).
CREATE OR REPLACE PROCEDURE sales.step_customer_metrics(
    p_run_id   bigint,
    p_run_date date
)
LANGUAGE plpgsql
SET search_path = sales, pg_temp
AS $$
DECLARE
    v_keys bigint[];
    v_ids  bigint[];
BEGIN
    PERFORM dwh_etl.lock_step('sales.customer_metrics');
    SELECT array_agg(q.customer_key) INTO v_keys
    FROM (SELECT a.customer_key FROM dwh_staging.sales_affected_customers AS a FOR UPDATE) AS q;
    v_keys := COALESCE(v_keys, '{}');
    IF NOT EXISTS (SELECT 1 FROM sales.customer_metrics) THEN
        CALL sales.sp_refresh_customer_metrics(p_run_id);
    ELSE
        -- every version's customer_key names one customer: the customer, all versions
        SELECT COALESCE(array_agg(DISTINCT c.customer_id), '{}') INTO v_ids
        FROM sales.dim_customer AS c
        WHERE c.customer_key = ANY (v_keys);
        CALL sales.sp_refresh_customer_metrics(p_run_id, v_ids);
    END IF;
    DELETE FROM dwh_staging.sales_affected_customers AS a WHERE a.customer_key = ANY (v_keys);
END;
$$;
COMMENT ON PROCEDURE sales.step_customer_metrics(bigint, date) IS 'Step: sales.sp_refresh_customer_metrics() for the customers the fact load queued (dwh_staging.sales_affected_customers), the whole table when it is empty.';
