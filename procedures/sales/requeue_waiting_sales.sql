-- Early-arriving sales lines (attack 15b): a line whose customer or product had not reached silver when
-- the line was loaded is quarantined with `unknown customer_id N` / `unknown product_id N`. When that
-- customer or product arrives later (a new customer committed after its first order, a customer whose
-- first state was invalid and is corrected), nothing delivers the line again: it stayed out of gold for
-- good although the source holds it, valid. The silver steps of customers and products call this
-- function once their loads are written ("after" in their spec, dwh_etl.step_silver): the open entries of
-- silver.sales_sales whose every reason is an unknown reference, and whose customer and product now have
-- a current silver row (the same test as sales._typed_sales' _customer_known / _product_known), are
-- replayed into bronze.sales_sales (dwh_etl.retry_quarantine: resolved 'retried'), so the sales step of
-- the same run validates them again. A line with another reason waits for its own correction (a new
-- delivery supersedes its entry). Returns how many lines were replayed.
CREATE OR REPLACE FUNCTION sales.requeue_waiting_sales(
    p_run_id   bigint,
    p_run_date date
)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = sales, pg_temp
AS $$
DECLARE
    v_ids bigint[];
BEGIN
    SELECT array_agg(q.quarantine_id ORDER BY q.quarantine_id) INTO v_ids
    FROM dwh_etl.quarantine AS q
    WHERE q.target_table = 'silver.sales_sales'
      AND q.source_table = 'bronze.sales_sales'
      AND q.resolved_at IS NULL
      AND NOT EXISTS (SELECT 1 FROM unnest(q.reasons) AS r(reason)
                      WHERE r.reason !~ 'unknown (customer|product)_id -?[0-9]+$')
      AND EXISTS (SELECT 1 FROM silver.sales_customers AS c
                  WHERE c.is_current AND c.customer_id = dwh_etl.try_bigint(q.payload->>'customer_id'))
      AND EXISTS (SELECT 1 FROM silver.sales_products AS p
                  WHERE p.is_current AND p.product_id = dwh_etl.try_bigint(q.payload->>'product_id'));
    IF v_ids IS NULL THEN
        RETURN 0;
    END IF;
    PERFORM count(*) FROM dwh_etl.retry_quarantine(p_ids => v_ids);
    RETURN cardinality(v_ids);
END;
$$;
COMMENT ON FUNCTION sales.requeue_waiting_sales(bigint, date) IS 'Replays into bronze.sales_sales the quarantined sales lines whose only reasons are a customer or product that silver now holds (called by the silver steps of customers and products, spec "after").';
REVOKE EXECUTE ON FUNCTION sales.requeue_waiting_sales(bigint, date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sales.requeue_waiting_sales(bigint, date) TO etl_service;
