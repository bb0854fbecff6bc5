-- One more business day of changes in the demo source, written now (created_at / updated_at = now()),
-- for a warehouse that extracts by updated_at:
--   new customers (0.3% of the day's sales lines, at least 1), ~1% of customers changed (e-mail, city or
--   segment), ~1% of active products repriced, 2 products discontinued, the day's sales (count(*)/365
--   lines, transaction_date within p_day), 5 earlier sales lines and 1 earlier, unchanged customer
--   without sales deleted (tombstones
--   in deleted_records), and exactly 6 bad rows the warehouse must quarantine:
--     sales: 2 with a negative quantity, 1 with quantity NULL, 1 with an unknown customer_id,
--            1 with an unknown product_id (each otherwise valid, each its own single-line order);
--     customers: 1 with last_name = ''.
-- p_day defaults to the day after the latest transaction_date (retail: every day is a business day).
-- p_stamp (default now()) is the change time written instead of now(): created_at / updated_at of every
-- row it writes and deleted_at of its tombstones (the touch and tombstone triggers read it through
-- sales_src._stamp()). With p_day, p_stamp and a setseed() before the call the day is reproducible on
-- any day (scripts/table_fingerprint.py); p_stamp must lie after every earlier change of the source.
DROP PROCEDURE IF EXISTS sales_src.generate_next_day(date);
CREATE OR REPLACE PROCEDURE sales_src.generate_next_day(
    p_day       date DEFAULT NULL,
    p_stamp     timestamptz DEFAULT NULL
)
LANGUAGE plpgsql
SET search_path = sales_src, pg_temp
AS $$
DECLARE
    c_mean_lines_per_order  CONSTANT numeric := 2.21;  -- mean of _order_lines' 1-5 line distribution
    v_started               timestamptz := clock_timestamp();
    v_day                   date;
    v_stamp                 timestamptz := coalesce(p_stamp, now());
    v_latest_day            date;
    v_sales_total           bigint;
    v_order_max             bigint;
    v_sale_max              bigint;
    v_daily_lines           integer;
    v_order_count           integer;
    v_customer_total        bigint;
    v_product_active        bigint;
    v_new_customers         integer;
    v_changed_customers     integer;
    v_repriced_products     integer;
    v_discontinued_products integer;
    v_new_lines             bigint;
    v_bad_sales             integer;
    v_deleted_sales         integer;
    v_deleted_customers     integer;
    v_customer_ids          bigint[];
    v_product_ids           bigint[];
    v_product_prices        numeric[];
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtext('sales_src.generate')) THEN
        RAISE EXCEPTION 'another session is generating data in sales_src'
            USING ERRCODE = 'lock_not_available',
                  HINT = 'Wait for the other sales_src.generate / generate_next_day call to finish.';
    END IF;

    SELECT max(s.transaction_date)::date, count(*), max(s.order_id), max(s.sale_id)
    INTO v_latest_day, v_sales_total, v_order_max, v_sale_max
    FROM sales_src.sales AS s;
    IF v_sales_total = 0 THEN
        RAISE EXCEPTION 'sales_src.sales is empty: there is no day to continue from'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Make the initial load first: CALL sales_src.generate(p_scale => 1.0);';
    END IF;

    v_day := coalesce(p_day, v_latest_day + 1);
    IF p_stamp IS NOT NULL THEN
        -- for the touch and tombstone triggers (sales_src._stamp()), until the end of the transaction
        PERFORM set_config('sales_src.stamp', to_char(p_stamp AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), true);
    END IF;
    v_daily_lines := greatest(1, round(v_sales_total / 365.0));
    v_order_count := greatest(1, round(v_daily_lines / c_mean_lines_per_order));

    -- 1. New customers who signed up that day, and one bad row: an empty last name.
    v_new_customers := greatest(1, round(0.003 * v_daily_lines));
    INSERT INTO sales_src.customers (
        first_name, last_name, email, phone, city, country, customer_segment, signup_date,
        created_at, updated_at
    )
    SELECT
        c.first_name,
        CASE WHEN c.row_no > v_new_customers THEN '' ELSE c.last_name END,
        c.email,
        c.phone,
        c.city,
        c.country,
        c.customer_segment,
        c.signup_date,
        v_stamp,
        v_stamp
    FROM sales_src._customer_rows(
        p_count       => v_new_customers + 1,
        p_signup_from => v_day,
        p_signup_to   => v_day
    ) AS c
    ORDER BY c.row_no;

    -- 2. About 1% of the earlier customers change: a new e-mail, a move to another city, or another segment.
    SELECT count(*) INTO v_customer_total FROM sales_src.customers AS c WHERE c.created_at < v_stamp;
    WITH picked AS (
        SELECT c.customer_id
        FROM sales_src.customers AS c
        WHERE c.created_at < v_stamp
          AND c.last_name <> ''
        ORDER BY random()
        LIMIT greatest(1, round(0.01 * v_customer_total))
    ),
    numbered AS (
        SELECT
            p.customer_id,
            row_number() OVER (ORDER BY p.customer_id)  AS row_no,
            random()                                    AS r_change,
            random()                                    AS r_segment,
            random()                                    AS r_number
        FROM picked AS p
    ),
    fresh AS (
        SELECT *
        FROM sales_src._customer_rows(
            p_count       => (SELECT count(*)::integer FROM numbered),
            p_signup_from => v_day,
            p_signup_to   => v_day
        )
    ),
    changes AS (
        SELECT
            n.customer_id,
            CASE
                WHEN n.r_change < 0.45 OR (n.r_change < 0.80 AND f.city = c.city) THEN 'email'
                WHEN n.r_change < 0.80 THEN 'city'
                ELSE 'segment'
            END                                         AS change,
            regexp_replace(lower(c.first_name), '[^a-z]', '', 'g') || '.'
                || regexp_replace(lower(c.last_name), '[^a-z]', '', 'g')
                || (10 + floor(n.r_number * 90)::integer)::text
                || '@' || coalesce(split_part(f.email, '@', 2), 'gmail.com')
                                                        AS new_email,
            f.city                                      AS new_city,
            f.country                                   AS new_country,
            -- always another segment than the current one
            (ARRAY['Consumer', 'Corporate', 'Home Office'])
                [(coalesce(array_position(ARRAY['Consumer', 'Corporate', 'Home Office'], c.customer_segment), 3)
                  + floor(n.r_segment * 2)::integer) % 3 + 1]
                                                        AS new_segment
        FROM numbered AS n
        JOIN fresh AS f
            ON f.row_no = n.row_no
        JOIN sales_src.customers AS c
            ON c.customer_id = n.customer_id
    )
    UPDATE sales_src.customers AS c
    SET email = CASE
                    WHEN ch.change <> 'email' THEN c.email
                    WHEN ch.new_email IS NOT DISTINCT FROM c.email THEN 'x' || ch.new_email
                    ELSE ch.new_email
                END,
        city = CASE WHEN ch.change = 'city' THEN ch.new_city ELSE c.city END,
        country = CASE WHEN ch.change = 'city' THEN ch.new_country ELSE c.country END,
        customer_segment = CASE WHEN ch.change = 'segment' THEN ch.new_segment ELSE c.customer_segment END
    FROM changes AS ch
    WHERE c.customer_id = ch.customer_id;
    GET DIAGNOSTICS v_changed_customers = ROW_COUNT;

    -- 3. About 1% of the active products get a new price (cost follows), then 2 others are discontinued.
    SELECT count(*) INTO v_product_active FROM sales_src.products AS p WHERE p.is_active;
    WITH picked AS (
        SELECT p.product_id
        FROM sales_src.products AS p
        WHERE p.is_active
        ORDER BY random()
        LIMIT greatest(1, round(0.01 * v_product_active))
    ),
    drawn AS (
        SELECT
            p.product_id,
            random()                                    AS r_change
        FROM picked AS p
    ),
    repriced AS (
        SELECT
            d.product_id,
            (greatest(0, floor(p.unit_price * (0.85 + 0.35 * d.r_change))) + 0.99)::numeric(10,2)
                                                        AS new_price
        FROM drawn AS d
        JOIN sales_src.products AS p
            ON p.product_id = d.product_id
    )
    UPDATE sales_src.products AS p
    SET unit_price = CASE WHEN r.new_price = p.unit_price THEN p.unit_price + 1 ELSE r.new_price END,
        unit_cost = round(p.unit_cost
                          * (CASE WHEN r.new_price = p.unit_price THEN p.unit_price + 1 ELSE r.new_price END)
                          / nullif(p.unit_price, 0), 2)
    FROM repriced AS r
    WHERE p.product_id = r.product_id;
    GET DIAGNOSTICS v_repriced_products = ROW_COUNT;

    WITH picked AS (
        SELECT p.product_id
        FROM sales_src.products AS p
        WHERE p.is_active
          AND p.updated_at < v_stamp
        ORDER BY random()
        LIMIT 2
    )
    UPDATE sales_src.products AS p
    SET is_active = false
    FROM picked AS k
    WHERE p.product_id = k.product_id;
    GET DIAGNOSTICS v_discontinued_products = ROW_COUNT;

    -- 4. The day's sales: valid customers, active products at their current price.
    SELECT array_agg(c.customer_id ORDER BY c.customer_id)
    INTO v_customer_ids
    FROM sales_src.customers AS c
    WHERE c.last_name <> '';

    SELECT array_agg(p.product_id ORDER BY p.product_id),
           array_agg(p.unit_price ORDER BY p.product_id)
    INTO v_product_ids, v_product_prices
    FROM sales_src.products AS p
    WHERE p.is_active;

    INSERT INTO sales_src.sales (
        order_id, line_number, customer_id, product_id, quantity, unit_price, discount_amount, transaction_date,
        created_at, updated_at, tax_amount
    )
    SELECT
        v_order_max + l.order_no,
        l.line_number,
        l.customer_id,
        l.product_id,
        l.quantity,
        l.unit_price,
        l.discount_amount,
        l.transaction_date,
        v_stamp,
        v_stamp,
        round((l.quantity * l.unit_price - l.discount_amount) * 0.08, 2)  -- 8% tax, as sales_src.generate
    FROM sales_src._order_lines(
        p_order_count    => v_order_count,
        p_day_pool       => ARRAY[v_day],
        p_customer_ids   => v_customer_ids,
        p_product_ids    => v_product_ids,
        p_product_prices => v_product_prices
    ) AS l;
    GET DIAGNOSTICS v_new_lines = ROW_COUNT;

    -- 5. Bad sales lines, one defect each, each its own single-line order at a random time of the day.
    --    Unknown keys are 1,000,000,000 above the largest existing one: no sequence reaches them.
    WITH defects (defect_no, quantity, unknown_customer, unknown_product) AS (
        VALUES
            (1, -1, false, false),
            (2, -2, false, false),
            (3, NULL::integer, false, false),
            (4, 1, true, false),
            (5, 1, false, true)
    ),
    drawn AS (
        SELECT
            d.*,
            random()                                    AS r_customer,
            random()                                    AS r_product,
            random()                                    AS r_time
        FROM defects AS d
        ORDER BY d.defect_no
    ),
    keyed AS (
        SELECT
            d.defect_no,
            d.quantity,
            d.r_time,
            CASE
                WHEN d.unknown_customer THEN (SELECT max(c.customer_id) FROM sales_src.customers AS c) + 1000000000
                ELSE v_customer_ids[1 + floor(d.r_customer * cardinality(v_customer_ids))::integer]
            END                                         AS customer_id,
            1 + floor(d.r_product * cardinality(v_product_ids))::integer
                                                        AS product_index,
            d.unknown_product
        FROM drawn AS d
    )
    INSERT INTO sales_src.sales (
        order_id, line_number, customer_id, product_id, quantity, unit_price, discount_amount, transaction_date,
        created_at, updated_at
    )
    SELECT
        v_order_max + v_order_count + k.defect_no,
        1,
        k.customer_id,
        CASE
            WHEN k.unknown_product THEN (SELECT max(p.product_id) FROM sales_src.products AS p) + 1000000000
            ELSE v_product_ids[k.product_index]
        END,
        k.quantity,
        v_product_prices[k.product_index],
        0,
        (v_day + make_interval(secs => 8 * 3600 + k.r_time * 13 * 3600))::timestamptz,
        v_stamp,
        v_stamp
    FROM keyed AS k
    ORDER BY k.defect_no;
    GET DIAGNOSTICS v_bad_sales = ROW_COUNT;

    -- 6. Deletes: 5 earlier sales lines (cancelled), 1 earlier customer who never bought anything.
    WITH picked AS (
        SELECT s.sale_id
        FROM sales_src.sales AS s
        WHERE s.sale_id <= v_sale_max
          AND s.quantity > 0
        ORDER BY random()
        LIMIT 5
    )
    DELETE FROM sales_src.sales AS s
    USING picked AS k
    WHERE s.sale_id = k.sale_id;
    GET DIAGNOSTICS v_deleted_sales = ROW_COUNT;

    WITH buyers AS (
        SELECT DISTINCT s.customer_id
        FROM sales_src.sales AS s
        WHERE s.customer_id IS NOT NULL
    ),
    picked AS (
        SELECT c.customer_id
        FROM sales_src.customers AS c
        LEFT JOIN buyers AS b
            ON b.customer_id = c.customer_id
        WHERE b.customer_id IS NULL
          AND c.updated_at < v_stamp    -- neither new nor changed by this call
          AND c.last_name <> ''
        ORDER BY random()
        LIMIT 1
    )
    DELETE FROM sales_src.customers AS c
    USING picked AS k
    WHERE c.customer_id = k.customer_id;
    GET DIAGNOSTICS v_deleted_customers = ROW_COUNT;
    IF v_deleted_customers = 0 THEN
        RAISE NOTICE 'sales_src.generate_next_day: every customer has sales, none deleted';
    END IF;

    RAISE NOTICE 'sales_src.generate_next_day %: % new customers (+1 with an empty last name), % customers changed, % products repriced, % discontinued, % sales lines in % orders (+% bad lines), % sales lines and % customers deleted, in % ms',
        v_day, v_new_customers, v_changed_customers, v_repriced_products, v_discontinued_products,
        v_new_lines, v_order_count, v_bad_sales, v_deleted_sales, v_deleted_customers,
        round(extract(epoch FROM clock_timestamp() - v_started) * 1000);
END;
$$;
COMMENT ON PROCEDURE sales_src.generate_next_day(date, timestamptz) IS 'Adds one business day (default: the day after the latest sale) of inserts, updates, deletes (with tombstones) and exactly 6 bad rows (2 negative quantities, 1 NULL quantity, 1 unknown customer, 1 unknown product, 1 customer with an empty last name) to the demo source, stamped p_stamp (default now()).';
