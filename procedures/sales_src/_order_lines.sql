-- Private helper of the generator: p_order_count random orders of 1-5 lines, numbered order_no 1..n
-- in order of transaction_date and returned in that order.
--   day:       drawn from p_day_pool (a day repeated N times is N times as likely);
--   time:      a shop's day (peaks at lunch time and in the evening, few sales at night);
--   customer:  from p_customer_ids; when p_signup_from is given, p_customer_ids must be in signup order
--              with signups spread evenly over p_signup_days days from p_signup_from, and an order on day
--              d only draws customers who signed up before d;
--   product:   from p_product_ids (popularity skewed towards the start of the array), at the matching
--              p_product_prices;
--   quantity:  mostly 1-3, rarely up to 20; discount: none on ~80% of lines, else 5-30% of the line.
-- Draws from random(), so a caller that ran setseed() gets the same rows again.
CREATE OR REPLACE FUNCTION sales_src._order_lines(
    p_order_count       integer,
    p_day_pool          date[],
    p_customer_ids      bigint[],
    p_product_ids       bigint[],
    p_product_prices    numeric[],
    p_signup_from       date DEFAULT NULL,
    p_signup_days       integer DEFAULT NULL
)
RETURNS TABLE (
    order_no            bigint,
    line_number         smallint,
    customer_id         bigint,
    product_id          bigint,
    quantity            integer,
    unit_price          numeric(10,2),
    discount_amount     numeric(10,2),
    transaction_date    timestamptz
)
LANGUAGE sql
VOLATILE
SET search_path = sales_src, pg_temp
AS $$
    WITH hour_weights AS (
        -- relative number of sales per hour of the day, 00:00 to 23:00
        SELECT
            (w.hour_no - 1)::integer    AS sale_hour,
            w.weight
        FROM unnest(ARRAY[1, 1, 1, 1, 1, 2, 4, 8, 12, 16, 20, 24, 30, 28, 24, 22, 24, 28, 30, 28, 22, 14, 6, 3])
            WITH ORDINALITY AS w(weight, hour_no)
    ),
    pools AS (
        SELECT
            array_agg(h.sale_hour ORDER BY h.sale_hour, k.copy_no)     AS hour_pool,
            cardinality(p_day_pool)                                     AS day_count,
            cardinality(p_customer_ids)                                 AS customer_count,
            cardinality(p_product_ids)                                  AS product_count
        FROM hour_weights AS h
        CROSS JOIN LATERAL generate_series(1, h.weight) AS k(copy_no)
    ),
    orders_drawn AS (
        SELECT
            g                                                                   AS draw_no,
            p_day_pool[1 + floor(random() * p.day_count)::integer]              AS sale_day,
            p.hour_pool[1 + floor(random() * cardinality(p.hour_pool))::integer] AS sale_hour,
            random()                                                            AS r_second,
            random()                                                            AS r_customer,
            random()                                                            AS r_line_count,
            p.customer_count
        FROM generate_series(1, p_order_count) AS g
        CROSS JOIN pools AS p
    ),
    orders_timed AS (
        SELECT
            o.draw_no,
            (o.sale_day + make_interval(hours => o.sale_hour, secs => o.r_second * 3600))::timestamptz
                                                                                AS transaction_date,
            CASE
                WHEN p_signup_from IS NULL THEN o.customer_count
                ELSE greatest(1, least(o.customer_count,
                         floor(o.customer_count * ((o.sale_day - p_signup_from)::numeric / p_signup_days))::integer))
            END                                                                 AS eligible_customers,
            o.r_customer,
            CASE
                WHEN o.r_line_count < 0.40 THEN 1
                WHEN o.r_line_count < 0.65 THEN 2
                WHEN o.r_line_count < 0.82 THEN 3
                WHEN o.r_line_count < 0.92 THEN 4
                ELSE 5
            END                                                                 AS line_count
        FROM orders_drawn AS o
    ),
    orders AS (
        SELECT
            row_number() OVER (ORDER BY t.transaction_date, t.draw_no)          AS order_no,
            t.transaction_date,
            p_customer_ids[1 + floor(t.r_customer * t.eligible_customers)::integer] AS customer_id,
            t.line_count
        FROM orders_timed AS t
    ),
    lines_drawn AS (
        SELECT
            o.order_no,
            l.line_number,
            o.customer_id,
            o.transaction_date,
            random()    AS r_product,
            random()    AS r_quantity,
            random()    AS r_quantity_size,
            random()    AS r_discount,
            random()    AS r_discount_rate
        FROM orders AS o
        CROSS JOIN LATERAL generate_series(1, o.line_count) AS l(line_number)
    ),
    lines_priced AS (
        SELECT
            d.*,
            1 + floor(p.product_count * power(d.r_product, 1.8))::integer      AS product_index,
            CASE
                WHEN d.r_quantity < 0.55 THEN 1
                WHEN d.r_quantity < 0.80 THEN 2
                WHEN d.r_quantity < 0.92 THEN 3
                WHEN d.r_quantity < 0.98 THEN 4 + floor(d.r_quantity_size * 3)::integer
                ELSE 7 + floor(d.r_quantity_size * 14)::integer
            END                                                                 AS quantity
        FROM lines_drawn AS d
        CROSS JOIN pools AS p
    )
    SELECT
        l.order_no,
        l.line_number::smallint,
        l.customer_id,
        p_product_ids[l.product_index],
        l.quantity,
        p_product_prices[l.product_index]::numeric(10,2),
        CASE
            WHEN l.r_discount < 0.80 THEN 0
            ELSE round(l.quantity * p_product_prices[l.product_index]
                       * (0.05 * (1 + floor(l.r_discount_rate * 6)::integer)), 2)
        END::numeric(10,2),
        l.transaction_date
    FROM lines_priced AS l;
$$;
COMMENT ON FUNCTION sales_src._order_lines(integer, date[], bigint[], bigint[], numeric[], date, integer) IS 'Generator helper: p_order_count random orders of 1-5 sales lines (customer, product at its price, quantity, discount, time of day), numbered and returned in order of transaction_date.';
