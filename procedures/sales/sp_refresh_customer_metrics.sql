-- Seed 004: CALL sp_refresh_customer_metrics(); refreshes sales.customer_metrics from the facts.
-- Purchases are grouped by the natural customer_id across all dimension versions; the name and
-- segment are the current version's (the latest one for a deleted customer). Rows change only when
-- their values do; customers without purchases any more are removed.
-- p_run_id: the pipeline run it refreshes for (lineage carries it); NULL when called by hand.
-- p_customer_ids (the pipeline's step, issue 15): only these customers' purchases are aggregated again
-- (the customers whose facts changed); every other row only takes its current name and segment and
-- today's days_since_last_purchase, which need no fact. NULL (the seed's call): every customer.
-- Dates are UTC (SET TimeZone), whatever the caller's session zone.
DROP PROCEDURE IF EXISTS sales.sp_refresh_customer_metrics();
DROP PROCEDURE IF EXISTS sales.sp_refresh_customer_metrics(bigint);
CREATE OR REPLACE PROCEDURE sales.sp_refresh_customer_metrics(
    p_run_id       bigint DEFAULT NULL,
    p_customer_ids bigint[] DEFAULT NULL
)
LANGUAGE plpgsql
SET search_path = sales, pg_temp
-- purchase dates (transaction_at::date) and recency (CURRENT_DATE) in UTC, as the runner computes them,
-- whatever the zone of the session that calls it (seed 004's call from psql)
SET TimeZone = 'UTC'
AS $$
DECLARE
    v_upserted bigint;
    v_deleted  bigint;
    v_refreshed bigint;
    v_latest   text;
BEGIN
    PERFORM dwh_etl.lock_step('sales.customer_metrics');
    -- tells plpgsql_check the shape of the temp table created below
    PERFORM 'PRAGMA:TABLE: _cm (customer_id bigint, customer_name text, customer_segment text, total_orders bigint, '
            'total_quantity bigint, total_spent numeric, avg_order_value numeric, '
            'first_purchase_date date, last_purchase_date date, days_since_last_purchase integer, '
            'customer_tier text)';
    CREATE TEMP TABLE _cm ON COMMIT DROP AS
    WITH purchases AS (
        SELECT v.customer_id,
               count(DISTINCT f.order_id)   AS total_orders,
               sum(f.quantity)              AS total_quantity,
               sum(f.line_total)            AS total_spent,
               min(f.transaction_at)::date  AS first_purchase_date,
               max(f.transaction_at)::date  AS last_purchase_date
        FROM sales.fact_sales AS f
        JOIN sales.dim_customer AS v
          ON v.customer_key = f.customer_key
        WHERE p_customer_ids IS NULL OR v.customer_id = ANY (p_customer_ids)
        GROUP BY v.customer_id
    ),
    latest AS (
        SELECT DISTINCT ON (c.customer_id) c.customer_id, c.full_name, c.customer_segment
        FROM sales.dim_customer AS c
        ORDER BY c.customer_id, c.version DESC
    )
    SELECT p.customer_id,
           l.full_name AS customer_name,
           l.customer_segment,
           p.total_orders,
           p.total_quantity,
           p.total_spent,
           round(p.total_spent / p.total_orders, 2) AS avg_order_value,
           p.first_purchase_date,
           p.last_purchase_date,
           GREATEST(CURRENT_DATE - p.last_purchase_date, 0) AS days_since_last_purchase,
           CASE WHEN p.total_spent >= 10000 THEN 'platinum'
                WHEN p.total_spent >= 5000 THEN 'gold'
                WHEN p.total_spent >= 1000 THEN 'silver'
                ELSE 'bronze' END AS customer_tier
    FROM purchases AS p
    JOIN latest AS l
      ON l.customer_id = p.customer_id;

    INSERT INTO sales.customer_metrics AS m (
        customer_id, customer_name, customer_segment, total_orders, total_quantity, total_spent,
        avg_order_value, first_purchase_date, last_purchase_date, days_since_last_purchase, customer_tier
    )
    SELECT c.customer_id, c.customer_name, c.customer_segment, c.total_orders, c.total_quantity, c.total_spent,
           c.avg_order_value, c.first_purchase_date, c.last_purchase_date, c.days_since_last_purchase, c.customer_tier
    FROM _cm AS c
    ON CONFLICT (customer_id) DO UPDATE
    SET customer_name = EXCLUDED.customer_name,
        customer_segment = EXCLUDED.customer_segment,
        total_orders = EXCLUDED.total_orders,
        total_quantity = EXCLUDED.total_quantity,
        total_spent = EXCLUDED.total_spent,
        avg_order_value = EXCLUDED.avg_order_value,
        first_purchase_date = EXCLUDED.first_purchase_date,
        last_purchase_date = EXCLUDED.last_purchase_date,
        days_since_last_purchase = EXCLUDED.days_since_last_purchase,
        customer_tier = EXCLUDED.customer_tier,
        refreshed_at = now()
    WHERE (m.customer_name, m.customer_segment, m.total_orders, m.total_quantity, m.total_spent,
           m.first_purchase_date, m.last_purchase_date, m.days_since_last_purchase, m.customer_tier)
          IS DISTINCT FROM
          (EXCLUDED.customer_name, EXCLUDED.customer_segment, EXCLUDED.total_orders, EXCLUDED.total_quantity,
           EXCLUDED.total_spent, EXCLUDED.first_purchase_date, EXCLUDED.last_purchase_date,
           EXCLUDED.days_since_last_purchase, EXCLUDED.customer_tier);
    GET DIAGNOSTICS v_upserted = ROW_COUNT;

    DELETE FROM sales.customer_metrics AS m
    WHERE (p_customer_ids IS NULL OR m.customer_id = ANY (p_customer_ids))
      AND NOT EXISTS (SELECT 1 FROM _cm AS c WHERE c.customer_id = m.customer_id);
    GET DIAGNOSTICS v_deleted = ROW_COUNT;

    IF p_customer_ids IS NOT NULL THEN
        -- the others: their purchases did not change; their name and segment (a dimension change,
        -- Type 1 corrections included) and the days since their last purchase may have.
        -- Citus (issue 17): a reference sales.dim_customer in a subquery of an UPDATE of this local table
        -- is refused ("relation customer_metrics is not distributed"): there the same latest versions are
        -- staged in a temp table first, and the same UPDATE reads them from it
        v_latest := $q$(SELECT DISTINCT ON (c.customer_id) c.customer_id, c.full_name, c.customer_segment
                        FROM sales.dim_customer AS c
                        ORDER BY c.customer_id, c.version DESC)$q$;
        IF dwh_etl.is_citus_table('sales.dim_customer') THEN
            EXECUTE 'CREATE TEMP TABLE _cm_latest ON COMMIT DROP AS SELECT * FROM ' || v_latest || ' AS l';
            v_latest := 'pg_temp._cm_latest';
        END IF;
        EXECUTE format($q$
            UPDATE sales.customer_metrics AS m
            SET customer_name = l.full_name,
                customer_segment = l.customer_segment,
                days_since_last_purchase = GREATEST(CURRENT_DATE - m.last_purchase_date, 0),
                refreshed_at = now()
            FROM %s AS l
            WHERE l.customer_id = m.customer_id
              AND m.customer_id <> ALL ($1)
              AND (m.customer_name, m.customer_segment, m.days_since_last_purchase)
                  IS DISTINCT FROM (l.full_name, l.customer_segment, GREATEST(CURRENT_DATE - m.last_purchase_date, 0))
            $q$, v_latest)
        USING p_customer_ids;
        GET DIAGNOSTICS v_refreshed = ROW_COUNT;
        v_upserted := v_upserted + v_refreshed;
        IF v_latest = 'pg_temp._cm_latest' THEN
            DROP TABLE pg_temp._cm_latest;
        END IF;
    END IF;

    PERFORM dwh_lineage.log_transformation(
        in_source_table  => 'sales.fact_sales',
        in_target_table  => 'sales.customer_metrics',
        in_batch_id      => NULL,
        in_rows_inserted => v_upserted,
        in_rows_deleted  => v_deleted,
        in_operation     => 'aggregate',
        in_run_id        => p_run_id);
    DROP TABLE _cm;
END;
$$;
COMMENT ON PROCEDURE sales.sp_refresh_customer_metrics(bigint, bigint[]) IS 'Seed 004: refresh sales.customer_metrics (orders, quantity, spend, recency, tier per customer); p_customer_ids: aggregate only those customers'' purchases again, refresh name, segment and recency of the others.';
